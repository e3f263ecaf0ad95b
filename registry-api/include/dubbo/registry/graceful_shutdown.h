// File: dubbo/registry/graceful_shutdown.h
//
// A provider's graceful shutdown, in Dubbo's order: unregister, drain, then stop. Dubbo's shutdown
// hook destroys the registries first (consumers are told the provider is gone), then closes each
// server, which waits for the requests still running, at most `dubbo.service.shutdown.wait`
// (default 10000 ms), before closing its connections.
//
//   RequestTracker tracker;                 // shared with the RPC layer
//   // in each request handler:
//   auto guard = tracker.Enter();           // one atomic increment; the destructor ends it
//   // on SIGTERM:
//   Status s = GracefulShutdown(*registry, {provider_url}, tracker,
//                               [&] { server.Stop(); }, GracefulShutdownOptions{});
//
// GracefulShutdown():
//   1. closes `tracker` (requests are still served; Enter() counts them as late);
//   2. unregisters every URL; a failure (an exception from the registry included) is logged and
//      collected, and the shutdown goes on;
//   3. keeps serving for `propagation_delay`, while consumers learn the provider is gone;
//   4. waits until no request is in flight or `drain_timeout` has passed, woken by the last
//      request to end (no polling);
//   5. calls `stop` exactly once; an exception from it is caught.
// It returns OK, or the first problem's code with every problem in the message: the unregister
// failures, kDeadlineExceeded when the drain timed out with N requests in flight, kInternal when
// the registry or `stop` threw. `stop` is called whatever happened before.
//
// Thread-safety: RequestTracker's methods may be called from any thread. GracefulShutdown() runs
// once per tracker: a second call (from any thread, at any time) returns kFailedPrecondition at
// once and does not call `stop`. `stop` runs on the calling thread, under no lock of ours.
#ifndef DUBBO_REGISTRY_GRACEFUL_SHUTDOWN_H_
#define DUBBO_REGISTRY_GRACEFUL_SHUTDOWN_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/registry_service.h"
#include "dubbo/registry/scheduler.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

struct GracefulShutdownOptions {
  // How long the provider keeps serving after unregistering, before the drain starts. Consumers
  // stop picking it once the registry's push reaches them and their directory is updated:
  // milliseconds with Nacos over gRPC or UDP push. The default leaves room for a loaded consumer;
  // a consumer that learns later finds the port closed and fails over. Default 1 s.
  Duration propagation_delay = std::chrono::seconds(1);
  // The longest wait for in-flight requests once the delay has passed; 0 does not wait. Default
  // 10 s (Dubbo's dubbo.service.shutdown.wait).
  Duration drain_timeout = std::chrono::seconds(10);
  // Measures both waits (a ManualScheduler in tests). nullptr: real time. Must outlive the call,
  // and GracefulShutdown() must not run on this scheduler's own thread (its timers could not fire).
  Scheduler* scheduler = nullptr;
};

class RequestTracker;

// Unregister, wait, drain, stop: see the file comment. `stop` must not be empty.
DUBBO_REGISTRY_EXPORT Status GracefulShutdown(RegistryService& registry,
                                              const std::vector<URL>& provider_urls,
                                              RequestTracker& tracker,
                                              const std::function<void()>& stop,
                                              const GracefulShutdownOptions& options);

// Counts the requests in flight, for GracefulShutdown()'s drain. A guard's destructor still touches
// the tracker after the count it releases may have let the drain finish: destroy the tracker only
// once the threads that ran requests are done (a `stop` that joins the server's threads ensures
// it).
class DUBBO_REGISTRY_EXPORT RequestTracker {
 public:
  // Ends one request when destroyed (or moved-from into another guard that is destroyed).
  class [[nodiscard]] Guard {
   public:
    Guard(Guard&& other) noexcept : tracker_(other.tracker_) { other.tracker_ = nullptr; }
    Guard& operator=(Guard&& other) noexcept {
      if (this != &other) {
        if (tracker_ != nullptr) tracker_->Exit();
        tracker_ = other.tracker_;
        other.tracker_ = nullptr;
      }
      return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
      if (tracker_ != nullptr) tracker_->Exit();
    }

   private:
    friend class RequestTracker;
    explicit Guard(RequestTracker* tracker) : tracker_(tracker) {}
    RequestTracker* tracker_;
  };

  RequestTracker() = default;
  RequestTracker(const RequestTracker&) = delete;
  RequestTracker& operator=(const RequestTracker&) = delete;
  // REQUIRES: no guard outlives the tracker.
  ~RequestTracker() = default;

  // Starts a request. Works after Close() too (the request is served), and is then counted by
  // entered_after_close().
  Guard Enter() {
    in_flight_.fetch_add(1, std::memory_order_seq_cst);
    if (closed_.load(std::memory_order_relaxed)) {
      entered_after_close_.fetch_add(1, std::memory_order_relaxed);
    }
    return Guard(this);
  }

  // Requests started and not yet ended.
  int64_t in_flight() const { return in_flight_.load(std::memory_order_seq_cst); }
  // Marks the start of the shutdown. Idempotent.
  void Close() { closed_.store(true, std::memory_order_relaxed); }
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  // Requests started after Close().
  uint64_t entered_after_close() const {
    return entered_after_close_.load(std::memory_order_relaxed);
  }

  // Blocks until no request is in flight (true) or `timeout` has passed (false). `timeout` is
  // measured by `scheduler` when given (a ManualScheduler in tests), else in real time; <= 0
  // checks once without waiting.
  bool AwaitIdle(Duration timeout, Scheduler* scheduler = nullptr);

 private:
  friend Status GracefulShutdown(RegistryService&, const std::vector<URL>&, RequestTracker&,
                                 const std::function<void()>&, const GracefulShutdownOptions&);

  // Ends a request; the last one wakes AwaitIdle().
  void Exit();

  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> entered_after_close_{0};
  // Set by the first GracefulShutdown() on this tracker.
  std::atomic<bool> shutdown_claimed_{false};
  // Threads inside AwaitIdle(); Exit() takes mu_ only when there is one.
  std::atomic<int> waiters_{0};
  std::mutex mu_;
  std::condition_variable idle_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_GRACEFUL_SHUTDOWN_H_
