// File: dubbo/cluster/provider.h
//
// Provider: one provider URL as the load balancers see it (address, configured weight, warm-up
// parameters), plus its live runtime state (ProviderStats: active calls and response times;
// CircuitBreaker). The runtime state is shared by every snapshot that lists the same provider
// (same URL::ToIdentityString()), so counters survive provider-list updates.
//
// Warm-up (Dubbo 3.x linear formula):
//   w = `weight` (default 100; negative counts as 0)
//   if w > 0 and `timestamp` > 0:
//     uptime = now - timestamp (ms);  uptime < 0 -> weight 1
//     0 < uptime < `warmup` (default 600000 ms) -> int(uptime / (warmup / w)), clamped to [1, w]
//
// Thread-safety: a Provider is immutable except for stats() and breaker(), which are lock-free and
// safe from any thread.
#ifndef DUBBO_CLUSTER_PROVIDER_H_
#define DUBBO_CLUSTER_PROVIDER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "dubbo/cluster/circuit_breaker.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

inline constexpr int32_t kDefaultWeight = 100;
inline constexpr int64_t kDefaultWarmupMillis = 600'000;

// The Dubbo 3.x warm-up weight (formula in the file comment). `now_ms` and `timestamp_ms` are
// wall-clock milliseconds since the epoch.
DUBBO_REGISTRY_EXPORT int32_t WarmupWeight(int32_t weight, int64_t timestamp_ms, int64_t warmup_ms,
                                           int64_t now_ms);

// Per-provider call statistics, all lock-free counters.
//
// The response-time window (for `shortestresponse`) restarts every `window` (Dubbo 3.x's
// shortestResponseSlidePeriod, default 30 s); a restart that races with a recording may drop that
// one sample. Cumulative counters never restart.
class alignas(64) DUBBO_REGISTRY_EXPORT ProviderStats {
 public:
  explicit ProviderStats(registry::Duration window = std::chrono::seconds(30))
      : window_ns_(std::chrono::duration_cast<std::chrono::nanoseconds>(window).count()) {}
  ProviderStats(const ProviderStats&) = delete;
  ProviderStats& operator=(const ProviderStats&) = delete;

  // A call starts: active + 1. Every BeginCall() must be matched by one EndCall().
  void BeginCall() { active_.fetch_add(1, std::memory_order_relaxed); }
  // A call ends after `elapsed`; `now` is the end time (it drives the window).
  void EndCall(registry::Duration elapsed, bool succeeded, registry::TimePoint now);

  // Calls in flight.
  int32_t active() const { return active_.load(std::memory_order_relaxed); }
  uint64_t succeeded() const { return succeeded_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }
  // Elapsed time of every finished call (succeeded or failed), summed, in nanoseconds.
  int64_t elapsed_total_nanos() const { return elapsed_total_ns_.load(std::memory_order_relaxed); }
  // Mean elapsed time of the successful calls in the current window, in nanoseconds; 0 without any.
  int64_t WindowMeanNanos() const;

 private:
  const int64_t window_ns_;
  std::atomic<int32_t> active_{0};
  std::atomic<uint64_t> succeeded_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<int64_t> elapsed_total_ns_{0};
  std::atomic<int64_t> window_start_ns_{INT64_MIN};
  std::atomic<uint64_t> window_succeeded_{0};
  std::atomic<int64_t> window_elapsed_ns_{0};
};

// The runtime state of one provider: statistics and circuit breaker.
struct ProviderState {
  ProviderState(CircuitBreakerOptions breaker_options, registry::Duration stats_window)
      : stats(stats_window), breaker(breaker_options) {}
  ProviderStats stats;
  CircuitBreaker breaker;
  // What the directory's latency comparison saw at its previous run (finished calls and their
  // summed elapsed time). Touched only by that comparison, which runs under the directory's outlier
  // mutex.
  uint64_t compared_calls = 0;
  int64_t compared_elapsed_ns = 0;
};

class DUBBO_REGISTRY_EXPORT Provider {
 public:
  // Reads `weight`, `timestamp` and `warmup` from `url`. `state` is shared with other snapshots;
  // nullptr creates a fresh one with default options.
  explicit Provider(registry::URL url, std::shared_ptr<ProviderState> state = nullptr);

  const registry::URL& url() const { return url_; }
  // host:port: the consistent-hash input and the identity shown in messages.
  const std::string& address() const { return address_; }
  // The configured `weight` (>= 0), before warm-up.
  int32_t weight() const { return weight_; }
  int64_t timestamp_ms() const { return timestamp_ms_; }
  int64_t warmup_ms() const { return warmup_ms_; }
  // The weight at wall time `now_ms`, warm-up applied.
  int32_t WeightAt(int64_t now_ms) const {
    return WarmupWeight(weight_, timestamp_ms_, warmup_ms_, now_ms);
  }

  ProviderStats& stats() const { return state_->stats; }
  CircuitBreaker& breaker() const { return state_->breaker; }
  // Identifies the provider across snapshots (the same object for the same provider).
  const std::shared_ptr<ProviderState>& state() const { return state_; }

 private:
  registry::URL url_;
  std::string address_;
  int32_t weight_;
  int64_t timestamp_ms_;
  int64_t warmup_ms_;
  std::shared_ptr<ProviderState> state_;
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_PROVIDER_H_
