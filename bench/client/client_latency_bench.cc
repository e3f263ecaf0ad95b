// client_latency_bench: change-to-notify latency of the Nacos naming client across processes.
// Process A (this program) registers or deregisters an instance with its NamingClient; the listener
// of another NamingClient in process B (this program re-executed with --role listener) fires. The
// latency of one change is t1 - t0, where
//   t0 = CLOCK_MONOTONIC in A just before RegisterInstance()/DeregisterInstance() is called,
//   t1 = CLOCK_MONOTONIC in B when B's listener is entered with that change;
// CLOCK_MONOTONIC is one clock for every process of a host, so the two readings compare directly.
// B writes t1 to a pipe that A reads; A waits for it (at most --timeout-ms) before the next change,
// so exactly one change is in flight. What is measured is everything a user sees: A's HTTP request,
// the server's push, B's UDP receive and ack, the list query over HTTP that the push makes B send
// (B never applies a push's own data), the answer's parse, diff and hand-off to B's listener
// thread.
//
//   client_latency_bench --server 127.0.0.1:PORT [--changes 1000] [--gap-ms 60] [--jitter-ms 20]
//                        [--timeout-ms 5000] [--service NAME] [--cache-dir DIR] [--raw FILE]
//
// Procedure:
//   1. A registers an anchor instance (10.9.0.1:20880), so that the list never becomes empty (the
//      client's push-empty protection would rightly hide an empty list).
//   2. A starts B. B creates its client (UDP push on a free port), subscribes to the service and
//      reports READY once its listener has seen the anchor.
//   3. --changes times: A sleeps --gap-ms plus a uniform 0..--jitter-ms, then registers (even
//      rounds) or deregisters (odd rounds) 10.9.0.2:20880 and waits for B's event that adds or
//      removes it. The gap matters: naming-server pushes a change at once unless a push of the same
//      service left less than push_delay_ms (default 50) ago; then it merges changes until that
//      window ends. The jitter keeps the changes out of phase with both clients' timers.
//   4. Prints count, lost (no event within --timeout-ms), p50/p90/p99/max/mean of the notify
//      latency and of A's API call (until RegisterInstance/DeregisterInstance returned). --raw
//      writes every sample (ns) to FILE.
// Both processes must run on one host. Loopback only.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"

extern char** environ;

namespace {

using dubbo::registry::nacos::Instance;
using dubbo::registry::nacos::NacosOptions;
using dubbo::registry::nacos::NamingClient;
using dubbo::registry::nacos::ServiceChangeEvent;

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Flags {
  std::string role = "registrar";
  std::string server;
  std::string service;
  std::string cache_dir;
  std::string raw;
  int changes = 1000;
  int gap_ms = 60;
  int jitter_ms = 20;
  int timeout_ms = 5000;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "client_latency_bench: %s\n", message.c_str());
  std::exit(1);
}

std::unique_ptr<NamingClient> MakeClient(const Flags& flags, const std::string& cache_suffix) {
  std::map<std::string, std::string> props = {{"serverAddr", flags.server}};
  if (!flags.cache_dir.empty()) props["JM.SNAPSHOT.PATH"] = flags.cache_dir + "/" + cache_suffix;
  auto options = NacosOptions::FromProperties(props);
  if (!options.ok()) Die(options.status().ToString());
  auto client = NamingClient::Create(*options);
  if (!client.ok()) Die(client.status().ToString());
  return std::move(*client);
}

Instance MakeInstance(const std::string& ip) {
  Instance in;
  in.ip = ip;
  in.port = 20880;
  in.metadata = {{"application", "latency-bench"}, {"side", "provider"}, {"release", "3.2.0"}};
  return in;
}

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Process B: subscribe, report every added/removed address with the time the listener was entered.
int RunListener(const Flags& flags) {
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<NamingClient> client = MakeClient(flags, "listener");
  std::atomic<bool> ready{false};
  auto id = client->Subscribe(flags.service, "", "", [&ready](const ServiceChangeEvent& e) {
    const int64_t t1 = NowNs();
    std::string out;
    for (const Instance& in : e.added) {
      out += "E " + std::to_string(t1) + " + " + in.Address() + "\n";
    }
    for (const Instance& in : e.removed) {
      out += "E " + std::to_string(t1) + " - " + in.Address() + "\n";
    }
    if (!ready.load()) {
      for (const Instance& in : e.instances) {
        if (in.ip == "10.9.0.1") {
          ready = true;
          out += "READY\n";
        }
      }
    }
    WriteAll(STDOUT_FILENO, out);
  });
  if (!id.ok()) Die("subscribe: " + id.status().ToString());
  // Until A closes our stdin.
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  client->Shutdown();
  return 0;
}

struct Child {
  pid_t pid = -1;
  int to_child = -1;    // Its stdin.
  int from_child = -1;  // Its stdout.
  std::string buffer;   // Read, not yet consumed.
};

Child SpawnListener(const char* self, const Flags& flags) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0) Die("pipe");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  std::vector<std::string> args = {self, "--role", "listener", "--server", flags.server,
                                   "--service", flags.service};
  if (!flags.cache_dir.empty()) {
    args.push_back("--cache-dir");
    args.push_back(flags.cache_dir);
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child child;
  if (posix_spawn(&child.pid, self, &actions, nullptr, argv.data(), environ) != 0) Die("spawn");
  posix_spawn_file_actions_destroy(&actions);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  child.to_child = in_pipe[1];
  child.from_child = out_pipe[0];
  return child;
}

// The next line from the child, waiting until `deadline_ns`. False on timeout or EOF.
bool ReadLine(Child& child, int64_t deadline_ns, std::string* line) {
  for (;;) {
    const size_t nl = child.buffer.find('\n');
    if (nl != std::string::npos) {
      *line = child.buffer.substr(0, nl);
      child.buffer.erase(0, nl + 1);
      return true;
    }
    const int64_t left_ms = (deadline_ns - NowNs()) / 1000000;
    if (left_ms < 0) return false;
    pollfd pfd{child.from_child, POLLIN, 0};
    const int r = ::poll(&pfd, 1, static_cast<int>(left_ms) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(child.from_child, buf, sizeof(buf));
    if (n <= 0) return false;
    child.buffer.append(buf, static_cast<size_t>(n));
  }
}

struct Summary {
  double p50, p90, p99, max, mean;
};

Summary Summarize(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)]) / 1e6;
  };
  double sum = 0;
  for (int64_t x : v) sum += static_cast<double>(x);
  return {rank(0.50), rank(0.90), rank(0.99), static_cast<double>(v.back()) / 1e6,
          sum / static_cast<double>(v.size()) / 1e6};
}

int RunRegistrar(const char* self, const Flags& flags) {
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<NamingClient> client = MakeClient(flags, "registrar");
  const Instance anchor = MakeInstance("10.9.0.1");
  const Instance toggled = MakeInstance("10.9.0.2");
  auto status = client->RegisterInstance(flags.service, "", anchor);
  if (!status.ok()) Die("register the anchor: " + status.ToString());

  Child child = SpawnListener(self, flags);
  std::string line;
  const int64_t ready_deadline = NowNs() + 15'000'000'000;
  bool ready = false;
  while (!ready && ReadLine(child, ready_deadline, &line)) ready = line == "READY";
  if (!ready) {
    ::kill(child.pid, SIGKILL);
    Die("the listener process did not become ready within 15 s");
  }

  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> jitter(0, std::max(0, flags.jitter_ms));
  std::vector<int64_t> notify, call;
  int lost = 0, failed = 0, lost_in_a_row = 0;
  const std::string target = toggled.Address();
  for (int i = 0; i < flags.changes; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(flags.gap_ms + jitter(rng)));
    const bool add = i % 2 == 0;
    const int64_t t0 = NowNs();
    status = add ? client->RegisterInstance(flags.service, "", toggled)
                 : client->DeregisterInstance(flags.service, "", toggled);
    const int64_t t_ret = NowNs();
    if (!status.ok()) {
      ++failed;
      std::fprintf(stderr, "change %d failed: %s\n", i, status.ToString().c_str());
    }
    call.push_back(t_ret - t0);
    const std::string want = std::string(add ? " + " : " - ") + target;
    const int64_t deadline = t0 + int64_t{flags.timeout_ms} * 1000000;
    bool seen = false;
    while (!seen && ReadLine(child, deadline, &line)) {
      if (line.size() > 2 && line.compare(0, 2, "E ") == 0) {
        const size_t sp = line.find(' ', 2);
        if (line.compare(sp, std::string::npos, want) == 0) {
          notify.push_back(std::strtoll(line.c_str() + 2, nullptr, 10) - t0);
          seen = true;
        }
      }
    }
    if (!seen) {
      ++lost;
      std::fprintf(stderr, "change %d (%s): no event within %d ms\n", i, add ? "add" : "remove",
                   flags.timeout_ms);
      if (++lost_in_a_row == 5) {
        std::fprintf(stderr, "5 changes in a row lost: giving up (is the server alive?)\n");
        break;
      }
    } else {
      lost_in_a_row = 0;
    }
  }
  ::close(child.to_child);
  int wstatus = 0;
  const int64_t exit_deadline = NowNs() + 3'000'000'000;
  while (::waitpid(child.pid, &wstatus, WNOHANG) == 0) {
    if (NowNs() > exit_deadline) {
      ::kill(child.pid, SIGKILL);
      ::waitpid(child.pid, &wstatus, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  client->Shutdown();

  if (!flags.raw.empty()) {
    if (FILE* f = std::fopen(flags.raw.c_str(), "w")) {
      for (int64_t x : notify) std::fprintf(f, "%" PRId64 "\n", x);
      std::fclose(f);
    }
  }
  std::printf("changes %d  seen %zu  lost %d  failed %d\n", flags.changes, notify.size(), lost,
              failed);
  if (!notify.empty()) {
    const Summary n = Summarize(notify);
    std::printf("notify_ms p50 %.3f p90 %.3f p99 %.3f max %.3f mean %.3f\n", n.p50, n.p90, n.p99,
                n.max, n.mean);
  }
  if (!call.empty()) {
    const Summary c = Summarize(call);
    std::printf("call_ms   p50 %.3f p90 %.3f p99 %.3f max %.3f mean %.3f\n", c.p50, c.p90, c.p99,
                c.max, c.mean);
  }
  return lost == 0 && failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Die("missing value for " + flag);
    const std::string value = argv[++i];
    if (flag == "--role") flags.role = value;
    else if (flag == "--server") flags.server = value;
    else if (flag == "--service") flags.service = value;
    else if (flag == "--cache-dir") flags.cache_dir = value;
    else if (flag == "--raw") flags.raw = value;
    else if (flag == "--changes") flags.changes = std::atoi(value.c_str());
    else if (flag == "--gap-ms") flags.gap_ms = std::atoi(value.c_str());
    else if (flag == "--jitter-ms") flags.jitter_ms = std::atoi(value.c_str());
    else if (flag == "--timeout-ms") flags.timeout_ms = std::atoi(value.c_str());
    else Die("unknown flag " + flag);
  }
  if (flags.server.empty()) Die("--server HOST:PORT is required");
  if (flags.service.empty()) {
    flags.service = "providers:org.apache.dubbo.bench.Latency" + std::to_string(::getpid()) + ":1.0.0:";
  }
  if (flags.role == "listener") return RunListener(flags);
  if (flags.changes < 1) Die("--changes must be positive");
  return RunRegistrar("/proc/self/exe", flags);
}
