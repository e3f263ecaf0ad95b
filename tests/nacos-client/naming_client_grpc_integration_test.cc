// NamingClient over Nacos gRPC against in-process naming-servers on port 0 (loopback only; the
// servers serve gRPC on their port + 1000): register, subscribe and push; a destroyed provider
// leaving a consumer's list; a server restart on the same ports (everything redone); failover
// between two servers; ConnectReset (a server sends it to every client when it shuts down);
// `auto` against a server without gRPC (HTTP, then back to gRPC); a gRPC port that accepts TCP
// but never answers; a registration made while the server is down.
//
// No fixed ports and no sleeping for timing: every wait is a bounded wait on a condition.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "naming_integration_util.h"
#include "service_info_json.h"
#include "testing/http_client.h"
#include "testing/log_capture.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using naming_server::NamingServer;
using naming_server::NamingServerOptions;
using registry::testing::LogCapture;
using registry::testing::TempDir;
using std::chrono::steady_clock;
using testing::EventLog;
using testing::kWatchdog;
using testing::LinesContaining;
using testing::Ports;
using testing::ScopedLogLevel;
using testing::WaitFor;
using Protocol = NacosOptions::NamingProtocol;

// A TCP socket on 127.0.0.1:`port` (0: a free one) that listens and never accepts: the kernel
// completes connections into its backlog, and nothing is ever read or written on them. port() is
// 0 when it could not listen.
class SilentListener {
 public:
  explicit SilentListener(uint16_t port = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    socklen_t len = sizeof(addr);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        ::listen(fd_, 64) == 0 &&
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~SilentListener() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class NamingClientGrpcIntegrationTest : public ::testing::Test {
 protected:
  static std::unique_ptr<NamingServer> StartServer(uint16_t port = 0, bool grpc = true) {
    NamingServerOptions options;
    options.port = port;
    options.grpc_enabled = grpc;
    auto server = NamingServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    ASSERT_EQ(server_->grpc_port(), server_->port() + 1000);
  }

  NacosOptions Options(std::vector<std::string> servers = {}, Protocol protocol = Protocol::kGrpc) {
    NacosOptions options;
    options.server_addresses =
        servers.empty() ? std::vector<std::string>{server_->address()} : std::move(servers);
    options.cache_dir = cache_.path();
    options.client_ip = "127.0.0.1";
    options.request_timeout_ms = 3000;
    options.naming_protocol = protocol;
    return options;
  }

  std::unique_ptr<NamingClient> Client(NacosOptions options) {
    auto client = NamingClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  static Instance MakeInstance(int port) {
    Instance instance;
    instance.ip = "127.0.0.1";
    instance.port = port;
    instance.metadata = {{"version", "1.0"}};
    return instance;
  }

  // The instances of DEFAULT_GROUP@@demo as `server` lists them (v1 HTTP, no subscription).
  static std::set<int> ServerPorts(const NamingServer& server) {
    registry::testing::HttpResult r = registry::testing::HttpRequest(
        server.port(), "GET", "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo");
    if (r.status != 200) return {};
    Result<ServiceInfo> info = ParseServiceInfo(r.body);
    return info.ok() ? Ports(info->hosts) : std::set<int>{};
  }

  TempDir cache_;
  std::unique_ptr<NamingServer> server_;
};

// --- Register, subscribe, push -------------------------------------------------------------------

TEST_F(NamingClientGrpcIntegrationTest, RegisterSubscribeAndPushOverGrpc) {
  auto provider = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EXPECT_EQ(ServerPorts(*server_), (std::set<int>{20880}));
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  EXPECT_EQ(log.events().back().instances[0].metadata.at("version"), "1.0");

  // A second instance of the same service from the same client: both stay (one batch record).
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));
  EXPECT_EQ(ServerPorts(*server_), (std::set<int>{20880, 20881}));
  ASSERT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(log.WaitForPorts({20881}));

  // One-off queries, the service list and the status go over gRPC too.
  auto all = consumer->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Ports(*all), (std::set<int>{20881}));
  auto services = consumer->GetServices(1, 10);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_EQ(services->names, std::vector<std::string>{"demo"});
  EXPECT_EQ(consumer->GetServerStatus(), "UP");

  const NamingClientStats p = provider->GetStats();
  EXPECT_EQ(p.protocol, Protocol::kGrpc);
  EXPECT_TRUE(p.grpc_connected);
  EXPECT_EQ(p.beats_sent, 0u) << "no beats over gRPC";
  const NamingClientStats c = consumer->GetStats();
  EXPECT_EQ(c.polls, 0u) << "no list queries over gRPC";
  EXPECT_GE(c.grpc_pushes, 2u);
  EXPECT_EQ(c.protocol_switches, 0u);
}

TEST_F(NamingClientGrpcIntegrationTest, ADestroyedProviderLeavesTheConsumersList) {
  auto stays = Client(Options());
  auto goes = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(stays && goes && consumer);
  ASSERT_TRUE(stays->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(goes->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));
  // Its connection closes; the server removes its instances and pushes at once (no beat timeout).
  goes.reset();
  ASSERT_TRUE(log.WaitForPorts({20880}));
  EXPECT_EQ(Ports(log.events().back().removed), std::set<int>{20881});
}

TEST_F(NamingClientGrpcIntegrationTest, PersistentInstancesGoOverGrpcAndOutliveTheClient) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  Instance persistent = MakeInstance(20890);
  persistent.ephemeral = false;
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(provider->RegisterInstance("demo", "", persistent).ok());
  EXPECT_EQ(ServerPorts(*server_), (std::set<int>{20880, 20890}));
  provider.reset();
  ASSERT_TRUE(WaitFor([&] { return ServerPorts(*server_) == std::set<int>{20890}; }))
      << "the ephemeral one went with the connection, the persistent one stays";
  auto again = Client(Options());
  ASSERT_NE(again, nullptr);
  ASSERT_TRUE(again->DeregisterInstance("demo", "", persistent).ok());
  EXPECT_EQ(ServerPorts(*server_), std::set<int>{});
  EXPECT_EQ(again->GetStats().beats_sent, 0u);
}

TEST_F(NamingClientGrpcIntegrationTest, TheLoginTokenGoesWithEveryGrpcRequest) {
  server_.reset();
  NamingServerOptions options;
  options.port = 0;
  options.auth_enabled = true;
  options.password = "grpc-test-password";
  auto started = NamingServer::Start(options);
  ASSERT_TRUE(started.ok()) << started.status();
  server_ = std::move(*started);
  NacosOptions good = Options();
  good.username = "nacos";
  good.password = "grpc-test-password";
  auto provider = Client(good);
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(provider->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  NacosOptions bad = good;
  bad.password = "wrong";
  auto refused = Client(bad);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->RegisterInstance("demo", "", MakeInstance(20881)).code(),
            StatusCode::kPermissionDenied);
}

// --- Restart, failover, reset --------------------------------------------------------------------

TEST_F(NamingClientGrpcIntegrationTest, AServerRestartRedoesInstancesAndSubscriptions) {
  auto provider = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));

  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  server_ = StartServer(port);  // The same ports: HTTP and port + 1000.
  ASSERT_NE(server_, nullptr) << "could not restart on port " << port;

  // The provider's connection comes back and its record is redone; so is the subscription.
  ASSERT_TRUE(WaitFor([&] { return ServerPorts(*server_) == std::set<int>{20880}; }));
  ASSERT_TRUE(WaitFor([&] { return consumer->GetStats().grpc_connects >= 2; }));
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881})) << "the subscription pushes again";
  EXPECT_GE(provider->GetStats().grpc_redone_instances, 1u);
  EXPECT_GE(consumer->GetStats().grpc_redone_subscriptions, 1u);
}

TEST_F(NamingClientGrpcIntegrationTest, FailsOverToTheOtherServerWhenOneStops) {
  std::unique_ptr<NamingServer> other = StartServer();
  ASSERT_NE(other, nullptr);
  auto provider = Client(Options({server_->address(), other->address()}));
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  // The two servers share nothing: the instance is on the one the client is connected to.
  const bool on_first = ServerPorts(*server_) == std::set<int>{20880};
  std::unique_ptr<NamingServer>& used = on_first ? server_ : other;
  std::unique_ptr<NamingServer>& spare = on_first ? other : server_;
  ASSERT_EQ(ServerPorts(*spare), std::set<int>{});
  used->Stop();
  // Stopping, a server sends ConnectResetRequest to each client: the client moves on at once.
  ASSERT_TRUE(WaitFor([&] { return ServerPorts(*spare) == std::set<int>{20880}; }));
  const NamingClientStats stats = provider->GetStats();
  EXPECT_GE(stats.grpc_resets, 1u);
  EXPECT_GE(stats.grpc_connects, 2u);
  EXPECT_TRUE(WaitFor([&] { return provider->GetServerStatus() == "UP"; }));
}

TEST_F(NamingClientGrpcIntegrationTest, ConnectResetMovesTheSubscriptionToo) {
  std::unique_ptr<NamingServer> other = StartServer();
  ASSERT_NE(other, nullptr);
  auto consumer = Client(Options({server_->address(), other->address()}));
  ASSERT_NE(consumer, nullptr);
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(WaitFor([&] { return consumer->GetStats().grpc_connected; }));
  // Providers on both servers, so that whichever the consumer ends on has the data.
  auto on_a = Client(Options({server_->address()}));
  auto on_b = Client(Options({other->address()}));
  ASSERT_TRUE(on_a && on_b);
  ASSERT_TRUE(on_a->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(on_b->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.Wait([](const std::vector<ServiceChangeEvent>& events) {
    return !events.empty() && events.back().instances.size() == 1;
  }));
  const int first_port = log.events().back().instances[0].port;
  // Stop the server the consumer uses: ConnectReset moves it to the other, whose data it gets.
  (first_port == 20880 ? server_ : other)->Stop();
  const int second_port = first_port == 20880 ? 20881 : 20880;
  ASSERT_TRUE(log.WaitForPorts({second_port}));
  EXPECT_GE(consumer->GetStats().grpc_resets, 1u);
}

// --- auto --------------------------------------------------------------------------------------

TEST_F(NamingClientGrpcIntegrationTest, AutoUsesHttpWithoutGrpcAndMovesBackWhenItAppears) {
  ScopedLogLevel level(LogSeverity::kInfo);
  LogCapture logs(LogSeverity::kInfo);
  server_.reset();
  server_ = StartServer(0, /*grpc=*/false);
  ASSERT_NE(server_, nullptr);
  const uint16_t port = server_->port();
  NacosOptions options = Options({}, Protocol::kAuto);
  options.grpc_retry_interval_ms = 200;
  options.beat_interval_ms = 1000;
  // Auto gives gRPC the connect timeout before it moves to HTTP; the registration below waits
  // for a connection up to the request timeout, so the move must come first.
  options.connect_timeout_ms = 1000;
  auto provider = Client(options);
  auto consumer = Client(options);
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EXPECT_EQ(ServerPorts(*server_), (std::set<int>{20880}));
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  ASSERT_TRUE(WaitFor([&] { return provider->GetStats().beats_sent >= 1; })) << "v1 beats";
  EXPECT_EQ(provider->GetStats().protocol, Protocol::kHttp);
  EXPECT_EQ(consumer->GetStats().protocol, Protocol::kHttp);
  EXPECT_EQ(provider->GetServerStatus(), "UP");

  // The same server comes back with gRPC: both clients move to it.
  server_->Stop();
  server_.reset();
  server_ = StartServer(port, /*grpc=*/true);
  ASSERT_NE(server_, nullptr) << "could not restart on port " << port;
  ASSERT_TRUE(WaitFor([&] { return provider->GetStats().protocol == Protocol::kGrpc; }));
  ASSERT_TRUE(WaitFor([&] { return consumer->GetStats().protocol == Protocol::kGrpc; }));
  // The v1 copy is gone and the gRPC record holds the instance.
  ASSERT_TRUE(WaitFor([&] { return ServerPorts(*server_) == std::set<int>{20880}; }));
  const uint64_t beats = provider->GetStats().beats_sent;
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881})) << "pushed over gRPC";
  EXPECT_EQ(provider->GetStats().beats_sent, beats) << "beats stopped";
  EXPECT_EQ(provider->GetStats().protocol_switches, 2u);
  // Each move logged once per client, naming the server.
  const std::vector<std::string> lines = logs.lines();
  const std::string server = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(LinesContaining(lines, "but the v1 HTTP API answers: using HTTP"), 2u);
  EXPECT_EQ(LinesContaining(lines, "gRPC on " + server + " is ready: leaving HTTP"), 2u);
}

// --- Hostile and absent servers ------------------------------------------------------------------

TEST_F(NamingClientGrpcIntegrationTest, AGrpcPortThatNeverAnswersReportsUnavailableAndNeverHangs) {
  // The gRPC port and the main port (port - 1000) both silent: no v1 answer either.
  std::unique_ptr<SilentListener> grpc_port, main_port;
  for (int i = 0; i < 20 && (main_port == nullptr || main_port->port() == 0); ++i) {
    grpc_port = std::make_unique<SilentListener>();
    if (grpc_port->port() <= 1000) continue;
    main_port = std::make_unique<SilentListener>(static_cast<uint16_t>(grpc_port->port() - 1000));
  }
  ASSERT_TRUE(main_port != nullptr && main_port->port() != 0) << "no free pair of ports";
  for (Protocol protocol : {Protocol::kGrpc, Protocol::kAuto}) {
    NacosOptions options = Options({"127.0.0.1:" + std::to_string(main_port->port())}, protocol);
    options.connect_timeout_ms = 200;
    options.request_timeout_ms = 500;
    options.shutdown_timeout_ms = 300;
    auto client = Client(options);
    ASSERT_NE(client, nullptr);
    const Status registered = client->RegisterInstance("demo", "", MakeInstance(20880));
    EXPECT_EQ(registered.code(), StatusCode::kUnavailable) << registered;
    EXPECT_EQ(client->GetServerStatus(), "DOWN");
    EventLog log;
    EXPECT_TRUE(client->Subscribe("demo", "", "", log.Listener()).ok())
        << "an unreachable server is not an error: the subscription stays";
    const NamingClientStats stats = client->GetStats();
    EXPECT_FALSE(stats.grpc_connected);
    EXPECT_GE(stats.grpc_connect_failures, 1u);
    const auto start = steady_clock::now();
    client->Shutdown();
    EXPECT_LT(steady_clock::now() - start, kWatchdog) << "a watchdog: Shutdown() did not hang";
  }
}

TEST_F(NamingClientGrpcIntegrationTest, ARegistrationMadeWhileTheServerIsDownIsAppliedOnItsReturn) {
  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  NacosOptions options = Options({"127.0.0.1:" + std::to_string(port)});
  options.request_timeout_ms = 300;
  auto provider = Client(options);
  ASSERT_NE(provider, nullptr);
  EXPECT_EQ(provider->RegisterInstance("demo", "", MakeInstance(20880)).code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(provider->RegisterInstance("demo", "", MakeInstance(20881)).code(),
            StatusCode::kUnavailable);
  // Dropped while down: never registered.
  EXPECT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20881)).ok());
  server_ = StartServer(port);
  ASSERT_NE(server_, nullptr) << "could not restart on port " << port;
  ASSERT_TRUE(WaitFor([&] { return ServerPorts(*server_) == std::set<int>{20880}; }));
}

}  // namespace
}  // namespace dubbo::registry::nacos
