// Internal: PendingCalls, how the naming client's blocking methods wait for an answer computed on
// its loop. Await() hands `op` a `done` callback (which may be called from any thread, any number
// of times; the first call wins) and returns the first of:
//   * the value `op` passed to `done`;
//   * kDeadlineExceeded once `deadline` has passed without one (a request whose callback never
//     comes cannot hold its caller forever);
//   * kFailedPrecondition when CancelAll() runs (Shutdown()), or when the loop no longer accepts
//     work.
// After CancelAll(), Await() fails at once. When what Await() returns is not OK, `undo` (if any)
// is queued on the loop: it runs after `op` (tasks run in order), whether `op` has already run or
// not, so that an op whose caller was told it failed leaves nothing behind.
//
// Thread-safety: every method may be called from any thread, except Await() on the loop thread
// itself (it would wait for work only that thread can do).
#ifndef DUBBO_NACOS_CLIENT_SRC_PENDING_CALLS_H_
#define DUBBO_NACOS_CLIENT_SRC_PENDING_CALLS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "dubbo/registry/status.h"
#include "event_loop.h"

namespace dubbo::registry::nacos {

class PendingCalls {
 public:
  explicit PendingCalls(EventLoop* loop) : loop_(loop) {}

  PendingCalls(const PendingCalls&) = delete;
  PendingCalls& operator=(const PendingCalls&) = delete;

  // See the file comment. `what` names the call in the deadline error.
  template <typename T>
  T Await(const std::string& what, std::chrono::milliseconds deadline,
          std::function<void(std::function<void(T)>)> op, std::function<void()> undo = nullptr) {
    auto promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    auto once = std::make_shared<std::once_flag>();
    std::function<void(T)> deliver = [promise, once](T value) {
      std::call_once(*once, [&] { promise->set_value(std::move(value)); });
    };
    uint64_t ticket = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return T(ShutDownError());
      ticket = next_ticket_++;
      cancels_.emplace(ticket, [deliver] { deliver(T(ShutDownError())); });
    }
    if (!loop_->RunInLoop([op = std::move(op), deliver]() mutable { op(deliver); })) {
      deliver(T(ShutDownError()));
    } else if (future.wait_for(deadline) != std::future_status::ready) {
      deliver(T(DeadlineExceededError(what + ": no answer within " +
                                      std::to_string(deadline.count()) + " ms")));
    }
    std::function<void()> cancel;  // Destroyed after the lock is released.
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cancels_.find(ticket);
      if (it != cancels_.end()) {
        cancel = std::move(it->second);
        cancels_.erase(it);
      }
    }
    T result = future.get();
    // A stopped loop runs neither `op` (if not run yet) nor `undo`.
    if (!result.ok() && undo) loop_->RunInLoop(std::move(undo));
    return result;
  }

  // Ends every Await() in progress with kFailedPrecondition, and makes later ones fail at once.
  void CancelAll() {
    std::map<uint64_t, std::function<void()>> cancels;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      cancels.swap(cancels_);
    }
    for (auto& [ticket, cancel] : cancels) cancel();
  }

  static Status ShutDownError() { return FailedPreconditionError("naming client shut down"); }

 private:
  EventLoop* const loop_;
  std::mutex mu_;
  bool cancelled_ = false;
  uint64_t next_ticket_ = 1;
  std::map<uint64_t, std::function<void()>> cancels_;
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_CLIENT_SRC_PENDING_CALLS_H_
