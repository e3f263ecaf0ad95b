// Tests of KeepAliveTransport against a scripted HTTP/1.1 server on 127.0.0.1 (port 0): what goes
// on the wire, pipelining and the connection policy, the resend rules (announced close, keep-alive
// race, a stalled neighbour), timeouts, body framing and content coding, malformed answers, routing
// to the fallback, cancellation and lifetime, idle connections. Waits are bounded (condition
// variables with a deadline); no fixed port, only loopback traffic. Runs under TSan in CI.
#include "transport/http/keepalive_transport.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "event_loop.h"
#include "fake_http_transport.h"
#include "push_codec.h"
#include "transport_test_util.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::BoundSocket;
using testing::Completion;
using testing::kNeverMs;
using testing::kWait;
using testing::LocalPort;
using testing::Loopback;
using testing::MakeRequest;
using testing::Recorder;
using testing::RefusedPort;
using testing::SteadyClock;

// --- Sockets -------------------------------------------------------------------------------------

bool Ipv6LoopbackWorks() {
  const int fd = BoundSocket(1, /*ipv6=*/true);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::string ToLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// --- The scripted server -------------------------------------------------------------------------

// An HTTP/1.1 server on its own thread (poll()) that records every connection and every request,
// and answers as the test's script says. A request is complete once its head (up to CRLF CRLF) and
// Content-Length body bytes arrived. "Closing" a connection is a shutdown(SHUT_WR) (a FIN, never a
// reset that could destroy answers still in flight); the server then ignores what else arrives on
// it and closes it at the client's EOF.
class ScriptedServer {
 public:
  struct Request {
    int conn = 0;           // Connection, in accept order from 0.
    int index_on_conn = 0;  // From 0.
    int index = 0;          // Over the whole server, in arrival order, from 0.
    std::string head;       // Request line and header fields, each ending in CRLF.
    std::string body;

    std::string request_line() const { return head.substr(0, head.find("\r\n")); }
    std::string method() const { return head.substr(0, head.find(' ')); }
    std::string target() const {
      const size_t a = head.find(' ') + 1;
      return head.substr(a, head.find(' ', a) - a);
    }
  };

  struct Reply {
    enum Kind { kAnswer, kSilent, kClose };
    Kind kind = kAnswer;
    std::string bytes;
    bool close_after = false;  // Close the connection after sending `bytes`.

    static Reply Answer(std::string bytes, bool close_after = false) {
      return Reply{kAnswer, std::move(bytes), close_after};
    }
    static Reply Silent() { return Reply{kSilent, "", false}; }
    static Reply Close() { return Reply{kClose, "", true}; }
  };

  // Called on the server thread for each request, in arrival order.
  using Script = std::function<Reply(const Request&)>;

  struct Conn {
    std::vector<Request> requests;  // Those the script saw (none after the server's close).
    bool server_closed = false;
    bool client_closed = false;  // EOF (or a reset) from the client.
  };
  struct State {
    std::vector<Conn> conns;
    std::vector<Request> requests;
  };

  explicit ScriptedServer(Script script, bool ipv6 = false)
      : script_(std::move(script)), ipv6_(ipv6), listen_fd_(BoundSocket(128, ipv6)) {
    EXPECT_GE(listen_fd_, 0);
    EXPECT_EQ(::pipe2(wake_, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(push_, O_CLOEXEC | O_NONBLOCK), 0);
    thread_ = std::thread([this] { Run(); });
  }
  ~ScriptedServer() {
    EXPECT_EQ(::write(wake_[1], "x", 1), 1);
    thread_.join();
    ::close(listen_fd_);
    for (int fd : {wake_[0], wake_[1], push_[0], push_[1]}) ::close(fd);
  }

  // Sends `bytes` on connection `conn` from the server thread, unasked (a late answer, or bytes
  // nobody asked for); then closes it if `close_after`.
  void SendOn(int conn, std::string bytes, bool close_after = false) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      pushes_.push_back(Push{conn, std::move(bytes), close_after});
    }
    EXPECT_EQ(::write(push_[1], "p", 1), 1);
  }

  uint16_t port() const { return LocalPort(listen_fd_); }
  std::string Url(const std::string& path) const {
    return (ipv6_ ? "http://[::1]:" : "http://127.0.0.1:") + std::to_string(port()) + path;
  }

  State state() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
  }
  size_t accepts() const { return state().conns.size(); }
  std::vector<Request> requests() const { return state().requests; }
  // Requests the script saw, per connection.
  std::vector<size_t> per_conn() const {
    std::vector<size_t> counts;
    for (const Conn& c : state().conns) counts.push_back(c.requests.size());
    return counts;
  }
  // How often a request for `target` arrived.
  size_t times_seen(const std::string& target) const {
    size_t n = 0;
    for (const Request& r : requests()) n += r.target() == target ? 1 : 0;
    return n;
  }
  // Waits (bounded) until `pred(state)` holds; the predicate runs under the server's lock.
  bool WaitUntil(const std::function<bool(const State&)>& pred,
                 SteadyClock::duration timeout = kWait) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return pred(state_); });
  }

  // A complete HTTP/1.1 answer with a Content-Length.
  static std::string Response(int status, const std::string& body,
                              const std::string& extra_headers = "") {
    return testing::ResponseBytes(status, body, extra_headers);
  }
  // 200 with the request target as its body: tells which request an answer belongs to.
  static Reply Echo(const Request& r) { return Reply::Answer(Response(200, r.target())); }

 private:
  struct Client {
    int id = 0;
    std::string input;
    bool closing = false;
  };
  struct Push {
    int conn = 0;
    std::string bytes;
    bool close_after = false;
  };

  void Run() {
    std::map<int, Client> clients;  // By fd.
    std::vector<char> buf(64 << 10);
    for (;;) {
      std::vector<pollfd> fds = {
          {wake_[0], POLLIN, 0}, {push_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
      constexpr size_t kFirstClient = 3;
      for (const auto& [fd, client] : clients) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[0].revents != 0) break;
      if (fds[1].revents != 0) {
        char drain[64];
        while (::read(push_[0], drain, sizeof(drain)) > 0) {
        }
        std::vector<Push> pushes;
        {
          std::lock_guard<std::mutex> lock(mu_);
          pushes.swap(pushes_);
        }
        for (const Push& push : pushes) {
          for (auto& [fd, client] : clients) {
            if (client.id != push.conn || client.closing) continue;
            SendAll(fd, push.bytes);
            if (push.close_after) CloseWrite(fd, &client);
          }
        }
      }
      if (fds[2].revents != 0) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
          std::lock_guard<std::mutex> lock(mu_);
          clients[fd].id = static_cast<int>(state_.conns.size());
          state_.conns.emplace_back();
          cv_.notify_all();
        }
      }
      for (size_t i = kFirstClient; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const int fd = fds[i].fd;
        Client& client = clients[fd];
        const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) {
          ::close(fd);
          {
            std::lock_guard<std::mutex> lock(mu_);
            state_.conns[client.id].client_closed = true;
            cv_.notify_all();
          }
          clients.erase(fd);
          continue;
        }
        if (client.closing) continue;  // Discarded: the server said it would not read on.
        client.input.append(buf.data(), static_cast<size_t>(n));
        Serve(fd, &client);
      }
    }
    for (const auto& [fd, client] : clients) ::close(fd);
  }

  void Serve(int fd, Client* client) {
    while (!client->closing) {
      const size_t end = client->input.find("\r\n\r\n");
      if (end == std::string::npos) return;
      const std::string head = client->input.substr(0, end + 2);
      const size_t body_len = ContentLength(head);
      if (client->input.size() < end + 4 + body_len) return;
      Request request;
      request.conn = client->id;
      request.head = head;
      request.body = client->input.substr(end + 4, body_len);
      client->input.erase(0, end + 4 + body_len);
      {
        std::lock_guard<std::mutex> lock(mu_);
        Conn& conn = state_.conns[client->id];
        request.index_on_conn = static_cast<int>(conn.requests.size());
        request.index = static_cast<int>(state_.requests.size());
        conn.requests.push_back(request);
        state_.requests.push_back(request);
        cv_.notify_all();
      }
      const Reply reply = script_(request);
      if (reply.kind == Reply::kAnswer) SendAll(fd, reply.bytes);
      if (reply.kind == Reply::kClose || reply.close_after) CloseWrite(fd, client);
    }
  }

  void CloseWrite(int fd, Client* client) {
    ::shutdown(fd, SHUT_WR);
    client->closing = true;
    std::lock_guard<std::mutex> lock(mu_);
    state_.conns[client->id].server_closed = true;
    cv_.notify_all();
  }

  static void SendAll(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // The client is gone.
      sent += static_cast<size_t>(n);
    }
  }

  static size_t ContentLength(const std::string& head) {
    const std::string lower = ToLower(head);
    const size_t at = lower.find("\r\ncontent-length:");
    return at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
  }

  const Script script_;
  const bool ipv6_;
  int listen_fd_;
  int wake_[2] = {-1, -1};
  int push_[2] = {-1, -1};
  std::thread thread_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  State state_;
  std::vector<Push> pushes_;
};

using Request = ScriptedServer::Request;
using Reply = ScriptedServer::Reply;

std::string P(int i) { return "/p/" + std::to_string(i); }

// `completion` is evaluated once.
#define EXPECT_OK_RESPONSE(completion, want_status, want_body)                    \
  do {                                                                            \
    const Completion c_ = (completion);                                           \
    EXPECT_TRUE(c_.response.transport_error.ok()) << c_.response.transport_error; \
    EXPECT_EQ(c_.response.status, (want_status));                                 \
    EXPECT_EQ(c_.response.body, (want_body));                                     \
  } while (0)

class KeepAliveTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.Start().ok());
    transport_ = std::make_unique<KeepAliveTransport>(&loop_, &fallback_);
  }

  void Recreate(KeepAliveOptions options) {
    transport_.reset();
    transport_ = std::make_unique<KeepAliveTransport>(&loop_, &fallback_, options);
  }

  // Sends and waits for the one completion.
  Completion SendAndWait(HttpRequest request) {
    return testing::SendAndWait(transport_.get(), &loop_, std::move(request));
  }

  // Sends every request from inside one loop task: one loop iteration, so they leave together.
  void SendInOneIteration(std::vector<HttpRequest> requests, Recorder* recorder,
                          int first_tag = 0) {
    ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
      int tag = first_tag;
      for (HttpRequest& r : requests) transport_->Send(std::move(r), recorder->Callback(tag++));
    }));
  }

  EventLoop loop_{"test-ka-loop"};
  testing::FakeHttpTransport fallback_;
  Recorder recorder_{&loop_};
  std::unique_ptr<KeepAliveTransport> transport_;  // Declared last: destroyed first.
};

// --- Round trips and the bytes on the wire -------------------------------------------------------

TEST_F(KeepAliveTransportTest, GetRoundTripOnTheLoopThread) {
  ScriptedServer server(
      [](const Request&) { return Reply::Answer(ScriptedServer::Response(200, "hello")); });
  const Completion c =
      SendAndWait(MakeRequest("GET", server.Url("/nacos/v1/ns/instance/list?a=1&b=%40")));
  EXPECT_OK_RESPONSE(c, 200, "hello");
  EXPECT_EQ(c.response.peer_ip, "127.0.0.1");
  EXPECT_TRUE(c.on_loop_thread);
  ASSERT_EQ(server.requests().size(), 1u);
  const Request r = server.requests()[0];
  EXPECT_EQ(r.request_line(), "GET /nacos/v1/ns/instance/list?a=1&b=%40 HTTP/1.1");
  EXPECT_NE(r.head.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << r.head;
  EXPECT_NE(r.head.find("\r\nAccept-Encoding: gzip\r\n"), std::string::npos) << r.head;
  EXPECT_EQ(ToLower(r.head).find("content-length"), std::string::npos) << r.head;
  EXPECT_EQ(ToLower(r.head).find("transfer-encoding"), std::string::npos) << r.head;
  EXPECT_TRUE(r.body.empty());
}

TEST_F(KeepAliveTransportTest, PostSendsTheBodyAndTheCallerHeadersButOurFraming) {
  ScriptedServer server(
      [](const Request&) { return Reply::Answer(ScriptedServer::Response(200, "ok")); });
  HttpRequest request = MakeRequest("POST", server.Url("/nacos/v1/ns/instance?serviceName=a"));
  request.headers = {{"Client-Version", "1.4.8"},
                     {"User-Agent", "Nacos-Java-Client:v1.4.8"},
                     {"Accept-Encoding", "gzip,deflate,sdch"},
                     {"host", "evil.example"},
                     {"Content-Length", "999"},
                     {"Transfer-Encoding", "chunked"},
                     {"Content-Type", "application/x-www-form-urlencoded;charset=UTF-8"},
                     {"X-Empty", ""}};
  request.body = "ip=10.0.0.1&port=8080";
  const Completion c = SendAndWait(std::move(request));
  EXPECT_OK_RESPONSE(c, 200, "ok");
  EXPECT_EQ(c.response.peer_ip, "127.0.0.1");
  ASSERT_EQ(server.requests().size(), 1u);
  const Request r = server.requests()[0];
  const std::string lower = ToLower(r.head);
  EXPECT_EQ(r.request_line(), "POST /nacos/v1/ns/instance?serviceName=a HTTP/1.1");
  EXPECT_EQ(r.body, "ip=10.0.0.1&port=8080");
  EXPECT_NE(r.head.find("\r\nClient-Version: 1.4.8\r\n"), std::string::npos) << r.head;
  EXPECT_NE(r.head.find("\r\nUser-Agent: Nacos-Java-Client:v1.4.8\r\n"), std::string::npos)
      << r.head;
  EXPECT_NE(r.head.find("\r\nContent-Type: application/x-www-form-urlencoded;charset=UTF-8\r\n"),
            std::string::npos)
      << r.head;
  EXPECT_NE(r.head.find("\r\nX-Empty: \r\n"), std::string::npos) << r.head;
  // Ours, once each; the caller's versions dropped.
  EXPECT_EQ(Count(lower, "\r\nhost:"), 1u) << r.head;
  EXPECT_NE(r.head.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos)
      << r.head;
  EXPECT_EQ(Count(lower, "\r\naccept-encoding:"), 1u) << r.head;
  EXPECT_NE(r.head.find("\r\nAccept-Encoding: gzip\r\n"), std::string::npos) << r.head;
  EXPECT_EQ(lower.find("sdch"), std::string::npos) << r.head;
  EXPECT_EQ(Count(lower, "\r\ncontent-length:"), 1u) << r.head;
  EXPECT_NE(r.head.find("\r\nContent-Length: 21\r\n"), std::string::npos) << r.head;
  EXPECT_EQ(lower.find("transfer-encoding"), std::string::npos) << r.head;
  EXPECT_EQ(lower.find("evil"), std::string::npos) << r.head;
}

TEST_F(KeepAliveTransportTest, PutAndDeleteCarryContentLengthEvenWhenEmpty) {
  ScriptedServer server(
      [](const Request&) { return Reply::Answer(ScriptedServer::Response(200, "ok")); });
  const Completion put = SendAndWait(MakeRequest("PUT", server.Url("/beat?x=1")));
  EXPECT_OK_RESPONSE(put, 200, "ok");
  HttpRequest del = MakeRequest("DELETE", server.Url("/instance"));
  del.body = "abc";
  const Completion deleted = SendAndWait(std::move(del));
  EXPECT_OK_RESPONSE(deleted, 200, "ok");
  // An empty method means GET.
  const Completion get = SendAndWait(MakeRequest("", server.Url("/get")));
  EXPECT_OK_RESPONSE(get, 200, "ok");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].request_line(), "PUT /beat?x=1 HTTP/1.1");
  EXPECT_NE(requests[0].head.find("\r\nContent-Length: 0\r\n"), std::string::npos)
      << requests[0].head;
  EXPECT_EQ(requests[1].request_line(), "DELETE /instance HTTP/1.1");
  EXPECT_NE(requests[1].head.find("\r\nContent-Length: 3\r\n"), std::string::npos)
      << requests[1].head;
  EXPECT_EQ(requests[1].body, "abc");
  EXPECT_EQ(requests[2].request_line(), "GET /get HTTP/1.1");
  EXPECT_EQ(ToLower(requests[2].head).find("content-length"), std::string::npos)
      << requests[2].head;
  // One connection for all three.
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, EmptyPathAndFragmentAreHandled) {
  ScriptedServer server(
      [](const Request&) { return Reply::Answer(ScriptedServer::Response(200, "ok")); });
  const std::string base = "http://127.0.0.1:" + std::to_string(server.port());
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", base)), 200, "ok");
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", base + "?q=1")), 200, "ok");
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", base + "/a/b?c=d#frag")), 200, "ok");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].request_line(), "GET / HTTP/1.1");
  EXPECT_EQ(requests[1].request_line(), "GET /?q=1 HTTP/1.1");
  EXPECT_EQ(requests[2].request_line(), "GET /a/b?c=d HTTP/1.1");
}

TEST_F(KeepAliveTransportTest, ErrorStatusesKeepTheirBodies) {
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/404") return Reply::Answer(ScriptedServer::Response(404, "no such thing"));
    return Reply::Answer(ScriptedServer::Response(503, "server is DOWN now"));
  });
  const Completion not_found = SendAndWait(MakeRequest("GET", server.Url("/404")));
  EXPECT_OK_RESPONSE(not_found, 404, "no such thing");
  const Completion unavailable = SendAndWait(MakeRequest("POST", server.Url("/503")));
  EXPECT_OK_RESPONSE(unavailable, 503, "server is DOWN now");
  EXPECT_EQ(unavailable.response.peer_ip, "127.0.0.1");
}

TEST_F(KeepAliveTransportTest, LargeBodiesBothWays) {
  // Larger than the socket buffers: partial sends (EAGAIN, a writable watch) and many reads.
  const std::string upload(4 << 20, 'u');
  const std::string download(3 << 20, 'd');
  ScriptedServer server([download](const Request& r) {
    if (r.method() == "POST")
      return Reply::Answer(ScriptedServer::Response(200, std::to_string(r.body.size())));
    return Reply::Answer(ScriptedServer::Response(200, download));
  });
  HttpRequest post = MakeRequest("POST", server.Url("/upload"));
  post.body = upload;
  SendInOneIteration({std::move(post), MakeRequest("GET", server.Url("/download")),
                      MakeRequest("GET", server.Url("/download"))},
                     &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(3));
  EXPECT_OK_RESPONSE(recorder_.Get(0), 200, std::to_string(upload.size()));
  for (int tag : {1, 2}) {
    const Completion c = recorder_.Get(tag);
    EXPECT_TRUE(c.response.transport_error.ok()) << c.response.transport_error;
    EXPECT_EQ(c.response.body.size(), download.size());
    EXPECT_TRUE(c.response.body == download);
  }
  ASSERT_EQ(server.requests().size(), 3u);
  EXPECT_TRUE(server.requests()[0].body == upload);
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, Ipv6LiteralRoundTrip) {
  if (!Ipv6LoopbackWorks()) GTEST_SKIP() << "no IPv6 loopback here";
  ScriptedServer server(&ScriptedServer::Echo, /*ipv6=*/true);
  const Completion c = SendAndWait(MakeRequest("GET", server.Url("/six?x=1")));
  EXPECT_OK_RESPONSE(c, 200, "/six?x=1");
  EXPECT_EQ(c.response.peer_ip, "::1");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_NE(
      server.requests()[0].head.find("\r\nHost: [::1]:" + std::to_string(server.port()) + "\r\n"),
      std::string::npos)
      << server.requests()[0].head;
  // The same server written differently is the same origin: the connection is reused.
  const Completion again = SendAndWait(
      MakeRequest("GET", "http://[0:0:0:0:0:0:0:1]:" + std::to_string(server.port()) + "/again"));
  EXPECT_OK_RESPONSE(again, 200, "/again");
  EXPECT_EQ(server.accepts(), 1u);
  // (Its Host field is the origin's first spelling, "[::1]:port": equivalent for an IP literal.)
}

// --- Pipelining and the connection policy --------------------------------------------------------

TEST_F(KeepAliveTransportTest, RequestsOfOneIterationArePipelinedOnOneConnection) {
  ScriptedServer server(&ScriptedServer::Echo);
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back(MakeRequest("GET", server.Url(P(i))));
  SendInOneIteration(std::move(requests), &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(10));
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(completions[i].tag, i);  // Answered in order.
    EXPECT_OK_RESPONSE(completions[i], 200, P(i));
    EXPECT_TRUE(completions[i].on_loop_thread);
  }
  EXPECT_EQ(server.accepts(), 1u);
  EXPECT_EQ(server.per_conn(), std::vector<size_t>{10});
}

TEST_F(KeepAliveTransportTest, SendsFromAnotherThreadReuseTheConnection) {
  ScriptedServer server(&ScriptedServer::Echo);
  for (int i = 0; i < 5; ++i) {
    const Completion c = SendAndWait(MakeRequest("GET", server.Url(P(i))));
    EXPECT_OK_RESPONSE(c, 200, P(i));
    EXPECT_TRUE(c.on_loop_thread);
  }
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, WithoutPipeliningQueuedRequestsWaitForAFreeConnection) {
  KeepAliveOptions options;
  options.pipeline_depth = 1;
  options.max_connections_per_server = 2;
  Recreate(options);
  // The test answers each request itself, in arrival order, checking before each answer that no
  // connection has more than one request outstanding.
  ScriptedServer server([](const Request&) { return Reply::Silent(); });
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 5; ++i) requests.push_back(MakeRequest("GET", server.Url(P(i)), 3000));
  SendInOneIteration(std::move(requests), &recorder_);
  std::map<int, size_t> answered;  // By connection.
  for (size_t k = 0; k < 5; ++k) {
    ASSERT_TRUE(server.WaitUntil([k](const ScriptedServer::State& s) {
      return s.requests.size() > k;
    })) << "request "
        << k << " never arrived";
    const ScriptedServer::State state = server.state();
    ASSERT_LE(state.conns.size(), 2u);
    for (size_t c = 0; c < state.conns.size(); ++c) {
      EXPECT_LE(state.conns[c].requests.size() - answered[static_cast<int>(c)], 1u)
          << "connection " << c << " before answer " << k;
    }
    const Request r = state.requests[k];
    ++answered[r.conn];
    server.SendOn(r.conn, ScriptedServer::Response(200, r.target()));
  }
  ASSERT_TRUE(recorder_.WaitFor(5));
  for (int i = 0; i < 5; ++i) EXPECT_OK_RESPONSE(recorder_.Get(i), 200, P(i));
  EXPECT_EQ(server.accepts(), 2u);
}

TEST_F(KeepAliveTransportTest, ConnectionCloseAnswerResendsTheRestAndLimitsLaterConnections) {
  // The third answer on the first connection says Connection: close; seven requests sit behind it.
  ScriptedServer server([](const Request& r) {
    if (r.index == 2) {
      return Reply::Answer(ScriptedServer::Response(200, r.target(), "Connection: close\r\n"),
                           /*close_after=*/true);
    }
    return ScriptedServer::Echo(r);
  });
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back(MakeRequest("GET", server.Url(P(i))));
  SendInOneIteration(std::move(requests), &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(10));
  for (int i = 0; i < 10; ++i) EXPECT_OK_RESPONSE(recorder_.Get(i), 200, P(i));
  const auto state = server.state();
  ASSERT_GE(state.conns.size(), 2u);
  EXPECT_EQ(state.conns[0].requests.size(), 3u);
  size_t total = 0;
  for (size_t i = 0; i < state.conns.size(); ++i) {
    total += state.conns[i].requests.size();
    if (i > 0) {
      EXPECT_LE(state.conns[i].requests.size(), 3u) << "connection " << i;
    }
  }
  EXPECT_EQ(total, 10u);  // Each request processed exactly once.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(server.times_seen(P(i)), 1u) << P(i);
}

TEST_F(KeepAliveTransportTest, ACloseAfterAnErrorAnswerTeachesNoLimit) {
  // Tomcat also closes after some error answers (400, 500, 503, ...): that says nothing about how
  // many requests a connection may carry, so the next connection takes the whole pipeline.
  ScriptedServer server([](const Request& r) {
    if (r.index == 0) {
      return Reply::Answer(ScriptedServer::Response(503, "busy", "Connection: close\r\n"),
                           /*close_after=*/true);
    }
    return ScriptedServer::Echo(r);
  });
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 6; ++i) requests.push_back(MakeRequest("GET", server.Url(P(i))));
  SendInOneIteration(std::move(requests), &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(6));
  EXPECT_EQ(recorder_.Get(0).response.status, 503);
  for (int i = 1; i < 6; ++i) EXPECT_OK_RESPONSE(recorder_.Get(i), 200, P(i));
  const auto state = server.state();
  ASSERT_EQ(state.conns.size(), 2u);
  EXPECT_EQ(state.conns[0].requests.size(), 1u);
  EXPECT_EQ(state.conns[1].requests.size(), 5u);  // Not limited to 1.
}

TEST_F(KeepAliveTransportTest, LearnedPerConnectionLimitDoesNotStarveLaterRequests) {
  // Two connections at most; the first connection closes after two answers, announcing it (as
  // Tomcat does after maxKeepAliveRequests), with two more requests behind them. From then on a
  // connection carries two requests at most: connections that carried their two are spent and must
  // not keep holding the two slots (here the server does not close them itself).
  KeepAliveOptions options;
  options.max_connections_per_server = 2;
  Recreate(options);
  ScriptedServer server([](const Request& r) {
    if (r.conn == 0 && r.index_on_conn == 1) {
      return Reply::Answer(ScriptedServer::Response(200, r.target(), "Connection: close\r\n"),
                           /*close_after=*/true);
    }
    return ScriptedServer::Echo(r);
  });
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 4; ++i) requests.push_back(MakeRequest("GET", server.Url(P(i)), 2000));
  SendInOneIteration(std::move(requests), &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(4));
  for (int i = 0; i < 4; ++i) EXPECT_OK_RESPONSE(recorder_.Get(i), 200, P(i));
  // Later requests, one after the other.
  for (int i = 4; i < 10; ++i) {
    const Completion c = SendAndWait(MakeRequest("GET", server.Url(P(i)), 2000));
    EXPECT_OK_RESPONSE(c, 200, P(i));
  }
  for (size_t n : server.per_conn()) EXPECT_LE(n, 2u);
}

// --- Resends and connection failures -------------------------------------------------------------

TEST_F(KeepAliveTransportTest, KeepAliveRaceIsResentOnceOnANewConnection) {
  // The first connection answers one request, then closes when the second arrives (as if its idle
  // timeout had struck just as the request was sent).
  ScriptedServer server([](const Request& r) {
    if (r.conn == 0 && r.index_on_conn == 1) return Reply::Close();
    return ScriptedServer::Echo(r);
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/first"))), 200, "/first");
  const Completion c = SendAndWait(MakeRequest("GET", server.Url("/second")));
  EXPECT_OK_RESPONSE(c, 200, "/second");
  EXPECT_EQ(server.accepts(), 2u);
  EXPECT_EQ(server.times_seen("/second"), 2u);
  EXPECT_EQ(server.per_conn(), (std::vector<size_t>{2, 1}));
}

TEST_F(KeepAliveTransportTest, ServerClosingAnIdleConnectionAfterAnsweringIsTransparent) {
  // Every answer is followed by a close (without Connection: close): whether the client notices
  // the close before the next request or only after sending it, the next request succeeds.
  ScriptedServer server([](const Request& r) {
    return Reply::Answer(ScriptedServer::Response(200, r.target()), /*close_after=*/true);
  });
  for (int i = 0; i < 5; ++i) {
    EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url(P(i)))), 200, P(i));
  }
  EXPECT_EQ(server.accepts(), 5u);
  for (size_t n : server.per_conn()) EXPECT_EQ(n, 1u);
}

TEST_F(KeepAliveTransportTest, FreshConnectionClosedWithoutAnswerIsUnavailableAndNotResent) {
  ScriptedServer server([](const Request&) { return Reply::Close(); });
  const Completion c = SendAndWait(MakeRequest("POST", server.Url("/register")));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
  EXPECT_NE(c.response.transport_error.message().find("/register"), std::string::npos)
      << c.response.transport_error;
  EXPECT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, RequestIsSentAtMostTwice) {
  // Two warm connections; then both close on the request instead of answering it.
  KeepAliveOptions options;
  options.pipeline_depth = 1;
  options.max_connections_per_server = 2;
  Recreate(options);
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/x") return Reply::Close();
    return ScriptedServer::Echo(r);
  });
  SendInOneIteration({MakeRequest("GET", server.Url("/w0")), MakeRequest("GET", server.Url("/w1"))},
                     &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(2));
  EXPECT_OK_RESPONSE(recorder_.Get(0), 200, "/w0");
  EXPECT_OK_RESPONSE(recorder_.Get(1), 200, "/w1");
  ASSERT_EQ(server.accepts(), 2u);

  const Completion c = SendAndWait(MakeRequest("GET", server.Url("/x")));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
  EXPECT_EQ(server.times_seen("/x"), 2u);
  EXPECT_EQ(server.accepts(), 2u);  // Both sends went to the warm connections.
}

TEST_F(KeepAliveTransportTest, ReusedConnectionThenFreshConnectionClosingFailsAfterTwoSends) {
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/x") return Reply::Close();
    return ScriptedServer::Echo(r);
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/warm"))), 200, "/warm");
  const Completion c = SendAndWait(MakeRequest("GET", server.Url("/x")));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
  EXPECT_EQ(server.times_seen("/x"), 2u);
  EXPECT_EQ(server.accepts(), 2u);
  // And the transport still works.
  ScriptedServer other(&ScriptedServer::Echo);
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", other.Url("/after"))), 200, "/after");
}

TEST_F(KeepAliveTransportTest, ConnectionRefusedIsUnavailableWithoutWaitingForATimeout) {
  const uint16_t port = RefusedPort();
  // Timeouts that cannot run out: the completion came from the refusal itself.
  HttpRequest request =
      MakeRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/nacos/x?t=1", kNeverMs);
  request.connect_timeout_ms = kNeverMs;
  const Completion c = SendAndWait(std::move(request));
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
      << c.response.transport_error;
  EXPECT_TRUE(c.response.peer_ip.empty());
}

TEST_F(KeepAliveTransportTest, ConnectionRefusedFailsEveryQueuedRequest) {
  const uint16_t port = RefusedPort();
  std::vector<HttpRequest> requests;
  for (int i = 0; i < 5; ++i) {
    requests.push_back(MakeRequest("GET", "http://127.0.0.1:" + std::to_string(port) + P(i)));
  }
  SendInOneIteration(std::move(requests), &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(5));
  for (const Completion& c : recorder_.completions()) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
        << c.response.transport_error;
  }
}

TEST_F(KeepAliveTransportTest, ConnectTimeoutIsDeadlineExceeded) {
  // A listener with a full accept queue: Linux drops further SYNs, so the connect never completes.
  const int listener = BoundSocket(0);
  ASSERT_GE(listener, 0);
  const uint16_t port = LocalPort(listener);
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in addr = Loopback(port);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    fillers.push_back(fd);
  }
  // The request timeout cannot run out: a kDeadlineExceeded can only be the connect timeout's.
  HttpRequest request =
      MakeRequest("GET", "http://127.0.0.1:" + std::to_string(port) + "/x", kNeverMs);
  request.connect_timeout_ms = 200;
  const auto start = SteadyClock::now();
  const Completion c = SendAndWait(std::move(request));
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kDeadlineExceeded)
      << c.response.transport_error;
  EXPECT_GE(c.at - start, milliseconds(190));
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

// --- Timeouts ------------------------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, SubSecondTimeoutIsDeadlineExceeded) {
  ScriptedServer server([](const Request&) { return Reply::Silent(); });
  // On a server of its own, a request whose timeout cannot run out: still pending when the 200 ms
  // one fails, so that one failed on its own timeout, not on a default or a shared one.
  ScriptedServer other([](const Request&) { return Reply::Silent(); });
  transport_->Send(MakeRequest("GET", other.Url("/pending"), kNeverMs), recorder_.Callback(1));
  const auto start = SteadyClock::now();
  const Completion c = SendAndWait(MakeRequest("GET", server.Url("/slow"), /*timeout_ms=*/200));
  const auto elapsed = c.at - start;
  EXPECT_EQ(c.response.status, 0);
  EXPECT_EQ(c.response.transport_error.code(), StatusCode::kDeadlineExceeded)
      << c.response.transport_error;
  EXPECT_GE(elapsed, milliseconds(200));
  EXPECT_EQ(recorder_.size(), 0u);
  EXPECT_TRUE(c.on_loop_thread);
  // The client gave up on the connection.
  EXPECT_TRUE(server.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
  transport_.reset();  // Cancels the pending request while its server is still up.
}

TEST_F(KeepAliveTransportTest, RequestBehindATimedOutOneIsResentOnANewConnection) {
  // The first connection stalls; the second answers.
  ScriptedServer server([](const Request& r) {
    if (r.conn == 0) return Reply::Silent();
    return ScriptedServer::Echo(r);
  });
  // "/behind" cannot time out: it succeeds only by being sent again once "/stalled" times out.
  const auto start = SteadyClock::now();
  SendInOneIteration({MakeRequest("GET", server.Url("/stalled"), 200),
                      MakeRequest("GET", server.Url("/behind"), kNeverMs)},
                     &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(2));
  const Completion stalled = recorder_.Get(0);
  EXPECT_EQ(stalled.response.transport_error.code(), StatusCode::kDeadlineExceeded)
      << stalled.response.transport_error;
  EXPECT_GE(stalled.at - start, milliseconds(200));
  EXPECT_OK_RESPONSE(recorder_.Get(1), 200, "/behind");
  EXPECT_EQ(server.times_seen("/behind"), 2u);
  EXPECT_EQ(server.times_seen("/stalled"), 1u);
  const auto counts = server.per_conn();
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts[0], 2u);
  EXPECT_EQ(counts[1], 1u);
}

TEST_F(KeepAliveTransportTest, RequestWaitingForASlotTimesOut) {
  KeepAliveOptions options;
  options.pipeline_depth = 1;
  options.max_connections_per_server = 1;
  Recreate(options);
  ScriptedServer server([](const Request&) { return Reply::Silent(); });
  // The holder cannot time out: the waiter fails on its own 200 ms while the holder is pending.
  const auto start = SteadyClock::now();
  SendInOneIteration({MakeRequest("GET", server.Url("/holder"), kNeverMs),
                      MakeRequest("GET", server.Url("/waiter"), 200)},
                     &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(1));
  const Completion waiter = recorder_.completions()[0];
  EXPECT_EQ(waiter.tag, 1);
  EXPECT_EQ(waiter.response.transport_error.code(), StatusCode::kDeadlineExceeded)
      << waiter.response.transport_error;
  EXPECT_GE(waiter.at - start, milliseconds(200));
  EXPECT_EQ(server.times_seen("/waiter"), 0u);
  transport_.reset();  // Cancels the holder.
  ASSERT_EQ(recorder_.size(), 2u);
  EXPECT_EQ(recorder_.Get(0).response.transport_error.code(), StatusCode::kCancelled);
}

// --- Bodies --------------------------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, ChunkedBodiesAreDecoded) {
  ScriptedServer server([](const Request&) {
    return Reply::Answer(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n");
  });
  for (int i = 0; i < 2; ++i) {  // Twice: the stream stays in sync after a chunked body.
    EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/chunked"))), 200,
                       "hello, world");
  }
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, GzipBodiesAreDecoded) {
  const std::string plain = std::string(3000, 'a') + "{\"hosts\":[]}";
  auto gz = nacos_wire::Gzip(plain);
  ASSERT_TRUE(gz.ok());
  const std::string gzip = *gz;
  ScriptedServer server([gzip](const Request& r) {
    if (r.target() == "/chunked-gzip") {
      std::string bytes =
          "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
      const size_t half = gzip.size() / 2;
      for (const std::string& part : {gzip.substr(0, half), gzip.substr(half)}) {
        char size[16];
        std::snprintf(size, sizeof(size), "%zx\r\n", part.size());
        bytes += size + part + "\r\n";
      }
      bytes += "0\r\n\r\n";
      return Reply::Answer(bytes);
    }
    return Reply::Answer(ScriptedServer::Response(200, gzip, "Content-Encoding: GZip\r\n"));
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/gzip"))), 200, plain);
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/chunked-gzip"))), 200, plain);
}

TEST_F(KeepAliveTransportTest, UnsupportedContentEncodingIsUnavailable) {
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/br")
      return Reply::Answer(ScriptedServer::Response(200, "xyz", "Content-Encoding: br\r\n"));
    if (r.target() == "/badgzip") {
      return Reply::Answer(
          ScriptedServer::Response(200, "not gzip at all", "Content-Encoding: gzip\r\n"));
    }
    return ScriptedServer::Echo(r);
  });
  const Completion br = SendAndWait(MakeRequest("GET", server.Url("/br")));
  EXPECT_EQ(br.response.status, 0);
  EXPECT_EQ(br.response.transport_error.code(), StatusCode::kUnavailable)
      << br.response.transport_error;
  const Completion bad = SendAndWait(MakeRequest("GET", server.Url("/badgzip")));
  EXPECT_EQ(bad.response.status, 0);
  EXPECT_EQ(bad.response.transport_error.code(), StatusCode::kUnavailable)
      << bad.response.transport_error;
  // The framing was fine, so the stream is too.
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/ok"))), 200, "/ok");
}

TEST_F(KeepAliveTransportTest, HeadAnswerHasNoBodyAndTheNextPipelinedAnswerParses) {
  ScriptedServer server([](const Request& r) {
    if (r.method() == "HEAD") return Reply::Answer("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
    return ScriptedServer::Echo(r);
  });
  SendInOneIteration(
      {MakeRequest("HEAD", server.Url("/head")), MakeRequest("GET", server.Url("/next")),
       MakeRequest("HEAD", server.Url("/head2")), MakeRequest("GET", server.Url("/last"))},
      &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(4));
  EXPECT_OK_RESPONSE(recorder_.Get(0), 200, "");
  EXPECT_OK_RESPONSE(recorder_.Get(1), 200, "/next");
  EXPECT_OK_RESPONSE(recorder_.Get(2), 200, "");
  EXPECT_OK_RESPONSE(recorder_.Get(3), 200, "/last");
  EXPECT_EQ(server.accepts(), 1u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 4u);
  EXPECT_EQ(requests[0].request_line(), "HEAD /head HTTP/1.1");
  EXPECT_EQ(ToLower(requests[0].head).find("content-length"), std::string::npos);
}

TEST_F(KeepAliveTransportTest, CloseDelimitedAnswerCompletesAtEof) {
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/http10") {
      return Reply::Answer("HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the end",
                           /*close_after=*/true);
    }
    return Reply::Answer("HTTP/1.1 201 Created\r\n\r\nclose-delimited 1.1", /*close_after=*/true);
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/http10"))), 200, "until the end");
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/http11"))), 201,
                     "close-delimited 1.1");
  EXPECT_EQ(server.accepts(), 2u);
}

TEST_F(KeepAliveTransportTest, ResponseOverTheSizeLimitFails) {
  KeepAliveOptions options;
  options.max_response_bytes = 1000;
  Recreate(options);
  const std::string big(5000, 'x');
  auto gz = nacos_wire::Gzip(big);
  ASSERT_TRUE(gz.ok());
  const std::string bomb = *gz;  // Small on the wire, 5000 bytes once decoded.
  ASSERT_LT(bomb.size(), 1000u);
  ScriptedServer server([big, bomb](const Request& r) {
    if (r.target() == "/big") return Reply::Answer(ScriptedServer::Response(200, big));
    if (r.target() == "/chunked") {
      return Reply::Answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n" + big +
                           "\r\n0\r\n\r\n");
    }
    if (r.target() == "/bomb") {
      return Reply::Answer(ScriptedServer::Response(200, bomb, "Content-Encoding: gzip\r\n"));
    }
    return ScriptedServer::Echo(r);
  });
  for (const char* path : {"/big", "/chunked", "/bomb"}) {
    const Completion c = SendAndWait(MakeRequest("GET", server.Url(path)));
    EXPECT_EQ(c.response.status, 0) << path;
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kUnavailable)
        << path << ": " << c.response.transport_error;
    EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/small"))), 200, "/small");
  }
  const std::string at_limit(1000, 'y');
  ScriptedServer exact([at_limit](const Request&) {
    return Reply::Answer(ScriptedServer::Response(200, at_limit));
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", exact.Url("/exact"))), 200, at_limit);
}

// --- Malformed answers ---------------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, MalformedAnswerFailsThatRequestAndTheNextOneUsesANewConnection) {
  ScriptedServer server([](const Request& r) {
    if (r.index == 0) return Reply::Answer("SMTP ready\r\n\r\n");
    return ScriptedServer::Echo(r);
  });
  const Completion bad = SendAndWait(MakeRequest("GET", server.Url("/bad")));
  EXPECT_EQ(bad.response.status, 0);
  EXPECT_EQ(bad.response.transport_error.code(), StatusCode::kUnavailable)
      << bad.response.transport_error;
  EXPECT_EQ(server.times_seen("/bad"), 1u);
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/good"))), 200, "/good");
  EXPECT_EQ(server.accepts(), 2u);
  EXPECT_TRUE(server.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
}

TEST_F(KeepAliveTransportTest, MalformedAnswerInThePipelineFailsOnlyWhatItCanBlame) {
  // The second of three pipelined answers is garbage: the first succeeds, the second fails, the
  // third (on a connection that had answered) is sent again and succeeds.
  ScriptedServer server([](const Request& r) {
    if (r.index == 1) return Reply::Answer("HTTP/1.1 2x0 Huh\r\n\r\n");
    if (r.index == 2) return Reply::Silent();  // Never answered on the broken connection.
    return ScriptedServer::Echo(r);
  });
  SendInOneIteration({MakeRequest("GET", server.Url(P(0))), MakeRequest("GET", server.Url(P(1))),
                      MakeRequest("GET", server.Url(P(2)))},
                     &recorder_);
  ASSERT_TRUE(recorder_.WaitFor(3));
  EXPECT_OK_RESPONSE(recorder_.Get(0), 200, P(0));
  EXPECT_EQ(recorder_.Get(1).response.transport_error.code(), StatusCode::kUnavailable)
      << recorder_.Get(1).response.transport_error;
  EXPECT_OK_RESPONSE(recorder_.Get(2), 200, P(2));
  EXPECT_EQ(server.times_seen(P(1)), 1u);
  EXPECT_EQ(server.times_seen(P(2)), 2u);
}

TEST_F(KeepAliveTransportTest, UnsolicitedBytesCloseTheIdleConnection) {
  ScriptedServer server([](const Request& r) {
    if (r.index == 0) {
      return Reply::Answer(ScriptedServer::Response(200, "first") +
                           "HTTP/1.1 200 OK\r\nContent-Len");
    }
    return ScriptedServer::Echo(r);
  });
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/first"))), 200, "first");
  ASSERT_TRUE(server.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/second"))), 200, "/second");
  EXPECT_EQ(server.accepts(), 2u);
  // Later, on the idle second connection: a whole unasked-for answer.
  server.SendOn(1, ScriptedServer::Response(200, "surprise"));
  ASSERT_TRUE(server.WaitUntil([](const ScriptedServer::State& s) {
    return s.conns.size() >= 2 && s.conns[1].client_closed;
  }));
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/third"))), 200, "/third");
  EXPECT_EQ(server.accepts(), 3u);
  EXPECT_EQ(recorder_.size(), 0u);
}

// --- Routing -------------------------------------------------------------------------------------

TEST(KeepAliveTransportRoutingTest, HandlesOnlyPlainHttpToAnIpLiteral) {
  EXPECT_TRUE(KeepAliveTransport::Handles("http://127.0.0.1:8848/a"));
  EXPECT_TRUE(KeepAliveTransport::Handles("HTTP://127.0.0.1:8848/a?b=c"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://127.0.0.1/a"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://127.0.0.1:8848"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://127.0.0.1:8848?x=1"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://[::1]:8848/a"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://[::1]/a"));
  EXPECT_TRUE(KeepAliveTransport::Handles("http://10.0.0.1:65535/a"));

  EXPECT_FALSE(KeepAliveTransport::Handles("https://127.0.0.1:1/x"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://localhost:8848/x"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://nacos.example:8848/x"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://user:pw@127.0.0.1:1/"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://user@127.0.0.1:1/"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://127.0.0.1:0/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://127.0.0.1:65536/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://127.0.0.1:/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://127.0.0.1:99999999/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://127.0.0.1:80a/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://[::1]:/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://[::1]x/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://[::1/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://[127.0.0.1]:80/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://::1:8848/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://1.2.3:80/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http:///a"));
  EXPECT_FALSE(KeepAliveTransport::Handles("http://"));
  EXPECT_FALSE(KeepAliveTransport::Handles("ftp://127.0.0.1/a"));
  EXPECT_FALSE(KeepAliveTransport::Handles(""));
}

TEST_F(KeepAliveTransportTest, EverythingElseGoesToTheFallback) {
  const std::vector<std::string> urls = {"https://127.0.0.1:1/x", "http://user:pw@127.0.0.1:1/",
                                         "https://[::1]:1/y"};
  for (size_t i = 0; i < urls.size(); ++i) {
    HttpRequest request = MakeRequest("POST", urls[i]);
    request.body = "b" + std::to_string(i);
    request.headers = {{"X-I", std::to_string(i)}};
    transport_->Send(std::move(request), recorder_.Callback(static_cast<int>(i)));
  }
  ASSERT_EQ(fallback_.sent().size(), urls.size());
  for (size_t i = 0; i < urls.size(); ++i) {
    EXPECT_EQ(fallback_.sent()[i].url, urls[i]);
    EXPECT_EQ(fallback_.sent()[i].method, "POST");
    EXPECT_EQ(fallback_.sent()[i].body, "b" + std::to_string(i));
    ASSERT_EQ(fallback_.sent()[i].headers.size(), 1u);
    EXPECT_EQ(fallback_.sent()[i].headers[0].second, std::to_string(i));
  }
  // The fallback's answers reach the callers as they are.
  fallback_.Reply(200, "from fallback", "10.9.8.7");
  fallback_.Fail(UnavailableError("nope"));
  ASSERT_EQ(recorder_.size(), 2u);
  EXPECT_OK_RESPONSE(recorder_.Get(0), 200, "from fallback");
  EXPECT_EQ(recorder_.Get(0).response.peer_ip, "10.9.8.7");
  EXPECT_EQ(recorder_.Get(1).response.transport_error.code(), StatusCode::kUnavailable);
  // CancelAll reaches the fallback too.
  transport_->CancelAll();
  ASSERT_EQ(recorder_.size(), 3u);
  EXPECT_EQ(recorder_.Get(2).response.transport_error.code(), StatusCode::kCancelled);
  EXPECT_EQ(fallback_.pending(), 0u);
}

// A host name goes through the fallback (which resolves it) until an answer shows its address;
// then straight to that address with the name in Host; a failed connect forgets the address.
class KeepAliveNameTest : public KeepAliveTransportTest {
 protected:
  // The fake fallback is used on the loop thread only (names hop onto the loop).
  size_t FallbackPending() {
    size_t n = 0;
    EXPECT_TRUE(loop_.RunInLoopAndWait([&] { n = fallback_.pending(); }));
    return n;
  }
  bool WaitForFallbackPending(size_t n) {
    const auto deadline = SteadyClock::now() + kWait;
    while (SteadyClock::now() < deadline) {
      if (FallbackPending() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }
  // Sends `url`, sees it reach the fallback, and answers it there from `peer_ip`.
  Completion SendThroughFallback(const std::string& url, const std::string& peer_ip) {
    Recorder recorder(&loop_);
    transport_->Send(MakeRequest("GET", url), recorder.Callback());
    EXPECT_TRUE(WaitForFallbackPending(1));
    EXPECT_TRUE(loop_.RunInLoopAndWait([&] {
      EXPECT_EQ(fallback_.front().url, url);
      fallback_.Reply(200, "via fallback", peer_ip);
    }));
    EXPECT_TRUE(recorder.WaitFor(1));
    auto completions = recorder.completions();
    return completions.empty() ? Completion{} : completions.front();
  }
};

TEST_F(KeepAliveNameTest, ANameGoesDirectOnceTheFallbackShowedItsAddress) {
  ScriptedServer server(&ScriptedServer::Echo);
  const std::string authority = "LocalHost:" + std::to_string(server.port());
  EXPECT_OK_RESPONSE(SendThroughFallback("http://" + authority + "/first", "127.0.0.1"), 200,
                     "via fallback");
  EXPECT_EQ(server.requests().size(), 0u);

  // Direct now (the name's case does not matter), Host as written.
  const Completion c = SendAndWait(MakeRequest("GET", "http://localhost:" +
                                                          std::to_string(server.port()) + "/second"));
  EXPECT_OK_RESPONSE(c, 200, "/second");
  EXPECT_EQ(c.response.peer_ip, "127.0.0.1");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_NE(server.requests()[0].head.find("\r\nHost: localhost:" + std::to_string(server.port()) +
                                          "\r\n"),
            std::string::npos)
      << server.requests()[0].head;
  EXPECT_EQ(FallbackPending(), 0u);
  size_t sent = 0;
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] { sent = fallback_.sent().size(); }));
  EXPECT_EQ(sent, 1u);
}

TEST_F(KeepAliveNameTest, AFallbackFailureTeachesNothing) {
  const std::string url = "http://nacos.example:8848/x";
  Recorder recorder(&loop_);
  transport_->Send(MakeRequest("GET", url), recorder.Callback());
  ASSERT_TRUE(WaitForFallbackPending(1));
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] { fallback_.Fail(UnavailableError("no such host")); }));
  ASSERT_TRUE(recorder.WaitFor(1));
  EXPECT_EQ(recorder.completions()[0].response.transport_error.code(), StatusCode::kUnavailable);
  // The next request goes through the fallback again.
  EXPECT_OK_RESPONSE(SendThroughFallback(url, "127.0.0.1"), 200, "via fallback");
}

TEST_F(KeepAliveNameTest, AFailedConnectForgetsTheAddress) {
  const std::string url = "http://localhost:" + std::to_string(RefusedPort()) + "/x";
  EXPECT_OK_RESPONSE(SendThroughFallback(url, "127.0.0.1"), 200, "via fallback");
  const Completion refused = SendAndWait(MakeRequest("GET", url));  // Direct: refused.
  EXPECT_EQ(refused.response.transport_error.code(), StatusCode::kUnavailable)
      << refused.response.transport_error;
  EXPECT_EQ(FallbackPending(), 0u);
  // Forgotten: the fallback resolves the name again.
  EXPECT_OK_RESPONSE(SendThroughFallback(url, "127.0.0.1"), 200, "via fallback");
}

// --- Invalid requests ----------------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, InvalidRequestsFailWithoutTouchingTheNetwork) {
  ScriptedServer server(&ScriptedServer::Echo);
  std::vector<HttpRequest> bad;
  bad.push_back(MakeRequest("get ", server.Url("/a")));
  bad.push_back(MakeRequest("get", server.Url("/a")));
  HttpRequest injected = MakeRequest("GET", server.Url("/a"));
  injected.headers = {{"X-Test", "a\r\nX-Injected: 1"}};
  bad.push_back(injected);
  HttpRequest bad_name = MakeRequest("GET", server.Url("/a"));
  bad_name.headers = {{"Bad Name", "x"}};
  bad.push_back(bad_name);
  bad.push_back(MakeRequest("GET", server.Url("/a b")));
  for (HttpRequest& request : bad) {
    const std::string what = request.method + " " + request.url;
    const Completion c = SendAndWait(std::move(request));
    EXPECT_EQ(c.response.status, 0) << what;
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kInvalidArgument)
        << what << ": " << c.response.transport_error;
  }
  // Nothing was sent (a valid request afterwards is the first the server sees).
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/valid"))), 200, "/valid");
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].target(), "/valid");
  EXPECT_EQ(fallback_.sent().size(), 0u);
}

// --- Cancellation and lifetime -------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, CancelAllCompletesEverythingBeforeReturning) {
  KeepAliveOptions options;
  options.pipeline_depth = 2;
  options.max_connections_per_server = 1;
  Recreate(options);
  ScriptedServer silent([](const Request&) { return Reply::Silent(); });
  constexpr int kPending = 5;  // Two on the wire, three waiting for a slot.
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(P(i)), 10000), recorder_.Callback(i));
  }
  transport_->Send(MakeRequest("GET", "https://127.0.0.1:1/fallback"), recorder_.Callback(100));
  ASSERT_TRUE(
      silent.WaitUntil([](const ScriptedServer::State& s) { return s.requests.size() >= 2; }));
  transport_->CancelAll();
  const auto completions = recorder_.completions();  // No waiting: CancelAll() waited.
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending + 1));
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.status, 0);
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.tag << ": " << c.response.transport_error;
    if (c.tag != 100) {
      EXPECT_TRUE(c.on_loop_thread);
    }
  }
  EXPECT_EQ(fallback_.pending(), 0u);
  // The connection was closed.
  EXPECT_TRUE(silent.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
  // Still usable afterwards, and nothing completes twice.
  ScriptedServer server(&ScriptedServer::Echo);
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/after"))), 200, "/after");
  EXPECT_EQ(recorder_.size(), static_cast<size_t>(kPending + 1));
}

TEST_F(KeepAliveTransportTest, DestroyingTheTransportCancelsRequestsInFlight) {
  ScriptedServer silent([](const Request&) { return Reply::Silent(); });
  constexpr int kPending = 5;
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(P(i)), kNeverMs), recorder_.Callback(i));
  }
  ASSERT_TRUE(silent.WaitUntil([](const ScriptedServer::State& s) {
    return s.requests.size() >= static_cast<size_t>(kPending);
  }));
  const auto start = SteadyClock::now();
  transport_.reset();
  // It did not wait for the requests' ten-minute timeouts (the bound is a watchdog, far below).
  EXPECT_LT(SteadyClock::now() - start, kWait);
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending));
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.response.transport_error;
    EXPECT_TRUE(c.on_loop_thread);
  }
  EXPECT_TRUE(silent.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
}

TEST_F(KeepAliveTransportTest, StoppingTheLoopCancelsAndLaterSendsCompleteAtOnce) {
  ScriptedServer silent([](const Request&) { return Reply::Silent(); });
  constexpr int kPending = 3;
  for (int i = 0; i < kPending; ++i) {
    transport_->Send(MakeRequest("GET", silent.Url(P(i)), 30000), recorder_.Callback(i));
  }
  ASSERT_TRUE(loop_.RunInLoopAndWait([] {}));
  loop_.Stop();
  auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending));
  for (const Completion& c : completions) {
    EXPECT_EQ(c.response.transport_error.code(), StatusCode::kCancelled)
        << c.response.transport_error;
    EXPECT_TRUE(c.on_loop_thread);  // The stop hook runs on the loop thread.
  }
  // After the stop, Send() completes at once, on the calling thread.
  transport_->Send(MakeRequest("GET", silent.Url("/late")), recorder_.Callback(99));
  completions = recorder_.completions();
  ASSERT_EQ(completions.size(), static_cast<size_t>(kPending + 1));
  EXPECT_EQ(completions.back().tag, 99);
  EXPECT_EQ(completions.back().response.transport_error.code(), StatusCode::kCancelled);
  EXPECT_FALSE(completions.back().on_loop_thread);
  transport_->CancelAll();  // Harmless now.
  transport_.reset();       // Nothing completes twice.
  EXPECT_EQ(recorder_.size(), static_cast<size_t>(kPending + 1));
}

TEST(KeepAliveTransportLifecycleTest, TransportOnAStoppedLoopCancelsAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  loop.Stop();
  testing::FakeHttpTransport fallback;
  KeepAliveTransport transport(&loop, &fallback);
  Recorder recorder(&loop);
  transport.Send(MakeRequest("GET", "http://127.0.0.1:1/x"), recorder.Callback());
  ASSERT_EQ(recorder.size(), 1u);
  EXPECT_EQ(recorder.completions()[0].response.transport_error.code(), StatusCode::kCancelled);
}

TEST_F(KeepAliveTransportTest, SendsFromSeveralThreadsAllComplete) {
  ScriptedServer server(&ScriptedServer::Echo);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int tag = t * kPerThread + i;
        transport_->Send(MakeRequest("GET", server.Url(P(tag))), recorder_.Callback(tag));
      }
    });
  }
  for (auto& sender : senders) sender.join();
  ASSERT_TRUE(recorder_.WaitFor(kThreads * kPerThread));
  for (int tag = 0; tag < kThreads * kPerThread; ++tag) {
    const Completion c = recorder_.Get(tag);
    EXPECT_OK_RESPONSE(c, 200, P(tag));
    EXPECT_TRUE(c.on_loop_thread);
  }
  EXPECT_LE(server.accepts(), 8u);
}

TEST_F(KeepAliveTransportTest, DoneMaySendTheNextRequest) {
  ScriptedServer server(&ScriptedServer::Echo);
  std::promise<HttpResponse> second;
  transport_->Send(MakeRequest("GET", server.Url("/one")), [&](HttpResponse first) {
    EXPECT_EQ(first.body, "/one");
    transport_->Send(MakeRequest("GET", server.Url("/two")),
                     [&](HttpResponse r) { second.set_value(std::move(r)); });
  });
  auto future = second.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  const HttpResponse r = future.get();
  EXPECT_TRUE(r.transport_error.ok()) << r.transport_error;
  EXPECT_EQ(r.body, "/two");
  EXPECT_EQ(server.accepts(), 1u);
}

TEST_F(KeepAliveTransportTest, DoneMayCancelAll) {
  ScriptedServer slow([](const Request&) { return Reply::Silent(); });
  ScriptedServer fast(&ScriptedServer::Echo);
  std::promise<void> cancelled;
  transport_->Send(MakeRequest("GET", slow.Url("/slow"), 30000), recorder_.Callback(1));
  ASSERT_TRUE(slow.WaitUntil([](const ScriptedServer::State& s) { return !s.requests.empty(); }));
  transport_->Send(MakeRequest("GET", fast.Url("/fast")), [&](HttpResponse r) {
    EXPECT_EQ(r.body, "/fast");
    transport_->CancelAll();  // On the loop thread, from inside a completion.
    cancelled.set_value();
  });
  auto future = cancelled.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(recorder_.WaitFor(1));
  EXPECT_EQ(recorder_.completions()[0].response.transport_error.code(), StatusCode::kCancelled);
}

TEST_F(KeepAliveTransportTest, DoneMayDestroyTheTransport) {
  // Pipelined on one connection: the first answer's callback destroys the transport while the
  // transport is still handling that connection's input (a second answer arrives with it).
  ScriptedServer server([](const Request& r) {
    if (r.target() == "/slow") return Reply::Silent();
    return ScriptedServer::Echo(r);
  });
  std::promise<void> destroyed;
  std::atomic<int> calls{0};
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] {
    transport_->Send(MakeRequest("GET", server.Url("/a")), [&](HttpResponse r) {
      ++calls;
      EXPECT_EQ(r.body, "/a");
      transport_.reset();  // On the loop thread, from inside a completion.
      destroyed.set_value();
    });
    transport_->Send(MakeRequest("GET", server.Url("/b")), recorder_.Callback(2));
    transport_->Send(MakeRequest("GET", server.Url("/slow"), 30000), recorder_.Callback(3));
  }));
  auto future = destroyed.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(recorder_.WaitFor(2));
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(transport_, nullptr);
  // "/b" was answered in the same read as "/a", or cancelled; "/slow" was cancelled. Exactly once
  // each.
  const auto completions = recorder_.completions();
  ASSERT_EQ(completions.size(), 2u);
  const Completion b = recorder_.Get(2);
  if (b.response.transport_error.ok()) {
    EXPECT_EQ(b.response.body, "/b");
  } else {
    EXPECT_EQ(b.response.transport_error.code(), StatusCode::kCancelled);
  }
  EXPECT_EQ(recorder_.Get(3).response.transport_error.code(), StatusCode::kCancelled);
  // The loop is fine.
  EXPECT_TRUE(loop_.RunInLoopAndWait([] {}));
}

TEST_F(KeepAliveTransportTest, DoneMayDestroyTheTransportOnATimeout) {
  std::promise<void> destroyed;
  ScriptedServer silent([](const Request&) { return Reply::Silent(); });
  transport_->Send(MakeRequest("GET", silent.Url("/t"), 100), [&](HttpResponse r) {
    EXPECT_EQ(r.transport_error.code(), StatusCode::kDeadlineExceeded);
    transport_.reset();
    destroyed.set_value();
  });
  transport_->Send(MakeRequest("GET", silent.Url("/u"), 30000), recorder_.Callback(1));
  auto future = destroyed.get_future();
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  ASSERT_TRUE(recorder_.WaitFor(1));
  EXPECT_EQ(recorder_.completions()[0].response.transport_error.code(), StatusCode::kCancelled);
}

// --- Idle connections ----------------------------------------------------------------------------

TEST_F(KeepAliveTransportTest, IdleConnectionIsClosedByTheClient) {
  KeepAliveOptions options;
  options.idle_timeout_ms = 100;
  Recreate(options);
  ScriptedServer server(&ScriptedServer::Echo);
  // A request timeout that cannot run out: the idle timeout must not wait for it, so the close
  // comes within the watchdog (kWait), far below the request timeout.
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/one"), kNeverMs)), 200, "/one");
  ASSERT_TRUE(server.WaitUntil(
      [](const ScriptedServer::State& s) { return !s.conns.empty() && s.conns[0].client_closed; }));
  EXPECT_OK_RESPONSE(SendAndWait(MakeRequest("GET", server.Url("/two"), 5000)), 200, "/two");
  EXPECT_EQ(server.accepts(), 2u);
}

TEST_F(KeepAliveTransportTest, SlowAnswerIsNotMistakenForAnIdleConnection) {
  KeepAliveOptions options;
  options.idle_timeout_ms = 100;
  Recreate(options);
  ScriptedServer server([](const Request&) { return Reply::Silent(); });
  transport_->Send(MakeRequest("GET", server.Url("/slow"), 5000), recorder_.Callback(1));
  ASSERT_TRUE(server.WaitUntil([](const ScriptedServer::State& s) { return !s.requests.empty(); }));
  // Let several idle periods pass with the request outstanding (this sleep sets up the scenario;
  // the assertions below do not depend on its length).
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(recorder_.size(), 0u);
  server.SendOn(0, ScriptedServer::Response(200, "late but fine"));
  ASSERT_TRUE(recorder_.WaitFor(1));
  EXPECT_OK_RESPONSE(recorder_.Get(1), 200, "late but fine");
  EXPECT_EQ(server.accepts(), 1u);
}

}  // namespace
}  // namespace dubbo::registry::nacos
