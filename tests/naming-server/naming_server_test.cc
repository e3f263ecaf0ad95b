// NamingServer over real loopback sockets: HTTP on port 0, UDP push and ack, request limits, a flood
// of garbage, and the executable's start line and signal handling. Endpoint semantics are covered
// socket-free in naming_core_test.cc; this file checks the shell around them.
#include "dubbo/naming_server/naming_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dubbo/registry/url.h"
#include "nacos_grpc_client.h"
#include "push_service.h"
#include "testing/http_client.h"
#include "testing/temp_dir.h"

namespace dubbo::naming_server {
namespace {

// A watchdog for what should happen promptly: only a broken server takes this long, however loaded
// the machine and however much a sanitizer slows it.
constexpr auto kWatchdog = std::chrono::seconds(60);

using nacos_grpc::NacosGrpcClient;
using registry::URL;
using registry::testing::BindUdpLoopback;
using registry::testing::HttpRequest;
using registry::testing::HttpResult;
using registry::testing::RawExchange;
using registry::testing::ReceiveDatagram;
using registry::testing::TempDir;

constexpr char kJavaAgent[] = "Nacos-Java-Client:v1.4.8";

std::unique_ptr<NamingServer> StartServer(NamingServerOptions options = {}) {
  options.port = 0;
  auto server = NamingServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

std::string RegisterTarget(const std::string& ip, int port) {
  return "/nacos/v1/ns/instance?serviceName=demo&ip=" + ip + "&port=" + std::to_string(port);
}

TEST(NamingServerTest, ListensOnAPickedPortAndAnswers) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_NE(server->port(), 0);
  EXPECT_NE(server->udp_port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
  HttpResult metrics = HttpRequest(server->port(), "GET", "/nacos/v1/ns/operator/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("\"status\":\"UP\""), std::string::npos) << metrics.body;
}

TEST(NamingServerTest, ParametersFromQueryAndFormBodyBothWork) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(HttpRequest(server->port(), "POST", RegisterTarget("10.0.0.1", 80)).body, "ok");
  EXPECT_EQ(HttpRequest(server->port(), "POST", "/nacos/v1/ns/instance",
                        "serviceName=demo&ip=10.0.0.2&port=80&metadata=%7B%22k%22%3A%22v%20w%22%7D")
                .body,
            "ok");
  HttpResult list = HttpRequest(server->port(), "GET", "/nacos/v1/ns/instance/list?serviceName=demo");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("10.0.0.1"), std::string::npos);
  EXPECT_NE(list.body.find("\"k\":\"v w\""), std::string::npos) << list.body;
  EXPECT_EQ(server->stats().instances, 2u);
}

TEST(NamingServerTest, PushesOverUdpToTheRequestSourceAndCountsTheAck) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  uint16_t udp_port = 0;
  const int udp = BindUdpLoopback(&udp_port);
  ASSERT_GE(udp, 0);
  ASSERT_EQ(HttpRequest(server->port(), "POST", RegisterTarget("10.0.0.1", 80)).body, "ok");
  // clientIP names another host: by default the push still goes to the request's source.
  HttpResult list = HttpRequest(server->port(), "GET",
                                "/nacos/v1/ns/instance/list?serviceName=demo&clientIP=192.0.2.1&udpPort=" +
                                    std::to_string(udp_port),
                                {}, {{"User-Agent", kJavaAgent}});
  ASSERT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"cacheMillis\":10000"), std::string::npos) << list.body;

  auto receive_and_ack = [&](int expected_hosts) {
    std::string datagram;
    sockaddr_in from{};
    ASSERT_TRUE(ReceiveDatagram(udp, 5000, &datagram, &from)) << "no push within 5 s";
    EXPECT_EQ(ntohs(from.sin_port), server->udp_port());
    registry::Result<PushPacket> packet = ParsePushPacket(datagram);
    ASSERT_TRUE(packet.ok()) << packet.status();
    EXPECT_EQ(packet->type, "dom");
    size_t hosts = 0;
    for (size_t at = packet->data.find("\"ip\":"); at != std::string::npos;
         at = packet->data.find("\"ip\":", at + 1)) {
      ++hosts;
    }
    EXPECT_EQ(hosts, static_cast<size_t>(expected_hosts)) << packet->data;
    const std::string ack = BuildPushAck(packet->last_ref_time);
    ASSERT_EQ(::sendto(udp, ack.data(), ack.size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof(from)),
              static_cast<ssize_t>(ack.size()));
  };
  receive_and_ack(1);  // The push on subscription.
  ASSERT_EQ(HttpRequest(server->port(), "POST", RegisterTarget("10.0.0.2", 80)).body, "ok");
  receive_and_ack(2);  // The change, pushed at once.

  // The acks arrive asynchronously; the push state reports them. It has no event to wait on, so
  // ask until it does, under a watchdog that only a lost ack runs into.
  std::string state;
  const auto until = std::chrono::steady_clock::now() + kWatchdog;
  while (std::chrono::steady_clock::now() < until) {
    state = HttpRequest(server->port(), "GET", "/nacos/v1/ns/operator/push/state").body;
    if (state.find("\"succeed\":2") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_NE(state.find("\"succeed\":2"), std::string::npos) << state;
  ::close(udp);
}

TEST(NamingServerTest, OversizedRequestsAreRefused) {
  NamingServerOptions options;
  options.max_body_bytes = 1024;
  options.max_header_bytes = 1024;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  HttpResult big_body = HttpRequest(server->port(), "POST", "/nacos/v1/ns/instance",
                                    "serviceName=demo&ip=10.0.0.1&port=80&app=" + std::string(4096, 'a'));
  EXPECT_EQ(big_body.status, 413);
  HttpResult big_header = HttpRequest(server->port(), "GET", "/nacos/v1/ns/operator/metrics", {},
                                      {{"X-Filler", std::string(4096, 'b')}});
  EXPECT_NE(big_header.status, 200);
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/ns/operator/metrics").status, 200);
}

TEST(NamingServerTest, AFloodOfGarbageLeavesItAnsweringCorrectly) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::mt19937 rng(20261121);
  const std::string fixed[] = {
      "\r\n\r\n",
      "GET\r\n\r\n",
      "BREW /pot HTTP/1.1\r\n\r\n",
      "GET /nacos/v1/ns/instance/list?serviceName=%zz HTTP/1.1\r\nHost: x\r\n\r\n",
      "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "POST /nacos/v1/ns/instance HTTP/1.1\r\nContent-Length: -5\r\n\r\nabc",
      "PUT /nacos/v1/ns/instance/beat?serviceName=demo&beat=%7B%7B%7B%7B HTTP/1.1\r\n\r\n",
      "GET /nacos/v1/ns/instance/list?serviceName=" + std::string(20000, 'x') + " HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\n" + std::string(500, 'h') + ": x\r\n\r\n",
      "POST /nacos/v1/ns/instance?serviceName=demo&ip=1.2.3.4&port=1&metadata=" +
          std::string(200, '[') + " HTTP/1.1\r\n\r\n",
  };
  for (const std::string& raw : fixed) RawExchange(server->port(), raw);
  for (int i = 0; i < 150; ++i) {
    std::string junk(1 + rng() % 600, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 3 == 0) junk = "GET /nacos/v1/ns/" + junk + " HTTP/1.1\r\n\r\n";
    RawExchange(server->port(), junk);
  }
  // And hostile datagrams on the push socket.
  uint16_t unused = 0;
  const int udp = BindUdpLoopback(&unused);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(server->udp_port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int i = 0; i < 200; ++i) {
    std::string junk(rng() % 2000, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (i % 4 == 0) junk = "\x1f\x8b" + junk;
    ::sendto(udp, junk.data(), junk.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  }
  ::close(udp);

  EXPECT_EQ(HttpRequest(server->port(), "POST", RegisterTarget("10.0.0.9", 9)).body, "ok");
  HttpResult list = HttpRequest(server->port(), "GET", "/nacos/v1/ns/instance/list?serviceName=demo");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("10.0.0.9"), std::string::npos);
  EXPECT_EQ(server->stats().instances, 1u);
}

// Reads from `fd` until `n` complete responses (with Content-Length) have arrived or the watchdog
// runs out.
std::vector<HttpResult> ReadResponses(int fd, size_t n, std::string* rest = nullptr) {
  std::string data;
  std::vector<HttpResult> out;
  const auto deadline = std::chrono::steady_clock::now() + kWatchdog;
  size_t pos = 0;
  while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
    const size_t head_end = data.find("\r\n\r\n", pos);
    if (head_end != std::string::npos) {
      const std::string head = data.substr(pos, head_end - pos);
      const bool interim = head.rfind("HTTP/1.1 100 ", 0) == 0;
      const size_t cl = head.find("Content-Length: ");
      const size_t length = interim || cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      if (data.size() >= head_end + 4 + length) {
        HttpResult r = registry::testing::ParseHttpResponse(head + "\r\n\r\n");
        r.body = data.substr(head_end + 4, length);
        out.push_back(r);
        pos = head_end + 4 + length;
        continue;
      }
    }
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[65536];
    const ssize_t got = ::recv(fd, buf, sizeof(buf), 0);
    if (got <= 0) break;
    data.append(buf, static_cast<size_t>(got));
  }
  if (rest != nullptr) *rest = data.substr(pos);
  return out;
}

TEST(NamingServerTest, KeepAlivePipeliningAndHttp10OverOneSocket) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int fd = registry::testing::ConnectLoopback(server->port());
  ASSERT_GE(fd, 0);
  std::string burst;
  for (int i = 0; i < 20; ++i) {
    const std::string body = "serviceName=demo&ip=10.0.1." + std::to_string(i) + "&port=80";
    burst += "POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: x\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    burst += "GET /nacos/v1/console/health/liveness HTTP/1.1\r\n\r\n";
  }
  ASSERT_TRUE(registry::testing::SendAll(fd, burst));
  std::vector<HttpResult> replies = ReadResponses(fd, 40);
  ASSERT_EQ(replies.size(), 40u);
  for (size_t i = 0; i < replies.size(); ++i) {
    EXPECT_EQ(replies[i].status, 200);
    EXPECT_EQ(replies[i].body, i % 2 == 0 ? "ok" : "OK");
  }
  // HEAD: headers only, on the same connection.
  ASSERT_TRUE(registry::testing::SendAll(fd, "HEAD /nacos/v1/console/health/liveness HTTP/1.1\r\n\r\n"
                                              "GET /nacos/v1/console/health/liveness HTTP/1.1\r\n\r\n"));
  std::string rest;
  replies = ReadResponses(fd, 1, &rest);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].status, 200);
  // The HEAD answer announces Content-Length: 2 but has no body: the two bytes read as its body
  // are the start of the GET's answer.
  EXPECT_EQ(replies[0].body, "HT");
  ::close(fd);
  EXPECT_EQ(server->stats().instances, 20u);

  // HTTP/1.0 without keep-alive: answered, then closed by the server.
  const int old = registry::testing::ConnectLoopback(server->port());
  ASSERT_GE(old, 0);
  ASSERT_TRUE(registry::testing::SendAll(old, "GET /nacos/v1/console/health/liveness HTTP/1.0\r\n\r\n"));
  const std::string all = registry::testing::ReadAll(old);  // returns at EOF
  EXPECT_EQ(all.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << all;
  EXPECT_NE(all.find("Connection: close"), std::string::npos);
  ::close(old);
}

TEST(NamingServerTest, ExpectContinueChunkedBodiesAndUnknownMethods) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int fd = registry::testing::ConnectLoopback(server->port());
  ASSERT_GE(fd, 0);
  const std::string body = "serviceName=demo&ip=10.0.2.1&port=81&metadata=" + std::string(1500, 'x');
  ASSERT_TRUE(registry::testing::SendAll(
      fd, "POST /nacos/v1/ns/instance HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: "
          "application/x-www-form-urlencoded\r\nContent-Length: " +
              std::to_string(body.size()) + "\r\n\r\n"));
  std::vector<HttpResult> interim = ReadResponses(fd, 1);
  ASSERT_EQ(interim.size(), 1u);
  EXPECT_EQ(interim[0].status, 100);
  ASSERT_TRUE(registry::testing::SendAll(fd, body));
  std::vector<HttpResult> final_reply = ReadResponses(fd, 1);
  ASSERT_EQ(final_reply.size(), 1u);
  EXPECT_EQ(final_reply[0].status, 400);  // metadata "xxx..." is not JSON: the form body was read
  // A chunked body.
  ASSERT_TRUE(registry::testing::SendAll(
      fd, "POST /nacos/v1/ns/instance HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "10\r\nserviceName=demo\r\n17\r\n&ip=10.0.2.2&port=82&x=\r\n0\r\n\r\n"));
  std::vector<HttpResult> chunked = ReadResponses(fd, 1);
  ASSERT_EQ(chunked.size(), 1u);
  EXPECT_EQ(chunked[0].body, "ok");
  EXPECT_EQ(server->stats().instances, 1u);
  // A method outside the allow-list: 501 and the connection is closed.
  ASSERT_TRUE(registry::testing::SendAll(fd, "OPTIONS / HTTP/1.1\r\n\r\n"));
  const std::string tail = registry::testing::ReadAll(fd);
  EXPECT_EQ(tail.rfind("HTTP/1.1 501 Not Implemented\r\n", 0), 0u) << tail;
  ::close(fd);
}

TEST(NamingServerTest, APeerThatDoesNotReadIsNotReadEither) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(HttpRequest(server->port(), "POST", RegisterTarget("10.0.3." + std::to_string(i), 80)).body,
              "ok");
  }
  const int fd = registry::testing::ConnectLoopback(server->port());
  ASSERT_GE(fd, 0);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  const std::string one = "GET /nacos/v1/ns/instance/list?serviceName=demo HTTP/1.1\r\n\r\n";
  std::string many;
  for (int i = 0; i < 2000; ++i) many += one;
  // Send without reading; the server must stop reading once its answers back up (so the send
  // eventually blocks: use a non-blocking send and just stop when the socket is full).
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  size_t sent = 0;
  for (int spins = 0; sent < many.size() && spins < 200; ++spins) {
    const ssize_t n = ::send(fd, many.data() + sent, many.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  // Another client is served meanwhile.
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/console/health/liveness").status, 200);
  ::close(fd);
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/console/health/liveness").status, 200);
}

TEST(NamingServerTest, StopIsIdempotentWithConnectionsStillOpen) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const int idle = registry::testing::ConnectLoopback(server->port());
  ASSERT_GE(idle, 0);
  registry::testing::SendAll(idle, "GET /nacos/v1/ns/operator/metrics HTTP/1.1\r\n");  // never finished
  server->Stop();
  server->Stop();
  ::close(idle);
  EXPECT_EQ(registry::testing::ConnectLoopback(server->port(), 200), -1) << "still listening";
}

TEST(NamingServerTest, RefusesAPortInUse) {
  auto first = StartServer();
  ASSERT_NE(first, nullptr);
  NamingServerOptions options;
  options.port = first->port();
  auto second = NamingServer::Start(options);
  EXPECT_EQ(second.status().code(), registry::StatusCode::kUnavailable);
}

std::string LoginRequest(const std::string& password) {
  const std::string body = "password=" + password;
  return "POST /nacos/v1/auth/users/login?username=nacos HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "Connection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n"
         "Content-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(NamingServerAuthTest, TheSixthFailedLoginFromAnAddressIsAnswered429) {
  NamingServerOptions options;
  options.auth_enabled = true;
  options.password = "s3cret-pw";
  // Far longer than the test, whatever the machine's load.
  options.login_backoff_ms = 3600 * 1000;
  options.login_max_backoff_ms = options.login_backoff_ms;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  for (int i = 0; i < 5; ++i) {
    const std::string reply = RawExchange(server->port(), LoginRequest("wrong"), "127.0.0.1");
    EXPECT_EQ(reply.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << reply;
  }
  std::string reply = RawExchange(server->port(), LoginRequest("s3cret-pw"), "127.0.0.1");
  EXPECT_EQ(reply.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << reply;
  // 3600 s rounded up, or one less when a second passed since the failure (a loaded machine).
  EXPECT_TRUE(reply.find("retry after 3600 s") != std::string::npos ||
              reply.find("retry after 3599 s") != std::string::npos)
      << reply;
  // The same password over the same server, from another address.
  reply = RawExchange(server->port(), LoginRequest("s3cret-pw"), "127.0.0.2");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"accessToken\":"), std::string::npos) << reply;
}

TEST(NamingServerAuthTest, WhileTheThrottleTableIsFullNewAddressesAre429) {
  NamingServerOptions options;
  options.auth_enabled = true;
  options.password = "s3cret-pw";
  options.login_throttle_max_addresses = 1;
  options.login_max_backoff_ms = 3600 * 1000;  // Far longer than the test: nothing is forgotten.
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::string reply = RawExchange(server->port(), LoginRequest("wrong"), "127.0.0.1");
  ASSERT_EQ(reply.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << reply;
  reply = RawExchange(server->port(), LoginRequest("s3cret-pw"), "127.0.0.2");
  EXPECT_EQ(reply.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0u) << reply;
  EXPECT_TRUE(reply.find("too many failed logins from many addresses; retry after 3600 s") !=
                  std::string::npos ||
              reply.find("too many failed logins from many addresses; retry after 3599 s") !=
                  std::string::npos)
      << reply;
  // The address the table holds is served as usual; its success frees the table.
  reply = RawExchange(server->port(), LoginRequest("s3cret-pw"), "127.0.0.1");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  reply = RawExchange(server->port(), LoginRequest("s3cret-pw"), "127.0.0.2");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
}

TEST(NamingServerAuthTest, StartRangeChecksTheThrottleAndTokenOptions) {
  NamingServerOptions options;
  options.port = 0;
  const auto refused = [&options] {
    return NamingServer::Start(options).status().code() == registry::StatusCode::kInvalidArgument;
  };
  options.login_free_failures = std::numeric_limits<int>::max();
  EXPECT_TRUE(refused());
  options.login_free_failures = 1000000;
  EXPECT_FALSE(refused());
  options.login_free_failures = 0;
  EXPECT_TRUE(refused());
  options.login_free_failures = 5;
  options.login_throttle_max_addresses = 1000001;
  EXPECT_TRUE(refused());
  options.login_throttle_max_addresses = 0;
  EXPECT_TRUE(refused());
  options.login_throttle_max_addresses = 1000000;
  options.login_backoff_ms = 0;
  EXPECT_TRUE(refused());
  options.login_backoff_ms = 1000;
  options.login_max_backoff_ms = 999;
  EXPECT_TRUE(refused());
  options.login_max_backoff_ms = (int64_t{1} << 40) + 1;
  EXPECT_TRUE(refused());
  options.login_max_backoff_ms = int64_t{1} << 40;
  EXPECT_FALSE(refused());
  options.max_tokens = 0;
  EXPECT_TRUE(refused());
  options.max_tokens = 1000001;
  EXPECT_TRUE(refused());
  options.max_tokens = 1000000;
  EXPECT_FALSE(refused());
}

TEST(NamingServerAuthTest, StartRefusesTheDefaultOrAnEmptyPasswordUnlessAllowed) {
  NamingServerOptions options;
  options.port = 0;
  options.auth_enabled = true;
  auto refused = NamingServer::Start(options);  // password "nacos"
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), registry::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().ToString().find("allow_default_password"), std::string::npos)
      << refused.status();
  options.password = "";
  EXPECT_EQ(NamingServer::Start(options).status().code(), registry::StatusCode::kInvalidArgument);

  options.allow_default_password = true;
  EXPECT_TRUE(NamingServer::Start(options).ok());
  options.password = "nacos";
  EXPECT_TRUE(NamingServer::Start(options).ok());
  options.allow_default_password = false;
  options.auth_enabled = false;  // Without auth the password guards nothing.
  EXPECT_TRUE(NamingServer::Start(options).ok());
}

// The executable, started with `args` and the environment variables `env` ("NAME=value") on top
// of ours minus the password variables. Its stdout and stderr are read through pipes.
class ServerProcess {
 public:
  ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {}) {
    // Built before fork(): the child only redirects and execs.
    std::vector<char*> argv = {const_cast<char*>("naming-server")};
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** variable = environ; *variable != nullptr; ++variable) {
      const std::string_view text = *variable;
      if (text.rfind("NAMING_SERVER_PASSWORD=", 0) != 0 &&
          text.rfind("NACOS_AUTH_PASSWORD=", 0) != 0) {
        envp.push_back(*variable);
      }
    }
    for (std::string& variable : env) envp.push_back(variable.data());
    envp.push_back(nullptr);
    int out[2];
    int err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      for (int fd : {out[0], out[1], err[0], err[1]}) ::close(fd);
      ::execve(NAMING_SERVER_BINARY, argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = ::fdopen(out[0], "r");
    err_fd_ = err[0];
    char line[256] = {0};
    if (pid_ > 0 && out_ != nullptr && std::fgets(line, sizeof(line), out_) != nullptr) {
      first_line_ = line;
      const size_t colon = first_line_.rfind(':');
      if (colon != std::string::npos) port_ = static_cast<uint16_t>(std::atoi(line + colon + 1));
    }
  }
  ~ServerProcess() {
    if (pid_ > 0 && !exited_) Stop();
    if (out_ != nullptr) std::fclose(out_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  const std::string& first_line() const { return first_line_; }
  uint16_t port() const { return port_; }
  // The next line on stdout, with its '\n'; "" at the end of the output (the process exited).
  std::string NextLine() {
    char line[256] = {0};
    if (out_ == nullptr || std::fgets(line, sizeof(line), out_) == nullptr) return "";
    return line;
  }
  FILE* out() const { return out_; }

  // SIGTERM (unless it already exited), then its wait status; stderr is read to the end.
  int Stop() {
    if (!exited_) ::kill(pid_, SIGTERM);
    return Wait();
  }
  // Waits for the exit, under the watchdog (SIGKILL past it). Returns the wait status.
  int Wait() {
    if (exited_) return status_;
    const auto until = std::chrono::steady_clock::now() + kWatchdog;
    while (!exited_ && std::chrono::steady_clock::now() < until) {
      exited_ = ::waitpid(pid_, &status_, WNOHANG) == pid_;
      if (!exited_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited_) {
      ADD_FAILURE() << "naming-server did not exit";
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      exited_ = true;
    }
    char buf[4096];
    for (ssize_t n; (n = ::read(err_fd_, buf, sizeof(buf))) > 0;) {
      stderr_.append(buf, static_cast<size_t>(n));
    }
    return status_;
  }
  // What it wrote on stderr (after Stop() or Wait()).
  const std::string& stderr_text() const { return stderr_; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  int err_fd_ = -1;
  std::string first_line_;
  uint16_t port_ = 0;
  bool exited_ = false;
  int status_ = 0;
  std::string stderr_;
};

// The executable: its ready lines on stdout, HTTP first, then gRPC on the HTTP port + 1000, where
// a grpc++ client is served; SIGTERM sends that client ConnectReset and ends the process with exit
// code 0.
TEST(NamingServerBinaryTest, PrintsItsListenersAndStopsOnSigterm) {
  ServerProcess process({"--port", "0"});
  const std::string& text = process.first_line();
  EXPECT_EQ(text.rfind("naming-server listening on http://127.0.0.1:", 0), 0u) << text;
  ASSERT_NE(process.port(), 0) << text;
  const uint16_t grpc_port = static_cast<uint16_t>(process.port() + 1000);
  EXPECT_EQ(process.NextLine(),
            "naming-server grpc on 127.0.0.1:" + std::to_string(grpc_port) + "\n");
  EXPECT_EQ(HttpRequest(process.port(), "GET", "/nacos/v1/console/health/liveness").status, 200);
  NacosGrpcClient client(grpc_port);
  const std::string id = client.ServerCheck();
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9]+_127\\.0\\.0\\.1_[0-9]+"))) << id;
  client.Setup();

  const int status = process.Stop();
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(client.Next().type, "ConnectResetRequest");
  EXPECT_EQ(process.NextLine(), "") << "more than two lines";
}

// --no-grpc: v1 only, and no gRPC line.
TEST(NamingServerBinaryTest, NoGrpcServesV1AndPrintsOneLine) {
  ServerProcess process({"--port", "0", "--no-grpc"});
  const std::string& text = process.first_line();
  EXPECT_EQ(text.rfind("naming-server listening on http://127.0.0.1:", 0), 0u) << text;
  EXPECT_EQ(HttpRequest(process.port(), "GET", "/nacos/v1/console/health/liveness").status, 200);
  EXPECT_EQ(WEXITSTATUS(process.Stop()), 0);
  EXPECT_EQ(process.NextLine(), "") << "more than one line";
}

TEST(NamingServerBinaryTest, GrpcPortOffsetMovesTheGrpcPort) {
  ServerProcess process({"--port", "0", "--grpc-port-offset", "7"});
  ASSERT_NE(process.port(), 0) << process.first_line();
  const uint16_t grpc_port = static_cast<uint16_t>(process.port() + 7);
  EXPECT_EQ(process.NextLine(),
            "naming-server grpc on 127.0.0.1:" + std::to_string(grpc_port) + "\n");
  NacosGrpcClient client(grpc_port);
  EXPECT_NE(client.ServerCheck(), "");
}

// 200 when `password` logs in to the server on `port`.
int LoginStatus(uint16_t port, const std::string& password) {
  return HttpRequest(port, "POST", "/nacos/v1/auth/users/login?username=nacos",
                     "password=" + password)
      .status;
}

TEST(NamingServerBinaryTest, ReadsThePasswordFromAFileFirstThenTheEnvironment) {
  TempDir dir;
  const std::string file = dir.File("password");
  std::ofstream(file) << "from-file-pw\nsecond line\n";
  ASSERT_EQ(::chmod(file.c_str(), 0600), 0);
  {
    ServerProcess process({"--port", "0", "--auth", "--password-file", file},
                          {"NAMING_SERVER_PASSWORD=from-env-pw"});
    ASSERT_NE(process.port(), 0) << process.first_line();
    EXPECT_EQ(LoginStatus(process.port(), "from-env-pw"), 403);
    EXPECT_EQ(LoginStatus(process.port(), "from-file-pw"), 200);
    EXPECT_EQ(WEXITSTATUS(process.Stop()), 0);
    EXPECT_EQ(process.stderr_text().find("readable"), std::string::npos) << process.stderr_text();
  }
  {
    ServerProcess process(
        {"--port", "0", "--auth", "--password", "from-flag-pw"},
        {"NAMING_SERVER_PASSWORD=from-env-pw", "NACOS_AUTH_PASSWORD=nacos-env-pw"});
    ASSERT_NE(process.port(), 0) << process.first_line();
    EXPECT_EQ(LoginStatus(process.port(), "from-flag-pw"), 403);
    EXPECT_EQ(LoginStatus(process.port(), "nacos-env-pw"), 403);
    EXPECT_EQ(LoginStatus(process.port(), "from-env-pw"), 200);
    process.Stop();
    EXPECT_NE(process.stderr_text().find("--password is visible"), std::string::npos)
        << process.stderr_text();
    EXPECT_EQ(process.stderr_text().find("from-"), std::string::npos) << process.stderr_text();
  }
  {
    ServerProcess process({"--port", "0", "--auth", "--password", "from-flag-pw"},
                          {"NACOS_AUTH_PASSWORD=nacos-env-pw"});
    ASSERT_NE(process.port(), 0) << process.first_line();
    EXPECT_EQ(LoginStatus(process.port(), "nacos-env-pw"), 200);
  }
  {
    ServerProcess process({"--port", "0", "--auth", "--password", "from-flag-pw"});
    ASSERT_NE(process.port(), 0) << process.first_line();
    EXPECT_EQ(LoginStatus(process.port(), "from-flag-pw"), 200);
  }
}

TEST(NamingServerBinaryTest, WarnsOfAReadablePasswordFileAndRefusesBadOnes) {
  TempDir dir;
  const std::string file = dir.File("password");
  std::ofstream(file) << "crlf-pw\r\n";
  ASSERT_EQ(::chmod(file.c_str(), 0644), 0);
  {
    ServerProcess process({"--port", "0", "--auth", "--password-file", file});
    ASSERT_NE(process.port(), 0) << process.first_line();
    EXPECT_EQ(LoginStatus(process.port(), "crlf-pw"), 200);
    process.Stop();
    EXPECT_NE(process.stderr_text().find("readable by group or others"), std::string::npos)
        << process.stderr_text();
  }
  const std::string empty = dir.File("empty");
  std::ofstream(empty) << "\n";
  for (const std::string& path : {empty, dir.File("missing"), dir.path()}) {
    ServerProcess process({"--port", "0", "--auth", "--password-file", path});
    EXPECT_EQ(process.first_line(), "");
    const int status = process.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << path << ": " << status;
    EXPECT_NE(process.stderr_text().find("--password-file"), std::string::npos)
        << process.stderr_text();
  }
}

TEST(NamingServerBinaryTest, RefusesTheDefaultPasswordWithAuthUnlessAllowed) {
  {
    ServerProcess process({"--port", "0", "--auth"});
    EXPECT_EQ(process.first_line(), "");
    const int status = process.Wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status;
    EXPECT_NE(process.stderr_text().find("--allow-default-password"), std::string::npos)
        << process.stderr_text();
  }
  ServerProcess process({"--port", "0", "--auth", "--allow-default-password"});
  ASSERT_NE(process.port(), 0) << process.first_line();
  EXPECT_EQ(LoginStatus(process.port(), "nacos"), 200);
}

// Through the real HTTP layer: refusals arrive with their text, and the metrics and stats count
// what is held.
TEST(NamingServerTest, InvalidUtf8AndAnswersOverTheCapAreRefused) {
  NamingServerOptions options;
  options.max_answer_bytes = 2000;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  HttpResult refused =
      HttpRequest(server->port(), "POST", "/nacos/v1/ns/instance",
                  "serviceName=demo&ip=10.0.0.1&port=80&metadata=%7B%22k%22%3A%22%FF%22%7D");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "Param 'metadata' is not valid UTF-8");
  EXPECT_EQ(server->stats().instances, 0u);
  EXPECT_EQ(server->stats().bytes_held, 0u);

  ASSERT_EQ(
      HttpRequest(
          server->port(), "POST",
          "/nacos/v1/ns/"
          "instance?serviceName=demo&ip=10.0.0.1&port=80&metadata=%7B%22k%22%3A%22%C3%A9%22%7D")
          .body,
      "ok");
  EXPECT_GT(server->stats().bytes_held, 0u);
  HttpResult list =
      HttpRequest(server->port(), "GET", "/nacos/v1/ns/instance/list?serviceName=demo");
  EXPECT_EQ(list.status, 200);
  EXPECT_NE(list.body.find("\"k\":\"\xc3\xa9\""), std::string::npos) << list.body;
  // A cached answer, sent from the shared body, arrives whole.
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/ns/instance/list?serviceName=demo").body,
            list.body);

  // The registration that would take the answer past the cap is refused; readers are not.
  const std::string big = "%7B%22k%22%3A%22" + std::string(2500, 'v') + "%22%7D";
  refused = HttpRequest(server->port(), "POST", "/nacos/v1/ns/instance",
                        "serviceName=demo&ip=10.0.0.2&port=80&metadata=" + big);
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("(max 2000, max_answer_bytes, --max-answer-bytes)"),
            std::string::npos)
      << refused.body;
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/ns/instance/list?serviceName=demo").body,
            list.body);
  // An answer made too large by its echoed fields alone is 413.
  list = HttpRequest(server->port(), "GET",
                     "/nacos/v1/ns/instance/list?serviceName=demo&env=" + std::string(2000, 'e'));
  EXPECT_EQ(list.status, 413);
  EXPECT_NE(list.body.find("(max 2000, max_answer_bytes, --max-answer-bytes)"), std::string::npos)
      << list.body;
}

TEST(NamingServerTest, CapsMustBePositiveAndMetadataWithinItsParseCap) {
  NamingServerOptions options;
  options.port = 0;
  options.max_answer_bytes = 0;
  EXPECT_EQ(NamingServer::Start(options).status().code(), registry::StatusCode::kInvalidArgument);
  options.max_answer_bytes = 1 << 20;
  options.max_metadata_bytes = 65537;
  EXPECT_EQ(NamingServer::Start(options).status().code(), registry::StatusCode::kInvalidArgument);
  options.max_metadata_bytes = 65536;
  EXPECT_TRUE(NamingServer::Start(options).ok());
}

// The exit status of naming-server run with `args` (stderr discarded).
int NamingServerExitStatus(std::vector<const char*> args) {
  args.insert(args.begin(), "naming-server");
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDERR_FILENO);
    ::execv(NAMING_SERVER_BINARY, const_cast<char* const*>(args.data()));
    ::_exit(127);
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// A cap flag needs a positive number: exit code 2 before anything is bound.
TEST(NamingServerBinaryTest, RefusesACapFlagOfZero) {
  EXPECT_EQ(NamingServerExitStatus({"--port", "0", "--max-answer-bytes", "0"}), 2);
}

// The flags refuse, as usage errors (2), the values Start() would refuse (1).
TEST(NamingServerBinaryTest, RefusesCapFlagsAboveStartsLimits) {
  EXPECT_EQ(NamingServerExitStatus({"--port", "0", "--grpc-max-message-bytes", "1073741825"}), 2);
  EXPECT_EQ(NamingServerExitStatus({"--port", "0", "--max-metadata-bytes", "65537"}), 2);
}

TEST(NamingServerTest, StartHoldsTheHttpAndGrpcLimitsToTheirRanges) {
  NamingServerOptions options;
  options.port = 0;
  const auto code = [&options] { return NamingServer::Start(options).status().code(); };
  using registry::StatusCode;
  options.max_body_bytes = kMinHttpLimitBytes - 1;
  EXPECT_EQ(code(), StatusCode::kInvalidArgument);
  options.max_body_bytes = kMaxBodyBytesLimit + 1;
  EXPECT_EQ(code(), StatusCode::kInvalidArgument);
  options.max_body_bytes = kMaxBodyBytesLimit;
  options.max_header_bytes = kMinHttpLimitBytes - 1;
  EXPECT_EQ(code(), StatusCode::kInvalidArgument);
  options.max_header_bytes = kMaxHeaderBytesLimit + 1;
  EXPECT_EQ(code(), StatusCode::kInvalidArgument);
  options.max_header_bytes = kMaxHeaderBytesLimit;
  EXPECT_EQ(code(), StatusCode::kOk);
  options.max_body_bytes = kMinHttpLimitBytes;
  options.max_header_bytes = kMinHttpLimitBytes;
  EXPECT_EQ(code(), StatusCode::kOk);
  options.grpc_max_message_bytes = kMaxGrpcMessageBytesLimit + 1;
  EXPECT_EQ(code(), StatusCode::kInvalidArgument);
  options.grpc_max_message_bytes = kMaxGrpcMessageBytesLimit;
  EXPECT_EQ(code(), StatusCode::kOk);
}

// ------------------------------------------------------------------------------------------------
// Refusals of what would be stored, through the real HTTP layer: each is a 400 with its message,
// stores nothing, and is counted by reason in /nacos/actuator/prometheus.

// The value of `naming_server_rejects_total{reason="<reason>"}`, or -1 when the line is missing.
long RejectsCounted(uint16_t port, const std::string& reason) {
  const HttpResult metrics = HttpRequest(port, "GET", "/nacos/actuator/prometheus");
  const std::string line = "\nnaming_server_rejects_total{reason=\"" + reason + "\"} ";
  const size_t at = metrics.body.find(line);
  if (metrics.status != 200 || at == std::string::npos) return -1;
  return std::atol(metrics.body.c_str() + at + line.size());
}

constexpr char kBeatTarget[] = "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo";
constexpr char kRegisterDemoTarget[] = "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo";

HttpResult FullBeat(uint16_t port, const std::string& beat_json) {
  return HttpRequest(port, "PUT", kBeatTarget, "beat=" + URL::Encode(beat_json));
}

TEST(NamingServerRefusalTest, AFullBeatThatReRegistersIsCheckedLikeARegistration) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const std::string rule = R"({"preserved.heart.beat.interval":"20000"})";  // > the 15 s timeout.
  const struct {
    std::string register_params;  // The same instance as a registration.
    std::string beat;
  } cases[] = {
      {"&ip=not%20an%20ip%21&port=80", R"({"ip":"not an ip!","port":80})"},
      {"&ip=10.0.0.5&port=-7", R"({"ip":"10.0.0.5","port":-7})"},
      {"&ip=10.0.0.5&port=80&weight=-5", R"({"ip":"10.0.0.5","port":80,"weight":-5})"},
      {"&ip=10.0.0.5&port=80&metadata=" + URL::Encode(rule),
       R"({"ip":"10.0.0.5","port":80,"metadata":)" + rule + "}"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.beat);
    const HttpResult registered =
        HttpRequest(server->port(), "POST", kRegisterDemoTarget + c.register_params);
    ASSERT_EQ(registered.status, 400) << registered.body;
    const HttpResult beat = FullBeat(server->port(), c.beat);
    EXPECT_EQ(beat.status, 400);
    EXPECT_EQ(beat.body, registered.body);
  }
  EXPECT_EQ(server->stats().instances, 0u);
  EXPECT_EQ(server->stats().bytes_held, 0u);
  EXPECT_EQ(RejectsCounted(server->port(), "invalid_parameter"), 8);

  // The same beat, well formed, re-registers.
  EXPECT_EQ(FullBeat(server->port(), R"({"ip":"10.0.0.5","port":80})").status, 200);
  EXPECT_EQ(server->stats().instances, 1u);
}

TEST(NamingServerRefusalTest, OnePastEachCapIsA400NamingTheCap) {
  NamingServerOptions options;
  options.max_service_name_length = 40;
  options.max_metadata_bytes = 64;
  options.max_instances_per_service = 2;
  options.max_services_per_namespace = 2;
  options.max_total_instances = 3;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  const auto post = [port](const std::string& target) { return HttpRequest(port, "POST", target); };

  const std::string metadata_at_cap = R"({"k":")" + std::string(63, 'v') + "\"}";  // 64 bytes.
  const std::string metadata_past_cap = R"({"k":")" + std::string(64, 'v') + "\"}";
  ASSERT_EQ(post(std::string(kRegisterDemoTarget) +
                 "&ip=10.0.0.1&port=80&metadata=" + URL::Encode(metadata_at_cap))
                .body,
            "ok");
  HttpResult refused = post(std::string(kRegisterDemoTarget) +
                            "&ip=10.0.0.2&port=80&metadata=" + URL::Encode(metadata_past_cap));
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body,
            "instance metadata too large: 65 bytes of keys and values (max 64, "
            "max_metadata_bytes, --max-metadata-bytes)");
  // The same through a re-registering beat.
  refused = FullBeat(port, R"({"ip":"10.0.0.2","port":80,"metadata":)" + metadata_past_cap + "}");
  EXPECT_EQ(refused.status, 400);
  EXPECT_NE(refused.body.find("(max 64, max_metadata_bytes, --max-metadata-bytes)"),
            std::string::npos)
      << refused.body;

  ASSERT_EQ(post(std::string(kRegisterDemoTarget) + "&ip=10.0.0.2&port=80").body, "ok");
  const std::string service_full =
      "service DEFAULT_GROUP@@demo already holds 2 instances, the most allowed "
      "(max_instances_per_service, --max-instances-per-service)";
  refused = post(std::string(kRegisterDemoTarget) + "&ip=10.0.0.3&port=80");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, service_full);
  refused = FullBeat(port, R"({"ip":"10.0.0.3","port":80})");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, service_full);

  // The service name counts in bytes as sent, here 15 bytes of `DEFAULT_GROUP%40%40` and 25 of
  // the name: 40.
  const std::string name_at_cap = "DEFAULT_GROUP%40%40" + std::string(40 - 15, 'n');
  const std::string in_named = "/nacos/v1/ns/instance?port=80&serviceName=" + name_at_cap;
  refused = post(in_named + "n&ip=10.0.0.1");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body,
            "Param 'serviceName' is too long: 41 bytes (max 40, max_service_name_length, "
            "--max-service-name-length)");
  ASSERT_EQ(post(in_named + "&ip=10.0.0.1").body, "ok");

  // Three instances in two services now: the server and the namespace are full.
  refused = post(in_named + "&ip=10.0.0.2");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body,
            "the server already holds 3 instances, the most allowed (max_total_instances, "
            "--max-total-instances)");
  refused = post("/nacos/v1/ns/service?serviceName=G%40%40other");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body,
            "namespace public already holds 2 services, the most allowed "
            "(max_services_per_namespace, --max-services-per-namespace)");

  EXPECT_EQ(server->stats().instances, 3u);
  EXPECT_EQ(server->stats().services, 2u);
  EXPECT_EQ(RejectsCounted(port, "service_name_too_long"), 1);
  EXPECT_EQ(RejectsCounted(port, "metadata_too_large"), 2);
  EXPECT_EQ(RejectsCounted(port, "instances_per_service"), 2);
  EXPECT_EQ(RejectsCounted(port, "total_instances"), 1);
  EXPECT_EQ(RejectsCounted(port, "services_per_namespace"), 1);
  EXPECT_EQ(RejectsCounted(port, "invalid_parameter"), 0);
}

TEST(NamingServerRefusalTest, InvalidUtf8InABeatIsRefusedAndNothingIsStored) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const uint16_t port = server->port();
  // A raw 0xFF inside the beat JSON.
  HttpResult refused =
      FullBeat(port, "{\"ip\":\"10.0.0.5\",\"port\":80,\"metadata\":{\"k\":\"\xff\"}}");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "Param 'beat' is not valid UTF-8");
  // An escape that spells a lone surrogate.
  refused = FullBeat(port, R"({"ip":"10.0.0.5","port":80,"metadata":{"k":"\ud800"}})");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body.rfind("beat is not valid UTF-8", 0), 0u) << refused.body;
  // A light beat whose service name is cut inside a character.
  refused = HttpRequest(port, "PUT",
                        "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40d%C3&"
                        "ip=10.0.0.5&port=80");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.body, "Param 'serviceName' is not valid UTF-8");
  EXPECT_EQ(server->stats().instances, 0u);
  EXPECT_EQ(server->stats().services, 0u);
  EXPECT_EQ(RejectsCounted(port, "invalid_utf8"), 3);
}

}  // namespace
}  // namespace dubbo::naming_server
