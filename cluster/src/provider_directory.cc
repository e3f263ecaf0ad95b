// ProviderDirectory: URL classification and filtering, snapshot publication, lazy warm-up
// re-weighing, the ejection cap and the latency comparison.
//
// Thread-safety: updates serialise on Impl::mu; ejections on Impl::outlier_mu (never held with mu);
// readers use std::atomic_load on `current_` and an acquire load of `version_`, and take Impl::mu
// only to re-weigh.
#include "dubbo/cluster/provider_directory.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "internal/logging.h"
#include "internal/mutex.h"

namespace dubbo::cluster {
namespace {

using registry::URL;
using registry::internal::Mutex;
using registry::internal::MutexLock;

enum class Kind { kProvider, kRouter, kConfigurator, kOther };

Kind Classify(const URL& url) {
  const std::string_view category = url.Category();
  if (url.protocol() == "route" || category == registry::keys::kRoutersCategory)
    return Kind::kRouter;
  if (url.protocol() == "override" || category == registry::keys::kConfiguratorsCategory ||
      category == "dynamicconfigurators" || category == "appdynamicconfigurators") {
    return Kind::kConfigurator;
  }
  if (category == registry::keys::kProvidersCategory) return Kind::kProvider;
  return Kind::kOther;
}

bool ListContains(std::string_view list, std::string_view item) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    while (!entry.empty() && entry.front() == ' ') entry.remove_prefix(1);
    while (!entry.empty() && entry.back() == ' ') entry.remove_suffix(1);
    if (entry == item) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

int64_t Nanos(registry::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// The most providers of `size` that may be ejected at once (see OutlierDetectionOptions).
size_t MaxEjected(size_t size, int percent) {
  if (size <= 1 || percent <= 0) return 0;
  const size_t share = size * static_cast<size_t>(std::min(percent, 100)) / 100;
  return std::min(size - 1, std::max<size_t>(share, 1));
}

}  // namespace

struct ProviderDirectory::Impl {
  Mutex mu;
  // Serialises ejections (so the cap holds) and latency comparisons.
  Mutex outlier_mu;
  // The latest published snapshot (the writer's copy).
  std::shared_ptr<const ProviderSnapshot> latest DUBBO_GUARDED_BY(mu);
  // Runtime state per provider identity, for the providers of `latest`.
  std::unordered_map<std::string, std::shared_ptr<ProviderState>> states DUBBO_GUARDED_BY(mu);

  // Publishes a re-weighted snapshot when a weight changed.
  void RefreshLocked(const ProviderDirectory* owner) DUBBO_REQUIRES(mu);
  // Sets when the next re-weighing is due: an interval from now while `latest` warms up, else
  // never.
  void ScheduleReweighLocked(const ProviderDirectory* owner) DUBBO_REQUIRES(mu);
  // Ejects `provider` unless the cap is reached.
  bool EjectLocked(const ProviderDirectory* owner, const Provider& provider,
                   const registry::Clock& clock) DUBBO_REQUIRES(outlier_mu);
};

ProviderDirectory::ProviderDirectory(ProviderDirectoryOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : registry::Clock::Real()),
      current_(ProviderSnapshot::Create({}, 0)),
      version_(current_->version()),
      impl_(std::make_unique<Impl>()) {
  MutexLock lock(&impl_->mu);
  impl_->latest = current_;
  if (options_.outlier.latency_interval <= registry::Duration::zero()) {
    next_latency_check_.store(kNever, std::memory_order_relaxed);
  }
}

ProviderDirectory::~ProviderDirectory() = default;

std::shared_ptr<const ProviderSnapshot> ProviderDirectory::snapshot() const {
  MaybeRefreshWeights();
  return std::atomic_load(&current_);
}

void ProviderDirectory::Publish(std::shared_ptr<const ProviderSnapshot> next) const {
  const uint64_t version = next->version();
  std::atomic_store(&current_, std::move(next));
  version_.store(version, std::memory_order_release);
}

void ProviderDirectory::Notify(const std::vector<URL>& urls) {
  bool providers_seen = false;
  bool routers_seen = false;
  bool configurators_seen = false;
  std::vector<const URL*> provider_urls;
  std::vector<URL> routers;
  std::vector<URL> configurators;
  for (const URL& url : urls) {
    if (url.HasParameter("compatible_config")) continue;
    const Kind kind = Classify(url);
    switch (kind) {
      case Kind::kProvider:
        providers_seen = true;
        if (!url.IsEmptyProtocol()) provider_urls.push_back(&url);
        break;
      case Kind::kRouter:
        routers_seen = true;
        if (!url.IsEmptyProtocol()) routers.push_back(url);
        break;
      case Kind::kConfigurator:
        configurators_seen = true;
        if (!url.IsEmptyProtocol()) configurators.push_back(url);
        break;
      case Kind::kOther:
        break;
    }
  }
  if (!providers_seen && !routers_seen && !configurators_seen) return;

  const std::string_view accepted_protocols = options_.consumer_url.GetParameter("protocol");
  MutexLock lock(&impl_->mu);
  const ProviderSnapshot& latest = *impl_->latest;
  if (!routers_seen) routers = latest.routers();
  if (!configurators_seen) configurators = latest.configurators();

  std::vector<Provider> providers;
  std::unordered_map<std::string, std::shared_ptr<ProviderState>> states;
  if (!providers_seen) {
    providers = latest.providers();
    states = impl_->states;
  } else if (!provider_urls.empty()) {
    std::unordered_set<URL> seen;
    size_t disabled = 0;
    size_t wrong_protocol = 0;
    for (const URL* url : provider_urls) {
      if (!url->GetBool(registry::keys::kEnabled, true) || url->GetBool("disabled", false)) {
        ++disabled;
        continue;
      }
      if (!accepted_protocols.empty() && !ListContains(accepted_protocols, url->protocol())) {
        ++wrong_protocol;
        continue;
      }
      if (!seen.insert(*url).second) continue;
      std::string identity = url->ToIdentityString();
      std::shared_ptr<ProviderState>& state = states[identity];
      if (!state) {
        auto old = impl_->states.find(identity);
        state = old != impl_->states.end()
                    ? old->second
                    : std::make_shared<ProviderState>(options_.breaker, options_.stats_window);
      }
      providers.emplace_back(*url, state);
    }
    if (providers.empty()) {
      // Dubbo's RegistryDirectory: no invoker could be built, keep the previous state.
      DUBBO_LOG(WARNING) << "cluster: " << provider_urls.size()
                         << " provider URL(s) notified but none "
                         << "usable (" << disabled << " disabled, " << wrong_protocol
                         << " with a protocol outside '" << accepted_protocols
                         << "'); keeping the previous " << latest.size() << " provider(s)";
      providers = latest.providers();
      states = impl_->states;
    }
  }
  // else: an explicit empty:// for providers clears them.

  impl_->states = std::move(states);
  impl_->latest = ProviderSnapshot::Create(std::move(providers), clock_->WallMillis(),
                                           std::move(routers), std::move(configurators));
  Publish(impl_->latest);
  impl_->ScheduleReweighLocked(this);
}

void ProviderDirectory::RefreshWeights() const {
  MutexLock lock(&impl_->mu);
  impl_->RefreshLocked(this);
}

void ProviderDirectory::RefreshWeightsIfDue() const {
  int64_t due = reweigh_at_ns_.load(std::memory_order_relaxed);
  const int64_t now = Nanos(clock_->Now());
  if (due == kNever || now < due) return;
  // One caller per interval re-weighs; the others keep the current snapshot meanwhile.
  if (!reweigh_at_ns_.compare_exchange_strong(due, kNever, std::memory_order_relaxed)) return;
  RefreshWeights();
}

void ProviderDirectory::Impl::RefreshLocked(const ProviderDirectory* owner) {
  if (latest->warming_up()) {
    std::shared_ptr<const ProviderSnapshot> next = latest->Reweighted(owner->clock_->WallMillis());
    if (next->weights() != latest->weights()) {
      latest = next;
      owner->Publish(std::move(next));
    }
  }
  ScheduleReweighLocked(owner);
}

void ProviderDirectory::Impl::ScheduleReweighLocked(const ProviderDirectory* owner) {
  int64_t due = kNever;
  if (latest->warming_up()) {
    const int64_t interval = std::max<int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   owner->options_.warmup_refresh_interval)
                                                   .count(),
                                               1'000'000);
    due = Nanos(owner->clock_->Now()) + interval;
  }
  owner->reweigh_at_ns_.store(due, std::memory_order_relaxed);
}

bool ProviderDirectory::TryEject(const Provider& provider, const registry::Clock& clock) const {
  MutexLock lock(&impl_->outlier_mu);
  return impl_->EjectLocked(this, provider, clock);
}

bool ProviderDirectory::Impl::EjectLocked(const ProviderDirectory* owner, const Provider& provider,
                                          const registry::Clock& clock) {
  if (!provider.breaker().closed()) return false;
  const std::shared_ptr<const ProviderSnapshot> current = std::atomic_load(&owner->current_);
  size_t ejected = 0;
  for (const Provider& p : current->providers()) {
    if (!p.breaker().closed()) ++ejected;
  }
  // Breakers only close outside this mutex, so the count can only be an overestimate: the cap
  // holds.
  if (ejected >= MaxEjected(current->size(), owner->options_.outlier.max_ejection_percent)) {
    return false;
  }
  return provider.breaker().Eject(clock);
}

void ProviderDirectory::CompareLatencies(registry::TimePoint now,
                                         const registry::Clock& clock) const {
  const OutlierDetectionOptions& o = options_.outlier;
  int64_t due = next_latency_check_.load(std::memory_order_relaxed);
  if (now.time_since_epoch().count() < due) return;
  // One caller per interval compares; the others go on at once.
  const int64_t next = (now + o.latency_interval).time_since_epoch().count();
  if (!next_latency_check_.compare_exchange_strong(due, next, std::memory_order_relaxed)) return;

  MutexLock lock(&impl_->outlier_mu);
  const std::shared_ptr<const ProviderSnapshot> current = std::atomic_load(&current_);
  struct Sample {
    const Provider* provider;
    int64_t mean_ns;
  };
  std::vector<Sample> samples;
  for (const Provider& p : current->providers()) {
    ProviderState& state = *p.state();
    const uint64_t calls = p.stats().succeeded() + p.stats().failed();
    const int64_t elapsed = p.stats().elapsed_total_nanos();
    const uint64_t new_calls = calls - state.compared_calls;
    const int64_t new_elapsed = elapsed - state.compared_elapsed_ns;
    state.compared_calls = calls;
    state.compared_elapsed_ns = elapsed;
    if (new_calls == 0 || new_calls < static_cast<uint64_t>(std::max(o.latency_min_requests, 1))) {
      continue;
    }
    samples.push_back({&p, std::max<int64_t>(new_elapsed, 0) / static_cast<int64_t>(new_calls)});
  }
  if (samples.size() < static_cast<size_t>(std::max(o.latency_min_providers, 2))) return;
  std::vector<int64_t> means;
  means.reserve(samples.size());
  for (const Sample& s : samples) means.push_back(s.mean_ns);
  // The lower median: with an even count the faster middle value, so a slow half cannot hide.
  const size_t middle = (means.size() - 1) / 2;
  std::nth_element(means.begin(), means.begin() + static_cast<std::ptrdiff_t>(middle), means.end());
  const double threshold =
      std::max(o.latency_factor * static_cast<double>(means[middle]),
               static_cast<double>(
                   std::chrono::duration_cast<std::chrono::nanoseconds>(o.latency_min).count()));
  for (const Sample& s : samples) {
    if (static_cast<double>(s.mean_ns) > threshold) {
      impl_->EjectLocked(this, *s.provider, clock);
    }
  }
}

void SnapshotReader::Refresh() {
  snapshot_ = directory_->snapshot();
  version_ = snapshot_->version();
}

}  // namespace dubbo::cluster
