// End-to-end: the Thrift demo's programs (naming-server, demo-provider, demo-consumer) as separate
// processes on loopback, with the assertions of the demo scenario:
//   * the consumer's split follows the weights 1:2:3, and no call fails;
//   * a SIGKILLed provider gets no new call after its first failure (only circuit-breaker probes);
//   * a provider's SIGTERM deregisters it before its port closes;
//   * a consumer started while the naming server is down serves from its cache file, then converges
//     once the server is up.
// Binary paths come from the build (compile definitions). Every process gets HOME set to a fresh
// directory, so no cache file outside it is read or written.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/http_client.h"
#include "testing/temp_dir.h"

extern char** environ;

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// A child process with stdout and stderr in a file.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& log_path, const std::string& home)
      : log_path_(log_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("HOME=", 0) != 0) env_strings.emplace_back(*e);
    }
    env_strings.push_back("HOME=" + home);
    std::vector<char*> env;
    for (auto& e : env_strings) env.push_back(e.data());
    env.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), env.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  pid_t pid() const { return pid_; }
  void Signal(int sig) { ::kill(pid_, sig); }

  // Exit status (or 128 + signal); nullopt if still running after `bound`.
  std::optional<int> Wait(milliseconds bound) {
    const auto until = Clock::now() + bound;
    while (true) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (Clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // The first match of `pattern`'s group 1 in the log, waiting up to `bound`.
  std::optional<std::string> WaitForMatch(const std::string& pattern, milliseconds bound) {
    const std::regex re(pattern);
    const auto until = Clock::now() + bound;
    while (Clock::now() < until) {
      std::smatch m;
      const std::string log = Log();
      if (std::regex_search(log, m, re)) return m[1].str();
      std::this_thread::sleep_for(milliseconds(20));
    }
    return std::nullopt;
  }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

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
        std::vector<std::string>{DEMO_NAMING_SERVER, "--port", std::to_string(port)},
        dir_.File("server" + std::to_string(n_++) + ".log"), dir_.path());
    auto address = server->WaitForMatch("listening on http://127\\.0\\.0\\.1:([0-9]+)", seconds(10));
    EXPECT_TRUE(address.has_value()) << server->Log();
    if (address) server_port_ = std::stoi(*address);
    return server;
  }

  std::string Registry() const {
    return "nacos://127.0.0.1:" + std::to_string(server_port_) + "?file=" + dir_.File("consumer.cache");
  }

  // Starts a provider and returns it with its port (0 when it did not come up).
  std::pair<std::unique_ptr<Process>, int> StartProvider(int weight, int drain_ms = 300) {
    auto provider = std::make_unique<Process>(
        std::vector<std::string>{DEMO_PROVIDER, "--registry",
                                 "nacos://127.0.0.1:" + std::to_string(server_port_), "--weight",
                                 std::to_string(weight), "--drain-ms", std::to_string(drain_ms)},
        dir_.File("provider" + std::to_string(n_++) + ".log"), dir_.path());
    auto port = provider->WaitForMatch("serving thrift://127\\.0\\.0\\.1:([0-9]+)", seconds(10));
    EXPECT_TRUE(port.has_value()) << provider->Log();
    return {std::move(provider), port ? std::stoi(*port) : 0};
  }

  std::unique_ptr<Process> StartConsumer(double seconds_to_run, const std::string& summary,
                                         int wait_providers_s = 10) {
    std::ostringstream duration;
    duration << seconds_to_run;
    return std::make_unique<Process>(
        std::vector<std::string>{DEMO_CONSUMER, "--registry", Registry(), "--duration",
                                 duration.str(), "--quiet", "--summary-json", summary,
                                 "--wait-providers", std::to_string(wait_providers_s)},
        dir_.File("consumer" + std::to_string(n_++) + ".log"), dir_.path());
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
  int n_ = 0;
};

TEST_F(DemoE2ETest, SplitFollowsTheWeightsAndNoCallFails) {
  auto server = StartServer();
  auto [p1, port1] = StartProvider(100);
  auto [p2, port2] = StartProvider(200);
  auto [p3, port3] = StartProvider(300);
  ASSERT_TRUE(port1 && port2 && port3);
  const std::string summary = dir_.File("split.json");
  auto consumer = StartConsumer(3, summary);
  ASSERT_EQ(consumer->Wait(seconds(60)), 0) << consumer->Log();
  auto doc = ReadJson(summary);
  ASSERT_TRUE(doc.IsObject()) << consumer->Log();
  EXPECT_EQ(doc["failed"].GetUint64(), 0u);
  const double total = doc["calls"].GetDouble();
  ASSERT_GT(total, 3000) << "too few calls for a split to mean anything";
  const int ports[] = {port1, port2, port3};
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
  const std::string summary = dir_.File("kill.json");
  auto consumer = StartConsumer(5, summary);
  std::this_thread::sleep_for(milliseconds(1500));  // Calls flowing to every provider.
  p2->Signal(SIGKILL);
  ASSERT_EQ(consumer->Wait(seconds(60)), 0) << consumer->Log();
  auto doc = ReadJson(summary);
  ASSERT_TRUE(doc.IsObject());
  EXPECT_EQ(doc["failed"].GetUint64(), 0u) << "failover must hide the dead provider";
  const rapidjson::Value* killed = Entry(doc, port2);
  ASSERT_NE(killed, nullptr);
  EXPECT_GT((*killed)["calls"].GetUint64(), 0u);
  EXPECT_GT((*killed)["failures"].GetUint64(), 0u) << "the kill was noticed";
  EXPECT_EQ((*killed)["attempts_after_failure"].GetUint64(), 0u)
      << "only circuit-breaker probes may reach a provider after its first failure";
  // The survivors shared the load 1:3 meanwhile.
  const double c1 = (*Entry(doc, port1))["calls"].GetDouble();
  const double c3 = (*Entry(doc, port3))["calls"].GetDouble();
  EXPECT_NEAR(c3 / (c1 + c3), 0.75, 0.05);
}

TEST_F(DemoE2ETest, SigtermDeregistersBeforeThePortCloses) {
  auto server = StartServer();
  auto [provider, provider_port] = StartProvider(100, /*drain_ms=*/300);
  const int port = provider_port;  // A copy: lambdas cannot capture structured bindings in C++17.
  ASSERT_NE(port, 0);
  const std::string list_path =
      "/nacos/v1/ns/instance/list?serviceName=providers:dubbo.demo.Greeter::";
  auto registered = [&] {
    auto r = dubbo::registry::testing::HttpRequest(static_cast<uint16_t>(server_port_), "GET",
                                                   list_path);
    return r.status == 200 && r.body.find("\"port\":" + std::to_string(port)) != std::string::npos;
  };
  ASSERT_TRUE(registered());
  provider->Signal(SIGTERM);
  std::optional<Clock::time_point> deregistered, closed;
  const auto until = Clock::now() + seconds(10);
  while ((!deregistered || !closed) && Clock::now() < until) {
    const auto now = Clock::now();
    if (!deregistered && !registered()) deregistered = now;
    if (!closed && !PortAcceptsConnections(port)) closed = now;
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_TRUE(deregistered.has_value()) << "the instance stayed registered";
  ASSERT_TRUE(closed.has_value()) << "the port stayed open";
  EXPECT_LT(*deregistered, *closed) << "consumers must learn of the exit before the port closes";
  EXPECT_EQ(provider->Wait(seconds(10)), 0) << provider->Log();
}

TEST_F(DemoE2ETest, ConsumerStartsFromItsCacheFileWhileTheServerIsDown) {
  auto server = StartServer();
  const int registry_port = server_port_;
  auto [provider, port] = StartProvider(100);
  ASSERT_NE(port, 0);
  // A first consumer run leaves the cache file behind.
  const std::string first = dir_.File("first.json");
  auto warmup = StartConsumer(1, first);
  ASSERT_EQ(warmup->Wait(seconds(60)), 0) << warmup->Log();

  server->Signal(SIGTERM);
  ASSERT_EQ(server->Wait(seconds(10)), 0);
  // The server is down: the consumer must start from the cache file and call the provider.
  const std::string second = dir_.File("second.json");
  auto consumer = StartConsumer(8, second, /*wait_providers_s=*/5);
  std::this_thread::sleep_for(seconds(2));
  // The server comes back on the same port; a new provider registers; the consumer converges.
  server = StartServer(registry_port);
  ASSERT_EQ(server_port_, registry_port);
  auto [late, late_port] = StartProvider(100);
  ASSERT_NE(late_port, 0);
  ASSERT_EQ(consumer->Wait(seconds(60)), 0) << consumer->Log();
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
