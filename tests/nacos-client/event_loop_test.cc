// Tests of EventLoop: task order, RunInLoopAndWait, timers (deadline order, Cancel before, while
// and from inside a run), fd watches on a socketpair, Stop (with pending work, from inside a
// callback, concurrently, without Start), stop hooks, and exceptions escaping callbacks. Runs under
// TSan in CI.
#include "testing/log_capture.h"
#include "event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dubbo/registry/logging.h"

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::testing::LogCapture;

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

// A watchdog, not a speed check: only a hung loop takes this long, however loaded the machine and
// however much a sanitizer slows it.
constexpr auto kWait = seconds(60);

template <typename T>
bool Ready(std::future<T>& future) {
  return future.wait_for(kWait) == std::future_status::ready;
}

// Returns once everything queued on `loop` before the call has run.
void Drain(EventLoop& loop) {
  ASSERT_TRUE(loop.RunInLoopAndWait([] {}));
}

// A connected, non-blocking AF_UNIX stream pair, closed on destruction.
struct SocketPair {
  SocketPair() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  }
  ~SocketPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  int fds[2] = {-1, -1};
};

// --- Lifecycle -----------------------------------------------------------------------------------

TEST(EventLoopTest, StartsOnceAndNeverRestarts) {
  EventLoop loop("test-loop");
  EXPECT_EQ(loop.name(), "test-loop");
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_EQ(loop.Start().code(), StatusCode::kFailedPrecondition);
  loop.Stop();
  EXPECT_EQ(loop.Start().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(loop.clock(), Clock::Real());
}

TEST(EventLoopTest, InLoopThreadOnlyOnTheLoopThread) {
  EventLoop loop;
  EXPECT_FALSE(loop.InLoopThread());
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_FALSE(loop.InLoopThread());
  bool in_loop = false;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] { in_loop = loop.InLoopThread(); }));
  EXPECT_TRUE(in_loop);
}

// --- RunInLoop / RunInLoopAndWait --------------------------------------------------------------

TEST(EventLoopTest, RunInLoopRunsTasksInOrderOnTheLoopThread) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<int> seen;  // Loop thread only.
  std::atomic<bool> all_on_loop{true};
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(loop.RunInLoop([&, i] {
      if (!loop.InLoopThread()) all_on_loop = false;
      seen.push_back(i);
    }));
  }
  Drain(loop);
  ASSERT_EQ(seen.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i);
  EXPECT_TRUE(all_on_loop);
}

TEST(EventLoopTest, EachProducerThreadKeepsItsOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  constexpr int kThreads = 4;
  constexpr int kTasks = 500;
  std::vector<std::pair<int, int>> seen;  // Loop thread only.
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < kTasks; ++i) loop.RunInLoop([&seen, t, i] { seen.emplace_back(t, i); });
    });
  }
  for (auto& producer : producers) producer.join();
  Drain(loop);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kThreads * kTasks));
  std::vector<int> next(kThreads, 0);
  for (const auto& [t, i] : seen) {
    ASSERT_EQ(i, next[t]) << "thread " << t;
    ++next[t];
  }
}

TEST(EventLoopTest, TasksQueuedBeforeStartRunOnceStarted) {
  EventLoop loop;
  std::promise<bool> ran;
  ASSERT_TRUE(loop.RunInLoop([&] { ran.set_value(loop.InLoopThread()); }));
  auto future = ran.get_future();
  ASSERT_TRUE(loop.Start().ok());
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(future.get());
}

TEST(EventLoopTest, TaskQueuedFromATaskRunsAfterIt) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<std::string> seen;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    EXPECT_TRUE(loop.RunInLoop([&] { seen.push_back("inner"); }));
    seen.push_back("outer");
  }));
  Drain(loop);
  EXPECT_EQ(seen, (std::vector<std::string>{"outer", "inner"}));
}

TEST(EventLoopTest, RunInLoopAndWaitRunsInlineOnTheLoopThread) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  bool inner_ran_inline = false;
  bool returned = false;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    bool inner_ran = false;
    returned = loop.RunInLoopAndWait([&] { inner_ran = true; });
    inner_ran_inline =
        inner_ran;  // Set before RunInLoopAndWait returned: no deadlock, no queueing.
  }));
  EXPECT_TRUE(returned);
  EXPECT_TRUE(inner_ran_inline);
}

TEST(EventLoopTest, RunInLoopAndWaitWaitsForTheFunction) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  int value = 0;  // Written on the loop, read here: RunInLoopAndWait orders the two.
  ASSERT_TRUE(loop.RunInLoopAndWait([&] { value = 42; }));
  EXPECT_EQ(value, 42);
}

TEST(EventLoopTest, RunInLoopAndWaitDoesNotRunOnALoopThatIsNotRunning) {
  EventLoop loop;
  bool ran = false;
  EXPECT_FALSE(loop.RunInLoopAndWait([&] { ran = true; }));  // Never started: would wait forever.
  ASSERT_TRUE(loop.Start().ok());
  loop.Stop();
  EXPECT_FALSE(loop.RunInLoopAndWait([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

// --- Timers --------------------------------------------------------------------------------------

TEST(EventLoopTest, TimersFireInDeadlineOrderAndNeverEarly) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  struct Fired {
    std::string name;
    bool early;
    bool on_loop;
  };
  std::vector<Fired> fired;  // Loop thread only.
  std::promise<void> last;
  auto schedule = [&](int delay_ms, std::string name, bool is_last) {
    const SteadyClock::time_point deadline = SteadyClock::now() + milliseconds(delay_ms);
    return loop.ScheduleAfter(milliseconds(delay_ms), [&, deadline, name, is_last] {
      fired.push_back({name, SteadyClock::now() < deadline, loop.InLoopThread()});
      if (is_last) last.set_value();
    });
  };
  // All scheduled inside one callback, so none can fire before the last is scheduled (however slow
  // a sanitizer makes this). "b" and "c" have the same delay: scheduling order breaks the tie.
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    EXPECT_NE(schedule(60, "e", true), kInvalidTaskId);
    EXPECT_NE(schedule(10, "b", false), kInvalidTaskId);
    EXPECT_NE(schedule(40, "d", false), kInvalidTaskId);
    EXPECT_NE(schedule(10, "c", false), kInvalidTaskId);
    EXPECT_NE(schedule(0, "a", false), kInvalidTaskId);
  }));
  auto done = last.get_future();
  ASSERT_TRUE(Ready(done));
  Drain(loop);
  std::vector<std::string> order;
  for (const Fired& f : fired) {
    order.push_back(f.name);
    EXPECT_FALSE(f.early) << f.name;
    EXPECT_TRUE(f.on_loop) << f.name;
  }
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
}

TEST(EventLoopTest, EqualDeadlinesRunInSchedulingOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<int> fired;
  std::promise<void> last;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    for (int i = 0; i < 20; ++i) {
      loop.ScheduleAfter(Duration::zero(), [&, i] {
        fired.push_back(i);
        if (i == 19) last.set_value();
      });
    }
  }));
  auto done = last.get_future();
  ASSERT_TRUE(Ready(done));
  Drain(loop);
  ASSERT_EQ(fired.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(fired[i], i);
}

TEST(EventLoopTest, AnEarlierTimerScheduledFromAnotherThreadRearmsTheLoop) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<void> far_fired;
  loop.ScheduleAfter(hours(1), [&] { far_fired.set_value(); });
  Drain(loop);  // The loop now waits for the one-hour timer.
  std::promise<void> near_fired;
  const auto start = SteadyClock::now();
  ASSERT_NE(loop.ScheduleAfter(milliseconds(20), [&] { near_fired.set_value(); }), kInvalidTaskId);
  auto near = near_fired.get_future();
  ASSERT_TRUE(Ready(near));
  EXPECT_GE(SteadyClock::now() - start, milliseconds(20));
}

TEST(EventLoopTest, SubMillisecondAndHugeDelays) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<void> fired;
  loop.ScheduleAfter(std::chrono::microseconds(300), [&] { fired.set_value(); });
  // Saturates instead of overflowing; never fires.
  const TaskId never = loop.ScheduleAfter(Duration::max(), [] { ADD_FAILURE() << "ran"; });
  ASSERT_NE(never, kInvalidTaskId);
  auto future = fired.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(loop.Cancel(never));
}

TEST(EventLoopTest, CancelBeforeRunDropsTheClosureAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  auto token = std::make_shared<int>(0);
  const TaskId id = loop.ScheduleAfter(hours(1), [token] {});
  ASSERT_NE(id, kInvalidTaskId);
  EXPECT_EQ(token.use_count(), 2);
  EXPECT_TRUE(loop.Cancel(id));
  EXPECT_EQ(token.use_count(), 1);
  EXPECT_FALSE(loop.Cancel(id));
  EXPECT_FALSE(loop.Cancel(kInvalidTaskId));
  EXPECT_FALSE(loop.Cancel(123456));
}

TEST(EventLoopTest, CancelledTimerNeverRuns) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> cancelled_ran{false};
  bool cancel_result = false;
  std::promise<void> later;
  // Scheduled and cancelled inside one callback: no timer can run meanwhile, so the Cancel() comes
  // before the deadline however slow the machine. The marker is due at the same time or later and
  // was scheduled after it, so by the marker's turn the cancelled timer would have run.
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    const TaskId id = loop.ScheduleAfter(milliseconds(10), [&] { cancelled_ran = true; });
    cancel_result = loop.Cancel(id);
    loop.ScheduleAfter(milliseconds(10), [&] { later.set_value(); });
  }));
  EXPECT_TRUE(cancel_result);
  auto future = later.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_FALSE(cancelled_ran);
}

TEST(EventLoopTest, CancelFromAnotherThreadBeforeTheDeadlineStopsTheTimer) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> cancelled_ran{false};
  // An hour away: the Cancel() below certainly comes first.
  const TaskId id = loop.ScheduleAfter(hours(1), [&] { cancelled_ran = true; });
  Drain(loop);  // The loop has armed its timer for it.
  EXPECT_TRUE(loop.Cancel(id));
  std::promise<void> later;
  loop.ScheduleAfter(Duration::zero(), [&] { later.set_value(); });
  auto future = later.get_future();
  ASSERT_TRUE(Ready(future));
  Drain(loop);
  EXPECT_FALSE(cancelled_ran);
}

TEST(EventLoopTest, CancelOfAFinishedTaskReturnsFalse) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<void> ran;
  const TaskId id = loop.ScheduleAfter(Duration::zero(), [&] { ran.set_value(); });
  auto future = ran.get_future();
  ASSERT_TRUE(Ready(future));
  Drain(loop);
  EXPECT_FALSE(loop.Cancel(id));
}

TEST(EventLoopTest, CancelWaitsForATaskRunningOnTheLoop) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<void> started;
  std::promise<void> cancel_called;
  std::shared_future<void> cancel_called_future = cancel_called.get_future().share();
  std::atomic<bool> finished{false};
  const TaskId id = loop.ScheduleAfter(Duration::zero(), [&] {
    started.set_value();
    cancel_called_future.wait();
    // Keep running a little after Cancel() was entered, so that it really has a task to wait for.
    // Correctness does not depend on this delay: the assertions below hold either way.
    std::this_thread::sleep_for(milliseconds(20));
    finished = true;
  });
  started.get_future().wait();
  bool cancelled = true;
  bool finished_when_cancel_returned = false;
  std::thread canceller([&] {
    cancel_called.set_value();
    cancelled = loop.Cancel(id);
    finished_when_cancel_returned = finished;
  });
  canceller.join();
  EXPECT_FALSE(cancelled);
  EXPECT_TRUE(finished_when_cancel_returned);
}

TEST(EventLoopTest, CancelFromInsideTheTaskReturnsFalseAtOnce) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<TaskId> id_promise;
  std::shared_future<TaskId> id_future = id_promise.get_future().share();
  std::promise<bool> result;
  const TaskId id = loop.ScheduleAfter(Duration::zero(), [&] {
    result.set_value(loop.Cancel(id_future.get()));  // Must not wait for itself.
  });
  id_promise.set_value(id);
  auto future = result.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_FALSE(future.get());
}

TEST(EventLoopTest, ATaskCanCancelAnotherDueTask) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> second_ran{false};
  bool cancel_result = false;
  std::promise<void> marker;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    auto second = std::make_shared<TaskId>(kInvalidTaskId);
    loop.ScheduleAfter(milliseconds(5), [&, second] { cancel_result = loop.Cancel(*second); });
    *second = loop.ScheduleAfter(milliseconds(5), [&] { second_ran = true; });
    loop.ScheduleAfter(milliseconds(30), [&] { marker.set_value(); });
  }));
  auto future = marker.get_future();
  ASSERT_TRUE(Ready(future));
  Drain(loop);
  EXPECT_TRUE(cancel_result);
  EXPECT_FALSE(second_ran);
}

TEST(EventLoopTest, ConcurrentScheduleAndCancelAccountForEveryTask) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  constexpr int kThreads = 3;
  constexpr int kTasks = 400;
  std::atomic<int> ran{0};
  std::atomic<int> cancelled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTasks; ++i) {
        // Every fourth task is an hour away, so its Cancel() certainly wins; the other cancels race
        // the loop (delays of 0 to 2 ms) and may come too late.
        const Duration delay = i % 4 == 0
                                   ? Duration(hours(1))
                                   : Duration(std::chrono::microseconds((i * 37 + t) % 2000));
        const TaskId id = loop.ScheduleAfter(delay, [&] { ran.fetch_add(1); });
        if (i % 2 == 0 && loop.Cancel(id)) cancelled.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  // Due after every task that was not cancelled: timers run in deadline order.
  std::promise<void> last;
  loop.ScheduleAfter(milliseconds(10), [&] { last.set_value(); });
  auto future = last.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_EQ(ran.load() + cancelled.load(), kThreads * kTasks);
  EXPECT_GE(cancelled.load(), kThreads * kTasks / 4);
}

// --- Exceptions ----------------------------------------------------------------------------------

TEST(EventLoopTest, ExceptionsFromCallbacksAreCaughtAndLogged) {
  LogCapture log;
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  loop.RunInLoop([] { throw std::runtime_error("task boom"); });
  loop.RunInLoop([] { throw 42; });
  std::promise<void> timer_ran;
  loop.ScheduleAfter(Duration::zero(), [&] {
    timer_ran.set_value();
    throw std::runtime_error("timer boom");
  });
  std::promise<void> watch_ran;
  std::atomic<bool> watch_once{false};
  const EventLoop::WatchId watch = loop.WatchFd(pair.fds[1], EventLoop::kWritable, [&](short) {
    if (!watch_once.exchange(true)) watch_ran.set_value();
    throw std::logic_error("watch boom");
  });
  ASSERT_NE(watch, EventLoop::kInvalidWatchId);
  auto timer_future = timer_ran.get_future();
  auto watch_future = watch_ran.get_future();
  ASSERT_TRUE(Ready(timer_future));
  ASSERT_TRUE(Ready(watch_future));
  EXPECT_TRUE(loop.UnwatchFd(watch));
  bool after = false;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] { after = true; }));  // Still serving.
  EXPECT_TRUE(after);
  // Inline RunInLoopAndWait catches too.
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    EXPECT_TRUE(loop.RunInLoopAndWait([] { throw std::runtime_error("inline boom"); }));
  }));
  loop.Stop();
  std::string all;
  for (const std::string& line : log.lines()) all += line + "\n";
  EXPECT_NE(all.find("task boom"), std::string::npos) << all;
  EXPECT_NE(all.find("non-std exception"), std::string::npos) << all;
  EXPECT_NE(all.find("timer boom"), std::string::npos) << all;
  EXPECT_NE(all.find("watch boom"), std::string::npos) << all;
  EXPECT_NE(all.find("inline boom"), std::string::npos) << all;
}

// --- Stop ----------------------------------------------------------------------------------------

TEST(EventLoopTest, StopWithPendingWorkRunsAcceptedTasksDropsTheRestAndReturnsPromptly) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  auto timer_token = std::make_shared<int>(0);
  auto watch_token = std::make_shared<int>(0);
  std::atomic<bool> timer_ran{false};
  ASSERT_NE(loop.ScheduleAfter(hours(1), [&, timer_token] { timer_ran = true; }), kInvalidTaskId);
  ASSERT_NE(loop.WatchFd(pair.fds[0], EventLoop::kReadable, [watch_token](short) {}),
            EventLoop::kInvalidWatchId);

  // Block the loop, queue a task behind the blocker, then Stop() from another thread.
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::promise<void> blocking;
  loop.RunInLoop([&] {
    blocking.set_value();
    release_future.wait();
  });
  std::atomic<bool> queued_ran{false};
  ASSERT_TRUE(loop.RunInLoop([&] { queued_ran = true; }));
  blocking.get_future().wait();
  std::thread stopper([&] { loop.Stop(); });
  // Once Stop() has been called nothing new is accepted.
  while (loop.RunInLoop([] {})) std::this_thread::sleep_for(milliseconds(1));
  const auto released_at = SteadyClock::now();
  release.set_value();
  stopper.join();
  // Stop() did not wait for the pending one-hour timer. The bound is a watchdog, far from the hour.
  EXPECT_LT(SteadyClock::now() - released_at, kWait);

  EXPECT_TRUE(queued_ran);  // Accepted before Stop(): runs.
  EXPECT_FALSE(timer_ran);
  EXPECT_EQ(timer_token.use_count(), 1);  // Dropped closures are destroyed.
  EXPECT_EQ(watch_token.use_count(), 1);
  EXPECT_EQ(loop.ScheduleAfter(Duration::zero(), [] {}), kInvalidTaskId);
  EXPECT_EQ(loop.WatchFd(pair.fds[0], EventLoop::kReadable, [](short) {}),
            EventLoop::kInvalidWatchId);
  EXPECT_EQ(loop.AddStopHook([] {}), EventLoop::kInvalidHookId);
  EXPECT_FALSE(loop.RunInLoop([] {}));
  loop.Stop();  // Idempotent.
}

TEST(EventLoopTest, StopFromInsideACallbackDoesNotJoinItself) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> timer_ran{false};
  std::atomic<bool> queued_ran{false};
  std::promise<bool> stop_returned;
  std::promise<void> go;
  std::shared_future<void> go_future = go.get_future().share();
  loop.RunInLoop([&] {
    go_future.wait();  // The task below is queued by now.
    loop.ScheduleAfter(Duration::zero(), [&] { timer_ran = true; });
    loop.Stop();  // Must return: the loop thread cannot join itself.
    stop_returned.set_value(!loop.RunInLoop([] {}));  // Nothing accepted any more.
  });
  ASSERT_TRUE(loop.RunInLoop([&] { queued_ran = true; }));
  go.set_value();
  auto future = stop_returned.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(future.get());
  loop.Stop();              // Joins the thread; a hang here is caught by the ctest timeout.
  EXPECT_TRUE(queued_ran);  // Accepted before the Stop(): still runs.
  EXPECT_FALSE(timer_ran);  // No timer starts once Stop() was called.
}

TEST(EventLoopTest, DestructorJoinsALoopStoppedFromInside) {
  std::promise<void> stopped;
  {
    EventLoop loop;
    ASSERT_TRUE(loop.Start().ok());
    loop.RunInLoop([&] {
      loop.Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
  }  // ~EventLoop joins.
  SUCCEED();
}

TEST(EventLoopTest, ConcurrentStopsAllReturnAfterTheLoopStopped) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::atomic<bool> hook_ran{false};
  loop.AddStopHook([&] {
    std::this_thread::sleep_for(milliseconds(20));
    hook_ran = true;
  });
  std::vector<std::thread> stoppers;
  std::atomic<int> returned_before_hook{0};
  for (int i = 0; i < 3; ++i) {
    stoppers.emplace_back([&] {
      loop.Stop();
      if (!hook_ran) returned_before_hook.fetch_add(1);
    });
  }
  for (auto& stopper : stoppers) stopper.join();
  EXPECT_EQ(returned_before_hook.load(), 0);
}

TEST(EventLoopTest, StopWithoutStartRunsAcceptedTasksAndHooksOnTheCaller) {
  EventLoop loop;
  bool task_in_loop = false;
  bool hook_in_loop = false;
  std::vector<std::string> order;
  ASSERT_TRUE(loop.RunInLoop([&] {
    task_in_loop = loop.InLoopThread();
    order.push_back("task");
  }));
  ASSERT_NE(loop.AddStopHook([&] {
    hook_in_loop = loop.InLoopThread();
    order.push_back("hook");
  }),
            EventLoop::kInvalidHookId);
  auto token = std::make_shared<int>(0);
  loop.ScheduleAfter(Duration::zero(), [token] {});
  loop.Stop();
  EXPECT_TRUE(task_in_loop);
  EXPECT_TRUE(hook_in_loop);
  EXPECT_EQ(order, (std::vector<std::string>{"task", "hook"}));
  EXPECT_EQ(token.use_count(), 1);
  EXPECT_FALSE(loop.InLoopThread());
  EXPECT_EQ(loop.Start().code(), StatusCode::kFailedPrecondition);
}

TEST(EventLoopTest, DestructorStopsAndDropsPendingTimers) {
  auto token = std::make_shared<int>(0);
  {
    EventLoop loop;
    ASSERT_TRUE(loop.Start().ok());
    loop.ScheduleAfter(hours(1), [token] {});
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_EQ(token.use_count(), 1);
}

// --- Stop hooks ----------------------------------------------------------------------------------

TEST(EventLoopTest, StopHooksRunOnTheLoopAfterAcceptedTasksInOrder) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::vector<std::string> order;  // Loop thread only (then read after the join).
  bool hooks_on_loop = true;
  bool accepts_in_hook = true;
  loop.AddStopHook([&] {
    order.push_back("hook1");
    hooks_on_loop = hooks_on_loop && loop.InLoopThread();
    accepts_in_hook =
        loop.RunInLoop([] {}) || loop.ScheduleAfter(Duration::zero(), [] {}) != kInvalidTaskId;
  });
  const EventLoop::HookId removed = loop.AddStopHook([&] { order.push_back("removed"); });
  loop.AddStopHook([&] {
    order.push_back("hook2");
    hooks_on_loop = hooks_on_loop && loop.InLoopThread();
  });
  EXPECT_TRUE(loop.RemoveStopHook(removed));
  EXPECT_FALSE(loop.RemoveStopHook(removed));
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  loop.RunInLoop([&] { release_future.wait(); });
  loop.RunInLoop([&] { order.push_back("task"); });
  std::thread stopper([&] { loop.Stop(); });
  while (loop.RunInLoop([] {})) std::this_thread::sleep_for(milliseconds(1));
  release.set_value();
  stopper.join();
  EXPECT_EQ(order, (std::vector<std::string>{"task", "hook1", "hook2"}));
  EXPECT_TRUE(hooks_on_loop);
  EXPECT_FALSE(accepts_in_hook);
}

TEST(EventLoopTest, RemoveStopHookWaitsForARunningHook) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::promise<void> started;
  std::promise<void> remove_called;
  std::shared_future<void> remove_called_future = remove_called.get_future().share();
  std::atomic<bool> finished{false};
  const EventLoop::HookId hook = loop.AddStopHook([&] {
    started.set_value();
    remove_called_future.wait();
    std::this_thread::sleep_for(milliseconds(20));
    finished = true;
  });
  std::thread stopper([&] { loop.Stop(); });
  started.get_future().wait();
  remove_called.set_value();
  EXPECT_FALSE(loop.RemoveStopHook(hook));
  EXPECT_TRUE(finished);
  stopper.join();
}

// --- Fd watches ----------------------------------------------------------------------------------

TEST(EventLoopTest, WatchFdReportsReadabilityUntilUnwatched) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  std::string received;  // Loop thread only.
  std::atomic<int> calls{0};
  std::promise<void> got_hello;
  bool fired_readable = true;
  bool on_loop = true;
  const EventLoop::WatchId watch =
      loop.WatchFd(pair.fds[0], EventLoop::kReadable, [&](short fired) {
        calls.fetch_add(1);
        fired_readable = fired_readable && fired == EventLoop::kReadable;
        on_loop = on_loop && loop.InLoopThread();
        char buf[64];
        ssize_t n;
        while ((n = ::read(pair.fds[0], buf, sizeof(buf))) > 0) received.append(buf, n);
        if (received == "hello") got_hello.set_value();
      });
  ASSERT_NE(watch, EventLoop::kInvalidWatchId);
  Drain(loop);  // Armed (WatchFd from another thread arms through the queue).
  ASSERT_EQ(::write(pair.fds[1], "hello", 5), 5);
  auto future = got_hello.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(loop.UnwatchFd(watch));
  EXPECT_FALSE(loop.UnwatchFd(watch));
  const int calls_at_unwatch = calls.load();
  // Unread data would make a level-triggered watch fire at once, over and over.
  ASSERT_EQ(::write(pair.fds[1], "more", 4), 4);
  std::promise<void> later;
  loop.ScheduleAfter(milliseconds(30), [&] { later.set_value(); });
  auto later_future = later.get_future();
  ASSERT_TRUE(Ready(later_future));
  Drain(loop);
  EXPECT_EQ(calls.load(), calls_at_unwatch);
  EXPECT_TRUE(fired_readable);
  EXPECT_TRUE(on_loop);
}

TEST(EventLoopTest, WatchCanRemoveItselfFromItsOwnCallback) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  std::atomic<int> calls{0};
  auto id = std::make_shared<EventLoop::WatchId>(EventLoop::kInvalidWatchId);
  auto token = std::make_shared<int>(0);
  std::promise<bool> unwatched;
  ASSERT_TRUE(loop.RunInLoopAndWait([&] {
    // Writable at once, and would stay so forever.
    *id = loop.WatchFd(pair.fds[1], EventLoop::kWritable | EventLoop::kReadable,
                       [&, id, token](short fired) {
                         if (calls.fetch_add(1) == 0) {
                           EXPECT_EQ(fired, EventLoop::kWritable);
                           unwatched.set_value(loop.UnwatchFd(*id));
                         }
                       });
  }));
  auto future = unwatched.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(future.get());
  std::promise<void> later;
  loop.ScheduleAfter(milliseconds(20), [&] { later.set_value(); });
  auto later_future = later.get_future();
  ASSERT_TRUE(Ready(later_future));
  Drain(loop);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(token.use_count(), 1);  // The closure went after its callback returned.
}

TEST(EventLoopTest, UnwatchFromAnotherThreadWaitsForARunningCallback) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  std::promise<void> started;
  std::promise<void> unwatch_called;
  std::shared_future<void> unwatch_called_future = unwatch_called.get_future().share();
  std::atomic<bool> finished{false};
  std::atomic<int> calls{0};
  const EventLoop::WatchId watch = loop.WatchFd(pair.fds[0], EventLoop::kReadable, [&](short) {
    if (calls.fetch_add(1) != 0) return;
    started.set_value();
    unwatch_called_future.wait();
    std::this_thread::sleep_for(milliseconds(20));
    finished = true;
  });
  ASSERT_NE(watch, EventLoop::kInvalidWatchId);
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);  // Never read: level-triggered, keeps firing.
  started.get_future().wait();
  bool removed = false;
  bool finished_when_returned = false;
  std::thread remover([&] {
    unwatch_called.set_value();
    removed = loop.UnwatchFd(watch);
    finished_when_returned = finished;
  });
  remover.join();
  EXPECT_TRUE(removed);
  EXPECT_TRUE(finished_when_returned);
  const int calls_after = calls.load();
  std::promise<void> later;
  loop.ScheduleAfter(milliseconds(20), [&] { later.set_value(); });
  auto later_future = later.get_future();
  ASSERT_TRUE(Ready(later_future));
  EXPECT_EQ(calls.load(), calls_after);
}

TEST(EventLoopTest, WatchFdRejectsBadArguments) {
  EventLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  SocketPair pair;
  EXPECT_EQ(loop.WatchFd(-1, EventLoop::kReadable, [](short) {}), EventLoop::kInvalidWatchId);
  EXPECT_EQ(loop.WatchFd(pair.fds[0], 0, [](short) {}), EventLoop::kInvalidWatchId);
  EXPECT_EQ(loop.WatchFd(pair.fds[0], 0x80, [](short) {}), EventLoop::kInvalidWatchId);
  EXPECT_EQ(loop.WatchFd(pair.fds[0], EventLoop::kReadable, nullptr), EventLoop::kInvalidWatchId);
  EXPECT_FALSE(loop.UnwatchFd(EventLoop::kInvalidWatchId));
  EXPECT_FALSE(loop.UnwatchFd(999));
}

TEST(EventLoopTest, WatchAddedBeforeStartWorks) {
  EventLoop loop;
  SocketPair pair;
  std::promise<void> fired;
  std::atomic<bool> once{false};
  const EventLoop::WatchId watch = loop.WatchFd(pair.fds[0], EventLoop::kReadable, [&](short) {
    char c;
    while (::read(pair.fds[0], &c, 1) > 0) {
    }
    if (!once.exchange(true)) fired.set_value();
  });
  ASSERT_NE(watch, EventLoop::kInvalidWatchId);
  ASSERT_EQ(::write(pair.fds[1], "x", 1), 1);
  ASSERT_TRUE(loop.Start().ok());
  auto future = fired.get_future();
  ASSERT_TRUE(Ready(future));
  EXPECT_TRUE(loop.UnwatchFd(watch));
}

}  // namespace
}  // namespace dubbo::registry::nacos
