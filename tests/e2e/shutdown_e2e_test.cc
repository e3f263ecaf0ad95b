// End-to-end: demo-provider stops promptly on SIGTERM whatever its registry does, both while its
// start-up waits for a registry that accepts connections and never answers, and while it runs
// against a registry that has gone silent (a naming-server stopped with SIGSTOP).
//
// Event-driven: the test waits for the provider's connection to the silent registry, for its
// output lines and for its exit. The provider logs how long it took from the signal to exit against
// its budget (2 s), and the test reads that line. Under a loaded machine or a sanitizer that 2 s is
// thin, so the test requires only a bounded stop: within kStopLimit (10 s), far below what a stop
// waiting on the silent registry's request timeouts would take (tens of seconds). Nothing here
// waits on a clock; a process that hangs is ended by ctest's per-test timeout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "testing/child_process.h"
#include "testing/temp_dir.h"

namespace {

using dubbo::registry::testing::ChildProcess;

// A registry that accepts TCP connections and never answers.
class SilentRegistry {
 public:
  SilentRegistry() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd_, 64) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len)) {
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  ~SilentRegistry() {
    for (int fd : accepted_) ::close(fd);
    ::close(fd_);
  }

  int port() const { return port_; }
  // Blocks until a client connects; the connection is kept open and never answered.
  bool AwaitConnection() {
    const int fd = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) return false;
    accepted_.push_back(fd);
    return true;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> accepted_;
};

// The provider's last line: "stopped N ms after <signal> (budget 2000 ms)", or "(OVER the budget
// of 2000 ms)" when it took longer.
constexpr char kStoppedLine[] =
    "stopped ([0-9]+) ms after [A-Za-z ]+ \\((budget|OVER the budget of) 2000 ms\\)";

// The longest stop the test accepts, in ms: the provider's 2 s budget with room for a loaded
// machine or a sanitizer.
constexpr long kStopLimitMs = 10000;

class ShutdownE2ETest : public ::testing::Test {
 protected:
  // A demo program with HOME in the test's directory, so no cache file outside it is touched.
  std::unique_ptr<ChildProcess> Spawn(std::vector<std::string> argv) {
    return std::make_unique<ChildProcess>(std::move(argv),
                                          std::vector<std::string>{"HOME=" + dir_.path()});
  }

  std::unique_ptr<ChildProcess> StartProvider(const std::string& registry) {
    auto provider = Spawn({DEMO_PROVIDER, "--registry", registry, "--drain-ms", "0"});
    EXPECT_TRUE(provider->started());
    return provider;
  }

  // SIGTERM, then the provider must report a bounded stop and exit 0.
  static void ExpectPromptStop(ChildProcess* provider) {
    provider->Signal(SIGTERM);
    const std::optional<std::string> stop_ms = provider->WaitForMatch(kStoppedLine);
    const int status = provider->Wait();
    ASSERT_TRUE(stop_ms.has_value()) << provider->Log();
    EXPECT_LE(std::stol(*stop_ms), kStopLimitMs) << provider->Log();
    EXPECT_EQ(status, 0) << provider->Log();
  }

  // SIGTERM once the provider's start-up waits for a registry that never answers.
  void StopWhileStartingAgainstASilentRegistry(const std::string& params) {
    SilentRegistry registry;
    ASSERT_NE(registry.port(), 0);
    auto provider = StartProvider("nacos://127.0.0.1:" + std::to_string(registry.port()) +
                                  "?shutdownTimeout=300" + params);
    ASSERT_TRUE(registry.AwaitConnection());
    ExpectPromptStop(provider.get());
  }

  dubbo::registry::testing::TempDir dir_;
};

TEST_F(ShutdownE2ETest, SigtermDuringTheStartUpCheckAgainstASilentRegistry) {
  // check=true (the default): the start-up waits for the registry's status.
  StopWhileStartingAgainstASilentRegistry("");
}

TEST_F(ShutdownE2ETest, SigtermDuringTheFirstRegistrationAgainstASilentRegistry) {
  // check=false: no status check; the first registration waits for the registry.
  StopWhileStartingAgainstASilentRegistry("&check=false");
}

TEST_F(ShutdownE2ETest, SigtermWhileRunningAgainstARegistryThatWentSilent) {
  auto server = Spawn({DEMO_NAMING_SERVER, "--port", "0", "--log-level", "error"});
  ASSERT_TRUE(server->started());
  const auto port = server->WaitForMatch("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  ASSERT_TRUE(port.has_value()) << server->Log();
  auto provider = StartProvider("nacos://127.0.0.1:" + *port + "?shutdownTimeout=300");
  ASSERT_TRUE(provider->WaitForMatch("demo-provider serving thrift://").has_value())
      << provider->Log();
  // A stopped process still has the kernel accept connections and buffer requests: silent.
  server->Signal(SIGSTOP);
  ExpectPromptStop(provider.get());
  server->Signal(SIGCONT);
  server->Signal(SIGTERM);
  EXPECT_EQ(server->Wait(), 0) << server->Log();
}

}  // namespace
