// File: dubbo/cluster/circuit_breaker.h
//
// CircuitBreaker: takes a provider that refuses connections out of the rotation at once, without
// waiting ~15 s for the registry to mark it unhealthy, and lets it back in when a probe succeeds.
//
//   closed ──(failure_threshold consecutive connection failures)──▶ open
//   open ──(open_duration elapsed; the next TryAcquire() wins the probe)──▶ half-open
//   half-open ──(probe succeeds: OnSuccess())──▶ closed
//   half-open ──(probe fails: OnConnectFailure())──▶ open, the wait doubled (capped at
//   max_open_duration) half-open ──(probe outcome never reported within the wait)──▶ another caller
//   may probe
//
// A "probe" is simply the next real call routed to the provider once its wait has elapsed; exactly
// one caller wins it. Callers that run their own out-of-band probe (a TCP connect, say) use the
// same TryAcquire()/OnSuccess()/OnConnectFailure() calls. Time is read only through the injected
// Clock, and only when the breaker is not closed, so the closed path costs one relaxed atomic load.
//
// Thread-safety: all methods are lock-free and may be called from any thread. Transitions are made
// with compare-and-swap; under races the breaker may admit one extra probe, never block forever.
#ifndef DUBBO_CLUSTER_CIRCUIT_BREAKER_H_
#define DUBBO_CLUSTER_CIRCUIT_BREAKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "dubbo/registry/clock.h"

namespace dubbo::cluster {

struct CircuitBreakerOptions {
  // false: the breaker never opens. Default true.
  bool enabled = true;
  // Consecutive connection failures that open the breaker. Default 1 (a refused connection is a
  // definite answer). Values < 1 count as 1.
  int failure_threshold = 1;
  // Wait between opening and the first probe. Default 1 s.
  registry::Duration open_duration = std::chrono::seconds(1);
  // Cap of the wait, which doubles after each failed probe. Default 30 s.
  registry::Duration max_open_duration = std::chrono::seconds(30);
};

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kOpen = 1, kHalfOpen = 2 };

  explicit CircuitBreaker(CircuitBreakerOptions options = {}) : options_(options) {}
  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  State state() const { return static_cast<State>(state_.load(std::memory_order_acquire)); }
  // One relaxed load: the fast path of every pick.
  bool closed() const { return state_.load(std::memory_order_relaxed) == 0; }

  // True when a call may be admitted now: closed, or a probe is due. Does not claim anything; reads
  // the clock only when not closed. `clock` is non-owning.
  bool IsAvailable(const registry::Clock& clock) const;
  // Claims the right to send a call now. Closed: true. Open or half-open with the wait elapsed: the
  // first caller gets true (its call is the probe; the state becomes half-open), the others false.
  bool TryAcquire(const registry::Clock& clock);

  // A call (or probe) succeeded: closes the breaker and forgets earlier failures.
  void OnSuccess();
  // A connection was refused or could not be made.
  void OnConnectFailure(const registry::Clock& clock);

  // Times the breaker has opened (including reopenings after failed probes).
  uint64_t times_opened() const { return times_opened_.load(std::memory_order_relaxed); }
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  void Open(int64_t now_ns, int64_t wait_ns);

  const CircuitBreakerOptions options_;
  std::atomic<int> state_{0};
  std::atomic<int> consecutive_failures_{0};
  // Steady-clock nanoseconds: when open/half-open, the earliest time the next probe may start.
  std::atomic<int64_t> probe_at_ns_{0};
  // The current wait (doubles per failed probe).
  std::atomic<int64_t> wait_ns_{0};
  std::atomic<uint64_t> times_opened_{0};
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_CIRCUIT_BREAKER_H_
