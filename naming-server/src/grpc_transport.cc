#include "grpc_transport.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "http_server.h"  // MakeSockaddr, PeerOf, ListenTcp

namespace dubbo::naming_server {
namespace {

constexpr size_t kReadChunk = 64 << 10;
// Deadlines are capped here (about 34 years), far from overflowing a timeval.
constexpr int64_t kMaxMs = int64_t{1} << 40;

// Ids are unique within the process, across transports.
std::atomic<GrpcConnId> next_conn_id{1};

timeval Timeval(int64_t ms) {
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
}

}  // namespace

struct GrpcTransport::Conn {
  GrpcTransport* transport = nullptr;
  int fd = -1;
  GrpcConnId id = 0;
  PeerKey peer;
  std::unique_ptr<GrpcConnection> proto;
  event* read_event = nullptr;
  event* write_event = nullptr;
  event* timer_event = nullptr;
  bool writing = false;    // write_event added
  bool closing = false;    // GOAWAY queued: end once the output is written
  bool lingering = false;  // write side shut; input dropped until the peer closes
  bool touched = false;    // RunCommands(): queued output, to be driven once
};

GrpcTransport::GrpcTransport() = default;

GrpcTransport::~GrpcTransport() { Stop(); }

registry::Status GrpcTransport::Start(event_base* base, const GrpcTransportOptions& options,
                                      GrpcHandler* handler) {
  base_ = base;
  options_ = options;
  handler_ = handler;
  if (handler_ == nullptr || options_.handshake_timeout_ms <= 0 ||
      options_.handshake_timeout_ms > kMaxMs || options_.close_grace_ms <= 0 ||
      options_.close_grace_ms > kMaxMs || options_.max_connections == 0 ||
      options_.max_connections_per_peer == 0) {
    return registry::InvalidArgumentError(
        "gRPC handler, timeouts and connection caps must be set and positive");
  }
  {
    // The limits are checked by a connection's Init(): check them once here.
    GrpcConnection probe(0, "", 0, options_.limits, handler_, nullptr);
    registry::Status limits = probe.Init();
    if (!limits.ok()) return limits;
  }
  read_buffer_ = std::make_unique<uint8_t[]>(kReadChunk);
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!MakeSockaddr(options_.bind_address, options_.port, &addr, &len)) {
    return registry::InvalidArgumentError("the gRPC bind address must be an IP address: " +
                                          options_.bind_address);
  }
  registry::Status listening = ListenTcp(addr, len, &listen_fd_, &port_);
  if (!listening.ok()) return listening;
  listen_event_ =
      event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &GrpcTransport::OnAccept, this);
  resume_event_ = event_new(base_, -1, 0, &GrpcTransport::OnResume, this);
  shutdown_timer_ = event_new(base_, -1, 0, &GrpcTransport::OnShutdownTimer, this);
  event* wake = event_new(base_, -1, 0, &GrpcTransport::OnWake, this);
  {
    registry::internal::MutexLock lock(&mu_);
    wake_event_ = wake;
  }
  if (listen_event_ == nullptr || resume_event_ == nullptr || shutdown_timer_ == nullptr ||
      wake == nullptr || event_add(listen_event_, nullptr) != 0) {
    return registry::InternalError("cannot watch the gRPC listener");
  }
  return registry::Status::Ok();
}

void GrpcTransport::Stop() {
  {
    registry::internal::MutexLock lock(&mu_);
    if (wake_event_ != nullptr) event_free(wake_event_);
    wake_event_ = nullptr;
    commands_.clear();
  }
  shutdown_done_ = nullptr;  // Stop() ends a shutdown without its callback
  if (listen_event_ != nullptr) event_free(listen_event_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_event_ = nullptr;
  listen_fd_ = -1;
  while (!conns_.empty()) CloseNow(conns_.begin()->second.get());
  if (resume_event_ != nullptr) event_free(resume_event_);
  if (shutdown_timer_ != nullptr) event_free(shutdown_timer_);
  resume_event_ = nullptr;
  shutdown_timer_ = nullptr;
}

void GrpcTransport::SendOnStream(GrpcConnId conn, std::shared_ptr<const GrpcMessage> message) {
  if (message == nullptr) return;
  registry::internal::MutexLock lock(&mu_);
  if (wake_event_ == nullptr) return;
  const bool first = commands_.empty();  // else a wake-up is pending already
  commands_.push_back(Command{conn, std::move(message)});
  if (first) event_active(wake_event_, EV_READ, 0);
}

void GrpcTransport::Close(GrpcConnId conn) {
  registry::internal::MutexLock lock(&mu_);
  if (wake_event_ == nullptr) return;
  const bool first = commands_.empty();
  commands_.push_back(Command{conn, nullptr});
  if (first) event_active(wake_event_, EV_READ, 0);
}

void GrpcTransport::OnWake(int /*fd*/, short /*events*/, void* arg) {
  static_cast<GrpcTransport*>(arg)->RunCommands();
}

void GrpcTransport::RunCommands() {
  // The two vectors trade places and keep their capacity: a push to many connections does not
  // grow one from empty each time.
  std::vector<Command> batch = std::move(spare_commands_);
  {
    registry::internal::MutexLock lock(&mu_);
    batch.swap(commands_);
  }
  std::vector<GrpcConnId> touched;
  for (Command& command : batch) {
    auto it = conns_.find(command.conn);
    if (it == conns_.end()) continue;
    Conn* c = it->second.get();
    if (command.message == nullptr) {
      BeginClose(c, options_.close_grace_ms);
      continue;
    }
    if (c->lingering || c->proto->over_output_cap()) continue;  // Drive() closes the latter
    c->proto->SendOnStream(EncodeGrpcFrame(*command.message));
    if (!c->touched) {
      c->touched = true;
      touched.push_back(c->id);
    }
  }
  for (GrpcConnId id : touched) {
    auto it = conns_.find(id);
    if (it == conns_.end()) continue;
    it->second->touched = false;
    Drive(it->second.get());
  }
  batch.clear();
  spare_commands_ = std::move(batch);
}

void GrpcTransport::OnAccept(int /*fd*/, short /*events*/, void* arg) {
  static_cast<GrpcTransport*>(arg)->Accept();
}

void GrpcTransport::OnResume(int /*fd*/, short /*events*/, void* arg) {
  auto* self = static_cast<GrpcTransport*>(arg);
  if (self->listen_event_ != nullptr) event_add(self->listen_event_, nullptr);
}

void GrpcTransport::Accept() {
  for (int i = 0; i < 64; ++i) {  // bounded: let the established connections in between
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        // The listener would fire again at once: pause it for 100 ms.
        event_del(listen_event_);
        const timeval pause{0, 100 * 1000};
        event_add(resume_event_, &pause);
      }
      return;
    }
    if (options_.metrics != nullptr) {
      options_.metrics->grpc_connections_accepted.fetch_add(1, std::memory_order_relaxed);
    }
    Admit(fd, addr);
  }
}

size_t GrpcTransport::OpenConnections() const {
  if (options_.metrics == nullptr) return conns_.size();
  return static_cast<size_t>(
      options_.metrics->connections_open.load(std::memory_order_relaxed) +
      options_.metrics->grpc_connections_open.load(std::memory_order_relaxed));
}

void GrpcTransport::Admit(int fd, const sockaddr_storage& addr) {
  const PeerKey key = PeerKey::Of(addr);
  auto peer = peers_.find(key);
  if ((peer != peers_.end() && peer->second >= options_.max_connections_per_peer) ||
      OpenConnections() >= options_.max_connections) {
    if (options_.metrics != nullptr) {
      options_.metrics->grpc_connections_refused.fetch_add(1, std::memory_order_relaxed);
    }
    ::close(fd);
    return;
  }
  std::string peer_ip;
  uint16_t peer_port = 0;
  PeerOf(addr, &peer_ip, &peer_port);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto owned = std::make_unique<Conn>();
  Conn* c = owned.get();
  c->transport = this;
  c->fd = fd;
  c->id = next_conn_id.fetch_add(1, std::memory_order_relaxed);
  c->peer = key;
  c->proto = std::make_unique<GrpcConnection>(c->id, std::move(peer_ip), peer_port, options_.limits,
                                              handler_, options_.metrics);
  c->read_event = event_new(base_, fd, EV_READ | EV_PERSIST, &GrpcTransport::OnRead, c);
  c->write_event = event_new(base_, fd, EV_WRITE | EV_PERSIST, &GrpcTransport::OnWrite, c);
  c->timer_event = event_new(base_, -1, 0, &GrpcTransport::OnTimer, c);
  conns_.emplace(c->id, std::move(owned));
  ++peers_[key];
  connection_count_.fetch_add(1, std::memory_order_relaxed);
  if (options_.metrics != nullptr) {
    options_.metrics->grpc_connections_open.fetch_add(1, std::memory_order_relaxed);
  }
  if (c->read_event == nullptr || c->write_event == nullptr || c->timer_event == nullptr ||
      !c->proto->Init().ok() || event_add(c->read_event, nullptr) != 0) {
    CloseNow(c);
    return;
  }
  ArmTimer(c, options_.handshake_timeout_ms);
  Drive(c);  // the server's SETTINGS
}

void GrpcTransport::OnRead(int fd, short /*events*/, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  GrpcTransport* self = c->transport;
  const ssize_t n = ::recv(fd, self->read_buffer_.get(), kReadChunk, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {  // the peer closed, or reset
    self->CloseNow(c);
    return;
  }
  if (c->lingering) return;  // dropped; the timer bounds the wait
  if (!c->proto->Feed(self->read_buffer_.get(), static_cast<size_t>(n))) {
    self->CloseNow(c);
    return;
  }
  self->Drive(c);
}

void GrpcTransport::OnWrite(int /*fd*/, short /*events*/, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  c->transport->Drive(c);
}

void GrpcTransport::OnTimer(int /*fd*/, short /*events*/, void* arg) {
  auto* c = static_cast<Conn*>(arg);
  GrpcTransport* self = c->transport;
  if (c->closing || c->lingering) {  // the grace is over
    self->CloseNow(c);
    return;
  }
  if (!c->proto->connected()) {  // no preface in time
    if (self->options_.metrics != nullptr) {
      self->options_.metrics->grpc_protocol_errors.fetch_add(1, std::memory_order_relaxed);
    }
    self->CloseNow(c);
  }
}

bool GrpcTransport::Drive(Conn* c) {
  if (c->lingering) return true;
  bool blocked = false;
  while (true) {
    const std::string_view out = c->proto->PendingOutput();
    if (out.empty()) break;
    const ssize_t n = ::send(c->fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->proto->Consume(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      blocked = true;
      break;
    }
    CloseNow(c);  // the peer is gone
    return false;
  }
  if (c->proto->over_output_cap()) {
    if (options_.metrics != nullptr) {
      options_.metrics->grpc_output_overflows.fetch_add(1, std::memory_order_relaxed);
    }
    CloseNow(c);
    return false;
  }
  if (blocked != c->writing) {
    if (blocked ? event_add(c->write_event, nullptr) != 0 : event_del(c->write_event) != 0) {
      CloseNow(c);
      return false;
    }
    c->writing = blocked;
  }
  if (!blocked && (c->proto->done() || (c->closing && c->proto->output_idle()))) Linger(c);
  return true;
}

void GrpcTransport::BeginClose(Conn* c, int64_t grace_ms) {
  if (c->closing || c->lingering) return;
  c->closing = true;
  c->proto->GoAway();
  ArmTimer(c, grace_ms);
  Drive(c);
}

void GrpcTransport::Linger(Conn* c) {
  // Everything is written. Shutting the write side (not closing) lets the peer read it all; a
  // close with unread input would send a reset that can destroy what the peer has not read yet.
  c->lingering = true;
  ::shutdown(c->fd, SHUT_WR);
  ArmTimer(c, options_.close_grace_ms);
}

void GrpcTransport::ArmTimer(Conn* c, int64_t ms) {
  const timeval tv = Timeval(ms);
  event_add(c->timer_event, &tv);
}

void GrpcTransport::CloseNow(Conn* c) {
  if (c->read_event != nullptr) event_free(c->read_event);
  if (c->write_event != nullptr) event_free(c->write_event);
  if (c->timer_event != nullptr) event_free(c->timer_event);
  ::close(c->fd);
  if (auto it = peers_.find(c->peer); it != peers_.end() && --it->second == 0) peers_.erase(it);
  connection_count_.fetch_sub(1, std::memory_order_relaxed);
  if (options_.metrics != nullptr) {
    options_.metrics->grpc_connections_open.fetch_sub(1, std::memory_order_relaxed);
    if (c->proto->protocol_error()) {
      options_.metrics->grpc_protocol_errors.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const GrpcConnId id = c->id;
  const bool connected = c->proto->connected();
  conns_.erase(id);  // frees c
  if (connected) handler_->OnDisconnect(id);
  if (shutting_down_ && conns_.empty() && shutdown_done_ != nullptr) {
    event_del(shutdown_timer_);
    std::function<void()> done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }
}

void GrpcTransport::Shutdown(std::chrono::milliseconds grace, std::function<void()> done) {
  if (shutdown_timer_ == nullptr) {  // never started, or stopped: nothing to wait for
    Stop();
    if (done != nullptr) done();
    return;
  }
  RunCommands();
  if (listen_event_ != nullptr) event_free(listen_event_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_event_ = nullptr;
  listen_fd_ = -1;
  if (resume_event_ != nullptr) event_del(resume_event_);
  shutting_down_ = true;
  shutdown_done_ = std::move(done);
  const int64_t grace_ms = std::max<int64_t>(0, std::min<int64_t>(grace.count(), kMaxMs));
  std::vector<GrpcConnId> ids;
  ids.reserve(conns_.size());
  for (const auto& [id, c] : conns_) ids.push_back(id);
  for (GrpcConnId id : ids) {
    auto it = conns_.find(id);
    if (it != conns_.end()) BeginClose(it->second.get(), grace_ms);
  }
  // Whatever is open after the grace is closed then; with nothing open, `done` runs at once
  // (on the next loop turn).
  const timeval tv = Timeval(conns_.empty() ? 0 : grace_ms);
  event_add(shutdown_timer_, &tv);
}

void GrpcTransport::OnShutdownTimer(int /*fd*/, short /*events*/, void* arg) {
  auto* self = static_cast<GrpcTransport*>(arg);
  std::function<void()> done = std::move(self->shutdown_done_);
  self->shutdown_done_ = nullptr;
  while (!self->conns_.empty()) self->CloseNow(self->conns_.begin()->second.get());
  if (done != nullptr) done();
}

}  // namespace dubbo::naming_server
