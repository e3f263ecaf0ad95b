// Internal: the naming server's HTTP/1.1 server, on a libevent event_base it does not own. Raw
// non-blocking sockets, one event_new() read and one write event per connection, no bufferevents
// and no evhttp: per request one recv(), the parser (http_parser.h), the handler, one send().
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
// Deadlines (one timer per connection, armed for the deadline of the connection's current phase;
// bytes that arrive never move a deadline):
//   - head: a request head must be complete `head_timeout_ms` after its first byte (after the
//     accept for a connection's first request), else 408 and close;
//   - body: a body must be complete by head + head_timeout_ms + Content-Length at
//     `min_body_bytes_per_second` (fixed when the head completes; a chunked body, whose length is
//     unknown, earns one second per min_body_bytes_per_second bytes received), else 408 and close;
//   - idle: between requests, and while the peer does not read an answer, `idle_timeout_ms`;
//     then the connection is closed without an answer.
// Connections waiting for input (between requests or within a head) are kept in order of their
// last completed request (or accept), behind those lingering after an error answer. A new
// connection that finds the table full closes the first of them (evicted); when none waits for
// input, the new one is refused. accept4() failing
// with EMFILE/ENFILE evicts a few the same way and retries. A peer address holding
// `max_connections_per_peer` connections has its next ones closed at once. The table's cap is
// max_connections, lowered to the RLIMIT_NOFILE soft limit minus a reserve (connection_cap()).
// Every refusal and early close is counted in `metrics` (server_metrics.h).
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
#include "server_metrics.h"

struct event;
struct event_base;

namespace dubbo::naming_server {

// Fills `addr` for ip:port; false when `ip` is not an IPv4 or IPv6 literal. (The HTTP and the UDP
// sockets of the server both bind with it.)
bool MakeSockaddr(const std::string& ip, uint16_t port, sockaddr_storage* addr, socklen_t* len);

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 0;                       // 0 picks a free port
  HttpParserLimits limits;
  int64_t head_timeout_ms = 10000;           // a request head must arrive whole within this
  int64_t min_body_bytes_per_second = 1024;  // a body slower than this on average gets 408
  int64_t idle_timeout_ms = 60000;  // no input between requests (or no output drained) this long
  size_t max_connections = 10000;   // lowered to the descriptor limit (see connection_cap())
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
  // A peer's address as 16 bytes (IPv4 as IPv4-mapped IPv6), the key of the per-peer count.
  struct PeerKey {
    uint64_t hi = 0;
    uint64_t lo = 0;
    bool operator==(const PeerKey& o) const { return hi == o.hi && lo == o.lo; }
  };
  struct PeerKeyHash {
    size_t operator()(const PeerKey& k) const {
      return static_cast<size_t>((k.hi * 0x9E3779B97F4A7C15ull) ^ (k.lo * 0xC2B2AE3D27D4EB4Full));
    }
  };

  static void OnAccept(int fd, short events, void* arg);
  static void OnResume(int fd, short events, void* arg);
  static void OnRead(int fd, short events, void* arg);
  static void OnWrite(int fd, short events, void* arg);
  static void OnTimer(int fd, short events, void* arg);

  void Accept();
  // Takes the accepted `fd` into the table, or closes it (per-peer cap, full table).
  void Admit(int fd, const sockaddr_storage& addr);
  // Closes the connection that has waited longest for input; false when none waits for input.
  bool EvictOldest();
  // Parses and answers the buffered requests, writes, and decides what to wait for next.
  void Drive(Connection* c);
  // Answers the complete requests in the parser; true when it stopped early because the output
  // is large (more requests may be buffered). Adds the requests answered to `*answered`.
  bool Process(Connection* c, size_t* answered);
  void Answer(Connection* c, const ParsedRequest& request);
  void AppendResponse(Connection* c, int minor_version, int status, std::string_view content_type,
                      std::string_view body, size_t content_length, bool close, bool keep_alive_10);
  void AppendError(Connection* c, int status);
  // Writes what is pending; false when the connection was closed on an error.
  bool Flush(Connection* c);
  void FinishClose(Connection* c);
  void Close(Connection* c);
  // After Drive(): the connection's phase and deadline from what it waits for, its place in the
  // eviction order (`answered`: requests completed just now).
  void Settle(Connection* c, size_t answered);
  // Sets the deadline; re-arms the timer only when it must fire earlier than it is armed for.
  void SetDeadline(Connection* c, int64_t deadline_ms, int64_t now_ms);
  void Expire(Connection* c, int64_t now_ms);
  // Answers 408 and closes.
  void TimeOut(Connection* c, RejectReason reason);
  void Count(RejectReason reason);
  // The eviction order: connections that wait for input, the longest waiting first.
  void Unlist(Connection* c);
  void ListAtBack(Connection* c);
  void ListAtFront(Connection* c);
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
  Connection* oldest_ = nullptr;                            // the eviction order (intrusive), front
  Connection* newest_ = nullptr;                            // ... and back
  std::unordered_map<PeerKey, size_t, PeerKeyHash> peers_;  // connections per peer address
  std::unique_ptr<char[]> read_buffer_;
  HttpRequest scratch_;  // reused for every request: keeps its strings' capacity
  time_t date_second_ = -1;
  char date_[40] = {0};
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_
