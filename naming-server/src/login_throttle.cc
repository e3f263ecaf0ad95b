#include "login_throttle.h"

#include <algorithm>

namespace dubbo::naming_server {

using registry::Duration;
using registry::TimePoint;

LoginThrottle::LoginThrottle(const LoginThrottleOptions& options, registry::Clock* clock)
    : options_(options), clock_(clock) {}

void LoginThrottle::DropExpiredFront(TimePoint now) {
  while (!by_age_.empty() && now >= by_age_.front().forget_at) Erase(by_age_.begin());
}

LoginThrottle::List::iterator LoginThrottle::Find(const PeerKey& key, TimePoint now) {
  auto found = by_key_.find(key);
  if (found == by_key_.end()) return by_age_.end();
  if (now >= found->second->forget_at) {
    Erase(found->second);
    return by_age_.end();
  }
  return found->second;
}

void LoginThrottle::Erase(List::iterator it) {
  by_key_.erase(it->key);
  by_age_.erase(it);
}

Duration LoginThrottle::LockedFor(std::string_view peer_ip) {
  const TimePoint now = clock_->Now();
  DropExpiredFront(now);
  auto it = Find(PeerKey::OfText(peer_ip), now);
  if (it == by_age_.end() || now >= it->locked_until) return Duration::zero();
  return it->locked_until - now;
}

Duration LoginThrottle::Failed(std::string_view peer_ip) {
  const TimePoint now = clock_->Now();
  DropExpiredFront(now);
  const PeerKey key = PeerKey::OfText(peer_ip);
  auto it = Find(key, now);
  if (it == by_age_.end()) {
    if (by_key_.size() >= options_.max_addresses && !by_age_.empty()) Erase(by_age_.begin());
    it = by_age_.insert(by_age_.end(), Entry{key, 0, now, now});
    by_key_.emplace(key, it);
  } else {
    by_age_.splice(by_age_.end(), by_age_, it);  // Now the most recent failure.
  }
  it->failures = std::min(it->failures + 1, options_.free_failures + 64);
  Duration lockout = Duration::zero();
  if (it->failures >= options_.free_failures) {
    lockout = options_.first_backoff;
    for (int i = options_.free_failures; i < it->failures && lockout < options_.max_backoff; ++i) {
      lockout *= 2;
    }
    lockout = std::min(lockout, options_.max_backoff);
  }
  it->locked_until = now + lockout;
  it->forget_at = it->locked_until + options_.max_backoff;
  return lockout;
}

void LoginThrottle::Succeeded(std::string_view peer_ip) {
  auto found = by_key_.find(PeerKey::OfText(peer_ip));
  if (found != by_key_.end()) Erase(found->second);
}

}  // namespace dubbo::naming_server
