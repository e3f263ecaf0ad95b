// Internal: the naming client's asynchronous HTTP seam. HttpTransport is what the client calls
// (tests fake it); CurlMultiTransport is the real one: libcurl's multi-socket API driven by the
// client's EventLoop, so every transfer, timeout and completion happens on the loop thread and no
// thread is ever blocked on the network.
//
//   EventLoop loop;
//   loop.Start().IgnoreError();
//   CurlMultiTransport http(&loop);
//   HttpRequest req;
//   req.method = "GET";
//   req.url = "http://127.0.0.1:8848/nacos/v1/ns/operator/metrics";
//   req.timeout_ms = 3000;
//   http.Send(std::move(req), [](HttpResponse r) { ... });   // Called once, on the loop thread.
//
// Results: an HTTP response of any status (4xx/5xx included, body preserved) has `status` set and
// an OK `transport_error`; mapping statuses to codes is the caller's job. Without a response,
// `status` is 0 and `transport_error` says why: kUnavailable (connection refused, DNS failure,
// reset, too many redirects, anything else curl reports; the message is curl's), kDeadlineExceeded
// (connect or total timeout), kCancelled (CancelAll(), destruction, the loop stopping),
// kInvalidArgument (a request that could never be sent: no http(s) URL, a bad method, CR/LF in a
// header). Messages name the method and the URL without user info or query string, so they are safe
// to log; RedactUrl() is for the rest.
//
// Thread-safety: HttpTransport implementations must be safe to call from any thread. For
// CurlMultiTransport, Send() and CancelAll() may be called from any thread, including from inside
// `done`; every curl call happens on the loop thread.
#ifndef DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_CURL_TRANSPORT_H_
#define DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_CURL_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dubbo/registry/status.h"
#include "event_loop.h"

namespace dubbo::registry::nacos {

struct HttpRequest {
  // "GET", "POST", "PUT", "DELETE", ... (upper-case letters only). Default (empty) means GET.
  std::string method;
  // An absolute http:// or https:// URL, query string included (the Nacos client puts every
  // parameter there). May carry secrets (accessToken); never logged unredacted.
  std::string url;
  // Sent as given. An "Accept-Encoding" header is dropped: curl announces the encodings it can
  // decode and decodes the body (the Java client's gzip,deflate,sdch would promise sdch, which curl
  // cannot decode).
  std::vector<std::pair<std::string, std::string>> headers;
  // The request body, for methods other than GET and HEAD (which send none); sent with a
  // Content-Length, empty or not.
  std::string body;
  // Connect timeout in ms; <= 0 means the default, 3000 (the Java client's connect timeout).
  int64_t connect_timeout_ms = 3000;
  // Timeout of the whole exchange (connect included) in ms; <= 0 means the default, 50000 (the
  // Java client's read timeout). Sub-second values are honoured.
  int64_t timeout_ms = 50000;
};

// True when `request` carries credentials a redirect could hand to another server: user info in
// the URL, an Authorization header, or a `username`, `password`, `accessToken` (or other
// secret-looking) parameter in the query string or the body. Such a request is never redirected.
bool CarriesCredentials(const HttpRequest& request);

struct HttpResponse {
  // The HTTP status of the final response (after redirects); 0 when there was none.
  int status = 0;
  // The decoded body (Content-Encoding undone).
  std::string body;
  // The IP address the response came from (of the last connection, after redirects), as text
  // ("127.0.0.1", "::1"); empty when there was no response or it is unknown.
  std::string peer_ip;
  // OK when a response arrived (whatever its status); otherwise why not (see the file comment).
  Status transport_error;
};

class HttpTransport {
 public:
  virtual ~HttpTransport();

  // Sends `request`; `done` is called exactly once with the outcome, on the transport's thread (see
  // the implementation), possibly before Send() returns. Must not throw.
  virtual void Send(HttpRequest request, std::function<void(HttpResponse)> done) = 0;
  // Completes every request sent before the call with kCancelled; when it returns, their `done`
  // callbacks have run. Requests sent afterwards (from those callbacks, say) proceed normally.
  virtual void CancelAll() = 0;
};

struct CurlTransportOptions {
  // Larger response bodies fail the request with kUnavailable. Default 16 MiB.
  size_t max_response_bytes = size_t{16} << 20;
  // Idle connections kept open for reuse (CURLMOPT_MAXCONNECTS). Default 16.
  long max_idle_connections = 16;
  // Connections open at once to one host (CURLMOPT_MAX_HOST_CONNECTIONS); further requests wait
  // for one of them. 0 means no limit. Default 8: thousands of beats due together would otherwise
  // each open a connection (a SYN flood for the server, sockets and memory for us).
  long max_host_connections = 8;
  // Whether curl may use a proxy from the http_proxy/https_proxy/no_proxy environment variables.
  // Default false: the Java client ignores them, and a stray proxy variable must not swallow the
  // traffic to the registry.
  bool use_environment_proxy = false;
};

class CurlMultiTransport final : public HttpTransport {
 public:
  // `loop` must outlive this object. Send the first request after loop->Start(), or expect it to
  // wait for it. Does the process-wide curl_global_init() once, thread-safely.
  explicit CurlMultiTransport(EventLoop* loop, CurlTransportOptions options = {});
  // Completes every request in flight with kCancelled (on the loop thread) and frees the curl
  // handles; returns promptly. Call it while the loop runs or after loop->Stop() returned, never
  // concurrently with loop->Start() or loop->Stop() of a loop that was never started.
  ~CurlMultiTransport() override;

  CurlMultiTransport(const CurlMultiTransport&) = delete;
  CurlMultiTransport& operator=(const CurlMultiTransport&) = delete;

  // `done` runs on the loop thread, exactly once: on completion, on CancelAll(), on destruction, or
  // when the loop stops (the last three with kCancelled). If the loop no longer runs when Send() is
  // called, `done` runs at once on the calling thread with kCancelled. A GET or HEAD follows
  // redirects (5 at most, http and https only, never from https to http); any other method gets
  // its 3xx as its response (curl would resend a POST as a GET), and so does a request that carries
  // credentials (user info, an Authorization header, a username, password, accessToken or other
  // secret-looking parameter in the query or body);
  // connections are reused across requests and kept alive (TCP keep-alive on). Called on the loop
  // thread, the request is handed to curl before Send() returns.
  void Send(HttpRequest request, std::function<void(HttpResponse)> done) override;

  // On the loop thread (inline if called there). A no-op when the loop is not running.
  void CancelAll() override;

 private:
  struct Core;

  EventLoop* const loop_;
  std::shared_ptr<Core> core_;
  EventLoop::HookId stop_hook_ = EventLoop::kInvalidHookId;
};

// `url` with the password of its user info and the values of secret-looking query parameters
// (names containing password, secret, token, accesskey, credential or signature,
// case-insensitively, the same words as URL::ToRedactedString()) replaced by "***". For log lines.
std::string RedactUrl(std::string_view url);

// Shared by the transports.
// `scheme://host[:port]/path` of `url`: no user info, query or fragment. For status messages.
std::string UrlForMessage(std::string_view url);
// Checks what a transport must never send: a method that is not upper-case letters, a URL that is
// not http(s) or holds whitespace, a header name that is not a token, CR/LF/NUL in a header value
// (header injection). Sets `method` ("GET" for an empty one).
Status ValidateHttpRequest(const HttpRequest& request, std::string* method);
// Calls `done` (if set) with `response`; an exception escaping it is logged, not propagated.
void InvokeHttpDone(const std::function<void(HttpResponse)>& done, HttpResponse response);
// A response that carries only `status` as its transport error.
HttpResponse HttpErrorResponse(Status status);

// The lifecycle shared by the transports bound to an EventLoop. `Core` holds a transport's state,
// confined to the loop thread, and has Start(HttpRequest, Done) and Close(const Status&) (which
// completes everything in flight with kCancelled and is idempotent).
namespace transport_lifecycle {

// Closes `core` when the loop stops (from its stop hook); at once if it has stopped already.
template <typename Core>
EventLoop::HookId CloseWhenLoopStops(EventLoop* loop, const std::shared_ptr<Core>& core) {
  std::weak_ptr<Core> weak = core;
  const EventLoop::HookId hook = loop->AddStopHook([weak] {
    if (std::shared_ptr<Core> c = weak.lock()) c->Close(CancelledError("the event loop stopped"));
  });
  // Stopped already: nothing of the Core reached the loop, so close it here.
  if (hook == EventLoop::kInvalidHookId) core->Close(CancelledError("the event loop is stopped"));
  return hook;
}

// For a transport's destructor: closes `core` on the loop thread, or here when the loop never
// started (nothing runs on it) or has stopped (its stop hook closed the Core already), then
// removes the hook.
template <typename Core>
void CloseAndUnhook(EventLoop* loop, const std::shared_ptr<Core>& core, EventLoop::HookId hook) {
  const Status why = CancelledError("the HTTP transport was destroyed");
  if (!loop->RunInLoopAndWait([&core, &why] { core->Close(why); })) core->Close(why);
  loop->RemoveStopHook(hook);
}

// Runs core->Start(request, done) on the loop: inline on the loop thread, else queued. When the
// loop no longer runs, `done` gets kCancelled at once, on the calling thread.
template <typename Core>
void StartOnLoop(EventLoop* loop, const std::shared_ptr<Core>& core, HttpRequest request,
                 std::function<void(HttpResponse)> done) {
  if (loop->InLoopThread()) {
    core->Start(std::move(request), std::move(done));
    return;
  }
  struct Hop {
    HttpRequest request;
    std::function<void(HttpResponse)> done;
  };
  auto hop = std::make_shared<Hop>(Hop{std::move(request), std::move(done)});
  if (loop->RunInLoop(
          [core, hop] { core->Start(std::move(hop->request), std::move(hop->done)); })) {
    return;
  }
  const std::string method = hop->request.method.empty() ? "GET" : hop->request.method;
  InvokeHttpDone(hop->done,
                 HttpErrorResponse(CancelledError(method + " " + UrlForMessage(hop->request.url) +
                                                  ": the event loop is not running")));
}

}  // namespace transport_lifecycle

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_CURL_TRANSPORT_H_
