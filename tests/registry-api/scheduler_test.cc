// Tests for ThreadScheduler (the real, one-thread Scheduler) and ManualScheduler (the test double).
//
// Synchronisation with the worker thread uses promises and futures only; nothing sleeps to wait for
// a condition.
#include "testing/log_capture.h"
#include "dubbo/registry/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/clock.h"
#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"

namespace dubbo::registry {
namespace {

using ::dubbo::registry::testing::LogCapture;

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A clock that moves only when told, so that tasks scheduled with the same delay get equal
// deadlines and deadlines do not depend on how long the scheduling took.
class FrozenClock final : public Clock {
 public:
  TimePoint Now() const override { return now_.load(); }
  int64_t WallMillis() const override { return 0; }
  void Advance(Duration by) { now_.store(now_.load() + by); }

 private:
  std::atomic<TimePoint> now_{std::chrono::steady_clock::now()};
};

// Occupies the worker thread until Release() is called, so that several tasks can be queued before
// any of them runs.
class WorkerBlocker {
 public:
  explicit WorkerBlocker(Scheduler& scheduler) {
    std::shared_future<void> release = release_.get_future().share();
    auto started = std::make_shared<std::promise<void>>();
    std::future<void> started_future = started->get_future();
    scheduler.ScheduleAfter(Duration::zero(), [release, started] {
      started->set_value();
      release.wait();
    });
    started_future.wait();
  }
  ~WorkerBlocker() { Release(); }

  void Release() {
    if (!released_) {
      released_ = true;
      release_.set_value();
    }
  }

 private:
  std::promise<void> release_;
  bool released_ = false;
};

// Schedules a marker task and waits for it: every task due before it has then run.
void WaitForIdle(Scheduler& scheduler) {
  std::promise<void> done;
  ASSERT_NE(scheduler.ScheduleAfter(Duration::zero(), [&done] { done.set_value(); }),
            kInvalidTaskId);
  done.get_future().wait();
}

// ---------------------------------------------------------------------------------------------------
// Clock::Real

TEST(RealClockTest, IsProcessWideAndMoves) {
  Clock* clock = Clock::Real();
  ASSERT_NE(clock, nullptr);
  EXPECT_EQ(clock, Clock::Real());
  const TimePoint t1 = clock->Now();
  const TimePoint t2 = clock->Now();
  EXPECT_LE(t1, t2);
  const int64_t wall = clock->WallMillis();
  const int64_t expected =
      std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  EXPECT_LE(wall, expected);
  EXPECT_GT(wall, expected - 60'000);
}

// ---------------------------------------------------------------------------------------------------
// ThreadScheduler

TEST(ThreadSchedulerTest, DefaultsToRealClock) {
  ThreadScheduler scheduler;
  EXPECT_EQ(scheduler.clock(), Clock::Real());
  FrozenClock frozen;
  ThreadScheduler with_clock("frozen", &frozen);
  EXPECT_EQ(with_clock.clock(), &frozen);
}

TEST(ThreadSchedulerTest, CreateReportsAWorkingScheduler) {
  Result<std::unique_ptr<ThreadScheduler>> scheduler = ThreadScheduler::Create("created");
  ASSERT_TRUE(scheduler.ok()) << scheduler.status();
  EXPECT_TRUE((*scheduler)->status().ok());
  std::promise<bool> ran;
  EXPECT_NE((*scheduler)->ScheduleAfter(Duration::zero(), [&] { ran.set_value(true); }),
            kInvalidTaskId);
  EXPECT_TRUE(ran.get_future().get());
}

TEST(ThreadSchedulerTest, TaskIdsStartAtOneAndIncrease) {
  ThreadScheduler scheduler;
  EXPECT_EQ(scheduler.ScheduleAfter(hours(1), [] {}), 1u);
  EXPECT_EQ(scheduler.ScheduleAfter(hours(1), [] {}), 2u);
  EXPECT_EQ(scheduler.ScheduleAfter(Duration::zero(), [] {}), 3u);
}

TEST(ThreadSchedulerTest, RunsTasksInDeadlineOrder) {
  FrozenClock clock;  // Deadlines differ by the delays alone, however slowly they are scheduled.
  ThreadScheduler scheduler("order", &clock);
  std::vector<int> order;  // Written by the worker only; read after `done`.
  std::promise<void> done;
  {
    WorkerBlocker blocker(scheduler);
    scheduler.ScheduleAfter(milliseconds(3), [&] {
      order.push_back(3);
      done.set_value();
    });
    scheduler.ScheduleAfter(milliseconds(1), [&] { order.push_back(1); });
    scheduler.ScheduleAfter(milliseconds(2), [&] { order.push_back(2); });
    scheduler.ScheduleAfter(Duration::zero(), [&] { order.push_back(0); });
    clock.Advance(milliseconds(3));  // All due once the worker is released.
  }
  done.get_future().wait();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3));
}

TEST(ThreadSchedulerTest, TiesRunInSchedulingOrder) {
  FrozenClock clock;  // Every delay-0 task gets exactly the same deadline.
  ThreadScheduler scheduler("ties", &clock);
  std::vector<int> order;
  std::promise<void> done;
  {
    WorkerBlocker blocker(scheduler);
    for (int i = 0; i < 5; ++i)
      scheduler.ScheduleAfter(Duration::zero(), [&, i] { order.push_back(i); });
    scheduler.ScheduleAfter(Duration::zero(), [&] { done.set_value(); });
  }
  done.get_future().wait();
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST(ThreadSchedulerTest, NegativeDelayRunsAsSoonAsPossible) {
  ThreadScheduler scheduler;
  std::promise<void> done;
  scheduler.ScheduleAfter(-hours(1), [&] { done.set_value(); });
  done.get_future().wait();
}

TEST(ThreadSchedulerTest, HugeDelayDoesNotOverflow) {
  ThreadScheduler scheduler;
  bool ran = false;
  const TaskId id = scheduler.ScheduleAfter(Duration::max(), [&] { ran = true; });
  WaitForIdle(scheduler);
  EXPECT_TRUE(scheduler.Cancel(id));
  EXPECT_FALSE(ran);
}

TEST(ThreadSchedulerTest, CancelBeforeRun) {
  ThreadScheduler scheduler;
  std::atomic<bool> ran{false};
  TaskId due_now = kInvalidTaskId;
  {
    WorkerBlocker blocker(scheduler);
    due_now = scheduler.ScheduleAfter(Duration::zero(), [&] { ran = true; });
    EXPECT_TRUE(scheduler.Cancel(due_now));
  }
  const TaskId later = scheduler.ScheduleAfter(hours(1), [&] { ran = true; });
  EXPECT_TRUE(scheduler.Cancel(later));
  WaitForIdle(scheduler);
  EXPECT_FALSE(ran);
  EXPECT_FALSE(scheduler.Cancel(due_now));  // Already cancelled.
  EXPECT_FALSE(scheduler.Cancel(later));
  EXPECT_FALSE(scheduler.Cancel(12345));  // Unknown.
  EXPECT_FALSE(scheduler.Cancel(kInvalidTaskId));
}

TEST(ThreadSchedulerTest, CancelOfFinishedTaskReturnsFalse) {
  ThreadScheduler scheduler;
  std::promise<void> done;
  const TaskId id = scheduler.ScheduleAfter(Duration::zero(), [&] { done.set_value(); });
  done.get_future().wait();
  WaitForIdle(scheduler);  // The task has fully returned.
  EXPECT_FALSE(scheduler.Cancel(id));
}

TEST(ThreadSchedulerTest, CancelDropsTheClosureAtOnce) {
  ThreadScheduler scheduler;
  auto token = std::make_shared<int>(0);
  const TaskId id = scheduler.ScheduleAfter(hours(1), [token] {});
  EXPECT_EQ(token.use_count(), 2);
  EXPECT_TRUE(scheduler.Cancel(id));
  EXPECT_EQ(token.use_count(), 1);
}

TEST(ThreadSchedulerTest, CancelWaitsForTaskRunningOnAnotherThread) {
  ThreadScheduler scheduler;
  std::promise<void> started;
  std::promise<void> cancel_called;
  std::shared_future<void> cancel_called_future = cancel_called.get_future().share();
  std::atomic<bool> finished{false};
  const TaskId id = scheduler.ScheduleAfter(Duration::zero(), [&] {
    started.set_value();
    cancel_called_future.wait();
    // Keep running a little after Cancel() was entered, so that it really has a task to wait for.
    // Correctness does not depend on this delay: the assertions below hold either way.
    std::this_thread::sleep_for(milliseconds(10));
    finished = true;
  });
  started.get_future().wait();

  bool cancelled = true;
  bool finished_when_cancel_returned = false;
  std::thread canceller([&] {
    cancel_called.set_value();
    cancelled = scheduler.Cancel(id);
    finished_when_cancel_returned = finished;
  });
  canceller.join();
  EXPECT_FALSE(cancelled);
  EXPECT_TRUE(finished_when_cancel_returned);
}

TEST(ThreadSchedulerTest, CancelFromInsideTheTaskReturnsFalseAtOnce) {
  ThreadScheduler scheduler;
  std::promise<TaskId> id_promise;
  std::shared_future<TaskId> id_future = id_promise.get_future().share();
  std::promise<bool> result;
  std::promise<bool> in_worker;
  const TaskId id = scheduler.ScheduleAfter(Duration::zero(), [&] {
    in_worker.set_value(scheduler.InWorkerThread());
    result.set_value(scheduler.Cancel(id_future.get()));  // Must not wait for itself.
  });
  id_promise.set_value(id);
  EXPECT_TRUE(in_worker.get_future().get());
  EXPECT_FALSE(result.get_future().get());
  EXPECT_FALSE(scheduler.InWorkerThread());
}

TEST(ThreadSchedulerTest, TaskCanCancelAnotherPendingTask) {
  ThreadScheduler scheduler;
  std::atomic<bool> victim_ran{false};
  std::promise<bool> result;
  const TaskId victim = scheduler.ScheduleAfter(hours(1), [&] { victim_ran = true; });
  scheduler.ScheduleAfter(Duration::zero(), [&] { result.set_value(scheduler.Cancel(victim)); });
  EXPECT_TRUE(result.get_future().get());
  EXPECT_FALSE(victim_ran);
}

TEST(ThreadSchedulerTest, TasksCanScheduleMoreTasks) {
  ThreadScheduler scheduler;
  std::promise<int> done;
  scheduler.ScheduleAfter(Duration::zero(), [&] {
    scheduler.ScheduleAfter(milliseconds(1), [&] { done.set_value(42); });
  });
  EXPECT_EQ(done.get_future().get(), 42);
}

TEST(ThreadSchedulerTest, ShutdownDropsPendingTasksAndIsIdempotent) {
  ThreadScheduler scheduler;
  auto token = std::make_shared<int>(0);
  std::atomic<bool> ran{false};
  const TaskId id = scheduler.ScheduleAfter(hours(1), [token, &ran] { ran = true; });
  EXPECT_EQ(token.use_count(), 2);
  scheduler.Shutdown();
  EXPECT_EQ(token.use_count(), 1);  // The dropped closure was destroyed.
  EXPECT_FALSE(ran);
  EXPECT_FALSE(scheduler.Cancel(id));
  scheduler.Shutdown();
  scheduler.Shutdown();
  EXPECT_FALSE(ran);
}

TEST(ThreadSchedulerTest, ShutdownWaitsForTheRunningTask) {
  ThreadScheduler scheduler;
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::atomic<bool> finished{false};
  std::atomic<bool> later_ran{false};
  scheduler.ScheduleAfter(Duration::zero(), [&] {
    started.set_value();
    release_future.wait();
    finished = true;
  });
  scheduler.ScheduleAfter(hours(1), [&] { later_ran = true; });
  started.get_future().wait();
  std::thread releaser([&] { release.set_value(); });
  scheduler.Shutdown();
  EXPECT_TRUE(finished);    // Shutdown() returned only after the running task did.
  EXPECT_FALSE(later_ran);  // The pending one was dropped.
  releaser.join();
}

TEST(ThreadSchedulerTest, ShutdownFromConcurrentThreads) {
  ThreadScheduler scheduler;
  scheduler.ScheduleAfter(hours(1), [] {});
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&] { scheduler.Shutdown(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(scheduler.ScheduleAfter(Duration::zero(), [] {}), kInvalidTaskId);
}

TEST(ThreadSchedulerTest, ScheduleAfterShutdownReturnsInvalidTaskId) {
  ThreadScheduler scheduler;
  scheduler.Shutdown();
  auto token = std::make_shared<int>(0);
  EXPECT_EQ(scheduler.ScheduleAfter(Duration::zero(), [token] {}), kInvalidTaskId);
  EXPECT_EQ(token.use_count(), 1);  // The task was not kept.
}

TEST(ThreadSchedulerTest, ShutdownFromInsideATask) {
  ThreadScheduler scheduler;
  std::atomic<bool> pending_ran{false};
  std::promise<TaskId> after_shutdown;
  scheduler.ScheduleAfter(Duration::zero(), [&] {
    scheduler.Shutdown();  // Must not wait for (or join) itself.
    scheduler.Shutdown();
    after_shutdown.set_value(scheduler.ScheduleAfter(Duration::zero(), [] {}));
  });
  scheduler.ScheduleAfter(milliseconds(1), [&] { pending_ran = true; });
  EXPECT_EQ(after_shutdown.get_future().get(), kInvalidTaskId);
  scheduler.Shutdown();  // Joins the worker, which exits after the task above.
  EXPECT_FALSE(pending_ran);
}

TEST(ThreadSchedulerTest, DestroyedFromInsideItsOwnTask) {
  auto* scheduler = new ThreadScheduler("self-delete");
  auto token = std::make_shared<int>(0);
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> done_future = done->get_future();
  scheduler->ScheduleAfter(hours(1), [token] {});
  // Scheduled last: once it may run, this thread no longer touches `scheduler`.
  scheduler->ScheduleAfter(Duration::zero(), [scheduler, done] {
    delete scheduler;  // The worker is detached and exits after this task returns.
    done->set_value();
  });
  done_future.wait();
  EXPECT_EQ(token.use_count(), 1);  // The pending task was dropped by the destructor.
}

TEST(ThreadSchedulerTest, ExceptionInATaskIsLoggedAndTheWorkerSurvives) {
  LogCapture logs;
  ThreadScheduler scheduler;
  scheduler.ScheduleAfter(Duration::zero(), [] { throw std::runtime_error("task exploded"); });
  scheduler.ScheduleAfter(Duration::zero(), [] { throw 42; });
  std::promise<void> done;
  scheduler.ScheduleAfter(milliseconds(1), [&] { done.set_value(); });
  done.get_future().wait();
  const std::vector<std::string> errors = logs.lines();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], HasSubstr("task exploded"));
  EXPECT_THAT(errors[1], HasSubstr("non-std exception"));
}

TEST(ThreadSchedulerTest, ScheduleFromManyThreads) {
  ThreadScheduler scheduler;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 200;
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i)
        scheduler.ScheduleAfter(Duration::zero(), [&] { ++ran; });
    });
  }
  for (auto& thread : threads) thread.join();
  WaitForIdle(scheduler);
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
}

// ---------------------------------------------------------------------------------------------------
// ManualScheduler

TEST(ManualSchedulerTest, AwaitPendingReturnsOnceAnotherThreadArmedTheTimers) {
  ManualScheduler sched;
  std::atomic<int> ran{0};
  std::promise<void> waiting;
  std::thread arming([&] {
    waiting.get_future().wait();
    sched.ScheduleAfter(std::chrono::seconds(1), [&] { ran.fetch_add(1); });
    sched.ScheduleAfter(std::chrono::seconds(2), [&] { ran.fetch_add(1); });
  });
  waiting.set_value();
  sched.AwaitPending(2);
  EXPECT_EQ(sched.pending(), 2u);
  sched.AwaitPending(1);  // already there: returns at once
  arming.join();
  EXPECT_EQ(sched.AdvanceBy(std::chrono::seconds(2)), 2u);
  EXPECT_EQ(ran.load(), 2);
}

TEST(ManualSchedulerTest, IsItsOwnClock) {
  ManualScheduler sched;
  EXPECT_EQ(sched.clock(), &sched);
  EXPECT_NE(sched.Now().time_since_epoch().count(), 0);
  EXPECT_EQ(sched.WallMillis(), 1'700'000'000'000);
  ManualScheduler other(5'000);
  EXPECT_EQ(other.WallMillis(), 5'000);
}

TEST(ManualSchedulerTest, TaskIdsStartAtOneAndIncrease) {
  ManualScheduler sched;
  EXPECT_EQ(sched.ScheduleAfter(seconds(1), [] {}), 1u);
  EXPECT_EQ(sched.ScheduleAfter(seconds(1), [] {}), 2u);
}

TEST(ManualSchedulerTest, RunsDueTasksInDeadlineOrder) {
  ManualScheduler sched;
  std::vector<int> order;
  sched.ScheduleAfter(seconds(3), [&] { order.push_back(3); });
  sched.ScheduleAfter(seconds(1), [&] { order.push_back(1); });
  sched.ScheduleAfter(seconds(2), [&] { order.push_back(2); });
  sched.ScheduleAfter(seconds(10), [&] { order.push_back(10); });
  EXPECT_EQ(sched.AdvanceBy(milliseconds(999)), 0u);
  EXPECT_TRUE(order.empty());
  EXPECT_EQ(sched.AdvanceBy(milliseconds(2001)), 3u);
  EXPECT_THAT(order, ElementsAre(1, 2, 3));
  EXPECT_EQ(sched.pending(), 1u);
}

TEST(ManualSchedulerTest, TiesRunInSchedulingOrder) {
  ManualScheduler sched;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) sched.ScheduleAfter(seconds(1), [&, i] { order.push_back(i); });
  EXPECT_EQ(sched.AdvanceBy(seconds(1)), 5u);
  EXPECT_THAT(order, ElementsAre(0, 1, 2, 3, 4));
}

TEST(ManualSchedulerTest, NowIsTheTaskDeadlineWhileItRuns) {
  ManualScheduler sched;
  const TimePoint start = sched.Now();
  const int64_t start_wall = sched.WallMillis();
  std::vector<Duration> seen;
  std::vector<int64_t> seen_wall;
  auto record = [&] {
    seen.push_back(sched.Now() - start);
    seen_wall.push_back(sched.WallMillis() - start_wall);
  };
  sched.ScheduleAfter(milliseconds(1500), record);
  sched.ScheduleAfter(seconds(4), record);
  sched.AdvanceBy(seconds(10));
  EXPECT_THAT(seen, ElementsAre(milliseconds(1500), seconds(4)));
  EXPECT_THAT(seen_wall, ElementsAre(1500, 4000));
  EXPECT_EQ(sched.Now() - start, seconds(10));
  EXPECT_EQ(sched.WallMillis() - start_wall, 10'000);
}

TEST(ManualSchedulerTest, WallMillisMovesWithNow) {
  ManualScheduler sched(1'000);
  sched.AdvanceBy(milliseconds(250));
  EXPECT_EQ(sched.WallMillis(), 1'250);
  sched.AdvanceBy(hours(1));
  EXPECT_EQ(sched.WallMillis(), 1'250 + 3'600'000);
}

TEST(ManualSchedulerTest, TasksScheduledByTasksWithinTheWindowRun) {
  ManualScheduler sched;
  const TimePoint start = sched.Now();
  std::vector<std::pair<int, Duration>> runs;
  sched.ScheduleAfter(seconds(1), [&] {
    runs.emplace_back(1, sched.Now() - start);
    sched.ScheduleAfter(seconds(1), [&] {  // Due at +2 s: inside the window.
      runs.emplace_back(2, sched.Now() - start);
      sched.ScheduleAfter(Duration::zero(), [&] { runs.emplace_back(3, sched.Now() - start); });
    });
    sched.ScheduleAfter(seconds(5), [&] { runs.emplace_back(6, sched.Now() - start); });  // +6 s.
  });
  EXPECT_EQ(sched.AdvanceBy(seconds(3)), 3u);
  EXPECT_THAT(runs, ElementsAre(std::make_pair(1, Duration(seconds(1))),
                                std::make_pair(2, Duration(seconds(2))),
                                std::make_pair(3, Duration(seconds(2)))));
  EXPECT_EQ(sched.pending(), 1u);
  EXPECT_EQ(sched.NextDelay(), Duration(seconds(3)));
  EXPECT_EQ(sched.AdvanceBy(seconds(3)), 1u);
  EXPECT_EQ(runs.back(), std::make_pair(6, Duration(seconds(6))));
}

TEST(ManualSchedulerTest, PeriodicTaskReschedulingItself) {
  ManualScheduler sched;
  int beats = 0;
  std::function<void()> beat = [&] {
    ++beats;
    sched.ScheduleAfter(seconds(5), beat);
  };
  sched.ScheduleAfter(seconds(5), beat);
  EXPECT_EQ(sched.AdvanceBy(seconds(20)), 4u);
  EXPECT_EQ(beats, 4);
  EXPECT_EQ(sched.NextDelay(), Duration(seconds(5)));
}

TEST(ManualSchedulerTest, Cancel) {
  ManualScheduler sched;
  bool ran = false;
  const TaskId id = sched.ScheduleAfter(seconds(1), [&] { ran = true; });
  EXPECT_EQ(sched.pending(), 1u);
  EXPECT_TRUE(sched.Cancel(id));
  EXPECT_FALSE(sched.Cancel(id));
  EXPECT_EQ(sched.pending(), 0u);
  sched.AdvanceBy(seconds(2));
  EXPECT_FALSE(ran);
  EXPECT_FALSE(sched.Cancel(999));
  EXPECT_FALSE(sched.Cancel(kInvalidTaskId));

  const TaskId done = sched.ScheduleAfter(seconds(1), [] {});
  sched.AdvanceBy(seconds(1));
  EXPECT_FALSE(sched.Cancel(done));  // Already ran.
}

TEST(ManualSchedulerTest, TaskCanCancelAnotherDueInTheSameWindow) {
  ManualScheduler sched;
  bool victim_ran = false;
  TaskId victim = kInvalidTaskId;
  bool cancelled = false;
  sched.ScheduleAfter(seconds(1), [&] { cancelled = sched.Cancel(victim); });
  victim = sched.ScheduleAfter(seconds(2), [&] { victim_ran = true; });
  EXPECT_EQ(sched.AdvanceBy(seconds(3)), 1u);
  EXPECT_TRUE(cancelled);
  EXPECT_FALSE(victim_ran);
}

TEST(ManualSchedulerTest, CancelFromInsideTheTaskReturnsFalse) {
  ManualScheduler sched;
  TaskId id = kInvalidTaskId;
  bool result = true;
  id = sched.ScheduleAfter(seconds(1), [&] { result = sched.Cancel(id); });
  sched.AdvanceBy(seconds(1));
  EXPECT_FALSE(result);
}

TEST(ManualSchedulerTest, NextDelay) {
  ManualScheduler sched;
  EXPECT_EQ(sched.NextDelay(), std::nullopt);
  sched.ScheduleAfter(seconds(7), [] {});
  sched.ScheduleAfter(seconds(3), [] {});
  EXPECT_EQ(sched.NextDelay(), Duration(seconds(3)));
  sched.AdvanceBy(seconds(1));
  EXPECT_EQ(sched.NextDelay(), Duration(seconds(2)));
  sched.AdvanceBy(seconds(2));
  EXPECT_EQ(sched.NextDelay(), Duration(seconds(4)));
  sched.AdvanceBy(seconds(4));
  EXPECT_EQ(sched.NextDelay(), std::nullopt);
}

TEST(ManualSchedulerTest, RunNext) {
  ManualScheduler sched;
  const TimePoint start = sched.Now();
  EXPECT_FALSE(sched.RunNext());
  EXPECT_EQ(sched.Now(), start);

  std::vector<int> order;
  sched.ScheduleAfter(seconds(2), [&] { order.push_back(2); });
  sched.ScheduleAfter(seconds(1), [&] { order.push_back(1); });
  sched.ScheduleAfter(seconds(1), [&] { order.push_back(11); });
  EXPECT_TRUE(sched.RunNext());
  EXPECT_THAT(order, ElementsAre(1, 11));  // Everything due at that deadline.
  EXPECT_EQ(sched.Now() - start, seconds(1));
  EXPECT_TRUE(sched.RunNext());
  EXPECT_THAT(order, ElementsAre(1, 11, 2));
  EXPECT_EQ(sched.Now() - start, seconds(2));
  EXPECT_FALSE(sched.RunNext());
  EXPECT_EQ(sched.Now() - start, seconds(2));
}

TEST(ManualSchedulerTest, RunDueRunsOnlyWhatIsDueNow) {
  ManualScheduler sched;
  const TimePoint start = sched.Now();
  int ran = 0;
  sched.ScheduleAfter(Duration::zero(), [&] { ++ran; });
  sched.ScheduleAfter(-seconds(5), [&] { ++ran; });  // Negative delay: due now.
  sched.ScheduleAfter(milliseconds(1), [&] { ++ran; });
  EXPECT_EQ(sched.RunDue(), 2u);
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(sched.Now(), start);
  EXPECT_EQ(sched.pending(), 1u);
}

TEST(ManualSchedulerTest, ExceptionInATaskIsLoggedAndLaterTasksRun) {
  LogCapture logs;
  ManualScheduler sched;
  bool later_ran = false;
  sched.ScheduleAfter(seconds(1), [] { throw std::runtime_error("manual boom"); });
  sched.ScheduleAfter(seconds(2), [&] { later_ran = true; });
  EXPECT_EQ(sched.AdvanceBy(seconds(2)), 2u);
  EXPECT_TRUE(later_ran);
  const std::vector<std::string> errors = logs.lines();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], HasSubstr("manual boom"));
}

TEST(ManualSchedulerTest, ScheduleFromAnotherThread) {
  ManualScheduler sched;
  std::atomic<int> ran{0};
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) sched.ScheduleAfter(seconds(1), [&] { ++ran; });
  });
  other.join();
  EXPECT_EQ(sched.AdvanceBy(seconds(1)), 100u);
  EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace dubbo::registry
