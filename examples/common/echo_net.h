// echo_net.h: the examples' line-based TCP "echo" protocol, with plain POSIX sockets (no RPC
// framework): a request is one line, the answer is one line "<provider address> <request>".
// Header-only, so that each example stays a standalone project.
//
// Thread-safety: free functions on caller-owned descriptors.
#ifndef DUBBO_REGISTRY_EXAMPLES_ECHO_NET_H_
#define DUBBO_REGISTRY_EXAMPLES_ECHO_NET_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

namespace echo {

// "host:port" split at the last ':'; false when it has no port.
inline bool SplitAddress(const std::string& address, std::string* host, int* port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  *port = std::atoi(address.c_str() + colon + 1);
  return *port > 0 && *port <= 65535;
}

// A listening, non-blocking IPv4 socket on host:port (port 0: any free port); -1 and `error` on
// failure.
inline int Listen(const std::string& host, int port, int* bound_port, std::string* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    *error = "not an IPv4 address: " + host;
    return -1;
  }
  // Non-blocking: a client that connects and resets between poll() and accept() must not leave
  // accept() blocked where the server's stop request cannot reach it.
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = sizeof(addr);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 128) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    *error = std::string("cannot listen: ") + std::strerror(errno);
    if (fd >= 0) close(fd);
    return -1;
  }
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

// Starts a non-blocking connect to "host:port"; the descriptor, or -1 at once (refused, bad
// address). Completion shows as writability (check SO_ERROR).
inline int StartConnect(const std::string& address) {
  std::string host;
  int port = 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (!SplitAddress(address, &host, &port) || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    return -1;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

// Waits up to `deadline` for `events` on `fd`; false on timeout or error.
inline bool WaitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, events, 0};
    const int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
    if (n < 0 && errno != EINTR) return false;
  }
}

enum class CallResult { kOk, kRefused, kTimeout, kBroken };

// One blocking call: connect, send `line`, read the answer line, all before `timeout`.
inline CallResult Call(const std::string& address, const std::string& line,
                       std::chrono::milliseconds timeout, std::string* answer) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const int fd = StartConnect(address);
  if (fd < 0) return CallResult::kRefused;
  int err = 0;
  socklen_t len = sizeof(err);
  if (!WaitFor(fd, POLLOUT, deadline)) {
    close(fd);
    return CallResult::kTimeout;
  }
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
    close(fd);
    return CallResult::kRefused;
  }
  const std::string request = line + "\n";
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return CallResult::kBroken;
  }
  answer->clear();
  char buf[512];
  while (answer->find('\n') == std::string::npos) {
    if (!WaitFor(fd, POLLIN, deadline)) {
      close(fd);
      return CallResult::kTimeout;
    }
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      close(fd);
      return CallResult::kBroken;
    }
    answer->append(buf, static_cast<size_t>(n));
  }
  answer->resize(answer->find('\n'));
  close(fd);
  return CallResult::kOk;
}

}  // namespace echo

#endif  // DUBBO_REGISTRY_EXAMPLES_ECHO_NET_H_
