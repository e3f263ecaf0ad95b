// End-to-end: a provider that hangs (SIGSTOP: its port stays open, it never answers) leaves the
// consumer's rotation without a single call failing, and is probed back in after SIGCONT. The real
// naming-server, three demo-providers and a demo-consumer run as separate processes on loopback.
//
// Event-driven: every step waits for the consumer's figures (its --summary-json file, rewritten
// whole every 100 ms) to show the expected state, and nothing depends on throughput. Each wait
// gives up after a generous kAwaitLimit (120 s) with a message saying what never happened, before
// ctest's timeout would end the test without one. The stopped phase lasts only until the
// consumer has ejected the provider (3 timeouts of 3 s on 4 calling threads), well under the 15 s
// after which the naming server would mark it unhealthy, so the registry plays no part in the
// ejection.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/temp_dir.h"

extern char** environ;

namespace {

// How long one wait for a log line or for the consumer's figures may take before the test fails.
constexpr std::chrono::seconds kAwaitLimit{120};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with its stdout and stderr in `log`, HOME set to `home`. Killed when destroyed.
class Child {
 public:
  Child(const std::vector<std::string>& argv, std::string log, const std::string& home)
      : log_(std::move(log)) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<std::string> env = {"HOME=" + home};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("HOME=", 0) != 0) env.emplace_back(*e);
    }
    std::vector<char*> args, envp;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  bool started() const { return pid_ > 0; }
  void Signal(int sig) const { ::kill(pid_, sig); }
  std::string Log() const { return ReadFile(log_); }

  // The exit code (128 + signal when killed) once it has exited; nullopt while it runs.
  std::optional<int> Exited() {
    if (!status_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return status_;
  }

  // Blocks until the process exits and returns its exit code (128 + signal when killed).
  int Wait() {
    if (!status_) {
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return *status_;
  }

  // Waits until the log matches `pattern` and returns its group 1; nullopt if the process exited
  // first or kAwaitLimit passed (a diagnostic names the pattern). The log is a file the child
  // appends to, with no event to wait on, so it is re-read every 20 ms: the period only sets how
  // soon the line is seen, never whether the test passes.
  std::optional<std::string> AwaitLog(const std::string& pattern) {
    const std::regex re(pattern);
    const auto give_up = std::chrono::steady_clock::now() + kAwaitLimit;
    while (true) {
      std::smatch m;
      const std::string log = Log();
      if (std::regex_search(log, m, re)) return m[1].str();
      if (Exited()) return std::nullopt;
      if (std::chrono::steady_clock::now() >= give_up) {
        ADD_FAILURE() << "no line matching \"" << pattern << "\" within " << kAwaitLimit.count()
                      << " s";
        return std::nullopt;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

class HungProviderE2ETest : public ::testing::Test {
 protected:
  std::unique_ptr<Child> Spawn(const std::vector<std::string>& argv, const std::string& name) {
    return std::make_unique<Child>(argv, dir_.File(name + ".log"), dir_.path());
  }

  // Waits until the consumer's latest figures satisfy `done`; false if the consumer exited first
  // or kAwaitLimit passed (with a diagnostic). The figures are a file the consumer rewrites every
  // report, re-read every 20 ms for the same reason as AwaitLog().
  bool AwaitFigures(Child& consumer, const std::function<bool(const rapidjson::Document&)>& done) {
    const auto give_up = std::chrono::steady_clock::now() + kAwaitLimit;
    while (true) {
      rapidjson::Document doc;
      doc.Parse(ReadFile(summary_).c_str());
      if (!doc.HasParseError() && doc.IsObject() && done(doc)) return true;
      if (consumer.Exited()) return false;
      if (std::chrono::steady_clock::now() >= give_up) {
        ADD_FAILURE() << "the consumer's figures did not get there within " << kAwaitLimit.count()
                      << " s; last figures:\n"
                      << ReadFile(summary_);
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The entry of the provider on `port` in the figures, or nullptr.
  static const rapidjson::Value* Entry(const rapidjson::Document& doc, const std::string& port) {
    if (!doc.HasMember("providers") || !doc["providers"].IsArray()) return nullptr;
    const std::string address = "127.0.0.1:" + port;
    for (const rapidjson::Value& p : doc["providers"].GetArray()) {
      if (address == p["address"].GetString()) return &p;
    }
    return nullptr;
  }
  static std::string State(const rapidjson::Value& entry) {
    return entry.HasMember("state") ? entry["state"].GetString() : "";
  }

  dubbo::registry::testing::TempDir dir_;
  std::string summary_ = dir_.File("figures.json");
};

TEST_F(HungProviderE2ETest, HungProviderLeavesTheRotationWithoutFailedCallsAndIsProbedBackIn) {
  auto server = Spawn({DEMO_NAMING_SERVER, "--port", "0"}, "server");
  ASSERT_TRUE(server->started());
  const auto server_port = server->AwaitLog("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  ASSERT_TRUE(server_port.has_value()) << server->Log();
  const std::string registry = "nacos://127.0.0.1:" + *server_port;

  std::vector<std::unique_ptr<Child>> providers;
  std::vector<std::string> ports;
  for (int i = 0; i < 3; ++i) {
    providers.push_back(Spawn({DEMO_PROVIDER, "--registry", registry, "--weight", "100"},
                              "provider" + std::to_string(i)));
    const auto port = providers.back()->AwaitLog("serving thrift://127\\.0\\.0\\.1:([0-9]+)");
    ASSERT_TRUE(port.has_value()) << providers.back()->Log();
    ports.push_back(*port);
  }
  // Runs until SIGTERM; default breaker options. A per-attempt timeout of 3 s keeps a healthy
  // provider on a loaded machine from timing out, while a hung one still times out and is ejected.
  auto consumer = Spawn({DEMO_CONSUMER, "--registry", registry + "?file=" + dir_.File("cache"),
                         "--duration", "3600", "--report-ms", "100", "--summary-json", summary_,
                         "--wait-providers", "60", "--timeout", "3000"},
                        "consumer");
  ASSERT_TRUE(consumer->started());
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             for (const std::string& port : ports) {
                               const rapidjson::Value* e = Entry(doc, port);
                               if (e == nullptr || (*e)["calls"].GetUint64() == 0) return false;
                             }
                             return true;
                           }))
      << "calls never reached every provider:\n"
      << consumer->Log();

  // Hang the second provider: calls to it time out, it is ejected.
  const std::string& hung = ports[1];
  providers[1]->Signal(SIGSTOP);
  uint64_t calls_while_ejected = 0;
  uint64_t probes_ok_while_ejected = 0;
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             const rapidjson::Value* e = Entry(doc, hung);
                             if (e == nullptr || State(*e) != "open") return false;
                             calls_while_ejected = (*e)["calls"].GetUint64();
                             probes_ok_while_ejected = (*e)["probes_ok"].GetUint64();
                             return true;
                           }))
      << "the hung provider was never ejected:\n"
      << consumer->Log();

  // Resume it: a probe succeeds and it is back in the rotation, answering calls again.
  providers[1]->Signal(SIGCONT);
  ASSERT_TRUE(AwaitFigures(*consumer,
                           [&](const rapidjson::Document& doc) {
                             const rapidjson::Value* e = Entry(doc, hung);
                             return e != nullptr && State(*e) == "up" &&
                                    (*e)["probes_ok"].GetUint64() > probes_ok_while_ejected &&
                                    (*e)["calls"].GetUint64() > calls_while_ejected;
                           }))
      << "the resumed provider was never probed back in:\n"
      << consumer->Log();

  consumer->Signal(SIGTERM);
  EXPECT_EQ(consumer->Wait(), 0) << "some call failed:\n" << consumer->Log();
  rapidjson::Document doc;
  doc.Parse(ReadFile(summary_).c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("final") && doc["final"].GetBool());
  EXPECT_EQ(doc["failed"].GetUint64(), 0u) << "no call may fail while a provider hangs";
  const rapidjson::Value* e = Entry(doc, hung);
  ASSERT_NE(e, nullptr);
  EXPECT_GT((*e)["timeouts"].GetUint64(), 0u) << "the hang was noticed by timeouts";
  EXPECT_GT((*e)["probes_ok"].GetUint64(), 0u);
}

}  // namespace
