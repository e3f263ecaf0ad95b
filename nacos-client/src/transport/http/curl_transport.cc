// CurlMultiTransport: libcurl's multi-socket API on an EventLoop.
//
// curl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION -> EventLoop::WatchFd/UnwatchFd)
// and when to call it back (CURLMOPT_TIMERFUNCTION -> EventLoop::ScheduleAfter/Cancel); we hand
// readiness and timeouts back with curl_multi_socket_action() and collect finished transfers with
// curl_multi_info_read(). One multi handle lives as long as the transport, so its connection cache
// reuses connections across requests. curl's own timers enforce CURLOPT_CONNECTTIMEOUT_MS and
// CURLOPT_TIMEOUT_MS, so a sub-second timeout is honoured to within the loop's timer precision.
//
// All of Core's state is confined to the loop thread (or, for a loop that was never started, to the
// thread that destroys the transport, when nothing can run on the loop). Core is shared with the
// tasks that hop Send() onto the loop, so such a task never sees a freed Core; `closed` makes it
// complete its request with kCancelled instead. `done` is never called from inside a curl callback:
// only after curl_multi_socket_action() (or curl_multi_remove_handle()) has returned, so a `done`
// callback may send, cancel, or destroy the transport.
//
// Thread-safety: see curl_transport.h.
#include "transport/http/curl_transport.h"

#include <curl/curl.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <exception>
#include <map>
#include <mutex>
#include <unordered_map>

#include "internal/ascii.h"
#include "internal/logging.h"

namespace dubbo::registry::nacos {
namespace {

constexpr long kMaxRedirects = 5;
constexpr int64_t kDefaultConnectTimeoutMs = 3000;
constexpr int64_t kDefaultTimeoutMs = 50000;

using Done = std::function<void(HttpResponse)>;

void GlobalInitCurl() {
  static std::once_flag once;
  std::call_once(once, [] {
    const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) DUBBO_LOG(ERROR) << "curl_global_init failed: " << curl_easy_strerror(rc);
  });
}

using internal::AsciiLower;
using internal::EqualsIgnoreCase;
using internal::StartsWithIgnoreCase;

// The words of URL::ToRedactedString(), so both redact the same parameters.
bool LooksSecret(std::string_view key) {
  static constexpr std::string_view kWords[] = {"password",  "secret",     "token",
                                                "accesskey", "credential", "signature"};
  std::string lower(key);
  for (char& c : lower) c = AsciiLower(c);
  for (std::string_view word : kWords) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

bool IsParamNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.';
}

// Replaces the value of every `name=value` whose name looks secret by "***". Values end at one of
// "&#; \t\r\n\"'" or the end of the text.
std::string RedactParams(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i++];
    out.push_back(c);
    if (c != '=') continue;
    const size_t name_end = out.size() - 1;
    size_t name_begin = name_end;
    while (name_begin > 0 && IsParamNameChar(out[name_begin - 1])) --name_begin;
    if (name_begin == name_end ||
        !LooksSecret(std::string_view(out).substr(name_begin, name_end - name_begin))) {
      continue;
    }
    size_t value_end = i;
    while (value_end < text.size() && std::strchr("&#; \t\r\n\"'", text[value_end]) == nullptr) {
      ++value_end;
    }
    if (value_end > i) {
      out.append("***");
      i = value_end;
    }
  }
  return out;
}

// One transfer.
struct Request {
  Request() = default;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  // REQUIRES: `easy` is not (or no longer) in a multi handle.
  ~Request() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (headers != nullptr) curl_slist_free_all(headers);
  }

  uint64_t seq = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  Done done;
  std::string url;    // May carry secrets: logged only through RedactUrl().
  std::string where;  // "METHOD scheme://host:port/path", for messages.
  std::string body;   // curl reads it in place (CURLOPT_POSTFIELDS).
  std::string response;
  size_t max_response = 0;
  bool too_large = false;
  char error[CURL_ERROR_SIZE] = {0};
};

size_t OnBodyData(char* data, size_t size, size_t count, void* userp) {
  auto* request = static_cast<Request*>(userp);
  const size_t len = size * count;
  if (len > request->max_response - request->response.size()) {
    request->too_large = true;
    return 0;  // Not `len`: curl aborts the transfer with CURLE_WRITE_ERROR.
  }
  request->response.append(data, len);
  return len;
}

Status TransferError(const Request& request, CURLcode rc) {
  if (request.too_large) {
    return UnavailableError(request.where + ": response body larger than " +
                            std::to_string(request.max_response) + " bytes");
  }
  std::string message = request.where + ": ";
  // curl's error buffer has the details ("Failed to connect to 127.0.0.1 port 1 after 0 ms: ...").
  message += request.error[0] != '\0' ? RedactParams(request.error) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return DeadlineExceededError(message);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return UnavailableError(message);
    default:
      return UnavailableError(message);
  }
}

// Header names are HTTP tokens.
bool IsTokenChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

}  // namespace

HttpTransport::~HttpTransport() = default;

std::string UrlForMessage(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  const size_t authority_begin = scheme_end + 3;
  const size_t authority_end = std::min(url.find('/', authority_begin), url.size());
  const size_t at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < authority_begin) return std::string(url);
  std::string out(url.substr(0, authority_begin));
  out.append(url.substr(at + 1));
  return out;
}

Status ValidateHttpRequest(const HttpRequest& request, std::string* method) {
  *method = request.method.empty() ? "GET" : request.method;
  for (char c : *method) {
    if (c < 'A' || c > 'Z') return InvalidArgumentError("bad HTTP method");
  }
  if (!StartsWithIgnoreCase(request.url, "http://") &&
      !StartsWithIgnoreCase(request.url, "https://")) {
    return InvalidArgumentError("not an http(s) URL");
  }
  for (char c : request.url) {
    if (static_cast<unsigned char>(c) <= ' ') return InvalidArgumentError("whitespace in the URL");
  }
  for (const auto& [name, value] : request.headers) {
    if (name.empty()) return InvalidArgumentError("empty header name");
    for (char c : name) {
      if (!IsTokenChar(c)) return InvalidArgumentError("bad header name");
    }
    if (HasControlChars(value)) return InvalidArgumentError("CR, LF or NUL in header " + name);
  }
  return Status::Ok();
}

void InvokeHttpDone(const std::function<void(HttpResponse)>& done, HttpResponse response) {
  if (!done) return;
  try {
    done(std::move(response));
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "http: a completion callback threw: " << e.what();
  } catch (...) {
    DUBBO_LOG(ERROR) << "http: a completion callback threw a non-std exception";
  }
}

HttpResponse HttpErrorResponse(Status status) {
  HttpResponse response;
  response.transport_error = std::move(status);
  return response;
}

bool CarriesCredentials(const HttpRequest& request) {
  const auto has_credential_param = [](std::string_view text) {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('&', start);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view pair = text.substr(start, end - start);
      const std::string_view name = pair.substr(0, pair.find('='));
      if (EqualsIgnoreCase(name, "username") || LooksSecret(name)) return true;
      start = end + 1;
    }
    return false;
  };
  const std::string_view url = request.url;
  const size_t authority_begin = url.find("://");
  if (authority_begin != std::string_view::npos) {
    const size_t authority_end = url.find_first_of("/?#", authority_begin + 3);
    if (url.substr(authority_begin + 3, authority_end - authority_begin - 3).find('@') !=
        std::string_view::npos) {
      return true;
    }
  }
  const size_t query = url.find('?');
  if (query != std::string_view::npos &&
      has_credential_param(url.substr(query + 1, url.find('#', query) - query - 1))) {
    return true;
  }
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "Authorization")) return true;
  }
  return has_credential_param(request.body);
}

std::string RedactUrl(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return RedactParams(url);
  const size_t authority_begin = scheme_end + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority_begin), url.size());
  std::string out(url.substr(0, authority_begin));
  std::string_view authority = url.substr(authority_begin, authority_end - authority_begin);
  const size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view user_info = authority.substr(0, at);
    const size_t colon = user_info.find(':');
    out.append(user_info.substr(0, colon));
    if (colon != std::string_view::npos) out.append(":***");
    authority.remove_prefix(at);
  }
  out.append(authority);
  out.append(RedactParams(url.substr(authority_end)));
  return out;
}

struct CurlMultiTransport::Core : std::enable_shared_from_this<Core> {
  Core(EventLoop* event_loop, CurlTransportOptions transport_options)
      : loop(event_loop), options(transport_options) {
    GlobalInitCurl();
    multi = curl_multi_init();
    if (multi == nullptr) {
      DUBBO_LOG(ERROR) << "http: curl_multi_init failed; every request will fail";
      return;
    }
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Core::OnCurlSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Core::OnCurlTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, options.max_idle_connections);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, options.max_host_connections);
  }

  ~Core() {
    // Close() has run unless the Core was never used; either way no transfer is left.
    FreeIdleHandles();
    if (multi != nullptr) curl_multi_cleanup(multi);
  }

  // Easy handles of finished transfers, reset and kept for the next ones (curl_easy_init() and
  // the first setopts cost more than a reset).
  CURL* TakeEasy() {
    if (idle_easy.empty()) return curl_easy_init();
    CURL* easy = idle_easy.back();
    idle_easy.pop_back();
    return easy;
  }
  void KeepEasy(CURL* easy) {
    if (closed || idle_easy.size() >= kMaxIdleEasyHandles) {
      curl_easy_cleanup(easy);
      return;
    }
    curl_easy_reset(easy);
    idle_easy.push_back(easy);
  }
  void FreeIdleHandles() {
    for (CURL* easy : idle_easy) curl_easy_cleanup(easy);
    idle_easy.clear();
  }

  void Start(HttpRequest request, Done done);
  void CancelAll(const Status& why);
  // Cancels everything, frees the multi handle and its sockets; later Start()s complete with
  // kCancelled. Idempotent.
  void Close(const Status& why);

  // curl callbacks. They never call `done`.
  static int OnCurlSocket(CURL* easy, curl_socket_t fd, int what, void* userp, void* socketp);
  static int OnCurlTimer(CURLM* multi_handle, long timeout_ms, void* userp);

  void OnSocketReady(curl_socket_t fd, short fired);
  void OnTimeout();
  // Completes the finished transfers curl reports.
  void CollectFinished();
  // Removes every transfer from curl and completes it with kCancelled (`why`).
  void CancelRequests(const Status& why);
  void Complete(std::unique_ptr<Request> request, HttpResponse response);

  struct SocketWatch {
    short events = 0;
    EventLoop::WatchId watch = EventLoop::kInvalidWatchId;
  };

  EventLoop* const loop;
  const CurlTransportOptions options;
  CURLM* multi = nullptr;
  bool closed = false;
  uint64_t next_seq = 1;
  // In flight, by send order (so cancellations complete in that order).
  std::map<uint64_t, std::unique_ptr<Request>> requests;
  std::unordered_map<curl_socket_t, SocketWatch> sockets;
  TaskId timer = kInvalidTaskId;
  static constexpr size_t kMaxIdleEasyHandles = 64;
  std::vector<CURL*> idle_easy;
};

void CurlMultiTransport::Core::Start(HttpRequest request, Done done) {
  auto r = std::make_unique<Request>();
  std::string method;
  const Status valid = ValidateHttpRequest(request, &method);
  r->done = std::move(done);
  r->where = method + " " + UrlForMessage(request.url);
  // (The status is built before Complete() takes `r`: argument evaluation order is unspecified.)
  if (closed) {
    Status status = CancelledError(r->where + ": the HTTP transport is closed");
    Complete(std::move(r), HttpErrorResponse(std::move(status)));
    return;
  }
  if (multi == nullptr) {
    Status status = InternalError(r->where + ": curl_multi_init failed");
    Complete(std::move(r), HttpErrorResponse(std::move(status)));
    return;
  }
  if (!valid.ok()) {
    Status status = valid.WithPrefix(r->where);
    Complete(std::move(r), HttpErrorResponse(std::move(status)));
    return;
  }
  const bool with_credentials = CarriesCredentials(request);
  const bool is_https = StartsWithIgnoreCase(request.url, "https://");

  r->url = std::move(request.url);
  r->max_response = options.max_response_bytes;
  r->easy = TakeEasy();
  if (r->easy == nullptr) {
    Status status = InternalError(r->where + ": curl_easy_init failed");
    Complete(std::move(r), HttpErrorResponse(std::move(status)));
    return;
  }
  CURL* const easy = r->easy;
  const int64_t connect_ms =
      request.connect_timeout_ms > 0 ? request.connect_timeout_ms : kDefaultConnectTimeoutMs;
  const int64_t total_ms = request.timeout_ms > 0 ? request.timeout_ms : kDefaultTimeoutMs;

  CURLcode rc = CURLE_OK;
#define DUBBO_CURL_SETOPT(option, value) \
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, option, value)
  DUBBO_CURL_SETOPT(CURLOPT_URL, r->url.c_str());
  DUBBO_CURL_SETOPT(CURLOPT_PRIVATE, r.get());
  DUBBO_CURL_SETOPT(CURLOPT_ERRORBUFFER, r->error);
  DUBBO_CURL_SETOPT(CURLOPT_WRITEFUNCTION, &OnBodyData);
  DUBBO_CURL_SETOPT(CURLOPT_WRITEDATA, r.get());
  DUBBO_CURL_SETOPT(CURLOPT_NOSIGNAL, 1L);
  DUBBO_CURL_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  DUBBO_CURL_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_ms));
  DUBBO_CURL_SETOPT(CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
  // Only a GET or HEAD without credentials follows a redirect (at most kMaxRedirects, never from
  // https down to http); for any other request the 3xx is its answer. curl would resend a POSTed
  // password or the query's accessToken to wherever Location points, and it turns a POST answered
  // 301/302 into a GET, so a redirected write would come back as a successful read.
  const bool follows = !with_credentials && (method == "GET" || method == "HEAD");
  DUBBO_CURL_SETOPT(CURLOPT_FOLLOWLOCATION, follows ? 1L : 0L);
  DUBBO_CURL_SETOPT(CURLOPT_MAXREDIRS, kMaxRedirects);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  DUBBO_CURL_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  DUBBO_CURL_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, is_https ? "https" : "http,https");
#else
  DUBBO_CURL_SETOPT(CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  DUBBO_CURL_SETOPT(CURLOPT_REDIR_PROTOCOLS,
                    is_https ? static_cast<long>(CURLPROTO_HTTPS)
                             : static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  // "": announce every encoding this libcurl can decode, and decode the body.
  DUBBO_CURL_SETOPT(CURLOPT_ACCEPT_ENCODING, "");
  if (!options.use_environment_proxy) DUBBO_CURL_SETOPT(CURLOPT_PROXY, "");
  if (method == "GET") {
    DUBBO_CURL_SETOPT(CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    DUBBO_CURL_SETOPT(CURLOPT_NOBODY, 1L);
  } else {
    r->body = std::move(request.body);
    DUBBO_CURL_SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r->body.size()));
    DUBBO_CURL_SETOPT(CURLOPT_POSTFIELDS, r->body.data());
    if (method != "POST") DUBBO_CURL_SETOPT(CURLOPT_CUSTOMREQUEST, method.c_str());
  }
#undef DUBBO_CURL_SETOPT

  bool has_expect = false;
  for (const auto& [name, value] : request.headers) {
    if (EqualsIgnoreCase(name, "Accept-Encoding")) continue;  // curl's job.
    if (EqualsIgnoreCase(name, "Expect")) has_expect = true;
    // "Name;" is curl's way to send a header with an empty value ("Name:" would remove it).
    const std::string line = value.empty() ? name + ";" : name + ": " + value;
    curl_slist* appended = curl_slist_append(r->headers, line.c_str());
    if (appended == nullptr) {
      rc = CURLE_OUT_OF_MEMORY;
      break;
    }
    r->headers = appended;
  }
  // No "Expect: 100-continue" round trip for larger bodies.
  if (!has_expect && rc == CURLE_OK) {
    curl_slist* appended = curl_slist_append(r->headers, "Expect:");
    if (appended == nullptr)
      rc = CURLE_OUT_OF_MEMORY;
    else
      r->headers = appended;
  }
  if (rc == CURLE_OK) rc = curl_easy_setopt(easy, CURLOPT_HTTPHEADER, r->headers);
  if (rc != CURLE_OK) {
    Status status =
        InternalError(r->where + ": cannot set up the request: " + curl_easy_strerror(rc));
    Complete(std::move(r), HttpErrorResponse(std::move(status)));
    return;
  }

  r->seq = next_seq++;
  const uint64_t seq = r->seq;
  requests.emplace(seq, std::move(r));
  // May call OnCurlTimer (never `done`).
  const CURLMcode mc = curl_multi_add_handle(multi, easy);
  if (mc != CURLM_OK) {
    std::unique_ptr<Request> failed = std::move(requests.extract(seq).mapped());
    Status status =
        InternalError(failed->where + ": curl_multi_add_handle: " + curl_multi_strerror(mc));
    Complete(std::move(failed), HttpErrorResponse(std::move(status)));
  }
}

int CurlMultiTransport::Core::OnCurlSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* userp,
                                           void* /*socketp*/) {
  auto* core = static_cast<Core*>(userp);
  auto it = core->sockets.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it != core->sockets.end()) {
      core->loop->UnwatchFd(it->second.watch);
      core->sockets.erase(it);
    }
    return 0;
  }
  if (core->closed) return 0;
  short events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= EventLoop::kReadable;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= EventLoop::kWritable;
  if (it != core->sockets.end()) {
    if (it->second.events == events) return 0;
    core->loop->UnwatchFd(it->second.watch);
  }
  SocketWatch& watch = core->sockets[fd];
  watch.events = events;
  // Raw `core`: Close() removes every watch before the Core can go away. kInvalidWatchId once the
  // loop is stopping; its stop hook then closes the transport.
  watch.watch =
      core->loop->WatchFd(fd, events, [core, fd](short fired) { core->OnSocketReady(fd, fired); });
  return 0;
}

int CurlMultiTransport::Core::OnCurlTimer(CURLM* /*multi_handle*/, long timeout_ms, void* userp) {
  auto* core = static_cast<Core*>(userp);
  if (core->timer != kInvalidTaskId) {
    core->loop->Cancel(core->timer);  // On the loop thread: never waits.
    core->timer = kInvalidTaskId;
  }
  if (timeout_ms < 0 || core->closed) return 0;  // -1: no timeout wanted.
  // Raw `core`: Close() cancels the timer before the Core can go away. A timeout of 0 runs on the
  // next loop iteration: curl must not be called back from inside this callback.
  core->timer = core->loop->ScheduleAfter(std::chrono::milliseconds(timeout_ms), [core] {
    core->timer = kInvalidTaskId;
    core->OnTimeout();
  });
  return 0;
}

void CurlMultiTransport::Core::OnSocketReady(curl_socket_t fd, short fired) {
  if (closed || multi == nullptr) return;
  const std::shared_ptr<Core> self = shared_from_this();  // A `done` may destroy the transport.
  int flags = 0;
  if ((fired & EventLoop::kReadable) != 0) flags |= CURL_CSELECT_IN;
  if ((fired & EventLoop::kWritable) != 0) flags |= CURL_CSELECT_OUT;
  int running = 0;
  const CURLMcode mc = curl_multi_socket_action(multi, fd, flags, &running);
  if (mc != CURLM_OK)
    DUBBO_LOG(WARNING) << "http: curl_multi_socket_action: " << curl_multi_strerror(mc);
  CollectFinished();
}

void CurlMultiTransport::Core::OnTimeout() {
  if (closed || multi == nullptr) return;
  const std::shared_ptr<Core> self = shared_from_this();
  int running = 0;
  const CURLMcode mc = curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
  if (mc != CURLM_OK)
    DUBBO_LOG(WARNING) << "http: curl_multi_socket_action: " << curl_multi_strerror(mc);
  CollectFinished();
}

void CurlMultiTransport::Core::CollectFinished() {
  // `closed` is rechecked after every `done`: one may have closed (destroyed) the transport.
  while (!closed && multi != nullptr) {
    int left = 0;
    CURLMsg* msg = curl_multi_info_read(multi, &left);
    if (msg == nullptr) break;
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* const easy = msg->easy_handle;
    const CURLcode rc = msg->data.result;  // `msg` is invalid after curl_multi_remove_handle().
    char* priv = nullptr;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    auto node = requests.extract(reinterpret_cast<Request*>(priv)->seq);
    curl_multi_remove_handle(multi, easy);
    if (node.empty()) continue;
    std::unique_ptr<Request> request = std::move(node.mapped());
    HttpResponse response;
    if (rc == CURLE_OK) {
      long code = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
      response.status = static_cast<int>(code);
      response.body = std::move(request->response);
      char* ip = nullptr;
      if (curl_easy_getinfo(easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != nullptr) {
        response.peer_ip = ip;
      }
    } else {
      response.transport_error = TransferError(*request, rc);
      DUBBO_LOG(DEBUG) << "http: " << request->where.substr(0, request->where.find(' ')) << " "
                       << RedactUrl(request->url) << " failed: " << response.transport_error;
    }
    Complete(std::move(request), std::move(response));
  }
}

void CurlMultiTransport::Core::CancelRequests(const Status& why) {
  std::map<uint64_t, std::unique_ptr<Request>> cancelled;
  cancelled.swap(requests);
  // Remove them all first: a `done` may send again, and that request must not be cancelled here.
  for (auto& [seq, request] : cancelled) {
    if (multi != nullptr) curl_multi_remove_handle(multi, request->easy);
  }
  for (auto& [seq, request] : cancelled) {
    Status status = CancelledError(request->where + ": " + std::string(why.message()));
    Complete(std::move(request), HttpErrorResponse(std::move(status)));
  }
}

void CurlMultiTransport::Core::CancelAll(const Status& why) {
  if (closed) return;
  const std::shared_ptr<Core> self = shared_from_this();
  CancelRequests(why);
}

void CurlMultiTransport::Core::Close(const Status& why) {
  if (closed) return;
  closed = true;
  std::map<uint64_t, std::unique_ptr<Request>> cancelled;
  cancelled.swap(requests);
  for (auto& [seq, request] : cancelled) {
    if (multi != nullptr) curl_multi_remove_handle(multi, request->easy);
  }
  if (timer != kInvalidTaskId) {
    loop->Cancel(timer);
    timer = kInvalidTaskId;
  }
  if (multi != nullptr) {
    curl_multi_cleanup(multi);  // Closes cached connections; may call OnCurlSocket(REMOVE).
    multi = nullptr;
  }
  FreeIdleHandles();
  for (const auto& [fd, watch] : sockets) loop->UnwatchFd(watch.watch);
  sockets.clear();
  // Last: a `done` may call back into the (now closed) transport.
  for (auto& [seq, request] : cancelled) {
    Status status = CancelledError(request->where + ": " + std::string(why.message()));
    Complete(std::move(request), HttpErrorResponse(std::move(status)));
  }
}

void CurlMultiTransport::Core::Complete(std::unique_ptr<Request> request, HttpResponse response) {
  Done done = std::move(request->done);
  if (request->easy != nullptr) {  // Already out of the multi.
    KeepEasy(request->easy);
    request->easy = nullptr;
  }
  request.reset();
  InvokeHttpDone(done, std::move(response));
}

// --- CurlMultiTransport
// ----------------------------------------------------------------------------

CurlMultiTransport::CurlMultiTransport(EventLoop* loop, CurlTransportOptions options)
    : loop_(loop), core_(std::make_shared<Core>(loop, options)) {
  stop_hook_ = transport_lifecycle::CloseWhenLoopStops(loop_, core_);
}

CurlMultiTransport::~CurlMultiTransport() {
  transport_lifecycle::CloseAndUnhook(loop_, core_, stop_hook_);
}

void CurlMultiTransport::Send(HttpRequest request, std::function<void(HttpResponse)> done) {
  transport_lifecycle::StartOnLoop(loop_, core_, std::move(request), std::move(done));
}

void CurlMultiTransport::CancelAll() {
  const std::shared_ptr<Core> core = core_;
  // False when the loop is not running: then nothing is in flight.
  loop_->RunInLoopAndWait([&core] { core->CancelAll(CancelledError("cancelled")); });
}

}  // namespace dubbo::registry::nacos
