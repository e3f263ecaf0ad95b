// The whole NamingServer (HTTP on port 0, gRPC beside it) over real loopback sockets, driven by
// grpc++ clients (nacos_grpc_client.h) the way Nacos SDKs drive Nacos: one channel per Nacos
// connection, unary requests and the bi-stream on it. What the protocol core answers is covered
// socket-free in grpc_naming_test.cc; this file checks that it reaches real clients: connection
// ids of real TCP connections, pushes on real streams, instances removed when a TCP connection
// closes, the v1 HTTP API on the same store, ConnectReset on Stop(), the port pair and the shared
// connection cap. JSON is compared semantically (key order is not significant).
//
// Every wait is for an event (a stream message, an answer); where there is none (the server
// counting an ack), a bounded loop of short sleeps asks again and fails with a message.
#include <dirent.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "nacos_grpc_client.h"
#include "testing/http_client.h"

namespace dubbo::naming_server {
namespace {

using nacos_grpc::GrpcPayload;
using nacos_grpc::JsonString;
using nacos_grpc::kGrpcHangGuard;
using nacos_grpc::kJavaSetup;
using nacos_grpc::kTv4Register;
using nacos_grpc::kTv6Subscribe;
using nacos_grpc::kTv8Body;
using nacos_grpc::kTv9Body;
using nacos_grpc::NacosGrpcClient;
using registry::testing::ConnectLoopback;
using registry::testing::HttpRequest;
using registry::testing::HttpResult;
using registry::testing::ParseHttpResponse;
using registry::testing::SendAll;

constexpr char kSetupAck[] =
    R"({"headers":{},"abilityTable":{"supportPersistentInstanceByGrpc":true},"module":"internal"})";
constexpr char kRegistered[] =
    R"({"resultCode":200,"errorCode":0,"type":"registerInstance","success":true})";
constexpr char kV1List[] = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo";

// kTv4Register with another port.
std::string RegisterPort(int port) {
  return std::regex_replace(kTv4Register, std::regex("\"port\":8080"),
                            "\"port\":" + std::to_string(port));
}

// The host the server renders for kTv4Register (with `port`).
std::string Host5(int port) {
  const std::string p = std::to_string(port);
  return R"({"instanceId":"10.0.0.5#)" + p + R"(#DEFAULT#DEFAULT_GROUP@@demo","ip":"10.0.0.5",)" +
         R"("port":)" + p +
         R"(,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
         R"("serviceName":"DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},)"
         R"("instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,)"
         R"("ipDeleteTimeout":30000})";
}

// The gRPC serviceInfo of DEFAULT_GROUP@@demo with `hosts` and lastRefTime `ref`.
std::string ServiceInfo(const std::string& hosts, int64_t ref) {
  return R"({"name":"demo","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,)"
         R"("hosts":[)" +
         hosts + R"(],"lastRefTime":)" + std::to_string(ref) +
         R"(,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true})";
}

// The lastRefTime of the serviceInfo in `json`; -1 when absent.
int64_t RefTime(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("serviceInfo") ||
      !doc["serviceInfo"].IsObject() || !doc["serviceInfo"].HasMember("lastRefTime") ||
      !doc["serviceInfo"]["lastRefTime"].IsInt64()) {
    return -1;
  }
  return doc["serviceInfo"]["lastRefTime"].GetInt64();
}

// The NotifySubscriberRequest body `push` should be if it carries `hosts`.
std::string PushBody(const GrpcPayload& push, const std::string& hosts) {
  return R"({"headers":{},"requestId":")" + JsonString(push.body, "requestId") +
         R"(","serviceInfo":)" + ServiceInfo(hosts, RefTime(push.body)) + R"(,"module":"naming"})";
}

// The SubscribeServiceResponse body `answer` should be if it carries `hosts`.
std::string SubscribedBody(const std::string& answer, const std::string& hosts) {
  return R"({"resultCode":200,"errorCode":0,"message":"success","serviceInfo":)" +
         ServiceInfo(hosts, RefTime(answer)) + R"(,"success":true})";
}

// Semantic JSON equality (numbers by value, objects regardless of key order).
::testing::AssertionResult JsonEq(const std::string& actual, const std::string& expected) {
  rapidjson::Document a;
  rapidjson::Document e;
  a.Parse(actual.c_str(), actual.size());
  e.Parse(expected.c_str(), expected.size());
  if (!a.HasParseError() && !e.HasParseError() && a == e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "\n  actual:   " << actual << "\n  expected: " << expected;
}

// "ip:port" of every host of a v1 list answer, and its `name`.
struct V1List {
  std::string name;
  std::set<std::string> hosts;
};
// "ip:port" of each host in a JSON `hosts` array; a malformed host fails the test.
std::set<std::string> Addresses(const rapidjson::Value& hosts) {
  std::set<std::string> out;
  if (!hosts.IsArray()) {
    ADD_FAILURE() << "hosts is not an array";
    return out;
  }
  for (const auto& host : hosts.GetArray()) {
    if (!host.IsObject() || !host.HasMember("ip") || !host["ip"].IsString() ||
        !host.HasMember("port") || !host["port"].IsInt()) {
      ADD_FAILURE() << "a host without ip and port";
      continue;
    }
    out.insert(std::string(host["ip"].GetString()) + ":" + std::to_string(host["port"].GetInt()));
  }
  return out;
}

V1List ListV1(uint16_t port) {
  const HttpResult answer = HttpRequest(port, "GET", kV1List);
  EXPECT_EQ(answer.status, 200) << answer.body;
  rapidjson::Document doc;
  doc.Parse(answer.body.c_str());
  V1List list;
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("hosts") || !doc.HasMember("name") ||
      !doc["name"].IsString()) {
    ADD_FAILURE() << "not a list answer: " << answer.body;
    return list;
  }
  list.name = doc["name"].GetString();
  list.hosts = Addresses(doc["hosts"]);
  return list;
}

// ---- This process's TCP sockets, from /proc (the server runs in this process). ----------------

struct TcpSocket {
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  int state = 0;  // 0x01 established, 0x0A listening
};

std::vector<TcpSocket> OwnTcpSockets() {
  std::set<std::string> inodes;
  if (DIR* dir = ::opendir("/proc/self/fd")) {
    while (dirent* entry = ::readdir(dir)) {
      char target[64] = {0};
      const std::string path = std::string("/proc/self/fd/") + entry->d_name;
      const ssize_t n = ::readlink(path.c_str(), target, sizeof(target) - 1);
      const std::string link(target, n > 0 ? static_cast<size_t>(n) : 0);
      if (link.rfind("socket:[", 0) == 0) inodes.insert(link.substr(8, link.size() - 9));
    }
    ::closedir(dir);
  }
  std::vector<TcpSocket> sockets;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
      fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode;
      if (inodes.count(inode) == 0) continue;
      TcpSocket s;
      s.local_port = static_cast<uint16_t>(std::stoul(local.substr(local.rfind(':') + 1), 0, 16));
      s.remote_port =
          static_cast<uint16_t>(std::stoul(remote.substr(remote.rfind(':') + 1), 0, 16));
      s.state = std::stoi(state, nullptr, 16);
      sockets.push_back(s);
    }
  }
  return sockets;
}

std::set<uint16_t> ListeningPorts() {
  std::set<uint16_t> ports;
  for (const TcpSocket& s : OwnTcpSockets()) {
    if (s.state == 0x0A) ports.insert(s.local_port);
  }
  return ports;
}

// Local ports of this process's established connections to `port` (client sides only).
std::set<uint16_t> ClientPortsTo(uint16_t port) {
  std::set<uint16_t> ports;
  for (const TcpSocket& s : OwnTcpSockets()) {
    if (s.state == 0x01 && s.remote_port == port) ports.insert(s.local_port);
  }
  return ports;
}

// ---- The server ---------------------------------------------------------------------------------

// Port 0, and no resend or client detection during a test: a slow ack on a loaded machine must
// not turn into an extra push, nor a busy test into a detection.
NamingServerOptions TestOptions() {
  NamingServerOptions options;
  options.port = 0;
  options.grpc_ack_timeout_ms = 600000;
  options.grpc_detection_idle_ms = 600000;
  return options;
}

std::unique_ptr<NamingServer> StartServer(const NamingServerOptions& options = TestOptions()) {
  auto server = NamingServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

// One sample of a Prometheus text, "name{labels} value" -> value; -1 when absent.
long Sample(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::atol(text.c_str() + at + series.size() + 2);
}

// Asks /actuator/prometheus until `series` reads `value` (the server counts asynchronously); the
// last value read.
long WaitForSample(uint16_t port, const std::string& series, long value) {
  const auto until = std::chrono::steady_clock::now() + kGrpcHangGuard;
  long last = -1;
  while (std::chrono::steady_clock::now() < until) {
    last = Sample(HttpRequest(port, "GET", "/nacos/actuator/prometheus").body, series);
    if (last == value) return last;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << series << " stayed " << last << ", expected " << value;
  return last;
}

TEST(GrpcServerTest, ServerCheckNamesTheTcpConnectionItArrivedOn) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->grpc_port(), server->port() + 1000);
  const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  NacosGrpcClient client(server->grpc_port());
  const GrpcPayload answer =
      client.Call("ServerCheckRequest", R"({"headers":{},"module":"internal"})");
  const int64_t after = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  EXPECT_EQ(answer.type, "ServerCheckResponse");
  const std::string id = JsonString(answer.body, "connectionId");
  EXPECT_TRUE(JsonEq(answer.body, R"({"resultCode":200,"errorCode":0,"connectionId":")" + id +
                                      R"(","supportAbilityNegotiation":true,"success":true})"));
  std::smatch m;
  ASSERT_TRUE(std::regex_match(id, m, std::regex("([0-9]+)_127\\.0\\.0\\.1_([0-9]+)"))) << id;
  EXPECT_LE(before, std::stoll(m[1]));  // minted when the connection arrived
  EXPECT_LE(std::stoll(m[1]), after);
  // The port is the client's end of the one TCP connection grpc++ opened.
  EXPECT_EQ(ClientPortsTo(server->grpc_port()),
            std::set<uint16_t>{static_cast<uint16_t>(std::stoi(m[2]))});
  // Asked again on the same channel: the same connection, the same id.
  EXPECT_EQ(client.ServerCheck(), id);
  // Another channel is another connection.
  NacosGrpcClient other(server->grpc_port());
  const std::string other_id = other.ServerCheck();
  EXPECT_NE(other_id, id);
  EXPECT_TRUE(std::regex_match(other_id, std::regex("[0-9]+_127\\.0\\.0\\.1_[0-9]+"))) << other_id;
  EXPECT_EQ(ClientPortsTo(server->grpc_port()).size(), 2u);
}

TEST(GrpcServerTest, ThePortPairDiffersByTheOffset) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->grpc_port(), server->port() + 1000);
  EXPECT_EQ(ListeningPorts(),
            (std::set<uint16_t>{server->port(), static_cast<uint16_t>(server->port() + 1000)}));
  server.reset();

  NamingServerOptions options = TestOptions();
  options.grpc_port_offset = 7;
  server = StartServer(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->grpc_port(), server->port() + 7);
  EXPECT_EQ(ListeningPorts(),
            (std::set<uint16_t>{server->port(), static_cast<uint16_t>(server->port() + 7)}));
  NacosGrpcClient client(server->grpc_port());
  EXPECT_NE(client.ServerCheck(), "");
}

TEST(GrpcServerTest, WithGrpcOffOnlyTheHttpPortListens) {
  NamingServerOptions options = TestOptions();
  options.grpc_enabled = false;
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->grpc_port(), 0);
  EXPECT_EQ(ListeningPorts(), std::set<uint16_t>{server->port()});
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/console/health/liveness").status, 200);
}

// Register, v1 list, subscribe, pushes acked, a change pushed, and a v1 registration pushed to the
// gRPC subscriber: one store for both protocols.
TEST(GrpcServerTest, RegisterSubscribeAndPushOverRealConnections) {
  constexpr char kAcks[] = "naming_server_grpc_push_acks_total";
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  NacosGrpcClient publisher(server->grpc_port());
  publisher.ServerCheck();
  EXPECT_TRUE(JsonEq(publisher.Setup().body, kSetupAck));
  GrpcPayload answer = publisher.Call("InstanceRequest", kTv4Register);
  EXPECT_EQ(answer.type, "InstanceResponse");
  EXPECT_TRUE(JsonEq(answer.body, kRegistered));

  V1List list = ListV1(server->port());
  EXPECT_EQ(list.name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(list.hosts, std::set<std::string>{"10.0.0.5:8080"});

  NacosGrpcClient subscriber(server->grpc_port());
  subscriber.ServerCheck();
  subscriber.Setup();
  answer = subscriber.Call("SubscribeServiceRequest", kTv6Subscribe);
  EXPECT_EQ(answer.type, "SubscribeServiceResponse");
  EXPECT_TRUE(JsonEq(answer.body, SubscribedBody(answer.body, Host5(8080))));
  // The first subscription gets the data pushed.
  GrpcPayload push = subscriber.NextPush();
  EXPECT_TRUE(JsonEq(push.body, PushBody(push, Host5(8080))));
  // Each ack is counted before the next change, which would otherwise supersede an unacked push.
  WaitForSample(server->port(), kAcks, 1);

  // A register from the publisher's connection replaces its instance; the subscriber sees it.
  answer = publisher.Call("InstanceRequest", RegisterPort(8081));
  EXPECT_TRUE(JsonEq(answer.body, kRegistered));
  push = subscriber.NextPush();
  EXPECT_TRUE(JsonEq(push.body, PushBody(push, Host5(8081))));
  const std::string first_id = JsonString(push.body, "requestId");
  WaitForSample(server->port(), kAcks, 2);

  // A v1 registration reaches the gRPC subscriber too.
  ASSERT_EQ(HttpRequest(server->port(), "POST",
                        "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.7&port=8080")
                .body,
            "ok");
  push = subscriber.NextPush();
  EXPECT_NE(JsonString(push.body, "requestId"), first_id);
  rapidjson::Document doc;
  doc.Parse(push.body.c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("serviceInfo") && doc["serviceInfo"].IsObject() &&
              doc["serviceInfo"].HasMember("hosts"))
      << push.body;
  const std::set<std::string> pushed = Addresses(doc["serviceInfo"]["hosts"]);
  for (const auto& host : doc["serviceInfo"]["hosts"].GetArray()) {
    if (host["ip"] == "10.0.0.7") {
      EXPECT_TRUE(host["ephemeral"].IsBool() && host["ephemeral"].GetBool()) << push.body;
    }
  }
  EXPECT_EQ(pushed, (std::set<std::string>{"10.0.0.5:8081", "10.0.0.7:8080"}));
  EXPECT_EQ(ListV1(server->port()).hosts, pushed);

  // Three pushes, each acked on the stream.
  WaitForSample(server->port(), kAcks, 3);
  EXPECT_EQ(subscriber.Queued(), 0u);
}

TEST(GrpcServerTest, ClosingThePublishersConnectionRemovesItsInstance) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  auto publisher = std::make_unique<NacosGrpcClient>(server->grpc_port());
  publisher->Setup();
  ASSERT_TRUE(JsonEq(publisher->Call("InstanceRequest", kTv4Register).body, kRegistered));
  NacosGrpcClient subscriber(server->grpc_port(), /*auto_ack=*/true);
  subscriber.Setup();
  subscriber.Call("SubscribeServiceRequest", kTv6Subscribe);
  GrpcPayload push = subscriber.NextPush();
  EXPECT_TRUE(JsonEq(push.body, PushBody(push, Host5(8080))));
  EXPECT_EQ(server->stats().instances, 1u);

  publisher.reset();  // grpc++ closes its TCP connection
  push = subscriber.NextPush();
  EXPECT_TRUE(JsonEq(push.body, PushBody(push, "")));
  // The store changed before the push was sent.
  EXPECT_EQ(ListV1(server->port()).hosts, std::set<std::string>{});
  EXPECT_EQ(server->stats().instances, 0u);
}

TEST(GrpcServerTest, RequestsBeforeSetupAre301AndUnknownTypes302) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  NacosGrpcClient client(server->grpc_port());
  EXPECT_NE(client.ServerCheck(), "");  // needs no setup
  for (const char* type : {"HealthCheckRequest", "InstanceRequest", "SubscribeServiceRequest"}) {
    const GrpcPayload answer = client.Call(type, kTv4Register);
    EXPECT_EQ(answer.type, "ErrorResponse") << type;
    EXPECT_TRUE(JsonEq(answer.body, kTv8Body)) << type;
  }
  // An unknown type is 302 before and after setup; so is the setup sent as a unary request.
  EXPECT_TRUE(JsonEq(client.Call("FooRequest", "{}").body, kTv9Body));
  EXPECT_TRUE(JsonEq(client.Call("ConnectionSetupRequest", kJavaSetup).body, kTv9Body));
  client.Setup();
  const GrpcPayload health = client.Call("HealthCheckRequest", R"({"headers":{}})");
  EXPECT_EQ(health.type, "HealthCheckResponse");
  EXPECT_TRUE(JsonEq(health.body, R"({"resultCode":200,"errorCode":0,"success":true})"));
  const GrpcPayload foo = client.Call("FooRequest", "{}");
  EXPECT_EQ(foo.type, "ErrorResponse");
  EXPECT_TRUE(JsonEq(foo.body, kTv9Body));
  EXPECT_EQ(server->stats().instances, 0u);
}

TEST(GrpcServerTest, StopSendsConnectResetToRegisteredConnections) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  NacosGrpcClient registered(server->grpc_port());
  registered.Setup();
  NacosGrpcClient unregistered(server->grpc_port());
  unregistered.OpenStream();
  unregistered.ServerCheck();

  server->Stop();
  const GrpcPayload reset = registered.Next();
  EXPECT_EQ(reset.type, "ConnectResetRequest");
  EXPECT_TRUE(JsonEq(reset.body, R"({"headers":{},"requestId":")" +
                                     JsonString(reset.body, "requestId") +
                                     R"(","module":"internal"})"));
  EXPECT_NE(JsonString(reset.body, "requestId"), "");
  EXPECT_TRUE(registered.WaitForStreamEnd());
  EXPECT_TRUE(unregistered.WaitForStreamEnd());
  EXPECT_EQ(unregistered.Queued(), 0u) << "a connection without setup is not reset";
}

// Sends one keep-alive request on `fd` and reads its answer (by Content-Length).
HttpResult RequestOn(int fd, const std::string& target) {
  if (!SendAll(fd, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return {};
  std::string raw;
  char buf[8192];
  while (true) {
    const size_t head_end = raw.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      const size_t at = raw.find("Content-Length: ");
      const size_t length = at < head_end ? std::stoul(raw.substr(at + 16)) : 0;
      if (raw.size() >= head_end + 4 + length) break;
    }
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  return ParseHttpResponse(raw);
}

// max_connections counts HTTP and gRPC connections together, whichever protocol fills it.
TEST(GrpcServerTest, HttpAndGrpcConnectionsShareOneCap) {
  NamingServerOptions options = TestOptions();
  options.max_connections = 2;
  options.idle_timeout_ms = 600000;  // the held HTTP connection stays for the whole test
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  ASSERT_EQ(server->connection_cap(), 2u);
  NacosGrpcClient a(server->grpc_port());
  auto b = std::make_unique<NacosGrpcClient>(server->grpc_port());
  ASSERT_NE(a.ServerCheck(), "");
  ASSERT_NE(b->ServerCheck(), "");
  // Two gRPC connections fill the cap: an HTTP connection is closed unanswered.
  EXPECT_EQ(HttpRequest(server->port(), "GET", "/nacos/v1/console/health/liveness").status, 0);

  // Once one gRPC connection is gone, an HTTP connection is let in (the close reaches the server
  // asynchronously: ask until it does). It stays open.
  b.reset();
  int held = -1;
  const auto until = std::chrono::steady_clock::now() + kGrpcHangGuard;
  while (held < 0 && std::chrono::steady_clock::now() < until) {
    const int fd = ConnectLoopback(server->port(), 60000);
    if (fd >= 0 && RequestOn(fd, "/nacos/v1/console/health/liveness").status == 200) {
      held = fd;
    } else {
      if (fd >= 0) ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ASSERT_GE(held, 0) << "no HTTP connection admitted after a gRPC connection closed";

  // One HTTP and one gRPC connection fill it: a new gRPC connection is closed at accept.
  {
    NacosGrpcClient c(server->grpc_port());
    GrpcPayload answer;
    const grpc::Status refused =
        c.TryCall("ServerCheckRequest", R"({"headers":{},"module":"internal"})", &answer);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE) << refused.error_message();
  }
  const std::string text = RequestOn(held, "/nacos/actuator/prometheus").body;
  EXPECT_EQ(Sample(text, "naming_server_connections"), 1) << text;
  EXPECT_EQ(Sample(text, "naming_server_grpc_connections"), 1);
  EXPECT_GE(Sample(text, "naming_server_grpc_connections_refused_total"), 1);
  EXPECT_GE(Sample(text, R"(naming_server_rejects_total{reason="connection_cap"})"), 1);
  // The connection that was admitted is still served.
  EXPECT_TRUE(JsonEq(a.Call("HealthCheckRequest", "{}").body, kTv8Body));
  ::close(held);
}

}  // namespace
}  // namespace dubbo::naming_server
