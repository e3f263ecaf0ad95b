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
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "testing/temp_dir.h"

extern char** environ;

namespace {

// A child whose stdout and stderr come through one pipe, read line by line with blocking reads.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& home) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    std::vector<std::string> args = argv;
    std::vector<char*> arg_ptrs;
    for (std::string& a : args) arg_ptrs.push_back(a.data());
    arg_ptrs.push_back(nullptr);
    // HOME points into the test's directory: no cache file outside it is touched.
    std::vector<std::string> env = {"HOME=" + home};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).compare(0, 5, "HOME=") != 0) env.emplace_back(*e);
    }
    std::vector<char*> env_ptrs;
    for (std::string& e : env) env_ptrs.push_back(e.data());
    env_ptrs.push_back(nullptr);
    if (posix_spawn(&pid_, arg_ptrs[0], &actions, nullptr, arg_ptrs.data(), env_ptrs.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    output_ = ::fdopen(out[0], "r");
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (output_ != nullptr) std::fclose(output_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0 && output_ != nullptr; }
  void Signal(int sig) const { ::kill(pid_, sig); }

  // Reads lines until one matches `pattern` (returning the match and its groups) or the output
  // ends.
  std::optional<std::vector<std::string>> ReadUntil(const std::string& pattern) {
    const std::regex re(pattern);
    std::string line;
    while (ReadLine(&line)) {
      std::smatch m;
      if (!std::regex_search(line, m, re)) continue;
      std::vector<std::string> groups;
      for (const auto& group : m) groups.push_back(group.str());
      return groups;
    }
    return std::nullopt;
  }

  // Reads the rest of the output, then reaps the child: its exit status (128 + signal if killed).
  int Finish() {
    std::string line;
    while (ReadLine(&line)) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  // Everything read so far, for failure messages.
  const std::string& transcript() const { return transcript_; }

 private:
  bool ReadLine(std::string* line) {
    line->clear();
    if (output_ == nullptr) return false;
    int c;
    while ((c = std::fgetc(output_)) != EOF) {
      transcript_.push_back(static_cast<char>(c));
      if (c == '\n') return true;
      line->push_back(static_cast<char>(c));
    }
    return !line->empty();
  }

  pid_t pid_ = -1;
  FILE* output_ = nullptr;
  bool reaped_ = false;
  std::string transcript_;
};

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
  std::unique_ptr<Child> StartProvider(const std::string& registry) {
    auto provider = std::make_unique<Child>(
        std::vector<std::string>{DEMO_PROVIDER, "--registry", registry, "--drain-ms", "0"},
        dir_.path());
    EXPECT_TRUE(provider->started());
    return provider;
  }

  // SIGTERM, then the provider must report a bounded stop and exit 0.
  static void ExpectPromptStop(Child* provider) {
    provider->Signal(SIGTERM);
    const auto verdict = provider->ReadUntil(kStoppedLine);
    const int status = provider->Finish();
    ASSERT_TRUE(verdict.has_value()) << provider->transcript();
    EXPECT_LE(std::stol((*verdict)[1]), kStopLimitMs) << provider->transcript();
    EXPECT_EQ(status, 0) << provider->transcript();
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
  Child server({DEMO_NAMING_SERVER, "--port", "0", "--log-level", "error"}, dir_.path());
  ASSERT_TRUE(server.started());
  const auto listening = server.ReadUntil("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  ASSERT_TRUE(listening.has_value()) << server.transcript();
  auto provider = StartProvider("nacos://127.0.0.1:" + (*listening)[1] + "?shutdownTimeout=300");
  ASSERT_TRUE(provider->ReadUntil("demo-provider serving thrift://").has_value())
      << provider->transcript();
  // A stopped process still has the kernel accept connections and buffer requests: silent.
  server.Signal(SIGSTOP);
  ExpectPromptStop(provider.get());
  server.Signal(SIGCONT);
  server.Signal(SIGTERM);
  server.Finish();
}

}  // namespace
