// ProviderDirectory: URL classification and filtering (spec §7.2), snapshot publication, warm-up
// re-weighting.
//
// Thread-safety: updates serialise on Impl::mu; readers use std::atomic_load on `current_` and an
// acquire load of `version_`, never Impl::mu.
#include "dubbo/cluster/provider_directory.h"

#include <algorithm>
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

}  // namespace

struct ProviderDirectory::Impl {
  Mutex mu;
  // The latest published snapshot (the writer's copy).
  std::shared_ptr<const ProviderSnapshot> latest DUBBO_GUARDED_BY(mu);
  // Runtime state per provider identity, for the providers of `latest`.
  std::unordered_map<std::string, std::shared_ptr<ProviderState>> states DUBBO_GUARDED_BY(mu);
  registry::TaskId warmup_task DUBBO_GUARDED_BY(mu) = registry::kInvalidTaskId;
  bool destroyed DUBBO_GUARDED_BY(mu) = false;

  // Publishes a re-weighted snapshot when a weight changed, then schedules the next re-weighting.
  void RefreshLocked(ProviderDirectory* owner) DUBBO_REQUIRES(mu);
  // Schedules a re-weighting while some provider warms up (and a scheduler is configured).
  void ScheduleWarmupLocked(ProviderDirectory* owner) DUBBO_REQUIRES(mu);
};

ProviderDirectory::ProviderDirectory(ProviderDirectoryOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : registry::Clock::Real()),
      current_(ProviderSnapshot::Create({}, 0)),
      version_(current_->version()),
      impl_(std::make_unique<Impl>()) {
  MutexLock lock(&impl_->mu);
  impl_->latest = current_;
}

ProviderDirectory::~ProviderDirectory() {
  registry::TaskId task;
  {
    MutexLock lock(&impl_->mu);
    impl_->destroyed = true;
    task = impl_->warmup_task;
    impl_->warmup_task = registry::kInvalidTaskId;
  }
  if (task != registry::kInvalidTaskId && options_.scheduler != nullptr) {
    options_.scheduler->Cancel(task);
  }
}

std::shared_ptr<const ProviderSnapshot> ProviderDirectory::snapshot() const {
  return std::atomic_load(&current_);
}

void ProviderDirectory::Publish(std::shared_ptr<const ProviderSnapshot> next) {
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
  if (impl_->destroyed) return;
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
  impl_->ScheduleWarmupLocked(this);
}

void ProviderDirectory::RefreshWeights() {
  MutexLock lock(&impl_->mu);
  if (impl_->destroyed) return;
  impl_->RefreshLocked(this);
}

void ProviderDirectory::Impl::RefreshLocked(ProviderDirectory* owner) {
  if (latest->warming_up()) {
    std::shared_ptr<const ProviderSnapshot> next = latest->Reweighted(owner->clock_->WallMillis());
    if (next->weights() != latest->weights()) {
      latest = next;
      owner->Publish(std::move(next));
    }
  }
  ScheduleWarmupLocked(owner);
}

void ProviderDirectory::Impl::ScheduleWarmupLocked(ProviderDirectory* owner) {
  registry::Scheduler* scheduler = owner->options_.scheduler;
  if (scheduler == nullptr || destroyed || warmup_task != registry::kInvalidTaskId ||
      !latest->warming_up()) {
    return;
  }
  // The destructor cancels (and so waits for) this task before `owner` goes away.
  warmup_task = scheduler->ScheduleAfter(owner->options_.warmup_refresh_interval, [owner] {
    Impl& impl = *owner->impl_;
    MutexLock lock(&impl.mu);
    if (impl.destroyed) return;
    impl.warmup_task = registry::kInvalidTaskId;
    impl.RefreshLocked(owner);
  });
}

void SnapshotReader::Refresh() {
  snapshot_ = directory_->snapshot();
  version_ = snapshot_->version();
}

}  // namespace dubbo::cluster
