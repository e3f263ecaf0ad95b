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
// Bounds the ejection count (the ejection time is capped long before).
constexpr int kMaxEjections = 1 << 20;

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
  // Only a probe's success closes: a call admitted before the ejection may still succeed (a slow
  // provider answers late) and must not undo it.
  if (state_.load(std::memory_order_relaxed) == kHalfOpen) {
    int expected = kHalfOpen;
    state_.compare_exchange_strong(expected, kClosed, std::memory_order_acq_rel);
  }
}

bool CircuitBreaker::OnFailure(FailureKind kind, const registry::Clock& clock) {
  if (!options_.enabled) return false;
  const int state = state_.load(std::memory_order_acquire);
  if (state == kHalfOpen) {
    // The probe failed: one ejection more. Deadline first, then the state (see Eject()).
    const int ejections = std::min(ejections_.load(std::memory_order_relaxed) + 1, kMaxEjections);
    ejections_.store(ejections, std::memory_order_relaxed);
    Open(Nanos(clock.Now()), WaitNanos(ejections));
    int expected = kHalfOpen;
    state_.compare_exchange_strong(expected, kOpen, std::memory_order_acq_rel);
    return false;
  }
  if (state == kOpen) return false;  // a call admitted before the breaker opened
  const int failures = consecutive_failures_.fetch_add(1, std::memory_order_relaxed) + 1;
  const int threshold =
      kind == FailureKind::kConnect ? options_.failure_threshold : options_.timeout_threshold;
  return failures >= std::max(1, threshold);
}

bool CircuitBreaker::Eject(const registry::Clock& clock) {
  if (!options_.enabled || !closed()) return false;
  const int64_t now = Nanos(clock.Now());
  int ejections = ejections_.load(std::memory_order_relaxed);
  if (ejections > 0) {
    // Forgive one past ejection per max_open_duration closed since the last probe started (the
    // probe whose success closed the breaker).
    const int64_t closed_since =
        probe_at_ns_.load(std::memory_order_relaxed) - wait_ns_.load(std::memory_order_relaxed);
    const int64_t step = std::max<int64_t>(Nanos(options_.max_open_duration), 1);
    const int64_t forgiven = std::max<int64_t>(now - closed_since, 0) / step;
    ejections = static_cast<int>(std::max<int64_t>(ejections - forgiven, 0));
  }
  ejections = std::min(ejections + 1, kMaxEjections);
  ejections_.store(ejections, std::memory_order_relaxed);
  consecutive_failures_.store(0, std::memory_order_relaxed);
  // Publish the deadline before the state so that a reader seeing "open" sees a current deadline.
  Open(now, WaitNanos(ejections));
  int expected = kClosed;
  return state_.compare_exchange_strong(expected, kOpen, std::memory_order_acq_rel);
}

int64_t CircuitBreaker::WaitNanos(int ejections) const {
  const int64_t base = std::max<int64_t>(Nanos(options_.open_duration), 0);
  const int64_t cap = std::max<int64_t>(Nanos(options_.max_open_duration), 0);
  if (ejections > 0 && base > cap / ejections) return cap;
  return std::min(base * ejections, cap);
}

void CircuitBreaker::Open(int64_t now_ns, int64_t wait_ns) {
  wait_ns_.store(wait_ns, std::memory_order_relaxed);
  probe_at_ns_.store(now_ns + wait_ns, std::memory_order_release);
  times_opened_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace dubbo::cluster
