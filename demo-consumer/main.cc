// demo-consumer: discovers Greeter providers through the registry, load-balances calls over a
// connection pool per provider with failover, and prints a live table.
//
//   demo-consumer --registry nacos://127.0.0.1:8848 --loadbalance random --duration 20
//
// Every second: one row per provider (weight, state, calls, share, calls/s, failed attempts, p50
// and p99 latency), then a final summary. Exits 0 when every call succeeded (a failed attempt that
// failover retried elsewhere does not count), 1 otherwise. `--summary-json FILE` writes the figures
// for scripts and tests, at every report and at the end. `--direct HOST:PORT` skips the registry
// and calls one provider over a plain Thrift client (the baseline of the RPC benchmark).
//
// Each attempt is bounded by the cluster's per-attempt timeout (`--timeout`, the consumer URL's
// `timeout`): it becomes the socket's send and receive timeouts, and a Thrift timeout is reported
// as kDeadlineExceeded, so a hung provider (port open, never answering) is ejected and the call
// retried elsewhere.
#include <signal.h>

// clang-format off
#include <string>  // Before TOutput.h, which uses std::string without including it.
// clang-format on

#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <thrift/transport/TTransportException.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>  // Before TOutput.h, which uses std::string without including it.
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "Greeter.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/url.h"

namespace {

using Clock = std::chrono::steady_clock;
using dubbo::registry::Status;
using dubbo::registry::StatusCode;
using dubbo::registry::URL;

constexpr char kInterface[] = "dubbo.demo.Greeter";

struct Flags {
  std::string registry = "nacos://127.0.0.1:8848";
  std::string loadbalance = "random";
  double duration_s = 20;
  int threads = 4;
  int report_ms = 1000;
  int wait_providers_s = 30;
  int retries = 2;
  int timeout_ms = 1000;
  std::string summary_json;
  std::string direct;  // host:port: bypass registry and cluster.
  bool quiet = false;
};

void Usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: demo-consumer [--registry URL] [--loadbalance NAME] [--duration S] [--threads N]\n"
      "                     [--retries N] [--timeout MS] [--report-ms N] [--wait-providers S]\n"
      "                     [--summary-json FILE] [--direct HOST:PORT] [--quiet]\n"
      "  --registry        registry URL (default nacos://127.0.0.1:8848)\n"
      "  --loadbalance     random | roundrobin | leastactive | shortestresponse | consistenthash\n"
      "                    (default random)\n"
      "  --duration        seconds of calls (default 20)\n"
      "  --threads         calling threads (default 4)\n"
      "  --retries         failover retries per call (default 2)\n"
      "  --timeout         per-attempt timeout in ms, the consumer URL's timeout (default 1000)\n"
      "  --report-ms       live table period (default 1000; 0: no table)\n"
      "  --wait-providers  seconds to wait for a first provider (default 30)\n"
      "  --summary-json    write the final figures as JSON to FILE\n"
      "  --direct          call one provider with a plain Thrift client (no registry)\n"
      "  --quiet           no table, summary only\n");
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      Usage(stdout);
      std::exit(0);
    }
    if (arg == "--quiet") {
      f->quiet = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "demo-consumer: %s needs a value\n", arg.c_str());
      return false;
    }
    const std::string value = argv[++i];
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool numeric = end != value.c_str() && *end == '\0' && std::isfinite(number);
    auto need_int = [&](int lo, int hi, int* out) {
      if (!numeric || number < lo || number > hi || number != std::floor(number)) return false;
      *out = static_cast<int>(number);
      return true;
    };
    bool ok = true;
    if (arg == "--registry") {
      f->registry = value;
    } else if (arg == "--loadbalance") {
      f->loadbalance = value;
    } else if (arg == "--duration") {
      ok = numeric && number > 0 && number <= 86400;
      f->duration_s = number;
    } else if (arg == "--threads") {
      ok = need_int(1, 256, &f->threads);
    } else if (arg == "--retries") {
      ok = need_int(0, 10, &f->retries);
    } else if (arg == "--timeout") {
      ok = need_int(1, 600000, &f->timeout_ms);
    } else if (arg == "--report-ms") {
      ok = need_int(0, 60000, &f->report_ms);
    } else if (arg == "--wait-providers") {
      ok = need_int(0, 3600, &f->wait_providers_s);
    } else if (arg == "--summary-json") {
      f->summary_json = value;
    } else if (arg == "--direct") {
      f->direct = value;
      ok = value.rfind(':') != std::string::npos;
    } else {
      std::fprintf(stderr, "demo-consumer: unknown flag %s\n", arg.c_str());
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "demo-consumer: bad value for %s: %s\n", arg.c_str(), value.c_str());
      return false;
    }
  }
  if (f->quiet) f->report_ms = 0;
  return true;
}

// Latency histogram: 8 buckets per power of two of microseconds (<= 9% error), lock-free.
class Histogram {
 public:
  void Record(int64_t micros) {
    buckets_[Index(std::max<int64_t>(micros, 1))].fetch_add(1, std::memory_order_relaxed);
  }
  // The `q` quantile (0..1) in microseconds, 0 without samples.
  int64_t Quantile(double q) const {
    uint64_t total = 0;
    for (const auto& b : buckets_) total += b.load(std::memory_order_relaxed);
    if (total == 0) return 0;
    const uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    uint64_t seen = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
      seen += buckets_[i].load(std::memory_order_relaxed);
      if (seen >= rank) return UpperBound(i);
    }
    return UpperBound(buckets_.size() - 1);
  }

 private:
  static constexpr size_t kBuckets = 8 * 40;
  static size_t Index(int64_t v) {
    const int exp = 63 - __builtin_clzll(static_cast<uint64_t>(v));
    const int sub = exp >= 3 ? static_cast<int>((v >> (exp - 3)) & 7) : static_cast<int>(v & 7);
    return std::min(kBuckets - 1, static_cast<size_t>(exp * 8 + sub));
  }
  static int64_t UpperBound(size_t i) {
    const int exp = static_cast<int>(i / 8);
    const int sub = static_cast<int>(i % 8);
    if (exp < 3) return int64_t{1} << exp;
    return (int64_t{8 + sub + 1} << (exp - 3));
  }
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

// Figures of one provider, as this consumer saw them.
struct ProviderFigures {
  std::string address;
  int weight = 0;
  std::atomic<uint64_t> calls{0};                   // Successful calls.
  std::atomic<uint64_t> failures{0};                // Failed attempts (retried elsewhere or not).
  std::atomic<uint64_t> attempts_after_failure{0};  // Non-probe attempts after its first failure.
  std::atomic<uint64_t> probes{0};     // Circuit-breaker probes (attempts while it was ejected).
  std::atomic<uint64_t> probes_ok{0};  // Probes that succeeded: it was let back in.
  std::atomic<uint64_t> timeouts{0};   // Failed attempts that timed out.
  std::atomic<bool> failed_once{false};
  std::atomic<bool> open{false};
  uint64_t calls_at_last_report = 0;  // Reporter thread only.
  Histogram latency;
};

// Thrift connections to one provider, reused across calls.
class ConnectionPool {
 public:
  struct Conn {
    std::shared_ptr<apache::thrift::transport::TSocket> socket;
    std::shared_ptr<apache::thrift::transport::TTransport> transport;
    std::unique_ptr<dubbo::demo::GreeterClient> client;
    int timeout_ms = 0;  // The socket's send and receive timeouts.
  };

  explicit ConnectionPool(std::string address) : address_(std::move(address)) {}

  // A connection whose send and receive timeouts are `timeout_ms` (set only when they change, so a
  // steady timeout costs no system call).
  std::unique_ptr<Conn> Take(int timeout_ms) {
    std::unique_ptr<Conn> conn = TakeIdle();
    if (conn == nullptr) conn = Open(timeout_ms);
    if (conn->timeout_ms != timeout_ms) {
      conn->socket->setRecvTimeout(timeout_ms);
      conn->socket->setSendTimeout(timeout_ms);
      conn->timeout_ms = timeout_ms;
    }
    return conn;
  }
  void Give(std::unique_ptr<Conn> conn) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(conn));
  }

 private:
  std::unique_ptr<Conn> TakeIdle() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        auto conn = std::move(idle_.back());
        idle_.pop_back();
        return conn;
      }
    }
    return nullptr;
  }
  std::unique_ptr<Conn> Open(int timeout_ms) {
    const size_t colon = address_.rfind(':');
    auto conn = std::make_unique<Conn>();
    conn->socket = std::make_shared<apache::thrift::transport::TSocket>(
        address_.substr(0, colon), std::atoi(address_.c_str() + colon + 1));
    conn->socket->setConnTimeout(timeout_ms);
    conn->socket->setRecvTimeout(timeout_ms);
    conn->socket->setSendTimeout(timeout_ms);
    conn->socket->setNoDelay(true);
    conn->timeout_ms = timeout_ms;
    conn->transport = std::make_shared<apache::thrift::transport::TBufferedTransport>(conn->socket);
    conn->client = std::make_unique<dubbo::demo::GreeterClient>(
        std::make_shared<apache::thrift::protocol::TBinaryProtocol>(conn->transport));
    conn->transport->open();  // Throws TTransportException when refused.
    return conn;
  }

  const std::string address_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;
};

// One Greet() over a pooled connection, giving up after `timeout_ms`; Thrift's exceptions become a
// Status here, at the edge. A connection that failed is dropped (a late answer may still arrive on
// it).
Status CallGreet(ConnectionPool& pool, int timeout_ms, int64_t* micros) {
  std::unique_ptr<ConnectionPool::Conn> conn;
  try {
    conn = pool.Take(timeout_ms);
    const auto start = Clock::now();
    dubbo::demo::Greeting greeting;
    conn->client->Greet(greeting, "demo");
    *micros = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    pool.Give(std::move(conn));
    return Status::Ok();
  } catch (const apache::thrift::transport::TTransportException& e) {
    // Timed out: the provider is hung or overloaded. Refused, reset, closed mid-call: it is gone or
    // going. Either way the cluster retries elsewhere.
    if (e.getType() == apache::thrift::transport::TTransportException::TIMED_OUT) {
      return dubbo::registry::DeadlineExceededError(e.what());
    }
    return dubbo::registry::UnavailableError(e.what());
  } catch (const dubbo::demo::DemoError& e) {
    return dubbo::registry::InvalidArgumentError(e.reason);  // Application error: not retried.
  } catch (const std::exception& e) {
    return dubbo::registry::InternalError(e.what());
  }
}

class Consumer {
 public:
  explicit Consumer(Flags flags) : flags_(std::move(flags)) {}

  int Run() {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    std::thread signal_thread([this, stop_signals] {
      int sig = 0;
      sigwait(&stop_signals, &sig);  // SIGINT/SIGTERM from outside, or Run() finishing.
      stop_.store(true);
      // Ends a wait on the registry (a start-up or subscription blocked on a silent server) and
      // unsubscribes, within the registry's shutdownTimeout.
      manager_.DestroyAll();
    });
    const int rc = flags_.direct.empty() ? RunWithRegistry() : RunDirect();
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    return rc;
  }

 private:
  ProviderFigures& FiguresFor(const std::string& address, int weight) {
    std::lock_guard<std::mutex> lock(figures_mu_);
    auto& slot = figures_[address];
    if (!slot) {
      slot = std::make_unique<ProviderFigures>();
      slot->address = address;
      slot->weight = weight;
      pools_[address] = std::make_unique<ConnectionPool>(address);
    }
    return *slot;
  }
  ConnectionPool& PoolFor(const std::string& address) {
    std::lock_guard<std::mutex> lock(figures_mu_);
    return *pools_.at(address);
  }

  int RunWithRegistry() {
    dubbo::registry::RegistryManager& manager = manager_;  // Destroyed on SIGTERM (Run()).
    dubbo::registry::nacos::RegisterNacosRegistry(manager).IgnoreError();
    auto registry_url = dubbo::registry::nacos::ParseNacosRegistryAddress(flags_.registry);
    if (!registry_url.ok()) return Fail("bad registry URL: " + registry_url.status().ToString());
    // check=false: a consumer starts even while the registry is down, from its cache file.
    auto registry = manager.GetRegistry(registry_url->WithParameter("check", "false"));
    if (!registry.ok()) return Fail("registry: " + registry.status().ToString());
    auto consumer_url = URL::Parse(
        std::string("consumer://127.0.0.1/") + kInterface +
        "?application=demo-consumer&category=providers&check=false&interface=" + kInterface +
        "&loadbalance=" + flags_.loadbalance +
        "&methods=Greet&protocol=thrift&retries=" + std::to_string(flags_.retries) +
        "&side=consumer&timeout=" + std::to_string(flags_.timeout_ms));
    if (!consumer_url.ok()) return Fail("consumer URL: " + consumer_url.status().ToString());

    dubbo::cluster::ProviderDirectoryOptions directory_options;
    directory_options.consumer_url = *consumer_url;
    auto directory = std::make_shared<dubbo::cluster::ProviderDirectory>(directory_options);
    auto cluster = dubbo::cluster::FailoverCluster::Create(directory, *consumer_url);
    if (!cluster.ok()) return Fail("cluster: " + cluster.status().ToString());
    Status subscribed = (*registry)->Subscribe(*consumer_url, directory);
    if (!subscribed.ok()) return Fail("subscribe: " + subscribed.ToString());

    const auto wait_until = Clock::now() + std::chrono::seconds(flags_.wait_providers_s);
    while (directory->snapshot()->empty() && Clock::now() < wait_until && !stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (directory->snapshot()->empty()) {
      (*registry)->Destroy();
      return Fail("no provider of " + std::string(kInterface) + " appeared within " +
                  std::to_string(flags_.wait_providers_s) + " s");
    }
    directory_ = directory.get();

    const dubbo::cluster::FailoverCluster& failover = **cluster;
    RunLoad([&] {
      dubbo::cluster::Invocation invocation;
      invocation.method = "Greet";
      return failover.Invoke(invocation, [&](const dubbo::cluster::Provider& provider,
                                             const dubbo::cluster::Attempt& attempt) {
        // Per-thread cache of the provider's figures and pool: no shared lock per call. The entry
        // holds the provider's state, so its address cannot be reused by another provider.
        struct Cached {
          std::shared_ptr<const void> pin;
          ProviderFigures* figures = nullptr;
          ConnectionPool* pool = nullptr;
        };
        thread_local std::unordered_map<const void*, Cached> cache;
        auto [slot, inserted] = cache.try_emplace(provider.state().get());
        if (inserted) {
          slot->second.pin = provider.state();
          slot->second.figures = &FiguresFor(provider.address(), provider.weight());
          slot->second.pool = &PoolFor(provider.address());
        }
        ProviderFigures& figures = *slot->second.figures;
        if (attempt.probe) {
          figures.probes.fetch_add(1, std::memory_order_relaxed);
        } else if (figures.failed_once.load(std::memory_order_relaxed)) {
          figures.attempts_after_failure.fetch_add(1, std::memory_order_relaxed);
        }
        // Whole milliseconds, at least 1: what socket timeouts take.
        const int timeout_ms = static_cast<int>(std::max<int64_t>(
            1, std::chrono::duration_cast<std::chrono::milliseconds>(attempt.timeout).count()));
        int64_t micros = 0;
        Status status = CallGreet(*slot->second.pool, timeout_ms, &micros);
        if (status.ok()) {
          figures.calls.fetch_add(1, std::memory_order_relaxed);
          figures.latency.Record(micros);
          if (attempt.probe) figures.probes_ok.fetch_add(1, std::memory_order_relaxed);
        } else {
          figures.failures.fetch_add(1, std::memory_order_relaxed);
          figures.failed_once.store(true, std::memory_order_relaxed);
          if (status.code() == StatusCode::kDeadlineExceeded) {
            figures.timeouts.fetch_add(1, std::memory_order_relaxed);
          }
        }
        return status;
      });
    });
    PrintTable(true);  // While the directory still says which providers are up.
    (*registry)->Unsubscribe(*consumer_url, directory).IgnoreError();
    (*registry)->Destroy();
    directory_ = nullptr;
    return Finish();
  }

  int RunDirect() {
    ProviderFigures& figures = FiguresFor(flags_.direct, 0);
    ConnectionPool& pool = PoolFor(flags_.direct);
    RunLoad([&] {
      int64_t micros = 0;
      Status status = CallGreet(pool, flags_.timeout_ms, &micros);
      if (status.ok()) {
        figures.calls.fetch_add(1, std::memory_order_relaxed);
        figures.latency.Record(micros);
      } else {
        figures.failures.fetch_add(1, std::memory_order_relaxed);
      }
      return status;
    });
    PrintTable(true);
    return Finish();
  }

  template <typename CallFn>
  void RunLoad(CallFn call) {
    start_ = Clock::now();
    const auto deadline =
        start_ + std::chrono::microseconds(static_cast<int64_t>(flags_.duration_s * 1e6));
    std::vector<std::thread> workers;
    for (int i = 0; i < flags_.threads; ++i) {
      workers.emplace_back([&] {
        while (!stop_.load(std::memory_order_relaxed) && Clock::now() < deadline) {
          Status status = call();
          if (status.ok()) {
            ok_.fetch_add(1, std::memory_order_relaxed);
          } else {
            if (failed_.fetch_add(1, std::memory_order_relaxed) < 5) {
              std::fprintf(stderr, "demo-consumer: call failed: %s\n", status.ToString().c_str());
            }
          }
        }
      });
    }
    if (flags_.report_ms > 0 || !flags_.summary_json.empty()) {
      const auto period = std::chrono::milliseconds(flags_.report_ms > 0 ? flags_.report_ms : 1000);
      auto next = start_ + period;
      while (!stop_.load() && Clock::now() < deadline) {
        std::this_thread::sleep_until(std::min(next, deadline));
        if (Clock::now() >= next) {
          if (flags_.report_ms > 0) PrintTable(false);
          if (!flags_.summary_json.empty()) WriteJson(Clock::now());
          next += period;
        }
      }
    }
    for (auto& w : workers) w.join();
    end_ = Clock::now();
  }

  // address -> "up" (in the rotation), "open" (ejected); absent: no longer listed.
  std::map<std::string, std::string> ProviderStates() const {
    std::map<std::string, std::string> states;
    if (directory_ != nullptr) {
      auto snapshot = directory_->snapshot();
      for (const dubbo::cluster::Provider& p : snapshot->providers()) {
        states[p.address()] = p.breaker().closed() ? "up" : "open";
      }
    }
    return states;
  }
  std::string StateOf(const std::map<std::string, std::string>& states,
                      const std::string& address) const {
    if (directory_ == nullptr) return flags_.direct.empty() ? "" : "direct";
    auto it = states.find(address);
    return it == states.end() ? "gone" : it->second;
  }

  void PrintTable(bool final) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const std::map<std::string, std::string> states = ProviderStates();
    std::lock_guard<std::mutex> lock(figures_mu_);
    uint64_t total = 0;
    for (auto& [address, f] : figures_) total += f->calls.load();
    std::printf("\n%s  t=%5.1fs  calls=%llu  failed=%llu\n", final ? "== summary" : "--", elapsed,
                static_cast<unsigned long long>(ok_.load()),
                static_cast<unsigned long long>(failed_.load()));
    std::printf("  %-21s %6s  %-7s %10s %7s %9s %6s %8s %8s\n", "provider", "weight", "state",
                "calls", "share", final ? "calls/s" : "last/s", "fail", "p50(us)", "p99(us)");
    for (auto& [address, f] : figures_) {
      const uint64_t calls = f->calls.load();
      const double interval = flags_.report_ms > 0 ? flags_.report_ms / 1000.0 : 1.0;
      const double rate = final ? calls / std::max(elapsed, 1e-9)
                                : static_cast<double>(calls - f->calls_at_last_report) / interval;
      f->calls_at_last_report = calls;
      const std::string state = StateOf(states, address);
      std::printf("  %-21s %6d  %-7s %10llu %6.1f%% %9.0f %6llu %8lld %8lld\n", address.c_str(),
                  f->weight, state.c_str(), static_cast<unsigned long long>(calls),
                  total ? 100.0 * static_cast<double>(calls) / static_cast<double>(total) : 0.0,
                  rate, static_cast<unsigned long long>(f->failures.load()),
                  static_cast<long long>(f->latency.Quantile(0.5)),
                  static_cast<long long>(f->latency.Quantile(0.99)));
    }
    std::fflush(stdout);
  }

  // Writes the figures to --summary-json, replacing the file whole (written aside, then renamed) so
  // that a reader never sees half of it. `now`: the end of the figures' period; "final" is true
  // once the calls have stopped. The providers' "state" is present while the registry is.
  void WriteJson(Clock::time_point now, bool final = false) {
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const std::map<std::string, std::string> states = ProviderStates();
    std::ostringstream out;
    out << "{\"final\":" << (final ? "true" : "false") << ",\"calls\":" << ok_.load()
        << ",\"failed\":" << failed_.load() << ",\"seconds\":" << elapsed << ",\"providers\":[";
    bool first = true;
    {
      std::lock_guard<std::mutex> lock(figures_mu_);
      for (auto& [address, f] : figures_) {
        out << (first ? "" : ",") << "{\"address\":\"" << address << "\",\"weight\":" << f->weight;
        if (directory_ != nullptr) out << ",\"state\":\"" << StateOf(states, address) << "\"";
        out << ",\"calls\":" << f->calls.load() << ",\"failures\":" << f->failures.load()
            << ",\"timeouts\":" << f->timeouts.load()
            << ",\"attempts_after_failure\":" << f->attempts_after_failure.load()
            << ",\"probes\":" << f->probes.load() << ",\"probes_ok\":" << f->probes_ok.load()
            << ",\"p50_us\":" << f->latency.Quantile(0.5)
            << ",\"p99_us\":" << f->latency.Quantile(0.99) << "}";
        first = false;
      }
    }
    out << "]}\n";
    const std::string tmp = flags_.summary_json + ".tmp";
    std::ofstream file(tmp, std::ios::trunc);
    file << out.str();
    file.close();
    if (!file || std::rename(tmp.c_str(), flags_.summary_json.c_str()) != 0) {
      std::fprintf(stderr, "demo-consumer: cannot write %s\n", flags_.summary_json.c_str());
    }
  }

  int Finish() {
    const double elapsed = std::chrono::duration<double>(end_ - start_).count();
    if (!flags_.summary_json.empty()) WriteJson(end_, /*final=*/true);
    const uint64_t failed = failed_.load();
    if (failed > 0) {
      std::printf("\ndemo-consumer: %llu of %llu calls FAILED\n",
                  static_cast<unsigned long long>(failed),
                  static_cast<unsigned long long>(failed + ok_.load()));
      return 1;
    }
    if (ok_.load() == 0) return Fail("no call was made");
    std::printf("\ndemo-consumer: %llu calls in %.1f s (%.0f/s), none failed\n",
                static_cast<unsigned long long>(ok_.load()), elapsed,
                static_cast<double>(ok_.load()) / std::max(elapsed, 1e-9));
    return 0;
  }

  int Fail(const std::string& why) {
    std::fprintf(stderr, "demo-consumer: %s\n", why.c_str());
    return 1;
  }

  const Flags flags_;
  std::atomic<bool> stop_{false};
  dubbo::registry::RegistryManager manager_;
  std::atomic<uint64_t> ok_{0};
  std::atomic<uint64_t> failed_{0};
  Clock::time_point start_{};
  Clock::time_point end_{};
  const dubbo::cluster::ProviderDirectory* directory_ = nullptr;
  std::mutex figures_mu_;
  std::map<std::string, std::unique_ptr<ProviderFigures>> figures_;
  std::map<std::string, std::unique_ptr<ConnectionPool>> pools_;
};

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage(stderr);
    return 2;
  }
  dubbo::registry::SetMinLogSeverity(dubbo::registry::LogSeverity::kError);
  // Refused connections are expected (a provider dies) and handled by failover: keep Thrift quiet.
  apache::thrift::GlobalOutput.setOutputFunction([](const char*) {});
  try {
    return Consumer(std::move(flags)).Run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo-consumer: %s\n", e.what());
    return 1;
  }
}
