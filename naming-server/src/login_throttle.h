// Internal: LoginThrottle, the per-address exponential back-off for failed credential checks (a
// login, or username and password parameters on any call). After `free_failures` failures an
// address is locked out for `first_backoff`; each further failure doubles the lock-out up to
// `max_backoff`. While locked out, the address is refused without its password being checked. A
// success forgets the address, and so does `max_backoff` without a failure after its last lock-out
// (or last failure) ended; nothing else does, so a spray of other addresses cannot reset anyone's
// back-off. The table holds at most `max_addresses`: while it is full, every address it does not
// hold is refused too (until the first remembered address is forgotten), so a spray from many
// addresses gets at most max_addresses * free_failures guesses per max_backoff, plus those of the
// addresses' lock-outs. Addresses that presented good credentials recently (the last
// `max_addresses` of them) are exempt from that refusal, so clients that were logged in before a
// spray keep logging in while it lasts; only a wrong password can fill the table, and only a right
// one can enter the exempt set. IPv6 addresses count per /64 (one host usually holds a whole /64),
// IPv4 and IPv4-mapped IPv6 addresses per address (PeerKey); every text that is not an IP address
// shares one key. Time comes from the injected Clock.
//
// Thread-safety: none; NamingCore calls it under its mutex.
#ifndef DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_
#define DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_

#include <chrono>
#include <cstddef>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "dubbo/registry/clock.h"
#include "peer_key.h"

namespace dubbo::naming_server {

struct LoginThrottleOptions {
  // Failures an address may make before it is locked out; the last of them starts the lock-out.
  // Default 5.
  int free_failures = 5;
  // The first lock-out. Default 1 s.
  registry::Duration first_backoff = std::chrono::seconds(1);
  // The longest lock-out, and how long an address stays remembered after its last lock-out or
  // failure. Default 5 min.
  registry::Duration max_backoff = std::chrono::minutes(5);
  // Addresses remembered at most; while that many are, other addresses are refused. Default 10,000.
  size_t max_addresses = 10000;
};

class LoginThrottle {
 public:
  // `clock` must outlive the throttle.
  LoginThrottle(const LoginThrottleOptions& options, registry::Clock* clock);

  struct Lockout {
    // How long from now; zero when the address may present credentials.
    registry::Duration remaining = registry::Duration::zero();
    // Refused because the table is full and does not hold the address, not for its own failures.
    bool table_full = false;
  };
  // Whether, and how long, `peer_ip` may not present credentials.
  Lockout LockedFor(std::string_view peer_ip);
  // Records a failed check from `peer_ip`. Returns the lock-out it starts (zero while the address
  // still has free failures, or when the table is full and does not hold it).
  registry::Duration Failed(std::string_view peer_ip);
  // A successful check: `peer_ip` starts afresh, and is exempt from the full table's refusal.
  void Succeeded(std::string_view peer_ip);

  // Addresses remembered now.
  size_t size() const { return by_key_.size(); }

 private:
  struct Entry {
    PeerKey key;
    int failures = 0;
    registry::TimePoint locked_until;  // In the past when not locked out.
  };
  // Entries by the moment they are forgotten: max_backoff after the lock-out (or failure) ended.
  using ByExpiry = std::multimap<registry::TimePoint, Entry>;

  // Drops the entries due to be forgotten.
  void DropExpired(registry::TimePoint now);
  void Erase(ByExpiry::iterator it);
  bool KnownGood(const PeerKey& key) const { return good_.count(key) != 0; }

  const LoginThrottleOptions options_;
  registry::Clock* const clock_;
  ByExpiry by_expiry_;
  std::unordered_map<PeerKey, ByExpiry::iterator, PeerKeyHash> by_key_;
  // Addresses with a recent success, least recent first; at most max_addresses.
  std::list<PeerKey> good_order_;
  std::unordered_map<PeerKey, std::list<PeerKey>::iterator, PeerKeyHash> good_;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_
