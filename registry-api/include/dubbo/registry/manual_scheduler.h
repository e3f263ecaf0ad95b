// File: dubbo/registry/manual_scheduler.h
//
// ManualScheduler: a Clock and a Scheduler whose time moves only when a test says so. AdvanceBy() runs
// the due tasks in deadline order on the calling thread, each with Now() set to its own deadline, so
// code under test sees exactly the timeline it would see for real, without sleeping.
//
//   ManualScheduler sched;
//   RegistryOptions options; options.scheduler = &sched; options.clock = &sched;
//   ...
//   sched.AdvanceBy(std::chrono::seconds(5));   // runs the retry due at +5 s
//
// Thread-safety: all methods may be called from any thread. Tasks run on the thread that calls
// AdvanceBy()/RunDue(), never while an internal lock is held, so they may schedule and cancel freely.
#ifndef DUBBO_REGISTRY_MANUAL_SCHEDULER_H_
#define DUBBO_REGISTRY_MANUAL_SCHEDULER_H_

#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/scheduler.h"

namespace dubbo::registry {

class DUBBO_REGISTRY_EXPORT ManualScheduler final : public Clock, public Scheduler {
 public:
  // Monotonic time starts at an arbitrary non-zero point; wall time at `start_wall_millis`.
  explicit ManualScheduler(int64_t start_wall_millis = 1'700'000'000'000);

  // Clock.
  TimePoint Now() const override;
  int64_t WallMillis() const override;

  // Scheduler.
  TaskId ScheduleAfter(Duration delay, std::function<void()> task) override;
  // As the Scheduler contract says: a task running on another thread (one driving AdvanceBy()) is
  // waited for.
  bool Cancel(TaskId id) override;
  Clock* clock() override { return this; }

  // Moves time forward by `delta`, running every task due on the way (including tasks those tasks
  // schedule, if due within the window). Returns the number of tasks run.
  size_t AdvanceBy(Duration delta);
  // Runs the tasks already due at Now(). Returns the number run.
  size_t RunDue() { return AdvanceBy(Duration::zero()); }
  // Advances to the next deadline and runs what is due there. Returns false when nothing is pending.
  bool RunNext();

  // Number of tasks waiting.
  size_t pending() const;
  // Blocks until at least `count` tasks are waiting: a test whose code under test runs on another
  // thread waits here for that code to arm its timer, then advances time.
  void AwaitPending(size_t count) const;
  // Delay from Now() to the earliest pending task, if any.
  std::optional<Duration> NextDelay() const;

 private:
  mutable std::mutex mu_;
  TimePoint now_;
  int64_t wall_offset_millis_;  // WallMillis() = wall_offset_millis_ + ms since the epoch of now_.
  TaskId next_id_ = 1;
  // (deadline, id) -> task: ordered by deadline, ties by scheduling order.
  std::map<std::pair<TimePoint, TaskId>, std::function<void()>> tasks_;
  // id -> deadline of every pending task, to find it for Cancel().
  std::map<TaskId, TimePoint> deadlines_;
  // Tasks running now, and the thread running each.
  std::map<TaskId, std::thread::id> running_;
  std::condition_variable finished_;
  mutable std::condition_variable scheduled_;  // Signalled by ScheduleAfter().
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_MANUAL_SCHEDULER_H_
