#include "login_throttle.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace dubbo::naming_server {

using registry::Duration;
using registry::TimePoint;

LoginThrottle::LoginThrottle(const LoginThrottleOptions& options, registry::Clock* clock)
    : options_(options), clock_(clock) {}

std::string LoginThrottle::KeyOf(std::string_view peer_ip) {
  if (peer_ip.find(':') == std::string_view::npos || peer_ip.size() >= INET6_ADDRSTRLEN) {
    return std::string(peer_ip);
  }
  char text[INET6_ADDRSTRLEN] = {0};
  std::memcpy(text, peer_ip.data(), peer_ip.size());
  unsigned char bytes[16];
  if (::inet_pton(AF_INET6, text, bytes) != 1) return std::string(peer_ip);
  static constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
    return ::inet_ntop(AF_INET, bytes + 12, text, sizeof(text)) != nullptr ? std::string(text)
                                                                           : std::string(peer_ip);
  }
  std::memset(bytes + 8, 0, 8);
  if (::inet_ntop(AF_INET6, bytes, text, sizeof(text)) == nullptr) return std::string(peer_ip);
  return std::string(text) + "/64";
}

void LoginThrottle::DropExpiredFront(TimePoint now) {
  while (!by_age_.empty() && now >= by_age_.front().forget_at) Erase(by_age_.begin());
}

LoginThrottle::List::iterator LoginThrottle::Find(const std::string& key, TimePoint now) {
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
  auto it = Find(KeyOf(peer_ip), now);
  if (it == by_age_.end() || now >= it->locked_until) return Duration::zero();
  return it->locked_until - now;
}

Duration LoginThrottle::Failed(std::string_view peer_ip) {
  const TimePoint now = clock_->Now();
  DropExpiredFront(now);
  std::string key = KeyOf(peer_ip);
  auto it = Find(key, now);
  if (it == by_age_.end()) {
    if (by_key_.size() >= options_.max_addresses && !by_age_.empty()) Erase(by_age_.begin());
    it = by_age_.insert(by_age_.end(), Entry{key, 0, now, now});
    by_key_.emplace(std::move(key), it);
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
  auto found = by_key_.find(KeyOf(peer_ip));
  if (found != by_key_.end()) Erase(found->second);
}

}  // namespace dubbo::naming_server
