// NamingCore: parameters in, store and push calls, JSON out. The behaviour reference is
// the Nacos v1 naming Open API as Nacos 1.4.x serves it; deliberate differences are in docs/naming-server.md.
#include "naming_core.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "instance_store.h"
#include "internal/ascii.h"
#include "internal/logging.h"
#include "internal/utf8.h"
#include "login_throttle.h"
#include "metrics_text.h"
#include "naming_json.h"
#include "persistence.h"

namespace dubbo::naming_server {
namespace {

using registry::Result;
using registry::Status;
using registry::StatusCode;
using std::chrono::milliseconds;

constexpr int64_t kPushCacheMillis = 10000;     // Switch defaultPushCacheMillis.
constexpr int64_t kDefaultCacheMillis = 3000;  // Switch defaultCacheMillis.

// The health sweep runs in steps of about this many instances, releasing the lock in between, so
// that no request waits behind a whole sweep (~0.1 ms per step instead of ~30 ms per sweep over
// 100,000 instances).
constexpr size_t kSweepStepInstances = 1000;

// The rendered list answers kept (see State::Rendered): the least recently used are dropped while
// either cap is exceeded. An entry is only ever served for the service revision it was rendered at.
// An entry holds its answer about twice (the data part and the last assembled answer), so the byte
// cap is twice the default max_answer_bytes: an answer of any size allowed by default is kept.
constexpr size_t kRenderedListMaxBytes = 32 << 20;
constexpr size_t kRenderedListMaxEntries = 4096;

// A service whose list answer the store estimates above this is not rendered for a push: the
// push would render the JSON, its MD5 and the gzip under the core's mutex only to drop a packet
// over the UDP payload limit. A list answer gzips well (every host repeats its keys, cluster and
// service name, and a service's instances mostly share their metadata), commonly 5-15x. The
// estimate is at least the answer's size and at most about twice it, so a skipped answer takes
// more than 10 payloads and would rarely fit one once gzipped. The estimate covers every cluster,
// so a subscriber of one cluster of such a service is skipped too. Subscribers of a skipped
// service still get its data by polling (cacheMillis).
constexpr size_t kPushRenderCeilingBytes = 20 * kMaxUdpPayload;

using registry::internal::EqualsIgnoreCase;

// Nacos reads booleans leniently: true, yes and on (any case) are true.
bool LenientBool(const std::optional<std::string>& value, bool fallback) {
  if (!value) return fallback;
  return EqualsIgnoreCase(*value, "true") || EqualsIgnoreCase(*value, "yes") ||
         EqualsIgnoreCase(*value, "on");
}

// Java's NumberFormatException text, which Nacos answers with 400.
Status NumberError(std::string_view text) {
  return registry::InvalidArgumentError("For input string: \"" + std::string(text) + "\"");
}

Result<int> ParseJavaInt(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < INT32_MIN || value > INT32_MAX) {
    return NumberError(text);
  }
  return static_cast<int>(value);
}

Result<double> ParseJavaDouble(const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') return NumberError(text);
  return value;
}

HttpResponse FromStatus(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument: return HttpResponse::Text(400, std::string(status.message()));
    case StatusCode::kNotFound: return HttpResponse::Text(404, std::string(status.message()));
    case StatusCode::kPermissionDenied: return HttpResponse::Text(403, std::string(status.message()));
    default: return HttpResponse::Text(500, std::string(status.message()));
  }
}

// A refusal by FromStatus(), counted under `reason` if it is a 400.
HttpResponse Refused(const Status& status, RejectReason reason) {
  HttpResponse response = FromStatus(status);
  response.reject_reason = reason;
  return response;
}

HttpResponse Ok() { return HttpResponse::Text(200, "ok"); }

// 413 for an answer of `bytes` (`qualifier`: "", "about " or "at least ") over max_answer_bytes.
HttpResponse AnswerTooLarge(std::string_view what, std::string_view qualifier, size_t bytes,
                            size_t cap) {
  return HttpResponse::Text(413, std::string(what) + " too large: " + std::string(qualifier) +
                                     std::to_string(bytes) + " bytes (max " + std::to_string(cap) +
                                     ", max_answer_bytes, --max-answer-bytes)");
}

// "Nacos-Java-Client:v1.4.8" -> {"Nacos-Java-Client", "1.4.8"}.
std::pair<std::string_view, std::string_view> SplitAgent(std::string_view agent) {
  const size_t mark = agent.find(":v");
  if (mark == std::string_view::npos) return {agent, {}};
  return {agent.substr(0, mark), agent.substr(mark + 2)};
}

// Compares dotted versions numerically ("1.10.0" > "1.9"). Non-digits end a component.
int CompareVersions(std::string_view a, std::string_view b) {
  while (!a.empty() || !b.empty()) {
    auto take = [](std::string_view* s) {
      long n = 0;
      size_t i = 0;
      while (i < s->size() && std::isdigit(static_cast<unsigned char>((*s)[i]))) {
        n = std::min(n * 10 + ((*s)[i] - '0'), 1000000000L);
        ++i;
      }
      const size_t dot = s->find('.', i);
      *s = dot == std::string_view::npos ? std::string_view() : s->substr(dot + 1);
      return n;
    };
    const long x = take(&a);
    const long y = take(&b);
    if (x != y) return x < y ? -1 : 1;
  }
  return 0;
}

bool IsJavaClientAtLeast(std::string_view agent, std::string_view version) {
  auto [name, ver] = SplitAgent(agent);
  return name == "Nacos-Java-Client" && !ver.empty() && CompareVersions(ver, version) >= 0;
}

// A list answer's style for `agent`, which pushes to it follow too: a Java client >= 1.0.0 gets
// grouped names (see ListRenderOptions::grouped_names).
bool WantsGroupedNames(std::string_view agent) { return IsJavaClientAtLeast(agent, "1.0.0"); }

// The push styles (PushStyle) of NamingCore: whether the subscriber wants grouped names.
constexpr PushStyle kUngroupedNamesStyle = 0;
constexpr PushStyle kGroupedNamesStyle = 1;

// The clients Nacos 1.4.x pushes to (by User-Agent).
bool IsPushCapable(std::string_view agent) {
  auto [name, ver] = SplitAgent(agent);
  if (ver.empty()) return false;
  struct Rule {
    std::string_view name;
    std::string_view min_version;
  };
  static constexpr Rule kRules[] = {
      {"Nacos-Java-Client", "0.1.0"}, {"Nacos-DNS", "0.4.3"},        {"Nacos-C-Client", "1.0.12"},
      {"vip-client4cpp", "1.0.12"},   {"Nacos-Go-Client", "0.1.0"}, {"Nacos-CSharp-Client", "0.9.0"},
  };
  for (const Rule& rule : kRules) {
    if (name == rule.name) return CompareVersions(ver, rule.min_version) >= 0;
  }
  return false;
}

std::string RandomToken() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device device;
  std::string token;
  for (int i = 0; i < 4; ++i) {
    uint64_t bits = (static_cast<uint64_t>(device()) << 32) ^ device();
    for (int k = 0; k < 16; ++k, bits >>= 4) token.push_back(kHex[bits & 0xF]);
  }
  return token;
}

// Whether `given` equals `secret`, in a time that depends only on given.size(): no early exit at
// the first differing byte, so the response time does not tell a guesser how much was right.
bool ConstantTimeEquals(std::string_view given, std::string_view secret) {
  unsigned diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    const char expected = secret.empty() ? '\0' : secret[i % secret.size()];
    diff |= static_cast<unsigned char>(given[i] ^ expected);
  }
  return diff == 0;
}

LoginThrottleOptions ThrottleOptions(const NamingServerOptions& options) {
  LoginThrottleOptions out;
  out.free_failures = options.login_free_failures;
  out.first_backoff = milliseconds(options.login_backoff_ms);
  out.max_backoff = milliseconds(options.login_max_backoff_ms);
  out.max_addresses = options.login_throttle_max_addresses;
  return out;
}

// JSON string literal for a plain ASCII token or name (the caller guarantees no control bytes).
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

struct NamingCore::State {
  State(const NamingServerOptions& opts, registry::Clock* c, registry::Scheduler* s, UdpSender* u,
        ServerMetrics* m)
      : options(opts),
        clock(c),
        scheduler(s),
        sender(u),
        metrics(m != nullptr ? m : &owned_metrics),
        store(c, StoreOptions(opts)),
        login_throttle(ThrottleOptions(opts), c) {}

  static InstanceStoreOptions StoreOptions(const NamingServerOptions& options) {
    InstanceStoreOptions out;
    out.max_metadata_bytes = options.max_metadata_bytes;
    out.max_instances_per_service = options.max_instances_per_service;
    out.max_services_per_namespace = options.max_services_per_namespace;
    out.max_total_services = options.max_total_services;
    out.max_total_instances = options.max_total_instances;
    out.max_answer_bytes = options.max_answer_bytes;
    out.heartbeat_timeout = milliseconds(options.heartbeat_timeout_ms);
    out.ip_delete_timeout = milliseconds(options.ip_delete_timeout_ms);
    out.client_beat_interval = milliseconds(options.client_beat_interval_ms);
    out.light_beat_enabled = options.light_beat_enabled;
    return out;
  }

  const NamingServerOptions options;
  registry::Clock* const clock;
  registry::Scheduler* const scheduler;
  UdpSender* const sender;
  ServerMetrics owned_metrics;
  ServerMetrics* const metrics;

  mutable std::mutex mu;  // Guards everything below, and serialises the push service.
  InstanceStore store;
  std::unique_ptr<PushService> push;
  std::unique_ptr<GrpcNaming> grpc;           // Serialised by mu too; nullptr once shut down.
  std::unique_ptr<GrpcHandler> grpc_adapter;  // Takes mu; see GrpcAdapter.
  // Live tokens, at most options.max_tokens (see Login()): each token's entry in token_expiry,
  // which orders them soonest expiry first.
  using TokenExpiry = std::multimap<registry::TimePoint, std::string>;
  TokenExpiry token_expiry;
  std::unordered_map<std::string, TokenExpiry::iterator> tokens;
  LoginThrottle login_throttle;  // failed credential checks per address
  registry::TaskId health_task = registry::kInvalidTaskId;
  bool shut_down = false;
  // The data file (options.data_dir); null without one. Set before the core serves.
  std::unique_ptr<DataFile> data_file;
  uint64_t data_generation = 0;  // Of the last snapshot taken for data_file.
  registry::internal::LogRateLimiter data_log{std::chrono::seconds(10)};

  // List answers of known services, least recently used last. Rendering (snapshot copy, JSON of
  // the hosts, MD5 checksum) is most of a list request's cost, and that part depends only on the
  // service's data, which cannot change without a new revision, and on the variant: the
  // normalised cluster list, healthyOnly and the agent style (grouped names). So it is rendered
  // once per revision and variant (VariantKey()); the echoed fields (cacheMillis, the clusters as
  // written, env) are added per request, and the last answer so assembled is kept beside it, so
  // that repeated identical requests share it without a copy.
  struct Rendered {
    std::string key;  // VariantKey()
    uint64_t revision = 0;
    std::shared_ptr<const ListAnswerParts> parts;
    std::string echo;  // EchoKey() of `body`
    std::shared_ptr<const std::string> body;
    size_t bytes() const { return key.size() + parts->size() + echo.size() + body->size(); }
  };
  std::list<Rendered> rendered;  // Most recently used first.
  std::unordered_map<std::string_view, std::list<Rendered>::iterator> rendered_index;
  size_t rendered_bytes = 0;

  // --- Helpers (REQUIRES: mu held) ------------------------------------------------------------

  static std::string VariantKey(const ListQuery& query, bool grouped_names) {
    std::string key;
    key.append(query.namespace_id).push_back('\0');
    key.append(query.service_name).push_back('\0');
    key.append(NormalizedClusters(query.clusters)).push_back('\0');
    key.push_back(query.healthy_only ? '1' : '0');
    key.push_back(grouped_names ? '1' : '0');
    return key;
  }
  static std::string EchoKey(const ListQuery& query, const ListRenderOptions& render) {
    return std::to_string(render.cache_millis) + '\0' + query.clusters + '\0' + render.env;
  }

  // The entry for `key` at `revision`, now the most recently used, or nullptr.
  Rendered* FindRendered(const std::string& key, uint64_t revision) {
    auto it = rendered_index.find(key);
    if (it == rendered_index.end() || it->second->revision != revision) return nullptr;
    rendered.splice(rendered.begin(), rendered, it->second);
    return &rendered.front();
  }

  // Keeps `entry` (rendered at entry.revision of the query's service) unless the service has moved
  // on since, replacing the entry of its key, then drops the least recently used over the caps.
  void KeepRendered(Rendered entry, const ListQuery& query) {
    if (store.Revision(query.namespace_id, query.service_name) != entry.revision) return;
    if (auto it = rendered_index.find(entry.key); it != rendered_index.end()) {
      rendered_bytes -= it->second->bytes();
      const auto stale = it->second;
      rendered_index.erase(it);
      rendered.erase(stale);
    }
    if (entry.bytes() > kRenderedListMaxBytes) return;
    rendered_bytes += entry.bytes();
    rendered.push_front(std::move(entry));
    rendered_index.emplace(rendered.front().key, rendered.begin());
    while (rendered_bytes > kRenderedListMaxBytes || rendered.size() > kRenderedListMaxEntries) {
      rendered_bytes -= rendered.back().bytes();
      rendered_index.erase(rendered.back().key);
      rendered.pop_back();
    }
  }

  // The list answer of a known service at `revision`. From the kept answers when they have it;
  // else the snapshot is taken here and, when `lock` is given, released while the answer is
  // rendered (held again on return). REQUIRES: mu held (by `lock` if given).
  std::shared_ptr<const std::string> AnswerList(const ListQuery& query, uint64_t revision,
                                                const ListRenderOptions& render,
                                                std::unique_lock<std::mutex>* lock) {
    Rendered entry;
    entry.key = VariantKey(query, render.grouped_names);
    entry.revision = revision;
    entry.echo = EchoKey(query, render);
    std::optional<ServiceSnapshot> snapshot;
    if (Rendered* kept = FindRendered(entry.key, revision)) {
      if (kept->echo == entry.echo) return kept->body;
      entry.parts = kept->parts;
    } else {
      Result<ServiceSnapshot> taken = store.List(query);
      if (!taken.ok()) return nullptr;  // Cannot happen: the service exists.
      snapshot = std::move(*taken);
    }
    if (lock != nullptr) lock->unlock();
    if (snapshot) {
      entry.parts =
          std::make_shared<const ListAnswerParts>(RenderListParts(*snapshot, render.grouped_names));
      snapshot.reset();  // Freed outside the lock too.
    }
    entry.body = std::make_shared<const std::string>(
        AssembleInstanceList(*entry.parts, render.cache_millis, query.clusters, render.env));
    if (lock != nullptr) lock->lock();
    std::shared_ptr<const std::string> body = entry.body;
    if (body->size() <= options.max_answer_bytes) KeepRendered(std::move(entry), query);
    return body;
  }

  // Runs under the push service's serialisation (mu held), so a miss renders under the lock. An
  // answer over max_answer_bytes (which only echoed fields can make) is not pushed (nullptr); a
  // service estimated over kPushRenderCeilingBytes is not rendered (kResourceExhausted).
  Result<std::shared_ptr<const std::string>> RenderForPush(const std::string& ns,
                                                           const std::string& service,
                                                           const std::string& clusters,
                                                           PushStyle style) {
    if (const size_t estimate = store.AnswerBytes(ns, service);
        estimate > kPushRenderCeilingBytes) {
      return registry::ResourceExhaustedError(
          "its list answer takes about " + std::to_string(estimate) +
          " bytes, too many to fit a datagram once compressed (more than " +
          std::to_string(kPushRenderCeilingBytes) + "); subscribers poll instead");
    }
    ListQuery query;
    query.namespace_id = ns;
    query.service_name = service;
    query.clusters = clusters;
    ListRenderOptions render;
    render.cache_millis = kPushCacheMillis;
    render.grouped_names = style == kGroupedNamesStyle;
    std::shared_ptr<const std::string> body;
    if (const uint64_t revision = store.Revision(ns, service); revision != 0) {
      body = AnswerList(query, revision, render, nullptr);
    } else if (Result<ServiceSnapshot> snapshot = store.List(query); snapshot.ok()) {
      body = std::make_shared<const std::string>(RenderInstanceList(*snapshot, render));
    }
    if (body == nullptr || body->size() > options.max_answer_bytes) return nullptr;
    return body;
  }

  // --- Data directory ---------------------------------------------------------------------------
  // Saves the persistent data as it is now: `answer`, the answer to the write that changed it, is
  // sent once it is on disk, else 500. REQUIRES: `lock` holds mu; released on return.
  HttpResponse SaveData(HttpResponse answer, std::unique_lock<std::mutex>& lock) {
    const Status saved = SaveSnapshot(lock);
    if (saved.ok()) return answer;
    return HttpResponse::Text(500, "the change is made but not saved to the data directory: " +
                                       std::string(saved.message()));
  }

  // Takes a snapshot of the persistent data under mu and writes it outside. REQUIRES: `lock`
  // holds mu; released on return.
  Status SaveSnapshot(std::unique_lock<std::mutex>& lock) {
    const std::vector<PersistentService> data = store.PersistentSnapshot();
    const uint64_t generation = ++data_generation;
    lock.unlock();
    Status saved = data_file->Save(generation, data);
    if (!saved.ok()) {
      metrics->data_save_failures.fetch_add(1, std::memory_order_relaxed);
      uint64_t held_back = 0;
      if (data_log.Allow(clock->Now(), &held_back)) {
        DUBBO_LOG(ERROR) << "data directory: " << saved << "; retried by the next change and every "
                         << options.health_check_period_ms << " ms"
                         << registry::internal::HeldBackNote(held_back);
      }
    }
    return saved;
  }

  // Saves again when the last save failed. REQUIRES: mu not held.
  void RetryDataSave() {
    if (data_file == nullptr || !data_file->behind()) return;
    std::unique_lock<std::mutex> lock(mu);
    if (!shut_down) SaveSnapshot(lock).IgnoreError();
  }

  // Puts one service of the data file back. REQUIRES: mu held.
  Status RestoreService(const PersistentService& service) {
    if (service.explicit_service) {
      ServiceSpec spec;
      spec.namespace_id = service.namespace_id;
      spec.service_name = service.service_name;
      spec.protect_threshold = service.protect_threshold;
      spec.metadata = service.metadata;
      DUBBO_RETURN_IF_ERROR(store.CreateService(spec));
    }
    for (const Instance& instance : service.instances) {
      InstanceSpec spec;
      spec.namespace_id = service.namespace_id;
      spec.service_name = service.service_name;
      spec.cluster_name = instance.cluster_name;
      spec.ip = instance.ip;
      spec.port = instance.port;
      spec.weight = instance.weight;
      // The v1 path clamped its weights when it stored them; the gRPC path stores any finite
      // weight. Either way the saved weight is what the server accepted, so it is kept as is.
      spec.any_weight = true;
      spec.enabled = instance.enabled;
      spec.healthy = instance.healthy;
      spec.ephemeral = false;
      spec.metadata = instance.metadata.get();
      spec.app = instance.app;
      spec.instance_id = instance.instance_id;
      const size_t before = store.InstanceCount();
      const std::string name = instance.ip + ":" + std::to_string(instance.port) + " in cluster " +
                               instance.cluster_name;
      Status status = store.Register(spec);
      if (!status.ok()) {
        return registry::InvalidArgumentError(name + ": " + std::string(status.message()));
      }
      if (store.InstanceCount() == before) {
        return registry::InvalidArgumentError(name + " appears twice");
      }
    }
    return Status::Ok();
  }

  void ScheduleHealthCheck() {
    health_task = scheduler->ScheduleAfter(milliseconds(options.health_check_period_ms), [this] {
      if (!SweepInSteps()) return;
      RetryDataSave();
      std::lock_guard<std::mutex> lock(mu);
      if (!shut_down) ScheduleHealthCheck();
    });
  }

  // One health sweep, in steps of kSweepStepInstances, each under the lock, which requests can
  // take in between. False if the core shut down meanwhile. REQUIRES: mu not held.
  bool SweepInSteps() {
    HealthSweepCursor cursor;
    HealthSweepResult result;
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (shut_down) return false;
        if (store.CheckHealthStep(&cursor, kSweepStepInstances, &result)) return true;
      }
      std::this_thread::yield();
    }
  }

  // Checks every decoded parameter before routing: names and values must be valid UTF-8 (text is
  // stored and answered as it is, and one invalid byte would make every list answer of its
  // service invalid JSON text), serviceName and groupName must fit max_service_name_length, and
  // namespaceId must be a valid namespace id.
  // Needs no lock: options are constant and the metrics atomic.
  std::optional<HttpResponse> CheckParams(const HttpRequest& r) const {
    using registry::internal::IsValidUtf8;
    for (const auto& [name, value] : r.params) {
      if (!IsValidUtf8(name)) {
        metrics->Reject(RejectReason::kInvalidUtf8);
        return HttpResponse::Text(400, "a parameter name is not valid UTF-8");
      }
      if (!IsValidUtf8(value)) {
        metrics->Reject(RejectReason::kInvalidUtf8);
        return HttpResponse::Text(400, "Param '" + name + "' is not valid UTF-8");
      }
      if ((name == "serviceName" || name == "groupName") &&
          value.size() > options.max_service_name_length) {
        metrics->Reject(RejectReason::kServiceNameTooLong);
        return HttpResponse::Text(
            400, "Param '" + name + "' is too long: " + std::to_string(value.size()) +
                     " bytes (max " + std::to_string(options.max_service_name_length) +
                     ", max_service_name_length, --max-service-name-length)");
      }
    }
    // Nacos's rules for a namespace id: at most 64 bytes (its parameter checker) of [A-Za-z0-9_-]
    // (its console's pattern); ids are usually "public" or a UUID.
    if (std::optional<std::string> ns = r.Param("namespaceId")) {
      constexpr size_t kMaxNamespaceIdLength = 64;
      const bool valid_chars = std::all_of(ns->begin(), ns->end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_' || c == '-';
      });
      if (ns->size() > kMaxNamespaceIdLength || !valid_chars) {
        metrics->Reject(RejectReason::kInvalidParameter);
        return HttpResponse::Text(400, "Param 'namespaceId' is illegal: at most " +
                                           std::to_string(kMaxNamespaceIdLength) +
                                           " bytes of 0-9a-zA-Z_- allowed");
      }
    }
    return std::nullopt;
  }

  // --- Auth ------------------------------------------------------------------------------------
  // Every credential check (a login, or username and password parameters) goes through here. The
  // 429 of LoginThrottle while the peer is locked out (the password is not looked at); else
  // nullopt when the credentials match, else 403 with `wrong_body`; the throttle learns which.
  // REQUIRES: mu held.
  std::optional<HttpResponse> CheckCredentials(const HttpRequest& request,
                                               std::string_view wrong_body) {
    const LoginThrottle::Lockout lockout = login_throttle.LockedFor(request.peer_ip);
    if (lockout.remaining > registry::Duration::zero()) {
      metrics->Reject(RejectReason::kLoginThrottled);
      const auto seconds = std::chrono::ceil<std::chrono::seconds>(lockout.remaining).count();
      return HttpResponse::Text(
          429, std::string(lockout.table_full ? "too many failed logins from many addresses"
                                              : "too many failed logins from this address") +
                   "; retry after " + std::to_string(seconds) + " s");
    }
    const std::optional<std::string> user = request.Param("username");
    const std::optional<std::string> pass = request.Param("password");
    // Both compared in full, whichever is wrong.
    const bool user_ok = user && ConstantTimeEquals(*user, options.username);
    const bool pass_ok = pass && ConstantTimeEquals(*pass, options.password);
    if (user_ok && pass_ok) {
      login_throttle.Succeeded(request.peer_ip);
      return std::nullopt;
    }
    metrics->Reject(RejectReason::kLoginFailed);
    const registry::Duration started = login_throttle.Failed(request.peer_ip);
    if (started > registry::Duration::zero()) {
      DUBBO_LOG(INFO) << "credential checks from " << request.peer_ip << " locked out for "
                      << std::chrono::duration_cast<milliseconds>(started).count()
                      << " ms after repeated failures";
    }
    return HttpResponse::Text(403, std::string(wrong_body));
  }

  // OK, or the 403 Nacos answers (429 from CheckCredentials()). REQUIRES: mu held.
  std::optional<HttpResponse> CheckAuth(const HttpRequest& request) {
    if (!options.auth_enabled) return std::nullopt;
    std::optional<std::string> token = request.Param("accessToken");
    if (!token && request.authorization.rfind("Bearer ", 0) == 0) {
      token = request.authorization.substr(7);
    }
    if (!token) {
      // Like Nacos's resolveToken(): username and password parameters count as a login (the
      // official Node SDK authenticates this way).
      if (request.Param("username") || request.Param("password")) {
        return CheckCredentials(request, "user not found!");
      }
      metrics->Reject(RejectReason::kAuthDenied);
      return HttpResponse::Text(403, "user not found!");
    }
    switch (CheckToken(*token)) {
      case TokenState::kValid:
        return std::nullopt;
      case TokenState::kExpired:
        return HttpResponse::Text(403, "token expired!");
      case TokenState::kMissing:
      case TokenState::kInvalid:
        break;
    }
    return HttpResponse::Text(403, "token invalid!");
  }

  // Whether `token` is a live login token; an expired one is dropped. A refusal is counted.
  // REQUIRES: mu held.
  TokenState CheckToken(std::string_view token) {
    auto it = tokens.find(std::string(token));
    if (it == tokens.end()) {
      metrics->Reject(RejectReason::kAuthDenied);
      return TokenState::kInvalid;
    }
    if (clock->Now() >= it->second->first) {
      token_expiry.erase(it->second);
      tokens.erase(it);
      metrics->Reject(RejectReason::kAuthDenied);
      return TokenState::kExpired;
    }
    return TokenState::kValid;
  }

  HttpResponse Login(const HttpRequest& request) {
    if (std::optional<HttpResponse> refused = CheckCredentials(request, "unknown user!")) {
      return std::move(*refused);
    }
    const registry::TimePoint now = clock->Now();
    // Expired tokens go; so does, while the table is full, the token that expires soonest (the
    // oldest, as every token has the same lifetime).
    while (!token_expiry.empty() &&
           (now >= token_expiry.begin()->first || tokens.size() >= options.max_tokens)) {
      tokens.erase(token_expiry.begin()->second);
      token_expiry.erase(token_expiry.begin());
    }
    std::string token = RandomToken();
    // Saturating: a TTL beyond the clock's range (~292 years of nanoseconds) means "never".
    const auto ttl = std::min<std::chrono::seconds>(
        std::chrono::seconds(options.token_ttl_seconds),
        std::chrono::duration_cast<std::chrono::seconds>(registry::TimePoint::max() - now));
    tokens[token] = token_expiry.emplace(now + ttl, token);
    return HttpResponse::Json("{\"accessToken\":" + Quote(token) +
                              ",\"tokenTtl\":" + std::to_string(options.token_ttl_seconds) +
                              ",\"globalAdmin\":true,\"username\":" + Quote(options.username) +
                              "}");
  }

  // --- Parameters --------------------------------------------------------------------------------
  static std::string Namespace(const HttpRequest& r) {
    return r.ParamOr("namespaceId", kDefaultNamespace);
  }
  // The v1 service-name filter: bare name + groupName -> group@@name. Empty when absent, so that
  // the store answers "Param 'serviceName' is required.".
  static std::string ServiceName(const HttpRequest& r) {
    std::optional<std::string> name = r.Param("serviceName");
    if (!name) return {};
    return GroupedServiceName(*name, r.ParamOr("groupName", ""));
  }
  static std::string Cluster(const HttpRequest& r, bool accept_legacy_name) {
    std::optional<std::string> cluster = r.Param("clusterName");
    if (!cluster && accept_legacy_name) cluster = r.Param("cluster");
    return cluster ? *cluster : std::string(kDefaultCluster);
  }
  static Status Port(const HttpRequest& r, int* port) {
    std::optional<std::string> text = r.Param("port");
    if (!text) return registry::InvalidArgumentError("Param 'port' is required.");
    Result<int> value = ParseJavaInt(*text);
    if (!value.ok()) return value.status();
    *port = *value;
    return Status::Ok();
  }

  // In the order of 1.4.x InstanceController.register/update: serviceName (required, format), ip,
  // port, weight, metadata; the store then validates (ip format, weight range, ...).
  // *reason: what a refusal is counted under.
  static Status ParseSpec(const HttpRequest& r, InstanceSpec* spec, RejectReason* reason) {
    spec->namespace_id = Namespace(r);
    spec->service_name = ServiceName(r);
    if (spec->service_name.empty()) {
      return registry::InvalidArgumentError("Param 'serviceName' is required.");
    }
    DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(spec->service_name));
    spec->cluster_name = Cluster(r, true);
    spec->ip = r.ParamOr("ip", "");
    if (spec->ip.empty()) return registry::InvalidArgumentError("Param 'ip' is required.");
    DUBBO_RETURN_IF_ERROR(Port(r, &spec->port));
    if (std::optional<std::string> weight = r.Param("weight")) {
      Result<double> value = ParseJavaDouble(*weight);
      if (!value.ok()) return value.status();
      spec->weight = *value;
    }
    std::optional<std::string> enabled = r.Param("enabled");
    if (!enabled) enabled = r.Param("enable");
    spec->enabled = LenientBool(enabled, true);
    spec->healthy = LenientBool(r.Param("healthy"), true);
    if (std::optional<std::string> ephemeral = r.Param("ephemeral")) {
      spec->ephemeral = LenientBool(ephemeral, true);
    }
    Result<Metadata> metadata = ParseMetadata(r.ParamOr("metadata", ""), reason);
    if (!metadata.ok()) return metadata.status();
    spec->metadata = std::move(*metadata);
    spec->app = r.ParamOr("app", "");
    return Status::Ok();
  }

  Status ParseKey(const HttpRequest& r, bool accept_legacy_cluster, InstanceKey* key) {
    key->namespace_id = Namespace(r);
    key->service_name = ServiceName(r);
    key->cluster_name = Cluster(r, accept_legacy_cluster);
    key->ip = r.ParamOr("ip", "");
    if (!key->service_name.empty() && !key->ip.empty()) DUBBO_RETURN_IF_ERROR(Port(r, &key->port));
    if (std::optional<std::string> ephemeral = r.Param("ephemeral")) {
      key->ephemeral = LenientBool(ephemeral, true);
    }
    return Status::Ok();
  }

  // --- Endpoints (REQUIRES: mu held) ----------------------------------------------------------
  HttpResponse Register(const HttpRequest& r) {
    InstanceSpec spec;
    RejectReason reason = RejectReason::kInvalidParameter;
    Status status = ParseSpec(r, &spec, &reason);
    if (status.ok()) status = store.Register(spec, &reason);
    return status.ok() ? Ok() : Refused(status, reason);
  }

  HttpResponse Update(const HttpRequest& r) {
    InstanceSpec spec;
    RejectReason reason = RejectReason::kInvalidParameter;
    Status status = ParseSpec(r, &spec, &reason);
    if (status.ok()) {
      status = store.Update(spec, IsJavaClientAtLeast(r.user_agent, "1.0.0"), &reason);
    }
    return status.ok() ? Ok() : Refused(status, reason);
  }

  HttpResponse Patch(const HttpRequest& r) {
    InstanceKey key;
    Status status = ParseKey(r, true, &key);
    if (!status.ok()) return FromStatus(status);
    if (key.service_name.empty()) return HttpResponse::Text(400, "Param 'serviceName' is required.");
    if (key.ip.empty()) return HttpResponse::Text(400, "Param 'ip' is required.");
    InstancePatch patch;
    RejectReason reason = RejectReason::kInvalidParameter;
    if (std::optional<std::string> metadata = r.Param("metadata")) {
      Result<Metadata> parsed = ParseMetadata(*metadata, &reason);
      if (!parsed.ok()) return Refused(parsed.status(), reason);
      patch.metadata = std::move(*parsed);
    }
    if (std::optional<std::string> app = r.Param("app")) patch.app = *app;
    if (std::optional<std::string> weight = r.Param("weight")) {
      Result<double> value = ParseJavaDouble(*weight);
      if (!value.ok()) return FromStatus(value.status());
      patch.weight = *value;
    }
    if (std::optional<std::string> healthy = r.Param("healthy"))
      patch.healthy = LenientBool(healthy, true);
    if (std::optional<std::string> enabled = r.Param("enabled"))
      patch.enabled = LenientBool(enabled, true);
    status = store.Patch(key, patch, &reason);
    return status.ok() ? Ok() : Refused(status, reason);
  }

  HttpResponse Deregister(const HttpRequest& r) {
    InstanceKey key;
    Status status = ParseKey(r, true, &key);
    if (status.ok()) status = store.Deregister(key);
    return status.ok() ? Ok() : FromStatus(status);
  }

  HttpResponse Detail(const HttpRequest& r) {
    InstanceKey key;
    Status status = ParseKey(r, false, &key);  // GET /instance reads clusterName only.
    if (!status.ok()) return FromStatus(status);
    if (key.service_name.empty()) return HttpResponse::Text(400, "Param 'serviceName' is required.");
    if (key.ip.empty()) return HttpResponse::Text(400, "Param 'ip' is required.");
    Result<Instance> instance = store.GetInstance(key);
    if (!instance.ok()) return FromStatus(instance.status());
    return HttpResponse::Json(RenderInstanceDetail(*instance));
  }

  HttpResponse Beat(const HttpRequest& r) {
    BeatRequest request;
    request.namespace_id = Namespace(r);
    request.service_name = ServiceName(r);
    request.cluster_name = Cluster(r, false);
    request.ip = r.ParamOr("ip", "");
    if (std::optional<std::string> port = r.Param("port")) {
      Result<int> value = ParseJavaInt(*port);
      if (!value.ok()) return FromStatus(value.status());
      request.port = *value;
    }
    RejectReason reason = RejectReason::kInvalidParameter;
    if (std::optional<std::string> beat = r.Param("beat")) {
      Result<BeatInfo> info = ParseBeatInfo(*beat, &reason);
      if (!info.ok()) return Refused(info.status(), reason);
      request.beat = std::move(*info);
    }
    Result<BeatResult> result = store.Beat(request, &reason);
    if (!result.ok()) return Refused(result.status(), reason);
    return HttpResponse::Json(RenderBeatResult(*result));
  }

  // 413 for a rendered list answer over max_answer_bytes: the store's estimate leaves out JSON
  // escapes and the echoed `clusters` and `env`.
  std::optional<HttpResponse> RenderedTooLarge(const std::string& body,
                                               const std::string& service) const {
    if (body.size() <= options.max_answer_bytes) return std::nullopt;
    metrics->Reject(RejectReason::kAnswerTooLarge);
    return AnswerTooLarge("list answer of " + service, "", body.size(), options.max_answer_bytes);
  }

  // REQUIRES: `lock` holds mu; it is released while the answer is rendered and held again on
  // return.
  HttpResponse List(const HttpRequest& r, std::unique_lock<std::mutex>& lock) {
    if (LenientBool(r.Param("isCheck"), false)) return HttpResponse::Json("{}");  // 1.4.x quirk.
    ListQuery query;
    query.namespace_id = Namespace(r);
    query.service_name = ServiceName(r);
    query.clusters = r.ParamOr("clusters", "");
    query.healthy_only = LenientBool(r.Param("healthyOnly"), false);
    // An existing service is answered from the rendered answers; an unknown one (or an invalid
    // name) here.
    const uint64_t revision = store.Revision(query.namespace_id, query.service_name);
    std::optional<ServiceSnapshot> uncached;
    if (revision == 0) {
      Result<ServiceSnapshot> snapshot = store.List(query);
      if (!snapshot.ok()) return FromStatus(snapshot.status());
      uncached = std::move(*snapshot);
    }

    ListRenderOptions render;
    render.cache_millis = kDefaultCacheMillis;
    render.grouped_names = WantsGroupedNames(r.user_agent);
    render.env = r.ParamOr("env", "");
    int udp_port = 0;
    if (std::optional<std::string> text = r.Param("udpPort")) {
      Result<int> value = ParseJavaInt(*text);
      if (!value.ok()) return FromStatus(value.status());
      udp_port = *value;
    }
    if (udp_port > 0 && udp_port <= 65535 && IsPushCapable(r.user_agent) && push != nullptr) {
      UdpEndpoint endpoint;
      endpoint.ip = options.trust_client_ip ? r.ParamOr("clientIP", r.peer_ip) : r.peer_ip;
      endpoint.port = static_cast<uint16_t>(udp_port);
      Status subscribed =
          push->Subscribe(query.namespace_id, query.service_name, query.clusters, endpoint, r.user_agent);
      if (subscribed.ok()) {
        render.cache_millis = kPushCacheMillis;
      } else {
        DUBBO_LOG(INFO) << "push subscription of " << endpoint.ToString() << " refused: " << subscribed;
      }
    }
    // After Subscribe(): its first push may render (and cache) the same answer.
    if (uncached) {
      std::string body = RenderInstanceList(*uncached, render);
      if (std::optional<HttpResponse> refused = RenderedTooLarge(body, query.service_name)) {
        return *refused;
      }
      return HttpResponse::Json(std::move(body));
    }
    std::shared_ptr<const std::string> body = AnswerList(query, revision, render, &lock);
    if (body == nullptr) return HttpResponse::Text(500, "service vanished");  // Cannot happen.
    if (std::optional<HttpResponse> refused = RenderedTooLarge(*body, query.service_name)) {
      return *refused;
    }
    return HttpResponse::SharedJson(std::move(body));
  }

  // REQUIRES: `lock` holds mu; it is released while the answer is rendered and held again on
  // return.
  HttpResponse ServiceList(const HttpRequest& r, std::unique_lock<std::mutex>& lock) {
    std::optional<std::string> page_no = r.Param("pageNo");
    if (!page_no) return HttpResponse::Text(400, "Param 'pageNo' is required.");
    std::optional<std::string> page_size = r.Param("pageSize");
    if (!page_size) return HttpResponse::Text(400, "Param 'pageSize' is required.");
    Result<int> no = ParseJavaInt(*page_no);
    if (!no.ok()) return FromStatus(no.status());
    Result<int> size = ParseJavaInt(*page_size);
    if (!size.ok()) return FromStatus(size.status());
    // The answer takes at least its names plus 3 bytes each (quotes, comma) plus 19 (the rest of
    // {"doms":[],"count":N} less the last comma): a page over the cap by that count is refused
    // before its names are copied.
    constexpr size_t kFramingBytes = 19;
    if (options.max_answer_bytes < kFramingBytes) {
      metrics->Reject(RejectReason::kAnswerTooLarge);
      return AnswerTooLarge("service list answer", "at least ", kFramingBytes,
                            options.max_answer_bytes);
    }
    ServiceListPage page = store.ListServices(Namespace(r), r.ParamOr("groupName", kDefaultGroup),
                                              *no, *size, options.max_answer_bytes - kFramingBytes);
    if (page.too_large) {
      metrics->Reject(RejectReason::kAnswerTooLarge);
      return AnswerTooLarge("service list answer", "at least ", page.min_bytes + kFramingBytes,
                            options.max_answer_bytes);
    }
    lock.unlock();
    std::string body = RenderServiceList(page);
    page = ServiceListPage();
    lock.lock();
    if (body.size() > options.max_answer_bytes) {
      metrics->Reject(RejectReason::kAnswerTooLarge);
      return AnswerTooLarge("service list answer", "", body.size(), options.max_answer_bytes);
    }
    return HttpResponse::Json(std::move(body));
  }

  HttpResponse Service(const HttpRequest& r) {
    const std::string ns = Namespace(r);
    const std::string name = ServiceName(r);
    if (r.method == "GET") {
      if (name.empty()) return HttpResponse::Text(400, "Param 'serviceName' is required.");
      Result<ServiceInfo> info = store.GetService(ns, name);
      if (!info.ok()) return FromStatus(info.status());
      std::string body = RenderServiceDetail(*info);
      if (body.size() > options.max_answer_bytes) {
        metrics->Reject(RejectReason::kAnswerTooLarge);
        return AnswerTooLarge("service answer of " + name, "", body.size(),
                              options.max_answer_bytes);
      }
      return HttpResponse::Json(std::move(body));
    }
    if (r.method == "DELETE") {
      if (name.empty()) return HttpResponse::Text(400, "Param 'serviceName' is required.");
      Status status = store.DeleteService(ns, name);
      return status.ok() ? Ok() : FromStatus(status);
    }
    ServiceSpec spec;
    spec.namespace_id = ns;
    spec.service_name = name;
    if (std::optional<std::string> threshold = r.Param("protectThreshold")) {
      Result<double> value = ParseJavaDouble(*threshold);
      if (!value.ok()) return FromStatus(value.status());
      spec.protect_threshold = *value;
    }
    RejectReason reason = RejectReason::kInvalidParameter;
    Result<Metadata> metadata = ParseMetadata(r.ParamOr("metadata", ""), &reason);
    if (!metadata.ok()) return Refused(metadata.status(), reason);
    spec.metadata = std::move(*metadata);
    Status status = r.method == "POST" ? store.CreateService(spec, &reason)
                                       : store.UpdateService(spec, &reason);
    return status.ok() ? Ok() : Refused(status, reason);
  }

  HttpResponse Metrics() const {
    MetricsView view;
    view.service_count = store.ServiceCount();
    view.instance_count = store.InstanceCount();
    return HttpResponse::Json(RenderMetrics(view));
  }

  HttpResponse PushState() const {
    const PushStats stats = push != nullptr ? push->stats() : PushStats();
    const double ratio =
        stats.pushes_sent == 0 ? 0.0 : static_cast<double>(stats.acks_matched) / stats.pushes_sent;
    const int64_t avg_ms =
        stats.acks_matched == 0
            ? 0
            : std::chrono::duration_cast<milliseconds>(stats.ack_latency_total).count() /
                  static_cast<int64_t>(stats.acks_matched);
    return HttpResponse::Json("{\"succeed\":" + std::to_string(stats.acks_matched) +
                              ",\"total\":" + std::to_string(stats.pushes_sent) +
                              ",\"ratio\":" + JavaDoubleToString(ratio) +
                              ",\"avgPushCost\":" + std::to_string(avg_ms) +
                              ",\"subscribers\":" + std::to_string(stats.subscribers) +
                              ",\"failed\":[]}");
  }

  HttpResponse Switches() const {
    auto b = [](bool v) { return v ? "true" : "false"; };
    return HttpResponse::Json(
        std::string("{\"name\":\"00-00---000-NACOS_SWITCH_DOMAIN-000---00-00\"") +
        ",\"defaultPushCacheMillis\":" + std::to_string(kPushCacheMillis) +
        ",\"clientBeatInterval\":" + std::to_string(options.client_beat_interval_ms) +
        ",\"defaultCacheMillis\":" + std::to_string(kDefaultCacheMillis) +
        ",\"pushEnabled\":true,\"lightBeatEnabled\":" + b(options.light_beat_enabled) +
        ",\"healthCheckEnabled\":true,\"defaultInstanceEphemeral\":true" +
        ",\"pushJavaVersion\":\"0.1.0\",\"pushGoVersion\":\"0.1.0\",\"pushCVersion\":\"1.0.12\"" +
        ",\"pushCSharpVersion\":\"0.9.0\",\"authEnabled\":" + b(options.auth_enabled) + "}");
  }

  // REQUIRES: `lock` holds mu; held again on return.
  HttpResponse Route(const HttpRequest& r, std::string_view path,
                     std::unique_lock<std::mutex>& lock) {
    const std::string& m = r.method;
    if (path == "/v1/ns/instance") {
      if (m == "POST") return Register(r);
      if (m == "DELETE") return Deregister(r);
      if (m == "PUT") return Update(r);
      if (m == "PATCH") return Patch(r);
      if (m == "GET") return Detail(r);
    } else if (path == "/v1/ns/instance/beat") {
      if (m == "PUT") return Beat(r);
    } else if (path == "/v1/ns/instance/list") {
      if (m == "GET") return List(r, lock);
    } else if (path == "/v1/ns/service") {
      if (m == "GET" || m == "POST" || m == "PUT" || m == "DELETE") return Service(r);
    } else if (path == "/v1/ns/service/list") {
      if (m == "GET") return ServiceList(r, lock);
    } else if (path == "/v1/ns/operator/metrics" || path == "/v1/ns/ops/metrics") {
      if (m == "GET") return Metrics();
    } else if (path == "/v1/ns/operator/switches" || path == "/v1/ns/ops/switches") {
      if (m == "GET") return Switches();
      if (m == "PUT") {
        return HttpResponse::Text(400, "switches are read-only on this server; use its flags");
      }
    } else if (path == "/v1/ns/operator/push/state" || path == "/v1/ns/ops/push/state") {
      if (m == "GET") return PushState();
    }
    if (path.rfind("/v1/ns/", 0) == 0) {
      return HttpResponse::Text(501, "no such api:" + m + ":" + options.context_path + std::string(path));
    }
    return HttpResponse::Text(404, "not found: " + std::string(path));
  }
};

namespace {

// NamingCore's GrpcHandler: each call takes the core's mutex and forwards to GrpcNaming. After
// Shutdown() unary requests get ErrorResponse 300, as Nacos answers while it is not serving. A
// request that changed the persistent data is answered once `save` (when set: a data directory is
// in use) has written it, else with resultCode 500.
class GrpcAdapter final : public GrpcHandler {
 public:
  // Saves the persistent data; REQUIRES: the lock holds mu, released on return.
  using Save = std::function<Status(std::unique_lock<std::mutex>& lock)>;
  GrpcAdapter(std::mutex* mu, std::unique_ptr<GrpcNaming>* grpc, const InstanceStore* store,
              Save save)
      : mu_(mu), grpc_(grpc), store_(store), save_(std::move(save)) {}
  void OnConnect(GrpcConnId conn, const std::string& peer_ip, uint16_t peer_port) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (*grpc_ != nullptr) (*grpc_)->OnConnect(conn, peer_ip, peer_port);
  }
  GrpcMessage OnUnary(GrpcConnId conn, const GrpcMessage& request) override {
    std::unique_lock<std::mutex> lock(*mu_);
    if (*grpc_ == nullptr) {
      return GrpcFailure("ErrorResponse", 500, 300, "Server is starting,please try later.");
    }
    const uint64_t revision = store_->PersistentRevision();
    GrpcMessage answer = (*grpc_)->OnUnary(conn, request);
    if (save_ && store_->PersistentRevision() != revision) {
      if (const Status saved = save_(lock); !saved.ok()) {
        answer.body = GrpcFailure(answer.type, 500, 500,
                                  "the change is made but not saved to the data directory: " +
                                      std::string(saved.message()))
                          .body;
      }
    }
    return answer;
  }
  void OnStreamMessage(GrpcConnId conn, const GrpcMessage& message) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (*grpc_ != nullptr) (*grpc_)->OnStreamMessage(conn, message);
  }
  void OnDisconnect(GrpcConnId conn) override {
    std::lock_guard<std::mutex> lock(*mu_);
    if (*grpc_ != nullptr) (*grpc_)->OnDisconnect(conn);
  }

 private:
  std::mutex* const mu_;
  std::unique_ptr<GrpcNaming>* const grpc_;
  const InstanceStore* const store_;
  const Save save_;
};

}  // namespace

NamingCore::NamingCore(const NamingServerOptions& options, registry::Clock* clock,
                       registry::Scheduler* scheduler, UdpSender* sender, ServerMetrics* metrics)
    : state_(std::make_unique<State>(options, clock, scheduler, sender, metrics)) {
  State* s = state_.get();
  PushServiceOptions push_options;
  push_options.scheduler = scheduler;
  push_options.clock = clock;
  push_options.sender = sender;
  push_options.push_delay = milliseconds(options.push_delay_ms);
  push_options.ack_timeout = milliseconds(options.push_ack_timeout_ms);
  push_options.subscriber_ttl = milliseconds(options.subscriber_ttl_ms);
  push_options.data_provider = [s](const std::string& ns, const std::string& service,
                                   const std::string& clusters, PushStyle style) {
    return s->RenderForPush(ns, service, clusters, style);
  };
  push_options.style_of = [](std::string_view agent) {
    return WantsGroupedNames(agent) ? kGroupedNamesStyle : kUngroupedNamesStyle;
  };
  push_options.run_serialized = [s](std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(s->mu);
    fn();
  };
  if (!options.data_dir.empty()) s->data_file = std::make_unique<DataFile>(options.data_dir);
  Result<std::unique_ptr<PushService>> push = PushService::Create(std::move(push_options));
  if (push.ok()) {
    s->push = std::move(*push);
  } else {
    DUBBO_LOG(ERROR) << "UDP push disabled: " << push.status();
  }
  GrpcNamingOptions grpc_options;
  grpc_options.scheduler = scheduler;
  grpc_options.clock = clock;
  grpc_options.store = &s->store;
  if (options.auth_enabled) {
    grpc_options.check_token = [s](std::string_view token) { return s->CheckToken(token); };
  }
  grpc_options.run_serialized = [s](std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(s->mu);
    fn();
  };
  grpc_options.push_delay = milliseconds(options.push_delay_ms);
  grpc_options.ack_timeout = milliseconds(options.grpc_ack_timeout_ms);
  grpc_options.resend_delay = milliseconds(options.grpc_resend_delay_ms);
  grpc_options.detection_idle = milliseconds(options.grpc_detection_idle_ms);
  grpc_options.detection_timeout = milliseconds(options.grpc_detection_timeout_ms);
  grpc_options.ejector_period = milliseconds(options.grpc_ejector_period_ms);
  grpc_options.max_service_name_length = options.max_service_name_length;
  grpc_options.max_metadata_bytes = options.max_metadata_bytes;
  grpc_options.max_batch_instances = options.max_instances_per_service;
  grpc_options.max_subscriptions_per_connection = options.grpc_max_subscriptions_per_connection;
  grpc_options.max_subscriptions = options.grpc_max_subscriptions;
  grpc_options.max_message_bytes = options.grpc_max_message_bytes;
  Result<std::unique_ptr<GrpcNaming>> grpc = GrpcNaming::Create(std::move(grpc_options));
  if (grpc.ok()) {
    s->grpc = std::move(*grpc);
  } else {
    DUBBO_LOG(ERROR) << "gRPC disabled: " << grpc.status();
  }
  GrpcAdapter::Save save;
  if (s->data_file != nullptr) {
    save = [s](std::unique_lock<std::mutex>& lock) { return s->SaveSnapshot(lock); };
  }
  s->grpc_adapter = std::make_unique<GrpcAdapter>(&s->mu, &s->grpc, &s->store, std::move(save));
  std::lock_guard<std::mutex> lock(s->mu);
  s->store.SetChangeHook([s](const std::string& ns, const std::string& service) {
    if (s->push != nullptr) s->push->ServiceChanged(ns, service);
    if (s->grpc != nullptr) s->grpc->ServiceChanged(ns, service);
  });
  s->ScheduleHealthCheck();
}

NamingCore::~NamingCore() { Shutdown(); }

void NamingCore::Shutdown() {
  state_->RetryDataSave();  // A last try when the data file is behind.
  registry::TaskId task;
  std::unique_ptr<PushService> push;
  std::unique_ptr<GrpcNaming> grpc;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->shut_down) return;
    state_->shut_down = true;
    task = std::exchange(state_->health_task, registry::kInvalidTaskId);
    state_->store.SetChangeHook(nullptr);
    if (state_->grpc != nullptr) state_->grpc->Shutdown();
  }
  // Outside the lock: Cancel() waits for a running timer, which needs the lock; the destructors
  // of PushService and GrpcNaming enter the serialisation themselves.
  state_->scheduler->Cancel(task);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    push = std::move(state_->push);
    grpc = std::move(state_->grpc);
  }
  push.reset();
  grpc.reset();
}

GrpcHandler* NamingCore::grpc_handler() { return state_->grpc_adapter.get(); }

void NamingCore::SetGrpcSink(GrpcSink* sink) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->grpc != nullptr) state_->grpc->SetSink(sink);
}

GrpcNamingStats NamingCore::grpc_stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->grpc != nullptr ? state_->grpc->stats() : GrpcNamingStats();
}

HttpResponse NamingCore::Handle(const HttpRequest& request) {
  const std::string& prefix = state_->options.context_path;
  std::string_view path = request.path;
  if (prefix != "/") {
    if (path.substr(0, prefix.size()) != prefix ||
        (path.size() > prefix.size() && path[prefix.size()] != '/')) {
      return HttpResponse::Text(404, "not found: " + request.path);
    }
    path.remove_prefix(prefix.size());
  }
  if (request.method == "HEAD") {  // Answered as a GET; the copy is paid only here.
    HttpRequest as_get = request;
    as_get.method = "GET";
    return Handle(as_get);
  }
  const HttpRequest& routed = request;
  if (path == "/actuator/prometheus" && routed.method == "GET") return Prometheus();
  if (std::optional<HttpResponse> refused = state_->CheckParams(routed)) return *refused;

  std::unique_lock<std::mutex> lock(state_->mu);
  if (path == "/v1/auth/users/login" || path == "/v1/auth/login") {
    if (routed.method == "POST") return state_->Login(routed);
    return HttpResponse::Text(405, "login needs POST");
  }
  if (path == "/v1/console/health/liveness" || path == "/v1/console/health/readiness") {
    return HttpResponse::Text(200, "OK");
  }
  if (std::optional<HttpResponse> denied = state_->CheckAuth(routed)) return *denied;
  // Only writes can change the persistent data (a GET may release the lock while it renders).
  const bool may_save = state_->data_file != nullptr && routed.method != "GET";
  const uint64_t persistent_revision = state_->store.PersistentRevision();
  HttpResponse response = state_->Route(routed, path, lock);
  if (response.status == 400) state_->metrics->Reject(response.reject_reason);
  if (may_save && state_->store.PersistentRevision() != persistent_revision) {
    return state_->SaveData(std::move(response), lock);
  }
  return response;
}

Status NamingCore::LoadData() {
  State* s = state_.get();
  if (s->data_file == nullptr) return Status::Ok();
  DataLimits limits;
  limits.max_services = s->options.max_total_services;
  limits.max_instances = s->options.max_total_instances;
  Result<std::vector<PersistentService>> data = s->data_file->Load(limits);
  if (!data.ok()) return data.status();
  std::lock_guard<std::mutex> lock(s->mu);
  for (const PersistentService& service : *data) {
    if (Status restored = s->RestoreService(service); !restored.ok()) {
      return registry::FailedPreconditionError(
          s->data_file->path() + " (left as it is): service " + service.service_name +
          " of namespace " + service.namespace_id + ": " + std::string(restored.message()));
    }
  }
  return Status::Ok();
}

HttpResponse NamingCore::Prometheus() const {
  StoreFigures store;
  PushStats push;
  GrpcNamingStats grpc;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    store.services = state_->store.ServiceCount();
    store.instances = state_->store.InstanceCount();
    store.bytes_held = state_->store.BytesHeld();
    if (state_->push != nullptr) push = state_->push->stats();
    if (state_->grpc != nullptr) grpc = state_->grpc->stats();
  }
  HttpResponse response;
  response.content_type = kPrometheusContentType;
  response.body = RenderPrometheus(store, push, *state_->metrics, grpc);
  return response;
}

void NamingCore::OnDatagram(const UdpEndpoint& from, std::string_view bytes) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->push != nullptr && !state_->shut_down) state_->push->OnDatagram(from, bytes);
}

void NamingCore::CheckHealth() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->shut_down) {  // No steps (they stop at shut-down), but an explicit check works.
      state_->store.CheckHealth();
      return;
    }
  }
  state_->SweepInSteps();
}

NamingServer::Stats NamingCore::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  NamingServer::Stats stats;
  stats.services = state_->store.ServiceCount();
  stats.instances = state_->store.InstanceCount();
  stats.bytes_held = state_->store.BytesHeld();
  if (state_->push != nullptr) {
    const PushStats push = state_->push->stats();
    stats.subscribers = push.subscribers;
    stats.pushes = push.pushes_sent;
    stats.acks = push.acks_matched;
    stats.pushes_oversize_skipped = push.oversize_skipped;
  }
  return stats;
}

ServerMetrics& NamingCore::metrics() const { return *state_->metrics; }

}  // namespace dubbo::naming_server
