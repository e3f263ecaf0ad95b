// demo-provider: a Thrift Greeter provider that registers itself in Nacos through the registry API.
//
//   demo-provider --registry nacos://127.0.0.1:8848 --port 0 --weight 200
//
// Prints one line once it serves and is registered:
//   demo-provider serving thrift://127.0.0.1:PORT weight W
// On SIGTERM or SIGINT it destroys its registry first (which deregisters it, so consumers stop
// picking it, and ends a start-up still waiting for the registry), lets in-flight calls finish,
// closes the port and exits 0, within kStopBudget whatever the registry does (the registry's part
// is bounded by its shutdownTimeout, default 1000 ms). Its last line says how long that took:
//   demo-provider 127.0.0.1:PORT: stopped N ms after Terminated (budget 2000 ms)
#include <signal.h>
#include <unistd.h>

#include <string>  // Before TOutput.h, which uses std::string without including it.

#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TServerFramework.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TServerSocket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "Greeter.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/url.h"

namespace {

using apache::thrift::protocol::TBinaryProtocolFactory;
using apache::thrift::server::TServerEventHandler;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TBufferedTransportFactory;
using apache::thrift::transport::TServerSocket;
using dubbo::registry::URL;

constexpr char kInterface[] = "dubbo.demo.Greeter";
// From a stop signal to exit: the registry's shutdownTimeout (default 1000 ms), the drain (default
// 300 ms) and closing the port fit in it.
constexpr std::chrono::milliseconds kStopBudget{2000};

struct Flags {
  std::string registry = "nacos://127.0.0.1:8848";
  std::string host = "127.0.0.1";
  int port = 0;
  int weight = 100;
  // After unregistering, how long consumers get to notice before the port closes.
  int drain_ms = 300;
  // Dubbo's warm-up: a provider younger than this gets a reduced weight. Default 0 (none), so the
  // demo shows the configured split at once; Dubbo's own default is 600000.
  int warmup_ms = 0;
};

void Usage(std::FILE* out) {
  std::fprintf(out,
               "usage: demo-provider [--registry URL] [--host IP] [--port N] [--weight N]\n"
               "                     [--drain-ms N] [--warmup-ms N]\n"
               "  --registry  registry URL (default nacos://127.0.0.1:8848)\n"
               "  --host      address to bind and register (default 127.0.0.1)\n"
               "  --port      port to serve on; 0 picks a free one (default 0)\n"
               "  --weight    load-balancing weight (default 100)\n"
               "  --drain-ms  on SIGTERM, time between unregistering and closing the port\n"
               "              (default 300)\n"
               "  --warmup-ms warm-up period advertised to consumers (default 0: none)\n");
}

bool ParseInt(const char* text, int lo, int hi, int* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      Usage(stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "demo-provider: %s needs a value\n", arg.c_str());
      return false;
    }
    const char* value = argv[++i];
    bool ok = true;
    if (arg == "--registry") {
      flags->registry = value;
    } else if (arg == "--host") {
      flags->host = value;
    } else if (arg == "--port") {
      ok = ParseInt(value, 0, 65535, &flags->port);
    } else if (arg == "--weight") {
      ok = ParseInt(value, 0, 1000000, &flags->weight);
    } else if (arg == "--warmup-ms") {
      ok = ParseInt(value, 0, 86400000, &flags->warmup_ms);
    } else if (arg == "--drain-ms") {
      ok = ParseInt(value, 0, 60000, &flags->drain_ms);
    } else {
      std::fprintf(stderr, "demo-provider: unknown flag %s\n", arg.c_str());
      return false;
    }
    if (!ok) {
      std::fprintf(stderr, "demo-provider: bad value for %s: %s\n", arg.c_str(), value);
      return false;
    }
  }
  return true;
}

class GreeterHandler final : public dubbo::demo::GreeterIf {
 public:
  GreeterHandler(std::string address, int weight) : address_(std::move(address)), weight_(weight) {}

  void Greet(dubbo::demo::Greeting& out, const std::string& name) override {
    if (name.empty()) {
      dubbo::demo::DemoError error;
      error.reason = "empty name";
      throw error;
    }
    out.message = "hello, " + name;
    out.provider = address_;
    out.weight = weight_;
  }

  void set_address(std::string address) { address_ = std::move(address); }

 private:
  std::string address_;
  int weight_;
};

// Tells main() the bound port once serve() is listening.
class ReadySignal final : public TServerEventHandler {
 public:
  explicit ReadySignal(std::shared_ptr<TServerSocket> socket) : socket_(std::move(socket)) {}
  void preServe() override {
    std::lock_guard<std::mutex> lock(mu_);
    port_ = socket_->getPort();
    cv_.notify_all();
  }
  // The bound port, or -1 if serve() did not get to listen within the bound.
  int WaitForPort(std::chrono::seconds bound) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, bound, [&] { return port_ >= 0; });
    return port_;
  }

 private:
  std::shared_ptr<TServerSocket> socket_;
  std::mutex mu_;
  std::condition_variable cv_;
  int port_ = -1;
};

std::string ProviderUrl(const Flags& flags, int port) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return "thrift://" + flags.host + ":" + std::to_string(port) + "/" + kInterface +
         "?anyhost=false&application=demo-provider&category=providers&deprecated=false"
         "&dubbo=2.0.2&dynamic=true&interface=" + kInterface +
         "&methods=Greet&pid=" + std::to_string(::getpid()) +
         "&release=dubbo-cpp&side=provider&timestamp=" + std::to_string(now) +
         "&warmup=" + std::to_string(flags.warmup_ms) + "&weight=" + std::to_string(flags.weight);
}

// SIGTERM and SIGINT, taken by one thread with sigwait(). On the first, the thread destroys every
// registry of `manager` (deregistering, and ending calls blocked on the registry) and records when
// the signal came; Wait() returns once that is done.
class StopSignals {
 public:
  explicit StopSignals(dubbo::registry::RegistryManager* manager) {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    // Every thread started after this inherits the mask, so only sigwait() sees the signals.
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    thread_ = std::thread([this, manager] {
      int signal_number = 0;
      sigwait(&signals_, &signal_number);
      {
        std::lock_guard<std::mutex> lock(mu_);
        signal_number_ = signal_number;
        received_at_ = std::chrono::steady_clock::now();
      }
      if (!closing_.load()) {
        std::fprintf(stderr, "demo-provider: %s: destroying the registry, then draining\n",
                     strsignal(signal_number));
      }
      manager->DestroyAll();
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      cv_.notify_all();
    });
  }
  // Ends the thread (waking it when no signal came).
  ~StopSignals() {
    closing_.store(true);
    if (!received()) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

  // Whether a signal came (its registry work may still be under way).
  bool received() {
    std::lock_guard<std::mutex> lock(mu_);
    return signal_number_ != 0;
  }
  // Waits for a signal and for the registries to be destroyed; returns the signal.
  int Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
    return signal_number_;
  }
  // Logs how long the stop took against kStopBudget.
  void ReportStopped(const std::string& who) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - received_at_);
    std::fprintf(stderr, "demo-provider %s: stopped %lld ms after %s (%s %lld ms)\n", who.c_str(),
                 static_cast<long long>(elapsed.count()), strsignal(signal_number_),
                 elapsed <= kStopBudget ? "budget" : "OVER the budget of",
                 static_cast<long long>(kStopBudget.count()));
  }

 private:
  sigset_t signals_;
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  int signal_number_ = 0;
  std::chrono::steady_clock::time_point received_at_;
  bool done_ = false;
  std::thread thread_;
};

int Run(const Flags& flags) {
  dubbo::registry::RegistryManager manager;
  StopSignals stop(&manager);

  auto handler = std::make_shared<GreeterHandler>("", flags.weight);
  auto socket = std::make_shared<TServerSocket>(flags.host, flags.port);
  TThreadedServer server(std::make_shared<dubbo::demo::GreeterProcessor>(handler), socket,
                         std::make_shared<TBufferedTransportFactory>(),
                         std::make_shared<TBinaryProtocolFactory>());
  auto ready = std::make_shared<ReadySignal>(socket);
  server.setServerEventHandler(ready);

  std::exception_ptr serve_error;
  std::thread serving([&] {
    try {
      server.serve();
    } catch (...) {
      serve_error = std::current_exception();
    }
  });
  const int port = ready->WaitForPort(std::chrono::seconds(10));
  if (port <= 0) {
    server.stop();
    serving.join();
    try {
      if (serve_error) std::rethrow_exception(serve_error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "demo-provider: cannot serve on %s:%d: %s\n", flags.host.c_str(),
                   flags.port, e.what());
    }
    return 1;
  }
  handler->set_address(flags.host + ":" + std::to_string(port));

  dubbo::registry::nacos::RegisterNacosRegistry(manager).IgnoreError();
  auto registry_url = dubbo::registry::nacos::ParseNacosRegistryAddress(flags.registry);
  dubbo::registry::Result<std::shared_ptr<dubbo::registry::Registry>> registry =
      registry_url.ok() ? manager.GetRegistry(*registry_url)
                        : dubbo::registry::Result<std::shared_ptr<dubbo::registry::Registry>>(
                              registry_url.status());
  auto url = URL::Parse(ProviderUrl(flags, port));
  dubbo::registry::Status registered =
      !registry.ok() ? registry.status() : !url.ok() ? url.status() : (*registry)->Register(*url);
  if (!registered.ok() && stop.received()) {  // A stop signal ended the start-up.
    stop.Wait();
    server.stop();
    serving.join();
    stop.ReportStopped("starting on " + flags.host + ":" + std::to_string(port));
    return 0;
  }
  if (!registered.ok()) {
    std::fprintf(stderr, "demo-provider: cannot register with %s: %s\n", flags.registry.c_str(),
                 registered.ToString().c_str());
    server.stop();
    serving.join();
    return 1;
  }
  std::printf("demo-provider serving thrift://%s:%d weight %d\n", flags.host.c_str(), port,
              flags.weight);
  std::fflush(stdout);

  stop.Wait();  // The registry is destroyed: deregistered, or given up on within its budget.
  std::this_thread::sleep_for(std::chrono::milliseconds(flags.drain_ms));
  server.stop();  // In-flight calls finish; idle connections are closed.
  serving.join();
  stop.ReportStopped(flags.host + ":" + std::to_string(port));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage(stderr);
    return 2;
  }
  dubbo::registry::SetMinLogSeverity(dubbo::registry::LogSeverity::kWarning);
  apache::thrift::GlobalOutput.setOutputFunction([](const char* message) {
    std::fprintf(stderr, "demo-provider: thrift: %s\n", message);
  });
  try {
    return Run(flags);
  } catch (const std::exception& e) {  // Thrift reports errors with exceptions: stop them here.
    std::fprintf(stderr, "demo-provider: %s\n", e.what());
    return 1;
  }
}
