// HttpServer's connection handling over loopback sockets: the request-head deadline, the minimum
// body rate (both framings), the minimum rate at which a peer reads its answers, large answers
// queued by reference, the idle keep-alive close, the eviction order when the table is full, the
// per-peer cap, descriptor shortage, and the counters of each. The server runs on its own
// event_base thread; every test waits for the server's answer or close (a blocking recv,
// SO_RCVTIMEO only as a hang guard) or for a counter, and never bounds elapsed time. A legitimate
// exchange is always one send of the whole request, and never has to beat a short deadline: the
// short deadlines only end the attacks.
#include "http_server.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "metrics_text.h"
#include "peer_key.h"
#include "testing/http_client.h"

namespace dubbo::naming_server {
namespace {

using registry::testing::SendAll;

// Only a broken server makes a test wait this long, however loaded the machine.
constexpr int kHangGuardSeconds = 30;

// The body of /big: larger than any socket buffer of loopback (tcp_wmem's 4 MiB cap on the
// server's side, a few KiB on a client that sets a small SO_RCVBUF), so a peer that does not read
// leaves most of it queued in the server.
constexpr size_t kBigBody = 16 << 20;

const std::shared_ptr<const std::string>& BigBody() {
  static const auto* body =
      new std::shared_ptr<const std::string>(std::make_shared<std::string>([] {
        std::string b(kBigBody, 'x');
        for (size_t i = 0; i < b.size(); i += 4096) b[i] = static_cast<char>('a' + i / 4096 % 26);
        return b;
      }()));
  return *body;
}

// An HttpServer on its own loop thread. /big answers BigBody() (shared), /copied a 1 MiB body of
// its own; every other request is answered 200 with "ok:<params>".
class TestServer {
 public:
  explicit TestServer(HttpServerOptions options) {
    static std::once_flag once;
    std::call_once(once, [] { evthread_use_pthreads(); });
    base_ = event_base_new();
    options.metrics = &metrics;
    const registry::Status started = http_.Start(base_, options, [](const HttpRequest& r) {
      if (r.path == "/big") return HttpResponse::SharedJson(BigBody());
      if (r.path == "/copied") return HttpResponse::Text(200, std::string(1 << 20, 'c'));
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

  // Holds the loop thread until `send` has run, so that what `send` puts on its sockets is there
  // when the server accepts them: a request that must arrive whole before a short deadline then
  // does not depend on how fast this thread runs.
  void WhilePaused(const std::function<void()>& send) {
    struct Hold {  // owned by the callback, which may still be in wait() when this returns
      std::promise<void> paused;
      std::shared_future<void> resumed;
    };
    std::promise<void> resume;
    auto* hold = new Hold{{}, resume.get_future().share()};
    std::future<void> paused = hold->paused.get_future();
    event_base_once(
        base_, -1, EV_TIMEOUT,
        [](evutil_socket_t, short, void* arg) {
          std::unique_ptr<Hold> h(static_cast<Hold*>(arg));
          h->paused.set_value();
          h->resumed.wait();
        },
        hold, nullptr);
    paused.wait();
    send();
    resume.set_value();
  }
  size_t connection_cap() const { return http_.connection_cap(); }
  uint64_t Rejected(RejectReason reason) const { return metrics.Rejected(reason); }

  // Blocks until `done` holds (polled; false after the hang guard). For what a client cannot see
  // on its socket: an accept before any answer, a close that the client does not read.
  static bool WaitUntil(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(kHangGuardSeconds);
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  }
  bool WaitForOpenConnections(uint64_t n) const {
    return WaitUntil([&] { return metrics.connections_open.load() == n; });
  }
  bool WaitForRejected(RejectReason reason, uint64_t n) const {
    return WaitUntil([&] { return metrics.Rejected(reason) == n; });
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

// A connected client socket; -1 on failure. `receive_buffer` > 0 sets SO_RCVBUF first (for a
// client that does not read: the server's output then stays queued in the server).
int Connect(uint16_t port, const char* source = "127.0.0.1", int receive_buffer = 0) {
  const int fd = Socket();
  if (fd >= 0 && receive_buffer > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
  }
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
  std::vector<char> buf(64 << 10);
  size_t end = std::string::npos;  // known once the head is complete
  while (true) {
    if (end == std::string::npos) {
      const size_t head_end = data.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        const size_t at = data.find("Content-Length: ");
        const size_t length =
            at == std::string::npos || at > head_end ? 0 : std::stoul(data.substr(at + 16, 20));
        end = head_end + 4 + length;
      }
    }
    if (end != std::string::npos && data.size() >= end) {
      if (carry != nullptr) *carry = data.substr(end);
      data.resize(end);
      return data;
    }
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n <= 0) return "";
    data.append(buf.data(), static_cast<size_t>(n));
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

// Deadlines for tests of an attack that only the deadline ends (the test waits for it).
HttpServerOptions ShortDeadlines() {
  HttpServerOptions options;
  options.head_timeout_ms = 1000;
  options.min_body_bytes_per_second = 1000;
  return options;
}

// Deadlines for tests where a legitimate client is served beside an attack (its whole request is
// on the socket when the server accepts it, see WhilePaused(); the room is a second guard).
HttpServerOptions RoomyDeadlines() {
  HttpServerOptions options;
  options.head_timeout_ms = 5000;
  options.min_body_bytes_per_second = 1000;
  return options;
}

// Reads one response to GET /big (or /copied) and checks its body byte for byte.
::testing::AssertionResult ReadsWhole(int fd, const std::string& expected, std::string* carry) {
  const std::string answer = ReadResponse(fd, carry);
  const size_t head_end = answer.find("\r\n\r\n");
  if (answer.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || head_end == std::string::npos) {
    return ::testing::AssertionFailure() << "not a 200: " << answer.substr(0, 200);
  }
  if (answer.compare(head_end + 4, std::string::npos, expected) != 0) {
    return ::testing::AssertionFailure() << "the body differs; " << answer.size() - head_end - 4
                                         << " bytes of " << expected.size();
  }
  return ::testing::AssertionSuccess();
}

TEST(HttpServerTest, AHeadTrickledByteByByteIsCutOffWhileOthersAreServed) {
  TestServer server(RoomyDeadlines());
  const int slow = Connect(server.port());
  ASSERT_GE(slow, 0);
  ASSERT_TRUE(SendAll(slow, "GET /ping HTTP/1.1\r\nX-Slow: "));
  // Far more bytes than 5 s allows at one per 50 ms: only the deadline can end this head.
  Trickle trickle(slow, std::string(1000, 'a'));

  int other = -1;
  server.WhilePaused([&] {
    other = Connect(server.port());
    SendAll(other, kLiveness);
  });
  ASSERT_GE(other, 0);
  EXPECT_EQ(ReadResponse(other).rfind("HTTP/1.1 200 OK\r\n", 0), 0u)
      << "a second client is served while the first trickles";

  EXPECT_TRUE(TimedOut(slow));
  trickle.Stop();
  EXPECT_EQ(server.Rejected(RejectReason::kHeadTimeout), 1u);
  ::close(slow);
  ::close(other);
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
  TestServer server(RoomyDeadlines());
  // Content-Length 1000, one byte every 50 ms (20 bytes/s): the body needs 50 s, and earns 1 ms
  // per byte at 1000 bytes/s, so it is cut off a little after the 5 s grace.
  int slow = -1;
  server.WhilePaused([&] {
    slow = Connect(server.port());
    SendAll(slow, "POST /ping HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
  });
  ASSERT_GE(slow, 0);
  Trickle trickle(slow, std::string(1000, 'a'));
  // The same request, body and all, in one send on another connection.
  int normal = -1;
  server.WhilePaused([&] {
    normal = Connect(server.port());
    SendAll(normal,
            "POST /ping HTTP/1.1\r\nContent-Length: 1000\r\n\r\nb=" + std::string(998, 'b'));
  });
  ASSERT_GE(normal, 0);
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

TEST(HttpServerTest, ADeclaredBodyThatNeverArrivesIsCutOffAfterTheGrace) {
  // 1 MB declared and nothing sent: the body earns no time, whatever it declares (at 1000
  // bytes/s the declared length alone would be worth 17 minutes).
  TestServer server(ShortDeadlines());
  int fd = -1;
  server.WhilePaused([&] {
    fd = Connect(server.port());
    SendAll(fd, "POST /ping HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n");
  });
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(TimedOut(fd));
  EXPECT_EQ(server.Rejected(RejectReason::kBodyTooSlow), 1u);
  ::close(fd);
}

TEST(HttpServerTest, AChunkedBodyBelowTheMinimumRateIsCutOff) {
  TestServer server(ShortDeadlines());
  int slow = -1;
  server.WhilePaused([&] {
    slow = Connect(server.port());
    SendAll(slow, "POST /ping HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  });
  ASSERT_GE(slow, 0);
  // One-byte chunks (6 bytes with their framing), trickled at 20 bytes/s: below 1000.
  std::string chunks;
  for (int i = 0; i < 1000; ++i) chunks += "1\r\na\r\n";
  Trickle trickle(slow, chunks);
  EXPECT_TRUE(TimedOut(slow));
  trickle.Stop();
  EXPECT_EQ(server.Rejected(RejectReason::kBodyTooSlow), 1u);
  ::close(slow);
}

TEST(HttpServerTest, LargeAnswersArriveWholeAndInOrderBetweenSmallOnes) {
  TestServer server(HttpServerOptions{});
  const int fd = Connect(server.port());
  ASSERT_GE(fd, 0);
  // Pipelined: a shared body, a small answer, a body of the answer's own, a HEAD of the shared
  // one (no body sent), and a small answer.
  ASSERT_TRUE(SendAll(fd,
                      "GET /big HTTP/1.1\r\n\r\nGET /ping?a=1 HTTP/1.1\r\n\r\n"
                      "GET /copied HTTP/1.1\r\n\r\nHEAD /big HTTP/1.1\r\n\r\n"
                      "GET /ping?b=2 HTTP/1.1\r\n\r\n"));
  std::string carry;
  EXPECT_TRUE(ReadsWhole(fd, *BigBody(), &carry));
  EXPECT_NE(ReadResponse(fd, &carry).find("ok:a=1"), std::string::npos);
  EXPECT_TRUE(ReadsWhole(fd, std::string(1 << 20, 'c'), &carry));
  // HEAD: the length of the body, and no body (ReadResponse would wait for 16 MiB otherwise; the
  // next answer follows at once).
  while (carry.find("\r\n\r\n") == std::string::npos) {
    char buf[256];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    carry.append(buf, static_cast<size_t>(n));
  }
  const size_t end = carry.find("\r\n\r\n") + 4;
  const std::string head = carry.substr(0, end);
  carry.erase(0, end);
  EXPECT_NE(head.find("Content-Length: " + std::to_string(kBigBody)), std::string::npos) << head;
  EXPECT_NE(ReadResponse(fd, &carry).find("ok:b=2"), std::string::npos);
  // The server publishes the gauge after its last send(): the client may read first.
  EXPECT_TRUE(
      TestServer::WaitUntil([&] { return server.metrics.output_buffered_bytes.load() == 0; }));
  ::close(fd);
}

TEST(HttpServerTest, AWriteEventAnswersNoFurtherPipelinedRequestWhileOutputIsQueued) {
  HttpServerOptions options;
  options.head_timeout_ms = 600000;  // the reading grace outlasts the test
  TestServer server(options);
  // A small receive buffer: the 16 MiB answer stays mostly queued in the server, written a little
  // at each write event as the client reads.
  const int fd = Connect(server.port(), "127.0.0.1", 4096);
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd,
                      "GET /big HTTP/1.1\r\n\r\nGET /copied HTTP/1.1\r\n\r\n"
                      "GET /copied HTTP/1.1\r\n\r\nGET /ping?a=1 HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(
      TestServer::WaitUntil([&] { return server.metrics.output_buffered_bytes.load() > 0; }));
  const uint64_t stalled = server.metrics.output_buffered_bytes.load();
  // Read a little, until the server has handled a write event (it publishes the gauge after
  // each): the queued answer is more than the socket can take in one, so it is not all written.
  std::string carry;
  std::vector<char> buf(64 << 10);
  while (server.metrics.output_buffered_bytes.load() == stalled) {
    ASSERT_LT(carry.size(), kBigBody) << "the first answer was read without a write event";
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    ASSERT_GT(n, 0);
    carry.append(buf.data(), static_cast<size_t>(n));
  }
  EXPECT_GT(server.metrics.output_buffered_bytes.load(), 0u);
  EXPECT_EQ(server.metrics.requests.load(), 1u) << "answered while the first answer is queued";
  // Once the client reads the rest, every request is answered, in order.
  EXPECT_TRUE(ReadsWhole(fd, *BigBody(), &carry));
  EXPECT_TRUE(ReadsWhole(fd, std::string(1 << 20, 'c'), &carry));
  EXPECT_TRUE(ReadsWhole(fd, std::string(1 << 20, 'c'), &carry));
  EXPECT_NE(ReadResponse(fd, &carry).find("ok:a=1"), std::string::npos);
  EXPECT_EQ(server.metrics.requests.load(), 4u);
  EXPECT_TRUE(
      TestServer::WaitUntil([&] { return server.metrics.output_buffered_bytes.load() == 0; }));
  ::close(fd);
}

TEST(HttpServerTest, APeerThatDoesNotReadItsAnswerIsClosedAfterTheGrace) {
  HttpServerOptions options = ShortDeadlines();
  options.idle_timeout_ms = 600000;  // only the reading rate can end this connection
  TestServer server(options);
  int hog = -1;
  server.WhilePaused([&] {
    hog = Connect(server.port(), "127.0.0.1", 4096);
    SendAll(hog, "GET /big HTTP/1.1\r\n\r\n");
  });
  ASSERT_GE(hog, 0);
  // The answer stays queued until the grace passes without the peer reading. (That it is counted
  // meanwhile is checked where the grace outlasts the test: this one is too short to observe.)
  ASSERT_TRUE(server.WaitForRejected(RejectReason::kSlowReader, 1));
  ASSERT_TRUE(server.WaitForOpenConnections(0));
  EXPECT_EQ(server.metrics.output_buffered_bytes.load(), 0u);
  EXPECT_EQ(server.Rejected(RejectReason::kIdleTimeout), 0u);
  ::close(hog);

  const std::string text = RenderPrometheus({}, {}, server.metrics, {});
  EXPECT_NE(text.find("\nnaming_server_output_buffered_bytes 0\n"), std::string::npos);
  EXPECT_NE(text.find("naming_server_rejects_total{reason=\"slow_reader\"} 1\n"),
            std::string::npos);
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

// True when the server has closed `fd` (EOF or reset waiting), without waiting.
bool ClosedNow(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  char b;
  return ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

TEST(HttpServerTest, AFullTableEvictsLingeringThenNeverServedThenTheLongestIdle) {
  HttpServerOptions options;
  options.max_connections = 6;
  options.head_timeout_ms = 600000;  // the half heads stay for the test's whole length
  TestServer server(options);
  ASSERT_EQ(server.connection_cap(), 6u);
  // Three served idle connections (answered in this order), then two with half a first head,
  // then one lingering after a 400 (its peer neither reads nor closes).
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(ConnectAndAsk(server.port()));
    ASSERT_GE(idle.back(), 0);
  }
  std::vector<int> half;
  for (int i = 0; i < 2; ++i) {
    half.push_back(Connect(server.port()));
    ASSERT_GE(half.back(), 0);
    ASSERT_TRUE(SendAll(half.back(), "GET /ping HTTP/1.1\r\nX-Slow: a"));
  }
  const int lingering = Connect(server.port());
  ASSERT_GE(lingering, 0);
  ASSERT_TRUE(SendAll(lingering, "NOT HTTP\r\n\r\n"));
  ASSERT_TRUE(server.WaitForRejected(RejectReason::kMalformedRequest, 1));
  ASSERT_TRUE(server.WaitForOpenConnections(6));

  // The lingering one goes first (closing anyway: not counted as evicted) ...
  std::vector<int> newcomers;
  newcomers.push_back(ConnectAndAsk(server.port()));
  EXPECT_GE(newcomers.back(), 0);
  EXPECT_TRUE(WaitForClose(lingering).closed);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 0u);
  // ... then the never-served half heads, oldest first, though the idle ones are older ...
  for (int i = 0; i < 2; ++i) {
    newcomers.push_back(ConnectAndAsk(server.port()));
    EXPECT_GE(newcomers.back(), 0);
    const Closed evicted = WaitForClose(half[static_cast<size_t>(i)]);
    EXPECT_TRUE(evicted.closed);
    EXPECT_EQ(evicted.data, "");
    EXPECT_EQ(server.Rejected(RejectReason::kEvicted), static_cast<uint64_t>(i + 1));
    if (i == 0) {
      EXPECT_FALSE(ClosedNow(half[1])) << "the newer half head is still open";
    }
  }
  // ... then the served ones by their last request: idle[0] asks again, so idle[1] goes next.
  EXPECT_TRUE(Ask(idle[0]));
  newcomers.push_back(ConnectAndAsk(server.port()));
  EXPECT_GE(newcomers.back(), 0);
  EXPECT_TRUE(WaitForClose(idle[1]).closed);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 3u);
  EXPECT_TRUE(Ask(idle[0]));
  EXPECT_TRUE(Ask(idle[2]));
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 0u);
  for (int fd : idle) ::close(fd);
  for (int fd : half) ::close(fd);
  ::close(lingering);
  for (int fd : newcomers) ::close(fd);
}

TEST(HttpServerTest, ATableOfConnectionsMidBodyStillServesANewcomer) {
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
  // One of them, the furthest behind its rate, makes room.
  const int newcomer = ConnectAndAsk(server.port());
  EXPECT_GE(newcomer, 0);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 0u);
  // The three others finish normally.
  int finished = 0;
  for (int fd : held) {
    if (SendAll(fd, "c=d") && ReadResponse(fd).find("ok:c=d") != std::string::npos) ++finished;
  }
  EXPECT_EQ(finished, 3);
  for (int fd : held) ::close(fd);
  if (newcomer >= 0) ::close(newcomer);
}

TEST(HttpServerTest, AConnectionWritingToAPeerThatDoesNotReadCanBeEvicted) {
  HttpServerOptions options;
  options.max_connections = 1;
  options.head_timeout_ms = 600000;  // the reading grace outlasts the test
  TestServer server(options);
  const int hog = Connect(server.port(), "127.0.0.1", 4096);
  ASSERT_GE(hog, 0);
  ASSERT_TRUE(SendAll(hog, "GET /big HTTP/1.1\r\n\r\n"));
  ASSERT_TRUE(
      TestServer::WaitUntil([&] { return server.metrics.output_buffered_bytes.load() > 0; }));

  const int newcomer = ConnectAndAsk(server.port());
  EXPECT_GE(newcomer, 0);
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 1u);
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 0u);
  EXPECT_EQ(server.metrics.output_buffered_bytes.load(), 0u) << "the evicted queue is released";
  ::close(hog);
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

TEST(HttpServerTest, GrpcConnectionsCountAgainstTheConnectionCap) {
  HttpServerOptions options;
  options.max_connections = 2;
  TestServer server(options);
  server.metrics.grpc_connections_open = 2;  // the gRPC transport holds the whole cap
  const int refused = Connect(server.port());
  ASSERT_GE(refused, 0);
  const Closed closed = WaitForClose(refused);
  EXPECT_TRUE(closed.closed);
  EXPECT_EQ(closed.data, "");
  EXPECT_EQ(server.Rejected(RejectReason::kConnectionCap), 1u);
  ::close(refused);
  server.metrics.grpc_connections_open = 1;
  const int served = ConnectAndAsk(server.port());
  EXPECT_GE(served, 0);
  if (served >= 0) ::close(served);
}

TEST(HttpServerTest, OutOfDescriptorsEvictsOneIdleConnectionForTheNewcomer) {
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
  EXPECT_TRUE(served[3]) << "the fourth connection is served once an idle one made room";
  EXPECT_TRUE(oldest.closed);
  EXPECT_EQ(oldest.data, "");
  EXPECT_EQ(server.Rejected(RejectReason::kEvicted), 1u);
  EXPECT_TRUE(Ask(clients[1])) << "only as many connections as needed are evicted";
  EXPECT_TRUE(Ask(clients[2]));
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

TEST(PeerKeyTest, IPv6CountsPerSlash64AndIPv4AndMappedIPv4AsTheAddress) {
  EXPECT_EQ(PeerKey::OfText("2001:DB8:0:7:1:2:3:4"), PeerKey::OfText("2001:db8:0:7::"));
  EXPECT_EQ(PeerKey::OfText("2001:db8:0:7:ffff:ffff:ffff:ffff"), PeerKey::OfText("2001:db8:0:7::"));
  EXPECT_NE(PeerKey::OfText("2001:db8:0:8::1"), PeerKey::OfText("2001:db8:0:7::1"));
  EXPECT_EQ(PeerKey::OfText("::ffff:10.1.2.3"), PeerKey::OfText("10.1.2.3"));
  EXPECT_NE(PeerKey::OfText("10.1.2.3"), PeerKey::OfText("10.1.2.4"));
  // ::a.b.c.d (not mapped) and ::1 are IPv6 (the ::/64), not the IPv4 address.
  EXPECT_NE(PeerKey::OfText("::10.1.2.3"), PeerKey::OfText("10.1.2.3"));
  EXPECT_EQ(PeerKey::OfText("::10.1.2.3"), PeerKey::OfText("::1"));
  EXPECT_EQ(PeerKey::OfText("not:an:address"), PeerKey::Unparsed());
  EXPECT_EQ(PeerKey::OfText(""), PeerKey::Unparsed());
  EXPECT_NE(PeerKey::OfText("::"), PeerKey::Unparsed());

  // From a socket address, the same keys.
  sockaddr_storage addr{};
  socklen_t len = 0;
  ASSERT_TRUE(MakeSockaddr("2001:db8:0:7:9:9:9:9", 80, &addr, &len));
  EXPECT_EQ(PeerKey::Of(addr), PeerKey::OfText("2001:db8:0:7::"));
  ASSERT_TRUE(MakeSockaddr("::ffff:192.0.2.1", 80, &addr, &len));
  EXPECT_EQ(PeerKey::Of(addr), PeerKey::OfText("192.0.2.1"));
  ASSERT_TRUE(MakeSockaddr("192.0.2.1", 80, &addr, &len));
  EXPECT_EQ(PeerKey::Of(addr), PeerKey::OfText("192.0.2.1"));
  EXPECT_EQ(PeerKeyHash()(PeerKey::Of(addr)), PeerKeyHash()(PeerKey::OfText("::ffff:192.0.2.1")));
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
  EXPECT_TRUE(refused([](NamingServerOptions* o) { o->max_output_bytes = 0; }));
  NamingServerOptions options;
  options.port = 0;
  options.max_connections = 7;
  auto server = NamingServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->connection_cap(), 7u);
}

}  // namespace
}  // namespace dubbo::naming_server
