// Internal: the naming server's gRPC transport. A TCP listener on a libevent event_base it does not
// own; per accepted connection a non-blocking socket, a read, a write and a timer event, and a
// GrpcConnection (grpc_connection.h: HTTP/2 h2c with prior knowledge, gRPC framing, Payload
// decoding). No TLS, no HTTP/1.1 upgrade. The protocol core is the GrpcHandler; this is its
// GrpcSink.
//
//   GrpcTransport grpc;
//   Status s = grpc.Start(base, options, &core);  // base made after evthread_use_pthreads()
//   ... event_base_dispatch(base) ...
//   grpc.Shutdown(std::chrono::seconds(3), [base] { event_base_loopbreak(base); });  // loop thread
//
// Connection lifecycle: OnConnect when the client's preface (magic and first SETTINGS) has been
// read; a connection that does not send it within handshake_timeout_ms is closed without any
// handler call. OnDisconnect exactly once for every connection that had OnConnect, whatever ends it
// (peer close, read or write error, protocol error, output cap, Close(), Shutdown(), Stop()).
// Writes: output is written as nghttp2 produces it; EV_WRITE is watched only while some is
// pending. A connection whose queued output would pass limits.max_output_bytes (a peer that
// does not read) is closed at once: the answer or stream message that would pass it is not queued,
// and no unary call after it is answered. Ending a connection gracefully (Close(), Shutdown(), or
// nghttp2's GOAWAY after a protocol error) writes what is queued, then shuts the write side and
// drops input until the peer closes, so that the last frames are not lost to a reset;
// close_grace_ms bounds both steps.
//
// Caps: max_connections counts this transport's connections plus, when `metrics` is given, the
// HTTP server's (ServerMetrics::connections_open), so both protocols share one cap; a connection
// past it, or past max_connections_per_peer for its PeerKey, is closed at accept. Every refusal and
// protocol error is counted in `metrics` (server_metrics.h, the grpc_* fields).
//
// Thread-safety: Start(), Shutdown(), Stop() and every callback run on the event_base's loop
// thread (or while it is not running). SendOnStream() and Close() may be called from any thread
// with any lock held: they queue under a leaf mutex and wake the loop (libevent must be in
// pthreads mode for that wake-up), and the handler is never called under that mutex. port() and
// connection_count() may be called from any thread after Start().
#ifndef DUBBO_NAMING_SERVER_SRC_GRPC_TRANSPORT_H_
#define DUBBO_NAMING_SERVER_SRC_GRPC_TRANSPORT_H_

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dubbo/registry/status.h"
#include "grpc_connection.h"
#include "grpc_types.h"
#include "internal/mutex.h"
#include "peer_key.h"
#include "server_metrics.h"

struct event;
struct event_base;

namespace dubbo::naming_server {

struct GrpcTransportOptions {
  std::string bind_address = "127.0.0.1";  // an IPv4 or IPv6 literal
  uint16_t port = 0;                       // 0 picks a free port (port() reads it back)
  GrpcLimits limits;                       // per connection: message, stream, header, output caps
  // The client preface must arrive within this; else the connection is closed. Default 10 s.
  int64_t handshake_timeout_ms = 10000;
  // Close() and Shutdown(): queued output may take this long to be written and the peer this
  // long after that to close, each. Default 5 s.
  int64_t close_grace_ms = 5000;
  // Connections open at once, this transport's plus the HTTP server's counted in `metrics`.
  // Default 10000.
  size_t max_connections = 10000;
  size_t max_connections_per_peer = 1000;  // from one PeerKey; default 1000
  ServerMetrics* metrics = nullptr;        // non-owning; null: not counted
};

class GrpcTransport : public GrpcSink {
 public:
  GrpcTransport();
  ~GrpcTransport() override;  // Stop()
  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  // Binds and listens; connections are served once `base` runs. `handler` must outlive the
  // transport (until Stop()). kInvalidArgument for an address that is not an IP literal or a
  // limit out of range, kUnavailable when the socket cannot be bound.
  registry::Status Start(event_base* base, const GrpcTransportOptions& options,
                         GrpcHandler* handler);
  uint16_t port() const { return port_; }

  // GrpcSink. Any thread; the work is done on the loop thread.
  void SendOnStream(GrpcConnId conn, std::shared_ptr<const GrpcMessage> message) override;
  void Close(GrpcConnId conn) override;

  // Stops accepting, writes what is queued (SendOnStream() calls made before this one included),
  // sends GOAWAY to every connection and closes each once its output is written and the peer has
  // closed; whatever is still open after `grace` is closed then. `done` (may be null) runs on the
  // loop thread once every connection is closed, at most `grace` plus one loop turn later; the
  // loop must keep running until then. After Stop(), or without a successful Start(), `done` runs
  // at once. Loop thread only; once.
  void Shutdown(std::chrono::milliseconds grace, std::function<void()> done);
  // Closes the listener and every connection at once (OnDisconnect for each); no callback runs
  // afterwards and queued sends are dropped. Idempotent; call it before `base` is freed.
  void Stop();

  size_t connection_count() const { return connection_count_.load(std::memory_order_relaxed); }

 private:
  struct Conn;
  struct Command {
    GrpcConnId conn;
    std::shared_ptr<const GrpcMessage> message;  // null: Close(conn)
  };

  static void OnAccept(int fd, short events, void* arg);
  static void OnResume(int fd, short events, void* arg);
  static void OnWake(int fd, short events, void* arg);
  static void OnShutdownTimer(int fd, short events, void* arg);
  static void OnRead(int fd, short events, void* arg);
  static void OnWrite(int fd, short events, void* arg);
  static void OnTimer(int fd, short events, void* arg);

  void Accept();
  void Admit(int fd, const sockaddr_storage& addr);
  // Runs the queued SendOnStream() and Close() calls.
  void RunCommands();
  // Writes what the connection has pending and decides what comes next (wait to write, begin
  // the lingering close, close). false when the connection was closed.
  bool Drive(Conn* c);
  // GOAWAY, then the graceful end (Drive() finishes it).
  void BeginClose(Conn* c, int64_t grace_ms);
  void Linger(Conn* c);
  void ArmTimer(Conn* c, int64_t ms);
  void CloseNow(Conn* c);
  size_t OpenConnections() const;

  event_base* base_ = nullptr;
  GrpcTransportOptions options_;
  GrpcHandler* handler_ = nullptr;
  int listen_fd_ = -1;
  event* listen_event_ = nullptr;
  event* resume_event_ = nullptr;  // re-enables accepting after EMFILE and the like
  event* shutdown_timer_ = nullptr;
  uint16_t port_ = 0;
  std::unordered_map<GrpcConnId, std::unique_ptr<Conn>> conns_;
  std::atomic<size_t> connection_count_{0};
  std::unordered_map<PeerKey, size_t, PeerKeyHash> peers_;  // connections per peer address
  std::unique_ptr<uint8_t[]> read_buffer_;
  bool shutting_down_ = false;
  std::function<void()> shutdown_done_;
  std::vector<Command> spare_commands_;  // RunCommands(): empty, its capacity kept

  registry::internal::Mutex mu_;  // a leaf: guards the two below only
  std::vector<Command> commands_ DUBBO_GUARDED_BY(mu_);
  event* wake_event_ DUBBO_GUARDED_BY(mu_) = nullptr;  // null once stopped
};

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_SRC_GRPC_TRANSPORT_H_
