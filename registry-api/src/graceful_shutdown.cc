#include "dubbo/registry/graceful_shutdown.h"

#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "internal/logging.h"

namespace dubbo::registry {
namespace {

int64_t Millis(Duration duration) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(duration).count();
}

// Runs `wait` (which returns once `*expired` is true or its own condition holds, holding `mu`)
// with `*expired` set by a task on `scheduler` after `timeout`. The task is cancelled before this
// returns, so it never outlives `expired`.
template <typename Wait>
void WaitWithSchedulerTimeout(Scheduler& scheduler, Duration timeout, std::mutex& mu,
                              std::condition_variable& cv, Wait wait) {
  bool expired = false;
  const TaskId task = scheduler.ScheduleAfter(timeout, [&mu, &cv, &expired] {
    std::lock_guard<std::mutex> lock(mu);
    expired = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    // A scheduler that is shut down runs nothing: the timeout is then over at once.
    if (task == kInvalidTaskId) expired = true;
    wait(lock, expired);
  }
  scheduler.Cancel(task);
}

// Sleeps for `delay`, measured by `scheduler` when given.
void Sleep(Duration delay, Scheduler* scheduler) {
  if (delay <= Duration::zero()) return;
  if (scheduler == nullptr) {
    std::this_thread::sleep_for(delay);
    return;
  }
  std::mutex mu;
  std::condition_variable cv;
  WaitWithSchedulerTimeout(*scheduler, delay, mu, cv,
                           [&cv](std::unique_lock<std::mutex>& lock, const bool& expired) {
                             cv.wait(lock, [&expired] { return expired; });
                           });
}

// Runs `call` (which returns a Status), turning an exception into kInternal.
template <typename Call>
Status CallCatching(const Call& call) {
  try {
    return call();
  } catch (const std::exception& e) {
    return InternalError(std::string("threw: ") + e.what());
  } catch (...) {
    return InternalError("threw a non-standard exception");
  }
}

// Collects what did not go as planned; the first problem gives the code.
class Problems {
 public:
  void Add(StatusCode code, const std::string& message) {
    if (code_ == StatusCode::kOk) code_ = code;
    if (!message_.empty()) message_.append("; ");
    message_.append(message);
  }
  Status ToStatus() const {
    return code_ == StatusCode::kOk ? Status::Ok()
                                    : Status(code_, "graceful shutdown: " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace

void RequestTracker::Exit() {
  if (in_flight_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      waiters_.load(std::memory_order_seq_cst) > 0) {
    // A waiter checks in_flight_ while holding mu_, so taking it here cannot miss one.
    std::lock_guard<std::mutex> lock(mu_);
    idle_.notify_all();
  }
}

bool RequestTracker::AwaitIdle(Duration timeout, Scheduler* scheduler) {
  auto idle = [this] { return in_flight_.load(std::memory_order_seq_cst) <= 0; };
  if (timeout <= Duration::zero()) return idle();
  bool result = false;
  auto wait = [&](std::unique_lock<std::mutex>& lock, const bool& expired) {
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    idle_.wait(lock, [&] { return idle() || expired; });
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    result = idle();
  };
  if (scheduler != nullptr) {
    WaitWithSchedulerTimeout(*scheduler, timeout, mu_, idle_, wait);
    return result;
  }
  std::unique_lock<std::mutex> lock(mu_);
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  result = idle_.wait_for(lock, timeout, idle);
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

Status GracefulShutdown(RegistryService& registry, const std::vector<URL>& provider_urls,
                        RequestTracker& tracker, const std::function<void()>& stop,
                        const GracefulShutdownOptions& options) {
  if (tracker.shutdown_claimed_.exchange(true)) {
    return FailedPreconditionError("graceful shutdown already ran for this request tracker");
  }
  tracker.Close();
  Problems problems;

  // 1. Unregister: consumers are told to stop picking this provider.
  for (const URL& url : provider_urls) {
    Status status = CallCatching([&] { return registry.Unregister(url); });
    if (!status.ok()) {
      // The short form: the registry's message usually quotes the whole URL.
      const std::string what = "unregistering " + url.Address() + "/" + url.ServiceKey();
      DUBBO_LOG(WARNING) << "graceful shutdown: " << what << " failed, going on: " << status;
      problems.Add(status.code(), what + ": " + std::string(status.message()));
    }
  }

  // 2. Keep serving while the news reaches the consumers.
  Sleep(options.propagation_delay, options.scheduler);

  // 3. Drain what is still running.
  if (!tracker.AwaitIdle(options.drain_timeout, options.scheduler)) {
    const int64_t left = tracker.in_flight();
    DUBBO_LOG(WARNING) << "graceful shutdown: " << left << " request(s) still in flight after "
                       << Millis(options.drain_timeout) << " ms; stopping anyway";
    problems.Add(StatusCode::kDeadlineExceeded,
                 "drain timed out after " + std::to_string(Millis(options.drain_timeout)) +
                     " ms with " + std::to_string(left) + " request(s) in flight");
  }

  // 4. Stop, whatever happened before.
  const Status stopped =
      !stop ? InvalidArgumentError("no stop function was given") : CallCatching([&] {
        stop();
        return Status::Ok();
      });
  if (!stopped.ok()) {
    DUBBO_LOG(ERROR) << "graceful shutdown: stopping: " << stopped.message();
    problems.Add(stopped.code(), "stopping: " + std::string(stopped.message()));
  }
  if (const uint64_t late = tracker.entered_after_close(); late > 0) {
    DUBBO_LOG(INFO) << "graceful shutdown: " << late
                    << " request(s) arrived after the shutdown began";
  }
  return problems.ToStatus();
}

}  // namespace dubbo::registry
