// Internal: KeepAliveTransport, the naming client's own HTTP/1.1 client for plain-http servers:
// persistent connections, pipelined requests, batched writes, all on the client's EventLoop.
// https and URLs with user info go to a fallback transport (CurlMultiTransport), and so does a
// server given by host name until an answer through the fallback has shown its address (the
// fallback resolves names without blocking the loop; we do not resolve). From then on requests go
// to that address (Host as written), and every 30 s one request goes through the fallback again to
// notice a DNS change: connections to an old address finish what they carry and close. A failed
// connect forgets the address.
//
//   EventLoop loop;
//   loop.Start().IgnoreError();
//   CurlMultiTransport curl(&loop);
//   KeepAliveTransport http(&loop, &curl);
//   http.Send(std::move(request), [](HttpResponse r) { ... });   // Once, on the loop thread.
//
// Why: 10,000 instances beating every 5 s are 2,000 requests a second. Through libcurl each costs
// ~75 µs of CPU (easy-handle setup, header lists, a send and a receive system call, allocations).
// Here a request is appended to a connection's output buffer and every request queued during one
// loop iteration leaves in one send(); answers are parsed in place (http_response_parser.h).
//
// Connections: at most `max_connections_per_server` per ip:port; a request goes to the first open
// connection with fewer than `pipeline_depth` requests outstanding, else to a new connection, else
// it waits for a slot (in order). Requests on one connection are answered in order (HTTP/1.1
// pipelining, RFC 9112 §9.3.2; Tomcat, which serves real Nacos, and our naming-server both support
// it). `pipeline_depth` 1 turns pipelining off.
//
// Failures, following the HTTP/1.1 rules for retrying on a persistent connection:
//   - the server answers `Connection: close` (Tomcat does so after maxKeepAliveRequests, 100 by
//     default): requests sent behind that answer were not processed; they go out again on another
//     connection, and, if that answer was a success (Tomcat also closes after some errors), later
//     connections to that server carry at most as many requests as that one answered;
//   - the connection closes or resets with requests outstanding: if it had answered before (a
//     keep-alive race), each unanswered request is sent once more on a new connection; otherwise,
//     or the second time, it fails with kUnavailable;
//   - connect refused or unreachable: kUnavailable; connect timeout (`connect_timeout_ms`) or a
//     request's `timeout_ms` passing: kDeadlineExceeded for it, and the connection is closed (a
//     server that stalls one request stalls the ones behind it); the others outstanding on it are
//     sent again on a new connection unless already sent twice;
//   - a malformed answer or one over the size limit: kUnavailable, connection closed.
// Timeouts are checked by one timer per connection, re-armed only when it fires, so a request
// costs no timer operation.
//
// Response bodies are decoded from gzip when the server used Content-Encoding: gzip (we announce
// gzip); any other content coding is an error. Redirects are not followed (3xx is returned as it
// is; Nacos's naming API never redirects).
//
// Thread-safety: Send() and CancelAll() may be called from any thread, including from inside a
// `done`; everything else happens on the loop thread. `done` callbacks run on the loop thread (on
// the caller's thread when the loop is not running), never while the transport is inside a socket
// operation, so they may send, cancel or destroy the transport.
#ifndef DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_KEEPALIVE_TRANSPORT_H_
#define DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_KEEPALIVE_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "transport/http/curl_transport.h"
#include "event_loop.h"

namespace dubbo::registry::nacos {

struct KeepAliveOptions {
  // Connections open at once to one server. Default 8 (as CurlTransportOptions).
  size_t max_connections_per_server = 8;
  // Requests outstanding on one connection. Default 16; 1 turns pipelining off.
  size_t pipeline_depth = 16;
  // An idle connection is closed after this long. Default 30000 ms.
  int64_t idle_timeout_ms = 30000;
  // Larger response bodies (before gzip is undone, and after) fail the request. Default 16 MiB.
  size_t max_response_bytes = size_t{16} << 20;
};

class KeepAliveTransport final : public HttpTransport {
 public:
  // `loop` and `fallback` must outlive this object; `fallback` gets every request this transport
  // does not handle itself (see the file comment). Send the first request after loop->Start().
  KeepAliveTransport(EventLoop* loop, HttpTransport* fallback, KeepAliveOptions options = {});
  // Completes every request in flight here with kCancelled and closes the connections. Call it
  // while the loop runs or after loop->Stop() returned.
  ~KeepAliveTransport() override;

  KeepAliveTransport(const KeepAliveTransport&) = delete;
  KeepAliveTransport& operator=(const KeepAliveTransport&) = delete;

  void Send(HttpRequest request, std::function<void(HttpResponse)> done) override;
  // Cancels this transport's requests (closing its connections), then the fallback's.
  void CancelAll() override;

  // True if Send() always handles `url` itself: http://, an IPv4 or bracketed IPv6 literal, a valid
  // port, no user info. (A host name is handled once its address is known; see above.)
  static bool Handles(std::string_view url);

 private:
  struct Core;

  EventLoop* const loop_;
  HttpTransport* const fallback_;
  std::shared_ptr<Core> core_;
  EventLoop::HookId stop_hook_ = EventLoop::kInvalidHookId;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_TRANSPORT_HTTP_KEEPALIVE_TRANSPORT_H_
