// File: dubbo/cluster/provider_snapshot.h
//
// ProviderSnapshot: an immutable provider list with everything a pick needs precomputed: the
// effective (warm-up applied) weights, their total, and a Walker/Vose alias table so a weighted
// random pick is O(1). Load balancers attach further derived data (the round-robin schedule, the
// consistent-hash ring) lazily through GetOrBuild(); it lives exactly as long as the snapshot.
//
// ProviderDirectory builds and publishes snapshots; a pick holds one (a shared_ptr or a
// SnapshotReader) and never sees it change. Derived data whose inputs are only the provider
// addresses (the hash ring) is kept in a "topology" shared between a snapshot and its warm-up
// re-weightings, so re-weighting does not rebuild rings.
//
// Thread-safety: immutable after Create(); GetOrBuild() is lock-free and safe from any thread.
#ifndef DUBBO_CLUSTER_PROVIDER_SNAPSHOT_H_
#define DUBBO_CLUSTER_PROVIDER_SNAPSHOT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dubbo/cluster/provider.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

// A lock-free, grow-only list of lazily built values keyed by a 64-bit key. Internal to snapshots.
class DUBBO_REGISTRY_EXPORT DerivedCache {
 public:
  DerivedCache() = default;
  ~DerivedCache();
  DerivedCache(const DerivedCache&) = delete;
  DerivedCache& operator=(const DerivedCache&) = delete;

  // The value stored under `key`, or nullptr.
  const void* Find(uint64_t key) const;
  // Stores `value` under `key` unless another thread got there first; returns the stored value.
  const void* Install(uint64_t key, std::shared_ptr<const void> value);

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Node {
    uint64_t key;
    std::shared_ptr<const void> value;
    Node* next;
  };
  std::atomic<Node*> head_{nullptr};
};

class DUBBO_REGISTRY_EXPORT ProviderSnapshot {
 public:
  // What GetOrBuild() data depends on.
  enum class Scope {
    kWeights,   // the effective weights: rebuilt with every snapshot
    kTopology,  // only the provider list: shared with re-weighted snapshots of the same list
  };

  // Builds a snapshot of `providers` with weights evaluated at wall time `now_ms`. `routers` and
  // `configurators` are kept for inspection only (this library does not apply them).
  static std::shared_ptr<const ProviderSnapshot> Create(
      std::vector<Provider> providers, int64_t now_ms, std::vector<registry::URL> routers = {},
      std::vector<registry::URL> configurators = {});
  // The same providers re-weighted at `now_ms` (a new version); topology data is shared.
  std::shared_ptr<const ProviderSnapshot> Reweighted(int64_t now_ms) const;

  ProviderSnapshot(const ProviderSnapshot&) = delete;
  ProviderSnapshot& operator=(const ProviderSnapshot&) = delete;

  size_t size() const { return topology_->providers.size(); }
  bool empty() const { return topology_->providers.empty(); }
  const Provider& operator[](size_t i) const { return topology_->providers[i]; }
  const std::vector<Provider>& providers() const { return topology_->providers; }
  const std::vector<registry::URL>& routers() const { return topology_->routers; }
  const std::vector<registry::URL>& configurators() const { return topology_->configurators; }

  // Process-wide unique, increasing with each snapshot built.
  uint64_t version() const { return version_; }
  // Effective weight of provider i (warm-up applied), >= 0.
  int32_t weight(size_t i) const { return weights_[i]; }
  const std::vector<int32_t>& weights() const { return weights_; }
  int64_t total_weight() const { return total_weight_; }
  // True when every effective weight is equal (or there are no providers).
  bool same_weight() const { return same_weight_; }
  // True when some provider is still warming up at the snapshot's time, so a later re-weighting
  // would change its weight.
  bool warming_up() const { return warming_up_; }

  // Index of a provider drawn with probability weight/total from 64 random bits, in O(1) (alias
  // table). Uniform when the weights are all equal or all 0 (as Dubbo's random). REQUIRES:
  // !empty().
  size_t PickWeighted(uint64_t random) const;

  // Returns the data stored under (scope, key), building it with `build()` (returning
  // std::shared_ptr<const T>) the first time. Concurrent first callers may each build; one result
  // is kept and returned to all. The reference lives as long as this snapshot.
  template <typename T, typename Build>
  const T& GetOrBuild(Scope scope, uint64_t key, Build&& build) const {
    DerivedCache& cache = scope == Scope::kWeights ? derived_ : topology_->derived;
    if (const void* found = cache.Find(key)) return *static_cast<const T*>(found);
    std::shared_ptr<const T> built = build();
    return *static_cast<const T*>(
        cache.Install(key, std::shared_ptr<const void>(std::move(built))));
  }

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Topology {
    std::vector<Provider> providers;
    std::vector<registry::URL> routers;
    std::vector<registry::URL> configurators;
    mutable DerivedCache derived;
  };

  ProviderSnapshot(std::shared_ptr<const Topology> topology, int64_t now_ms);

  std::shared_ptr<const Topology> topology_;
  uint64_t version_;
  std::vector<int32_t> weights_;
  int64_t total_weight_ = 0;
  bool same_weight_ = true;
  bool warming_up_ = false;
  // Alias table: column i keeps i when the low draw is below threshold_[i] (out of total_weight_),
  // else gives alias_[i].
  std::vector<uint64_t> threshold_;
  std::vector<uint32_t> alias_;
  mutable DerivedCache derived_;
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_PROVIDER_SNAPSHOT_H_
