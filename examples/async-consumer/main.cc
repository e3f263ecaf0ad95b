// async-consumer: calls the echo-provider instances it discovers through Nacos with
// FailoverCluster::InvokeAsync and a callback-based client: one I/O thread runs every call, and a
// failed attempt's retry starts on that thread, from the callback that reports the failure. No
// thread blocks on a call.
//
//   async-consumer --registry nacos://127.0.0.1:8848 [--providers 1] [--calls 20]
//
// Exits 0 when every call succeeded.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/consumer_util.h"
#include "../common/echo_net.h"
#include "../common/example.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/registry/registry_factory.h"

namespace {

using Clock = std::chrono::steady_clock;
using dubbo::registry::Status;

// A callback-based echo client, the shape async RPC frameworks have: Call() returns at once and
// the callback runs later on the client's I/O thread. Every call ends with exactly one callback
// (kBroken for calls still pending when the client is destroyed).
class AsyncEchoClient {
 public:
  using Callback = std::function<void(echo::CallResult result, std::string answer)>;

  AsyncEchoClient() {
    // Non-blocking both ways: a full pipe already means "wake up", and the loop drains it all.
    if (pipe2(wake_, O_NONBLOCK | O_CLOEXEC) != 0) std::abort();
    io_ = std::thread([this] { Loop(); });
  }
  ~AsyncEchoClient() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    Wake();
    io_.join();
    close(wake_[0]);
    close(wake_[1]);
  }

  void Call(const std::string& address, const std::string& line, std::chrono::milliseconds timeout,
            Callback callback) {
    auto call = std::make_unique<PendingCall>();
    call->fd = echo::StartConnect(address);
    call->out = line + "\n";
    call->deadline = Clock::now() + timeout;
    call->callback = std::move(callback);
    {
      std::lock_guard<std::mutex> lock(mu_);
      submitted_.push_back(std::move(call));
    }
    Wake();
  }

 private:
  struct PendingCall {
    int fd = -1;
    bool connected = false;
    std::string out;  // What is left to send.
    std::string in;   // What came back so far.
    Clock::time_point deadline;
    Callback callback;
  };

  void Wake() {
    const char byte = 0;
    (void)!write(wake_[1], &byte, 1);
  }

  // Runs the call's callback once, without any lock held, and forgets the call.
  static void Finish(PendingCall& call, echo::CallResult result) {
    if (call.fd >= 0) close(call.fd);
    call.fd = -1;
    std::string answer = call.in.substr(0, call.in.find('\n'));
    Callback callback = std::move(call.callback);
    callback(result, std::move(answer));
  }

  // Advances one call after poll() reported `revents`; true when it is finished.
  static bool Step(PendingCall& call, short revents) {
    if (!call.connected) {
      int err = 0;
      socklen_t len = sizeof(err);
      if (getsockopt(call.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        Finish(call, echo::CallResult::kRefused);
        return true;
      }
      call.connected = true;
    }
    if (!call.out.empty()) {
      const ssize_t n = send(call.fd, call.out.data(), call.out.size(), MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) {
        Finish(call, echo::CallResult::kBroken);
        return true;
      }
      if (n > 0) call.out.erase(0, static_cast<size_t>(n));
      return false;
    }
    if ((revents & (POLLIN | POLLHUP | POLLERR)) == 0) return false;
    char buf[512];
    const ssize_t n = recv(call.fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return false;
      Finish(call, echo::CallResult::kBroken);
      return true;
    }
    call.in.append(buf, static_cast<size_t>(n));
    if (call.in.find('\n') == std::string::npos) return false;
    Finish(call, echo::CallResult::kOk);
    return true;
  }

  void Loop() {
    std::list<std::unique_ptr<PendingCall>> calls;
    for (;;) {
      bool stopping;
      {
        std::lock_guard<std::mutex> lock(mu_);
        stopping = stopping_;
        for (auto& call : submitted_) calls.push_back(std::move(call));
        submitted_.clear();
      }
      const Clock::time_point now = Clock::now();
      for (auto it = calls.begin(); it != calls.end();) {
        PendingCall& call = **it;
        if (stopping || call.fd < 0 || now >= call.deadline) {
          Finish(call, stopping      ? echo::CallResult::kBroken
                       : call.fd < 0 ? echo::CallResult::kRefused
                                     : echo::CallResult::kTimeout);
          it = calls.erase(it);
        } else {
          ++it;
        }
      }
      if (stopping) return;
      std::vector<pollfd> fds{{wake_[0], POLLIN, 0}};
      Clock::time_point next_deadline = now + std::chrono::seconds(1);
      for (const auto& call : calls) {
        fds.push_back({call->fd, static_cast<short>(call->out.empty() ? POLLIN : POLLOUT), 0});
        if (call->deadline < next_deadline) next_deadline = call->deadline;
      }
      const auto wait =
          std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count() + 1;
      if (poll(fds.data(), fds.size(), static_cast<int>(wait)) <= 0) continue;
      if (fds[0].revents != 0) {
        char drain[256];
        while (read(wake_[0], drain, sizeof(drain)) > 0) {
        }
      }
      size_t i = 1;
      for (auto it = calls.begin(); it != calls.end(); ++i) {
        if (fds[i].revents != 0 && Step(**it, fds[i].revents)) {
          it = calls.erase(it);
        } else {
          ++it;
        }
      }
    }
  }

  int wake_[2] = {-1, -1};
  std::mutex mu_;
  bool stopping_ = false;
  std::deque<std::unique_ptr<PendingCall>> submitted_;
  std::thread io_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "async-consumer: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"--registry", "nacos://127.0.0.1:8848"}, {"--providers", "1"}, {"--calls", "20"}};
  if (!example::ParseFlags("async-consumer", argc, argv, &flags)) return 2;
  const int calls = std::atoi(flags["--calls"].c_str());
  if (calls <= 0) return Fail("--calls must be a positive number");

  dubbo::registry::RegistryManager manager;
  auto registry = example::OpenNacosRegistry(manager, flags["--registry"]);
  if (!registry.ok()) return Fail("registry: " + registry.status().ToString());
  example::EchoConsumer consumer;
  Status started = consumer.Start(*registry, "roundrobin",
                                  std::strtoul(flags["--providers"].c_str(), nullptr, 10));
  if (!started.ok()) return Fail(started.ToString());

  // Every call is started at once; the completions count down.
  std::mutex mu;
  std::condition_variable all_done;
  int outstanding = calls;
  int failed = 0;
  AsyncEchoClient client;
  for (int i = 0; i < calls; ++i) {
    auto answer = std::make_shared<std::string>();
    dubbo::cluster::Invocation invocation;
    invocation.method = "echo";
    consumer.cluster().InvokeAsync(
        invocation,
        [&client, answer, i](const dubbo::cluster::Provider& provider,
                             const dubbo::cluster::Attempt& attempt,
                             dubbo::cluster::AttemptDone done) {
          // The client's callbacks are std::function, which must be copyable: IntoFunction()
          // makes the move-only AttemptDone so.
          client.Call(provider.address(), "async call " + std::to_string(i),
                      std::chrono::duration_cast<std::chrono::milliseconds>(attempt.timeout),
                      [answer, report = std::move(done).IntoFunction()](echo::CallResult result,
                                                                        std::string text) {
                        *answer = std::move(text);
                        report(example::ToStatus(result));
                      });
        },
        [&, answer, i](Status status) {
          if (status.ok()) {
            std::printf("async-consumer: %s\n", answer->c_str());
          } else {
            std::printf("async-consumer: call %d failed: %s\n", i, status.ToString().c_str());
          }
          std::lock_guard<std::mutex> lock(mu);
          if (!status.ok()) ++failed;
          if (--outstanding == 0) all_done.notify_all();
        });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return outstanding == 0; });
  }
  std::printf("async-consumer: %d of %d calls succeeded\n", calls - failed, calls);
  return failed == 0 ? 0 : 1;
}
