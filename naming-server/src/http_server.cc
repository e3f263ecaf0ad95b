#include "http_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

namespace dubbo::naming_server {
namespace {

constexpr size_t kReadChunk = 64 << 10;
// Stop answering pipelined requests of one connection once this much output waits; go on when
// it has been written.
constexpr size_t kMaxPendingOutput = 256 << 10;
// A closing connection's input is discarded for at most this long and this much.
constexpr int kLingerSeconds = 2;
constexpr size_t kMaxLingerBytes = 1 << 20;

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
    case 410:
      return "Gone";
    case 413:
      return "Payload Too Large";
    case 417:
      return "Expectation Failed";
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

struct HttpServer::Connection {
  Connection(HttpServer* s, int f, const HttpParserLimits& limits)
      : server(s), fd(f), parser(limits) {}

  HttpServer* server;
  int fd;
  event* read_event = nullptr;
  event* write_event = nullptr;
  HttpParser parser;
  std::string peer_ip;
  uint16_t peer_port = 0;
  std::string out;  // response bytes not yet written, from out_offset on
  size_t out_offset = 0;
  bool reading = false;  // read_event added
  bool writing = false;  // write_event added
  bool eof = false;      // the peer has shut its write side (or reset)
  bool closing = false;  // close once `out` is written; no more requests are answered
  bool lingering = false;
  size_t linger_bytes = 0;
  time_t linger_since = 0;
  Connection* prev = nullptr;
  Connection* next = nullptr;
};

HttpServer::HttpServer() = default;

HttpServer::~HttpServer() { Stop(); }

registry::Status HttpServer::Start(event_base* base, HttpServerOptions options,
                                   HttpHandler handler) {
  base_ = base;
  options_ = std::move(options);
  handler_ = std::move(handler);
  read_buffer_ = std::make_unique<char[]>(kReadChunk);
  sockaddr_storage addr;
  socklen_t len = 0;
  if (!MakeSockaddr(options_.bind_address, options_.port, &addr, &len)) {
    return registry::InvalidArgumentError("--bind must be an IP address: " + options_.bind_address);
  }
  const std::string where = options_.bind_address + ":" + std::to_string(options_.port);
  listen_fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) {
    return registry::UnavailableError("cannot listen on " + where + ": " + std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(listen_fd_, 1024) != 0) {
    const int error = errno;
    ::close(listen_fd_);
    listen_fd_ = -1;
    return registry::UnavailableError("cannot listen on " + where + ": " + std::strerror(error));
  }
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  std::string ignored;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0 ||
      !PeerOf(bound, &ignored, &port_)) {
    return registry::InternalError("getsockname failed");
  }
  timeval idle{options_.idle_timeout_seconds, 0};
  idle_timeout_ = event_base_init_common_timeout(base_, &idle);
  listen_event_ = event_new(base_, listen_fd_, EV_READ | EV_PERSIST, &HttpServer::OnAccept, this);
  resume_event_ = event_new(base_, -1, 0, &HttpServer::OnResume, this);
  if (listen_event_ == nullptr || resume_event_ == nullptr || idle_timeout_ == nullptr ||
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
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the listener would fire again at once. Pause it for 100 ms.
        event_del(listen_event_);
        const timeval pause{0, 100 * 1000};
        event_add(resume_event_, &pause);
      }
      return;
    }
    if (connection_count_ >= options_.max_connections) {
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    auto* c = new Connection(this, fd, options_.limits);
    PeerOf(addr, &c->peer_ip, &c->peer_port);
    c->read_event = event_new(base_, fd, EV_READ | EV_PERSIST, &HttpServer::OnRead, c);
    c->write_event = event_new(base_, fd, EV_WRITE | EV_PERSIST, &HttpServer::OnWrite, c);
    c->next = connections_;
    if (connections_ != nullptr) connections_->prev = c;
    connections_ = c;
    ++connection_count_;
    if (c->read_event == nullptr || c->write_event == nullptr ||
        event_add(c->read_event, idle_timeout_) != 0) {
      Close(c);
      continue;
    }
    c->reading = true;
  }
}

void HttpServer::OnRead(int fd, short events, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  HttpServer* self = c->server;
  if (events & EV_TIMEOUT) {  // idle (or lingering) too long
    self->Close(c);
    return;
  }
  const ssize_t n = ::recv(fd, self->read_buffer_.get(), kReadChunk, 0);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    self->Close(c);
    return;
  }
  if (c->lingering) {
    c->linger_bytes += static_cast<size_t>(n);
    if (n == 0 || c->linger_bytes > kMaxLingerBytes ||
        ::time(nullptr) - c->linger_since > kLingerSeconds) {
      self->Close(c);
    }
    return;
  }
  if (n == 0) {
    c->eof = true;
    event_del(c->read_event);  // level-triggered: EOF would fire again and again
    c->reading = false;
  } else {
    c->parser.Feed(std::string_view(self->read_buffer_.get(), static_cast<size_t>(n)));
  }
  self->Drive(c);
}

void HttpServer::OnWrite(int /*fd*/, short events, void* arg) {
  auto* c = static_cast<Connection*>(arg);
  HttpServer* self = c->server;
  if (events & EV_TIMEOUT) {  // the peer has not read for the whole idle timeout
    self->Close(c);
    return;
  }
  self->Drive(c);
}

void HttpServer::Drive(Connection* c) {
  while (true) {
    const bool more = !c->closing && Process(c);
    if (!Flush(c)) return;                // closed
    if (c->out_offset < c->out.size()) {  // the socket is full: wait for it, read no more meanwhile
      if (c->reading) {
        event_del(c->read_event);
        c->reading = false;
      }
      if (!c->writing) {
        event_add(c->write_event, idle_timeout_);
        c->writing = true;
      }
      return;
    }
    if (!more) break;
  }
  if (c->writing) {
    event_del(c->write_event);
    c->writing = false;
  }
  if (c->closing || c->eof) {
    FinishClose(c);
    return;
  }
  if (!c->reading) {
    event_add(c->read_event, idle_timeout_);
    c->reading = true;
  }
}

bool HttpServer::Process(Connection* c) {
  while (true) {
    switch (c->parser.Next()) {
      case HttpParser::kRequest:
        Answer(c, c->parser.request());
        if (c->closing) return false;
        if (c->out.size() - c->out_offset > kMaxPendingOutput) return true;
        break;
      case HttpParser::kNeedMore:
        if (c->eof) {
          c->closing = true;  // an unfinished request at the end of the input: dropped
        } else if (c->parser.TakeContinue()) {
          c->out.append("HTTP/1.1 100 Continue\r\n\r\n");
        }
        return false;
      case HttpParser::kError:
        AppendError(c, c->parser.error_status());
        c->closing = true;
        return false;
    }
  }
}

void HttpServer::Answer(Connection* c, const ParsedRequest& parsed) {
  if (!AllowedMethod(parsed.method)) {
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
  const std::string_view body = response.body_view();
  AppendResponse(c, minor, response.status, response.content_type, head ? std::string_view() : body,
                 body.size(), !keep_alive, keep_alive && minor == 0);
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
  if (c->out_offset == out.size()) {
    out.clear();
    c->out_offset = 0;
  }
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
  while (c->out_offset < c->out.size()) {
    const ssize_t n = ::send(c->fd, c->out.data() + c->out_offset, c->out.size() - c->out_offset,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      c->out_offset += static_cast<size_t>(n);
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
  return true;
}

void HttpServer::FinishClose(Connection* c) {
  if (c->eof) {
    Close(c);
    return;
  }
  // Lingering close: shut the write side, then read and drop what the peer still sends until it
  // closes, for at most kLingerSeconds, so that unread input does not turn our close into a reset
  // that could destroy the answer before the peer has read it.
  ::shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  c->linger_since = ::time(nullptr);
  if (c->reading) event_del(c->read_event);
  const timeval linger{kLingerSeconds, 0};
  if (event_add(c->read_event, &linger) != 0) {
    Close(c);
    return;
  }
  c->reading = true;
}

void HttpServer::Close(Connection* c) {
  if (c->read_event != nullptr) event_free(c->read_event);
  if (c->write_event != nullptr) event_free(c->write_event);
  ::close(c->fd);
  if (c->prev != nullptr) c->prev->next = c->next;
  if (c->next != nullptr) c->next->prev = c->prev;
  if (connections_ == c) connections_ = c->next;
  --connection_count_;
  delete c;
}

}  // namespace dubbo::naming_server
