// CircuitBreaker: closed / open / half-open on atomics (see the header for the state machine).
//
// Thread-safety: lock-free; see the header.
#include "dubbo/cluster/circuit_breaker.h"

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace dubbo::cluster {
namespace {

constexpr int kClosed = static_cast<int>(CircuitBreaker::State::kClosed);
constexpr int kOpen = static_cast<int>(CircuitBreaker::State::kOpen);
constexpr int kHalfOpen = static_cast<int>(CircuitBreaker::State::kHalfOpen);

int64_t Nanos(registry::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

int64_t Nanos(registry::Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

}  // namespace

bool CircuitBreaker::IsAvailable(const registry::Clock& clock) const {
  if (closed()) return true;
  return Nanos(clock.Now()) >= probe_at_ns_.load(std::memory_order_acquire);
}

bool CircuitBreaker::TryAcquire(const registry::Clock& clock) {
  if (closed()) return true;
  const int64_t now = Nanos(clock.Now());
  int64_t probe_at = probe_at_ns_.load(std::memory_order_acquire);
  if (now < probe_at) return false;
  // The winner of this exchange owns the probe; until its outcome (or the wait) passes, nobody
  // else.
  const int64_t wait = wait_ns_.load(std::memory_order_relaxed);
  if (!probe_at_ns_.compare_exchange_strong(probe_at, now + wait, std::memory_order_acq_rel)) {
    return false;
  }
  int expected = kOpen;
  state_.compare_exchange_strong(expected, kHalfOpen, std::memory_order_acq_rel);
  return true;
}

void CircuitBreaker::OnSuccess() {
  // Loads first: a store on every successful call would bounce this cache line between the cores
  // of every calling thread.
  if (consecutive_failures_.load(std::memory_order_relaxed) != 0) {
    consecutive_failures_.store(0, std::memory_order_relaxed);
  }
  if (!closed()) state_.store(kClosed, std::memory_order_release);
}

void CircuitBreaker::OnConnectFailure(const registry::Clock& clock) {
  if (!options_.enabled) return;
  const int state = state_.load(std::memory_order_acquire);
  if (state == kHalfOpen) {
    // The probe failed: wait twice as long. Deadline first, then the state (see below).
    const int64_t wait =
        std::min(wait_ns_.load(std::memory_order_relaxed) * 2, Nanos(options_.max_open_duration));
    Open(Nanos(clock.Now()), std::max<int64_t>(wait, 1));
    int expected = kHalfOpen;
    state_.compare_exchange_strong(expected, kOpen, std::memory_order_acq_rel);
    return;
  }
  if (state == kOpen) return;  // a call admitted before the breaker opened
  const int failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < std::max(1, options_.failure_threshold)) return;
  // Publish the deadline before the state so that a reader seeing "open" sees a current deadline.
  Open(Nanos(clock.Now()), std::max<int64_t>(Nanos(options_.open_duration), 0));
  int expected = kClosed;
  state_.compare_exchange_strong(expected, kOpen, std::memory_order_acq_rel);
}

void CircuitBreaker::Open(int64_t now_ns, int64_t wait_ns) {
  wait_ns_.store(wait_ns, std::memory_order_relaxed);
  probe_at_ns_.store(now_ns + wait_ns, std::memory_order_release);
  times_opened_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace dubbo::cluster
