// client_bench: our NamingClient in one of the roles that bench/client/run.py measures, over gRPC
// or v1 HTTP. Its counterpart for the official SDKs (Rust over gRPC, Node.js over v1 HTTP) is
// bench/client/sdk_bench.js, which speaks the same lines, so that run.py drives all four alike.
//
//   client_bench --role listener|provider|hold --server 127.0.0.1:PORT [--protocol grpc|http]
//                [--service NAME] [--instance IP:PORT] [--cache-dir DIR]
//                [--instances 10000] [--services 1000] [--threads 8] [--prefix NAME]
//
// Times are CLOCK_MONOTONIC in nanoseconds: one clock for every process of a host (Node's
// process.hrtime and Python's time.monotonic_ns read it too), so readings of different processes
// compare directly. Every output line is written whole, with one write().
//
// listener: subscribes to --service (DEFAULT_GROUP) and, on every listener call, compares the
//   healthy instances with those of the previous call: "E <ns> + IP:PORT" for each that became
//   healthy or appeared, "E <ns> - IP:PORT" for each that left or turned unhealthy, <ns> read on
//   entering the listener. "READY" once Subscribe() returned. Exits when stdin closes.
// provider: registers --instance (if given) in --service, prints "READY", then reads commands on
//   stdin: "add IP PORT" / "remove IP PORT" register / deregister that instance and answer
//   "T <t0> <t1> ok" or "T <t0> <t1> error <message>", t0 read just before the call, t1 when it
//   returned. Exits (Shutdown(), which deregisters) when stdin closes, unless killed first.
// hold: registers --instances instances over --services services
//   ("providers:org.apache.dubbo.bench.<prefix>NNNN:1.0.0:", each instance with the 5 Dubbo
//   provider metadata keys), the services split over --threads threads (RegisterInstance blocks
//   until the server answered; each thread registers the instances of its services one after the
//   other), joins them, prints "registered N instances in T ms" and "READY pid=P threads=T", then
//   idles until stdin closes. On SIGUSR2 it prints "stats beats N failed F" (v1 beats so far).
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"

namespace {

using dubbo::registry::nacos::Instance;
using dubbo::registry::nacos::NacosOptions;
using dubbo::registry::nacos::NamingClient;
using dubbo::registry::nacos::NamingClientStats;
using dubbo::registry::nacos::ServiceChangeEvent;

volatile sig_atomic_t g_report = 0;

struct Flags {
  std::string role;
  std::string server;
  std::string protocol = "grpc";
  std::string service = "providers:org.apache.dubbo.bench.ClientBench:1.0.0:";
  std::string instance;  // IP:PORT
  std::string cache_dir;
  std::string prefix = "Hold";
  int instances = 10000;
  int services = 1000;
  int threads = 8;
};

int64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "client_bench: %s\n", message.c_str());
  std::exit(1);
}

// One line to stdout in one write(), whatever thread calls.
void Emit(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::string out = line + "\n";
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::unique_ptr<NamingClient> MakeClient(const Flags& flags) {
  std::map<std::string, std::string> props = {{"serverAddr", flags.server}};
  if (!flags.cache_dir.empty()) props["JM.SNAPSHOT.PATH"] = flags.cache_dir;
  auto options = NacosOptions::FromProperties(props);
  if (!options.ok()) Die(options.status().ToString());
  if (flags.protocol == "grpc") {
    options->naming_protocol = NacosOptions::NamingProtocol::kGrpc;
  } else if (flags.protocol == "http") {
    options->naming_protocol = NacosOptions::NamingProtocol::kHttp;
  } else {
    Die("--protocol must be grpc or http");
  }
  auto client = NamingClient::Create(*options);
  if (!client.ok()) Die(client.status().ToString());
  return std::move(*client);
}

Instance MakeInstance(const std::string& ip, int port) {
  Instance in;
  in.ip = ip;
  in.port = port;
  in.metadata = {{"application", "client-bench"},
                 {"methods", "sayHello,sayGoodbye,echo"},
                 {"release", "3.2.0"},
                 {"side", "provider"},
                 {"timestamp", "1700000000000"}};
  return in;
}

int RunListener(const Flags& flags) {
  std::unique_ptr<NamingClient> client = MakeClient(flags);
  // Touched by the dispatcher thread only (listeners run one at a time).
  auto healthy = std::make_shared<std::set<std::string>>();
  auto id = client->Subscribe(flags.service, "", "", [healthy](const ServiceChangeEvent& e) {
    const int64_t t1 = NowNs();
    std::set<std::string> now;
    for (const Instance& in : e.instances) {
      if (in.healthy && in.enabled) now.insert(in.Address());
    }
    std::string out;
    for (const std::string& a : now) {
      if (healthy->count(a) == 0) out += "E " + std::to_string(t1) + " + " + a + "\n";
    }
    for (const std::string& a : *healthy) {
      if (now.count(a) == 0) out += "E " + std::to_string(t1) + " - " + a + "\n";
    }
    *healthy = std::move(now);
    if (!out.empty()) {
      out.pop_back();
      Emit(out);
    }
  });
  if (!id.ok()) Die("subscribe: " + id.status().ToString());
  Emit("READY");
  char buf[256];
  while (::read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }
  client->Shutdown();
  return 0;
}

bool ParseIpPort(const std::string& s, std::string* ip, int* port) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  *ip = s.substr(0, colon);
  *port = std::atoi(s.c_str() + colon + 1);
  return *port > 0 && *port < 65536;
}

int RunProvider(const Flags& flags) {
  std::unique_ptr<NamingClient> client = MakeClient(flags);
  if (!flags.instance.empty()) {
    std::string ip;
    int port = 0;
    if (!ParseIpPort(flags.instance, &ip, &port)) Die("--instance must be IP:PORT");
    auto status = client->RegisterInstance(flags.service, "", MakeInstance(ip, port));
    if (!status.ok()) Die("register " + flags.instance + ": " + status.ToString());
  }
  Emit("READY");
  std::string verb, ip;
  int port = 0;
  while (std::cin >> verb >> ip >> port) {
    const Instance in = MakeInstance(ip, port);
    const int64_t t0 = NowNs();
    auto status = verb == "add" ? client->RegisterInstance(flags.service, "", in)
                                : client->DeregisterInstance(flags.service, "", in);
    const int64_t t1 = NowNs();
    Emit("T " + std::to_string(t0) + " " + std::to_string(t1) +
         (status.ok() ? std::string(" ok") : " error " + status.ToString()));
  }
  client->Shutdown();
  return 0;
}

int CountThreads() {
  int n = 0;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
  }
  return n;
}

int RunHold(const Flags& flags) {
  if (flags.services < 1 || flags.instances < flags.services || flags.threads < 1) {
    Die("need --instances >= --services >= 1 and --threads >= 1");
  }
  std::unique_ptr<NamingClient> client = MakeClient(flags);
  const int per_service = flags.instances / flags.services;
  std::atomic<int> registered{0};
  std::atomic<bool> failed{false};
  auto work = [&](int first) {
    for (int s = first; s < flags.services && !failed; s += flags.threads) {
      char name[128];
      std::snprintf(name, sizeof(name),
                    "providers:org.apache.dubbo.bench.%s%04d:1.0.0:", flags.prefix.c_str(), s);
      for (int k = 0; k < per_service; ++k) {
        const int n = s * per_service + k;
        const std::string ip = "10." + std::to_string(n / 65536 % 256) + "." +
                               std::to_string(n / 256 % 256) + "." + std::to_string(n % 256);
        auto status = client->RegisterInstance(name, "", MakeInstance(ip, 20880));
        if (!status.ok()) {
          std::fprintf(stderr, "client_bench: register %s in %s: %s\n", ip.c_str(), name,
                       status.ToString().c_str());
          failed = true;
          return;
        }
        ++registered;
      }
    }
  };
  const int64_t start = NowNs();
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min(flags.threads, flags.services); ++t) threads.emplace_back(work, t);
  for (std::thread& t : threads) t.join();
  const int64_t ms = (NowNs() - start) / 1000000;
  if (failed) Die("registration failed");
  Emit("registered " + std::to_string(registered.load()) + " instances in " + std::to_string(ms) +
       " ms");
  Emit("READY pid=" + std::to_string(::getpid()) + " threads=" + std::to_string(CountThreads()));

  // SIGUSR2 interrupts the read (no SA_RESTART); the counters are printed here, not in the handler.
  struct sigaction action {};
  action.sa_handler = [](int) { g_report = 1; };
  sigemptyset(&action.sa_mask);
  sigaction(SIGUSR2, &action, nullptr);
  char buf[256];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
    if (g_report) {
      g_report = 0;
      const NamingClientStats stats = client->GetStats();
      Emit("stats beats " + std::to_string(stats.beats_sent) + " failed " +
           std::to_string(stats.beats_failed));
    }
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  client->Shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Die("missing value for " + flag);
    const std::string value = argv[++i];
    if (flag == "--role")
      flags.role = value;
    else if (flag == "--server")
      flags.server = value;
    else if (flag == "--protocol")
      flags.protocol = value;
    else if (flag == "--service")
      flags.service = value;
    else if (flag == "--instance")
      flags.instance = value;
    else if (flag == "--cache-dir")
      flags.cache_dir = value;
    else if (flag == "--prefix")
      flags.prefix = value;
    else if (flag == "--instances")
      flags.instances = std::atoi(value.c_str());
    else if (flag == "--services")
      flags.services = std::atoi(value.c_str());
    else if (flag == "--threads")
      flags.threads = std::atoi(value.c_str());
    else
      Die("unknown flag " + flag);
  }
  if (flags.server.empty()) Die("--server HOST:PORT is required");
  if (flags.role == "listener") return RunListener(flags);
  if (flags.role == "provider") return RunProvider(flags);
  if (flags.role == "hold") return RunHold(flags);
  Die("--role must be listener, provider or hold");
}
