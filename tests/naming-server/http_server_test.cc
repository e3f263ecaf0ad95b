// HttpServer's connection handling over loopback sockets: the request-head deadline, the minimum
// body rate, the idle keep-alive close, eviction of the oldest connection waiting for input when
// the table is full, refusal when nothing can be evicted, the per-peer cap, and the counters of
// each. The server runs on its own event_base thread; every test waits for the server's answer or
// close (a blocking recv, SO_RCVTIMEO only as a hang guard) and never bounds elapsed time.
#include "http_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "testing/http_client.h"

namespace dubbo::naming_server {
namespace {

using registry::testing::SendAll;

// Only a broken server makes a test wait this long, however loaded the machine.
constexpr int kHangGuardSeconds = 30;

// An HttpServer on its own loop thread; every request is answered 200 with "ok:<body>".
class TestServer {
 public:
  explicit TestServer(HttpServerOptions options) {
    static std::once_flag once;
    std::call_once(once, [] { evthread_use_pthreads(); });
    base_ = event_base_new();
    options.metrics = &metrics;
    const registry::Status started = http_.Start(base_, options, [](const HttpRequest& r) {
      std::string body = "ok:";
      for (const auto& [name, value] : r.params) body += name + "=" + value;
      return HttpResponse::Text(200, body);
    });
    EXPECT_TRUE(started.ok()) << started;
    stop_ = event_new(
        base_, -1, 0,
        [](evutil_socket_t, short, void* base) {
          event_base_loopbreak(static_cast<event_base*>(base));
        },
        base_);
    loop_ = std::thread([this] { event_base_dispatch(base_); });
  }
  ~TestServer() {
    event_active(stop_, EV_READ, 0);
    loop_.join();
    http_.Stop();
    event_free(stop_);
    event_base_free(base_);
  }

  uint16_t port() const { return http_.port(); }
  size_t connection_cap() const { return http_.connection_cap(); }
  uint64_t Rejected(RejectReason reason) const { return metrics.Rejected(reason); }

  // Blocks until `n` connections are open (the server's accept is not otherwise observable for a
  // connection that has not been answered yet).
  bool WaitForOpenConnections(uint64_t n) const {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(kHangGuardSeconds);
    while (metrics.connections_open.load() != n) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }

  ServerMetrics metrics;

 private:
  event_base* base_ = nullptr;
  HttpServer http_;
  event* stop_ = nullptr;
  std::thread loop_;
};

// A blocking client socket; receives give up after the hang guard.
int Socket() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const timeval guard{kHangGuardSeconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof(guard));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &guard, sizeof(guard));
  return fd;
}

// Connects `fd` from `source` (any 127.0.0.0/8 address routes over lo) to 127.0.0.1:port.
bool ConnectFrom(int fd, uint16_t port, const char* source) {
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) == 0 &&
         ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) == 0;
}

// A connected client socket; -1 on failure.
int Connect(uint16_t port, const char* source = "127.0.0.1") {
  const int fd = Socket();
  if (fd >= 0 && !ConnectFrom(fd, port, source)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one response (head and Content-Length body); "" when the connection closed (or the hang
// guard passed) first. Bytes read past it are kept in `*carry` for the next call.
std::string ReadResponse(int fd, std::string* carry = nullptr) {
  std::string data = carry != nullptr ? std::move(*carry) : std::string();
  char buf[4096];
  while (true) {
    const size_t head_end = data.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t at = data.find("Content-Length: ");
      const size_t length = at == std::string::npos ? 0 : std::stoul(data.substr(at + 16));
      const size_t end = head_end + 4 + length;
      if (data.size() >= end) {
        if (carry != nullptr) *carry = data.substr(end);
        data.resize(end);
        return data;
      }
    }
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return "";
    data.append(buf, static_cast<size_t>(n));
  }
}

struct Closed {
  bool closed = false;  // EOF or reset; false: the hang guard passed
  std::string data;     // what arrived before
};

// Reads until the server closes the connection.
Closed WaitForClose(int fd) {
  Closed result;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n > 0) {
      result.data.append(buf, static_cast<size_t>(n));
      continue;
    }
    result.closed = n == 0 || errno == ECONNRESET;
    return result;
  }
}

// The server answered 408 with `Connection: close`, then closed.
::testing::AssertionResult TimedOut(int fd) {
  const Closed closed = WaitForClose(fd);
  if (!closed.closed) return ::testing::AssertionFailure() << "not closed; got: " << closed.data;
  if (closed.data.rfind("HTTP/1.1 408 Request Timeout\r\n", 0) != 0 ||
      closed.data.find("Connection: close\r\n") == std::string::npos) {
    return ::testing::AssertionFailure() << "not a 408: " << closed.data;
  }
  return ::testing::AssertionSuccess();
}

const char kLiveness[] = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";

// One request on `fd`; true when it was answered 200.
bool Ask(int fd) {
  return SendAll(fd, kLiveness) && ReadResponse(fd).rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
}

// One request on a new connection from `source`, answered and kept open; -1 on failure.
int ConnectAndAsk(uint16_t port, const char* source = "127.0.0.1") {
  const int fd = Connect(port, source);
  if (fd >= 0 && !Ask(fd)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends `bytes` one at a time, one every 50 ms, from a thread, until Stop().
class Trickle {
 public:
  Trickle(int fd, std::string bytes)
      : thread_([this, fd, bytes] {
          for (char b : bytes) {
            if (stop_.load() || ::send(fd, &b, 1, MSG_NOSIGNAL) != 1) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
        }) {}
  ~Trickle() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

HttpServerOptions ShortDeadlines() {
  HttpServerOptions options;
  options.head_timeout_ms = 1000;
  options.min_body_bytes_per_second = 1000;
  return options;
}

TEST(HttpServerTest, AHeadTrickledByteByByteIsCutOffWhileOthersAreServed) {
  TestServer server(ShortDeadlines());
  const int slow = Connect(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "GET /ping HTTP/1.1\r\nX-Slow: "));
  // Far more bytes than 1 s allows at one per 50 ms: only the deadline can end this head.
  Trickle trickle(slow, std::string(1000, 'a'));

  const int other = ConnectAndAsk(server.port());
  EXPECT_GE(other, 0) << "a second client is served while the first trickles";

  EXPECT_TRUE(TimedOut(slow));
  trickle.Stop();
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTimeout), 1u);
  ::close(slow);
  if (other >= 0) ::close(other);
}

TEST(HttpServerTest, AConnectionThatNeverSendsAByteIsCutOffAfterTheHeadTimeout) {
  TestServer server(ShortDeadlines());
  const int silent = Connect(server.port());
  ASSERT_GE(silent, 0);
  EXPECT_TRUE(TimedOut(silent));
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTimeout), 1u);
  ::close(silent);
}

TEST(HttpServerTest, ABodyBelowTheMinimumRateIsCutOffAndANormalOneIsServed) {
  TestServer server(ShortDeadlines());
  // Content-Length 100 at 1000 bytes/s: complete 1000 + 100 ms after the head, or 408. One byte
  // every 50 ms needs 5 s.
  const int slow = Connect(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "POST /ping HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
  Trickle trickle(slow, std::string(100, 'a'));
  // The same body sent at once on another connection.
  const int normal = Connect(server.port());
  ASSERT_GE(normal, 0);
  ASSERT_TRUE(SendAll(normal, "POST /ping HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
  ASSERT_TRUE(SendAll(normal, "b=" + std::string(98, 'b')));
  const std::string answer = ReadResponse(normal);
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_NE(answer.find("ok:b=bbb"), std::string::npos) << answer;

  EXPECT_TRUE(TimedOut(slow));
  trickle.Stop();
  EXPECT_EQ(server.Rejected(RejectReason::kBodyTooSlow), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTimeout), 0u);
  ::close(slow);
  ::close(normal);
}

TEST(HttpServerTest, AChunkedBodyBelowTheMinimumRateIsCutOff) {
  TestServer server(ShortDeadlines());
  const int slow = Connect(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
  // One-byte chunks (6 bytes with their framing), trickled at 20 bytes/s: below 1000.
  std::string chunks;
  for (int i = 0; i < 1000; ++i) chunks += "1\r\na\r\n";
  Trickle trickle(slow, chunks);
  EXPECT_TRUE(TimedOut(slow));
  trickle.Stop();
  EXPECT_EQ(server.Rejected(RejectReason::kBodyTooSlow), 1u);
  ::close(slow);
}

TEST(HttpServerTest, AnIdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  HttpServerOptions options;
  options.idle_timeout_ms = 300;
  TestServer server(options);
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  // Two pipelined requests, both answered on the kept connection.
  ASSERT_TRUE(SendAll(fd, std::string(kLiveness) + kLiveness));
  std::string carry;
  const std::string first = ReadResponse(fd, &carry);
  EXPECT_EQ(first.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(first.find("Connection: close"), std::string::npos);
  EXPECT_EQ(ReadResponse(fd, &carry).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  const Closed closed = WaitForClose(fd);
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "") << "an idle close sends nothing";
  EXPECT_EQ(server.Rejected(RejectReason::kIdleTimeout), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTimeout), 0u);
  EXPECT_EQ(server.metrics.requests.load(), 2u);
  ::close(fd);
}

TEST(HttpServerTest, AFullTableEvictsTheConnectionThatWaitedLongestForInput) {
  HttpServerOptions options;
  options.max_connections = 8;
  options.head_timeout_ms = 600000;  // the half heads stay for the test's whole length
  TestServer server(options);
  ASSERT_EQ(server.connection_cap(), 8u);
  std::vector<int> held;
  // Four idle keep-alive connections (answered, in this order), then four with half a head.
  for (int i = 0; i < 4; ++i) {
    held.push_back(ConnectAndAsk(server.port()));
    ASSERT_GE(held.back(), 0);
  }
  for (int i = 0; i < 4; ++i) {
    held.push_back(Connect(server.port()));
    ASSERT_GE(held.back(), 0);
    ASSERT_TRUE(SendAll(held.back(), "GET /ping HTTP/1.1\r\nX-Slow: a"));
  }
  ASSERT_TRUE(server.WaitForOpenConnections(8));

  // A newcomer is served; the oldest idle connection made room for it.
  const int newcomer = ConnectAndAsk(server.port());
  EXPECT_GE(newcomer, 0);
  const Closed evicted = WaitForClose(held[0]);
  EXPECT_TRUE(evicted.closed);
  EXPECT_EQ(evicted.data, "");
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 1u);
  // The next oldest is the second idle connection, not a newer one: it still answers.
  ASSERT_TRUE(SendAll(held[2], kLiveness));
  EXPECT_EQ(ReadResponse(held[2]).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  // ... and a second newcomer evicts held[1], which has now waited longest.
  const int second = ConnectAndAsk(server.port());
  EXPECT_GE(second, 0);
  EXPECT_TRUE(WaitForClose(held[1]).closed);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 2u);
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 0u);
  for (int fd : held) ::close(fd);
  if (newcomer >= 0) ::close(newcomer);
  if (second >= 0) ::close(second);
}

TEST(HttpServerTest, ATableOfConnectionsMidBodyRefusesANewcomerUntilOneWaitsForInput) {
  HttpServerOptions options;
  options.max_connections = 4;
  options.head_timeout_ms = 600000;  // the bodies stay pending for the test's whole length
  TestServer server(options);
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(Connect(server.port()));
    ASSERT_GE(held.back(), 0);
    // The interim 100 shows the head is complete: the connection now waits for its body.
    ASSERT_TRUE(SendAll(
        held.back(), "POST /ping HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"));
    ASSERT_EQ(ReadResponse(held.back()).rfind("HTTP/1.1 100 Continue\r\n", 0), 0u);
  }
  const int refused = Connect(server.port());
  ASSERT_GE(refused, 0);  // the kernel completes the handshake; the server closes at once
  const Closed closed = WaitForClose(refused);
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 0u);
  ::close(refused);

  // One body completes: that connection waits for input again and is the one evicted next.
  ASSERT_TRUE(SendAll(held[3], "a=b"));
  EXPECT_NE(ReadResponse(held[3]).find("ok:a=b"), std::string::npos);
  const int newcomer = ConnectAndAsk(server.port());
  EXPECT_GE(newcomer, 0);
  EXPECT_TRUE(WaitForClose(held[3]).closed);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 1u);
  // The others are still mid-body: they finish normally.
  ASSERT_TRUE(SendAll(held[0], "c=d"));
  EXPECT_NE(ReadResponse(held[0]).find("ok:c=d"), std::string::npos);
  for (int fd : held) ::close(fd);
  if (newcomer >= 0) ::close(newcomer);
}

TEST(HttpServerTest, APeerAtItsCapHasItsNextConnectionClosedWhileOthersAreServed) {
  HttpServerOptions options;
  options.max_connections_per_peer = 3;
  TestServer server(options);
  std::vector<int> hog;
  for (int i = 0; i < 3; ++i) {
    hog.push_back(ConnectAndAsk(server.port(), "127.0.0.2"));
    ASSERT_GE(hog.back(), 0);
  }
  const int over = Connect(server.port(), "127.0.0.2");
  ASSERT_GE(over, 0);
  const Closed closed = WaitForClose(over);
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
  EXPECT_EQ(server.Rejected(RejectReason::kPeerConnectionCap), 1u);
  ::close(over);

  const int other = ConnectAndAsk(server.port(), "127.0.0.1");
  EXPECT_GE(other, 0) << "another address is served";
  // The hog's connections are untouched.
  ASSERT_TRUE(SendAll(hog[0], kLiveness));
  EXPECT_EQ(ReadResponse(hog[0]).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 0u);
  for (int fd : hog) ::close(fd);
  if (other >= 0) ::close(other);
}

TEST(HttpServerTest, OutOfDescriptorsEvictsTheOldestIdleConnectionsAndServesTheNewcomer) {
  TestServer server(HttpServerOptions{});
  // The client sockets exist before the limit is lowered: only the server's accepts need new
  // descriptors then.
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(Socket());
    ASSERT_GE(clients.back(), 0);
  }
  const int lowest_free = ::dup(clients[0]);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free) + 3;  // room for three accepted connections
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  bool served[4] = {false, false, false, false};
  for (int i = 0; i < 4; ++i) {
    served[i] = ConnectFrom(clients[i], server.port(), "127.0.0.1") && Ask(clients[i]);
  }
  const Closed oldest = WaitForClose(clients[0]);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_TRUE(served[0] && served[1] && served[2]);
  EXPECT_TRUE(served[3]) << "the fourth connection is served once idle ones made room";
  EXPECT_TRUE(oldest.closed);
  EXPECT_EQ(oldest.data, "");
  EXPECT_GE(server.Rejected(RejectReason::kEvicted), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 0u);
  for (int fd : clients) ::close(fd);
}

TEST(HttpServerTest, CountsMalformedAndOversizedRequests) {
  HttpServerOptions options;
  options.limits.max_header_bytes = 1024;
  options.limits.max_body_bytes = 1024;
  TestServer server(options);
  using registry::testing::RawExchange;
  EXPECT_EQ(RawExchange(server.port(), "NOT HTTP\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0u);
  EXPECT_EQ(RawExchange(server.port(), "OPTIONS / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 501 ", 0), 0u);
  EXPECT_EQ(
      RawExchange(server.port(), "GET / HTTP/1.1\r\nX: " + std::string(2000, 'x') + "\r\n\r\n")
          .rfind("HTTP/1.1 431 ", 0),
      0u);
  EXPECT_EQ(RawExchange(server.port(), "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n")
                .rfind("HTTP/1.1 413 ", 0),
            0u);
  EXPECT_EQ(server.Rejected(RejectReason::kMalformedRequest), 2u);
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTooLarge), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kBodyTooLarge), 1u);
  EXPECT_EQ(server.metrics.connections_accepted.load(), 4u);
  EXPECT_EQ(server.metrics.requests.load(), 1u);  // the OPTIONS request, answered 501
}

TEST(HttpServerTest, TheConnectionCapIsLoweredToTheDescriptorLimit) {
  rlimit files{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &files), 0);
  HttpServerOptions options;
  options.max_connections = size_t{1} << 40;
  TestServer server(options);
  if (files.rlim_cur == RLIM_INFINITY) {
    EXPECT_EQ(server.connection_cap(), options.max_connections);
  } else {
    EXPECT_LT(server.connection_cap(), static_cast<size_t>(files.rlim_cur));
    EXPECT_GT(server.connection_cap(), 0u);
  }
}

TEST(HttpServerTest, NamingServerRefusesNonsenseConnectionOptions) {
  const auto refused = [](void (*change)(NamingServerOptions*)) {
    NamingServerOptions options;
    options.port = 0;
    change(&options);
    return NamingServer::Start(options).status().code() == registry::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->request_head_timeout_ms = 0; }));
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->idle_timeout_ms = -1; }));
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->min_body_bytes_per_second = 0; }));
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->max_connections = 0; }));
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->max_connections_per_peer = -5; }));
  NamingServerOptions options;
  options.port = 0;
  options.max_connections = 7;
  auto server = NamingServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->connection_cap(), 7u);
}

}  // namespace
}  // namespace dubbo::naming_server
