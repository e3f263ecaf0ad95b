// Internal: LoginThrottle, the per-address exponential back-off for failed credential checks (a
// login, or username and password parameters on any call). After `free_failures` failures an
// address is locked out for `first_backoff`; each further failure doubles the lock-out up to
// `max_backoff`. While locked out, the address is refused without its password being checked. A
// success forgets the address. The table is bounded: an address quiet for `max_backoff` after its
// last lock-out (or last failure) ended is forgotten, and beyond `max_addresses` the address whose
// last failure is the oldest is dropped. IPv6 addresses count per /64 (one host usually holds a
// whole /64), IPv4 and IPv4-mapped IPv6 addresses per address (PeerKey); every text that is not
// an IP address shares one key. Time comes from the injected Clock.
//
// Thread-safety: none; NamingCore calls it under its mutex.
#ifndef DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_
#define DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_

#include <chrono>
#include <cstddef>
#include <list>
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
  // Addresses remembered at most. Default 10,000.
  size_t max_addresses = 10000;
};

class LoginThrottle {
 public:
  // `clock` must outlive the throttle.
  LoginThrottle(const LoginThrottleOptions& options, registry::Clock* clock);

  // How long `peer_ip` stays locked out from now; zero when it may present credentials.
  registry::Duration LockedFor(std::string_view peer_ip);
  // Records a failed check from `peer_ip`. Returns the lock-out it starts (zero while the address
  // still has free failures).
  registry::Duration Failed(std::string_view peer_ip);
  // A successful check: `peer_ip` starts afresh.
  void Succeeded(std::string_view peer_ip);

  // Addresses remembered now.
  size_t size() const { return by_key_.size(); }

 private:
  struct Entry {
    PeerKey key;
    int failures = 0;
    registry::TimePoint locked_until;  // In the past when not locked out.
    registry::TimePoint forget_at;     // max_backoff after the lock-out (or failure) ended.
  };
  using List = std::list<Entry>;

  // Drops the expired entries at the front (oldest last failure first).
  void DropExpiredFront(registry::TimePoint now);
  // The live entry of `key`, or end(); an expired one is dropped.
  List::iterator Find(const PeerKey& key, registry::TimePoint now);
  void Erase(List::iterator it);

  const LoginThrottleOptions options_;
  registry::Clock* const clock_;
  List by_age_;  // Oldest last failure first.
  std::unordered_map<PeerKey, List::iterator, PeerKeyHash> by_key_;
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_LOGIN_THROTTLE_H_
