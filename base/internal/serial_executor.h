// Internal: SerialExecutor runs callbacks one at a time, in submission order, without a thread of
// its own (gRPC's WorkSerializer idea). The thread that submits to an idle executor drains it; a
// thread that submits while another drains just queues and returns. No lock is held while a callback
// runs, so callbacks may submit more work or call back into their owner.
//
// Thread-safety: every method may be called from any thread, including from inside a callback.
#ifndef DUBBO_REGISTRY_INTERNAL_SERIAL_EXECUTOR_H_
#define DUBBO_REGISTRY_INTERNAL_SERIAL_EXECUTOR_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>

#include "internal/mutex.h"

namespace dubbo::registry::internal {

class SerialExecutor {
 public:
  SerialExecutor() = default;
  SerialExecutor(const SerialExecutor&) = delete;
  SerialExecutor& operator=(const SerialExecutor&) = delete;

  // Runs `fn` after everything submitted before it. Exceptions from `fn` are caught and logged.
  // Same as Enqueue(fn) followed by Drain(): if no thread is draining, the calling thread runs `fn`
  // (and whatever else is queued) before returning; otherwise it only queues. Called from inside a
  // callback, `fn` runs after the current callback returns, never recursively.
  void Execute(std::function<void()> fn) DUBBO_EXCLUDES(mu_);

  // Only queues `fn`; never runs anything, so callers may hold their own locks. They must call
  // Drain() (or Execute()/Flush()) afterwards, once those locks are released, for `fn` to run.
  void Enqueue(std::function<void()> fn) DUBBO_EXCLUDES(mu_);

  // If no thread is draining, runs the queued callbacks on this thread until the queue is empty. If
  // another thread (or, from inside a callback, this one) is draining, returns at once: that thread
  // runs them.
  void Drain() DUBBO_EXCLUDES(mu_);

  // Returns once every callback submitted before the call has finished. From inside a callback (the
  // draining thread) it returns at once: waiting there could never end.
  void Flush() DUBBO_EXCLUDES(mu_);

  // True when the calling thread is the one running callbacks right now.
  bool InCallback() const DUBBO_EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::function<void()>> queue_ DUBBO_GUARDED_BY(mu_);
  bool draining_ DUBBO_GUARDED_BY(mu_) = false;
  std::thread::id drainer_ DUBBO_GUARDED_BY(mu_);
  uint64_t submitted_ DUBBO_GUARDED_BY(mu_) = 0;
  uint64_t completed_ DUBBO_GUARDED_BY(mu_) = 0;

  // Makes the calling thread the drainer. Returns false if a thread already is.
  bool BecomeDrainer() DUBBO_EXCLUDES(mu_);
  // Clears the drainer and wakes Flush() waiters. REQUIRES: the calling thread is the drainer.
  void StopDrainingLocked() DUBBO_REQUIRES(mu_);
};

}  // namespace dubbo::registry::internal

#endif  // DUBBO_REGISTRY_INTERNAL_SERIAL_EXECUTOR_H_
