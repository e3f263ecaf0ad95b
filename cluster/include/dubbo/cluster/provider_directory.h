// File: dubbo/cluster/provider_directory.h
//
// ProviderDirectory: the consumer's NotifyListener. Subscribe it to a registry and it keeps an
// immutable ProviderSnapshot of the subscription's providers, replaced atomically on every change,
// following Dubbo's RegistryDirectory (spec dubbo-registry-model.md §7.2):
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
// Warm-up: weights are evaluated when a snapshot is built. While some provider is warming up the
// directory re-weights (a cheap new snapshot of the same providers) every `warmup_refresh_interval`
// on the injected Scheduler, or when RefreshWeights() is called.
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
// Thread-safety: Notify() and RefreshWeights() may be called from any thread (they serialise on an
// internal mutex); snapshot() and version() from any thread.
#ifndef DUBBO_CLUSTER_PROVIDER_DIRECTORY_H_
#define DUBBO_CLUSTER_PROVIDER_DIRECTORY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "dubbo/cluster/circuit_breaker.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/scheduler.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

struct ProviderDirectoryOptions {
  // The subscribing consumer's URL. Its `protocol` parameter (a comma list) restricts the accepted
  // provider protocols. Default: the empty URL (every protocol accepted).
  registry::URL consumer_url;
  // Reads wall time for warm-up. Non-owning; must outlive the directory. Default nullptr:
  // Clock::Real().
  registry::Clock* clock = nullptr;
  // Runs the periodic warm-up re-weighting. Non-owning; must outlive the directory. Default
  // nullptr: weights are re-evaluated only on Notify() and RefreshWeights().
  registry::Scheduler* scheduler = nullptr;
  // Re-weighting period while some provider warms up. Default 1 s (a 10-minute warm-up moves in
  // steps of under 0.2% of the weight).
  registry::Duration warmup_refresh_interval = std::chrono::seconds(1);
  // Options of every provider's circuit breaker. Default: see CircuitBreakerOptions.
  CircuitBreakerOptions breaker;
  // Response-time window of every provider's ProviderStats. Default 30 s.
  registry::Duration stats_window = std::chrono::seconds(30);
};

class ProviderDirectory final : public registry::NotifyListener {
 public:
  explicit ProviderDirectory(ProviderDirectoryOptions options = {});
  // Cancels the re-weighting task (waiting for it if it is running).
  ~ProviderDirectory() override;
  ProviderDirectory(const ProviderDirectory&) = delete;
  ProviderDirectory& operator=(const ProviderDirectory&) = delete;

  // NotifyListener: one category's complete list (or several categories at once).
  void Notify(const std::vector<registry::URL>& urls) override;

  // The current snapshot; never null (empty before the first notification).
  std::shared_ptr<const ProviderSnapshot> snapshot() const;
  // The current snapshot's version().
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Re-evaluates warm-up weights now, publishing a new snapshot when some weight changed.
  void RefreshWeights();

  const ProviderDirectoryOptions& options() const { return options_; }

 private:
  struct Impl;

  void Publish(std::shared_ptr<const ProviderSnapshot> next);

  const ProviderDirectoryOptions options_;
  registry::Clock* const clock_;
  // Read with std::atomic_load, written with std::atomic_store (under Impl's mutex).
  std::shared_ptr<const ProviderSnapshot> current_;
  std::atomic<uint64_t> version_;
  std::unique_ptr<Impl> impl_;
};

// A per-thread cache of a directory's current snapshot. Get() costs one acquire load when the
// snapshot has not changed since the last call.
//
// Thread-safety: not thread-safe; use one reader per thread. The reference returned by Get() stays
// valid until the next Get() on this reader or its destruction. `directory` is non-owning and must
// outlive the reader.
class SnapshotReader {
 public:
  explicit SnapshotReader(const ProviderDirectory* directory) : directory_(directory) {}

  const ProviderSnapshot& Get() { return *GetShared(); }
  const std::shared_ptr<const ProviderSnapshot>& GetShared() {
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
