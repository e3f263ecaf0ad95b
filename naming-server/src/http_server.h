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
// is missing, an idle timeout, and back-pressure (while a response cannot be written, the
// connection is not read). Methods other than GET, POST, PUT, DELETE, PATCH and HEAD get 501;
// malformed requests 400, oversized ones 413 (body) or 431 (head), unsupported transfer codings
// 501; each of these closes the connection after the answer (a lingering close: the write side
// is shut, further input discarded for a moment so that the answer is not lost to a reset).
// HEAD: the handler sees HEAD and its response's body is not sent (Content-Length is).
//
// Thread-safety: Start(), Stop() and every callback run on the event_base's loop thread (or while
// it is not running); port() may be called from any thread after Start().
#ifndef DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_
#define DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

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
  int idle_timeout_seconds =
      60;  // a connection without input (or stuck writing) this long is closed
  size_t max_connections = 10000;  // further connections are accepted and closed at once
  ServerMetrics* metrics = nullptr;  // non-owning; null: not counted
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  HttpServer();
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens; connections are served once `base` runs. kInvalidArgument for an address
  // that is not an IP literal, kUnavailable when the socket cannot be bound.
  registry::Status Start(event_base* base, HttpServerOptions options, HttpHandler handler);
  uint16_t port() const { return port_; }
  // Closes the listener and every connection; no callback runs afterwards. Idempotent.
  void Stop();
  size_t connection_count() const { return connection_count_; }

 private:
  struct Connection;

  static void OnAccept(int fd, short events, void* arg);
  static void OnResume(int fd, short events, void* arg);
  static void OnRead(int fd, short events, void* arg);
  static void OnWrite(int fd, short events, void* arg);

  void Accept();
  // Parses and answers the buffered requests, writes, and decides what to wait for next.
  void Drive(Connection* c);
  // Answers the complete requests in the parser; true when it stopped early because the output
  // is large (more requests may be buffered).
  bool Process(Connection* c);
  void Answer(Connection* c, const ParsedRequest& request);
  void AppendResponse(Connection* c, int minor_version, int status, std::string_view content_type,
                      std::string_view body, size_t content_length, bool close, bool keep_alive_10);
  void AppendError(Connection* c, int status);
  // Writes what is pending; false when the connection was closed on an error.
  bool Flush(Connection* c);
  void FinishClose(Connection* c);
  void Close(Connection* c);
  const char* Date();

  event_base* base_ = nullptr;
  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  event* listen_event_ = nullptr;
  event* resume_event_ = nullptr;                 // re-enables accepting after EMFILE and the like
  const struct timeval* idle_timeout_ = nullptr;  // a libevent common timeout
  uint16_t port_ = 0;
  Connection* connections_ = nullptr;  // intrusive list
  size_t connection_count_ = 0;
  std::unique_ptr<char[]> read_buffer_;
  HttpRequest scratch_;  // reused for every request: keeps its strings' capacity
  time_t date_second_ = -1;
  char date_[40] = {0};
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_HTTP_SERVER_H_
