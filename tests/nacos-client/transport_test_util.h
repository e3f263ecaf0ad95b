// Test helpers shared by the HTTP transport tests (curl_transport_test.cc,
// keepalive_transport_test.cc): TCP sockets on a free loopback port (127.0.0.1 or ::1), a port
// nothing listens on, request and answer builders, and Recorder, which collects a transport's
// completions and lets the test wait for them with a deadline (kWait unless told), plus
// SendAndWait() for a single round trip.
//
// Thread-safety: the free functions keep no state. Recorder is thread-safe: its callbacks may run
// on any thread (normally the loop's) while the test thread waits or reads; the callbacks share its
// state, so one that runs late (after a failed wait, or after the Recorder is gone) touches nothing
// freed. The EventLoop given to a Recorder must outlive its callbacks.
#ifndef DUBBO_TESTS_NACOS_CLIENT_TRANSPORT_TEST_UTIL_H_
#define DUBBO_TESTS_NACOS_CLIENT_TRANSPORT_TEST_UTIL_H_

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "transport/http/curl_transport.h"
#include "event_loop.h"

namespace dubbo::registry::nacos::testing {

using SteadyClock = std::chrono::steady_clock;

// A watchdog for something that should happen promptly: only a broken transport takes this long,
// however loaded the machine and however much a sanitizer slows it. Tests that prove a timeout was
// not waited for make that timeout kNeverMs, far beyond this.
inline constexpr auto kWait = std::chrono::seconds(60);
// A request or connect timeout that never runs out while a test runs (ten minutes).
inline constexpr int64_t kNeverMs = 600000;

// --- Sockets -------------------------------------------------------------------------------------

inline sockaddr_in Loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// The local port of an IPv4 or IPv6 socket; 0 on failure.
inline uint16_t LocalPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port
                                          : reinterpret_cast<sockaddr_in&>(addr).sin_port);
}

// A TCP socket bound to 127.0.0.1 (or ::1) on a free port; listening if `backlog` >= 0. -1 on
// failure.
inline int BoundSocket(int backlog, bool ipv6 = false) {
  const int fd = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int rc;
  if (ipv6) {
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } else {
    sockaddr_in addr = Loopback(0);
    rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  if (rc != 0 || (backlog >= 0 && ::listen(fd, backlog) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A port nothing listens on: bound, read back, closed.
inline uint16_t RefusedPort() {
  const int fd = BoundSocket(-1);
  const uint16_t port = LocalPort(fd);
  ::close(fd);
  return port;
}

// --- Requests, answers and recorded completions --------------------------------------------------

// A complete HTTP/1.1 answer with a Content-Length; `extra_headers` are header fields, each ending
// in CRLF.
inline std::string ResponseBytes(int status, const std::string& body,
                                 const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" +
         body;
}

inline HttpRequest MakeRequest(std::string method, std::string url, int64_t timeout_ms = 5000) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = std::move(url);
  request.timeout_ms = timeout_ms;
  return request;
}

struct Completion {
  int tag = 0;
  HttpResponse response;
  bool on_loop_thread = false;
  SteadyClock::time_point at;
};

// Collects completions, in the order they arrive.
class Recorder {
 public:
  explicit Recorder(EventLoop* loop) : state_(std::make_shared<State>()), loop_(loop) {}

  std::function<void(HttpResponse)> Callback(int tag = 0) {
    return [state = state_, loop = loop_, tag](HttpResponse response) {
      Completion c{tag, std::move(response), loop->InLoopThread(), SteadyClock::now()};
      std::lock_guard<std::mutex> lock(state->mu);
      state->completions.push_back(std::move(c));
      state->cv.notify_all();
    };
  }
  // True once `n` completions arrived; false if `timeout` passed first.
  bool WaitFor(size_t n, SteadyClock::duration timeout = kWait) const {
    std::unique_lock<std::mutex> lock(state_->mu);
    return state_->cv.wait_for(lock, timeout, [&] { return state_->completions.size() >= n; });
  }
  std::vector<Completion> completions() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->completions;
  }
  size_t size() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->completions.size();
  }
  // The completion tagged `tag` (a default one, and a test failure, if there is none).
  Completion Get(int tag) const {
    for (const Completion& c : completions()) {
      if (c.tag == tag) return c;
    }
    ADD_FAILURE() << "no completion tagged " << tag;
    return Completion{};
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Completion> completions;
  };
  std::shared_ptr<State> state_;
  EventLoop* const loop_;
};

// Sends `request` on `transport` and waits (kWait) for its one completion, recorded as seen from
// `loop`; a default Completion, and a test failure, if none came.
inline Completion SendAndWait(HttpTransport* transport, EventLoop* loop, HttpRequest request) {
  Recorder recorder(loop);
  transport->Send(std::move(request), recorder.Callback());
  EXPECT_TRUE(recorder.WaitFor(1));
  auto completions = recorder.completions();
  return completions.empty() ? Completion{} : completions.front();
}

}  // namespace dubbo::registry::nacos::testing

#endif  // DUBBO_TESTS_NACOS_CLIENT_TRANSPORT_TEST_UTIL_H_
