// SerialExecutor: a queue plus "who is draining it". Callbacks run without mu_ held; mu_ only
// guards the queue and the bookkeeping (drainer, submitted/completed counters for Flush()).
//
// Thread-safety: every method may be called from any thread, including from inside a callback.
#include "internal/serial_executor.h"

#include <exception>
#include <functional>
#include <thread>
#include <utility>

#include "internal/logging.h"
#include "internal/mutex.h"

namespace dubbo::registry::internal {
namespace {

void RunCallback(const std::function<void()>& fn) {
  if (!fn) return;
  try {
    fn();
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "serial executor: callback threw: " << e.what();
  } catch (...) {
    DUBBO_LOG(ERROR) << "serial executor: callback threw a non-std exception";
  }
}

}  // namespace

void SerialExecutor::Execute(std::function<void()> fn) {
  Enqueue(std::move(fn));
  Drain();
}

void SerialExecutor::Enqueue(std::function<void()> fn) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
  ++submitted_;
}

bool SerialExecutor::BecomeDrainer() {
  MutexLock lock(&mu_);
  if (draining_) return false;
  draining_ = true;
  drainer_ = std::this_thread::get_id();
  return true;
}

void SerialExecutor::StopDrainingLocked() {
  draining_ = false;
  drainer_ = std::thread::id();
  cv_.notify_all();
}

void SerialExecutor::Drain() {
  if (!BecomeDrainer()) return;
  // Gives up the drainer role if this function is left by an exception. Callbacks cannot throw out
  // of RunCallback(), but logging there could fail to allocate; without this, every later Drain()
  // would return at once and Flush() would wait forever.
  struct DrainerGuard {
    SerialExecutor* self;
    bool draining = true;
    bool in_flight = false;  // A callback was taken from the queue but has not completed.
    ~DrainerGuard() {
      if (!draining) return;
      MutexLock lock(&self->mu_);
      if (in_flight) ++self->completed_;
      self->StopDrainingLocked();
    }
  } guard{this};

  for (;;) {
    std::function<void()> fn;
    {
      MutexLock lock(&mu_);
      if (guard.in_flight) {
        ++completed_;
        guard.in_flight = false;
        cv_.notify_all();
      }
      if (queue_.empty()) {
        // In the same critical section that saw the queue empty: a concurrent Enqueue() either came
        // before (and was run) or comes after, and its Drain() then finds no drainer.
        StopDrainingLocked();
        guard.draining = false;
        return;
      }
      fn = std::move(queue_.front());
      queue_.pop_front();
      guard.in_flight = true;
    }
    RunCallback(fn);
    fn = nullptr;  // Destroy the closure outside mu_, before the callback counts as completed.
  }
}

void SerialExecutor::Flush() {
  uint64_t target = 0;
  {
    MutexLock lock(&mu_);
    if (draining_ && drainer_ == std::this_thread::get_id())
      return;  // Waiting here would never end.
    target = submitted_;
  }
  for (;;) {
    // Runs the queue here if nobody else is (e.g. after an Enqueue() without a Drain() yet).
    Drain();
    MutexLock lock(&mu_);
    while (completed_ < target && draining_) cv_.wait(mu_);
    if (completed_ >= target) return;
    // Nobody drains, yet some of our callbacks are still queued: the drainer stopped early (it can
    // only do so on an internal failure). Take over.
  }
}

bool SerialExecutor::InCallback() const {
  MutexLock lock(&mu_);
  return draining_ && drainer_ == std::this_thread::get_id();
}

}  // namespace dubbo::registry::internal
