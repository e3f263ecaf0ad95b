// File: dubbo/registry/scheduler.h
//
// Scheduler: runs callbacks after a delay. Retry timers, cache-file saves and (in nacos-registry)
// heartbeats are scheduled through an injected Scheduler, so tests can use ManualScheduler and advance
// time by hand.
//
// ThreadScheduler is the real implementation: one thread, a deadline heap and a condition variable.
// Tasks run one at a time on that thread, in deadline order (ties in scheduling order).
//
// Thread-safety: every method may be called from any thread, including from inside a running task.
#ifndef DUBBO_REGISTRY_SCHEDULER_H_
#define DUBBO_REGISTRY_SCHEDULER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry {

// Identifies a scheduled task. Never 0; never reused by one scheduler.
using TaskId = uint64_t;
inline constexpr TaskId kInvalidTaskId = 0;

class DUBBO_REGISTRY_EXPORT Scheduler {
 public:
  virtual ~Scheduler() = default;

  // Runs `task` once, `delay` from now (a delay <= 0 means as soon as possible). Tasks must not throw;
  // an exception escaping a task is caught and logged. After Shutdown() tasks are dropped and
  // kInvalidTaskId is returned.
  virtual TaskId ScheduleAfter(Duration delay, std::function<void()> task) = 0;

  // Cancels a task. Returns true if it had not started and now never will. If the task is running on
  // another thread, waits for it to finish and returns false; called from inside the task itself it
  // returns false at once. Unknown or finished ids return false.
  virtual bool Cancel(TaskId id) = 0;

  // The clock the deadlines are measured on.
  virtual Clock* clock() = 0;
};

// A Scheduler with one worker thread, started by the constructor.
class DUBBO_REGISTRY_EXPORT ThreadScheduler final : public Scheduler {
 public:
  // Create() returns kUnavailable when the worker thread cannot be started.
  static Result<std::unique_ptr<ThreadScheduler>> Create(std::string name = "dubbo-sched",
                                                         Clock* clock = nullptr);

  // `clock` must outlive this object; nullptr means Clock::Real(). Only the real clock makes sense
  // here: the worker waits on std::chrono::steady_clock. `name` names the thread (15 chars at
  // most). Never throws: when the thread cannot be started, the error is logged, status() reports
  // it and the scheduler behaves as after Shutdown() (tasks are dropped).
  explicit ThreadScheduler(std::string name = "dubbo-sched", Clock* clock = nullptr);
  // Shuts down.
  ~ThreadScheduler() override;

  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  TaskId ScheduleAfter(Duration delay, std::function<void()> task) override;
  bool Cancel(TaskId id) override;
  Clock* clock() override;

  // Drops every pending task, waits for a running one and joins the thread. Idempotent. Called from a
  // task, it does not wait for that task; the thread then exits after the task returns.
  void Shutdown();

  // True when called on this scheduler's worker thread.
  bool InWorkerThread() const;

  // OK, or kUnavailable when the constructor could not start the worker thread.
  Status status() const;

 private:
  struct DUBBO_REGISTRY_NO_EXPORT Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_SCHEDULER_H_
