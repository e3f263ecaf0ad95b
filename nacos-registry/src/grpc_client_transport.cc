#include "grpc_client_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/dns.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

#include "internal/logging.h"

namespace dubbo::registry::nacos {
namespace {

constexpr size_t kReadChunk = 64 << 10;

std::string Errno(int err) { return std::strerror(err); }

std::string Millis(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + " ms";
}

// `host` as an IPv4 or IPv6 literal ("[v6]" brackets removed); false when it is not one.
bool ParseIpLiteral(std::string host, int port, sockaddr_storage* addr, socklen_t* len) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::memset(addr, 0, sizeof(*addr));
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

class GrpcClientChannel final : public GrpcChannel {
 public:
  GrpcClientChannel(EventLoop* loop, const GrpcTransportOptions& options, std::string authority,
                    GrpcChannelEvents* events)
      : loop_(loop),
        read_budget_(std::max<size_t>(options.read_budget_bytes, 1)),
        events_(events),
        authority_(authority),
        conn_(options.limits, std::move(authority)) {}

  ~GrpcClientChannel() override { Close(); }

  // Starts the connection; failures are reported from a loop callback.
  void Start(const std::string& host, int port, Duration connect_timeout, evdns_base* dns);

  void Unary(GrpcMessage request, Duration timeout, UnaryDone done) override;
  Status SendOnStream(GrpcMessage message) override;
  void Close() override;

 private:
  enum class State { kResolving, kConnecting, kOpen, kClosed };
  struct Call {
    UnaryDone done;
    TaskId timer = kInvalidTaskId;
  };
  // evdns_getaddrinfo's callback argument: owned by the callback, which always runs once.
  struct DnsContext {
    std::weak_ptr<int> alive;
    GrpcClientChannel* self;
    int port;
  };

  static void OnResolved(int result, evutil_addrinfo* res, void* arg);
  void StartConnect(const sockaddr* addr, socklen_t len);
  // Runs `done(status)` from a loop callback of its own; dropped once the loop has stopped.
  void PostDone(UnaryDone done, Status status);
  // Fail() from a loop callback of its own (for failures found inside a method).
  void FailSoon(Status why);
  // Ends the channel: pending calls fail with kUnavailable, then OnChannelClosed(why). Runs in a
  // loop callback only.
  void Fail(Status why);
  // Frees the socket, its watch, the timers and the DNS request; state_ becomes kClosed.
  void Teardown();
  void OnFd(short fired);
  void OnDeadline(int32_t call);
  // Writes what the connection has to send, as far as the socket takes it, and watches the fd for
  // what is needed next. Not OK: the socket failed.
  Status Flush();
  void UpdateWatch();
  // Hands the connection's events to their receivers. false: the channel was closed or destroyed
  // meanwhile.
  bool Dispatch();

  EventLoop* const loop_;
  const size_t read_budget_;
  GrpcChannelEvents* const events_;
  const std::string authority_;
  GrpcClientConnection conn_;
  // Lives as long as the channel: loop callbacks hold a weak_ptr to it.
  const std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  State state_ = State::kResolving;
  int fd_ = -1;
  EventLoop::WatchId watch_ = EventLoop::kInvalidWatchId;
  short watched_ = 0;
  TaskId connect_timer_ = kInvalidTaskId;
  evdns_getaddrinfo_request* dns_request_ = nullptr;
  std::map<int32_t, Call> calls_;
  std::vector<uint8_t> read_buffer_;
};

void GrpcClientChannel::Start(const std::string& host, int port, Duration connect_timeout,
                              evdns_base* dns) {
  std::weak_ptr<int> weak = alive_;
  connect_timer_ = loop_->ScheduleAfter(connect_timeout, [this, weak, connect_timeout] {
    if (weak.expired()) return;
    connect_timer_ = kInvalidTaskId;
    Fail(DeadlineExceededError("no HTTP/2 connection to " + authority_ + " within " +
                               Millis(connect_timeout)));
  });
  if (Status s = conn_.Init(); !s.ok()) {
    FailSoon(s);
    return;
  }
  if (port < 1 || port > 65535) {
    FailSoon(InvalidArgumentError("gRPC port " + std::to_string(port) + " out of [1, 65535]"));
    return;
  }
  sockaddr_storage addr;
  socklen_t len = 0;
  if (ParseIpLiteral(host, port, &addr, &len)) {
    StartConnect(reinterpret_cast<const sockaddr*>(&addr), len);
    return;
  }
  if (dns == nullptr) {
    FailSoon(UnavailableError("cannot resolve " + host + ": no resolver"));
    return;
  }
  evutil_addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  auto* context = new DnsContext{alive_, this, port};
  // The callback may run before this returns (a hosts-file answer); it then returns null.
  evdns_getaddrinfo_request* request = evdns_getaddrinfo(dns, host.c_str(), nullptr, &hints,
                                                         &GrpcClientChannel::OnResolved, context);
  if (request != nullptr && state_ == State::kResolving) dns_request_ = request;
}

void GrpcClientChannel::OnResolved(int result, evutil_addrinfo* res, void* arg) {
  std::unique_ptr<DnsContext> context(static_cast<DnsContext*>(arg));
  struct Free {
    evutil_addrinfo* res;
    ~Free() {
      if (res != nullptr) evutil_freeaddrinfo(res);
    }
  } free_res{res};
  if (context->alive.expired()) return;
  GrpcClientChannel* self = context->self;
  self->dns_request_ = nullptr;  // done: also when the resolver was freed under it
  if (result == EVUTIL_EAI_CANCEL) return;
  if (self->state_ != State::kResolving) return;
  if (result != 0 || res == nullptr) {
    self->FailSoon(UnavailableError("cannot resolve " + self->authority_ + ": " +
                                    evutil_gai_strerror(result)));
    return;
  }
  sockaddr_storage addr;
  std::memset(&addr, 0, sizeof(addr));
  const socklen_t len = static_cast<socklen_t>(std::min<size_t>(res->ai_addrlen, sizeof(addr)));
  std::memcpy(&addr, res->ai_addr, len);
  const uint16_t port = htons(static_cast<uint16_t>(context->port));
  if (addr.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&addr)->sin_port = port;
  } else if (addr.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port = port;
  }
  self->StartConnect(reinterpret_cast<const sockaddr*>(&addr), len);
}

void GrpcClientChannel::StartConnect(const sockaddr* addr, socklen_t len) {
  fd_ = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    FailSoon(UnavailableError("socket(): " + Errno(errno)));
    return;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd_, addr, len) == 0) {
    state_ = State::kOpen;
    if (Status s = Flush(); !s.ok()) FailSoon(s);
    return;
  }
  if (errno != EINPROGRESS) {
    FailSoon(UnavailableError("connect to " + authority_ + ": " + Errno(errno)));
    return;
  }
  state_ = State::kConnecting;
  UpdateWatch();
}

void GrpcClientChannel::PostDone(UnaryDone done, Status status) {
  loop_->RunInLoop(
      [done = std::move(done), status = std::move(status)]() mutable { done(std::move(status)); });
}

void GrpcClientChannel::FailSoon(Status why) {
  std::weak_ptr<int> weak = alive_;
  loop_->RunInLoop([this, weak, why = std::move(why)]() mutable {
    if (!weak.expired()) Fail(std::move(why));
  });
}

void GrpcClientChannel::Teardown() {
  state_ = State::kClosed;
  if (watch_ != EventLoop::kInvalidWatchId) loop_->UnwatchFd(watch_);
  watch_ = EventLoop::kInvalidWatchId;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (connect_timer_ != kInvalidTaskId) loop_->Cancel(connect_timer_);
  connect_timer_ = kInvalidTaskId;
  if (dns_request_ != nullptr) {
    evdns_getaddrinfo_request* request = dns_request_;
    dns_request_ = nullptr;
    evdns_getaddrinfo_cancel(request);  // its callback frees the context
  }
  for (auto& [id, call] : calls_) {
    if (call.timer != kInvalidTaskId) loop_->Cancel(call.timer);
  }
}

void GrpcClientChannel::Fail(Status why) {
  if (state_ == State::kClosed) return;
  Teardown();
  std::map<int32_t, Call> calls;
  calls.swap(calls_);
  std::weak_ptr<int> weak = alive_;
  // The calls' callbacks run even if one of them destroys the channel: they need nothing of it.
  for (auto& [id, call] : calls) {
    call.done(UnavailableError("the gRPC connection to " + authority_ +
                               " is closed: " + std::string(why.message())));
  }
  if (!weak.expired()) events_->OnChannelClosed(std::move(why));
}

void GrpcClientChannel::Close() {
  if (state_ == State::kClosed) return;
  Teardown();
  std::map<int32_t, Call> calls;
  calls.swap(calls_);
  for (auto& [id, call] : calls) {
    PostDone(std::move(call.done), CancelledError("the gRPC channel was closed"));
  }
}

void GrpcClientChannel::Unary(GrpcMessage request, Duration timeout, UnaryDone done) {
  if (state_ == State::kClosed) {
    PostDone(std::move(done),
             UnavailableError("the gRPC connection to " + authority_ + " is closed"));
    return;
  }
  Result<int32_t> id = conn_.StartUnary(request);
  if (!id.ok()) {
    PostDone(std::move(done), UnavailableError(id.status().message()));
    if (!conn_.failure().ok()) FailSoon(conn_.failure());
    return;
  }
  std::weak_ptr<int> weak = alive_;
  const int32_t call = *id;
  Call& entry = calls_[call];
  entry.done = std::move(done);
  entry.timer = loop_->ScheduleAfter(std::max(timeout, Duration::zero()), [this, weak, call] {
    if (!weak.expired()) OnDeadline(call);
  });
  if (state_ == State::kOpen) {
    if (Status s = Flush(); !s.ok()) FailSoon(s);
  }
}

void GrpcClientChannel::OnDeadline(int32_t call) {
  auto it = calls_.find(call);
  if (it == calls_.end()) return;
  UnaryDone done = std::move(it->second.done);
  calls_.erase(it);
  conn_.CancelUnary(call);
  Status flushed = state_ == State::kOpen ? Flush() : Status::Ok();
  std::weak_ptr<int> weak = alive_;
  done(DeadlineExceededError("no answer within the call's deadline"));
  if (!weak.expired() && !flushed.ok()) Fail(flushed);
}

Status GrpcClientChannel::SendOnStream(GrpcMessage message) {
  if (state_ == State::kClosed) {
    return UnavailableError("the gRPC connection to " + authority_ + " is closed");
  }
  if (Status s = conn_.SendOnStream(message); !s.ok()) {
    if (!conn_.failure().ok()) FailSoon(conn_.failure());
    return s.code() == StatusCode::kResourceExhausted ? s : UnavailableError(s.message());
  }
  if (state_ == State::kOpen) {
    if (Status s = Flush(); !s.ok()) {
      FailSoon(s);
      return UnavailableError(s.message());
    }
  }
  return Status::Ok();
}

Status GrpcClientChannel::Flush() {
  for (std::string_view out = conn_.PendingOutput(); !out.empty(); out = conn_.PendingOutput()) {
    const ssize_t n = ::send(fd_, out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return UnavailableError("write to " + authority_ + ": " + Errno(errno));
    }
    conn_.Consume(static_cast<size_t>(n));
  }
  if (!conn_.failure().ok()) return conn_.failure();
  UpdateWatch();
  return Status::Ok();
}

void GrpcClientChannel::UpdateWatch() {
  short wanted = EventLoop::kWritable;
  if (state_ == State::kOpen) {
    wanted = EventLoop::kReadable | (conn_.want_write() ? EventLoop::kWritable : 0);
  }
  if (watch_ != EventLoop::kInvalidWatchId && wanted == watched_) return;
  if (watch_ != EventLoop::kInvalidWatchId) loop_->UnwatchFd(watch_);
  std::weak_ptr<int> weak = alive_;
  watch_ = loop_->WatchFd(fd_, wanted, [this, weak](short fired) {
    if (!weak.expired()) OnFd(fired);
  });
  watched_ = wanted;
  if (watch_ == EventLoop::kInvalidWatchId) FailSoon(UnavailableError("the event loop is stopped"));
}

void GrpcClientChannel::OnFd(short fired) {
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      Fail(UnavailableError("connect to " + authority_ + ": " + Errno(err)));
      return;
    }
    state_ = State::kOpen;
    if (Status s = Flush(); !s.ok()) Fail(s);
    return;
  }
  if (state_ != State::kOpen) return;
  if ((fired & EventLoop::kReadable) != 0) {
    if (read_buffer_.empty()) read_buffer_.resize(kReadChunk);
    size_t budget = read_budget_;
    bool eof = false;
    while (budget > 0 && conn_.failure().ok()) {
      const ssize_t n = ::recv(fd_, read_buffer_.data(), std::min(budget, read_buffer_.size()), 0);
      if (n > 0) {
        budget -= static_cast<size_t>(n);
        conn_.Feed(read_buffer_.data(), static_cast<size_t>(n)).IgnoreError();  // failure() below
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Fail(UnavailableError("read from " + authority_ + ": " + Errno(errno)));
      return;
    }
    if (conn_.server_settings_received() && connect_timer_ != kInvalidTaskId) {
      loop_->Cancel(connect_timer_);
      connect_timer_ = kInvalidTaskId;
    }
    if (!Dispatch()) return;
    if (!conn_.failure().ok()) {
      Fail(conn_.failure());
      return;
    }
    if (eof) {
      Fail(UnavailableError("the server closed the connection"));
      return;
    }
  }
  if (Status s = Flush(); !s.ok()) Fail(s);
}

bool GrpcClientChannel::Dispatch() {
  std::weak_ptr<int> weak = alive_;
  for (GrpcClientEvent& event : conn_.TakeEvents()) {
    if (event.kind == GrpcClientEvent::kStreamMessage) {
      events_->OnStreamMessage(std::move(event.message));
    } else {
      auto it = calls_.find(event.call);
      if (it == calls_.end()) continue;
      Call call = std::move(it->second);
      calls_.erase(it);
      if (call.timer != kInvalidTaskId) loop_->Cancel(call.timer);
      if (event.status.ok()) {
        call.done(std::move(event.message));
      } else {
        call.done(std::move(event.status));
      }
    }
    if (weak.expired() || state_ == State::kClosed) return false;
  }
  return true;
}

}  // namespace

GrpcClientConnector::GrpcClientConnector(EventLoop* loop, GrpcTransportOptions options)
    : loop_(loop), options_(std::move(options)) {}

GrpcClientConnector::~GrpcClientConnector() {
  if (dns_hook_ == EventLoop::kInvalidHookId) return;
  if (!loop_->RemoveStopHook(dns_hook_)) return;  // Stop() freed it
  if (loop_->InLoopThread() || !loop_->RunInLoopAndWait([this] { FreeDns(); })) FreeDns();
}

GrpcTransportOptions GrpcClientConnector::OptionsFor(const NacosOptions& options) {
  GrpcTransportOptions out;
  if (options.grpc_max_message_bytes > 0) {
    out.limits.max_message_bytes = static_cast<size_t>(options.grpc_max_message_bytes);
  }
  out.limits.max_buffered_input_bytes =
      std::max(out.limits.max_buffered_input_bytes, out.limits.max_message_bytes + (1 << 20));
  return out;
}

void GrpcClientConnector::FreeDns() {
  if (dns_ != nullptr) evdns_base_free(dns_, /*fail_requests=*/1);
  dns_ = nullptr;
}

evdns_base* GrpcClientConnector::Dns() {
  if (dns_ != nullptr || loop_->base() == nullptr) return dns_;
  dns_ = evdns_base_new(loop_->base(), EVDNS_BASE_INITIALIZE_NAMESERVERS);
  if (dns_ == nullptr) {
    DUBBO_LOG(WARNING) << "gRPC: cannot set up the DNS resolver (resolv.conf)";
    return nullptr;
  }
  dns_hook_ = loop_->AddStopHook([this] { FreeDns(); });
  return dns_;
}

std::unique_ptr<GrpcChannel> GrpcClientConnector::Connect(const std::string& host, int port,
                                                          Duration connect_timeout,
                                                          GrpcChannelEvents* events) {
  const bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  std::string authority = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  auto channel = std::make_unique<GrpcClientChannel>(loop_, options_, std::move(authority), events);
  sockaddr_storage addr;
  socklen_t len = 0;
  const bool literal = ParseIpLiteral(host, port < 1 || port > 65535 ? 1 : port, &addr, &len);
  channel->Start(host, port, connect_timeout, literal ? nullptr : Dns());
  return channel;
}

}  // namespace dubbo::registry::nacos
