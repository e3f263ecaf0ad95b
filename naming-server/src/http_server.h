// Internal: the naming server's HTTP/1.1 server, on a libevent event_base it does not own. Raw
// non-blocking sockets, one event_new() read and one write event per connection, no bufferevents
// and no evhttp: per request one recv(), the parser (http_parser.h), the handler, one sendmsg().
// Why not evhttp: docs/naming-server.md ("The HTTP layer").
//
//   HttpServer http;
//   Status s = http.Start(base, options, [](const HttpRequest& r) { return HttpResponse::Text(200,
//   "ok"); });
//   ... event_base_dispatch(base) ...
//   http.Stop();  // on the loop thread, or after the loop has stopped
//
// Per connection: HTTP/1.1 keep-alive (HTTP/1.0 only with `Connection: keep-alive`), pipelined
// requests answered in order, `Expect: 100-continue` answered with an interim 100 while the body
// is missing, and back-pressure (while a response cannot be written, the connection is not read).
// Methods other than GET, POST, PUT, DELETE, PATCH and HEAD get 501; malformed requests 400,
// oversized ones 413 (body) or 431 (head), unsupported transfer codings 501; each of these closes
// the connection after the answer (a lingering close: the write side is shut, further input
// discarded for a moment so that the answer is not lost to a reset).
// HEAD: the handler sees HEAD and its response's body is not sent (Content-Length is).
//
// Output: each connection queues its answers in order; heads and bodies up to 16 KiB are copied
// into one string, a larger body is queued by reference (the response's shared body, or its own
// body moved into one) and written with sendmsg() beside the heads, never copied. The answer bytes
// queued for peers that do not read them are counted (ServerMetrics::output_buffered_bytes); while
// they exceed `max_output_bytes`, a connection that still has output queued answers no further
// pipelined request until its queue is written; so does one with more than 256 KiB queued. Both
// are checked before each request, so a write event that leaves output queued answers nothing.
//
// Deadlines (one timer per connection, armed for the deadline of the connection's current phase):
//   - head: a request head must be complete `head_timeout_ms` after its first byte (after the
//     accept for a connection's first request; after the answer to the request before it when
//     its bytes were buffered already, also behind an answer being written), else 408 and close;
//     bytes that arrive never move it;
//   - body: from the end of its head, a body has `head_timeout_ms` plus one second per
//     `min_body_bytes_per_second` bytes received (both framings; checked when the timer fires),
//     else 408 and close;
//   - writing: from when an answer stops fitting in the socket, the peer has `head_timeout_ms`
//     plus one second per `min_body_bytes_per_second` bytes it has read, else the connection is
//     closed (kSlowReader);
//   - idle: between requests, `idle_timeout_ms`; then the connection is closed without an answer.
// When a new connection finds the table full, one connection is closed to make room (evicted), in
// this order: one lingering after an error answer (not counted as evicted); one that has never
// completed a request and waits for a head (the oldest first); one that has completed a request
// and waits for the next (the oldest last request first); else the one receiving a body or
// writing an answer that is furthest behind its rate (the earliest deadline; a scan of the
// table, done only when the two lists are empty). accept4() failing with EMFILE/ENFILE evicts one
// the same way per pending connection and retries. A peer (PeerKey: an IPv4 address, an IPv6
// /64) holding `max_connections_per_peer` connections has its next ones closed at once. The
// table's cap is max_connections, lowered to the RLIMIT_NOFILE soft limit minus a reserve
// (connection_cap()). Every refusal and early close is counted in `metrics` (server_metrics.h).
//
// Thread-safety: Start(), Stop() and every callback run on the event_base's loop thread (or while
// it is not running); port() and connection_cap() may be called from any thread after Start().
#ifndef DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_
#define DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "dubbo/registry/status.h"
#include "http_parser.h"
#include "http_types.h"
#include "peer_key.h"
#include "server_metrics.h"

struct event;
struct event_base;

namespace dubbo::naming_server {

// Fills `addr` for ip:port; false when `ip` is not an IPv4 or IPv6 literal. (The HTTP and the UDP
// sockets of the server both bind with it.)
bool MakeSockaddr(const std::string& ip, uint16_t port, sockaddr_storage* addr, socklen_t* len);
// The IP (inet_ntop form) and port of an AF_INET or AF_INET6 address; false for another family.
bool PeerOf(const sockaddr_storage& addr, std::string* ip, uint16_t* port);
// Binds and listens on `addr` (non-blocking, close-on-exec, SO_REUSEADDR, backlog 1024): the
// socket in `*fd`, the port bound in `*bound_port` (the one picked for port 0). kUnavailable when
// it cannot bind.
registry::Status ListenTcp(const sockaddr_storage& addr, socklen_t len, int* fd,
                           uint16_t* bound_port);

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 0;                       // 0 picks a free port
  HttpParserLimits limits;
  int64_t head_timeout_ms = 10000;  // a request head must arrive whole within this; also the
                                    // grace of a body and of a peer reading an answer
  // A body sent, or an answer read, slower than this on average (after the grace) closes.
  int64_t min_body_bytes_per_second = 1024;
  int64_t idle_timeout_ms = 60000;  // no input between requests this long closes
  // Answer bytes queued for slow peers above which no connection with output queued answers
  // another pipelined request. Default 64 MiB.
  size_t max_output_bytes = size_t{64} << 20;
  // Lowered to the descriptor limit (see connection_cap()). The gRPC connections counted in
  // `metrics` (grpc_connections_open) count against it too.
  size_t max_connections = 10000;
  size_t max_connections_per_peer = 1000;  // connections from one peer address
  ServerMetrics* metrics = nullptr;        // non-owning; null: not counted
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; connections are served once `base` runs. kInvalidArgument for an address
  // that is not an IP literal or a limit that is not positive, kUnavailable when the socket cannot
  // be bound.
  registry::Status Start(event_base* base, HttpServerOptions options, HttpHandler handler);
  uint16_t port() const { return port_; }
  // Connections held at once: max_connections, or fewer when the RLIMIT_NOFILE soft limit (read
  // by Start()) leaves less room. Set by Start().
  size_t connection_cap() const { return connection_cap_; }
  // Closes the listener and every connection; no callback runs afterwards. Idempotent.
  void Stop();
  size_t connection_count() const { return connection_count_; }

 private:
  struct Connection;
  // An intrusive list of connections in eviction order, front first.
  struct Queue {
    Connection* front = nullptr;
    Connection* back = nullptr;
  };

  static void OnAccept(int fd, short events, void* arg);
  static void OnResume(int fd, short events, void* arg);
  static void OnRead(int fd, short events, void* arg);
  static void OnWrite(int fd, short events, void* arg);
  static void OnTimer(int fd, short events, void* arg);

  void Accept();
  // Takes the accepted `fd` into the table, or closes it (per-peer cap, full table).
  void Admit(int fd, const sockaddr_storage& addr);
  // Closes one connection in the eviction order; false when the table is empty.
  bool EvictOne();
  // Parses and answers the buffered requests, writes, and decides what to wait for next.
  void Drive(Connection* c);
  // Answers the complete requests in the parser; true when it stopped early because the output
  // is large (more requests may be buffered). Adds the requests answered to `*answered`.
  bool Process(Connection* c, size_t* answered);
  void Answer(Connection* c, const ParsedRequest& request);
  void AppendResponse(Connection* c, int minor_version, int status, std::string_view content_type,
                      std::string_view body, size_t content_length, bool close, bool keep_alive_10);
  void AppendError(Connection* c, int status);
  // Writes what is queued; false when the connection was closed on an error.
  bool Flush(Connection* c);
  // Drops the first `n` queued bytes, written.
  static void Consume(Connection* c, size_t n);
  // Brings output_bytes_ (and the metric) in step with the bytes `c` has queued.
  void Publish(Connection* c);
  void FinishClose(Connection* c);
  void Close(Connection* c);
  // After Drive(): the connection's phase and deadline from what it waits for, its place in the
  // eviction order (`answered`: requests completed just now).
  void Settle(Connection* c, size_t answered);
  // Sets the deadline; re-arms the timer only when it must fire earlier than it is armed for.
  void SetDeadline(Connection* c, int64_t deadline_ms, int64_t now_ms);
  void Expire(Connection* c, int64_t now_ms);
  // kBody and kWriting: since_ms + head_timeout_ms + the bytes moved since then at the minimum
  // rate.
  int64_t EarnedDeadline(const Connection* c) const;
  // Answers 408 and closes.
  void TimeOut(Connection* c, RejectReason reason);
  void Count(RejectReason reason);
  // The eviction order (fresh_, then served_).
  void Unlist(Connection* c);
  void ListAtBack(Connection* c, Queue* q);
  void ListAtFront(Connection* c, Queue* q);
  const char* Date();

  event_base* base_ = nullptr;
  HttpServerOptions options_;
  HttpHandler handler_;
  size_t connection_cap_ = 0;
  int listen_fd_ = -1;
  event* listen_event_ = nullptr;
  event* resume_event_ = nullptr;  // re-enables accepting after ENOBUFS and the like
  uint16_t port_ = 0;
  Connection* connections_ = nullptr;  // intrusive list of every connection
  size_t connection_count_ = 0;
  // Lingering connections, then those that wait for their first request's head, by accept.
  Queue fresh_;
  // Connections that completed a request and wait for input, by their last completed request.
  Queue served_;
  size_t output_bytes_ = 0;  // the queued output of stalled connections (Publish())
  std::unordered_map<PeerKey, size_t, PeerKeyHash> peers_;  // connections per peer address
  std::unique_ptr<char[]> read_buffer_;
  HttpRequest scratch_;  // reused for every request: keeps its strings' capacity
  time_t date_second_ = -1;
  char date_[40] = {0};
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_
