// File: dubbo/cluster/provider_directory.h
//
// ProviderDirectory: the consumer's NotifyListener. Subscribe it to a registry and it keeps an
// immutable ProviderSnapshot of the subscription's providers, replaced atomically on every change,
// following Dubbo's RegistryDirectory:
//
//   * URLs are classified per category: `providers` become providers; `routers` (or route://) and
//     `configurators` (or override://, dynamicconfigurators, appdynamicconfigurators) are kept in
//     the snapshot for inspection but not applied; other categories (consumers) are ignored.
//   * A providers-category `empty://` URL clears the providers (Dubbo's "forbidden" state).
//   * A notification without any providers-category URL (routers or configurators only) keeps the
//     providers.
//   * Disabled providers (`enabled=false` or `disabled=true`) are dropped, and so are providers
//   whose
//     protocol is not in the consumer URL's `protocol` list when that parameter is set. Duplicates
//     (URL equality, which ignores `timestamp`) are dropped. Provider order is the notified order.
//   * A non-empty providers list that leaves no usable provider after that filtering keeps the last
//     good list (Dubbo logs "urls to invokers error" and keeps its state); only an explicit
//     empty:// clears it.
//   * Statistics and circuit breakers belong to a provider's identity (URL::ToIdentityString()), so
//     they survive updates that keep the provider.
//
// Warm-up: weights are evaluated when a snapshot is built. While some provider is warming up, the
// directory re-weighs (a cheap new snapshot of the same providers) at most every
// `warmup_refresh_interval`, lazily: the first snapshot() or SnapshotReader::Get() after the
// interval has passed builds it, on the caller's thread. No thread or Scheduler is needed. When no
// provider warms up that check costs one relaxed load; during warm-up, one read of the clock.
//
// Outlier detection (Envoy's idea, on top of every provider's CircuitBreaker): TryEject() ejects a
// provider unless too many are ejected already (`max_ejection_percent`), and the latency comparison
// ejects a provider whose mean latency over the last interval is far above the others' median.
// FailoverCluster drives both.
//
// Reading: snapshot() returns the current snapshot (std::atomic_load of a shared_ptr; libstdc++
// briefly takes an internal lock-pool mutex that the publishing std::atomic_store also takes, for a
// pointer copy). For the hot path, a SnapshotReader per thread caches it and costs one acquire load
// of the version per Get() when nothing changed, taking no lock at all. Neither ever takes the
// mutex that Notify() holds while it builds a snapshot.
//
//   auto directory = std::make_shared<dubbo::cluster::ProviderDirectory>(options);
//   registry->Subscribe(consumer_url, directory);        // shared_ptr<NotifyListener>
//   dubbo::cluster::SnapshotReader reader(directory.get());
//   const ProviderSnapshot& providers = reader.Get();
//
// Thread-safety: every method may be called from any thread. Notify() and RefreshWeights()
// serialise on an internal mutex; TryEject() and the latency comparison on another; snapshot() and
// version() take neither unless a warm-up re-weighing is due.
#ifndef DUBBO_CLUSTER_PROVIDER_DIRECTORY_H_
#define DUBBO_CLUSTER_PROVIDER_DIRECTORY_H_

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <vector>

#include "dubbo/cluster/circuit_breaker.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

// Ejection rules across the providers of one directory. No Dubbo URL parameter exists for these.
struct OutlierDetectionOptions {
  // At most this percentage of the providers (rounded down, but at least 1) is ejected at once, and
  // never all of them: with 1 provider nothing is ejected. An ejection beyond the cap is refused
  // and the provider stays in the rotation (its failures are still retried elsewhere). Clamped to
  // [0, 100]; 0 disables ejection. Default 50 (Envoy's default is 10; with the few providers of a
  // typical Dubbo service that would still allow only one).
  int max_ejection_percent = 50;
  // How often the providers' latencies are compared. Values <= 0 disable latency ejection.
  // Default 1 s.
  registry::Duration latency_interval = std::chrono::seconds(1);
  // A provider is a latency outlier when the mean time of its calls finished during the last
  // interval (failed ones included, so timeouts count at their full length) exceeds both
  // `latency_factor` times the median of the providers' means and `latency_min`. Defaults 3.0 and
  // 100 ms.
  double latency_factor = 3.0;
  registry::Duration latency_min = std::chrono::milliseconds(100);
  // Only providers with at least this many calls finished in the interval are compared. Default 10.
  int latency_min_requests = 10;
  // No latency ejection with fewer providers than this to compare. Default 3.
  int latency_min_providers = 3;
};

struct ProviderDirectoryOptions {
  // The subscribing consumer's URL. Its `protocol` parameter (a comma list) restricts the accepted
  // provider protocols. Default: the empty URL (every protocol accepted).
  registry::URL consumer_url;
  // Reads wall time for warm-up and monotonic time for re-weighing and ejections. Non-owning; must
  // outlive the directory. Default nullptr: Clock::Real().
  registry::Clock* clock = nullptr;
  // Shortest time between two re-weighings while some provider warms up. Values below 1 ms count
  // as 1 ms. Default 1 s (a 10-minute warm-up moves in steps of under 0.2% of the weight).
  registry::Duration warmup_refresh_interval = std::chrono::seconds(1);
  // Options of every provider's circuit breaker. Default: see CircuitBreakerOptions.
  CircuitBreakerOptions breaker;
  // Ejection across providers. Default: see OutlierDetectionOptions.
  OutlierDetectionOptions outlier;
  // Response-time window of every provider's ProviderStats. Default 30 s.
  registry::Duration stats_window = std::chrono::seconds(30);
};

class DUBBO_REGISTRY_EXPORT ProviderDirectory final : public registry::NotifyListener {
 public:
  explicit ProviderDirectory(ProviderDirectoryOptions options = {});
  ~ProviderDirectory() override;
  ProviderDirectory(const ProviderDirectory&) = delete;
  ProviderDirectory& operator=(const ProviderDirectory&) = delete;

  // NotifyListener: one category's complete list (or several categories at once).
  void Notify(const std::vector<registry::URL>& urls) override;

  // The current snapshot; never null (empty before the first notification). Re-weighs first when
  // a warm-up re-weighing is due.
  std::shared_ptr<const ProviderSnapshot> snapshot() const;
  // The current snapshot's version().
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Re-evaluates warm-up weights now, publishing a new snapshot when some weight changed.
  void RefreshWeights() const;
  // Re-weighs when some provider warms up and warmup_refresh_interval has passed since the last
  // re-weighing. One relaxed load when no provider warms up.
  void MaybeRefreshWeights() const {
    if (reweigh_at_ns_.load(std::memory_order_relaxed) != kNever) RefreshWeightsIfDue();
  }

  // Ejects `provider` (CircuitBreaker::Eject()) unless the providers of the current snapshot whose
  // breaker is not closed already reach the cap of OutlierDetectionOptions::max_ejection_percent.
  // True when it ejected. `clock` is non-owning.
  bool TryEject(const Provider& provider, const registry::Clock& clock) const;
  // Compares the providers' latencies (see OutlierDetectionOptions) when `now` (on `clock`) has
  // reached the next comparison, ejecting the outliers through TryEject(). One relaxed load when
  // not due. FailoverCluster::Invoke() calls it after every attempt.
  void MaybeCompareLatencies(registry::TimePoint now, const registry::Clock& clock) const {
    if (now.time_since_epoch().count() >= next_latency_check_.load(std::memory_order_relaxed)) {
      CompareLatencies(now, clock);
    }
  }

  const ProviderDirectoryOptions& options() const { return options_; }

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Impl;
  static constexpr int64_t kNever = INT64_MAX;

  void Publish(std::shared_ptr<const ProviderSnapshot> next) const;
  void RefreshWeightsIfDue() const;
  void CompareLatencies(registry::TimePoint now, const registry::Clock& clock) const;

  const ProviderDirectoryOptions options_;
  registry::Clock* const clock_;
  // Read with std::atomic_load, written with std::atomic_store (under Impl's mutex). Mutable: a
  // re-weighing (a cache refresh of the same list) may be published from a const reader.
  mutable std::shared_ptr<const ProviderSnapshot> current_;
  mutable std::atomic<uint64_t> version_;
  // Monotonic nanoseconds (clock_->Now()) of the next re-weighing; kNever when no provider warms
  // up.
  mutable std::atomic<int64_t> reweigh_at_ns_{kNever};
  // Ticks of registry::TimePoint of the next latency comparison; kNever when disabled.
  mutable std::atomic<int64_t> next_latency_check_{0};
  std::unique_ptr<Impl> impl_;
};

// A per-thread cache of a directory's current snapshot. Get() costs one acquire load (and one
// relaxed load for the warm-up check) when the snapshot has not changed since the last call.
//
// Thread-safety: not thread-safe; use one reader per thread. The reference returned by Get() stays
// valid until the next Get() on this reader or its destruction. `directory` is non-owning and must
// outlive the reader.
class DUBBO_REGISTRY_EXPORT SnapshotReader {
 public:
  explicit SnapshotReader(const ProviderDirectory* directory) : directory_(directory) {}

  const ProviderSnapshot& Get() { return *GetShared(); }
  const std::shared_ptr<const ProviderSnapshot>& GetShared() {
    directory_->MaybeRefreshWeights();
    if (directory_->version() != version_) Refresh();
    return snapshot_;
  }

 private:
  void Refresh();

  const ProviderDirectory* directory_;
  uint64_t version_ = 0;
  std::shared_ptr<const ProviderSnapshot> snapshot_;
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_PROVIDER_DIRECTORY_H_
