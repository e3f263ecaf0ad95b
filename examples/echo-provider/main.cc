// echo-provider: a plain TCP echo server (no RPC framework) that registers itself in Nacos through
// DubboRegistry, and leaves gracefully on SIGTERM: unregister, drain the requests in flight, stop.
//
//   echo-provider --registry nacos://127.0.0.1:8848 [--host 127.0.0.1] [--port 0] [--weight 100]
//
// Prints "echo-provider serving echo://HOST:PORT" once registered, and "echo-provider stopped" when
// it exits after SIGTERM or SIGINT.
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../common/echo_net.h"
#include "../common/example.h"
#include "dubbo/registry/graceful_shutdown.h"
#include "dubbo/registry/provider_url_builder.h"
#include "dubbo/registry/registry_factory.h"

namespace {

constexpr char kService[] = "example.Echo";

// Accepts connections until Stop(); each connection is one request (a line in, a line out), served
// on the accepting thread: small, and enough for an example.
class EchoServer {
 public:
  EchoServer(int listen_fd, std::string address, dubbo::registry::RequestTracker* tracker)
      : listen_fd_(listen_fd), address_(std::move(address)), tracker_(tracker) {
    if (pipe(wake_) != 0) std::abort();
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~EchoServer() { Stop(); }

  // Stops accepting, after the request being served.
  void Stop() {
    if (!acceptor_.joinable()) return;
    const char byte = 0;
    (void)!write(wake_[1], &byte, 1);
    acceptor_.join();
    close(listen_fd_);
    close(wake_[0]);
    close(wake_[1]);
  }

 private:
  void AcceptLoop() {
    for (;;) {
      pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) continue;
      if (fds[1].revents != 0) return;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;  // EAGAIN: the client left before accept()
      // The guard counts the request as in flight from accept to answer.
      const auto guard = tracker_->Enter();
      Serve(fd);
    }
  }

  void Serve(int fd) {
    std::string line;
    char c;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (line.size() < 4096 && echo::WaitFor(fd, POLLIN, deadline) && recv(fd, &c, 1, 0) == 1) {
      if (c == '\n') {
        const std::string answer = address_ + " " + line + "\n";
        send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        break;
      }
      line.push_back(c);
    }
    close(fd);
  }

  const int listen_fd_;
  const std::string address_;
  dubbo::registry::RequestTracker* const tracker_;
  int wake_[2] = {-1, -1};
  std::thread acceptor_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "echo-provider: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {{"--registry", "nacos://127.0.0.1:8848"},
                                              {"--host", "127.0.0.1"},
                                              {"--port", "0"},
                                              {"--weight", "100"}};
  if (!example::ParseFlags("echo-provider", argc, argv, &flags)) return 2;
  const std::string host = flags["--host"];

  // SIGTERM and SIGINT are taken by sigwait() below, in every thread.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string error;
  int bound_port = 0;
  const int listen_fd = echo::Listen(host, std::atoi(flags["--port"].c_str()), &bound_port, &error);
  if (listen_fd < 0) return Fail(error);
  const std::string address = host + ":" + std::to_string(bound_port);
  dubbo::registry::RequestTracker tracker;
  EchoServer server(listen_fd, address, &tracker);

  // The provider URL, with Dubbo's standard parameters filled in.
  auto url = dubbo::registry::ProviderUrlBuilder("echo", host, bound_port, kService)
                 .Application("echo-provider")
                 .Methods({"echo"})
                 .Weight(std::atoi(flags["--weight"].c_str()))
                 .Build();
  if (!url.ok()) return Fail("provider URL: " + url.status().ToString());

  dubbo::registry::RegistryManager manager;
  auto registry = example::OpenNacosRegistry(manager, flags["--registry"]);
  if (!registry.ok()) return Fail("registry: " + registry.status().ToString());
  dubbo::registry::Status registered = (*registry)->Register(*url);
  if (!registered.ok()) return Fail("register: " + registered.ToString());
  std::printf("echo-provider serving echo://%s\n", address.c_str());
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  dubbo::registry::GracefulShutdownOptions options;
  options.drain_timeout = std::chrono::seconds(5);
  const dubbo::registry::Status left = dubbo::registry::GracefulShutdown(
      **registry, {*url}, tracker, [&server] { server.Stop(); }, options);
  manager.DestroyAll();
  std::printf("echo-provider stopped (%s): %s\n", strsignal(signal_number),
              left.ok() ? "unregistered and drained" : left.ToString().c_str());
  return left.ok() ? 0 : 1;
}
