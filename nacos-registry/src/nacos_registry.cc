#include "dubbo/registry/nacos/nacos_registry.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "internal/logging.h"
#include "internal/mutex.h"
#include "internal/serial_executor.h"
#include "internal/url_parameter.h"
#include "nacos_registry_mapping.h"
#include "naming_service.h"

namespace dubbo::registry::nacos {
namespace {

namespace ri = ::dubbo::registry::internal;
namespace mapping = ::dubbo::registry::nacos::internal;

// Registry URL parameters (documented in nacos_registry.h).
constexpr std::string_view kRegisterConsumerKey = "register-consumer-url";
constexpr std::string_view kLegacyNameKey = "nacos.subscribe.legacy-name";
constexpr std::string_view kHealthyOnlyKey = "nacos.healthy-only";
constexpr std::string_view kLookupIntervalKey = "nacos.service.names.lookup.interval";
constexpr std::string_view kPageSizeKey = "nacos.service.names.pagination.size";
constexpr std::string_view kAvailableTtlKey = "nacos.available.ttl";
constexpr std::string_view kNamespaceKey = "namespace";

constexpr int64_t kDefaultLookupIntervalSeconds = 30;
constexpr int64_t kDefaultPageSize = 100;
constexpr int64_t kMaxPageSize = 1 << 20;
constexpr int64_t kDefaultAvailableTtlMs = 5000;
// Upper bound of the duration parameters: a day is far beyond any useful period, and far below the
// ~292 years at which a nanosecond Duration overflows.
constexpr int64_t kMaxDurationSeconds = 24 * 60 * 60;
// A listing never reads more pages than this (a server that keeps answering would loop forever).
constexpr int kMaxServicePages = 100000;

constexpr std::string_view kStatusUp = "UP";

// A subscription as the base class knows it: URL and listener.
struct SubKey {
  URL url;
  const NotifyListener* listener;
  bool operator==(const SubKey& other) const {
    return listener == other.listener && url == other.url;
  }
};
struct SubKeyHash {
  size_t operator()(const SubKey& key) const {
    return key.url.Hash() ^ (std::hash<const void*>()(key.listener) * 31);
  }
};

// Exact list equality: URL's operator== ignores the `timestamp` value, which consumers need
// (warm-up).
bool SameUrls(const std::vector<URL>& a, const std::vector<URL>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] ||
        a[i].GetParameter(keys::kTimestamp) != b[i].GetParameter(keys::kTimestamp)) {
      return false;
    }
  }
  return true;
}

}  // namespace

struct NacosRegistry::State {
  // One subscription of the base class (URL, listener) and the names it listens to.
  struct Subscription {
    URL url;
    std::shared_ptr<NotifyListener> listener;
    bool pattern = false;
    std::vector<std::string> categories;
    std::set<std::string> names;
    bool delivered = false;
    std::vector<URL> last;           // The last lists delivered, all categories.
    std::set<std::string> nonempty;  // Categories whose last delivered list had instances.
    bool queued = false;             // A delivery is queued: later changes ride on it.
    bool queued_force = false;       // ... and must be sent even if unchanged.
  };
  // One Nacos subscription, shared by every Subscription listening to its name.
  struct Watch {
    std::set<uint64_t> users;  // Subscription ids.
    uint64_t generation = 0;   // Non-zero once a Nacos subscription was started.
    SubscriptionId id = 0;     // Non-zero once it was established.
    bool has_data = false;
    std::vector<Instance> instances;  // The latest full list.
  };

  explicit State(const URL& url)
      : group(url.GetParameter(keys::kGroup, kDefaultGroup)),
        empty_protection(ri::GetBoolParameter(url, mapping::kEmptyProtectionKey,
                                              mapping::kDefaultEmptyProtection)),
        register_consumers(ri::GetBoolParameter(url, kRegisterConsumerKey, false)),
        legacy_names(ri::GetBoolParameter(url, kLegacyNameKey, false)),
        healthy_only(ri::GetBoolParameter(url, kHealthyOnlyKey, false)),
        scan_interval(std::chrono::seconds(ri::GetIntParameter(
            url, kLookupIntervalKey, kDefaultLookupIntervalSeconds, 1, kMaxDurationSeconds))),
        page_size(static_cast<int>(
            ri::GetIntParameter(url, kPageSizeKey, kDefaultPageSize, 1, kMaxPageSize))),
        available_ttl(std::chrono::milliseconds(
            ri::GetIntParameter(url, kAvailableTtlKey, kDefaultAvailableTtlMs, 0,
                                kMaxDurationSeconds * 1000, ri::BelowMin::kMin))) {}

  const std::string group;
  const bool empty_protection;
  const bool register_consumers;
  const bool legacy_names;
  const bool healthy_only;
  const Duration scan_interval;
  const int page_size;
  const Duration available_ttl;

  ri::Mutex mu;
  bool closing DUBBO_GUARDED_BY(mu) = false;
  uint64_t next_sid DUBBO_GUARDED_BY(mu) = 1;
  uint64_t next_generation DUBBO_GUARDED_BY(mu) = 1;
  std::unordered_map<SubKey, uint64_t, SubKeyHash> sids DUBBO_GUARDED_BY(mu);
  std::map<uint64_t, Subscription> subs DUBBO_GUARDED_BY(mu);
  std::map<std::string, Watch, std::less<>> watches DUBBO_GUARDED_BY(mu);
  size_t pattern_subs DUBBO_GUARDED_BY(mu) = 0;
  TaskId scan_task DUBBO_GUARDED_BY(mu) = kInvalidTaskId;

  std::atomic<bool> available{false};
  bool status_known DUBBO_GUARDED_BY(mu) = false;
  TimePoint status_time DUBBO_GUARDED_BY(mu);
  TaskId status_task DUBBO_GUARDED_BY(mu) = kInvalidTaskId;

  // Builds and hands lists to Notify() one at a time, each from the latest state, so that a list
  // built earlier can never be delivered after one built later.
  ri::SerialExecutor deliveries;
};

NacosRegistry::NacosRegistry(URL registry_url, RegistryOptions options,
                             std::shared_ptr<internal::NamingService> naming, bool owns_naming)
    : FailbackRegistry(std::move(registry_url), options),
      naming_(std::move(naming)),
      owns_naming_(owns_naming),
      state_(std::make_shared<State>(url())) {
  ri::MutexLock lock(&state_->mu);
  state_->status_task = scheduler()->ScheduleAfter(Duration::zero(), [this] { RefreshStatus(); });
}

NacosRegistry::~NacosRegistry() { Destroy(); }

const std::string& NacosRegistry::nacos_group() const { return state_->group; }

// --- Availability -------------------------------------------------------------------------------

bool NacosRegistry::IsAvailable() const {
  if (IsDestroyed()) return false;
  ri::MutexLock lock(&state_->mu);
  const bool stale =
      !state_->status_known || clock()->Now() - state_->status_time >= state_->available_ttl;
  if (stale && !state_->closing && state_->status_task == kInvalidTaskId) {
    state_->status_task = scheduler()->ScheduleAfter(Duration::zero(), [this] { RefreshStatus(); });
  }
  return state_->available.load();
}

void NacosRegistry::RefreshStatus() const {
  {
    ri::MutexLock lock(&state_->mu);
    if (state_->closing) return;
  }
  const std::string status = naming_->GetServerStatus();
  const bool up = status == kStatusUp;
  const bool was_up = state_->available.exchange(up);
  {
    ri::MutexLock lock(&state_->mu);
    state_->status_known = true;
    state_->status_time = clock()->Now();
    state_->status_task = kInvalidTaskId;
  }
  if (up != was_up) {
    DUBBO_LOG(INFO) << "nacos registry " << url().BackupAddress() << " is now "
                    << (up ? "available" : "unavailable") << " (server status " << status << ")";
  }
}

void NacosRegistry::SeedAvailability(bool available) {
  TaskId pending = kInvalidTaskId;
  {
    ri::MutexLock lock(&state_->mu);
    state_->available.store(available);
    state_->status_known = true;
    state_->status_time = clock()->Now();
    pending = std::exchange(state_->status_task, kInvalidTaskId);
  }
  if (pending != kInvalidTaskId) scheduler()->Cancel(pending);
}

// --- Register -----------------------------------------------------------------------------------

bool NacosRegistry::SkipsRegistration(const URL& url) const {
  return mapping::IsConsumerUrl(url) && !state_->register_consumers;
}

Status NacosRegistry::DoRegister(const URL& url) {
  if (SkipsRegistration(url)) return Status::Ok();
  if (url.ServiceInterface().empty()) {
    return InvalidArgumentError("cannot register " + url.ToRedactedString() + ": no interface");
  }
  return naming_->RegisterInstance(mapping::RegisteredServiceName(url), state_->group,
                                   mapping::UrlToInstance(url, this->url()));
}

Status NacosRegistry::DoUnregister(const URL& url) {
  if (SkipsRegistration(url)) return Status::Ok();
  if (url.ServiceInterface().empty()) {
    return InvalidArgumentError("cannot unregister " + url.ToRedactedString() + ": no interface");
  }
  return naming_->DeregisterInstance(mapping::RegisteredServiceName(url), state_->group,
                                     mapping::UrlToInstance(url, this->url()));
}

// --- Subscribe ----------------------------------------------------------------------------------

Result<std::vector<std::string>> NacosRegistry::ListServiceNames() {
  std::vector<std::string> out;
  for (int page = 1; page <= kMaxServicePages; ++page) {
    Result<ServiceList> list = naming_->GetServices(page, state_->page_size, state_->group);
    if (!list.ok()) return list.status().WithPrefix("listing the services of " + state_->group);
    out.insert(out.end(), list->names.begin(), list->names.end());
    if (list->names.empty() || static_cast<int64_t>(out.size()) >= list->count) break;
  }
  return out;
}

std::vector<std::string> NacosRegistry::MatchingNames(const URL& url,
                                                      const std::vector<std::string>& all) const {
  std::vector<std::string> out;
  for (const std::string& name : all) {
    std::optional<mapping::ServiceNameParts> parts = mapping::ParseServiceName(name);
    if (parts.has_value() && mapping::ServiceNameMatches(url, *parts)) out.push_back(name);
  }
  return out;
}

Status NacosRegistry::DoSubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) {
  if (url.ServiceInterface().empty()) {
    return InvalidArgumentError("cannot subscribe " + url.ToRedactedString() + ": no interface");
  }
  const mapping::SubscriptionPlan plan = mapping::PlanSubscription(url, state_->legacy_names);
  std::vector<std::string> names = plan.names;
  if (plan.pattern) {
    Result<std::vector<std::string>> all = ListServiceNames();
    if (!all.ok()) return all.status();
    names = MatchingNames(url, *all);
  }
  uint64_t sid = 0;
  {
    ri::MutexLock lock(&state_->mu);
    if (state_->closing) return FailedPreconditionError("nacos registry is being destroyed");
    auto [it, inserted] = state_->sids.try_emplace(SubKey{url, listener.get()}, 0);
    if (inserted) {
      it->second = state_->next_sid++;
      State::Subscription& sub = state_->subs[it->second];
      sub.url = url;
      sub.listener = listener;
      sub.pattern = plan.pattern;
      sub.categories = plan.categories;
      if (plan.pattern) ++state_->pattern_subs;
    }
    sid = it->second;
  }
  if (plan.pattern) ScheduleScan();
  Status status = AttachNames(sid, names);
  if (!status.ok()) {
    // A name the client refuses can never work: forget the subscription (the base class does too).
    // Other failures keep it, so that a change arriving before the retry is still delivered.
    if (status.code() == StatusCode::kInvalidArgument) DetachSubscription(sid);
    return status;
  }
  QueueDelivery(state_, this, sid, /*force=*/true);
  state_->deliveries.Flush();  // So the base class's FlushNotifications() sees the delivery queued.
  return Status::Ok();
}

Status NacosRegistry::AttachNames(uint64_t sid, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    uint64_t start_generation = 0;
    {
      ri::MutexLock lock(&state_->mu);
      if (state_->closing) return FailedPreconditionError("nacos registry is being destroyed");
      auto sub = state_->subs.find(sid);
      if (sub == state_->subs.end()) return CancelledError("subscription cancelled");
      State::Watch& watch = state_->watches[name];
      watch.users.insert(sid);
      sub->second.names.insert(name);
      if (watch.generation == 0) {
        watch.generation = state_->next_generation++;
        start_generation = watch.generation;
      }
    }
    if (start_generation != 0) DUBBO_RETURN_IF_ERROR(StartWatch(name, start_generation));

    bool has_data = false;
    {
      ri::MutexLock lock(&state_->mu);
      auto watch = state_->watches.find(name);
      has_data = watch != state_->watches.end() && watch->second.has_data;
    }
    if (has_data) continue;
    Result<std::vector<Instance>> instances =
        naming_->GetAllInstances(name, state_->group, /*subscribe=*/true);
    if (!instances.ok()) return instances.status().WithPrefix("instances of " + name);
    ri::MutexLock lock(&state_->mu);
    auto watch = state_->watches.find(name);
    if (watch != state_->watches.end() && !watch->second.has_data) {
      watch->second.instances = std::move(*instances);
      watch->second.has_data = true;
    }
  }
  return Status::Ok();
}

Status NacosRegistry::StartWatch(const std::string& name, uint64_t generation) {
  Result<SubscriptionId> id = naming_->Subscribe(
      name, state_->group,
      [state = state_, self = this, name, generation](const ServiceChangeEvent& event) {
        OnNamingEvent(state, self, name, generation, event.instances);
      });
  SubscriptionId stale = 0;
  {
    ri::MutexLock lock(&state_->mu);
    auto watch = state_->watches.find(name);
    const bool current = watch != state_->watches.end() && watch->second.generation == generation;
    if (!id.ok()) {
      if (current) watch->second.generation = 0;  // The next attempt starts it again.
    } else if (current && !state_->closing) {
      watch->second.id = *id;
    } else {
      stale = *id;  // Nobody needs it any more.
    }
  }
  if (stale != 0) naming_->Unsubscribe(stale).IgnoreError();
  if (!id.ok()) return id.status().WithPrefix("subscribing to " + name);
  return Status::Ok();
}

void NacosRegistry::OnNamingEvent(const std::shared_ptr<State>& state, NacosRegistry* self,
                                  const std::string& name, uint64_t generation,
                                  const std::vector<Instance>& instances) {
  std::vector<uint64_t> users;
  {
    ri::MutexLock lock(&state->mu);
    if (state->closing) return;
    auto watch = state->watches.find(name);
    if (watch == state->watches.end() || watch->second.generation != generation) return;
    watch->second.instances = instances;
    watch->second.has_data = true;
    users.assign(watch->second.users.begin(), watch->second.users.end());
  }
  for (uint64_t sid : users) QueueDelivery(state, self, sid, /*force=*/false);
}

void NacosRegistry::QueueDelivery(const std::shared_ptr<State>& state, NacosRegistry* self,
                                  uint64_t sid, bool force) {
  {
    ri::MutexLock lock(&state->mu);
    auto it = state->subs.find(sid);
    if (it == state->subs.end()) return;
    State::Subscription& sub = it->second;
    sub.queued_force = sub.queued_force || force;
    // Coalesce: a queued delivery reads the state when it runs, so it carries this change too. A
    // forced one is always queued, so that the Flush() in DoSubscribe() covers it.
    if (sub.queued && !force) return;
    sub.queued = true;
  }
  // OnDestroy() sets closing before it waits for the deliveries running: a delivery that starts
  // while closing is false is waited for, so `self` is alive while it runs.
  state->deliveries.Execute([state, self, sid] {
    {
      ri::MutexLock lock(&state->mu);
      if (state->closing) return;
    }
    self->Deliver(sid);
  });
}

std::vector<URL> NacosRegistry::BuildUrls(const URL& subscription,
                                          const std::vector<const Instance*>& instances) const {
  bool any_healthy = false;
  if (state_->healthy_only) {
    for (const Instance* instance : instances)
      any_healthy |= instance->enabled && instance->healthy;
  }
  std::vector<URL> out;
  std::unordered_set<URL> seen;
  for (const Instance* instance : instances) {
    if (!instance->enabled) continue;
    if (any_healthy && !instance->healthy) continue;
    Result<URL> url = mapping::InstanceToUrl(*instance);
    if (!url.ok()) {
      DUBBO_LOG(DEBUG) << "skipping " << url.status();
      continue;
    }
    if (!IsMatch(subscription, *url) || !seen.insert(*url).second) continue;
    out.push_back(std::move(*url));
  }
  return out;
}

void NacosRegistry::Deliver(uint64_t sid) {
  URL url;
  std::shared_ptr<NotifyListener> listener;
  std::vector<URL> urls;
  {
    ri::MutexLock lock(&state_->mu);
    if (state_->closing) return;
    auto it = state_->subs.find(sid);
    if (it == state_->subs.end()) return;
    State::Subscription& sub = it->second;
    const bool force = std::exchange(sub.queued_force, false);
    sub.queued = false;
    std::vector<const Instance*> instances;
    for (const std::string& name : sub.names) {
      auto watch = state_->watches.find(name);
      // Until every name has answered once, a list would be partial: wait for the rest.
      if (watch == state_->watches.end() || !watch->second.has_data) return;
      for (const Instance& instance : watch->second.instances) instances.push_back(&instance);
    }
    urls = BuildUrls(sub.url, instances);
    std::set<std::string> present;
    for (const URL& u : urls) present.emplace(u.Category());
    std::set<std::string> nonempty;
    for (const std::string& category : sub.categories) {
      if (present.count(category) != 0) {
        nonempty.insert(category);
      } else if (state_->empty_protection && sub.nonempty.count(category) != 0) {
        nonempty.insert(category);  // Protected: the listener keeps its last list.
        DUBBO_LOG(WARNING) << "empty protection: keeping the last " << category << " of "
                           << sub.url.ServiceKey() << " although Nacos lists none";
      } else {
        urls.push_back(
            sub.url.WithProtocol(keys::kEmptyProtocol).WithParameter(keys::kCategory, category));
      }
    }
    if (urls.empty()) return;
    if (!force && sub.delivered && SameUrls(urls, sub.last)) return;
    sub.delivered = true;
    sub.last = urls;
    sub.nonempty = std::move(nonempty);
    url = sub.url;
    listener = sub.listener;
  }
  Notify(url, listener, urls);
}

void NacosRegistry::DetachSubscription(uint64_t sid) {
  std::vector<SubscriptionId> unused;
  TaskId scan = kInvalidTaskId;
  {
    ri::MutexLock lock(&state_->mu);
    auto it = state_->subs.find(sid);
    if (it == state_->subs.end()) return;
    for (const std::string& name : it->second.names) {
      auto watch = state_->watches.find(name);
      if (watch == state_->watches.end()) continue;
      watch->second.users.erase(sid);
      if (!watch->second.users.empty()) continue;
      if (watch->second.id != 0) unused.push_back(watch->second.id);
      state_->watches.erase(watch);  // A start in flight sees the watch gone and cancels itself.
    }
    if (it->second.pattern && --state_->pattern_subs == 0) {
      scan = std::exchange(state_->scan_task, kInvalidTaskId);
    }
    state_->sids.erase(SubKey{it->second.url, it->second.listener.get()});
    state_->subs.erase(it);
  }
  if (scan != kInvalidTaskId) scheduler()->Cancel(scan);
  for (SubscriptionId id : unused) {
    Status status = naming_->Unsubscribe(id);
    if (!status.ok() && status.code() != StatusCode::kNotFound) {
      DUBBO_LOG(WARNING) << "nacos unsubscribe failed: " << status;
    }
  }
}

Status NacosRegistry::DoUnsubscribe(const URL& url,
                                    const std::shared_ptr<NotifyListener>& listener) {
  uint64_t sid = 0;
  {
    ri::MutexLock lock(&state_->mu);
    auto it = state_->sids.find(SubKey{url, listener.get()});
    if (it == state_->sids.end()) return Status::Ok();
    sid = it->second;
  }
  DetachSubscription(sid);
  return Status::Ok();
}

// --- Pattern subscriptions: periodic re-listing -------------------------------------------------

void NacosRegistry::ScheduleScan() {
  ri::MutexLock lock(&state_->mu);
  if (state_->closing || state_->pattern_subs == 0 || state_->scan_task != kInvalidTaskId) return;
  state_->scan_task = scheduler()->ScheduleAfter(state_->scan_interval, [this] { RunScan(); });
}

void NacosRegistry::RunScan() {
  std::vector<std::pair<uint64_t, URL>> patterns;
  {
    ri::MutexLock lock(&state_->mu);
    state_->scan_task = kInvalidTaskId;
    if (state_->closing) return;
    for (const auto& [sid, sub] : state_->subs) {
      if (sub.pattern) patterns.emplace_back(sid, sub.url);
    }
  }
  if (!patterns.empty()) {
    Result<std::vector<std::string>> all = ListServiceNames();
    if (!all.ok()) {
      DUBBO_LOG(WARNING)
          << "nacos registry " << url().BackupAddress() << ": " << all.status()
          << "; trying again in "
          << std::chrono::duration_cast<std::chrono::seconds>(state_->scan_interval).count()
          << " s";
    } else {
      for (const auto& [sid, sub_url] : patterns) {
        std::vector<std::string> fresh;
        {
          ri::MutexLock lock(&state_->mu);
          auto sub = state_->subs.find(sid);
          if (sub == state_->subs.end()) continue;
          for (std::string& name : MatchingNames(sub_url, *all)) {
            if (sub->second.names.count(name) == 0) fresh.push_back(std::move(name));
          }
        }
        if (fresh.empty()) continue;
        Status status = AttachNames(sid, fresh);
        if (!status.ok() && status.code() != StatusCode::kCancelled) {
          DUBBO_LOG(WARNING) << "nacos registry: new services for " << sub_url << ": " << status;
        }
        QueueDelivery(state_, this, sid, /*force=*/false);
      }
    }
  }
  ScheduleScan();
}

// --- Lookup and destroy -------------------------------------------------------------------------

Result<std::vector<URL>> NacosRegistry::DoLookup(const URL& url) {
  const mapping::SubscriptionPlan plan = mapping::PlanSubscription(url, state_->legacy_names);
  std::vector<std::string> names = plan.names;
  if (plan.pattern) {
    Result<std::vector<std::string>> all = ListServiceNames();
    if (!all.ok()) return all.status();
    names = MatchingNames(url, *all);
  }
  std::vector<Instance> instances;
  for (const std::string& name : names) {
    Result<std::vector<Instance>> found =
        naming_->GetAllInstances(name, state_->group, /*subscribe=*/false);
    if (!found.ok()) return found.status().WithPrefix("instances of " + name);
    instances.insert(instances.end(), found->begin(), found->end());
  }
  std::vector<const Instance*> pointers;
  pointers.reserve(instances.size());
  for (const Instance& instance : instances) pointers.push_back(&instance);
  return BuildUrls(url, pointers);
}

void NacosRegistry::OnDestroy(
    const std::vector<URL>& dynamic_registered,
    const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& subscriptions) {
  // A naming client of our own deregisters the ephemeral instances in its Shutdown(), in parallel
  // and within its shutdown budget; one by one here, each would wait up to the request timeouts.
  std::vector<URL> one_by_one;
  for (const URL& registered : dynamic_registered) {
    if (!owns_naming_ || SkipsRegistration(registered) ||
        !mapping::UrlToInstance(registered, url()).ephemeral) {
      one_by_one.push_back(registered);
    }
  }
  if (owns_naming_ && one_by_one.empty()) {
    // Nothing below needs the client: shut it down first. That ends every call blocked in it at
    // once, such as a retry or a status check running on the scheduler, which the cancellations
    // below would otherwise wait for.
    naming_->Shutdown();
  }
  // The client's Shutdown() ends its subscriptions; one by one they would fail after it.
  FailbackRegistry::OnDestroy(
      one_by_one, owns_naming_ ? std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>()
                               : subscriptions);
  std::vector<SubscriptionId> remaining;
  TaskId scan = kInvalidTaskId;
  TaskId status = kInvalidTaskId;
  {
    ri::MutexLock lock(&state_->mu);
    state_->closing = true;
    for (const auto& [name, watch] : state_->watches) {
      if (watch.id != 0) remaining.push_back(watch.id);
    }
    state_->watches.clear();
    state_->subs.clear();
    state_->sids.clear();
    state_->pattern_subs = 0;
    scan = std::exchange(state_->scan_task, kInvalidTaskId);
    status = std::exchange(state_->status_task, kInvalidTaskId);
  }
  if (scan != kInvalidTaskId) scheduler()->Cancel(scan);
  if (status != kInvalidTaskId) scheduler()->Cancel(status);
  if (!owns_naming_) {
    for (SubscriptionId id : remaining) naming_->Unsubscribe(id).IgnoreError();
  }
  state_->deliveries.Flush();
  state_->available.store(false);
  if (owns_naming_) naming_->Shutdown();  // Idempotent.
}

// --- Factory ------------------------------------------------------------------------------------

NacosRegistryFactory::NacosRegistryFactory(NamingServiceMaker maker) : maker_(std::move(maker)) {}

Result<std::shared_ptr<Registry>> NacosRegistryFactory::CreateRegistry(
    const URL& url, const RegistryOptions& options) {
  if (!maker_) return InternalError("NacosRegistryFactory has no naming service maker");
  const auto shut_down_error = [] {
    return FailedPreconditionError("the nacos registry factory has been shut down");
  };
  Result<std::shared_ptr<internal::NamingService>> naming = maker_(url);
  if (!naming.ok()) return naming.status();
  if (*naming == nullptr) return InternalError("the naming service maker returned null");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (shut_down_) {
      (*naming)->Shutdown();
      return shut_down_error();
    }
    checking_.insert(*naming);
  }
  const bool check = url.GetBool(keys::kCheck, true);
  // Shutdown() ends the check at once (the status is then not UP).
  const std::string status = check ? (*naming)->GetServerStatus() : std::string(kStatusUp);
  bool shut_down = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    checking_.erase(*naming);
    shut_down = shut_down_;
  }
  if (shut_down || status != kStatusUp) {
    (*naming)->Shutdown();
    if (shut_down) return shut_down_error();
    return UnavailableError("nacos " + url.BackupAddress() + " reports status " + status +
                            " (check=true; check=false starts the registry anyway)");
  }
  auto registry =
      std::make_shared<NacosRegistry>(url, options, std::move(*naming), /*owns_naming=*/true);
  if (check) registry->SeedAvailability(true);
  return std::shared_ptr<Registry>(std::move(registry));
}

void NacosRegistryFactory::Shutdown() {
  std::set<std::shared_ptr<internal::NamingService>> checking;
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
    checking = checking_;
  }
  for (const auto& naming : checking) naming->Shutdown();
}

std::string NacosRegistryFactory::CacheKey(const URL& normalized_url) const {
  return RegistryFactory::CacheKey(normalized_url) + "?" + std::string(kNamespaceKey) + "=" +
         std::string(normalized_url.GetParameter(kNamespaceKey, kDefaultNamespace));
}

Result<URL> ParseNacosRegistryAddress(std::string_view address) {
  const size_t scheme_end = address.find("://");
  if (scheme_end == std::string_view::npos) return URL::Parse(address);
  const size_t authority_start = scheme_end + 3;
  size_t authority_end = address.find_first_of("/?#", authority_start);
  if (authority_end == std::string_view::npos) authority_end = address.size();
  const std::string_view authority =
      address.substr(authority_start, authority_end - authority_start);
  const size_t at = authority.rfind('@');
  const size_t hosts_start = at == std::string_view::npos ? 0 : at + 1;
  const std::string_view hosts = authority.substr(hosts_start);
  const size_t comma = hosts.find(',');
  if (comma == std::string_view::npos) return URL::Parse(address);

  std::string rest;
  size_t start = comma + 1;
  while (start <= hosts.size()) {
    size_t end = hosts.find(',', start);
    if (end == std::string_view::npos) end = hosts.size();
    std::string_view item = hosts.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) rest.append(rest.empty() ? "" : ",").append(item);
    start = end + 1;
  }
  std::string rebuilt(address.substr(0, authority_start + hosts_start));
  rebuilt.append(hosts.substr(0, comma));
  rebuilt.append(address.substr(authority_end));
  Result<URL> url = URL::Parse(rebuilt);
  if (!url.ok() || rest.empty()) return url;
  std::string backup(url->GetParameter(keys::kBackup));
  if (!backup.empty()) backup.push_back(',');
  backup.append(rest);
  return url->WithParameter(keys::kBackup, backup);
}

}  // namespace dubbo::registry::nacos
