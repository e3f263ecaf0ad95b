#include "http_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

namespace dubbo::naming_server {
namespace {

constexpr size_t kReadChunk = 64 << 10;
// Stop answering pipelined requests of one connection once this much output waits; go on when
// it has been written.
constexpr size_t kMaxPendingOutput = 256 << 10;
// A body larger than this is queued by reference instead of copied into the connection's output.
constexpr size_t kMaxCopiedBody = 16 << 10;
// iovecs per sendmsg(): enough for a few queued bodies and the heads between them.
constexpr int kMaxIovecs = 16;
// A closing connection's input is discarded for at most this long and this much.
constexpr int64_t kLingerMs = 2000;
constexpr size_t kMaxLingerBytes = 1 << 20;
// Descriptors left to the rest of the process (listener, UDP socket, libevent's epoll and
// notification descriptors, log files, an embedding process's own) when the RLIMIT_NOFILE soft
// limit lowers the connection cap.
constexpr rlim_t kReservedDescriptors = 64;
// Deadlines are capped here (about 34 years), far from overflowing.
constexpr int64_t kMaxMs = int64_t{1} << 40;

// Milliseconds of a monotonic clock. The coarse clock (a jiffy, 1-10 ms) is precise enough for
// deadlines of seconds and costs a few nanoseconds; a timer that fires a little before its
// deadline by this clock is re-armed for the rest.
int64_t NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

// How long `bytes` take at `per_second` bytes per second, in milliseconds (capped at kMaxMs).
int64_t TransferMs(uint64_t bytes, int64_t per_second) {
  const auto rate = static_cast<uint64_t>(per_second);
  if (bytes / rate >= static_cast<uint64_t>(kMaxMs / 1000)) return kMaxMs;
  return static_cast<int64_t>(bytes / rate * 1000 + bytes % rate * 1000 / rate);
}

bool AllowedMethod(std::string_view m) {
  switch (m.size()) {
    case 3:
      return m == "GET" || m == "PUT";
    case 4:
      return m == "POST" || m == "HEAD";
    case 5:
      return m == "PATCH";
    case 6:
      return m == "DELETE";
    default:
      return false;
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "";
  }
}

void AppendNumber(std::string* out, size_t n) {
  char digits[24];
  char* end = digits + sizeof(digits);
  char* p = end;
  do {
    *--p = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out->append(p, static_cast<size_t>(end - p));
}

}  // namespace

bool MakeSockaddr(const std::string& ip, uint16_t port, sockaddr_storage* addr, socklen_t* len) {
  std::memset(addr, 0, sizeof(*addr));
  auto* v4 = reinterpret_cast<sockaddr_in*>(addr);
  if (::inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(addr);
  if (::inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

bool PeerOf(const sockaddr_storage& addr, std::string* ip, uint16_t* port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    if (::inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof(buf)) == nullptr) return false;
    *port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof(buf)) == nullptr) return false;
    *port = ntohs(v6->sin6_port);
  } else {
    return false;
  }
  *ip = buf;
  return true;
}

registry::Status ListenTcp(const sockaddr_storage& addr, socklen_t len, int* fd,
                           uint16_t* bound_port) {
  std::string where;
  uint16_t port = 0;
  PeerOf(addr, &where, &port);
  where += ":" + std::to_string(port);
  *fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0) {
    return registry::UnavailableError("cannot listen on " + where + ": " + std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  std::string ignored;
  if (::bind(*fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || ::listen(*fd, 1024) != 0 ||
      ::getsockname(*fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0 ||
      !PeerOf(bound, &ignored, bound_port)) {
    const int error = errno;
    ::close(*fd);
    *fd = -1;
    return registry::UnavailableError("cannot listen on " + where + ": " + std::strerror(error));
  }
  return registry::Status::Ok();
}

namespace {

// A body queued by reference: sent once the connection's `out` has been written up to `at`.
struct QueuedBody {
  size_t at = 0;
  std::shared_ptr<const std::string> body;
};

}  // namespace

struct HttpServer::Connection {
  // What the connection waits for; it decides the deadline and the eviction order.
  enum Phase : uint8_t {
    kHead,  // a request head; deadline: its first byte (or the accept) + head timeout
    kBody,  // the rest of a body; deadline: the head's end + head timeout + bytes received / rate
    kIdle,  // the next request; deadline: the last answer + idle timeout
    kWriting,  // the peer to read an answer; deadline: since + head timeout + bytes read / rate
    kLinger,   // the peer to close after our error answer; deadline: kLingerMs
  };

  Connection(HttpServer* s, int f, const HttpParserLimits& limits)
      : server(s), fd(f), parser(limits) {}

  HttpServer* server;
  int fd;
  event* read_event = nullptr;
  event* write_event = nullptr;
  event* timer_event = nullptr;
  HttpParser parser;
  std::string peer_ip;
  uint16_t peer_port = 0;
  PeerKey peer;
  std::string out;  // heads and copied bodies not yet written, from out_offset on
  size_t out_offset = 0;
  std::vector<QueuedBody> bodies;  // bodies queued by reference, in order; from next_body on
  size_t next_body = 0;
  size_t body_offset = 0;  // bytes of bodies[next_body] written
  size_t pending = 0;      // bytes queued and not yet written (out and bodies)
  size_t counted = 0;      // the part of `pending` in HttpServer::output_bytes_
  uint64_t bytes_out = 0;  // written since the accept
  bool reading = false;    // read_event added
  bool writing = false;    // write_event added
  bool eof = false;        // the peer has shut its write side (or reset)
  bool closing = false;    // close once `out` is written; no more requests are answered
  bool served = false;     // has completed a request
  Phase phase = kHead;
  size_t linger_bytes = 0;
  int64_t deadline_ms = 0;     // NowMs() at which the current phase ends
  int64_t armed_ms = 0;        // the deadline timer_event is armed for; 0: not armed
  uint64_t bytes_in = 0;       // received since the accept
  uint64_t bytes_seen = 0;     // bytes_in at the last Settle()
  int64_t head_ms = 0;         // when the current head began: accept, first byte, or last answer
  int64_t since_ms = 0;        // kBody: when the head completed; kWriting: when output stalled ...
  uint64_t mark = 0;           // ... and bytes_in (kBody) or bytes_out (kWriting) then
  Connection* prev = nullptr;  // every connection
  Connection* next = nullptr;
  Queue* queue = nullptr;  // the eviction list it is in, if any
  Connection* older = nullptr;
  Connection* newer = nullptr;
};

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

registry::Status HttpServer::Start(event_base* base, HttpServerOptions options,
                                   HttpHandler handler) {
  base_ = base;
  options_ = std::move(options);
  handler_ = std::move(handler);
  if (options_.head_timeout_ms <= 0 || options_.head_timeout_ms > kMaxMs ||
      options_.idle_timeout_ms <= 0 || options_.idle_timeout_ms > kMaxMs ||
      options_.min_body_bytes_per_second <= 0 || options_.max_connections == 0 ||
      options_.max_connections_per_peer == 0 || options_.max_output_bytes == 0) {
    return registry::InvalidArgumentError(
        "HTTP timeouts, body rate, connection caps and the output budget must be positive");
  }
  connection_cap_ = options_.max_connections;
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const rlim_t room = files.rlim_cur > 2 * kReservedDescriptors
                            ? files.rlim_cur - kReservedDescriptors
                            : files.rlim_cur / 2 + 1;
    if (room < connection_cap_) connection_cap_ = static_cast<size_t>(room);
  }
  read_buffer_ = std::make_unique<char[]>(kReadChunk);
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!MakeSockaddr(options_.bind_address, options_.port, &addr, &len)) {
    return registry::InvalidArgumentError("--bind must be an IP address: " + options_.bind_address);
  }
  registry::Status listening = ListenTcp(addr, len, &listen_fd_, &port_);
  if (!listening.ok()) return listening;
  listen_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &HttpServer::OnAccept, this);
  resume_event_ = event_new(base_, -1, 0, &HttpServer::OnResume, this);
  if (listen_event_ == nullptr || resume_event_ == nullptr ||
      event_add(listen_event_, nullptr) != 0) {
    return registry::InternalError("cannot watch the HTTP listener");
  }
  return registry::Status::Ok();
}

void HttpServer::Stop() {
  while (connections_ != nullptr) Close(connections_);
  if (listen_event_ != nullptr) event_free(listen_event_);
  if (resume_event_ != nullptr) event_free(resume_event_);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_event_ = nullptr;
  resume_event_ = nullptr;
  listen_fd_ = -1;
}

void HttpServer::OnAccept(int /*fd*/, short /*events*/, void* arg) {
  static_cast<HttpServer*>(arg)->Accept();
}

void HttpServer::OnResume(int /*fd*/, short /*events*/, void* arg) {
  auto* self = static_cast<HttpServer*>(arg);
  if (self->listen_event_ != nullptr) event_add(self->listen_event_, nullptr);
}

void HttpServer::Accept() {
  for (int i = 0; i < 64; ++i) {  // bounded: let the established connections in between
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error == EMFILE || error == ENFILE) {
        // Out of descriptors. accept4() takes a descriptor before it looks at the queue, so this
        // does not say that a connection is waiting: poll() does. If one is, free one descriptor
        // (in the eviction order) and retry at once; the loop's bound caps the evictions.
        pollfd pending{listen_fd_, POLLIN, 0};
        if (::poll(&pending, 1, 0) <= 0) return;
        if (EvictOne()) continue;
      }
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        // Nothing to free: the listener would fire again at once. Pause it for 100 ms.
        event_del(listen_event_);
        const timeval pause{0, 100 * 1000};
        event_add(resume_event_, &pause);
      }
      return;
    }
    if (options_.metrics != nullptr) {
      options_.metrics->connections_accepted.fetch_add(1, std::memory_order_relaxed);
    }
    Admit(fd, addr);
  }
}

void HttpServer::Admit(int fd, const sockaddr_storage& addr) {
  const PeerKey key = PeerKey::Of(addr);
  if (auto it = peers_.find(key);
      it != peers_.end() && it->second >= options_.max_connections_per_peer) {
    Count(RejectReason::kPeerConnectionCap);
    ::close(fd);
    return;
  }
  // The cap counts the gRPC transport's connections too (they share the descriptor budget).
  const size_t grpc_open = options_.metrics != nullptr
                               ? static_cast<size_t>(options_.metrics->grpc_connections_open.load(
                                     std::memory_order_relaxed))
                               : 0;
  if (connection_count_ + grpc_open >= connection_cap_ && !EvictOne()) {
    Count(RejectReason::kConnectionCap);
    ::close(fd);
    return;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto* c = new Connection(this, fd, options_.limits);
  c->peer = key;
  ++peers_[key];
  PeerOf(addr, &c->peer_ip, &c->peer_port);
  c->read_event = event_new(base_, fd, EV_READ | EV_PERSIST, &HttpServer::OnRead, c);
  c->write_event = event_new(base_, fd, EV_WRITE | EV_PERSIST, &HttpServer::OnWrite, c);
  c->timer_event = event_new(base_, -1, 0, &HttpServer::OnTimer, c);
  c->next = connections_;
  if (connections_ != nullptr) connections_->prev = c;
  connections_ = c;
  ++connection_count_;
  if (options_.metrics != nullptr) {
    options_.metrics->connections_open.fetch_add(1, std::memory_order_relaxed);
  }
  if (c->read_event == nullptr || c->write_event == nullptr || c->timer_event == nullptr ||
      event_add(c->read_event, nullptr) != 0) {
    Close(c);
    return;
  }
  c->reading = true;
  ListAtBack(c, &fresh_);
  const int64_t now = NowMs();
  c->head_ms = now;  // phase kHead: the first request's head
  SetDeadline(c, now + options_.head_timeout_ms, now);
}

bool HttpServer::EvictOne() {
  Connection* victim = fresh_.front != nullptr ? fresh_.front : served_.front;
  if (victim == nullptr) {
    // Every connection receives a body or writes an answer (the only unlisted phases): the one
    // furthest behind its rate has the earliest deadline.
    for (Connection* c = connections_; c != nullptr; c = c->next) {
      if (victim == nullptr || c->deadline_ms < victim->deadline_ms) victim = c;
    }
    if (victim == nullptr) return false;
  }
  if (victim->phase != Connection::kLinger) Count(RejectReason::kEvicted);
  Close(victim);
  return true;
}

void HttpServer::OnRead(int fd, short /*events*/, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  HttpServer* self = c->server;
  const ssize_t n = ::recv(fd, self->read_buffer_.get(), kReadChunk, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    self->Close(c);
    return;
  }
  if (c->phase == Connection::kLinger) {  // its deadline closes it at the latest
    c->linger_bytes += static_cast<size_t>(n);
    if (n == 0 || c->linger_bytes > kMaxLingerBytes) self->Close(c);
    return;
  }
  if (n == 0) {
    c->eof = true;
    event_del(c->read_event);  // level-triggered: EOF would fire again and again
    c->reading = false;
  } else {
    c->bytes_in += static_cast<uint64_t>(n);
    c->parser.Feed(std::string_view(self->read_buffer_.get(), static_cast<size_t>(n)));
  }
  self->Drive(c);
}

void HttpServer::OnWrite(int /*fd*/, short /*events*/, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->server->Drive(c);
}

void HttpServer::OnTimer(int /*fd*/, short /*events*/, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  c->armed_ms = 0;
  const int64_t now = NowMs();
  if (now < c->deadline_ms) {  // armed for an earlier deadline, since moved on
    c->server->SetDeadline(c, c->deadline_ms, now);
    return;
  }
  c->server->Expire(c, now);
}

void HttpServer::Expire(Connection* c, int64_t now) {
  switch (c->phase) {
    case Connection::kHead:
      TimeOut(c, RejectReason::kHeadTimeout);
      return;
    case Connection::kBody:
    case Connection::kWriting: {
      const int64_t earned = EarnedDeadline(c);
      if (earned > now) {
        SetDeadline(c, earned, now);
        return;
      }
      if (c->phase == Connection::kBody) {
        TimeOut(c, RejectReason::kBodyTooSlow);
      } else {  // no answer can reach a peer that does not read
        Count(RejectReason::kSlowReader);
        Close(c);
      }
      return;
    }
    case Connection::kIdle:
      Count(RejectReason::kIdleTimeout);
      Close(c);
      return;
    case Connection::kLinger:
      Close(c);
      return;
  }
}

void HttpServer::TimeOut(Connection* c, RejectReason reason) {
  Count(reason);
  AppendError(c, 408);
  c->closing = true;
  Drive(c);
}

void HttpServer::Count(RejectReason reason) {
  if (options_.metrics != nullptr) options_.metrics->Reject(reason);
}

void HttpServer::Drive(Connection* c) {
  size_t answered = 0;
  while (true) {
    const bool more = !c->closing && Process(c, &answered);
    if (!Flush(c)) return;  // closed
    if (c->pending > 0) {   // the socket is full: wait for it, read no more meanwhile
      if (c->reading) {
        event_del(c->read_event);
        c->reading = false;
      }
      if (!c->writing) {
        event_add(c->write_event, nullptr);
        c->writing = true;
      }
      Publish(c);
      Settle(c, answered);
      return;
    }
    if (!more) break;
  }
  if (c->writing) {
    event_del(c->write_event);
    c->writing = false;
  }
  Publish(c);
  if (c->closing || c->eof) {
    FinishClose(c);
    return;
  }
  if (!c->reading) {
    event_add(c->read_event, nullptr);
    c->reading = true;
  }
  Settle(c, answered);
}

void HttpServer::Settle(Connection* c, size_t answered) {
  const int64_t now = NowMs();
  const Connection::Phase was = c->phase;
  const bool new_input = c->bytes_in != c->bytes_seen;
  c->bytes_seen = c->bytes_in;
  if (answered > 0) c->served = true;
  // The next head begins with the request completed now (its bytes may be buffered already), or
  // with the first byte after an idle wait. While an answer is written nothing is read, so a head
  // buffered behind it keeps the start it had when the answer was queued.
  if (answered > 0 || (was == Connection::kIdle && new_input)) c->head_ms = now;
  int64_t deadline = c->deadline_ms;
  if (c->writing) {
    c->phase = Connection::kWriting;
    if (was != Connection::kWriting) {  // the answer stalled just now
      c->since_ms = now;
      c->mark = c->bytes_out;
    }
    deadline = EarnedDeadline(c);
  } else if (c->parser.awaiting_body()) {
    c->phase = Connection::kBody;
    if (was != Connection::kBody || answered > 0) {  // this body's head completed just now
      c->since_ms = now;
      c->mark = c->bytes_in;
    }
    deadline = EarnedDeadline(c);
  } else if (c->parser.pending_bytes() > 0 ||
             (answered == 0 &&
              (was == Connection::kHead || (was == Connection::kIdle && new_input)))) {
    // Part of a head (or so far only empty lines, which the parser skips).
    c->phase = Connection::kHead;
    deadline = c->head_ms + options_.head_timeout_ms;
  } else {
    c->phase = Connection::kIdle;
    deadline = now + options_.idle_timeout_ms;
  }
  if (c->phase == Connection::kHead || c->phase == Connection::kIdle) {
    // Listed at the back when it joins the order or completes a request.
    if (c->queue == nullptr || answered > 0) ListAtBack(c, c->served ? &served_ : &fresh_);
  } else {
    Unlist(c);
  }
  SetDeadline(c, deadline, now);
}

int64_t HttpServer::EarnedDeadline(const Connection* c) const {
  const uint64_t bytes =
      c->phase == Connection::kBody ? c->bytes_in - c->mark : c->bytes_out - c->mark;
  return std::min(kMaxMs, c->since_ms + options_.head_timeout_ms +
                              TransferMs(bytes, options_.min_body_bytes_per_second));
}

void HttpServer::SetDeadline(Connection* c, int64_t deadline, int64_t now) {
  c->deadline_ms = deadline;
  // A timer armed for this deadline or an earlier one stays: OnTimer() re-arms it for the rest.
  // So the common case, an idle deadline moved later by a request, costs no timer operation.
  if (c->armed_ms != 0 && c->armed_ms <= deadline) return;
  const int64_t wait = std::max<int64_t>(deadline - now, 0);
  const timeval tv{static_cast<time_t>(wait / 1000), static_cast<suseconds_t>(wait % 1000 * 1000)};
  if (event_add(c->timer_event, &tv) == 0) c->armed_ms = deadline;
}

void HttpServer::Unlist(Connection* c) {
  Queue* q = c->queue;
  if (q == nullptr) return;
  (c->older != nullptr ? c->older->newer : q->front) = c->newer;
  (c->newer != nullptr ? c->newer->older : q->back) = c->older;
  c->older = c->newer = nullptr;
  c->queue = nullptr;
}

void HttpServer::ListAtBack(Connection* c, Queue* q) {
  Unlist(c);
  c->older = q->back;
  (q->back != nullptr ? q->back->newer : q->front) = c;
  q->back = c;
  c->queue = q;
}

void HttpServer::ListAtFront(Connection* c, Queue* q) {
  Unlist(c);
  c->newer = q->front;
  (q->front != nullptr ? q->front->older : q->back) = c;
  q->front = c;
  c->queue = q;
}

bool HttpServer::Process(Connection* c, size_t* answered) {
  while (true) {
    // Checked before each request, the first included: Drive() calls this on every write event,
    // and a check after the answer only would let each event add one more answer to the queue.
    if (c->pending > kMaxPendingOutput ||
        (c->pending > 0 && output_bytes_ > options_.max_output_bytes)) {
      return true;
    }
    switch (c->parser.Next()) {
      case HttpParser::kRequest:
        ++*answered;
        if (options_.metrics != nullptr) {
          options_.metrics->requests.fetch_add(1, std::memory_order_relaxed);
        }
        Answer(c, c->parser.request());
        if (c->closing) return false;
        break;
      case HttpParser::kNeedMore:
        if (c->eof) {
          c->closing = true;  // an unfinished request at the end of the input: dropped
        } else if (c->parser.TakeContinue()) {
          constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          c->out.append(kContinue);
          c->pending += kContinue.size();
        }
        return false;
      case HttpParser::kError: {
        const int status = c->parser.error_status();
        Count(status == 431   ? RejectReason::kHeadTooLarge
              : status == 413 ? RejectReason::kBodyTooLarge
                              : RejectReason::kMalformedRequest);  // 400, 417, 501
        AppendError(c, status);
        c->closing = true;
        return false;
      }
    }
  }
}

void HttpServer::Answer(Connection* c, const ParsedRequest& parsed) {
  if (!AllowedMethod(parsed.method)) {
    Count(RejectReason::kMalformedRequest);
    AppendError(c, 501);
    c->closing = true;
    return;
  }
  HttpRequest& request = scratch_;
  request.method.assign(parsed.method.data(), parsed.method.size());
  request.path.assign(parsed.path.data(), parsed.path.size());
  request.params.clear();
  request.user_agent.clear();
  request.authorization.clear();
  request.peer_ip = c->peer_ip;
  request.peer_port = c->peer_port;
  registry::Status status;
  if (parsed.has_query) status = ParseFormEncoded(parsed.query, &request.params);
  bool has_user_agent = false;
  bool has_client_version = false;
  std::string_view content_type;
  bool has_content_type = false;
  for (const auto& [name, value] : parsed.headers) {
    // The first of each, as evhttp_find_header.
    if (name.size() == 10 && !has_user_agent && strncasecmp(name.data(), "User-Agent", 10) == 0) {
      has_user_agent = true;
      request.user_agent.assign(value.data(), value.size());
    } else if (name.size() == 14 && !has_client_version &&
               strncasecmp(name.data(), "Client-Version", 14) == 0) {
      has_client_version = true;
      if (!has_user_agent) request.user_agent.assign(value.data(), value.size());
    } else if (name.size() == 13 && request.authorization.empty() &&
               strncasecmp(name.data(), "Authorization", 13) == 0) {
      request.authorization.assign(value.data(), value.size());
    } else if (name.size() == 12 && !has_content_type &&
               strncasecmp(name.data(), "Content-Type", 12) == 0) {
      has_content_type = true;
      content_type = value;
    }
  }
  if (status.ok() && !parsed.body.empty() &&
      (!has_content_type || content_type.substr(0, 33) == "application/x-www-form-urlencoded")) {
    status = ParseFormEncoded(parsed.body, &request.params);
  }
  const bool keep_alive = parsed.keep_alive;
  const int minor = parsed.minor_version;
  const bool head = parsed.method == "HEAD";
  HttpResponse response;
  if (!status.ok()) {
    response = HttpResponse::Text(400, std::string(status.message()));
  } else {
    try {
      response = handler_(request);
    } catch (const std::exception& e) {
      response = HttpResponse::Text(500, e.what());
    }
  }
  if (!keep_alive) c->closing = true;
  const size_t length = response.body_view().size();
  const bool by_reference = !head && length > kMaxCopiedBody;
  AppendResponse(c, minor, response.status, response.content_type,
                 head || by_reference ? std::string_view() : response.body_view(), length,
                 !keep_alive, keep_alive && minor == 0);
  if (by_reference) {
    c->bodies.push_back(QueuedBody{
        c->out.size(), response.shared_body != nullptr
                           ? std::move(response.shared_body)
                           : std::make_shared<const std::string>(std::move(response.body))});
    c->pending += length;
  }
}

void HttpServer::AppendError(Connection* c, int status) {
  const char* reason = ReasonPhrase(status);
  AppendResponse(c, 1, status, "text/plain;charset=UTF-8", reason, std::strlen(reason), true,
                 false);
}

void HttpServer::AppendResponse(Connection* c, int minor_version, int status,
                                std::string_view content_type, std::string_view body,
                                size_t content_length, bool close, bool keep_alive_10) {
  std::string& out = c->out;
  const size_t before = out.size();
  out.reserve(out.size() + 160 + body.size());
  out.append(minor_version == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  AppendNumber(&out, static_cast<size_t>(status < 0 ? 500 : status));
  out.push_back(' ');
  out.append(ReasonPhrase(status));
  out.append("\r\nContent-Type: ");
  out.append(content_type);
  out.append("\r\nDate: ");
  out.append(Date());
  out.append("\r\nContent-Length: ");
  AppendNumber(&out, content_length);
  if (close) {
    out.append("\r\nConnection: close");
  } else if (keep_alive_10) {
    out.append("\r\nConnection: keep-alive");
  }
  out.append("\r\n\r\n");
  out.append(body);
  c->pending += out.size() - before;
}

const char* HttpServer::Date() {
  const time_t now = ::time(nullptr);
  if (now != date_second_) {
    date_second_ = now;
    tm parts{};
    ::gmtime_r(&now, &parts);
    std::strftime(date_, sizeof(date_), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  }
  return date_;
}

bool HttpServer::Flush(Connection* c) {
  while (c->pending > 0) {
    // The queue in order: out up to the next body's `at`, that body, out up to the next, ...
    iovec iov[kMaxIovecs];
    int count = 0;
    size_t at = c->out_offset;
    size_t skip = c->body_offset;
    for (size_t i = c->next_body; count < kMaxIovecs; ++i) {
      const size_t end = i < c->bodies.size() ? c->bodies[i].at : c->out.size();
      if (at < end) {
        iov[count++] = iovec{c->out.data() + at, end - at};
        at = end;
      }
      if (i >= c->bodies.size() || count == kMaxIovecs) break;
      const std::string& body = *c->bodies[i].body;
      iov[count++] = iovec{const_cast<char*>(body.data()) + skip, body.size() - skip};
      skip = 0;
    }
    ssize_t n;
    if (count == 1) {  // the common case, an answer copied whole: send() skips the iovec import
      n = ::send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else {
      msghdr message{};
      message.msg_iov = iov;
      message.msg_iovlen = static_cast<size_t>(count);
      n = ::sendmsg(c->fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (n > 0) {
      Consume(c, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    Close(c);
    return false;
  }
  if (c->out.capacity() > (1 << 20)) {
    std::string().swap(c->out);
  } else {
    c->out.clear();
  }
  c->out_offset = 0;
  c->bodies.clear();  // each was released when written
  c->next_body = 0;
  return true;
}

void HttpServer::Consume(Connection* c, size_t n) {
  c->pending -= n;
  c->bytes_out += n;
  while (n > 0) {
    const size_t end = c->next_body < c->bodies.size() ? c->bodies[c->next_body].at : c->out.size();
    if (c->out_offset < end) {
      const size_t k = std::min(n, end - c->out_offset);
      c->out_offset += k;
      n -= k;
      continue;
    }
    QueuedBody& queued = c->bodies[c->next_body];
    const size_t k = std::min(n, queued.body->size() - c->body_offset);
    c->body_offset += k;
    n -= k;
    if (c->body_offset == queued.body->size()) {
      queued.body.reset();
      c->body_offset = 0;
      ++c->next_body;
    }
  }
}

void HttpServer::Publish(Connection* c) {
  if (c->pending == c->counted) return;
  output_bytes_ = output_bytes_ - c->counted + c->pending;
  if (options_.metrics != nullptr) {
    auto& gauge = options_.metrics->output_buffered_bytes;
    if (c->pending > c->counted) {
      gauge.fetch_add(c->pending - c->counted, std::memory_order_relaxed);
    } else {
      gauge.fetch_sub(c->counted - c->pending, std::memory_order_relaxed);
    }
  }
  c->counted = c->pending;
}

void HttpServer::FinishClose(Connection* c) {
  if (c->eof) {
    Close(c);
    return;
  }
  // Lingering close: shut the write side, then read and drop what the peer still sends until it
  // closes, for at most kLingerMs, so that unread input does not turn our close into a reset that
  // could destroy the answer before the peer has read it. A lingering connection is the first to
  // be evicted.
  ::shutdown(c->fd, SHUT_WR);
  c->phase = Connection::kLinger;
  if (!c->reading) {
    if (event_add(c->read_event, nullptr) != 0) {
      Close(c);
      return;
    }
    c->reading = true;
  }
  ListAtFront(c, &fresh_);
  const int64_t now = NowMs();
  SetDeadline(c, now + kLingerMs, now);
}

void HttpServer::Close(Connection* c) {
  if (c->read_event != nullptr) event_free(c->read_event);
  if (c->write_event != nullptr) event_free(c->write_event);
  if (c->timer_event != nullptr) event_free(c->timer_event);
  ::close(c->fd);
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  Unlist(c);
  c->pending = 0;
  Publish(c);
  if (auto it = peers_.find(c->peer); it != peers_.end() && --it->second == 0) peers_.erase(it);
  --connection_count_;
  if (options_.metrics != nullptr) {
    options_.metrics->connections_open.fetch_sub(1, std::memory_order_relaxed);
  }
  delete c;
}

}  // namespace dubbo::naming_server
