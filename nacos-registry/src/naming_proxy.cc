// NamingProxy. See naming_proxy.h.
#include "naming_proxy.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>

#include "dubbo/registry/url.h"
#include "internal/logging.h"
#include "server_json.h"

namespace dubbo::registry::nacos {

namespace {

constexpr Duration kLoginRetryInterval = std::chrono::seconds(5);
constexpr std::string_view kLoginPath = "/v1/auth/users/login";
// A token is sent in every request's query string; real ones (JWTs) are a few hundred bytes.
constexpr size_t kMaxTokenBytes = 4096;

// "8f1c...-..." random enough to tell requests apart in server logs (RequestId header).
std::string NewRequestId(std::mt19937_64& rng) {
  const uint64_t a = rng();
  const uint64_t b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// The canonical text of an IP literal (IPv4-mapped IPv6 as plain IPv4), or "" if `text` is none.
std::string CanonicalIp(std::string_view text) {
  std::string s(text);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  char out[INET6_ADDRSTRLEN];
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    return inet_ntop(AF_INET, &v4, out, sizeof(out)) ? out : "";
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) != 1) return "";
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    std::memcpy(&v4, &v6.s6_addr[12], 4);
    return inet_ntop(AF_INET, &v4, out, sizeof(out)) ? out : "";
  }
  return inet_ntop(AF_INET6, &v6, out, sizeof(out)) ? out : "";
}

// The host of a server entry ("h:p", "[v6]:p", "http(s)://h:p/path").
std::string_view HostOf(std::string_view server) {
  const size_t scheme = server.find("://");
  if (scheme != std::string_view::npos) server.remove_prefix(scheme + 3);
  server = server.substr(0, server.find('/'));
  if (!server.empty() && server.front() == '[') {
    const size_t close = server.find(']');
    return close == std::string_view::npos ? server : server.substr(1, close - 1);
  }
  return server.substr(0, server.rfind(':'));
}

// "http://" + server unless it names its scheme.
std::string BaseUrl(const std::string& server) {
  if (server.rfind("http://", 0) == 0 || server.rfind("https://", 0) == 0) return server;
  return "http://" + server;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                     [](char a, char b) {
                       return std::tolower(static_cast<unsigned char>(a)) ==
                              std::tolower(static_cast<unsigned char>(b));
                     }) != haystack.end();
}

std::string JoinServers(const std::vector<std::string>& servers) {
  std::string out = "[";
  for (size_t i = 0; i < servers.size(); ++i) {
    if (i) out += ", ";
    out += servers[i];
  }
  return out + "]";
}

}  // namespace

std::string EncodeParams(const Params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += '&';
    out += URL::Encode(name);
    out += '=';
    out += URL::Encode(value);
  }
  return out;
}

Status StatusForHttp(int http_status, std::string_view body) {
  std::string message = "HTTP " + std::to_string(http_status);
  if (!body.empty()) {
    message += ": ";
    message += body.substr(0, 512);
  }
  switch (http_status) {
    case 400:
      return InvalidArgumentError(message);
    case 403:
      return PermissionDeniedError(message);
    case 404:
      return NotFoundError(message);
    case 413:  // an answer over the server's size cap: the same on every server, and for a while
    case 429:  // the server throttles this address
      return ResourceExhaustedError(message);
    default:
      return UnavailableError(message);
  }
}

namespace {

// Bad answers to user-initiated requests; the caller gets the Status too.
void LogBadAnswer(const Status& status) {
  static internal::LogRateLimiter limiter(std::chrono::seconds(10));
  uint64_t held_back = 0;
  if (!limiter.Allow(std::chrono::steady_clock::now(), &held_back)) return;
  DUBBO_LOG(WARNING) << "nacos: " << status << internal::HeldBackNote(held_back);
}

}  // namespace

Result<ServiceList> ParseServiceListAnswer(std::string_view body) {
  constexpr std::string_view kWhat = "service list answer";
  const auto bad = [](std::string message) {
    Status status = UnavailableError(std::move(message));
    LogBadAnswer(status);
    return status;
  };
  Result<JsonAnswer> doc = JsonAnswer::Parse(body, kMaxListAnswerBytes, kWhat);
  if (!doc.ok()) return bad(std::string(doc.status().message()));
  ServiceList list;
  if (const JsonAnswer::Value* doms = doc->Find("doms");
      doms != nullptr && doms->kind != JsonKind::kNull) {
    if (doms->kind != JsonKind::kArray) return bad(std::string(kWhat) + ": 'doms' is not an array");
    for (const JsonAnswer::Value& name : doms->items) {
      if (name.kind == JsonKind::kString && IsValidUtf8(name.text)) list.names.push_back(name.text);
    }
  }
  const JsonAnswer::Value* count = doc->Find("count");
  if (count == nullptr || count->kind == JsonKind::kNull) {
    list.count = static_cast<int64_t>(list.names.size());
  } else {
    std::optional<int64_t> value = doc->Int64("count");
    if (!value || *value < 0) return bad(std::string(kWhat) + ": 'count' is not an integer >= 0");
    list.count = *value;
  }
  return list;
}

bool IsServerUpAnswer(std::string_view body) {
  Result<JsonAnswer> doc = JsonAnswer::Parse(body, kMaxSmallAnswerBytes, "metrics answer");
  if (!doc.ok()) {
    LogBadAnswer(doc.status());
    return false;
  }
  return doc->String("status") == "UP";
}

struct NamingProxy::CallState {
  NamingRequest request;
  Done done;
  size_t start = 0;
  size_t tries = 0;
  size_t attempt = 0;
  bool begun = false;
  std::vector<std::string> servers;  // The list when the call began.
  Status last_error;
  // A recovery probe: its 200 is an answer only when the body says the server is UP.
  bool probe = false;
};

NamingProxy::NamingProxy(const NacosOptions& options, HttpTransport* http, Scheduler* loop,
                         uint64_t seed)
    : options_(options), http_(http), loop_(loop), rng_(seed) {
  if (options_.endpoint.empty()) {
    SetServers(options_.server_addresses);
    have_server_list_ = true;
  }
}

NamingProxy::~NamingProxy() = default;

void NamingProxy::Start() {
  if (started_ || stopped_) return;
  started_ = true;
  if (!options_.endpoint.empty()) RefreshEndpoint();
  if (!options_.username.empty() && have_server_list_) Login();
}

void NamingProxy::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (login_timer_ != kInvalidTaskId) loop_->Cancel(login_timer_);
  if (endpoint_timer_ != kInvalidTaskId) loop_->Cancel(endpoint_timer_);
  if (probe_timer_ != kInvalidTaskId) loop_->Cancel(probe_timer_);
  login_timer_ = endpoint_timer_ = probe_timer_ = kInvalidTaskId;
  ReleaseWaiting();
}

void NamingProxy::SetServers(std::vector<std::string> servers) {
  servers_ = std::move(servers);
  for (const std::string& server : servers_) {
    std::string ip = CanonicalIp(HostOf(server));
    if (!ip.empty()) server_ips_.insert(std::move(ip));
  }
}

void NamingProxy::SetServersForTest(std::vector<std::string> servers) {
  SetServers(std::move(servers));
  have_server_list_ = true;
}

bool NamingProxy::IsServerIp(std::string_view ip) const {
  const std::string canonical = CanonicalIp(ip);
  return !canonical.empty() && server_ips_.count(canonical) > 0;
}

bool NamingProxy::NeedsLogin() const {
  if (options_.username.empty() || !token_.empty()) return false;
  return !login_attempted_ || loop_->clock()->Now() - last_login_attempt_ >= kLoginRetryInterval;
}

void NamingProxy::RefreshLogin() {
  if (stopped_ || !have_server_list_ || options_.username.empty() || login_in_flight_) return;
  if (login_attempted_ && loop_->clock()->Now() - last_login_attempt_ < kLoginRetryInterval) return;
  Login();
}

void NamingProxy::Call(NamingRequest request, Done done) {
  auto call = std::make_shared<CallState>();
  call->request = std::move(request);
  call->done = std::move(done);
  Begin(std::move(call));
}

void NamingProxy::Begin(std::shared_ptr<CallState> call) {
  if (stopped_) {
    call->done(CancelledError("naming client stopped"));
    return;
  }
  if (!have_server_list_ || login_in_flight_) {
    waiting_.push_back(std::move(call));
    return;
  }
  if (NeedsLogin()) {
    waiting_.push_back(std::move(call));
    Login();
    return;
  }
  Attempt(std::move(call));
}

void NamingProxy::ReleaseWaiting() {
  std::vector<std::shared_ptr<CallState>> waiting;
  waiting.swap(waiting_);
  for (auto& call : waiting) {
    if (stopped_) {
      call->done(CancelledError("naming client stopped"));
    } else if (call->begun) {
      Attempt(std::move(call));  // Resumes after a re-login.
    } else {
      Call(std::move(call->request), std::move(call->done));
    }
  }
}

HttpRequest NamingProxy::BuildHttp(const std::string& server, const NamingRequest& request,
                                   bool with_token) {
  Params params = request.params;
  bool has_namespace = false;
  for (const auto& p : params) has_namespace |= p.first == "namespaceId";
  if (!has_namespace && request.path != kLoginPath) {
    params.emplace_back("namespaceId", options_.namespace_id);
  }
  if (request.path != kLoginPath) params.emplace_back("app", options_.app_name);
  if (with_token && !token_.empty()) params.emplace_back("accessToken", token_);

  HttpRequest http;
  http.method = request.method;
  http.url = BaseUrl(server) + options_.context_path + request.path;
  const std::string query = EncodeParams(params);
  if (!query.empty()) http.url += "?" + query;
  http.body = EncodeParams(request.form);
  http.connect_timeout_ms = options_.connect_timeout_ms;
  http.timeout_ms = request.timeout_ms > 0 ? request.timeout_ms : options_.request_timeout_ms;
  http.headers = {
      {"Client-Version", std::string(kClientVersion)},
      {"User-Agent", std::string(kUserAgent)},
      {"Accept-Charset", "UTF-8"},
      {"Connection", "Keep-Alive"},
      {"RequestId", NewRequestId(rng_)},
      {"Request-Module", "Naming"},
      {"Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"},
  };
  return http;
}

void NamingProxy::Attempt(std::shared_ptr<CallState> call) {
  if (!call->begun) {
    call->begun = true;
    call->servers = servers_;
    if (call->servers.empty()) {
      call->done(UnavailableError("failed to req API:" + call->request.path + ": no server"));
      return;
    }
    const size_t n = call->servers.size();
    call->tries = n == 1 ? static_cast<size_t>(std::max(1, options_.max_retry)) : n;
    call->start = n == 1 ? 0 : static_cast<size_t>(rng_() % n);
  }
  const std::string& server = call->servers[(call->start + call->attempt) % call->servers.size()];
  HttpRequest http = BuildHttp(server, call->request, /*with_token=*/true);
  http_->Send(std::move(http), [this, call](HttpResponse response) mutable {
    OnAttemptDone(std::move(call), std::move(response));
  });
}

void NamingProxy::OnAttemptDone(std::shared_ptr<CallState> call, HttpResponse response) {
  if (!response.peer_ip.empty()) {
    std::string ip = CanonicalIp(response.peer_ip);
    if (!ip.empty()) server_ips_.insert(std::move(ip));
  }
  // A node that is starting or degraded answers the metrics probe 200 {"status":"DOWN"} while it
  // answers naming calls 503: such a probe answer is that server's failure, not a recovery.
  const bool answered =
      response.transport_error.ok() && (response.status == 200 || response.status == 304) &&
      (!call->probe || (response.status == 200 && IsServerUpAnswer(response.body)));
  if (answered) {
    const bool recovered = failing_;
    const TimePoint failing_since = failing_since_;  // `done` may start a call that fails.
    failing_ = false;
    call->done(response.status == 200 ? std::move(response.body) : std::string());
    if (recovered && recovery_hook_ && !stopped_) recovery_hook_(failing_since);
    return;
  }
  Status error = !response.transport_error.ok() ? response.transport_error
                 : (response.status == 200 || response.status == 304)
                     ? UnavailableError("server status is not UP")
                     : StatusForHttp(response.status, response.body);
  if (error.code() == StatusCode::kCancelled || stopped_) {
    call->done(error.code() == StatusCode::kCancelled ? error : CancelledError("stopped"));
    return;
  }
  const std::string& server = call->servers[(call->start + call->attempt) % call->servers.size()];
  DUBBO_LOG(DEBUG) << "nacos: " << call->request.method << " " << call->request.path << " on "
                   << server << " failed: " << error;
  call->last_error = std::move(error);
  bool relogin = false;
  if (response.status == 403 && !options_.username.empty() &&
      (ContainsIgnoreCase(response.body, "token expired") ||
       ContainsIgnoreCase(response.body, "token invalid"))) {
    token_.clear();
    login_attempted_ = false;  // Log in again before the next try.
    relogin = true;
  }
  if (++call->attempt >= call->tries) {
    const Status& last = call->last_error;
    if (!failing_ &&
        (last.code() == StatusCode::kUnavailable || last.code() == StatusCode::kDeadlineExceeded)) {
      failing_ = true;
      failing_since_ = loop_->clock()->Now();
      ScheduleProbe();
    }
    call->done(Status(last.code(), "failed to req API:" + options_.context_path +
                                       call->request.path + " after all servers" +
                                       JoinServers(call->servers) +
                                       " tried: " + std::string(last.message())));
    return;
  }
  if (relogin || login_in_flight_) {
    waiting_.push_back(std::move(call));
    if (!login_in_flight_) Login();
    return;
  }
  Attempt(std::move(call));
}

void NamingProxy::ScheduleProbe() {
  if (stopped_ || probe_interval_ <= Duration::zero() || probe_timer_ != kInvalidTaskId) return;
  probe_timer_ = loop_->ScheduleAfter(probe_interval_, [this] {
    probe_timer_ = kInvalidTaskId;
    if (stopped_ || !failing_) return;
    auto probe = std::make_shared<CallState>();
    probe->request.path = "/v1/ns/operator/metrics";
    probe->probe = true;
    probe->done = [this](Result<std::string>) {
      if (failing_) ScheduleProbe();
    };
    Begin(std::move(probe));
  });
}

// ---------------------------------------------------------------------------------------------
// Login.

void NamingProxy::Login() {
  if (login_in_flight_ || stopped_ || options_.username.empty()) return;
  login_attempted_ = true;
  last_login_attempt_ = loop_->clock()->Now();
  if (servers_.empty()) {
    FinishLogin(false);
    return;
  }
  login_in_flight_ = true;
  ++login_generation_;
  OnLoginDone(0, HttpResponse{});  // Starts with the first server.
}

// Tries server `index` (the previous try's `response` is ignored for index 0).
void NamingProxy::OnLoginDone(size_t index, HttpResponse response) {
  if (index > 0) {
    if (stopped_ || response.transport_error.code() == StatusCode::kCancelled) {
      login_in_flight_ = false;
      ReleaseWaiting();
      return;
    }
    const std::string& server = servers_[(index - 1) % servers_.size()];
    if (response.transport_error.ok() && response.status == 200) {
      Result<std::string> token = ReadLoginAnswer(response.body, server);
      if (token.ok()) {
        token_ = std::move(*token);
        FinishLogin(true);
        return;
      }
      LogWarning("login as '" + options_.username + "' on " + server +
                 " failed: " + token.status().ToString());
    } else {
      const Status error = response.transport_error.ok()
                               ? StatusForHttp(response.status, response.body)
                               : response.transport_error;
      LogWarning("login as '" + options_.username + "' on " + server +
                 " failed: " + error.ToString());
    }
  }
  if (index >= servers_.size()) {
    FinishLogin(false);
    return;
  }
  NamingRequest request;
  request.method = "POST";
  request.path = std::string(kLoginPath);
  request.params = {{"username", options_.username}};
  request.form = {{"password", options_.password}};
  HttpRequest http = BuildHttp(servers_[index], request, /*with_token=*/false);
  const uint64_t generation = login_generation_;
  http_->Send(std::move(http), [this, index, generation](HttpResponse r) {
    if (generation != login_generation_) return;
    OnLoginDone(index + 1, std::move(r));
  });
}

Result<std::string> NamingProxy::ReadLoginAnswer(std::string_view body, const std::string& server) {
  Result<JsonAnswer> doc = JsonAnswer::Parse(body, kMaxSmallAnswerBytes, "login answer");
  if (!doc.ok()) return doc.status();
  std::optional<std::string> token = doc->String("accessToken");
  if (!token || token->empty() || token->size() > kMaxTokenBytes) {
    return InvalidArgumentError("login answer: no accessToken (a non-empty string of at most " +
                                std::to_string(kMaxTokenBytes) + " bytes)");
  }
  std::string problem;
  const int64_t ttl_s = ClampDuration(kTokenTtlRange, *doc, &problem);
  if (!problem.empty()) LogWarning("login answer from " + server + ": " + problem);
  // Log in again at 90 % of the TTL (Nacos's clients refresh a tenth of the TTL early). ttl_s is
  // at most kTokenTtlRange.max, so the product cannot overflow.
  if (login_timer_ != kInvalidTaskId) loop_->Cancel(login_timer_);
  login_timer_ = loop_->ScheduleAfter(std::chrono::milliseconds(ttl_s * 900), [this] {
    login_timer_ = kInvalidTaskId;
    Login();
  });
  return std::move(*token);
}

void NamingProxy::LogWarning(const std::string& line) {
  uint64_t held_back = 0;
  if (!log_limiter_.Allow(loop_->clock()->Now(), &held_back)) return;
  DUBBO_LOG(WARNING) << "nacos: " << line << internal::HeldBackNote(held_back);
}

void NamingProxy::FinishLogin(bool ok) {
  login_in_flight_ = false;
  if (!ok) {
    DUBBO_LOG(WARNING)
        << "nacos: no server accepted the login of '" << options_.username
        << "'; requests go without a token, next login in "
        << std::chrono::duration_cast<std::chrono::seconds>(kLoginRetryInterval).count() << " s";
  }
  ReleaseWaiting();
}

// ---------------------------------------------------------------------------------------------
// Endpoint (address server) list.

void NamingProxy::RefreshEndpoint() {
  if (stopped_) return;
  const std::string& host = options_.endpoint;
  std::string url = "http://" + (host.find(':') != std::string::npos ? "[" + host + "]" : host) +
                    ":" + std::to_string(options_.endpoint_port) + "/nacos/serverlist";
  if (!options_.namespace_id.empty() && options_.namespace_id != "public") {
    url += "?namespace=" + URL::Encode(options_.namespace_id);
  }
  HttpRequest http;
  http.method = "GET";
  http.url = std::move(url);
  http.connect_timeout_ms = options_.connect_timeout_ms;
  http.timeout_ms = options_.request_timeout_ms;
  http_->Send(std::move(http), [this](HttpResponse r) { OnEndpointDone(std::move(r)); });
}

void NamingProxy::OnEndpointDone(HttpResponse response) {
  if (stopped_ || response.transport_error.code() == StatusCode::kCancelled) return;
  if (response.transport_error.ok() && response.status == 200) {
    std::string list;
    size_t pos = 0;
    const std::string& body = response.body;
    while (pos < body.size()) {
      size_t end = body.find('\n', pos);
      if (end == std::string::npos) end = body.size();
      std::string line = body.substr(pos, end - pos);
      pos = end + 1;
      line.erase(std::remove_if(line.begin(), line.end(),
                                [](unsigned char c) { return std::isspace(c) != 0; }),
                 line.end());
      if (line.empty()) continue;
      if (!list.empty()) list += ',';
      list += line;
    }
    Result<NacosOptions> parsed = NacosOptions::FromProperties({{"serverAddr", list}});
    if (parsed.ok() && !parsed->server_addresses.empty()) {
      if (parsed->server_addresses != servers_) {
        DUBBO_LOG(INFO) << "nacos: server list from " << options_.endpoint << ": "
                        << JoinServers(parsed->server_addresses);
      }
      SetServers(parsed->server_addresses);
    } else {
      DUBBO_LOG(WARNING) << "nacos: unusable server list from " << options_.endpoint << "; keeping "
                         << JoinServers(servers_);
    }
  } else {
    const Status error = response.transport_error.ok()
                             ? StatusForHttp(response.status, response.body)
                             : response.transport_error;
    DUBBO_LOG(WARNING) << "nacos: server list refresh from " << options_.endpoint
                       << " failed: " << error << "; keeping " << JoinServers(servers_);
  }
  const bool first = !have_server_list_;
  have_server_list_ = true;
  endpoint_timer_ =
      loop_->ScheduleAfter(std::chrono::milliseconds(options_.endpoint_refresh_ms), [this] {
        endpoint_timer_ = kInvalidTaskId;
        RefreshEndpoint();
      });
  if (first) {
    if (!options_.username.empty()) {
      Login();
    } else {
      ReleaseWaiting();
    }
  }
}

}  // namespace dubbo::registry::nacos
