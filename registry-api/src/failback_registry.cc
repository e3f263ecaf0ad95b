#include "dubbo/registry/failback_registry.h"

#include <algorithm>
#include <limits>
#include <unordered_map>
#include <utility>

#include "internal/logging.h"
#include "internal/mutex.h"
#include "internal/url_parameter.h"

namespace dubbo::registry {

enum class FailbackRegistry::RetryKind : int { kRegister, kUnregister, kSubscribe, kUnsubscribe };

namespace internal {

// `retry.period` and `retry.times` of one operation.
struct RetrySettings {
  Duration period{};
  int64_t times = -1;  // <= 0: forever.
};

namespace {

// `retry.period` is capped at a day: far beyond any useful period, far below the ~292 years at
// which a nanosecond Duration overflows.
constexpr int64_t kMaxRetryPeriodMs = 24 * 60 * 60 * 1000;
constexpr int64_t kDefaultRetryTimes = -1;

// The settings `url` gives, each defaulting to `defaults`'s. Bad values are logged.
RetrySettings ReadRetrySettings(const URL& url, const RetrySettings& defaults) {
  const int64_t default_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(defaults.period).count();
  return RetrySettings{
      std::chrono::milliseconds(
          GetIntParameter(url, keys::kRetryPeriod, default_ms, 1, kMaxRetryPeriodMs)),
      GetIntParameter(url, keys::kRetryTimes, defaults.times, std::numeric_limits<int64_t>::min(),
                      std::numeric_limits<int64_t>::max())};
}

}  // namespace

// The operations waiting for a retry. One entry per (kind, URL, listener); at most one timer each.
class RetryTable {
 public:
  using Kind = int;
  struct Key {
    Kind kind;
    URL url;
    const NotifyListener* listener;
    bool operator==(const Key& other) const {
      return kind == other.kind && listener == other.listener && url == other.url;
    }
  };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      return key.url.Hash() ^ (std::hash<const void*>()(key.listener) * 31) ^
             static_cast<size_t>(key.kind);
    }
  };
  struct Entry {
    TaskId task = kInvalidTaskId;
    uint64_t generation = 0;  // Identifies the timer that may act on this entry.
    int64_t attempts = 0;
    RetrySettings settings;
    std::shared_ptr<NotifyListener> listener;
  };

  // Read once, so that a bad value in the registry URL is logged once.
  explicit RetryTable(const URL& registry_url)
      : defaults(ReadRetrySettings(
            registry_url, {std::chrono::milliseconds(FailbackRegistry::kDefaultRetryPeriodMs),
                           kDefaultRetryTimes})) {}

  // Settings of an operation on `url`: its own parameters win over the registry URL's.
  RetrySettings SettingsFor(const URL& url) const { return ReadRetrySettings(url, defaults); }

  const RetrySettings defaults;
  Mutex mu;
  bool stopped DUBBO_GUARDED_BY(mu) = false;
  uint64_t next_generation DUBBO_GUARDED_BY(mu) = 1;
  std::unordered_map<Key, Entry, KeyHash> entries DUBBO_GUARDED_BY(mu);
};

}  // namespace internal

namespace {

const char* KindName(int kind) {
  static constexpr const char* kNames[] = {"register", "unregister", "subscribe", "unsubscribe"};
  return kind >= 0 && kind < 4 ? kNames[kind] : "?";
}

// Dubbo 3.x AbstractRegistry.acceptable(): the registry URL's `accepts` allow-list (or, with only
// `-proto` entries, deny-list) of protocols.
bool Acceptable(const URL& registry_url, const URL& url) {
  std::string_view pattern = registry_url.GetParameter("accepts");
  if (pattern.empty()) return true;
  bool has_allow = false;
  bool allowed = false;
  bool denied = false;
  size_t start = 0;
  while (start <= pattern.size()) {
    size_t end = pattern.find(',', start);
    if (end == std::string_view::npos) end = pattern.size();
    std::string_view item = pattern.substr(start, end - start);
    start = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    if (item.front() == '-') {
      denied = denied || item.substr(1) == url.protocol();
    } else {
      has_allow = true;
      allowed = allowed || item == url.protocol();
    }
  }
  return has_allow ? allowed : !denied;
}

}  // namespace

FailbackRegistry::FailbackRegistry(URL registry_url, RegistryOptions options)
    : AbstractRegistry(std::move(registry_url), options),
      retries_(std::make_unique<internal::RetryTable>(url())) {}

FailbackRegistry::~FailbackRegistry() {
  if (!IsDestroyed()) {
    DUBBO_LOG(ERROR) << "registry " << url().Address()
                     << " deleted without Destroy(): its URLs stay on the server until they expire";
  }
  StopRetries();
}

bool FailbackRegistry::CheckEnabled(const URL& url) const {
  return this->url().GetBool(keys::kCheck, true) && url.GetBool(keys::kCheck, true);
}

Status FailbackRegistry::Execute(RetryKind kind, const URL& url,
                                 const std::shared_ptr<NotifyListener>& listener) {
  switch (kind) {
    case RetryKind::kRegister: return DoRegister(url);
    case RetryKind::kUnregister: return DoUnregister(url);
    case RetryKind::kSubscribe: return DoSubscribe(url, listener);
    case RetryKind::kUnsubscribe: return DoUnsubscribe(url, listener);
  }
  return InternalError("unknown retry kind");
}

void FailbackRegistry::AddRetry(RetryKind kind, const URL& url,
                                const std::shared_ptr<NotifyListener>& listener, bool at_once) {
  internal::RetryTable::Key key{static_cast<int>(kind), url, listener.get()};
  // Read before locking: a bad value is logged, and the log sink is user code.
  const internal::RetrySettings settings = retries_->SettingsFor(url);
  internal::MutexLock lock(&retries_->mu);
  if (retries_->stopped || retries_->entries.count(key) != 0) return;
  internal::RetryTable::Entry& entry = retries_->entries[key];
  entry.listener = listener;
  entry.settings = settings;
  const Duration delay = at_once ? Duration::zero() : settings.period;
  entry.generation = retries_->next_generation++;
  const uint64_t generation = entry.generation;
  entry.task = scheduler()->ScheduleAfter(delay, [this, kind, url, raw = listener.get(), generation] {
    RunRetry(kind, url, raw, generation);
  });
}

void FailbackRegistry::CancelRetry(RetryKind kind, const URL& url,
                                   const std::shared_ptr<NotifyListener>& listener) {
  TaskId task = kInvalidTaskId;
  {
    internal::MutexLock lock(&retries_->mu);
    auto it = retries_->entries.find({static_cast<int>(kind), url, listener.get()});
    if (it == retries_->entries.end()) return;
    task = it->second.task;
    retries_->entries.erase(it);
  }
  // Outside the lock: Cancel() waits for a running retry, which needs the lock to finish.
  scheduler()->Cancel(task);
}

void FailbackRegistry::StopRetries() {
  std::vector<TaskId> tasks;
  {
    internal::MutexLock lock(&retries_->mu);
    retries_->stopped = true;
    for (const auto& [key, entry] : retries_->entries) tasks.push_back(entry.task);
    retries_->entries.clear();
  }
  for (TaskId task : tasks) scheduler()->Cancel(task);
}

void FailbackRegistry::RunRetry(RetryKind kind, const URL& url, const NotifyListener* raw_listener,
                                uint64_t generation) {
  const internal::RetryTable::Key key{static_cast<int>(kind), url, raw_listener};
  std::shared_ptr<NotifyListener> listener;
  {
    internal::MutexLock lock(&retries_->mu);
    auto it = retries_->entries.find(key);
    if (retries_->stopped || it == retries_->entries.end() || it->second.generation != generation) return;
    listener = it->second.listener;
  }
  if (IsDestroyed()) return;

  const Status status = Execute(kind, url, listener);

  internal::MutexLock lock(&retries_->mu);
  auto it = retries_->entries.find(key);
  if (retries_->stopped || it == retries_->entries.end() || it->second.generation != generation) {
    return;  // Superseded or cancelled while the call ran.
  }
  internal::RetryTable::Entry& entry = it->second;
  ++entry.attempts;
  if (status.ok()) {
    DUBBO_LOG(INFO) << "retry " << KindName(key.kind) << " of " << url << " succeeded after "
                    << entry.attempts << " attempt(s)";
    retries_->entries.erase(it);
    return;
  }
  // Dubbo's rule: `retry.times` <= 0 retries forever.
  const int64_t times = entry.settings.times;
  if (status.code() == StatusCode::kInvalidArgument || (times > 0 && entry.attempts >= times)) {
    DUBBO_LOG(ERROR) << "giving up " << KindName(key.kind) << " of " << url << " after "
                     << entry.attempts << " retries: " << status;
    retries_->entries.erase(it);
    return;
  }
  // Logged at attempts 1, 2, 4, 8, ...: an outage of hours must not flood the log.
  if ((entry.attempts & (entry.attempts - 1)) == 0) {
    DUBBO_LOG(WARNING) << "retry " << entry.attempts << " of " << KindName(key.kind) << " " << url
                       << " failed: " << status << " (logging again at retry " << entry.attempts * 2
                       << ")";
  }
  entry.generation = retries_->next_generation++;
  const uint64_t next = entry.generation;
  entry.task = scheduler()->ScheduleAfter(entry.settings.period, [this, kind, url, raw_listener, next] {
    RunRetry(kind, url, raw_listener, next);
  });
}

FailbackRegistry::PendingRetries FailbackRegistry::pending_retries() const {
  PendingRetries out;
  internal::MutexLock lock(&retries_->mu);
  for (const auto& [key, entry] : retries_->entries) {
    switch (static_cast<RetryKind>(key.kind)) {
      case RetryKind::kRegister: ++out.registers; break;
      case RetryKind::kUnregister: ++out.unregisters; break;
      case RetryKind::kSubscribe: ++out.subscribes; break;
      case RetryKind::kUnsubscribe: ++out.unsubscribes; break;
    }
  }
  return out;
}

Status FailbackRegistry::Register(const URL& url) {
  if (!Acceptable(this->url(), url)) {
    DUBBO_LOG(INFO) << "registry " << this->url().Address() << " does not accept " << url
                    << " (accepts=" << this->url().GetParameter("accepts") << ")";
    return Status::Ok();
  }
  DUBBO_RETURN_IF_ERROR(AbstractRegistry::Register(url));
  CancelRetry(RetryKind::kRegister, url, nullptr);
  CancelRetry(RetryKind::kUnregister, url, nullptr);
  Status status = DoRegister(url);
  if (status.ok()) return status;
  if (status.code() == StatusCode::kInvalidArgument) {
    ForgetRegistered(url);
    return status.WithPrefix("register " + url.ToRedactedString());
  }
  if (CheckEnabled(url) && url.port() != 0) {
    return status.WithPrefix("register " + url.ToRedactedString() + " (check=true)");
  }
  DUBBO_LOG(WARNING) << "register " << url << " failed: " << status << "; will retry";
  AddRetry(RetryKind::kRegister, url, nullptr, /*at_once=*/false);
  return Status::Ok();
}

Status FailbackRegistry::Unregister(const URL& url) {
  DUBBO_RETURN_IF_ERROR(AbstractRegistry::Unregister(url));
  CancelRetry(RetryKind::kRegister, url, nullptr);
  CancelRetry(RetryKind::kUnregister, url, nullptr);
  Status status = DoUnregister(url);
  if (status.ok() || status.code() == StatusCode::kNotFound) return Status::Ok();
  if (status.code() == StatusCode::kInvalidArgument) {
    return status.WithPrefix("unregister " + url.ToRedactedString());
  }
  if (CheckEnabled(url) && url.port() != 0) {
    return status.WithPrefix("unregister " + url.ToRedactedString() + " (check=true)");
  }
  DUBBO_LOG(WARNING) << "unregister " << url << " failed: " << status << "; will retry";
  AddRetry(RetryKind::kUnregister, url, nullptr, /*at_once=*/false);
  return Status::Ok();
}

Status FailbackRegistry::Subscribe(const URL& url, std::shared_ptr<NotifyListener> listener) {
  DUBBO_RETURN_IF_ERROR(AbstractRegistry::Subscribe(url, listener));
  CancelRetry(RetryKind::kSubscribe, url, listener);
  CancelRetry(RetryKind::kUnsubscribe, url, listener);
  Status status = DoSubscribe(url, listener);
  if (status.ok()) {
    FlushNotifications();
    return status;
  }
  if (status.code() == StatusCode::kInvalidArgument) {
    ForgetSubscribed(url, listener);
    return status.WithPrefix("subscribe " + url.ToRedactedString());
  }
  std::vector<URL> cached = GetCacheUrls(url);
  if (!cached.empty()) {
    DUBBO_LOG(WARNING) << "subscribe " << url << " failed: " << status << "; serving "
                       << cached.size() << " cached URL(s) and retrying";
    Notify(url, listener, cached);
  } else if (CheckEnabled(url)) {
    return status.WithPrefix("subscribe " + url.ToRedactedString() + " (check=true)");
  } else {
    DUBBO_LOG(WARNING) << "subscribe " << url << " failed: " << status << "; will retry";
  }
  AddRetry(RetryKind::kSubscribe, url, listener, /*at_once=*/false);
  FlushNotifications();
  return Status::Ok();
}

Status FailbackRegistry::Unsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) {
  DUBBO_RETURN_IF_ERROR(AbstractRegistry::Unsubscribe(url, listener));
  CancelRetry(RetryKind::kSubscribe, url, listener);
  CancelRetry(RetryKind::kUnsubscribe, url, listener);
  Status status = DoUnsubscribe(url, listener);
  if (status.ok() || status.code() == StatusCode::kNotFound) return Status::Ok();
  if (status.code() == StatusCode::kInvalidArgument) {
    return status.WithPrefix("unsubscribe " + url.ToRedactedString());
  }
  if (CheckEnabled(url)) {
    return status.WithPrefix("unsubscribe " + url.ToRedactedString() + " (check=true)");
  }
  DUBBO_LOG(WARNING) << "unsubscribe " << url << " failed: " << status << "; will retry";
  AddRetry(RetryKind::kUnsubscribe, url, listener, /*at_once=*/false);
  return Status::Ok();
}

void FailbackRegistry::Recover() {
  if (IsDestroyed()) return;
  for (const URL& url : GetRegistered()) {
    CancelRetry(RetryKind::kRegister, url, nullptr);
    AddRetry(RetryKind::kRegister, url, nullptr, /*at_once=*/true);
  }
  for (const auto& [url, listener] : GetSubscribed()) {
    CancelRetry(RetryKind::kSubscribe, url, listener);
    AddRetry(RetryKind::kSubscribe, url, listener, /*at_once=*/true);
  }
}

void FailbackRegistry::OnDestroy(
    const std::vector<URL>& dynamic_registered,
    const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& subscriptions) {
  StopRetries();
  for (const URL& url : dynamic_registered) {
    Status status = DoUnregister(url);
    if (!status.ok()) DUBBO_LOG(WARNING) << "destroy: unregister " << url << " failed: " << status;
  }
  for (const auto& [url, listener] : subscriptions) {
    Status status = DoUnsubscribe(url, listener);
    if (!status.ok()) DUBBO_LOG(WARNING) << "destroy: unsubscribe " << url << " failed: " << status;
  }
}

}  // namespace dubbo::registry
