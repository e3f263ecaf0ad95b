// Tests of Dispatcher::Stop()'s bound (a listener that never returns cannot hold shutdown) and of
// PendingCalls (the naming client's blocking waits: deadline and cancellation).
#include "dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "event_loop.h"
#include "pending_calls.h"
#include "testing/log_capture.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::milliseconds;

// A gate a listener waits at. The wait is bounded only so that a Stop() that never returns fails
// the test (the gate then opens by itself) instead of hanging it.
class Gate {
 public:
  // Returns whether Open() was called (false: the bound passed).
  bool Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return open_; });
  }
  void WaitForEntry() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

TEST(DispatcherStopTest, AStuckListenerIsLeftBehindAndNamed) {
  testing::LogCapture log(LogSeverity::kError);
  Gate gate;
  std::promise<bool> opened_by_test;
  {
    Dispatcher dispatcher("test-notify");
    ASSERT_TRUE(dispatcher.Start().ok());
    dispatcher.Post(42, [&] { opened_by_test.set_value(gate.Wait()); });
    gate.WaitForEntry();
    dispatcher.Stop(milliseconds(10));  // Returns although the listener is still running.
  }
  gate.Open();
  EXPECT_TRUE(opened_by_test.get_future().get());  // Stop() returned before the gate opened.
  const auto lines = log.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("subscription 42"), std::string::npos) << lines[0];
}

// Runs a function when destroyed: tells the test that a queued call was dropped (its closure
// destroyed) rather than run.
class OnDestroy {
 public:
  explicit OnDestroy(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~OnDestroy() { fn_(); }

 private:
  std::function<void()> fn_;
};

TEST(DispatcherStopTest, AListenerThatReturnsInTimeIsJoinedAndQueuedCallsDropped) {
  testing::LogCapture log(LogSeverity::kError);
  Gate gate;
  bool second_ran = false;
  Dispatcher dispatcher("test-notify");
  ASSERT_TRUE(dispatcher.Start().ok());
  dispatcher.Post(1, [&] { gate.Wait(); });
  // The first listener is released only when the second call's closure is destroyed. It cannot
  // run before the first returns, so only Stop() dropping it can release the first: no race.
  auto token = std::make_shared<OnDestroy>([&] { gate.Open(); });
  dispatcher.Post(2, [&second_ran, token] { second_ran = true; });
  token.reset();
  gate.WaitForEntry();
  dispatcher.Stop(milliseconds(60000));
  EXPECT_FALSE(second_ran);
  EXPECT_TRUE(log.lines().empty());
}

class PendingCallsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }

  EventLoop loop_{"test-loop"};
  PendingCalls pending_{&loop_};
};

TEST_F(PendingCallsTest, TheAnswerIsReturned) {
  const Status status =
      pending_.Await<Status>("Op", milliseconds(60000),
                             [](std::function<void(Status)> done) { done(NotFoundError("x")); });
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
}

TEST_F(PendingCallsTest, ACallbackThatNeverComesEndsAtTheDeadline) {
  std::function<void(Status)> kept;  // Loop only.
  const Status status =
      pending_.Await<Status>("RegisterInstance", milliseconds(20),
                             [&kept](std::function<void(Status)> done) { kept = std::move(done); });
  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status;
  EXPECT_NE(status.message().find("RegisterInstance"), std::string::npos) << status;
  // The late answer goes nowhere.
  EXPECT_TRUE(loop_.RunInLoopAndWait([&] { kept(Status::Ok()); }));
}

TEST_F(PendingCallsTest, CancelAllEndsWaitsInProgressAndLaterOnes) {
  std::promise<void> started;
  std::function<void(Status)> kept;  // Loop only.
  Status status;
  std::thread caller([&] {
    status = pending_.Await<Status>("Subscribe", milliseconds(3600000),
                                    [&](std::function<void(Status)> done) {
                                      kept = std::move(done);
                                      started.set_value();
                                    });
  });
  started.get_future().wait();
  pending_.CancelAll();
  caller.join();
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status;
  bool ran = false;
  const Status later = pending_.Await<Status>("Subscribe", milliseconds(3600000),
                                              [&](std::function<void(Status)>) { ran = true; });
  EXPECT_EQ(later.code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(ran);
  EXPECT_TRUE(loop_.RunInLoopAndWait([&] { kept(Status::Ok()); }));
}

TEST_F(PendingCallsTest, UndoRunsAfterTheOpOnlyWhenTheCallerGetsAnError) {
  std::vector<std::string> ran;  // Loop only; read after RunInLoopAndWait().
  // The deadline passes before the op runs (the loop is held): the undo still follows the op.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ASSERT_TRUE(loop_.RunInLoop([released] { released.wait(); }));
  const Status late = pending_.Await<Status>(
      "Subscribe", milliseconds(20),
      [&ran](std::function<void(Status)> done) {
        ran.push_back("op");
        done(Status::Ok());
      },
      [&ran] { ran.push_back("undo"); });
  EXPECT_EQ(late.code(), StatusCode::kDeadlineExceeded) << late;
  release.set_value();
  ASSERT_TRUE(loop_.RunInLoopAndWait([] {}));
  EXPECT_EQ(ran, (std::vector<std::string>{"op", "undo"}));

  // The op ran and its answer never comes: the undo runs.
  ran.clear();
  std::function<void(Status)> kept;  // Loop only.
  const Status lost = pending_.Await<Status>(
      "Subscribe", milliseconds(20),
      [&](std::function<void(Status)> done) {
        ran.push_back("op");
        kept = std::move(done);
      },
      [&ran] { ran.push_back("undo"); });
  EXPECT_EQ(lost.code(), StatusCode::kDeadlineExceeded) << lost;
  ASSERT_TRUE(loop_.RunInLoopAndWait([&] { kept(Status::Ok()); }));
  EXPECT_EQ(ran, (std::vector<std::string>{"op", "undo"}));

  // An OK answer: no undo.
  ran.clear();
  const Status ok = pending_.Await<Status>(
      "Subscribe", milliseconds(3600000),
      [&ran](std::function<void(Status)> done) {
        ran.push_back("op");
        done(Status::Ok());
      },
      [&ran] { ran.push_back("undo"); });
  EXPECT_TRUE(ok.ok()) << ok;
  ASSERT_TRUE(loop_.RunInLoopAndWait([] {}));
  EXPECT_EQ(ran, (std::vector<std::string>{"op"}));
}

TEST_F(PendingCallsTest, AStoppedLoopFailsAtOnce) {
  loop_.Stop();
  const Status status =
      pending_.Await<Status>("Op", milliseconds(3600000), [](std::function<void(Status)>) {});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dubbo::registry::nacos
