// client_overhead_bench: one process, one NamingClient, --instances ephemeral instances registered
// and kept alive by beats (default period 5 s). The process then idles until its stdin closes, so
// that an outside observer (bench/client/run.sh) can measure its threads, CPU and RSS while only the
// client works. Its counterpart for the official Node.js SDK is bench/client/node_overhead.js.
//
//   client_overhead_bench --server 127.0.0.1:PORT [--instances 10000] [--services 100]
//                         [--cache-dir DIR] [--prefix NAME]
//
// Instances: --services services "providers:org.apache.dubbo.bench.<prefix>NNNN:1.0.0:" in
// DEFAULT_GROUP, --instances / --services instances each (10.<a>.<b>.<c>:20880), each with the 5
// Dubbo-provider metadata keys of bench/naming (application, methods, release, side, timestamp).
// They are registered one after the other from the main thread (RegisterInstance blocks until the
// server answered).
//
// Output (stdout): "registered N instances in T ms", then "READY pid=P threads=T" once all are in.
// On SIGUSR2: "beats N failed F" (heartbeats sent so far, and those without a usable answer; run.py
// reads it at both ends of its window). On end of stdin: Shutdown() (deregisters everything) and
// "shutdown in T ms".
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/naming_client.h"

namespace {

volatile sig_atomic_t g_report = 0;

using dubbo::registry::nacos::Instance;
using dubbo::registry::nacos::NacosOptions;
using dubbo::registry::nacos::NamingClient;
using dubbo::registry::nacos::NamingClientStats;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "client_overhead_bench: %s\n", message.c_str());
  std::exit(1);
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

}  // namespace

int main(int argc, char** argv) {
  std::string server, cache_dir, prefix = "Overhead";
  int instances = 10000, services = 100;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Die("missing value for " + flag);
    const std::string value = argv[++i];
    if (flag == "--server") server = value;
    else if (flag == "--cache-dir") cache_dir = value;
    else if (flag == "--prefix") prefix = value;
    else if (flag == "--instances") instances = std::atoi(value.c_str());
    else if (flag == "--services") services = std::atoi(value.c_str());
    else Die("unknown flag " + flag);
  }
  if (server.empty()) Die("--server HOST:PORT is required");
  if (services < 1 || instances < services) Die("need --instances >= --services >= 1");

  std::map<std::string, std::string> props = {{"serverAddr", server}};
  if (!cache_dir.empty()) props["JM.SNAPSHOT.PATH"] = cache_dir;
  auto options = NacosOptions::FromProperties(props);
  if (!options.ok()) Die(options.status().ToString());
  auto created = NamingClient::Create(*options);
  if (!created.ok()) Die(created.status().ToString());
  std::unique_ptr<NamingClient> client = std::move(*created);

  const auto start = std::chrono::steady_clock::now();
  const int per_service = instances / services;
  int registered = 0;
  for (int s = 0; s < services; ++s) {
    char name[128];
    std::snprintf(name, sizeof(name), "providers:org.apache.dubbo.bench.%s%04d:1.0.0:",
                  prefix.c_str(), s);
    for (int k = 0; k < per_service; ++k) {
      const int n = s * per_service + k;
      Instance in;
      in.ip = "10." + std::to_string(n / 65536 % 256) + "." + std::to_string(n / 256 % 256) + "." +
              std::to_string(n % 256);
      in.port = 20880;
      in.metadata = {{"application", "overhead-bench"},
                     {"methods", "sayHello,sayGoodbye,echo"},
                     {"release", "3.2.0"},
                     {"side", "provider"},
                     {"timestamp", "1700000000000"}};
      auto status = client->RegisterInstance(name, "", in);
      if (!status.ok()) Die("register " + in.Address() + ": " + status.ToString());
      ++registered;
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf("registered %d instances in %lld ms\n", registered, static_cast<long long>(ms));
  std::printf("READY pid=%d threads=%d\n", static_cast<int>(::getpid()), CountThreads());
  std::fflush(stdout);

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
      std::printf("beats %llu failed %llu\n", static_cast<unsigned long long>(stats.beats_sent),
                  static_cast<unsigned long long>(stats.beats_failed));
      std::fflush(stdout);
    }
    if (n == 0 || (n < 0 && errno != EINTR)) break;
  }
  const auto stop = std::chrono::steady_clock::now();
  client->Shutdown();
  std::printf("shutdown in %lld ms\n",
              static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::steady_clock::now() - stop)
                                         .count()));
  return 0;
}
