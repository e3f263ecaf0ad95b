// End-to-end: the Thrift demo's programs (naming-server, demo-provider, demo-consumer) as separate
// processes on loopback, with the assertions of the demo scenario:
//   * the consumer's split follows the weights 1:2:3, and no call fails;
//   * a SIGKILLed provider gets no new call after its first failure (only circuit-breaker probes);
//   * a provider's SIGTERM deregisters it before its port closes;
//   * a consumer started while the naming server is down serves from its cache file, then converges
//     once the server is up.
// Binary paths come from the build (compile definitions). Every process gets HOME set to a fresh
// directory, so no cache file outside it is read or written.
//
// The test steps on events, never on elapsed time: a process's output lines (the server's and the
// provider's start lines, the consumer's live table with its per-provider call and failure
// counts), its exit, and the naming server's instance list. Consumers run until the test has seen
// what it needs and then stops them with SIGTERM. A process that hangs is caught by the ctest
// timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "testing/child_process.h"
#include "testing/http_client.h"
#include "testing/temp_dir.h"

namespace {

using dubbo::registry::testing::ChildProcess;
using std::chrono::milliseconds;

// A demo program with HOME in the test's directory, so no cache file outside it is touched.
class Process : public ChildProcess {
 public:
  Process(std::vector<std::string> argv, const std::string& home)
      : ChildProcess(std::move(argv), {"HOME=" + home}) {}
};

// One provider's row in the latest table the consumer printed.
struct ProviderRow {
  uint64_t calls = 0;
  uint64_t failures = 0;
};

// The last row for 127.0.0.1:`port` in demo-consumer's live table ("address weight state calls
// share rate fail p50 p99"); nullopt while it has printed none.
std::optional<ProviderRow> LatestRow(const std::string& output, int port) {
  const std::regex row("\\n +127\\.0\\.0\\.1:" + std::to_string(port) +
                       " +[0-9]+ +[a-z]+ +([0-9]+) +[0-9.]+% +[0-9]+ +([0-9]+) ");
  std::optional<ProviderRow> latest;
  for (auto it = std::sregex_iterator(output.begin(), output.end(), row);
       it != std::sregex_iterator(); ++it) {
    latest = ProviderRow{std::stoull((*it)[1].str()), std::stoull((*it)[2].str())};
  }
  return latest;
}

uint64_t LatestCalls(const std::string& output, int port) {
  const std::optional<ProviderRow> row = LatestRow(output, port);
  return row ? row->calls : 0;
}

bool PortAcceptsConnections(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

class DemoE2ETest : public ::testing::Test {
 protected:
  std::unique_ptr<Process> StartServer(int port = 0) {
    auto server = std::make_unique<Process>(
        std::vector<std::string>{DEMO_NAMING_SERVER, "--port", std::to_string(port)}, dir_.path());
    auto address = server->WaitForMatch("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    EXPECT_TRUE(address.has_value()) << server->Log();
    if (address) server_port_ = std::stoi(*address);
    return server;
  }

  std::string Registry() const {
    return "nacos://127.0.0.1:" + std::to_string(server_port_) +
           "?file=" + dir_.File("consumer.cache");
  }

  // Starts a provider and returns it with its port (0 when it did not come up).
  std::pair<std::unique_ptr<Process>, int> StartProvider(int weight, int drain_ms = 300) {
    auto provider = std::make_unique<Process>(
        std::vector<std::string>{DEMO_PROVIDER, "--registry",
                                 "nacos://127.0.0.1:" + std::to_string(server_port_), "--weight",
                                 std::to_string(weight), "--drain-ms", std::to_string(drain_ms)},
        dir_.path());
    auto port = provider->WaitForMatch("serving thrift://127\\.0\\.0\\.1:([0-9]+)");
    EXPECT_TRUE(port.has_value()) << provider->Log();
    return {std::move(provider), port ? std::stoi(*port) : 0};
  }

  // Starts a consumer that calls until SIGTERM (its duration is a day) and prints its table every
  // 100 ms, which the test reads to know how far it got. The summary goes to `summary` on exit. A
  // consumer that finds no provider gives up after a minute (a watchdog: they appear at once here)
  // and exits, which ends the test's waits on its output.
  std::unique_ptr<Process> StartConsumer(const std::string& summary) {
    return std::make_unique<Process>(
        std::vector<std::string>{DEMO_CONSUMER, "--registry", Registry(), "--duration", "86400",
                                 "--report-ms", "100", "--summary-json", summary,
                                 "--wait-providers", "60"},
        dir_.path());
  }

  // Stops a consumer the way a user does and returns its exit status.
  static int StopConsumer(Process& consumer) {
    consumer.Signal(SIGTERM);
    return consumer.Wait();
  }

  static rapidjson::Document ReadJson(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    rapidjson::Document doc;
    doc.Parse(ss.str().c_str());
    return doc;
  }

  // provider port -> its entry in the consumer's summary.
  static const rapidjson::Value* Entry(const rapidjson::Document& doc, int port) {
    if (!doc.IsObject() || !doc.HasMember("providers")) return nullptr;
    const std::string address = "127.0.0.1:" + std::to_string(port);
    for (const auto& p : doc["providers"].GetArray()) {
      if (address == p["address"].GetString()) return &p;
    }
    return nullptr;
  }

  dubbo::registry::testing::TempDir dir_;
  int server_port_ = 0;
};

TEST_F(DemoE2ETest, SplitFollowsTheWeightsAndNoCallFails) {
  auto server = StartServer();
  auto [p1, port1] = StartProvider(100);
  auto [p2, port2] = StartProvider(200);
  auto [p3, port3] = StartProvider(300);
  ASSERT_TRUE(port1 && port2 && port3);
  const int ports[] = {port1, port2, port3};
  const std::string summary = dir_.File("split.json");
  auto consumer = StartConsumer(summary);
  // Enough calls for the shares to be within 0.04 of the weights: with 6000 calls a share's
  // standard deviation is under 0.007.
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    uint64_t total = 0;
    for (int port : ports) total += LatestCalls(output, port);
    return total >= 6000;
  })) << consumer->Log();
  ASSERT_EQ(StopConsumer(*consumer), 0) << consumer->Log();
  auto doc = ReadJson(summary);
  ASSERT_TRUE(doc.IsObject()) << consumer->Log();
  EXPECT_EQ(doc["failed"].GetUint64(), 0u);
  const double total = doc["calls"].GetDouble();
  ASSERT_GE(total, 6000);
  const double expected[] = {1.0 / 6, 2.0 / 6, 3.0 / 6};
  for (int i = 0; i < 3; ++i) {
    const rapidjson::Value* e = Entry(doc, ports[i]);
    ASSERT_NE(e, nullptr) << "provider " << ports[i] << " got no call";
    const double share = (*e)["calls"].GetDouble() / total;
    EXPECT_NEAR(share, expected[i], 0.04) << "provider with weight " << (i + 1) * 100;
  }
}

TEST_F(DemoE2ETest, KilledProviderGetsNoNewCallAfterItsFirstFailure) {
  auto server = StartServer();
  auto [p1, port1] = StartProvider(100);
  auto [p2, port2] = StartProvider(200);
  auto [p3, port3] = StartProvider(300);
  ASSERT_TRUE(port1 && port2 && port3);
  const int survivor1 = port1;  // Copies: lambdas cannot capture structured bindings in C++17.
  const int killed_port = port2;
  const int survivor3 = port3;
  const std::string summary = dir_.File("kill.json");
  auto consumer = StartConsumer(summary);
  // Calls flowing to every provider.
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    return LatestCalls(output, survivor1) > 0 && LatestCalls(output, killed_port) > 0 &&
           LatestCalls(output, survivor3) > 0;
  })) << consumer->Log();
  p2->Signal(SIGKILL);
  EXPECT_EQ(p2->Wait(), 128 + SIGKILL);
  // The consumer noticed the kill, then made 3000 more calls, all of which the survivors served.
  uint64_t survivors_at_failure = 0;
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    const std::optional<ProviderRow> killed = LatestRow(output, killed_port);
    return killed && killed->failures > 0;
  })) << consumer->Log();
  {
    const std::string output = consumer->Log();
    survivors_at_failure = LatestCalls(output, survivor1) + LatestCalls(output, survivor3);
  }
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    return LatestCalls(output, survivor1) + LatestCalls(output, survivor3) >=
           survivors_at_failure + 3000;
  })) << consumer->Log();
  ASSERT_EQ(StopConsumer(*consumer), 0) << consumer->Log();
  auto doc = ReadJson(summary);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["failed"].GetUint64(), 0u) << "failover must hide the dead provider";
  const rapidjson::Value* killed = Entry(doc, killed_port);
  ASSERT_NE(killed, nullptr);
  EXPECT_GT((*killed)["calls"].GetUint64(), 0u);
  EXPECT_GT((*killed)["failures"].GetUint64(), 0u) << "the kill was noticed";
  EXPECT_EQ((*killed)["attempts_after_failure"].GetUint64(), 0u)
      << "only circuit-breaker probes may reach a provider after its first failure";
  // The survivors shared the load 1:3 throughout.
  const double c1 = (*Entry(doc, survivor1))["calls"].GetDouble();
  const double c3 = (*Entry(doc, survivor3))["calls"].GetDouble();
  EXPECT_NEAR(c3 / (c1 + c3), 0.75, 0.05);
}

TEST_F(DemoE2ETest, SigtermDeregistersBeforeThePortCloses) {
  auto server = StartServer();
  // The provider unregisters, then keeps its port open for the drain, then closes it. The test
  // watches the server's list until the instance is gone and then connects: the port must still be
  // open. The drain only has to outlast the few system calls between the two observations, so five
  // seconds cannot run out, however loaded the machine.
  auto [provider, provider_port] = StartProvider(100, /*drain_ms=*/5000);
  const int port = provider_port;  // A copy: lambdas cannot capture structured bindings in C++17.
  ASSERT_NE(port, 0);
  const std::string list_path =
      "/nacos/v1/ns/instance/list?serviceName=providers:dubbo.demo.Greeter::";
  auto registered = [&] {
    auto r = dubbo::registry::testing::HttpRequest(static_cast<uint16_t>(server_port_), "GET",
                                                   list_path);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.body.find("\"port\":" + std::to_string(port)) != std::string::npos;
  };
  ASSERT_TRUE(registered());  // The provider prints its start line once registered.
  ASSERT_TRUE(PortAcceptsConnections(port));
  provider->Signal(SIGTERM);
  // The server has no event to wait on: ask until it answers without the instance. A provider that
  // never unregisters hangs here until the ctest timeout.
  while (registered()) std::this_thread::sleep_for(milliseconds(5));
  EXPECT_TRUE(PortAcceptsConnections(port))
      << "the port closed before consumers could learn of the exit";
  EXPECT_EQ(provider->Wait(), 0) << provider->Log();
  EXPECT_FALSE(PortAcceptsConnections(port)) << "the port outlived the provider";
}

TEST_F(DemoE2ETest, ConsumerStartsFromItsCacheFileWhileTheServerIsDown) {
  auto server = StartServer();
  const int registry_port = server_port_;
  auto [provider, provider_port] = StartProvider(100);
  const int port = provider_port;  // A copy: lambdas cannot capture structured bindings in C++17.
  ASSERT_NE(port, 0);
  // A first consumer run leaves the cache file behind: it has called the provider, so it was
  // notified of it, and SIGTERM makes it destroy its registry, which writes the cache file.
  const std::string first = dir_.File("first.json");
  auto warmup = StartConsumer(first);
  ASSERT_TRUE(warmup->WaitUntil([&](const std::string& output) {
    return LatestCalls(output, port) > 0;
  })) << warmup->Log();
  ASSERT_EQ(StopConsumer(*warmup), 0) << warmup->Log();

  server->Signal(SIGTERM);
  ASSERT_EQ(server->Wait(), 0) << server->Log();
  // The server is down: the consumer must start from the cache file and call the provider.
  const std::string second = dir_.File("second.json");
  auto consumer = StartConsumer(second);
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    return LatestCalls(output, port) > 0;
  })) << consumer->Log();
  // The server comes back on the same port; a new provider registers; the consumer converges.
  server = StartServer(registry_port);
  ASSERT_EQ(server_port_, registry_port);
  auto [late, late_provider_port] = StartProvider(100);
  const int late_port = late_provider_port;
  ASSERT_NE(late_port, 0);
  ASSERT_TRUE(consumer->WaitUntil([&](const std::string& output) {
    return LatestCalls(output, late_port) > 0;
  })) << consumer->Log();
  ASSERT_EQ(StopConsumer(*consumer), 0) << consumer->Log();
  auto doc = ReadJson(second);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["failed"].GetUint64(), 0u);
  const rapidjson::Value* cached = Entry(doc, port);
  ASSERT_NE(cached, nullptr) << "the cached provider was never called";
  EXPECT_GT((*cached)["calls"].GetUint64(), 0u);
  const rapidjson::Value* joined = Entry(doc, late_port);
  ASSERT_NE(joined, nullptr) << "the consumer never converged to the server's list";
  EXPECT_GT((*joined)["calls"].GetUint64(), 0u);
}

}  // namespace
