// demo-provider: a Thrift Greeter provider that registers itself in Nacos through the registry API.
//
//   demo-provider --registry nacos://127.0.0.1:8848 --port 0 --weight 200
//
// Its URL comes from ProviderUrlBuilder. It prints one line once it serves and is registered:
//   demo-provider serving thrift://127.0.0.1:PORT weight W
// On SIGTERM or SIGINT it shuts down with GracefulShutdown(): it unregisters (so consumers stop
// picking it), keeps serving for --drain-ms while they learn of it, waits for the calls in flight
// (at most kDrainTimeout), closes the port, destroys its registry and exits 0. The registry gets
// kRegistryBudget to unregister; after that it is destroyed, which ends a call blocked on a silent
// registry within the registry's shutdownTimeout (default 1000 ms). A signal during the start-up
// destroys the registry at once, which ends a start-up still waiting for it. Its last line says how
// long the stop took against kStopBudget:
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
#include "dubbo/registry/graceful_shutdown.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/provider_url_builder.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/url.h"

namespace {

using apache::thrift::protocol::TBinaryProtocolFactory;
using apache::thrift::server::TServerEventHandler;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TBufferedTransportFactory;
using apache::thrift::transport::TServerSocket;
using dubbo::registry::RequestTracker;
using dubbo::registry::URL;

constexpr char kInterface[] = "dubbo.demo.Greeter";
// From a stop signal to exit: unregistering (a few ms; at most kRegistryBudget, then the registry's
// shutdownTimeout, default 1000 ms), --drain-ms (default 300 ms), the calls in flight (Greet
// answers at once) and closing the port fit in it.
constexpr std::chrono::milliseconds kStopBudget{2000};
// How long the registry may take to unregister before it is destroyed.
constexpr std::chrono::milliseconds kRegistryBudget{500};
// The longest wait for the calls in flight once --drain-ms has passed.
constexpr std::chrono::milliseconds kDrainTimeout{500};

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
  GreeterHandler(std::string address, int weight, RequestTracker* tracker)
      : address_(std::move(address)), weight_(weight), tracker_(tracker) {}

  void Greet(dubbo::demo::Greeting& out, const std::string& name) override {
    RequestTracker::Guard in_flight = tracker_->Enter();
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
  RequestTracker* tracker_;
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

dubbo::registry::Result<URL> ProviderUrl(const Flags& flags, int port) {
  return dubbo::registry::ProviderUrlBuilder("thrift", flags.host, port, kInterface)
      .Application("demo-provider")
      .Methods({"Greet"})
      .Weight(flags.weight)
      .Warmup(std::chrono::milliseconds(flags.warmup_ms))
      .Build();
}

// SIGTERM and SIGINT, taken by one thread with sigwait(). During the start-up a signal makes that
// thread destroy every registry of `manager` at once (ending calls blocked on the registry). Once
// serving, main() runs the graceful shutdown and the thread is its registry watchdog: unless main()
// reports Finished() within kRegistryBudget, it destroys the registries, which ends an
// unregistration blocked on a silent registry (after the unregistration the provider needs its
// registry no more, so destroying it during the drain changes nothing).
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
      std::unique_lock<std::mutex> lock(mu_);
      signal_number_ = signal_number;
      received_at_ = std::chrono::steady_clock::now();
      cv_.notify_all();
      if (!closing_) {
        std::fprintf(stderr, "demo-provider: %s: %s\n", strsignal(signal_number),
                     serving_ ? "unregistering, then draining" : "destroying the registry");
      }
      if (serving_) cv_.wait_for(lock, kRegistryBudget, [&] { return finished_; });
      if (!finished_) {
        lock.unlock();
        manager->DestroyAll();
        lock.lock();
      }
      done_ = true;
      cv_.notify_all();
    });
  }
  // Ends the thread (waking it when no signal came).
  ~StopSignals() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
      finished_ = true;
    }
    if (!received()) pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

  // Called once the start-up is over: true when serving begins, false when a signal came first
  // (the registries are then being destroyed; WaitDone() waits for that).
  bool MarkServing() {
    std::lock_guard<std::mutex> lock(mu_);
    if (signal_number_ != 0) return false;
    serving_ = true;
    return true;
  }
  bool received() {
    std::lock_guard<std::mutex> lock(mu_);
    return signal_number_ != 0;
  }
  // Waits for a signal.
  void WaitForSignal() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return signal_number_ != 0; });
  }
  // The graceful shutdown is over: the watchdog stands down.
  void Finished() {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }
  // Waits until the signal thread is done with the registries.
  void WaitDone() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return done_; });
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
  std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  bool serving_ = false;
  bool finished_ = false;
  bool done_ = false;
  int signal_number_ = 0;
  std::chrono::steady_clock::time_point received_at_;
  std::thread thread_;
};

int Run(const Flags& flags) {
  dubbo::registry::RegistryManager manager;
  StopSignals stop(&manager);

  RequestTracker tracker;
  auto handler = std::make_shared<GreeterHandler>("", flags.weight, &tracker);
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

  const dubbo::registry::Result<URL> url = ProviderUrl(flags, port);
  if (!url.ok()) {
    std::fprintf(stderr, "demo-provider: cannot build the provider URL: %s\n",
                 url.status().ToString().c_str());
    server.stop();
    serving.join();
    return 1;
  }
  dubbo::registry::nacos::RegisterNacosRegistry(manager).IgnoreError();
  auto registry_url = dubbo::registry::nacos::ParseNacosRegistryAddress(flags.registry);
  dubbo::registry::Result<std::shared_ptr<dubbo::registry::Registry>> registry =
      registry_url.ok() ? manager.GetRegistry(*registry_url)
                        : dubbo::registry::Result<std::shared_ptr<dubbo::registry::Registry>>(
                              registry_url.status());
  dubbo::registry::Status registered =
      !registry.ok() ? registry.status() : (*registry)->Register(*url);
  if (!stop.MarkServing()) {  // A stop signal ended the start-up.
    stop.WaitDone();
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

  stop.WaitForSignal();
  dubbo::registry::GracefulShutdownOptions options;
  options.propagation_delay = std::chrono::milliseconds(flags.drain_ms);
  options.drain_timeout = kDrainTimeout;
  // server.stop() lets the calls in flight finish and closes idle connections.
  const dubbo::registry::Status shut_down = dubbo::registry::GracefulShutdown(
      **registry, {*url}, tracker, [&] { server.stop(); }, options);
  if (!shut_down.ok()) std::fprintf(stderr, "demo-provider: %s\n", shut_down.ToString().c_str());
  serving.join();
  stop.Finished();
  stop.WaitDone();
  manager.DestroyAll();
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
