// Internal: NamingProxy, the naming client's HTTP side:
// which server to ask, in which order, with which headers and credentials.
//
//   NamingProxy proxy(options, &http, &loop);
//   proxy.Start();                                        // Endpoint list, login.
//   proxy.Call({"GET", "/v1/ns/instance/list", {{"serviceName", "demo"}}},
//              [](Result<std::string> body) { ... });     // Once, on the loop.
//
// Server order: with one server, up to max_retry tries of it; with several, a random start and
// then each server once, round robin. Every failure (no answer, a timeout, any status but 200 and
// 304) moves on to the next try. The final error is the last one, its message naming the path and
// the servers tried. HTTP statuses map to codes: 400 kInvalidArgument, 403 kPermissionDenied, 404
// kNotFound, 413 and 429 kResourceExhausted (the server is up: no failover state, no probing),
// anything else kUnavailable; no answer keeps the transport's code (kUnavailable,
// kDeadlineExceeded). kCancelled (Stop()) ends a call at once.
//
// Endpoint mode: the list is fetched from the address server at Start() and every
// endpoint_refresh_ms; a failed fetch keeps the old list. Calls made before the first fetch has
// finished wait for it.
//
// Auth: with a username, the client logs in at Start() (trying servers in list order) and again at
// 90 % of the token's TTL (tokenTtl clamped into kTokenTtlRange of server_json.h, [10 s, 18000 s];
// absent, <= 0 or not a number: 18000 s), and when a server says the token expired or is invalid.
// A login answer that is not a JSON object within the caps of server_json.h, or without a
// non-empty string accessToken, fails that server's try (logged at most once per 10 s). Calls made
// while a login is in flight wait for it; a failed login is retried no sooner than 5 s later, and
// calls go out without a token meanwhile (the server decides). Tokens and passwords are never
// logged.
//
// Every request carries the Java 1.4 client's headers and User-Agent (real 1.4.x servers push
// only to clients whose agent they recognise) and `namespaceId` + `app` parameters.
//
// Thread-safety: none. Every method must be called on the loop (the Scheduler's thread); callbacks
// run there too.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NAMING_PROXY_H_
#define DUBBO_NACOS_REGISTRY_SRC_NAMING_PROXY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "curl_transport.h"
#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/scheduler.h"
#include "internal/logging.h"

namespace dubbo::registry::nacos {

using Params = std::vector<std::pair<std::string, std::string>>;

struct NamingRequest {
  std::string method = "GET";
  // Below the context path: "/v1/ns/instance".
  std::string path;
  // Sent in the query string (URL-encoded here), as the Java client does.
  Params params;
  // Sent as an application/x-www-form-urlencoded body (the beat JSON, the login password).
  Params form;
  // Per try; <= 0 means options.request_timeout_ms.
  int64_t timeout_ms = 0;
};

// What the client sends as User-Agent and Client-Version.
inline constexpr std::string_view kClientVersion = "1.4.8";
inline constexpr std::string_view kUserAgent = "Nacos-Java-Client:v1.4.8";

// "a=b&c=d", each name and value URL-encoded (Java URLEncoder).
std::string EncodeParams(const Params& params);

// The HTTP status of a failed exchange as a Status: see the file comment.
Status StatusForHttp(int http_status, std::string_view body);

// The answer of GET /v1/ns/service/list, {"count":N,"doms":["name",...]}, read under the caps of
// server_json.h (kMaxListAnswerBytes). A name that is not a string in valid UTF-8 is skipped on its
// own; an absent count is the number of names. kUnavailable (the message names the problem) when
// the answer is not such an object, count is not an integer >= 0, or doms is not an array; that
// is also logged, at most once per 10 s per process.
Result<ServiceList> ParseServiceListAnswer(std::string_view body);

// True when the answer of GET /v1/ns/operator/metrics is a JSON object (within the caps of
// server_json.h) whose status is "UP".
bool IsServerUpAnswer(std::string_view body);

class NamingProxy {
 public:
  using Done = std::function<void(Result<std::string>)>;

  // `http` and `loop` must outlive this object. `seed` seeds the random server order.
  NamingProxy(const NacosOptions& options, HttpTransport* http, Scheduler* loop,
              uint64_t seed = std::random_device()());
  ~NamingProxy();

  NamingProxy(const NamingProxy&) = delete;
  NamingProxy& operator=(const NamingProxy&) = delete;

  // Starts the endpoint refresh and the login, when configured.
  void Start();
  // Cancels timers; calls waiting for the server list or a login fail with kCancelled. Calls in
  // flight end when the transport completes them. Later calls fail at once with kCancelled.
  void Stop();

  // Sends `request` by the rules above; `done` runs once, on the loop (possibly before Call()
  // returns, e.g. when there is no server).
  void Call(NamingRequest request, Done done);

  // Sets what runs (on the loop, after the call's own callback) when a call gets an answer (200 or
  // 304) while the last call to end had found no server answering (kUnavailable or
  // kDeadlineExceeded after every try): the servers went from failing to answering. It runs once
  // per such transition, and is told when the failing began (the end of the first call that
  // failed). With a positive `probe_interval`, while failing, a probe (GET
  // /v1/ns/operator/metrics, what the Java client's serverHealthy() asks) goes out
  // `probe_interval` after the previous one ended, so that the return is noticed within about that
  // time even by a client that sends nothing else. The probe is an answer only when its body says
  // "status":"UP" (a starting node answers it 200 "DOWN" and naming calls 503); any other answer
  // counts as that server failing. A probe answered otherwise (403, 404) leaves the failing as it
  // is and probes again, until some call gets an answer.
  using RecoveryHook = std::function<void(TimePoint failing_since)>;
  void SetRecoveryHook(RecoveryHook hook, Duration probe_interval = Duration::zero()) {
    recovery_hook_ = std::move(hook);
    probe_interval_ = probe_interval;
  }

  // The server list in use: "host:port" or "scheme://host:port[/path]".
  const std::vector<std::string>& servers() const { return servers_; }
  // True if `ip` (text, IPv4-mapped IPv6 accepted) is a server's: a configured IP literal, or the
  // address a server's answer came from. Push datagrams from anywhere else are ignored.
  bool IsServerIp(std::string_view ip) const;
  // The current access token ("" when none).
  const std::string& access_token() const { return token_; }
  // Another channel (gRPC) had the token refused: logs in again now, unless there are no
  // credentials, a login is in flight or the last attempt is less than 5 s old. The old token
  // stays in use until the new one comes.
  void RefreshLogin();

  // For tests: replaces the server list (as the endpoint refresh would).
  void SetServersForTest(std::vector<std::string> servers);

 private:
  struct CallState;

  void Begin(std::shared_ptr<CallState> call);
  void Attempt(std::shared_ptr<CallState> call);
  void OnAttemptDone(std::shared_ptr<CallState> call, HttpResponse response);
  HttpRequest BuildHttp(const std::string& server, const NamingRequest& request, bool with_token);
  bool NeedsLogin() const;
  void Login();
  void OnLoginDone(size_t index, HttpResponse response);
  // The token of a login answer from `server`, and the refresh timer set from its tokenTtl.
  Result<std::string> ReadLoginAnswer(std::string_view body, const std::string& server);
  // Through log_limiter_: what a server's answers can trigger at will.
  void LogWarning(const std::string& line);
  void FinishLogin(bool ok);
  void RefreshEndpoint();
  void OnEndpointDone(HttpResponse response);
  void ReleaseWaiting();
  void SetServers(std::vector<std::string> servers);
  void ScheduleProbe();

  const NacosOptions options_;
  HttpTransport* const http_;
  Scheduler* const loop_;
  std::mt19937_64 rng_;

  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::string> servers_;
  std::set<std::string> server_ips_;  // Canonical text.
  bool have_server_list_ = false;     // False until the first endpoint fetch finished.

  // Calls waiting for the server list or a login.
  std::vector<std::shared_ptr<CallState>> waiting_;

  std::string token_;
  bool login_in_flight_ = false;
  TimePoint last_login_attempt_{};
  bool login_attempted_ = false;
  TaskId login_timer_ = kInvalidTaskId;
  TaskId endpoint_timer_ = kInvalidTaskId;
  uint64_t login_generation_ = 0;
  internal::LogRateLimiter log_limiter_{std::chrono::seconds(10)};

  bool failing_ = false;       // The last call to end found no server answering,
  TimePoint failing_since_{};  // since then.
  RecoveryHook recovery_hook_;
  Duration probe_interval_ = Duration::zero();
  TaskId probe_timer_ = kInvalidTaskId;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_NAMING_PROXY_H_
