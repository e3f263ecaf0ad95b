#include "dubbo/registry/abstract_registry.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <system_error>
#include <unordered_map>
#include <unordered_set>

#include "cache_file.h"
#include "internal/logging.h"
#include "internal/mutex.h"
#include "internal/serial_executor.h"

namespace dubbo::registry {
namespace internal {

// A subscription's listener and the flag that gates its deliveries.
struct Subscriber {
  std::shared_ptr<NotifyListener> listener;
  std::shared_ptr<std::atomic<bool>> active;
};

class RegistryState {
 public:
  Mutex mu;
  std::atomic<bool> destroyed{false};
  std::unordered_set<URL> registered DUBBO_GUARDED_BY(mu);
  std::unordered_map<URL, std::vector<Subscriber>> subscribed DUBBO_GUARDED_BY(mu);
  std::unordered_map<URL, std::map<std::string, std::vector<URL>>> notified DUBBO_GUARDED_BY(mu);

  // Cache file: every known entry (loaded or ours), and the keys this registry has written.
  CacheEntries cache DUBBO_GUARDED_BY(mu);
  std::set<std::string> owned_keys DUBBO_GUARDED_BY(mu);
  uint64_t cache_version DUBBO_GUARDED_BY(mu) = 0;
  uint64_t saved_version DUBBO_GUARDED_BY(mu) = 0;
  TaskId save_task DUBBO_GUARDED_BY(mu) = kInvalidTaskId;
  int save_failures DUBBO_GUARDED_BY(mu) = 0;

  Mutex save_mu;  // Serialises this registry's file writes, so versions land in order.
  std::unique_ptr<CacheFile> cache_file;

  SerialExecutor notifier;
};

}  // namespace internal

namespace {

constexpr auto kCacheSaveDelay = std::chrono::milliseconds(500);
constexpr int kCacheSaveAttempts = 3;

bool IsDisabledFileName(std::string_view name) {
  return name.empty() || name == "false" || name == "0" || name == "null" || name == "N/A";
}

std::string HomeDirectory() {
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
    return pw->pw_dir;
  }
  return {};
}

// The cache file path for `url`, or "" when caching is off (see abstract_registry.h).
std::string CachePathFor(const URL& url) {
  if (!url.GetBool("file.cache", true) || !url.GetBool("file-cache", true)) return {};
  if (std::optional<std::string_view> file = url.FindParameter(keys::kFile)) {
    return IsDisabledFileName(*file) ? std::string() : std::string(*file);
  }
  const std::string home = HomeDirectory();
  if (home.empty()) {
    DUBBO_LOG(WARNING) << "no home directory: registry cache file disabled for " << url.Address();
    return {};
  }
  std::string address = url.Address();
  std::replace(address.begin(), address.end(), ':', '-');
  return home + "/.dubbo/dubbo-registry-" + std::string(url.GetParameter(keys::kApplication)) + "-" +
         address + ".cache";
}

std::vector<URL> ParseUrlList(std::string_view value) {
  std::vector<URL> urls;
  size_t start = 0;
  while (true) {
    start = value.find_first_not_of(" \t\r\n\f", start);
    if (start == std::string_view::npos) break;
    size_t end = value.find_first_of(" \t\r\n\f", start);
    if (end == std::string_view::npos) end = value.size();
    Result<URL> url = URL::Parse(value.substr(start, end - start));
    if (url.ok()) urls.push_back(std::move(*url));
    start = end;
  }
  return urls;
}

std::vector<URL> MatchingNonEmpty(const URL& subscription, const std::vector<URL>& urls) {
  std::vector<URL> out;
  for (const URL& u : urls) {
    if (!u.IsEmptyProtocol() && IsMatch(subscription, u)) out.push_back(u);
  }
  return out;
}

}  // namespace

AbstractRegistry::AbstractRegistry(URL registry_url, RegistryOptions options)
    : url_(std::move(registry_url)),
      sync_save_(url_.GetBool("save.file", false)),
      state_(std::make_unique<internal::RegistryState>()) {
  if (options.scheduler != nullptr) {
    scheduler_ = options.scheduler;
  } else {
    owned_scheduler_ = std::make_unique<ThreadScheduler>("dubbo-registry", options.clock);
    scheduler_ = owned_scheduler_.get();
  }
  clock_ = options.clock != nullptr ? options.clock : scheduler_->clock();

  cache_path_ = CachePathFor(url_);
  if (cache_path_.empty()) return;
  std::error_code ec;
  const std::filesystem::path parent = std::filesystem::path(cache_path_).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    DUBBO_LOG(ERROR) << "cannot create the directory of registry cache file " << cache_path_ << ": "
                     << ec.message() << "; running without a cache file";
    cache_path_.clear();
    return;
  }
  state_->cache_file = std::make_unique<internal::CacheFile>(cache_path_);
  Result<internal::CacheEntries> loaded = state_->cache_file->Load();
  if (!loaded.ok()) {
    DUBBO_LOG(WARNING) << loaded.status() << "; starting with an empty cache";
    return;
  }
  internal::MutexLock lock(&state_->mu);
  state_->cache = std::move(*loaded);
}

AbstractRegistry::~AbstractRegistry() {
  // Destroy() resolves to this class's own version here and its OnDestroy() to the no-op default:
  // the subclass that knew how to reach the server is already gone.
  if (!IsDestroyed()) AbstractRegistry::Destroy();
}

bool AbstractRegistry::IsDestroyed() const { return state_->destroyed.load(); }

namespace {
Status DestroyedError(const URL& url) {
  return FailedPreconditionError("registry " + url.Address() + " has been destroyed");
}
}  // namespace

Status AbstractRegistry::Register(const URL& url) {
  internal::MutexLock lock(&state_->mu);
  if (IsDestroyed()) return DestroyedError(url_);
  state_->registered.insert(url);
  return Status::Ok();
}

Status AbstractRegistry::Unregister(const URL& url) {
  internal::MutexLock lock(&state_->mu);
  if (IsDestroyed()) return DestroyedError(url_);
  state_->registered.erase(url);
  return Status::Ok();
}

Status AbstractRegistry::Subscribe(const URL& url, std::shared_ptr<NotifyListener> listener) {
  if (listener == nullptr) return InvalidArgumentError("subscribe: listener is null");
  internal::MutexLock lock(&state_->mu);
  if (IsDestroyed()) return DestroyedError(url_);
  std::vector<internal::Subscriber>& subscribers = state_->subscribed[url];
  for (const internal::Subscriber& s : subscribers) {
    if (s.listener == listener) return Status::Ok();
  }
  subscribers.push_back({std::move(listener), std::make_shared<std::atomic<bool>>(true)});
  return Status::Ok();
}

Status AbstractRegistry::Unsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) {
  if (listener == nullptr) return InvalidArgumentError("unsubscribe: listener is null");
  {
    internal::MutexLock lock(&state_->mu);
    if (IsDestroyed()) return DestroyedError(url_);
    auto it = state_->subscribed.find(url);
    if (it == state_->subscribed.end()) return Status::Ok();
    auto& subscribers = it->second;
    auto found = std::find_if(subscribers.begin(), subscribers.end(),
                              [&](const internal::Subscriber& s) { return s.listener == listener; });
    if (found == subscribers.end()) return Status::Ok();
    found->active->store(false);
    subscribers.erase(found);
    if (subscribers.empty()) {
      state_->subscribed.erase(it);
      state_->notified.erase(url);
    }
  }
  // Deliveries already queued see the cleared flag; one that is running finishes before we return.
  state_->notifier.Flush();
  return Status::Ok();
}

void AbstractRegistry::ForgetRegistered(const URL& url) {
  internal::MutexLock lock(&state_->mu);
  state_->registered.erase(url);
}

void AbstractRegistry::ForgetSubscribed(const URL& url, const std::shared_ptr<NotifyListener>& listener) {
  internal::MutexLock lock(&state_->mu);
  auto it = state_->subscribed.find(url);
  if (it == state_->subscribed.end()) return;
  auto& subscribers = it->second;
  for (auto s = subscribers.begin(); s != subscribers.end(); ++s) {
    if (s->listener == listener) {
      s->active->store(false);
      subscribers.erase(s);
      break;
    }
  }
  if (subscribers.empty()) {
    state_->subscribed.erase(it);
    state_->notified.erase(url);
  }
}

void AbstractRegistry::Notify(const URL& url, const std::shared_ptr<NotifyListener>& listener,
                              const std::vector<URL>& urls) {
  if (listener == nullptr) return;
  if (urls.empty() && url.ServiceInterface() != keys::kAnyValue) {
    DUBBO_LOG(WARNING) << "ignoring an empty notification for " << url
                       << " (an empty category must be sent as empty://)";
    return;
  }
  std::map<std::string, std::vector<URL>> by_category;
  for (const URL& u : urls) {
    if (IsMatch(url, u)) by_category[std::string(u.Category())].push_back(u);
  }
  if (by_category.empty()) return;
  {
    internal::MutexLock lock(&state_->mu);
    if (IsDestroyed()) return;
    auto sub = state_->subscribed.find(url);
    if (sub == state_->subscribed.end()) return;
    std::shared_ptr<std::atomic<bool>> active;
    for (const internal::Subscriber& s : sub->second) {
      if (s.listener == listener) active = s.active;
    }
    if (active == nullptr) return;
    std::map<std::string, std::vector<URL>>& notified = state_->notified[url];
    for (auto& [category, list] : by_category) {
      notified[category] = list;
      // Queued under the lock, so deliveries run in the order the state changed.
      state_->notifier.Enqueue([listener, active, list = std::move(list)] {
        if (active->load()) listener->Notify(list);
      });
    }
    if (state_->cache_file != nullptr) {
      std::string value;
      for (const auto& [category, list] : notified) {
        for (const URL& u : list) {
          if (!value.empty()) value.push_back(' ');
          value.append(u.ToFullString());
        }
      }
      const std::string key = url.ServiceKey();
      state_->cache[key] = std::move(value);
      state_->owned_keys.insert(key);
      ++state_->cache_version;
      state_->save_failures = 0;
    }
  }
  state_->notifier.Drain();
  ScheduleCacheSave();
}

void AbstractRegistry::FlushNotifications() { state_->notifier.Flush(); }

Result<std::vector<URL>> AbstractRegistry::DoLookup(const URL& url) {
  return UnavailableError("registry " + url_.Address() + " cannot look up " + url.ServiceKey());
}

Result<std::vector<URL>> AbstractRegistry::Lookup(const URL& url) {
  if (IsDestroyed()) return DestroyedError(url_);
  {
    internal::MutexLock lock(&state_->mu);
    auto it = state_->notified.find(url);
    if (it != state_->notified.end()) {
      std::vector<URL> out;
      for (const auto& [category, list] : it->second) {
        for (const URL& u : list) {
          if (!u.IsEmptyProtocol()) out.push_back(u);
        }
      }
      return out;
    }
  }
  Result<std::vector<URL>> looked_up = DoLookup(url);
  if (looked_up.ok()) return MatchingNonEmpty(url, *looked_up);
  std::vector<URL> cached = MatchingNonEmpty(url, GetCacheUrls(url));
  if (!cached.empty()) {
    DUBBO_LOG(INFO) << "lookup of " << url.ServiceKey() << " answered from the cache file ("
                    << looked_up.status() << ")";
    return cached;
  }
  return looked_up.status();
}

std::vector<URL> AbstractRegistry::GetRegistered() const {
  internal::MutexLock lock(&state_->mu);
  return std::vector<URL>(state_->registered.begin(), state_->registered.end());
}

std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> AbstractRegistry::GetSubscribed() const {
  internal::MutexLock lock(&state_->mu);
  std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> out;
  for (const auto& [url, subscribers] : state_->subscribed) {
    for (const internal::Subscriber& s : subscribers) out.emplace_back(url, s.listener);
  }
  return out;
}

std::map<std::string, std::vector<URL>> AbstractRegistry::GetNotified(const URL& url) const {
  internal::MutexLock lock(&state_->mu);
  auto it = state_->notified.find(url);
  return it == state_->notified.end() ? std::map<std::string, std::vector<URL>>() : it->second;
}

std::vector<URL> AbstractRegistry::GetCacheUrls(const URL& url) const {
  internal::MutexLock lock(&state_->mu);
  auto it = state_->notified.find(url);
  if (it != state_->notified.end() && !it->second.empty()) {
    std::vector<URL> out;
    for (const auto& [category, list] : it->second) out.insert(out.end(), list.begin(), list.end());
    return out;
  }
  auto cached = state_->cache.find(url.ServiceKey());
  if (cached == state_->cache.end()) return {};
  return ParseUrlList(cached->second);
}

void AbstractRegistry::ScheduleCacheSave() {
  if (state_->cache_file == nullptr) return;
  if (sync_save_) {
    Status status = SaveCacheNow(internal::CacheFile::kShortLockWait);
    if (!status.ok()) DUBBO_LOG(WARNING) << status;
    return;
  }
  internal::MutexLock lock(&state_->mu);
  if (state_->save_task != kInvalidTaskId || IsDestroyed()) return;
  if (state_->cache_version == state_->saved_version) return;
  state_->save_task = scheduler_->ScheduleAfter(kCacheSaveDelay, [this] {
    {
      internal::MutexLock task_lock(&state_->mu);
      state_->save_task = kInvalidTaskId;
    }
    Status status = SaveCacheNow(internal::CacheFile::kDefaultLockWait);
    if (status.ok()) return;
    bool retry = false;
    {
      internal::MutexLock task_lock(&state_->mu);
      retry = ++state_->save_failures < kCacheSaveAttempts;
    }
    if (retry) {
      DUBBO_LOG(WARNING) << status << "; will retry";
      ScheduleCacheSave();
    } else {
      DUBBO_LOG(ERROR) << status << "; giving up until the next change";
    }
  });
}

Status AbstractRegistry::SaveCacheNow(Duration lock_wait) {
  if (state_->cache_file == nullptr) return Status::Ok();
  internal::MutexLock save_lock(&state_->save_mu);
  internal::CacheEntries owned;
  uint64_t version = 0;
  {
    internal::MutexLock lock(&state_->mu);
    if (state_->cache_version == state_->saved_version) return Status::Ok();
    version = state_->cache_version;
    for (const std::string& key : state_->owned_keys) owned[key] = state_->cache[key];
  }
  internal::CacheEntries merged;
  Status status = state_->cache_file->Save(owned, &merged, lock_wait);
  if (!status.ok()) return status;
  internal::MutexLock lock(&state_->mu);
  state_->saved_version = std::max(state_->saved_version, version);
  // Pick up what other writers saved meanwhile.
  for (auto& [key, value] : merged) {
    if (state_->owned_keys.count(key) == 0) state_->cache[key] = std::move(value);
  }
  return Status::Ok();
}

Status AbstractRegistry::FlushCacheFile() {
  return SaveCacheNow(internal::CacheFile::kDefaultLockWait);
}

void AbstractRegistry::OnDestroy(
    const std::vector<URL>& /*dynamic_registered*/,
    const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& /*subscriptions*/) {}

void AbstractRegistry::Destroy() {
  std::vector<URL> dynamic_registered;
  std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> subscriptions;
  TaskId save_task = kInvalidTaskId;
  {
    internal::MutexLock lock(&state_->mu);
    if (state_->destroyed.exchange(true)) return;
    for (const URL& u : state_->registered) {
      if (u.GetBool(keys::kDynamic, true)) dynamic_registered.push_back(u);
    }
    for (const auto& [url, subscribers] : state_->subscribed) {
      for (const internal::Subscriber& s : subscribers) {
        s.active->store(false);
        subscriptions.emplace_back(url, s.listener);
      }
    }
    state_->registered.clear();
    state_->subscribed.clear();
    save_task = std::exchange(state_->save_task, kInvalidTaskId);
  }
  OnDestroy(dynamic_registered, subscriptions);
  state_->notifier.Flush();
  if (save_task != kInvalidTaskId) scheduler_->Cancel(save_task);
  Status status = SaveCacheNow(internal::CacheFile::kShortLockWait);
  if (!status.ok()) DUBBO_LOG(WARNING) << status;
  if (owned_scheduler_ != nullptr) owned_scheduler_->Shutdown();
}

}  // namespace dubbo::registry
