// Test helper: a program run as a child process. Its stdout and stderr go through one pipe into an
// in-memory log, which a reader thread fills and the test waits on (WaitUntil, WaitForMatch): the
// test steps on the child's output, never on elapsed time. A child still running when the object
// is destroyed is killed and reaped.
//
//   ChildProcess server({NAMING_SERVER, "--port", "0"}, {"HOME=" + dir.path()});
//   std::optional<std::string> port = server.WaitForMatch("listening on http://[^:]+:([0-9]+)");
//   server.Signal(SIGTERM);
//   EXPECT_EQ(server.Wait(), 0) << server.Log();
//
// Thread-safety: Log(), WaitUntil() and WaitForMatch() may be called from any thread; the others
// from one thread at a time.
#ifndef DUBBO_TESTS_TESTING_CHILD_PROCESS_H_
#define DUBBO_TESTS_TESTING_CHILD_PROCESS_H_

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace dubbo::registry::testing {

class ChildProcess {
 public:
  // Starts argv[0] (a path, not searched in PATH) with the parent's environment, where each
  // "NAME=value" of `env_overrides` replaces (or adds) that variable. started() says whether it ran.
  ChildProcess(std::vector<std::string> argv, const std::vector<std::string>& env_overrides = {}) {
    int fds[2];
    if (argv.empty() || ::pipe2(fds, O_CLOEXEC) != 0) {  // Close-on-exec: no other child has them.
      eof_ = true;
      return;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::vector<std::string> env_strings = env_overrides;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      const std::string name = entry.substr(0, entry.find('=') + 1);
      bool overridden = false;
      for (const std::string& o : env_overrides) overridden |= o.compare(0, name.size(), name) == 0;
      if (!overridden) env_strings.push_back(entry);
    }
    std::vector<char*> env;
    for (std::string& e : env_strings) env.push_back(e.data());
    env.push_back(nullptr);
    if (posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), env.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);  // The child's copies are the only writers left: EOF once it exits.
    if (pid_ <= 0) {
      ::close(fds[0]);
      eof_ = true;
      return;
    }
    reader_ = std::thread([this, fd = fds[0]] { ReadUntilEof(fd); });
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);  // Ends a stopped (SIGSTOP) child too.
      Wait();
    }
    if (reader_.joinable()) reader_.join();
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  void Signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }

  // Blocks until the child exits: its exit code, or 128 + the signal that ended it; -1 if it never
  // started.
  int Wait() {
    if (pid_ <= 0) return -1;
    while (!exit_code_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, 0);
      if (r < 0 && errno == EINTR) continue;
      exit_code_ = r != pid_ ? -1 : ExitCode(status);
    }
    return *exit_code_;
  }

  // The exit code once the child has exited (as Wait()); nullopt while it runs.
  std::optional<int> Exited() {
    if (pid_ <= 0) return -1;
    if (!exit_code_) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) exit_code_ = ExitCode(status);
    }
    return exit_code_;
  }

  // Everything the child has written so far.
  std::string Log() const {
    std::lock_guard<std::mutex> lock(mu_);
    return output_;
  }

  // Waits until `pred(output so far)` holds: true. False once the child closed its output (it
  // exited) without `pred` holding.
  bool WaitUntil(const std::function<bool(const std::string&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return pred(output_) || eof_; });
    return pred(output_);
  }

  // Waits for the first match of `pattern` in the output: its group 1 (the whole match when the
  // pattern has no group); nullopt if the child closed its output without printing it.
  std::optional<std::string> WaitForMatch(const std::string& pattern) {
    const std::regex re(pattern);
    std::string found;
    const bool matched = WaitUntil([&](const std::string& output) {
      std::smatch m;
      if (!std::regex_search(output, m, re)) return false;
      found = m.size() > 1 ? m[1].str() : m[0].str();
      return true;
    });
    if (!matched) return std::nullopt;
    return found;
  }

 private:
  static int ExitCode(int status) {
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  void ReadUntilEof(int fd) {
    char buf[4096];
    while (true) {
      const ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      std::lock_guard<std::mutex> lock(mu_);
      if (n <= 0) {
        eof_ = true;
        cv_.notify_all();
        break;
      }
      output_.append(buf, static_cast<size_t>(n));
      cv_.notify_all();
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string output_;  // Guarded by mu_.
  bool eof_ = false;    // Guarded by mu_ once the reader runs.
  std::thread reader_;
};

}  // namespace dubbo::registry::testing

#endif  // DUBBO_TESTS_TESTING_CHILD_PROCESS_H_
