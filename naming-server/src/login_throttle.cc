#include "login_throttle.h"

#include <algorithm>
#include <cstring>

namespace dubbo::naming_server {

using registry::Duration;
using registry::TimePoint;

LoginThrottle::LoginThrottle(const LoginThrottleOptions& options, registry::Clock* clock)
    : options_(options), clock_(clock) {}

void LoginThrottle::DropExpired(TimePoint now) {
  while (!by_expiry_.empty() && now >= by_expiry_.begin()->first) Erase(by_expiry_.begin());
}

void LoginThrottle::Erase(ByExpiry::iterator it) {
  by_key_.erase(it->second.key);
  by_expiry_.erase(it);
}

LoginThrottle::Lockout LoginThrottle::LockedFor(std::string_view peer_ip) {
  const TimePoint now = clock_->Now();
  DropExpired(now);
  const PeerKey found_key = PeerKey::OfText(peer_ip);
  auto found = by_key_.find(found_key);
  if (found == by_key_.end()) {
    if (by_key_.size() < options_.max_addresses || KnownGood(found_key)) return {};
    // Full: refused until the first remembered address is forgotten.
    return {by_expiry_.begin()->first - now, true};
  }
  const TimePoint locked_until = found->second->second.locked_until;
  if (now >= locked_until) return {};
  return {locked_until - now, false};
}

Duration LoginThrottle::Failed(std::string_view peer_ip) {
  const TimePoint now = clock_->Now();
  DropExpired(now);
  const PeerKey key = PeerKey::OfText(peer_ip);
  auto found = by_key_.find(key);
  if (found == by_key_.end()) {
    // Nothing is dropped to make room, which would reset a remembered address's back-off, except
    // for an address with a recent success: its failures must count, and only a right password
    // puts an address there, so a spray cannot use this to flush the table.
    if (by_key_.size() >= options_.max_addresses) {
      if (!KnownGood(key)) return Duration::zero();
      Erase(by_expiry_.begin());
    }
    auto it = by_expiry_.emplace(now, Entry{key, 0, now});
    found = by_key_.emplace(key, it).first;
  }
  ByExpiry::node_type node = by_expiry_.extract(found->second);
  Entry& entry = node.mapped();
  // Bounded, so that the count cannot overflow; the lock-out stops doubling long before.
  if (entry.failures - options_.free_failures < 64) ++entry.failures;
  Duration lockout = Duration::zero();
  if (entry.failures >= options_.free_failures) {
    lockout = options_.first_backoff;
    for (int i = options_.free_failures; i < entry.failures && lockout < options_.max_backoff;
         ++i) {
      lockout *= 2;
    }
    lockout = std::min(lockout, options_.max_backoff);
  }
  entry.locked_until = now + lockout;
  node.key() = entry.locked_until + options_.max_backoff;
  found->second = by_expiry_.insert(std::move(node));
  return lockout;
}

void LoginThrottle::Succeeded(std::string_view peer_ip) {
  const PeerKey key = PeerKey::OfText(peer_ip);
  auto found = by_key_.find(key);
  if (found != by_key_.end()) Erase(found->second);
  if (auto good = good_.find(key); good != good_.end()) {
    good_order_.splice(good_order_.end(), good_order_, good->second);
    return;
  }
  if (good_.size() >= options_.max_addresses) {
    good_.erase(good_order_.front());
    good_order_.pop_front();
  }
  good_.emplace(key, good_order_.insert(good_order_.end(), key));
}

}  // namespace dubbo::naming_server
