// Tests for internal::SerialExecutor: order, mutual exclusion, re-entrancy, Flush(), exceptions and
// Enqueue()/Drain(). Threads synchronise through promises and futures; nothing sleeps.
#include "testing/log_capture.h"
#include "internal/serial_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/logging.h"

namespace dubbo::registry::internal {
namespace {

using ::dubbo::registry::testing::LogCapture;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SerialExecutorTest, RunsInSubmissionOrderOnTheCallingThread) {
  SerialExecutor executor;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) {
    executor.Execute([&order, i] { order.push_back(i); });
    EXPECT_EQ(order.size(), static_cast<size_t>(i + 1));  // Idle executor: ran before returning.
  }
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(SerialExecutorTest, InCallback) {
  SerialExecutor executor;
  EXPECT_FALSE(executor.InCallback());
  bool inside = false;
  executor.Execute([&] { inside = executor.InCallback(); });
  EXPECT_TRUE(inside);
  EXPECT_FALSE(executor.InCallback());
}

TEST(SerialExecutorTest, NeverRunsTwoCallbacksAtOnce) {
  SerialExecutor executor;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 1000;
  std::atomic<int> in_callback{0};
  std::atomic<int> max_in_callback{0};
  std::atomic<int> ran{0};
  // Per-thread FIFO: each thread's callbacks must run in its own submission order. Only touched by
  // callbacks, which never overlap.
  std::vector<int> next_expected(kThreads, 0);
  bool out_of_order = false;

  std::promise<void> go;
  std::shared_future<void> go_future = go.get_future().share();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      go_future.wait();
      for (int i = 0; i < kPerThread; ++i) {
        executor.Execute([&, t, i] {
          const int now_inside = ++in_callback;
          int seen = max_in_callback.load();
          while (now_inside > seen && !max_in_callback.compare_exchange_weak(seen, now_inside)) {
          }
          if (next_expected[t] != i) out_of_order = true;
          next_expected[t] = i + 1;
          ++ran;
          --in_callback;
        });
      }
    });
  }
  go.set_value();
  for (auto& thread : threads) thread.join();
  executor.Flush();
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
  EXPECT_EQ(max_in_callback.load(), 1);
  executor.Execute([&] { EXPECT_FALSE(out_of_order); });
}

TEST(SerialExecutorTest, ReentrantExecuteRunsAfterTheCurrentCallback) {
  SerialExecutor executor;
  std::vector<std::string> events;
  executor.Execute([&] {
    events.push_back("outer begin");
    executor.Execute([&] {
      events.push_back("inner");
      EXPECT_TRUE(executor.InCallback());
    });
    events.push_back("outer end");  // Execute() above only queued: no recursion.
  });
  EXPECT_THAT(events, ElementsAre("outer begin", "outer end", "inner"));
}

TEST(SerialExecutorTest, FlushWaitsForCallbacksSubmittedByOtherThreads) {
  SerialExecutor executor;
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::atomic<bool> first_done{false};
  std::atomic<bool> second_done{false};

  // `drainer` becomes the draining thread and is held inside the first callback.
  std::thread drainer([&] {
    executor.Execute([&] {
      started.set_value();
      release_future.wait();
      first_done = true;
    });
  });
  started.get_future().wait();
  EXPECT_FALSE(executor.InCallback());  // This thread is not the drainer.

  // Another thread submits while `drainer` drains: it only queues.
  std::thread submitter([&] { executor.Execute([&] { second_done = true; }); });
  submitter.join();
  EXPECT_FALSE(second_done);  // The first callback is still blocked.

  std::thread releaser([&] { release.set_value(); });
  executor.Flush();
  EXPECT_TRUE(first_done);
  EXPECT_TRUE(second_done);
  releaser.join();
  drainer.join();
}

TEST(SerialExecutorTest, FlushFromInsideACallbackReturnsAtOnce) {
  SerialExecutor executor;
  bool queued_ran = false;
  bool ran_when_flush_returned = true;
  executor.Execute([&] {
    executor.Execute([&] { queued_ran = true; });
    executor.Flush();  // Would deadlock if it waited.
    ran_when_flush_returned = queued_ran;
  });
  EXPECT_FALSE(ran_when_flush_returned);
  EXPECT_TRUE(queued_ran);
}

TEST(SerialExecutorTest, FlushOnIdleExecutorReturns) {
  SerialExecutor executor;
  executor.Flush();
  executor.Execute([] {});
  executor.Flush();
}

TEST(SerialExecutorTest, ExceptionIsLoggedAndLaterCallbacksRun) {
  LogCapture logs;
  SerialExecutor executor;
  std::vector<int> order;
  executor.Enqueue([&] { order.push_back(1); });
  executor.Enqueue([] { throw std::runtime_error("callback exploded"); });
  executor.Enqueue([] { throw 7; });
  executor.Enqueue([&] { order.push_back(2); });
  executor.Drain();
  EXPECT_THAT(order, ElementsAre(1, 2));
  const std::vector<std::string> errors = logs.lines();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], HasSubstr("callback exploded"));
  EXPECT_THAT(errors[1], HasSubstr("non-std exception"));

  // Still usable afterwards, from this and other threads.
  executor.Execute([&] { order.push_back(3); });
  std::thread other([&] { executor.Execute([&] { order.push_back(4); }); });
  other.join();
  executor.Flush();
  EXPECT_THAT(order, ElementsAre(1, 2, 3, 4));
}

TEST(SerialExecutorTest, EnqueueOnlyQueuesAndDrainRuns) {
  SerialExecutor executor;
  std::mutex owner_mu;  // Stands for the owner's lock, which the callback also takes.
  std::vector<int> order;
  {
    std::lock_guard<std::mutex> lock(owner_mu);
    executor.Enqueue([&] {
      std::lock_guard<std::mutex> callback_lock(owner_mu);  // Would self-deadlock if run here.
      order.push_back(1);
    });
    executor.Enqueue([&] { order.push_back(2); });
    EXPECT_TRUE(order.empty());
  }
  executor.Drain();
  EXPECT_THAT(order, ElementsAre(1, 2));
  executor.Drain();  // Empty queue: nothing to do.
  EXPECT_THAT(order, ElementsAre(1, 2));
}

TEST(SerialExecutorTest, DrainReturnsAtOnceWhileAnotherThreadDrains) {
  SerialExecutor executor;
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> release_future = release.get_future().share();
  std::atomic<bool> queued_ran{false};
  std::atomic<bool> queued_ran_on_drainer{false};
  std::thread::id drainer_id;

  std::thread drainer([&] {
    executor.Execute([&] {
      started.set_value();
      release_future.wait();
    });
  });
  drainer_id = drainer.get_id();
  started.get_future().wait();

  executor.Enqueue([&] {
    queued_ran = true;
    queued_ran_on_drainer = std::this_thread::get_id() == drainer_id;
  });
  executor.Drain();  // `drainer` is draining: returns without running anything.
  EXPECT_FALSE(queued_ran);

  release.set_value();
  drainer.join();  // The drainer ran the queued callback before its Execute() returned.
  EXPECT_TRUE(queued_ran);
  EXPECT_TRUE(queued_ran_on_drainer);
}

TEST(SerialExecutorTest, FlushRunsCallbacksThatWereOnlyEnqueued) {
  SerialExecutor executor;
  bool ran = false;
  executor.Enqueue([&] { ran = true; });
  executor.Flush();
  EXPECT_TRUE(ran);
}

TEST(SerialExecutorTest, FlushFromManyThreadsWhileOthersSubmit) {
  SerialExecutor executor;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        executor.Enqueue([&] { ++ran; });
        if (i % 7 == 0) {
          const int before = i + 1;  // This thread's own callbacks submitted so far.
          executor.Flush();
          // Everything this thread submitted before Flush() has completed; other threads' work
          // adds.
          EXPECT_GE(ran.load(), before);
        } else {
          executor.Drain();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  executor.Flush();
  EXPECT_EQ(ran.load(), kThreads * kPerThread);
}

}  // namespace
}  // namespace dubbo::registry::internal
