// Test helper: a minimal blocking HTTP/1.1 client over a loopback socket (one request per
// connection, "Connection: close"), and raw-socket helpers for hostile-input tests.
//
// Thread-safety: free functions; safe from any thread.
#ifndef DUBBO_TESTS_TESTING_HTTP_CLIENT_H_
#define DUBBO_TESTS_TESTING_HTTP_CLIENT_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

namespace dubbo::registry::testing {

struct HttpResult {
  int status = 0;  // 0: no response (connection failed or closed early).
  std::string body;
};

// Connects to 127.0.0.1:port; -1 on failure. Receives time out after `timeout_ms`. A `source`
// (another 127.0.0.0/8 address: Linux routes all of them over lo) is bound first, so that the
// server sees a different peer.
inline int ConnectLoopback(uint16_t port, int timeout_ms = 5000, const char* source = nullptr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (source != nullptr) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

inline bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

// Reads until the peer closes (or the receive timeout).
inline std::string ReadAll(int fd) {
  std::string out;
  char buf[8192];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// Sends `raw` as-is (from `source`, see ConnectLoopback()) and returns whatever comes back before
// the connection closes.
inline std::string RawExchange(uint16_t port, const std::string& raw,
                               const char* source = nullptr) {
  const int fd = ConnectLoopback(port, 5000, source);
  if (fd < 0) return {};
  SendAll(fd, raw);
  ::shutdown(fd, SHUT_WR);
  std::string reply = ReadAll(fd);
  ::close(fd);
  return reply;
}

inline HttpResult ParseHttpResponse(const std::string& raw) {
  HttpResult result;
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return result;
  result.status = std::atoi(raw.c_str() + 9);
  const size_t header_end = raw.find("\r\n\r\n");
  if (header_end != std::string::npos) result.body = raw.substr(header_end + 4);
  return result;
}

// `target` is the path with its query string. Extra headers as "Name: value" lines.
inline HttpResult HttpRequest(uint16_t port, const std::string& method, const std::string& target,
                              const std::string& body = {},
                              const std::map<std::string, std::string>& headers = {}) {
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!body.empty()) {
    request += "Content-Type: application/x-www-form-urlencoded;charset=UTF-8\r\n";
  }
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return ParseHttpResponse(RawExchange(port, request));
}

// A UDP socket on 127.0.0.1, port 0. -1 on failure.
inline int BindUdpLoopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

// Waits up to `timeout_ms` for one datagram; returns false on timeout. `from` receives the sender.
inline bool ReceiveDatagram(int fd, int timeout_ms, std::string* data, sockaddr_in* from) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) <= 0) return false;
  char buf[65536];
  socklen_t len = sizeof(*from);
  const ssize_t n = ::recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(from), &len);
  if (n < 0) return false;
  data->assign(buf, static_cast<size_t>(n));
  return true;
}

}  // namespace dubbo::registry::testing

#endif  // DUBBO_TESTS_TESTING_HTTP_CLIENT_H_
