// NamingClient over v1 HTTP (namingProtocol=http) against in-process naming-servers on port 0
// (loopback only). A server restart and a server-side delete (20404 re-register
// after light beats), a push received and acked, a lost push recovered by polling, old and forged
// pushes, empty-push protection, the disk cache with the server down, failover across two servers,
// auth (and secrets kept out of the logs), a sub-second timeout against a server that never
// answers, and shutdown under load / from a listener / while a listener waits on a hanging server.
//
// No fixed ports and no sleeping for timing: every wait is a bounded wait on a condition.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "disk_cache.h"
#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "naming_integration_util.h"
#include "push_codec.h"
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
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;
using testing::AnyLineContains;
using testing::EventLog;
using testing::kWatchdog;
using testing::Ports;
using testing::ScopedLogLevel;
using testing::WaitFor;

constexpr char kGroupedDemo[] = "DEFAULT_GROUP%40%40demo";  // URL-encoded "DEFAULT_GROUP@@demo".

// A request timeout that never runs out while a test runs (ten minutes): a test that proves a call
// did not wait for a timeout makes it this, far beyond kWatchdog.
constexpr int64_t kNeverMs = 600000;

int64_t MillisSince(steady_clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - start).count();
}

// A TCP server on 127.0.0.1:0 that accepts connections and never answers.
class HangingServer {
 public:
  HangingServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 256) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
        ::pipe2(wake_, O_CLOEXEC) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~HangingServer() {
    if (thread_.joinable()) {
      (void)!::write(wake_[1], "x", 1);
      thread_.join();
    }
    for (int c : conns_) {
      if (c >= 0) ::close(c);
    }
    for (int fd : {fd_, wake_[0], wake_[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
  bool ok() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  size_t accepted() const { return accepted_.load(); }
  // Request heads received, over every connection (pipelined ones included).
  size_t requests() const { return requests_.load(); }

 private:
  void Run() {
    while (true) {
      std::vector<pollfd> fds = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      for (int c : conns_) fds.push_back({c, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;
      if (fds[1].revents != 0) return;
      if ((fds[0].revents & POLLIN) != 0) {
        const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c >= 0) {
          conns_.push_back(c);  // Held open, read, never answered.
          received_.emplace_back();
          accepted_.fetch_add(1);
        }
      }
      for (size_t i = 2; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char buf[4096];
        const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
        if (n <= 0) {  // The peer closed: poll() skips a negative fd.
          ::close(conns_[i - 2]);
          conns_[i - 2] = -1;
          continue;
        }
        std::string& text = received_[i - 2];
        text.append(buf, static_cast<size_t>(n));
        size_t count = 0;
        for (const std::string& t : received_) {
          for (size_t at = t.find(" HTTP/1.1\r\n"); at != std::string::npos;
               at = t.find(" HTTP/1.1\r\n", at + 1)) {
            ++count;
          }
        }
        requests_.store(count);
      }
    }
  }

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::thread thread_;
  std::vector<int> conns_;             // Run() only, then the destructor after the join.
  std::vector<std::string> received_;  // Per connection; Run() only.
  std::atomic<size_t> accepted_{0};
  std::atomic<size_t> requests_{0};
};

// A UDP socket bound to `ip`:0 that talks to the client's push port on 127.0.0.1.
class UdpPeer {
 public:
  explicit UdpPeer(const char* ip) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip, &addr.sin_addr);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) ok_ = true;
  }
  ~UdpPeer() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  bool SendTo(int port, const std::string& datagram) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to),
                    sizeof(to)) == static_cast<ssize_t>(datagram.size());
  }
  // Waits up to `timeout_ms` (0: just looks) for a datagram.
  bool Receive(int timeout_ms, std::string* data) {
    sockaddr_in from{};
    return registry::testing::ReceiveDatagram(fd_, timeout_ms, data, &from);
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// A push datagram for DEFAULT_GROUP@@demo with `hosts` and `last_ref_time` (also the ack id).
std::string PushDatagram(const std::vector<Instance>& hosts, int64_t last_ref_time) {
  ServiceInfo info;
  info.name = "DEFAULT_GROUP@@demo";
  info.group_name = "DEFAULT_GROUP";
  info.cache_millis = 10000;
  info.last_ref_time = last_ref_time;
  info.hosts = hosts;
  Result<std::string> packet = nacos_wire::BuildPushPacket(ServiceInfoToJson(info), last_ref_time);
  EXPECT_TRUE(packet.ok()) << packet.status();
  return packet.ok() ? *packet : std::string();
}

int64_t WallMillis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class NamingClientIntegrationTest : public ::testing::Test {
 protected:
  static std::unique_ptr<NamingServer> StartServer(NamingServerOptions options = {}) {
    if (options.port == 8848) options.port = 0;
    auto server = NamingServer::Start(options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
  }

  NacosOptions Options(std::vector<std::string> servers = {}) {
    NacosOptions options;
    options.server_addresses =
        servers.empty() ? std::vector<std::string>{server_->address()} : std::move(servers);
    options.cache_dir = cache_.path();
    options.client_ip = "127.0.0.1";
    options.request_timeout_ms = 3000;
    // These are the v1 path's tests (beats, UDP push, polling, HTTP failover); the gRPC path has
    // its own (naming_client_grpc_integration_test.cc).
    options.naming_protocol = NacosOptions::NamingProtocol::kHttp;
    return options;
  }

  std::unique_ptr<NamingClient> Client(NacosOptions options) {
    auto client = NamingClient::Create(std::move(options));
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? std::move(*client) : nullptr;
  }

  static Instance MakeInstance(int port, int64_t beat_interval_ms = 0) {
    Instance instance;
    instance.ip = "127.0.0.1";
    instance.port = port;
    instance.metadata = {{"version", "1.0"}};
    if (beat_interval_ms > 0) {
      instance.metadata["preserved.heart.beat.interval"] = std::to_string(beat_interval_ms);
    }
    return instance;
  }

  // The instances of DEFAULT_GROUP@@demo as the server lists them (raw HTTP, no subscription).
  static std::vector<Instance> ServerList(uint16_t port) {
    registry::testing::HttpResult r = registry::testing::HttpRequest(
        port, "GET", std::string("/nacos/v1/ns/instance/list?serviceName=") + kGroupedDemo);
    if (r.status != 200) return {};
    Result<ServiceInfo> info = ParseServiceInfo(r.body);
    return info.ok() ? info->hosts : std::vector<Instance>{};
  }

  static std::string InstanceTarget(int port) {
    return std::string("/nacos/v1/ns/instance?serviceName=") + kGroupedDemo +
           "&ip=127.0.0.1&port=" + std::to_string(port) + "&ephemeral=true";
  }

  // A persistent instance (127.0.0.1:9, no beats, always healthy) in DEFAULT_GROUP@@demo. With
  // it, one unhealthy instance does not reach the protection threshold (0 healthy of 1 would,
  // and the server would then report every instance healthy), so ConfirmBeat() can see the flip.
  static bool AddBallast(uint16_t server_port) {
    registry::testing::HttpResult r =
        registry::testing::HttpRequest(server_port, "POST",
                                       std::string("/nacos/v1/ns/instance?serviceName=") +
                                           kGroupedDemo + "&ip=127.0.0.1&port=9&ephemeral=false");
    return r.status == 200;
  }

  // Waits until the server has processed a beat of 127.0.0.1:`port` sent after this call: marks
  // the instance unhealthy and waits for a beat to make it healthy again. REQUIRES: another
  // healthy instance in the service (AddBallast()).
  static bool ConfirmBeat(uint16_t server_port, int port) {
    registry::testing::HttpResult patched = registry::testing::HttpRequest(
        server_port, "PATCH", InstanceTarget(port) + "&healthy=false");
    if (patched.status != 200) {
      ADD_FAILURE() << "PATCH: " << patched.status << " " << patched.body;
      return false;
    }
    return WaitFor([&] {
      for (const Instance& i : ServerList(server_port)) {
        if (i.port == port && i.healthy) return true;
      }
      return false;
    });
  }

  TempDir cache_;
  std::unique_ptr<NamingServer> server_;
};

// --- The basics -------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, ARegisteredInstanceIsListedWithItsMetadata) {
  auto client = Client(Options());
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  auto all = client->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].port, 20880);
  EXPECT_EQ((*all)[0].metadata.at("version"), "1.0");
  auto one = client->SelectOneHealthyInstance("demo", "");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->port, 20880);
  auto services = client->GetServices(1, 10);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_EQ(services->names, std::vector<std::string>{"demo"});
  EXPECT_EQ(client->GetServerStatus(), "UP");
}

TEST_F(NamingClientIntegrationTest, ShutdownDeregistersAndLaterCallsFail) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20882)).ok());
  ASSERT_EQ(ServerList(server_->port()).size(), 1u);
  provider->Shutdown();
  EXPECT_TRUE(ServerList(server_->port()).empty());
  EXPECT_EQ(provider->RegisterInstance("demo", "", MakeInstance(20883)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(provider->GetAllInstances("demo", "").status().code(), StatusCode::kFailedPrecondition);
}

// --- Beats: restart, 20404, light beats ---------------------------------------------------------

TEST_F(NamingClientIntegrationTest, InstancesComeBackWithinOneBeatAfterAServerRestart) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(AddBallast(server_->port()));
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880, 1000)).ok());
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881, 1000)).ok());
  // Two beats processed one after the other: the client has seen lightBeatEnabled:true, so its
  // next beats are light.
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20880));
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20880));
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20881));
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20881));

  ScopedLogLevel level(LogSeverity::kInfo);
  LogCapture logs(LogSeverity::kInfo);
  const uint16_t port = server_->port();
  server_->Stop();
  server_.reset();
  NamingServerOptions options;
  options.port = port;  // The same port number, read back from the first server.
  server_ = StartServer(options);
  ASSERT_NE(server_, nullptr) << "could not restart on port " << port;

  ASSERT_TRUE(WaitFor([&] { return server_->stats().instances == 2; }))
      << server_->stats().instances;
  std::vector<Instance> listed = ServerList(port);
  EXPECT_EQ(Ports(listed), (std::set<int>{20880, 20881}));
  for (const Instance& i : listed) {
    EXPECT_EQ(i.metadata.count("version"), 1u) << "re-registered with its full data";
  }
  // The light beat got 20404 and the client registered the instance again (a full beat would
  // have made the server re-create it itself: "data compensation").
  const std::vector<std::string> lines = logs.lines();
  EXPECT_TRUE(AnyLineContains(lines, "registering it again"));
  EXPECT_FALSE(AnyLineContains(lines, "data compensation"));
  // And the beats go on against the new server.
  ASSERT_TRUE(AddBallast(port));
  EXPECT_TRUE(ConfirmBeat(port, 20880));
}

TEST_F(NamingClientIntegrationTest, ASubscriberIsSubscribedAgainWhenARestartedServerAnswers) {
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
  // The consumer finds the server gone (any call would; a poll 10 s later at the latest).
  EXPECT_EQ(consumer->GetServerStatus(), "DOWN");
  NamingServerOptions options;
  options.port = port;
  server_ = StartServer(options);
  ASSERT_NE(server_, nullptr) << "could not restart on port " << port;

  // A restarted server knows no subscriber. The consumer's probe finds it back; the recovery
  // queries the service, which makes the server push to the consumer again. (The restarted server
  // lists nothing until the provider's next beat re-registers 20880: empty protection keeps the
  // consumer's list meanwhile.)
  ASSERT_TRUE(WaitFor([&] { return consumer->GetStats().recoveries >= 1; }));
  ASSERT_TRUE(WaitFor([&] { return server_->stats().subscribers >= 1; }));
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.Wait([](const std::vector<ServiceChangeEvent>& events) {
    return !events.empty() && Ports(events.back().instances).count(20881) == 1;
  })) << "the change was pushed to the consumer";
}

TEST_F(NamingClientIntegrationTest, AnInstanceDeletedOnTheServerIsReRegisteredOn20404) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(AddBallast(server_->port()));
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880, 1000)).ok());
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20880));
  ASSERT_TRUE(ConfirmBeat(server_->port(), 20880));  // Light beats from now on.

  ScopedLogLevel level(LogSeverity::kInfo);
  LogCapture logs(LogSeverity::kInfo);
  registry::testing::HttpResult deleted =
      registry::testing::HttpRequest(server_->port(), "DELETE", InstanceTarget(20880));
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  ASSERT_EQ(Ports(ServerList(server_->port())), std::set<int>{9});
  ASSERT_TRUE(WaitFor([&] {
    return Ports(ServerList(server_->port())) == std::set<int>{9, 20880};
  }));
  EXPECT_TRUE(AnyLineContains(logs.lines(), "registering it again"));
  EXPECT_FALSE(AnyLineContains(logs.lines(), "data compensation"));
  EXPECT_TRUE(ConfirmBeat(server_->port(), 20880));
}

// --- Push ----------------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, APushIsReceivedAndAcked) {
  auto provider = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  // A poll comes cacheMillis (10 s with push) after the data it follows, and that data came after
  // this point: an event sooner than 10 s from here came by push. That is the protocol's period,
  // not a guess at how fast this machine is.
  constexpr int64_t kCacheMillis = 10000;
  const auto subscribed = steady_clock::now();
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  const NamingServer::Stats before = server_->stats();

  const auto second_registered = steady_clock::now();  // Data holding 20881 came after this.
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));
  EXPECT_LT(MillisSince(subscribed), kCacheMillis) << "not by push";
  EXPECT_EQ(Ports(log.events().back().added), std::set<int>{20881});
  ASSERT_TRUE(WaitFor([&] {
    const NamingServer::Stats now = server_->stats();
    return now.acks > before.acks && now.acks == now.pushes;
  })) << server_->stats().acks
      << "/" << server_->stats().pushes;
  registry::testing::HttpResult state =
      registry::testing::HttpRequest(server_->port(), "GET", "/nacos/v1/ns/operator/push/state");
  ASSERT_EQ(state.status, 200);
  EXPECT_EQ(state.body.find("\"succeed\":0,"), std::string::npos) << state.body;

  // A deregistration is pushed too: the last data before it (holding 20881) came after
  // `second_registered`.
  ASSERT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(log.WaitForPorts({20881}));
  EXPECT_LT(MillisSince(second_registered), kCacheMillis) << "not by push";
  EXPECT_EQ(Ports(log.events().back().removed), std::set<int>{20880});
}

TEST_F(NamingClientIntegrationTest, ALostPushIsRecoveredByPolling) {
  // The server trusts the clientIP the consumer reports, "::1", and cannot reach it from its IPv4
  // socket: every push to this consumer is lost.
  server_.reset();
  NamingServerOptions server_options;
  server_options.port = 0;
  server_options.trust_client_ip = true;
  server_ = StartServer(server_options);
  ASSERT_NE(server_, nullptr);
  auto provider = Client(Options());
  NacosOptions consumer_options = Options();
  consumer_options.client_ip = "::1";
  auto consumer = Client(consumer_options);
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));

  const auto changed = steady_clock::now();
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  // The next poll comes cacheMillis (10 s) after the last data.
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));
  EXPECT_GT(MillisSince(changed), 1000) << "not by push";
  EXPECT_EQ(server_->stats().acks, 0u) << "no push reached the consumer";
  auto all = consumer->GetAllInstances("demo", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Ports(*all), (std::set<int>{20880, 20881}));
}

TEST_F(NamingClientIntegrationTest, AForgedPushChangesNothingAndAStrangersIsNotEvenAcked) {
  // The server's IP from a port of our own: all a forger needs, as the server's push port is
  // ephemeral and never announced.
  UdpPeer forger("127.0.0.1");
  UdpPeer stranger("127.0.0.2");  // Another loopback address: not a server.
  ASSERT_TRUE(forger.ok());
  if (!stranger.ok()) GTEST_SKIP() << "cannot bind 127.0.0.2";

  auto provider = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  auto held = consumer->GetAllInstances("demo", "");
  ASSERT_TRUE(held.ok() && held->size() == 1u);
  const Instance a = (*held)[0];
  auto with = [&](int port) {
    std::vector<Instance> hosts = {a, a};
    hosts[1].port = port;
    return hosts;
  };

  // An old lastRefTime (a wall-clock millisecond of the pushing server, whose clock may be behind
  // the one that answered last): acked, and a doorbell like any other push.
  ASSERT_TRUE(forger.SendTo(consumer->udp_port(), PushDatagram(with(1111), 1)));
  std::string ack;
  ASSERT_TRUE(forger.Receive(60000, &ack)) << "an old push is acked";
  Result<int64_t> acked = nacos_wire::ParsePushAck(ack);
  ASSERT_TRUE(acked.ok()) << ack;
  EXPECT_EQ(*acked, 1);

  // Fresh data that would redirect every call: acked, and only makes the consumer ask the server.
  const int64_t fresh = WallMillis() + 60000;
  ASSERT_TRUE(forger.SendTo(consumer->udp_port(), PushDatagram(with(2222), fresh)));
  ASSERT_TRUE(forger.Receive(60000, &ack));
  acked = nacos_wire::ParsePushAck(ack);
  ASSERT_TRUE(acked.ok()) << ack;
  EXPECT_EQ(*acked, fresh);
  ASSERT_TRUE(stranger.SendTo(consumer->udp_port(), PushDatagram(with(3333), fresh)));

  // A fence: a real change, pushed by the server, reaches the listener after the query the forged
  // push caused (one query in flight per service, the next one queued behind it).
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));

  std::string reply;
  EXPECT_FALSE(stranger.Receive(0, &reply)) << "the stranger's push was answered: " << reply;
  for (const ServiceChangeEvent& e : log.events()) {
    EXPECT_EQ(Ports(e.instances).count(1111), 0u) << "the old push was applied";
    EXPECT_EQ(Ports(e.instances).count(2222), 0u) << "the forged push was applied";
    EXPECT_EQ(Ports(e.instances).count(3333), 0u) << "the stranger's push was applied";
  }
  auto now = consumer->GetAllInstances("demo", "");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(Ports(*now), (std::set<int>{20880, 20881}));
  const NamingClientStats stats = consumer->GetStats();
  EXPECT_EQ(stats.spoofed_datagrams, 1u);
  EXPECT_GE(stats.pushes, 2u);
}

TEST_F(NamingClientIntegrationTest, ABlockedListenerGetsOneMergedEventAfterManyChanges) {
  // Declared before the clients: the listener uses them until the consumer is destroyed.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  EventLog log;
  NamingListener record = log.Listener();
  auto provider = Client(Options());
  auto consumer = Client(Options());
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(consumer
                  ->Subscribe("demo", "", "",
                              [&](const ServiceChangeEvent& e) {
                                record(e);
                                std::unique_lock<std::mutex> lock(mu);
                                entered = true;
                                cv.notify_all();
                                cv.wait(lock, [&] { return release; });
                              })
                  .ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, seconds(10), [&] { return entered; }));
  }
  // The listener is stuck in its first call while the consumer applies four changes, one by one.
  auto holds = [&](const std::set<int>& ports) {
    return WaitFor([&] {
      auto held = consumer->GetAllInstances("demo", "");
      return held.ok() && Ports(*held) == ports;
    });
  };
  std::set<int> ports = {20880};
  for (int port : {20881, 20882, 20883}) {
    ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(port)).ok());
    ports.insert(port);
    ASSERT_TRUE(holds(ports));
  }
  ASSERT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20880)).ok());
  const std::set<int> last = {20881, 20882, 20883};
  ASSERT_TRUE(holds(last));
  // The first change queued a call; the three after it were merged into that call.
  EXPECT_EQ(consumer->GetStats().events_merged, 3u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(log.WaitForPorts(last));
  const std::vector<ServiceChangeEvent> events = log.events();
  ASSERT_EQ(events.size(), 2u) << "the blocked call, then one merged call";
  EXPECT_EQ(Ports(events[1].added), last);
  EXPECT_EQ(Ports(events[1].removed), std::set<int>{20880});
  EXPECT_TRUE(events[1].modified.empty());
}

// --- Empty protection ----------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, EmptyPushProtectionKeepsTheLastList) {
  auto provider = Client(Options());
  auto consumer = Client(Options());  // push_empty_protection defaults to true.
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(consumer->options().push_empty_protection);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  const uint64_t acks = server_->stats().acks;

  ASSERT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(WaitFor([&] { return server_->stats().acks > acks; })) << "the empty list is pushed";
  // A fence: a second listener's first event runs after everything queued for the first one.
  EventLog fence;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", fence.Listener()).ok());
  ASSERT_TRUE(fence.WaitForPorts({20880})) << "the held list is still the old one";
  for (const ServiceChangeEvent& e : log.events()) {
    EXPECT_FALSE(e.instances.empty()) << "an empty list reached the listener";
  }
  auto all = consumer->GetAllInstances("demo", "");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(Ports(*all), std::set<int>{20880});
}

TEST_F(NamingClientIntegrationTest, WithoutEmptyProtectionTheEmptyListIsDelivered) {
  auto provider = Client(Options());
  NacosOptions options = Options();
  options.push_empty_protection = false;
  auto consumer = Client(options);
  ASSERT_TRUE(provider && consumer);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  EventLog log;
  ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  ASSERT_TRUE(provider->DeregisterInstance("demo", "", MakeInstance(20880)).ok());
  ASSERT_TRUE(log.WaitForPorts({}));
  EXPECT_EQ(Ports(log.events().back().removed), std::set<int>{20880});
  auto all = consumer->GetAllInstances("demo", "");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

// --- Disk cache ----------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, TheDiskCacheServesWhenTheServerIsDown) {
  {
    auto provider = Client(Options());
    auto consumer = Client(Options());
    ASSERT_TRUE(provider && consumer);
    ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
    ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20881)).ok());
    EventLog log;
    ASSERT_TRUE(consumer->Subscribe("demo", "", "", log.Listener()).ok());
    ASSERT_TRUE(log.WaitForPorts({20880, 20881}));
    EXPECT_TRUE(std::filesystem::exists(cache_.path() + "/DEFAULT_GROUP%40%40demo"));
    consumer->Shutdown();
    server_->Stop();  // Before the provider's shutdown could deregister anything.
  }
  NacosOptions down = Options();  // The stopped server's address: connection refused.
  down.request_timeout_ms = 1000;

  // Asked without a subscription, then with one.
  auto b = Client(down);
  ASSERT_NE(b, nullptr);
  auto once = b->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(Ports(*once), (std::set<int>{20880, 20881}));
  auto subscribed = b->GetAllInstances("demo", "");
  ASSERT_TRUE(subscribed.ok()) << subscribed.status();
  EXPECT_EQ(Ports(*subscribed), (std::set<int>{20880, 20881}));
  auto one = b->SelectOneHealthyInstance("demo", "");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_TRUE(one->port == 20880 || one->port == 20881);

  // A subscriber gets the cached list.
  auto c = Client(down);
  ASSERT_NE(c, nullptr);
  EventLog log;
  ASSERT_TRUE(c->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));

  // A service never cached is an error.
  auto unknown = c->GetAllInstances("nothing", "", "", /*subscribe=*/false);
  EXPECT_FALSE(unknown.ok());
}

TEST_F(NamingClientIntegrationTest, LoadCacheAtStartAnswersWithoutAServer) {
  {
    auto provider = Client(Options());
    auto consumer = Client(Options());
    ASSERT_TRUE(provider && consumer);
    ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
    auto all = consumer->GetAllInstances("demo", "");
    ASSERT_TRUE(all.ok() && all->size() == 1u);
  }
  // A server that never answers, with a timeout that never runs out: only the cache loaded at start
  // can answer (the watchdog bound is far below the timeout).
  HangingServer hanging;
  ASSERT_TRUE(hanging.ok());
  NacosOptions options = Options({hanging.address()});
  options.load_cache_at_start = true;
  options.request_timeout_ms = kNeverMs;
  auto client = Client(options);
  ASSERT_NE(client, nullptr);
  const auto start = steady_clock::now();
  auto all = client->GetAllInstances("demo", "");
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Ports(*all), std::set<int>{20880});
  EXPECT_LT(MillisSince(start), kWatchdog.count());
  client->Shutdown();
}

// --- Failover across servers
// -----------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, CallsFailOverWhenOneOfTwoServersIsKilled) {
  std::unique_ptr<NamingServer> second = StartServer();
  ASSERT_NE(second, nullptr);
  NacosOptions options = Options({server_->address(), second->address()});
  auto client = Client(options);
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->GetServerStatus(), "UP");

  server_->Stop();  // Killed: connections to it are refused from now on.
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(client->GetServerStatus(), "UP") << i;
    ASSERT_TRUE(client->RegisterInstance("demo", "", MakeInstance(30000 + i)).ok()) << i;
    auto services = client->GetServices(1, 10);
    ASSERT_TRUE(services.ok()) << services.status();
    auto all = client->GetAllInstances("demo", "", "", /*subscribe=*/false);
    ASSERT_TRUE(all.ok()) << all.status();
    EXPECT_EQ(all->size(), static_cast<size_t>(i + 1));
  }
  EXPECT_EQ(second->stats().instances, 12u) << "every registration reached the live server";

  second->Stop();  // Both down: calls fail, quickly (connection refused).
  EXPECT_EQ(client->GetServerStatus(), "DOWN");
  Status failed = client->RegisterInstance("demo", "", MakeInstance(31000));
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable) << failed;
}

// --- Auth
// ------------------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, AuthWorksWithTheRightPasswordAndNeverLogsIt) {
  ScopedLogLevel level(LogSeverity::kDebug);
  LogCapture logs(LogSeverity::kDebug);
  server_.reset();
  NamingServerOptions server_options;
  server_options.port = 0;
  server_options.auth_enabled = true;
  server_options.username = "nacos";
  server_options.password = "Sup3r-Secret-pw";
  server_ = StartServer(server_options);
  ASSERT_NE(server_, nullptr);

  NacosOptions good = Options();
  good.username = "nacos";
  good.password = "Sup3r-Secret-pw";
  auto client = Client(good);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(client->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  auto all = client->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(Ports(*all), std::set<int>{20880});
  EventLog log;
  ASSERT_TRUE(client->Subscribe("demo", "", "", log.Listener()).ok());
  ASSERT_TRUE(log.WaitForPorts({20880}));
  ASSERT_TRUE(client->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  ASSERT_TRUE(log.WaitForPorts({20880, 20881}));

  NacosOptions bad = Options();
  bad.username = "nacos";
  bad.password = "Wr0ng-Secret-pw";
  bad.cache_dir = cache_.path() + "/bad";  // No cached copy to fall back on.
  auto intruder = Client(bad);
  ASSERT_NE(intruder, nullptr);
  Status denied = intruder->RegisterInstance("demo", "", MakeInstance(20882));
  EXPECT_EQ(denied.code(), StatusCode::kPermissionDenied) << denied;
  auto listed = intruder->GetAllInstances("demo", "", "", /*subscribe=*/false);
  EXPECT_EQ(listed.status().code(), StatusCode::kPermissionDenied) << listed.status();

  NacosOptions anonymous = Options();
  anonymous.cache_dir = cache_.path() + "/anonymous";
  auto nobody = Client(anonymous);
  ASSERT_NE(nobody, nullptr);
  EXPECT_EQ(nobody->RegisterInstance("demo", "", MakeInstance(20883)).code(),
            StatusCode::kPermissionDenied);
  client->Shutdown();
  intruder->Shutdown();
  nobody->Shutdown();
  EXPECT_EQ(server_->stats().instances, 0u) << "the shutdown deregistered (with the token)";

  const std::vector<std::string> lines = logs.lines();
  EXPECT_FALSE(lines.empty());
  EXPECT_TRUE(AnyLineContains(lines, "nacos")) << "the user name may be logged";
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find("Sup3r-Secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("Wr0ng-Secret"), std::string::npos) << line;
    EXPECT_EQ(line.find("accessToken="), std::string::npos) << line;
  }
}

// --- Timeouts ----------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, ASubSecondTimeoutIsHonouredAgainstAServerThatNeverAnswers) {
  HangingServer hanging;
  ASSERT_TRUE(hanging.ok());
  NacosOptions options = Options({hanging.address()});
  options.request_timeout_ms = 300;
  options.max_retry = 1;
  auto client = Client(options);
  ASSERT_NE(client, nullptr);

  // The server never answers and 300 ms is the only request timeout configured, so a
  // kDeadlineExceeded is that timeout being honoured; a call that ignored it would hang until the
  // ctest timeout.
  auto start = steady_clock::now();
  Status registered = client->RegisterInstance("demo", "", MakeInstance(20880));
  int64_t elapsed = MillisSince(start);
  EXPECT_EQ(registered.code(), StatusCode::kDeadlineExceeded) << registered;
  EXPECT_GE(elapsed, 250) << "returned before the timeout";
  EXPECT_GE(hanging.accepted(), 1u);

  auto all = client->GetAllInstances("demo", "", "", /*subscribe=*/false);
  EXPECT_EQ(all.status().code(), StatusCode::kDeadlineExceeded) << all.status();

  // Three tries of the one server: about 900 ms.
  options.max_retry = 3;
  auto retrying = Client(options);
  ASSERT_NE(retrying, nullptr);
  start = steady_clock::now();
  EXPECT_EQ(retrying->RegisterInstance("demo", "", MakeInstance(20881)).code(),
            StatusCode::kDeadlineExceeded);
  elapsed = MillisSince(start);
  EXPECT_GE(elapsed, 800);
}

// --- Shutdown ------------------------------------------------------------------------------------

TEST_F(NamingClientIntegrationTest, ShutdownUnderLoadReturnsAndNoListenerRunsAfterwards) {
  constexpr int kInstances = 40;
  constexpr int kServices = 16;
  auto client = Client(Options());
  auto provider = Client(Options());
  auto observer = Client(Options());
  ASSERT_TRUE(client && provider && observer);

  std::atomic<bool> shut_down{false};
  std::atomic<int> calls{0};
  std::atomic<int> late_calls{0};
  auto listener = [&](const ServiceChangeEvent&) {
    calls.fetch_add(1);
    if (shut_down.load()) late_calls.fetch_add(1);
  };
  for (int i = 0; i < kInstances; ++i) {
    ASSERT_TRUE(client
                    ->RegisterInstance("svc" + std::to_string(i % kServices), "",
                                       MakeInstance(40000 + i, 1000))
                    .ok());
  }
  for (int s = 0; s < kServices; ++s) {
    ASSERT_TRUE(client->Subscribe("svc" + std::to_string(s), "", "", listener).ok());
    ASSERT_TRUE(client->Subscribe("svc" + std::to_string(s), "", "", listener).ok());
  }
  EventLog observed;
  ASSERT_TRUE(observer->Subscribe("svc0", "", "", observed.Listener()).ok());

  // Load: threads calling the client and a provider changing the subscribed services.
  std::atomic<bool> stop_load{false};
  std::vector<std::thread> load;
  for (int t = 0; t < 3; ++t) {
    load.emplace_back([&, t] {
      for (int n = 0; !stop_load.load(); ++n) {
        const std::string service = "svc" + std::to_string((t + n) % kServices);
        switch (n % 4) {
          case 0:
            client->GetAllInstances(service, "").status().IgnoreError();
            break;
          case 1:
            client->SelectOneHealthyInstance(service, "").status().IgnoreError();
            break;
          case 2: {
            auto id = client->Subscribe(service, "", "", listener);
            if (id.ok()) client->Unsubscribe(*id).IgnoreError();
            break;
          }
          default:
            client->RegisterInstance(service, "", MakeInstance(41000 + t * 100 + n % 100, 1000))
                .IgnoreError();
        }
      }
    });
  }
  load.emplace_back([&] {
    for (int n = 0; !stop_load.load(); ++n) {
      provider
          ->RegisterInstance("svc" + std::to_string(n % kServices), "",
                             MakeInstance(50000 + n % 500))
          .IgnoreError();
    }
  });
  ASSERT_TRUE(WaitFor([&] { return calls.load() > 2 * kServices; })) << calls.load();

  const auto start = steady_clock::now();
  client->Shutdown();
  const int64_t elapsed = MillisSince(start);
  shut_down.store(true);
  EXPECT_LT(elapsed, kWatchdog.count()) << "a watchdog: Shutdown() did not hang";

  // Every method fails from now on; the load threads keep calling for a while.
  EXPECT_EQ(client->RegisterInstance("svc0", "", MakeInstance(42000)).code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->Subscribe("svc0", "", "", listener).status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_EQ(client->GetAllInstances("svc0", "").status().code(), StatusCode::kFailedPrecondition);

  // Changes after the shutdown reach the observer, never the shut-down client's listeners.
  provider->RegisterInstance("svc0", "", MakeInstance(59999)).IgnoreError();
  EXPECT_TRUE(observed.Wait([](const std::vector<ServiceChangeEvent>& events) {
    return !events.empty() && Ports(events.back().instances).count(59999) > 0;
  }));
  stop_load.store(true);
  for (std::thread& t : load) t.join();
  client->Shutdown();  // Idempotent.
  client.reset();
  EXPECT_EQ(late_calls.load(), 0);
}

TEST_F(NamingClientIntegrationTest, ShutdownReturnsPromptlyWhenTheServerHangs) {
  HangingServer hanging;
  ASSERT_TRUE(hanging.ok());
  NacosOptions options = Options({hanging.address()});
  options.request_timeout_ms = kNeverMs;  // Calls in flight would wait this long (x3 tries).
  auto client = Client(options);
  ASSERT_NE(client, nullptr);

  constexpr int kCallers = 6;
  std::atomic<int> returned{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t) {
    callers.emplace_back([&, t] {
      if (t % 2 == 0) {
        client->RegisterInstance("demo", "", MakeInstance(20880 + t)).IgnoreError();
      } else {
        client->Subscribe("svc" + std::to_string(t), "", "", [](const ServiceChangeEvent&) {})
            .status()
            .IgnoreError();
      }
      returned.fetch_add(1);
    });
  }
  // Every call is in flight.
  ASSERT_TRUE(WaitFor([&] { return hanging.requests() >= kCallers; })) << hanging.requests();
  EXPECT_EQ(returned.load(), 0);

  const auto start = steady_clock::now();
  client->Shutdown();
  EXPECT_LT(MillisSince(start), kWatchdog.count())
      << "Shutdown() waited for calls in flight (their timeout is ten minutes)";
  EXPECT_TRUE(WaitFor([&] { return returned.load() == kCallers; }))
      << "blocked callers return once the client is shut down";
  for (std::thread& t : callers) t.join();
}

TEST_F(NamingClientIntegrationTest, ShutdownFromInsideAListenerDoesNotDeadlock) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  auto client = Client(Options());
  ASSERT_NE(client, nullptr);
  NamingClient* raw = client.get();

  std::mutex mu;
  std::condition_variable cv;
  bool returned = false;
  std::atomic<int> calls{0};
  ASSERT_TRUE(client
                  ->Subscribe("demo", "", "",
                              [&, raw](const ServiceChangeEvent&) {
                                if (calls.fetch_add(1) > 0) return;
                                raw->Shutdown();
                                std::lock_guard<std::mutex> lock(mu);
                                returned = true;
                                cv.notify_all();
                              })
                  .ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kWatchdog, [&] { return returned; }))
        << "Shutdown() from a listener did not return";
  }
  EXPECT_EQ(client->RegisterInstance("demo", "", MakeInstance(20881)).code(),
            StatusCode::kFailedPrecondition);
  client->Shutdown();
  client.reset();
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(NamingClientIntegrationTest, ShutdownFromAListenerWhileTheOwnerShutsDownToo) {
  auto provider = Client(Options());
  ASSERT_NE(provider, nullptr);
  ASSERT_TRUE(provider->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  auto client = Client(Options());
  ASSERT_NE(client, nullptr);
  NamingClient* raw = client.get();

  std::atomic<bool> in_listener{false};
  std::atomic<bool> listener_done{false};
  ASSERT_TRUE(client
                  ->Subscribe("demo", "", "",
                              [&, raw](const ServiceChangeEvent&) {
                                if (in_listener.exchange(true)) return;
                                // Wait (bounded) until the owner's Shutdown() has begun: every
                                // call fails with kFailedPrecondition from then on.
                                WaitFor([&] {
                                  return raw->Unsubscribe(999999).code() ==
                                         StatusCode::kFailedPrecondition;
                                });
                                raw->Shutdown();
                                listener_done.store(true);
                              })
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return in_listener.load(); }));
  std::atomic<bool> owner_done{false};
  std::thread owner([&] {
    raw->Shutdown();
    owner_done.store(true);
  });
  const bool finished = WaitFor([&] { return owner_done.load() && listener_done.load(); });
  if (!finished) {
    ADD_FAILURE() << "deadlock: owner " << owner_done.load() << ", listener "
                  << listener_done.load();
    std::fflush(nullptr);
    std::_Exit(1);  // The threads cannot be joined.
  }
  owner.join();
  client.reset();
}

TEST_F(NamingClientIntegrationTest, ShutdownReturnsPromptlyWhileAListenerWaitsOnAHangingServer) {
  // A cached list, so that the listener runs although the server never answers.
  {
    DiskCache disk(cache_.path());
    ServiceInfo info;
    info.name = "DEFAULT_GROUP@@demo";
    info.group_name = "DEFAULT_GROUP";
    info.cache_millis = 10000;
    info.last_ref_time = 1;
    info.hosts = {MakeInstance(20880)};
    ASSERT_TRUE(disk.Write(info.Key(), ServiceInfoToJson(info)).ok());
  }
  HangingServer hanging;
  ASSERT_TRUE(hanging.ok());
  NacosOptions options = Options({hanging.address()});
  options.load_cache_at_start = true;
  options.request_timeout_ms = kNeverMs;
  auto client = Client(options);
  ASSERT_NE(client, nullptr);
  NamingClient* raw = client.get();

  std::atomic<bool> in_listener{false};
  std::atomic<bool> listener_returned{false};
  std::atomic<bool> subscribe_returned{false};
  std::thread subscriber([&] {
    raw->Subscribe("demo", "", "",
                   [&, raw](const ServiceChangeEvent&) {
                     if (in_listener.exchange(true)) return;
                     // Blocks on the hanging server.
                     raw->RegisterInstance("demo", "", MakeInstance(20881)).IgnoreError();
                     listener_returned.store(true);
                   })
        .status()
        .IgnoreError();
    subscribe_returned.store(true);
  });
  // The listener runs (cached list) and its registration is in flight, as is the first query.
  ASSERT_TRUE(WaitFor([&] { return in_listener.load() && hanging.requests() >= 2; }))
      << hanging.requests();

  const auto start = steady_clock::now();
  client->Shutdown();
  const int64_t elapsed = MillisSince(start);
  EXPECT_LT(elapsed, kWatchdog.count())
      << "Shutdown() waited for requests in flight (their timeout is ten minutes)";
  EXPECT_TRUE(WaitFor([&] { return listener_returned.load() && subscribe_returned.load(); }));
  subscriber.join();
}

}  // namespace
}  // namespace dubbo::registry::nacos
