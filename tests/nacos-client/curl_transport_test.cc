// Tests of CurlMultiTransport against an in-process NamingServer on port 0, plus a few raw sockets
// for what a well-behaved server cannot show: a refused connection, a server that accepts and never
// answers (timeouts, cancellation), and a scripted HTTP/1.1 peer (connection reuse, the request
// bytes, gzip, redirects, size limits). Only 127.0.0.1. Runs under TSan in CI.
#include "transport/http/curl_transport.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "event_loop.h"
#include "transport_test_util.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BoundSocket;
using testing::Completion;
using testing::kWait;
using testing::LocalPort;
using testing::MakeRequest;
using testing::Recorder;
using testing::RefusedPort;
using testing::SteadyClock;

// --- Sockets -------------------------------------------------------------------------------------

// Listens and never accepts or reads: the kernel completes the handshakes and the requests sit in
// the socket buffers unanswered.
class SilentServer {
 public:
  SilentServer() : fd_(BoundSocket(128)) {}
  ~SilentServer() { ::close(fd_); }
  uint16_t port() const { return LocalPort(fd_); }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/silent"; }

 private:
  int fd_;
};

// A scripted HTTP/1.1 server: keep-alive connections, one request at a time each. `handler` gets
// the request head (request line and headers) and returns the whole response.
class RawHttpServer {
 public:
  using Handler = std::function<std::string(const std::string& head)>;

  explicit RawHttpServer(Handler handler)
      : handler_(std::move(handler)), listen_fd_(BoundSocket(128)) {
    EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~RawHttpServer() {
    EXPECT_EQ(::write(wake_[1], "x", 1), 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }

  uint16_t port() const { return LocalPort(listen_fd_); }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port()) + path;
  }
  int connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return connections_;
  }
  std::vector<std::string> heads() const {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

  static std::string Response(int status, const std::string& body,
                              const std::string& extra_headers = "") {
    return testing::ResponseBytes(status, body, extra_headers);
  }

 private:
  void Run() {
    std::map<int, std::string> clients;  // fd -> unparsed input
    for (;;) {
      std::vector<pollfd> fds = {{wake_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      for (const auto& [fd, buffer] : clients) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) break;
      if (fds[1].revents != 0) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          clients[client];
          std::lock_guard<std::mutex> lock(mu_);
          ++connections_;
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
          ::close(fd);
          clients.erase(fd);
          continue;
        }
        std::string& input = clients[fd];
        input.append(buf, static_cast<size_t>(n));
        for (;;) {
          const size_t end = input.find("\r\n\r\n");
          if (end == std::string::npos) break;
          const std::string head = input.substr(0, end + 2);
          const size_t body_len = ContentLength(head);
          if (input.size() < end + 4 + body_len) break;
          input.erase(0, end + 4 + body_len);
          {
            std::lock_guard<std::mutex> lock(mu_);
            heads_.push_back(head);
          }
          const std::string response = handler_(head);
          ::send(fd, response.data(), response.size(), MSG_NOSIGNAL);
        }
      }
    }
    for (const auto& [fd, buffer] : clients) ::close(fd);
  }

  static size_t ContentLength(const std::string& head) {
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
  }

  Handler handler_;
  int listen_fd_;
  int wake_[2] = {-1, -1};
  std::thread thread_;
  mutable std::mutex mu_;
  int connections_ = 0;
  std::vector<std::string> heads_;
};

// The headers the naming client sends (as the Java 1.4 client does).
void AddNacosHeaders(HttpRequest* request) {
  request->headers = {{"Client-Version", "1.4.8"},
                      {"User-Agent", "Nacos-Java-Client:v1.4.8"},
                      {"Accept-Encoding", "gzip,deflate,sdch"},
                      {"Accept-Charset", "UTF-8"},
                      {"Connection", "Keep-Alive"},
                      {"RequestId", "3f1e2c4a-0000-4000-8000-000000000001"},
                      {"Request-Module", "Naming"},
                      {"Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"}};
}

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    naming_server::NamingServerOptions options;
    options.port = 0;
    auto server = naming_server::NamingServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_TRUE(loop_.Start().ok());
    transport_ = std::make_unique<CurlMultiTransport>(&loop_);
  }

  std::string NacosUrl(const std::string& path_and_query) const {
    return "http://127.0.0.1:" + std::to_string(server_->port()) + "/nacos" + path_and_query;
  }

  // Sends and waits for the one completion.
  Completion SendAndWait(HttpRequest request) {
    return testing::SendAndWait(transport_.get(), &loop_, std::move(request));
  }

  std::unique_ptr<naming_server::NamingServer> server_;
  EventLoop loop_{"test-http-loop"};
  Recorder recorder_{&loop_};
  std::unique_ptr<CurlMultiTransport> transport_;  // Declared last: destroyed first.
};

// --- Against the naming server -------------------------------------------------------------------

TEST_F(CurlTransportTest, GetMetricsReturns200OnTheLoopThread) {
  HttpRequest request = MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics"));
  AddNacosHeaders(&request);
  const Completion c = SendAndWait(std::move(request));
  EXPECT_TRUE(c.response.transport_error.ok()) << c.response.transport_error;
  EXPECT_EQ(c.response.status, 200);
  EXPECT_NE(c.response.body.find("\"status\":\"UP\""), std::string::npos) << c.response.body;
  EXPECT_TRUE(c.on_loop_thread);
}

TEST_F(CurlTransportTest, RegisterWithQueryParametersThenList) {
  HttpRequest reg = MakeRequest(
      "POST",
      NacosUrl("/v1/ns/instance?serviceName=demo&groupName=DEFAULT_GROUP&ip=10.0.0.5&port=8080"
               "&namespaceId=public&app=unknown&ephemeral=true"));
  AddNacosHeaders(&reg);
  const Completion registered = SendAndWait(std::move(reg));
  ASSERT_TRUE(registered.response.transport_error.ok()) << registered.response.transport_error;
  EXPECT_EQ(registered.response.status, 200);
  EXPECT_EQ(registered.response.body, "ok");

  HttpRequest list = MakeRequest(
      "GET", NacosUrl("/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&namespaceId=public"
                      "&healthyOnly=false&clusters="));
  AddNacosHeaders(&list);
  const Completion listed = SendAndWait(std::move(list));
  ASSERT_TRUE(listed.response.transport_error.ok()) << listed.response.transport_error;
  EXPECT_EQ(listed.response.status, 200);
  EXPECT_NE(listed.response.body.find("\"ip\":\"10.0.0.5\""), std::string::npos)
      << listed.response.body;
  EXPECT_NE(listed.response.body.find("\"port\":8080"), std::string::npos) << listed.response.body;
}

TEST_F(CurlTransportTest, PutAndDeleteWork) {
  const Completion reg = SendAndWait(
      MakeRequest("POST", NacosUrl("/v1/ns/instance?serviceName=svc&ip=10.0.0.9&port=1")));
  ASSERT_EQ(reg.response.status, 200) << reg.response.transport_error;
  const Completion beat = SendAndWait(
      MakeRequest("PUT", NacosUrl("/v1/ns/instance/beat?serviceName=svc&ip=10.0.0.9&port=1")));
  EXPECT_EQ(beat.response.status, 200) << beat.response.transport_error << beat.response.body;
  const Completion dereg = SendAndWait(
      MakeRequest("DELETE", NacosUrl("/v1/ns/instance?serviceName=svc&ip=10.0.0.9&port=1")));
  EXPECT_EQ(dereg.response.status, 200) << dereg.response.transport_error;
  EXPECT_EQ(dereg.response.body, "ok");
}

TEST_F(CurlTransportTest, ErrorStatusKeepsTheBody) {
  // No ip: Nacos answers 400 with a plain-text message.
  const Completion c =
      SendAndWait(MakeRequest("POST", NacosUrl("/v1/ns/instance?serviceName=demo&port=8080")));
  EXPECT_TRUE(c.response.transport_error.ok()) << c.response.transport_error;
  EXPECT_EQ(c.response.status, 400);
  EXPECT_EQ(c.response.body, "Param 'ip' is required.");
}

TEST_F(CurlTransportTest, FiftyConcurrentRequestsFromSeveralThreadsAllComplete) {
  constexpr int kThreads = 5;
  constexpr int kPerThread = 10;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        transport_->Send(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")),
                         recorder_.Callback(t * kPerThread + i));
      }
    });
  }
  for (auto& sender : senders) sender.join();
  ASSERT_TRUE(recorder_.WaitFor(kThreads * kPerThread));
  transport_.reset();  // Nothing may complete twice, even now.
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kThreads * kPerThread));
  std::vector<int> tags;
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.status, 200) << c.response.transport_error;
    EXPECT_TRUE(c.on_loop_thread);
    tags.push_back(c.tag);
  }
  std::sort(tags.begin(), tags.end());
  for (int i = 0; i < kThreads * kPerThread; ++i) EXPECT_EQ(tags[i], i);
}

TEST_F(CurlTransportTest, DoneMaySendTheNextRequest) {
  std::promise<HttpResponse> second;
  transport_->Send(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")),
                   [&](HttpResponse first) {
                     EXPECT_EQ(first.status, 200);
                     transport_->Send(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")),
                                      [&](HttpResponse r) { second.set_value(std::move(r)); });
                   });
  auto future = second.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(future.get().status, 200);
}

// --- Transport errors ----------------------------------------------------------------------------

TEST_F(CurlTransportTest, ConnectionRefusedIsUnavailableAndFast) {
  const uint16_t port = RefusedPort();
  const auto start = SteadyClock::now();
  const Completion c = SendAndWait(MakeRequest(
      "GET", "http://127.0.0.1:" + std::to_string(port) + "/nacos/v1/ns/operator/metrics"));
  EXPECT_LT(c.at - start, seconds(2));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
  EXPECT_TRUE(c.on_loop_thread);
}

TEST_F(CurlTransportTest, UnresolvableHostIsUnavailable) {
  // An empty label: glibc refuses the name without asking a DNS server (and ".invalid" never
  // resolves anyway, RFC 6761), so this is fast and needs no network.
  const Completion c = SendAndWait(MakeRequest("GET", "http://nacos..invalid:8848/nacos", 3000));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
}

TEST_F(CurlTransportTest, SubSecondTimeoutIsHonouredAgainstASilentServer) {
  SilentServer silent;
  HttpRequest request = MakeRequest("GET", silent.Url(), /*timeout_ms=*/300);
  const auto start = SteadyClock::now();
  const Completion c = SendAndWait(std::move(request));
  const auto elapsed = c.at - start;
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kDeadlineExceeded)
      << c.response.transport_error;
  // Checks that a sub-second timeout is applied at all (not rounded to seconds, not ignored); the
  // bounds are generous on purpose (sanitizers, loaded CI machines).
  EXPECT_GE(elapsed, milliseconds(250));
  EXPECT_LT(elapsed, seconds(2));
  EXPECT_TRUE(c.on_loop_thread);
}

TEST_F(CurlTransportTest, InvalidRequestsFailWithoutTouchingTheNetwork) {
  std::vector<HttpRequest> bad;
  bad.push_back(MakeRequest("GET", "ftp://127.0.0.1/x"));
  bad.push_back(MakeRequest("get", NacosUrl("/v1/ns/operator/metrics")));
  bad.push_back(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics?a=b c")));
  HttpRequest injected = MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics"));
  injected.headers = {{"X-Test", "a\r\nX-Injected: 1"}};
  bad.push_back(injected);
  HttpRequest bad_name = MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics"));
  bad_name.headers = {{"Bad Name", "x"}};
  bad.push_back(bad_name);
  for (HttpRequest& request : bad) {
    const std::string url = request.url;
    const Completion c = SendAndWait(std::move(request));
    EXPECT_EQ(c.response.status, 0) << url;
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kInvalidArgument)
        << url << ": " << c.response.transport_error;
  }
}

TEST_F(CurlTransportTest, ErrorMessagesCarryNoSecrets) {
  const uint16_t port = RefusedPort();
  const Completion c = SendAndWait(MakeRequest(
      "GET", "http://nacos:pw123@127.0.0.1:" + std::to_string(port) +
                 "/nacos/v1/ns/instance/list?serviceName=a&accessToken=tok456&password=pw789"));
  const std::string message = c.response.transport_error.ToString();
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable);
  EXPECT_NE(message.find("/nacos/v1/ns/instance/list"), std::string::npos) << message;
  EXPECT_EQ(message.find("tok456"), std::string::npos) << message;
  EXPECT_EQ(message.find("pw789"), std::string::npos) << message;
  EXPECT_EQ(message.find("pw123"), std::string::npos) << message;
}

// --- Cancellation --------------------------------------------------------------------------------

TEST_F(CurlTransportTest, CancelAllCompletesPendingRequestsBeforeReturning) {
  SilentServer silent;
  constexpr int kPending = 5;
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(), 10000), recorder_.Callback(i));
  }
  transport_->CancelAll();
  auto completions = recorder_.completions();  // No waiting: CancelAll() waited.
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending));
  for (int i = 0; i < kPending; ++i) {
    EXPECT_EQ(completions[i].tag, i);  // In send order.
    EXPECT_EQ(completions[i].response.status, 0);
    EXPECT_EQ(completions[i].response.transport_error.code(), StatusCode::kCancelled);
    EXPECT_TRUE(completions[i].on_loop_thread);
  }
  // Still usable afterwards.
  const Completion after = SendAndWait(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")));
  EXPECT_EQ(after.response.status, 200) << after.response.transport_error;
  EXPECT_EQ(recorder_.size(), static_cast<size_t>(kPending));
}

TEST_F(CurlTransportTest, DestroyingTheTransportCancelsRequestsInFlightPromptly) {
  SilentServer silent;
  constexpr int kPending = 5;
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(), 30000), recorder_.Callback(i));
  }
  // Make sure they are on the wire, not just queued.
  ASSERT_TRUE(loop_.RunInLoopAndWait([] {}));
  const auto start = SteadyClock::now();
  transport_.reset();
  EXPECT_LT(SteadyClock::now() - start, seconds(1));
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending));
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.response.transport_error;
    EXPECT_TRUE(c.on_loop_thread);
  }
}

TEST_F(CurlTransportTest, StoppingTheLoopCancelsRequestsInFlightPromptly) {
  SilentServer silent;
  constexpr int kPending = 5;
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(), 30000), recorder_.Callback(i));
  }
  ASSERT_TRUE(loop_.RunInLoopAndWait([] {}));
  const auto start = SteadyClock::now();
  loop_.Stop();
  EXPECT_LT(SteadyClock::now() - start, seconds(1));
  auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending));
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.response.transport_error;
    EXPECT_TRUE(c.on_loop_thread);  // The stop hook runs on the loop thread.
  }
  // After the stop, Send() completes at once, on the calling thread.
  transport_->Send(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")), recorder_.Callback(99));
  completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending + 1));
  EXPECT_EQ(completions.back().tag, 99);
  EXPECT_EQ(completions.back().response.transport_error.code(), StatusCode::kCancelled);
  EXPECT_FALSE(completions.back().on_loop_thread);
  transport_->CancelAll();  // A no-op now.
  transport_.reset();       // Nothing completes twice.
  EXPECT_EQ(recorder_.size(), static_cast<size_t>(kPending + 1));
}

TEST_F(CurlTransportTest, SendQueuedRightBeforeStopIsCancelled) {
  SilentServer silent;
  // Queued behind a blocker, so they are still in the loop's queue when Stop() is called.
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  loop_.RunInLoop([&] { release_future.wait(); });
  for (int i = 0; i < 3; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(), 30000), recorder_.Callback(i));
  }
  std::thread stopper([&] { loop_.Stop(); });
  while (loop_.RunInLoop([] {})) std::this_thread::sleep_for(milliseconds(1));
  release.set_value();
  stopper.join();
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), 3u);
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.response.transport_error;
  }
}

TEST_F(CurlTransportTest, DestroyingTheTransportFromInsideDoneCancelsTheRest) {
  SilentServer silent;
  std::promise<void> destroyed;
  transport_->Send(MakeRequest("GET", silent.Url(), 30000), recorder_.Callback(1));
  transport_->Send(MakeRequest("GET", NacosUrl("/v1/ns/operator/metrics")), [&](HttpResponse r) {
    EXPECT_EQ(r.status, 200);
    transport_.reset();  // On the loop thread, from inside a completion.
    destroyed.set_value();
  });
  auto future = destroyed.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(recorder_.WaitFor(1));
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), 1u);
  EXPECT_EQ(completions[0].response.transport_error.code(), StatusCode::kCancelled);
}

TEST(CurlTransportLifecycleTest, TransportOnAStoppedLoopCancelsAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  loop.Stop();
  CurlMultiTransport transport(&loop);
  Recorder recorder(&loop);
  transport.Send(MakeRequest("GET", "http://127.0.0.1:1/x"), recorder.Callback());
  ASSERT_EQ(recorder.size(), 1u);
  EXPECT_EQ(recorder.completions()[0].response.transport_error.code(), StatusCode::kCancelled);
}

TEST(CurlTransportLifecycleTest, RequestSentBeforeStartRunsOnceStarted) {
  naming_server::NamingServerOptions options;
  options.port = 0;
  auto server = naming_server::NamingServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EventLoop loop;
  Recorder recorder(&loop);
  CurlMultiTransport transport(&loop);
  transport.Send(MakeRequest("GET", "http://127.0.0.1:" + std::to_string((*server)->port()) +
                                        "/nacos/v1/ns/operator/metrics"),
                 recorder.Callback());
  EXPECT_EQ(recorder.size(), 0u);
  ASSERT_TRUE(loop.Start().ok());
  ASSERT_TRUE(recorder.WaitFor(1));
  EXPECT_EQ(recorder.completions()[0].response.status, 200);
}

TEST(CurlTransportLifecycleTest, TransportDestroyedBeforeTheLoopEverStartsCancelsQueuedSends) {
  EventLoop loop;
  Recorder recorder(&loop);
  {
    CurlMultiTransport transport(&loop);
    transport.Send(MakeRequest("GET", "http://127.0.0.1:1/x"), recorder.Callback());
  }
  EXPECT_EQ(recorder.size(), 0u);  // Still queued on the loop.
  ASSERT_TRUE(loop.Start().ok());
  ASSERT_TRUE(recorder.WaitFor(1));
  EXPECT_EQ(recorder.completions()[0].response.transport_error.code(), StatusCode::kCancelled);
  EXPECT_TRUE(recorder.completions()[0].on_loop_thread);
}

// --- Against a scripted server -------------------------------------------------------------------

TEST_F(CurlTransportTest, ConnectionsAreReused) {
  RawHttpServer raw([](const std::string&) { return RawHttpServer::Response(200, "ok"); });
  for (int i = 0; i < 3; ++i) {
    const Completion c = SendAndWait(MakeRequest("GET", raw.Url("/r" + std::to_string(i))));
    EXPECT_EQ(c.response.status, 200) << c.response.transport_error;
  }
  EXPECT_EQ(raw.heads().size(), 3u);
  EXPECT_EQ(raw.connections(), 1);
}

TEST_F(CurlTransportTest, SendsTheHeadersAndLetsCurlNegotiateTheEncoding) {
  RawHttpServer raw([](const std::string&) { return RawHttpServer::Response(200, "ok"); });
  HttpRequest request = MakeRequest("POST", raw.Url("/nacos/v1/ns/instance?serviceName=a"));
  AddNacosHeaders(&request);
  request.headers.emplace_back("X-Empty", "");
  request.body = std::string(2048, 'b');  // Large enough that curl would send Expect: 100-continue.
  const Completion c = SendAndWait(std::move(request));
  ASSERT_EQ(c.response.status, 200) << c.response.transport_error;
  ASSERT_EQ(raw.heads().size(), 1u);
  const std::string head = raw.heads()[0];
  EXPECT_EQ(head.rfind("POST /nacos/v1/ns/instance?serviceName=a HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Client-Version: 1.4.8\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Request-Module: Naming\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("User-Agent: Nacos-Java-Client:v1.4.8\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 2048\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Empty:"), std::string::npos) << head;
  EXPECT_NE(head.find("Accept-Encoding: "), std::string::npos) << head;
  EXPECT_NE(head.find("gzip"), std::string::npos) << head;
  EXPECT_EQ(head.find("sdch"), std::string::npos) << head;
  EXPECT_EQ(head.find("Expect:"), std::string::npos) << head;
}

TEST_F(CurlTransportTest, GzipBodiesAreDecoded) {
  // gzip.compress(b"hello, gzip", mtime=0)
  static const char kGzip[] =
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\xd7\x51\x48\xaf\xca\x2c\x00"
      "\x00\x4a\x9b\xb1\x5c\x0b\x00\x00\x00";
  const std::string gzip(kGzip, sizeof(kGzip) - 1);
  RawHttpServer raw([&](const std::string&) {
    return RawHttpServer::Response(200, gzip, "Content-Encoding: gzip\r\n");
  });
  const Completion c = SendAndWait(MakeRequest("GET", raw.Url("/gz")));
  EXPECT_EQ(c.response.status, 200) << c.response.transport_error;
  EXPECT_EQ(c.response.body, "hello, gzip");
}

TEST_F(CurlTransportTest, FollowsAtMostFiveRedirects) {
  // /hop/N redirects to /hop/N-1; /hop/0 answers.
  RawHttpServer raw([](const std::string& head) {
    const size_t at = head.find("/hop/");
    const int n = at == std::string::npos ? 0 : std::stoi(head.substr(at + 5));
    if (n == 0) return RawHttpServer::Response(200, "landed");
    return RawHttpServer::Response(302, "", "Location: /hop/" + std::to_string(n - 1) + "\r\n");
  });
  const Completion five = SendAndWait(MakeRequest("GET", raw.Url("/hop/5")));
  EXPECT_EQ(five.response.status, 200) << five.response.transport_error;
  EXPECT_EQ(five.response.body, "landed");
  const Completion six = SendAndWait(MakeRequest("GET", raw.Url("/hop/6")));
  EXPECT_EQ(six.response.status, 0);
  EXPECT_EQ(six.response.transport_error.code(), StatusCode::kUnavailable)
      << six.response.transport_error;
}

// Answers 302 to /from (to /to) and 200 "landed" to anything else.
std::string RedirectOnce(const std::string& head) {
  if (head.find(" /from") != std::string::npos) {
    return RawHttpServer::Response(302, "", "Location: /to\r\n");
  }
  return RawHttpServer::Response(200, "landed");
}

TEST_F(CurlTransportTest, RequestsWithoutCredentialsFollowARedirect) {
  RawHttpServer raw(RedirectOnce);
  const Completion c = SendAndWait(MakeRequest("GET", raw.Url("/from?serviceName=a")));
  EXPECT_EQ(c.response.status, 200) << c.response.transport_error;
  EXPECT_EQ(c.response.body, "landed");
  EXPECT_EQ(raw.heads().size(), 2u);
}

TEST_F(CurlTransportTest, ALoginIsNeverRedirected) {
  RawHttpServer raw(RedirectOnce);
  HttpRequest login = MakeRequest("POST", raw.Url("/from"));
  login.body = "username=nacos&password=s3cret";
  const Completion c = SendAndWait(std::move(login));
  EXPECT_EQ(c.response.status, 302) << c.response.transport_error;
  const std::vector<std::string> heads = raw.heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_NE(heads[0].find("POST /from"), std::string::npos) << heads[0];
}

TEST_F(CurlTransportTest, WritesWithoutCredentialsAreNeverRedirected) {
  // curl would follow a 302 to a POST with a GET: the write would come back as a 200 read.
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    RawHttpServer raw(RedirectOnce);
    HttpRequest write = MakeRequest(method, raw.Url("/from?serviceName=a&ip=1.2.3.4&port=80"));
    const Completion c = SendAndWait(std::move(write));
    EXPECT_EQ(c.response.status, 302) << method << " " << c.response.transport_error;
    const std::vector<std::string> heads = raw.heads();
    ASSERT_EQ(heads.size(), 1u) << method;
    EXPECT_EQ(heads[0].rfind(std::string(method) + " /from", 0), 0u) << heads[0];
  }
}

TEST_F(CurlTransportTest, ATokenInTheQueryIsNeverRedirected) {
  RawHttpServer raw(RedirectOnce);
  const Completion c =
      SendAndWait(MakeRequest("GET", raw.Url("/from?serviceName=a&accessToken=eyJ.x.y")));
  EXPECT_EQ(c.response.status, 302) << c.response.transport_error;
  EXPECT_EQ(raw.heads().size(), 1u);
}

TEST_F(CurlTransportTest, UserInfoOrAnAuthorizationHeaderIsNeverRedirected) {
  RawHttpServer raw(RedirectOnce);
  const Completion with_user = SendAndWait(
      MakeRequest("GET", "http://nacos:pw@127.0.0.1:" + std::to_string(raw.port()) + "/from"));
  EXPECT_EQ(with_user.response.status, 302) << with_user.response.transport_error;
  HttpRequest with_header = MakeRequest("GET", raw.Url("/from"));
  with_header.headers.emplace_back("Authorization", "Bearer x");
  const Completion c = SendAndWait(std::move(with_header));
  EXPECT_EQ(c.response.status, 302) << c.response.transport_error;
  EXPECT_EQ(raw.heads().size(), 2u);
}

TEST(CarriesCredentialsTest, FindsCredentialsWhereverTheyAre) {
  const auto request = [](std::string url, std::string body = "") {
    HttpRequest r;
    r.url = std::move(url);
    r.body = std::move(body);
    return r;
  };
  EXPECT_TRUE(CarriesCredentials(request("http://h/nacos/v1/auth/users/login", "username=a")));
  EXPECT_TRUE(CarriesCredentials(request("http://h/p", "x=1&password=b")));
  EXPECT_TRUE(CarriesCredentials(request("https://h/p?a=1&accessToken=t#f")));
  EXPECT_TRUE(CarriesCredentials(request("https://u:p@h/p")));
  EXPECT_FALSE(CarriesCredentials(request("http://h/p?serviceName=password", "ip=1")));
  EXPECT_FALSE(CarriesCredentials(request("http://h/p@q?serviceName=a")));
  EXPECT_FALSE(CarriesCredentials(request("http://h/p#accessToken=t")));
}

TEST_F(CurlTransportTest, OversizedResponseBodiesFail) {
  RawHttpServer raw(
      [](const std::string&) { return RawHttpServer::Response(200, std::string(100, 'x')); });
  CurlTransportOptions options;
  options.max_response_bytes = 64;
  transport_ = std::make_unique<CurlMultiTransport>(&loop_, options);
  const Completion c = SendAndWait(MakeRequest("GET", raw.Url("/big")));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable);
  EXPECT_NE(c.response.transport_error.message().find("larger than 64 bytes"), std::string::npos)
      << c.response.transport_error;
}

// --- RedactUrl -----------------------------------------------------------------------------------

TEST(RedactUrlTest, HidesPasswordsAndSecretParameters) {
  EXPECT_EQ(RedactUrl("http://nacos:secret@10.0.0.1:8848/nacos/v1/ns/instance/list?serviceName=a"
                      "&accessToken=eyJhbGci.x.y&namespaceId=public&password=p%40ss#frag"),
            "http://nacos:***@10.0.0.1:8848/nacos/v1/ns/instance/list?serviceName=a"
            "&accessToken=***&namespaceId=public&password=***#frag");
  EXPECT_EQ(RedactUrl("http://h/p?username=nacos&signature=abc&ak=1"),
            "http://h/p?username=nacos&signature=***&ak=1");
  EXPECT_EQ(RedactUrl("http://user@h:1/p?token="), "http://user@h:1/p?token=");
  EXPECT_EQ(RedactUrl("http://h:1/p"), "http://h:1/p");
  EXPECT_EQ(RedactUrl("accessToken=abc"), "accessToken=***");
}

}  // namespace
}  // namespace dubbo::registry::nacos
