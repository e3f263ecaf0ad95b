// File: dubbo/cluster/circuit_breaker.h
//
// CircuitBreaker: takes a failing provider out of the rotation (an "ejection", as Envoy's outlier
// detection calls it) without waiting ~15 s for the registry to mark it unhealthy, and lets it back
// in when a probe succeeds. Failures are refused connections and timeouts: a provider that is up
// but hung (its port open, never answering) fails by timeout and leaves the rotation like a dead
// one.
//
//   closed ──(consecutive failures reach the threshold; Eject())──▶ open
//   open ──(the ejection time elapsed; the next TryAcquire() wins the probe)──▶ half-open
//   half-open ──(probe succeeds: OnSuccess())──▶ closed
//   half-open ──(probe fails: OnFailure())──▶ open again, for a longer time
//   half-open ──(probe outcome never reported within the ejection time)──▶ another caller may probe
//
// The n-th consecutive ejection lasts n × open_duration, capped at max_open_duration (Envoy's base
// ejection time × number of ejections). The count falls by one for every max_open_duration the
// provider then stays closed, so a provider that recovered for good starts from open_duration
// again.
//
// Counting and ejecting are two steps: OnFailure() reports when the threshold is reached and the
// caller calls Eject(), which lets a cluster refuse an ejection that would take too many providers
// out at once (ProviderDirectory::TryEject(), OutlierDetectionOptions::max_ejection_percent).
// A "probe" is simply the next real call routed to the provider once its ejection time has elapsed;
// exactly one caller wins it. Time is read only through the injected Clock, and only when the
// breaker is not closed or a failure is reported, so the closed path costs one relaxed atomic load.
//
// Thread-safety: all methods are lock-free and may be called from any thread. Transitions are made
// with compare-and-swap; under races the breaker may admit one extra probe, never block forever.
// Concurrent Eject() calls on one breaker may count one ejection twice (FailoverCluster serialises
// them through ProviderDirectory::TryEject()).
#ifndef DUBBO_CLUSTER_CIRCUIT_BREAKER_H_
#define DUBBO_CLUSTER_CIRCUIT_BREAKER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"

namespace dubbo::cluster {

struct CircuitBreakerOptions {
  // false: the breaker never opens. Default true.
  bool enabled = true;
  // Consecutive failures that eject the provider when the latest one is a refused connection.
  // Default 1 (a refused connection is a definite answer). Values < 1 count as 1.
  int failure_threshold = 1;
  // Consecutive failures that eject the provider when the latest one is a timeout. Default 3 (one
  // slow answer is not yet a hung provider). Values < 1 count as 1.
  int timeout_threshold = 3;
  // Base ejection time: the n-th consecutive ejection lasts n times this. Default 1 s.
  registry::Duration open_duration = std::chrono::seconds(1);
  // Cap of the ejection time; also the healthy time that forgives one past ejection. Default 30 s.
  registry::Duration max_open_duration = std::chrono::seconds(30);
};

enum class FailureKind {
  kConnect,  // the connection was refused or could not be made
  kTimeout,  // no answer within the attempt's timeout
};

class DUBBO_REGISTRY_EXPORT CircuitBreaker {
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

  // A call succeeded: forgets earlier consecutive failures, and closes a half-open breaker (the
  // probe succeeded). An open breaker stays open: that call was admitted before the ejection.
  void OnSuccess();
  // A call failed with a refused connection or a timeout.
  //   closed: counts it; returns true when the consecutive failures reach the threshold of `kind`
  //           (the caller should then Eject(), or ask ProviderDirectory::TryEject()).
  //   half-open: the probe failed; ejects again at once (one ejection more, so a longer wait).
  //   open: ignored (a call admitted before the ejection).
  // Returns false except in the first case. Always false when disabled.
  bool OnFailure(FailureKind kind, const registry::Clock& clock);
  // Ejects a closed breaker for n × open_duration (capped), n the consecutive ejections including
  // this one. Returns false (and does nothing) when disabled or not closed.
  bool Eject(const registry::Clock& clock);

  // Times the breaker has opened (including reopenings after failed probes).
  uint64_t times_opened() const { return times_opened_.load(std::memory_order_relaxed); }
  // Consecutive ejections so far, as used for the next ejection time (before any forgiving).
  int ejections() const { return ejections_.load(std::memory_order_relaxed); }
  const CircuitBreakerOptions& options() const { return options_; }

 private:
  void Open(int64_t now_ns, int64_t wait_ns);
  int64_t WaitNanos(int ejections) const;

  const CircuitBreakerOptions options_;
  std::atomic<int> state_{0};
  std::atomic<int> consecutive_failures_{0};
  std::atomic<int> ejections_{0};
  // Steady-clock nanoseconds: when open/half-open, the earliest time the next probe may start.
  std::atomic<int64_t> probe_at_ns_{0};
  // The current ejection time; probe_at_ns_ - wait_ns_ is when the last probe started.
  std::atomic<int64_t> wait_ns_{0};
  std::atomic<uint64_t> times_opened_{0};
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_CIRCUIT_BREAKER_H_
