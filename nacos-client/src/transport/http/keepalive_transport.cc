// KeepAliveTransport: our own HTTP/1.1 client on the EventLoop. See keepalive_transport.h.
//
// Core's state is confined to the loop thread (or, for a loop that was never started or has
// stopped, to the thread that closes the transport, when nothing can run on the loop). Every entry
// point (Start, a socket or timer callback, the flush task, CancelAll, Close) changes state first
// and runs the `done` callbacks it collected last, in RunCompletions(), so a callback that sends,
// cancels or destroys the transport finds consistent state. Connections retired meanwhile are
// destroyed there too, so no entry point ever touches a freed connection.
#include "transport/http/keepalive_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "transport/http/http_response_parser.h"
#include "internal/ascii.h"
#include "internal/logging.h"
#include "push_codec.h"

namespace dubbo::registry::nacos {
namespace {

constexpr int64_t kDefaultConnectTimeoutMs = 3000;
constexpr int64_t kDefaultTimeoutMs = 50000;
constexpr size_t kReadChunk = 64 << 10;
// A request goes out at most this often (a resend after a keep-alive race or a stalled neighbour).
constexpr int kMaxSends = 2;

using Done = std::function<void(HttpResponse)>;

// How long an address learned for a host name is used before one request goes through the
// fallback again (to notice a DNS change).
constexpr Duration kNameTtl = std::chrono::seconds(30);

// Where a request goes, parsed from its URL.
struct Target {
  bool by_name = false;  // The host is a name, not an IP literal.
  uint16_t port = 80;
  sockaddr_storage addr{};  // For an IP literal (or a name's learned address): see SetAddress().
  socklen_t addr_len = 0;
  std::string ip;         // Canonical text of `addr`, for peer_ip.
  std::string_view host;  // The authority as written in the URL (for the Host field), port
                          // included; a view into the URL, valid while it is.
  size_t path_begin = 0;  // Offset of the path (or of '?' when the path is empty).
  size_t path_end = 0;    // Offset of '#' or the end.
};

// Points `t` at `ip` (an IPv4 or IPv6 literal without brackets) and t->port.
bool SetAddress(std::string_view ip, Target* t) {
  char buf[INET6_ADDRSTRLEN];
  if (ip.empty() || ip.size() >= sizeof(buf)) return false;
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  char text[INET6_ADDRSTRLEN];
  t->addr = sockaddr_storage{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&t->addr);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&t->addr);
  if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(t->port);
    t->addr_len = sizeof(sockaddr_in);
    if (inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text)) == nullptr) return false;
  } else if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(t->port);
    t->addr_len = sizeof(sockaddr_in6);
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)) == nullptr) return false;
  } else {
    return false;
  }
  t->ip = text;
  return true;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

// False for what only the fallback can send: not http://, user info, a bad port or host.
bool ParseTarget(std::string_view url, Target* t) {
  constexpr std::string_view kScheme = "http://";
  if (!internal::StartsWithIgnoreCase(url, kScheme)) return false;
  const size_t authority_begin = kScheme.size();
  const size_t authority_end = std::min(url.find_first_of("/?#", authority_begin), url.size());
  const std::string_view authority = url.substr(authority_begin, authority_end - authority_begin);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
  const bool bracketed = authority.front() == '[';
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (bracketed) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    host = authority.substr(1, close - 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
      has_port = true;
    }
  } else {
    const size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      has_port = true;
    }
  }
  t->port = 80;
  if (has_port) {
    if (port_text.empty() || port_text.size() > 5) return false;
    int port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9') return false;
      port = port * 10 + (c - '0');
    }
    if (port == 0 || port > 65535) return false;
    t->port = static_cast<uint16_t>(port);
  }
  if (host.empty()) return false;
  t->by_name = false;
  if (!SetAddress(host, t)) {
    // A name: letters, digits, '-', '.', '_', with a letter somewhere (so that "1.2.3", a bad
    // IPv4 literal, is not taken for one).
    if (bracketed || !std::all_of(host.begin(), host.end(), IsNameChar) ||
        std::none_of(host.begin(), host.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); })) {
      return false;
    }
    t->by_name = true;
  } else if (bracketed != (t->addr.ss_family == AF_INET6)) {
    return false;  // "[1.2.3.4]" or an unbracketed IPv6 literal.
  }
  t->host = authority;
  t->path_begin = authority_end;
  t->path_end = std::min(url.find('#', authority_end), url.size());
  return true;
}

std::string ErrnoText(int err) {
  char buf[128];
  return strerror_r(err, buf, sizeof(buf));
}

}  // namespace

struct KeepAliveTransport::Core : std::enable_shared_from_this<Core> {
  struct Pending {
    HttpRequest request;  // Kept whole: it may have to go out again.
    Done done;
    std::string method;
    size_t path_begin = 0;
    size_t path_end = 0;
    int64_t connect_timeout_ms = kDefaultConnectTimeoutMs;
    int64_t timeout_ms = kDefaultTimeoutMs;
    TimePoint deadline;
    int sends = 0;
    bool no_body() const { return method == "HEAD"; }
    std::string Where() const { return method + " " + UrlForMessage(request.url); }
  };

  struct Origin;

  struct Conn {
    Origin* origin = nullptr;
    int fd = -1;  // -1 once retired.
    bool connecting = true;
    bool draining = false;  // Takes no new request: its name now resolves elsewhere.
    EventLoop::WatchId watch = EventLoop::kInvalidWatchId;
    short watched = 0;
    std::string out;
    size_t out_pos = 0;
    std::deque<Pending> outstanding;  // In send order.
    size_t assigned = 0;
    size_t answered = 0;
    HttpResponseParser parser;
    TaskId timer = kInvalidTaskId;
    TimePoint timer_at = TimePoint::max();
    TimePoint connect_deadline = TimePoint::max();
    TimePoint idle_since{};

    explicit Conn(HttpResponseLimits limits) : parser(limits) {}
  };

  struct Origin {
    Target target;
    std::string key;  // In `origins`; for a name also in `names`.
    std::string host_header;
    std::vector<std::unique_ptr<Conn>> conns;
    std::deque<Pending> waiting;  // For a connection slot, in order.
    // Requests one connection carries at most; learned from a server closing after N answers.
    size_t max_per_conn = 0;  // 0: no limit known.
    TaskId timer = kInvalidTaskId;
    TimePoint timer_at = TimePoint::max();
  };

  // The address a host name was last seen at (the peer of a fallback answer).
  struct Learned {
    std::string ip;
    TimePoint at;
    bool refreshing = false;  // A request went to the fallback to see the name again.
  };

  Core(EventLoop* event_loop, HttpTransport* fallback_transport, KeepAliveOptions transport_options)
      : loop(event_loop), fallback(fallback_transport), options(transport_options) {
    if (options.max_connections_per_server == 0) options.max_connections_per_server = 1;
    if (options.pipeline_depth == 0) options.pipeline_depth = 1;
    if (options.idle_timeout_ms < 1) options.idle_timeout_ms = 1;
    limits.max_body_bytes = options.max_response_bytes;
  }

  void Start(HttpRequest request, Done done);
  void CancelAll(const Status& why);
  // Sends through the fallback, learning the address `name_key` resolves to from the answer.
  void SendByName(HttpRequest request, Done done, std::string name_key);
  void Learn(const std::string& name_key, const std::string& peer_ip, bool answered);
  // A connection to the learned address of a name failed: resolve it again.
  void Forget(const Origin& origin);
  void Close(const Status& why);

  // Internals; the caller runs RunCompletions() at the end of its entry point.
  void Dispatch(Origin* origin);
  void Assign(Conn* conn, Pending&& pending);
  Conn* Open(Origin* origin, const Pending& first);
  void Serialize(const Origin& origin, const Pending& pending, std::string* out) const;
  void QueueFlush();
  void FlushAll();
  bool Flush(Conn* conn);
  void SetWatch(Conn* conn, short events);
  void OnReady(Conn* conn, short fired);
  void OnConnected(Conn* conn);
  void ReadAll(Conn* conn);
  void ParseAnswers(Conn* conn);
  void OnClosed(Conn* conn, const std::string& why);
  void OnConnTimer(Conn* conn);
  void OnOriginTimer(Origin* origin);
  void ArmConnTimer(Conn* conn, TimePoint at);
  void ArmOriginTimer(Origin* origin, TimePoint at);
  void Retire(Conn* conn);
  // Sends `pending` again if it may go out once more, else fails it with `error`. `counted`: the
  // server may have seen it (false: it certainly did not, as after an announced close).
  void Resend(Origin* origin, Pending&& pending, bool counted, const Status& error);
  void Fail(Pending&& pending, Status status);
  void Succeed(Conn* conn, Pending&& pending, ParsedResponse& parsed);
  void RunCompletions();

  EventLoop* const loop;
  HttpTransport* const fallback;
  KeepAliveOptions options;
  HttpResponseLimits limits;
  bool closed = false;
  bool flush_queued = false;
  // By "ip|port" for IP literals, "name|host:port" (lower case) for names.
  std::unordered_map<std::string, std::unique_ptr<Origin>> origins;
  std::unordered_map<std::string, Learned> names;  // By origin key.
  std::vector<std::pair<Done, HttpResponse>> completed;
  std::vector<std::unique_ptr<Conn>> retired;
  std::vector<char> read_buffer;
};

void KeepAliveTransport::Core::Start(HttpRequest request, Done done) {
  std::string method;
  const Status valid = ValidateHttpRequest(request, &method);
  Target target;
  if (closed || !valid.ok() || !ParseTarget(request.url, &target)) {
    const std::string where = method + " " + UrlForMessage(request.url);
    Status status = closed        ? CancelledError(where + ": the HTTP transport is closed")
                    : !valid.ok() ? valid.WithPrefix(where)
                                  : InvalidArgumentError(where + ": not an http://ip URL");
    completed.emplace_back(std::move(done), HttpErrorResponse(std::move(status)));
    RunCompletions();
    return;
  }
  const TimePoint now = loop->clock()->Now();
  std::string key;
  if (target.by_name) {
    key = "name|";
    for (char c : target.host) key += internal::AsciiLower(c);
    // A name goes through the fallback (curl resolves it) until an answer showed its address, and
    // again once per kNameTtl, while the other requests keep using the address known.
    auto learned = names.find(key);
    if (learned == names.end() || !SetAddress(learned->second.ip, &target)) {
      SendByName(std::move(request), std::move(done), std::move(key));
      return;
    }
    if (now - learned->second.at >= kNameTtl && !learned->second.refreshing) {
      learned->second.refreshing = true;
      SendByName(std::move(request), std::move(done), std::move(key));
      return;
    }
  } else {
    key = target.ip;
    key += '|';
    key += std::to_string(target.port);
  }
  auto [it, inserted] = origins.try_emplace(key);
  if (inserted) {
    it->second = std::make_unique<Origin>();
    it->second->key = std::move(key);
    it->second->host_header.assign(target.host.data(), target.host.size());
    it->second->target = target;
  }
  Origin* origin = it->second.get();
  if (target.by_name && origin->target.ip != target.ip) {
    // The name moved: new requests go to the new address; connections to the old one finish
    // what they carry and close.
    origin->target.addr = target.addr;
    origin->target.addr_len = target.addr_len;
    origin->target.ip = target.ip;
    origin->max_per_conn = 0;
    std::vector<Conn*> idle;
    for (const auto& conn : origin->conns) {
      conn->draining = true;
      if (conn->outstanding.empty()) idle.push_back(conn.get());
    }
    for (Conn* conn : idle) Retire(conn);
  }

  Pending pending;
  pending.method = std::move(method);
  pending.path_begin = target.path_begin;
  pending.path_end = target.path_end;
  pending.request = std::move(request);
  pending.done = std::move(done);
  pending.connect_timeout_ms = pending.request.connect_timeout_ms > 0
                                   ? pending.request.connect_timeout_ms
                                   : kDefaultConnectTimeoutMs;
  pending.timeout_ms =
      pending.request.timeout_ms > 0 ? pending.request.timeout_ms : kDefaultTimeoutMs;
  pending.deadline = now + std::chrono::milliseconds(pending.timeout_ms);
  origin->waiting.push_back(std::move(pending));
  Dispatch(origin);
  RunCompletions();
}

void KeepAliveTransport::Core::SendByName(HttpRequest request, Done done, std::string name_key) {
  std::weak_ptr<Core> weak = weak_from_this();
  fallback->Send(std::move(request), [weak, name_key = std::move(name_key),
                                      done = std::move(done)](HttpResponse response) {
    if (std::shared_ptr<Core> core = weak.lock()) {
      const bool answered = response.transport_error.ok() && !response.peer_ip.empty();
      if (core->loop->InLoopThread()) {
        core->Learn(name_key, response.peer_ip, answered);
      } else {
        core->loop->RunInLoop([weak, name_key, ip = response.peer_ip, answered] {
          if (std::shared_ptr<Core> c = weak.lock()) c->Learn(name_key, ip, answered);
        });
      }
    }
    InvokeHttpDone(done, std::move(response));
  });
}

void KeepAliveTransport::Core::Learn(const std::string& name_key, const std::string& peer_ip,
                                     bool answered) {
  if (closed) return;
  auto it = names.find(name_key);
  if (!answered) {
    if (it != names.end()) it->second.refreshing = false;  // The next request tries again.
    return;
  }
  Learned& learned = names[name_key];
  learned.ip = peer_ip;
  learned.at = loop->clock()->Now();
  learned.refreshing = false;
}

void KeepAliveTransport::Core::Forget(const Origin& origin) {
  if (origin.target.by_name) names.erase(origin.key);
}

void KeepAliveTransport::Core::Dispatch(Origin* origin) {
  while (!origin->waiting.empty() && !closed) {
    Conn* slot = nullptr;
    for (const auto& conn : origin->conns) {
      if (!conn->draining && conn->outstanding.size() < options.pipeline_depth &&
          (origin->max_per_conn == 0 || conn->assigned < origin->max_per_conn)) {
        slot = conn.get();
        break;
      }
    }
    if (slot == nullptr && origin->conns.size() >= options.max_connections_per_server &&
        origin->max_per_conn != 0) {
      // A connection that carried as many requests as the server allows on one and has no answer
      // to come only holds a slot: close it to open a fresh one.
      for (const auto& conn : origin->conns) {
        if (!conn->connecting && conn->outstanding.empty() &&
            conn->assigned >= origin->max_per_conn) {
          Retire(conn.get());
          break;
        }
      }
    }
    if (slot == nullptr && origin->conns.size() < options.max_connections_per_server) {
      slot = Open(origin, origin->waiting.front());
      if (slot == nullptr) continue;  // Open() failed the front request.
    }
    if (slot == nullptr) break;
    Pending pending = std::move(origin->waiting.front());
    origin->waiting.pop_front();
    Assign(slot, std::move(pending));
  }
  if (!origin->waiting.empty()) {
    TimePoint earliest = TimePoint::max();
    for (const Pending& p : origin->waiting) earliest = std::min(earliest, p.deadline);
    ArmOriginTimer(origin, earliest);
  }
}

void KeepAliveTransport::Core::Assign(Conn* conn, Pending&& pending) {
  ++pending.sends;
  ++conn->assigned;
  Serialize(*conn->origin, pending, &conn->out);
  const TimePoint deadline = pending.deadline;
  conn->outstanding.push_back(std::move(pending));
  if (deadline < conn->timer_at) ArmConnTimer(conn, deadline);
  if (!conn->connecting) QueueFlush();
}

void KeepAliveTransport::Core::Serialize(const Origin& origin, const Pending& pending,
                                         std::string* out) const {
  const std::string& url = pending.request.url;
  out->append(pending.method);
  out->push_back(' ');
  if (pending.path_begin == pending.path_end || url[pending.path_begin] != '/') out->push_back('/');
  out->append(url, pending.path_begin, pending.path_end - pending.path_begin);
  out->append(" HTTP/1.1\r\nHost: ");
  out->append(origin.host_header);
  out->append("\r\n");
  for (const auto& [name, value] : pending.request.headers) {
    using internal::EqualsIgnoreCase;
    if (EqualsIgnoreCase(name, "host") || EqualsIgnoreCase(name, "content-length") ||
        EqualsIgnoreCase(name, "transfer-encoding") || EqualsIgnoreCase(name, "accept-encoding")) {
      continue;  // Ours to set.
    }
    out->append(name);
    out->append(": ");
    out->append(value);
    out->append("\r\n");
  }
  out->append("Accept-Encoding: gzip\r\n");
  if (pending.method != "GET" && pending.method != "HEAD") {
    out->append("Content-Length: ");
    out->append(std::to_string(pending.request.body.size()));
    out->append("\r\n\r\n");
    out->append(pending.request.body);
  } else {
    out->append("\r\n");
  }
}

KeepAliveTransport::Core::Conn* KeepAliveTransport::Core::Open(Origin* origin,
                                                               const Pending& first) {
  const Target& target = origin->target;
  const int fd =
      socket(target.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    if (connect(fd, reinterpret_cast<const sockaddr*>(&target.addr), target.addr_len) != 0 &&
        errno != EINPROGRESS) {
      err = errno;
    }
  }
  if (err != 0) {
    if (fd >= 0) close(fd);
    Forget(*origin);
    Pending failed = std::move(origin->waiting.front());
    origin->waiting.pop_front();
    Status status = UnavailableError(failed.Where() + ": cannot connect to " + origin->host_header +
                                     ": " + ErrnoText(err));
    Fail(std::move(failed), std::move(status));
    return nullptr;
  }
  auto conn = std::make_unique<Conn>(limits);
  conn->origin = origin;
  conn->fd = fd;
  conn->connect_deadline = loop->clock()->Now() + std::chrono::milliseconds(std::min(
                                                      first.connect_timeout_ms, first.timeout_ms));
  Conn* raw = conn.get();
  origin->conns.push_back(std::move(conn));
  SetWatch(raw, EventLoop::kWritable);  // Writable: the connect finished (either way).
  ArmConnTimer(raw, raw->connect_deadline);
  return raw;
}

void KeepAliveTransport::Core::SetWatch(Conn* conn, short events) {
  if (conn->watched == events && conn->watch != EventLoop::kInvalidWatchId) return;
  if (conn->watch != EventLoop::kInvalidWatchId) loop->UnwatchFd(conn->watch);
  conn->watched = events;
  // Raw pointers: Retire() removes the watch before the connection can go away, Close() before the
  // Core can.
  conn->watch =
      loop->WatchFd(conn->fd, events, [this, conn](short fired) { OnReady(conn, fired); });
}

void KeepAliveTransport::Core::QueueFlush() {
  if (flush_queued) return;
  flush_queued = true;
  // After the current callback: every request queued until then leaves in one send().
  std::weak_ptr<Core> weak = weak_from_this();
  loop->RunInLoop([weak] {
    if (std::shared_ptr<Core> core = weak.lock()) {
      core->flush_queued = false;
      core->FlushAll();
      core->RunCompletions();
    }
  });
}

void KeepAliveTransport::Core::FlushAll() {
  if (closed) return;
  std::vector<Conn*> ready;
  for (const auto& [key, origin] : origins) {
    for (const auto& conn : origin->conns) {
      if (!conn->connecting && conn->out_pos < conn->out.size() &&
          (conn->watched & EventLoop::kWritable) == 0) {
        ready.push_back(conn.get());
      }
    }
  }
  for (Conn* conn : ready) {
    if (conn->fd >= 0) Flush(conn);  // (A connection retired by an earlier one's failure is not.)
  }
}

bool KeepAliveTransport::Core::Flush(Conn* conn) {
  while (conn->out_pos < conn->out.size()) {
    const ssize_t n = send(conn->fd, conn->out.data() + conn->out_pos,
                           conn->out.size() - conn->out_pos, MSG_NOSIGNAL);
    if (n > 0) {
      conn->out_pos += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      SetWatch(conn, EventLoop::kReadable | EventLoop::kWritable);
      return true;
    }
    OnClosed(conn, "send failed: " + ErrnoText(n < 0 ? errno : EPIPE));
    return false;
  }
  conn->out.clear();
  conn->out_pos = 0;
  if (conn->watched != EventLoop::kReadable) SetWatch(conn, EventLoop::kReadable);
  return true;
}

void KeepAliveTransport::Core::OnReady(Conn* conn, short fired) {
  if (closed || conn->fd < 0) return;
  const std::shared_ptr<Core> self = shared_from_this();  // A `done` may destroy the transport.
  if (conn->connecting) {
    OnConnected(conn);
  } else {
    if ((fired & EventLoop::kWritable) != 0 && !Flush(conn)) {
      RunCompletions();
      return;
    }
    if ((fired & EventLoop::kReadable) != 0) ReadAll(conn);
  }
  RunCompletions();
}

void KeepAliveTransport::Core::OnConnected(Conn* conn) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) {
    // Nothing reached the server: every request fails here; NamingProxy moves to the next server.
    Origin* origin = conn->origin;
    Forget(*origin);
    std::deque<Pending> failed;
    failed.swap(conn->outstanding);
    Retire(conn);
    for (Pending& p : failed) {
      Status status = UnavailableError(p.Where() + ": cannot connect to " + origin->host_header +
                                       ": " + ErrnoText(err));
      Fail(std::move(p), std::move(status));
    }
    Dispatch(origin);
    return;
  }
  conn->connecting = false;
  conn->connect_deadline = TimePoint::max();
  conn->idle_since = loop->clock()->Now();
  Flush(conn);
}

void KeepAliveTransport::Core::ReadAll(Conn* conn) {
  if (read_buffer.empty()) read_buffer.resize(kReadChunk);
  for (;;) {
    const ssize_t n = recv(conn->fd, read_buffer.data(), read_buffer.size(), 0);
    if (n > 0) {
      conn->parser.Feed(read_buffer.data(), static_cast<size_t>(n));
      ParseAnswers(conn);
      if (conn->fd < 0) return;  // Retired (a bad answer, an announced close).
      if (static_cast<size_t>(n) < read_buffer.size()) return;  // Drained, most likely.
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    OnClosed(conn,
             n == 0 ? "the server closed the connection" : "recv failed: " + ErrnoText(errno));
    return;
  }
}

void KeepAliveTransport::Core::ParseAnswers(Conn* conn) {
  while (!conn->outstanding.empty()) {
    const HttpResponseParser::State state = conn->parser.Next(conn->outstanding.front().no_body());
    if (state == HttpResponseParser::kNeedMore) return;
    if (state == HttpResponseParser::kError) {
      OnClosed(conn, "bad answer: " + conn->parser.error());
      return;
    }
    Pending pending = std::move(conn->outstanding.front());
    conn->outstanding.pop_front();
    ++conn->answered;
    const bool keep_alive = conn->parser.response().keep_alive;
    const int status = conn->parser.response().status;
    Succeed(conn, std::move(pending), conn->parser.response());
    if (!keep_alive) {
      // The server processed nothing sent behind this answer: send it again elsewhere. After a
      // success (not an error, which Tomcat also closes on), put no more on one connection than
      // this one carried: it is the server's keep-alive limit.
      Origin* origin = conn->origin;
      if (!conn->outstanding.empty() && status >= 200 && status < 300) {
        origin->max_per_conn = origin->max_per_conn == 0
                                   ? conn->answered
                                   : std::min(origin->max_per_conn, conn->answered);
      }
      std::deque<Pending> unanswered;
      unanswered.swap(conn->outstanding);
      Retire(conn);
      for (auto it = unanswered.rbegin(); it != unanswered.rend(); ++it) {
        Resend(origin, std::move(*it), /*counted=*/false, Status::Ok());
      }
      Dispatch(origin);
      return;
    }
  }
  if (conn->outstanding.empty()) {
    conn->idle_since = loop->clock()->Now();
    // Bytes nobody asked for: the stream cannot be trusted any more.
    if (conn->parser.InProgress()) {
      OnClosed(conn, "unsolicited bytes from the server");
      return;
    }
    if (conn->draining) {
      Origin* origin = conn->origin;
      Retire(conn);
      if (!origin->waiting.empty()) Dispatch(origin);
      return;
    }
  }
  // The answers freed pipeline slots: give them to the requests waiting for one.
  if (!conn->origin->waiting.empty()) Dispatch(conn->origin);
}

void KeepAliveTransport::Core::Succeed(Conn* conn, Pending&& pending, ParsedResponse& parsed) {
  HttpResponse response;
  response.status = parsed.status;
  response.peer_ip = conn->origin->target.ip;
  if (parsed.content_encoding.empty()) {
    response.body = std::move(parsed.body);
  } else if (parsed.content_encoding == "gzip" || parsed.content_encoding == "x-gzip") {
    Result<std::string> body = nacos_wire::Gunzip(parsed.body, options.max_response_bytes);
    if (!body.ok()) {
      Fail(std::move(pending), UnavailableError(pending.Where() + ": undecodable gzip body: " +
                                                std::string(body.status().message())));
      return;
    }
    response.body = std::move(*body);
  } else {
    Fail(std::move(pending), UnavailableError(pending.Where() + ": unsupported Content-Encoding " +
                                              parsed.content_encoding.substr(0, 32)));
    return;
  }
  completed.emplace_back(std::move(pending.done), std::move(response));
}

void KeepAliveTransport::Core::OnClosed(Conn* conn, const std::string& why) {
  Origin* origin = conn->origin;
  // A close-delimited answer ends here.
  if (!conn->outstanding.empty() && conn->parser.FinishAtEof() == HttpResponseParser::kResponse) {
    Pending pending = std::move(conn->outstanding.front());
    conn->outstanding.pop_front();
    ++conn->answered;
    Succeed(conn, std::move(pending), conn->parser.response());
  }
  const bool cut_short = conn->parser.InProgress();
  const bool reused = conn->answered > 0;
  std::deque<Pending> unanswered;
  unanswered.swap(conn->outstanding);
  Retire(conn);
  for (size_t i = unanswered.size(); i-- > 0;) {
    Pending& p = unanswered[i];
    Status error = UnavailableError(p.Where() + ": " + why);
    if (i == 0 && cut_short) {
      Fail(std::move(p), std::move(error));  // The server was answering it: it saw it.
    } else if (reused) {
      Resend(origin, std::move(p), /*counted=*/true, error);
    } else {
      Fail(std::move(p), std::move(error));
    }
  }
  Dispatch(origin);
}

void KeepAliveTransport::Core::Resend(Origin* origin, Pending&& pending, bool counted,
                                      const Status& error) {
  if (!counted) --pending.sends;
  if (pending.sends >= kMaxSends || closed) {
    Status status =
        closed ? CancelledError(pending.Where() + ": the HTTP transport is closed") : error;
    Fail(std::move(pending), std::move(status));
    return;
  }
  origin->waiting.push_front(std::move(pending));  // Callers go from the last to the first.
}

void KeepAliveTransport::Core::Fail(Pending&& pending, Status status) {
  DUBBO_LOG(DEBUG) << "http: " << pending.method << " " << RedactUrl(pending.request.url)
                   << " failed: " << status;
  completed.emplace_back(std::move(pending.done), HttpErrorResponse(std::move(status)));
}

void KeepAliveTransport::Core::ArmConnTimer(Conn* conn, TimePoint at) {
  // At most one idle period ahead: the timer is otherwise left at the deadline of the last request,
  // and a connection that falls idle meanwhile would stay open until then, not idle_timeout_ms.
  at = std::min(at, loop->clock()->Now() + std::chrono::milliseconds(options.idle_timeout_ms));
  if (conn->timer != kInvalidTaskId) loop->Cancel(conn->timer);
  conn->timer = kInvalidTaskId;
  conn->timer_at = at;
  const Duration delay = std::max(Duration::zero(), at - loop->clock()->Now());
  conn->timer = loop->ScheduleAfter(delay, [this, conn] {
    conn->timer = kInvalidTaskId;
    conn->timer_at = TimePoint::max();
    const std::shared_ptr<Core> self = shared_from_this();
    OnConnTimer(conn);
    RunCompletions();
  });
}

void KeepAliveTransport::Core::ArmOriginTimer(Origin* origin, TimePoint at) {
  if (origin->timer != kInvalidTaskId) {
    if (origin->timer_at <= at) return;
    loop->Cancel(origin->timer);
  }
  origin->timer_at = at;
  const Duration delay = std::max(Duration::zero(), at - loop->clock()->Now());
  origin->timer = loop->ScheduleAfter(delay, [this, origin] {
    origin->timer = kInvalidTaskId;
    origin->timer_at = TimePoint::max();
    const std::shared_ptr<Core> self = shared_from_this();
    OnOriginTimer(origin);
    RunCompletions();
  });
}

void KeepAliveTransport::Core::OnConnTimer(Conn* conn) {
  if (closed || conn->fd < 0) return;
  const TimePoint now = loop->clock()->Now();
  Origin* origin = conn->origin;
  if (conn->connecting && now >= conn->connect_deadline) {
    Forget(*origin);
    std::deque<Pending> failed;
    failed.swap(conn->outstanding);
    Retire(conn);
    for (Pending& p : failed) {
      Status status =
          DeadlineExceededError(p.Where() + ": connect to " + origin->host_header +
                                " timed out after " + std::to_string(p.connect_timeout_ms) + " ms");
      Fail(std::move(p), std::move(status));
    }
    Dispatch(origin);
    return;
  }
  bool expired = false;
  TimePoint next = conn->connect_deadline;
  for (const Pending& p : conn->outstanding) {
    expired |= p.deadline <= now;
    next = std::min(next, p.deadline);
  }
  if (expired) {
    // A stalled server stalls everything behind the late request: give up on the connection.
    std::deque<Pending> outstanding;
    outstanding.swap(conn->outstanding);
    Retire(conn);
    for (size_t i = outstanding.size(); i-- > 0;) {
      Pending& p = outstanding[i];
      if (p.deadline <= now) {
        Status status = DeadlineExceededError(p.Where() + ": no answer within " +
                                              std::to_string(p.timeout_ms) + " ms");
        Fail(std::move(p), std::move(status));
      } else {
        Status status =
            UnavailableError(p.Where() + ": a request before it on its connection " + "timed out");
        Resend(origin, std::move(p), /*counted=*/true, status);
      }
    }
    Dispatch(origin);
    return;
  }
  if (conn->outstanding.empty() && !conn->connecting) {
    const TimePoint idle_end =
        conn->idle_since + std::chrono::milliseconds(options.idle_timeout_ms);
    if (now >= idle_end) {
      Retire(conn);
      return;
    }
    next = std::min(next, idle_end);
  }
  ArmConnTimer(conn, next);
}

void KeepAliveTransport::Core::OnOriginTimer(Origin* origin) {
  if (closed) return;
  const TimePoint now = loop->clock()->Now();
  std::deque<Pending> keep;
  for (Pending& p : origin->waiting) {
    if (p.deadline <= now) {
      Status status =
          DeadlineExceededError(p.Where() + ": no connection to " + origin->host_header +
                                " within " + std::to_string(p.timeout_ms) + " ms");
      Fail(std::move(p), std::move(status));
    } else {
      keep.push_back(std::move(p));
    }
  }
  origin->waiting.swap(keep);
  Dispatch(origin);  // Re-arms the timer for what still waits.
}

void KeepAliveTransport::Core::Retire(Conn* conn) {
  if (conn->watch != EventLoop::kInvalidWatchId) loop->UnwatchFd(conn->watch);
  conn->watch = EventLoop::kInvalidWatchId;
  if (conn->timer != kInvalidTaskId) loop->Cancel(conn->timer);
  conn->timer = kInvalidTaskId;
  if (conn->fd >= 0) close(conn->fd);
  conn->fd = -1;
  auto& conns = conn->origin->conns;
  for (auto it = conns.begin(); it != conns.end(); ++it) {
    if (it->get() == conn) {
      retired.push_back(std::move(*it));  // Freed in RunCompletions(): a caller may still look.
      conns.erase(it);
      break;
    }
  }
}

void KeepAliveTransport::Core::RunCompletions() {
  retired.clear();
  if (completed.empty()) return;
  std::vector<std::pair<Done, HttpResponse>> batch;
  batch.swap(completed);
  const std::shared_ptr<Core> self = shared_from_this();
  for (auto& [done, response] : batch) InvokeHttpDone(done, std::move(response));
  // Callbacks that sent or failed more ran their own RunCompletions(); anything left is theirs too.
  if (!completed.empty()) RunCompletions();
}

void KeepAliveTransport::Core::CancelAll(const Status& why) {
  std::vector<Pending> cancelled;
  for (auto& [key, origin] : origins) {
    while (!origin->conns.empty()) {
      Conn* conn = origin->conns.front().get();
      for (Pending& p : conn->outstanding) cancelled.push_back(std::move(p));
      conn->outstanding.clear();
      Retire(conn);
    }
    for (Pending& p : origin->waiting) cancelled.push_back(std::move(p));
    origin->waiting.clear();
    if (origin->timer != kInvalidTaskId) loop->Cancel(origin->timer);
    origin->timer = kInvalidTaskId;
    origin->timer_at = TimePoint::max();
  }
  for (Pending& p : cancelled) {
    Status status = CancelledError(p.Where() + ": " + std::string(why.message()));
    completed.emplace_back(std::move(p.done), HttpErrorResponse(std::move(status)));
  }
}

void KeepAliveTransport::Core::Close(const Status& why) {
  if (closed) return;
  closed = true;
  CancelAll(why);
  RunCompletions();
}

// --- KeepAliveTransport ---------------------------------------------------------------------

KeepAliveTransport::KeepAliveTransport(EventLoop* loop, HttpTransport* fallback,
                                       KeepAliveOptions options)
    : loop_(loop), fallback_(fallback), core_(std::make_shared<Core>(loop, fallback, options)) {
  stop_hook_ = transport_lifecycle::CloseWhenLoopStops(loop_, core_);
}

KeepAliveTransport::~KeepAliveTransport() {
  transport_lifecycle::CloseAndUnhook(loop_, core_, stop_hook_);
}

bool KeepAliveTransport::Handles(std::string_view url) {
  Target target;
  return ParseTarget(url, &target) && !target.by_name;
}

void KeepAliveTransport::Send(HttpRequest request, std::function<void(HttpResponse)> done) {
  Target target;
  if (!ParseTarget(request.url, &target)) {
    fallback_->Send(std::move(request), std::move(done));
    return;
  }
  transport_lifecycle::StartOnLoop(loop_, core_, std::move(request), std::move(done));
}

void KeepAliveTransport::CancelAll() {
  const std::shared_ptr<Core> core = core_;
  loop_->RunInLoopAndWait([&core] {
    core->CancelAll(CancelledError("cancelled"));
    core->RunCompletions();
  });
  fallback_->CancelAll();
}

}  // namespace dubbo::registry::nacos
