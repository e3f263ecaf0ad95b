// GracefulShutdown and RequestTracker: the order unregister -> delay -> drain -> stop, the drain
// woken by the last request (released from another thread), the timeout paths (immediate with a
// zero timeout, or fired by a ManualScheduler), error collection, and the once-only rule.
//
// Event-driven: the waits are measured by a ManualScheduler that only the test advances; a test
// knows the shutdown is waiting when its timer is pending. Nothing depends on real time.
#include "dubbo/registry/graceful_shutdown.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"

namespace dubbo::registry {
namespace {

using std::chrono::seconds;

// A RegistryService that records what happens, in order, in a log it shares with the test.
class RecordingRegistry final : public RegistryService {
 public:
  Status Register(const URL&) override { return Status::Ok(); }
  Status Unregister(const URL& url) override {
    Record("unregister " + url.Address());
    if (url.GetBool("throw", false)) throw std::runtime_error("registry bug");
    return url.GetBool("fail", false) ? UnavailableError("registry down") : Status::Ok();
  }
  Status Subscribe(const URL&, std::shared_ptr<NotifyListener>) override { return Status::Ok(); }
  Status Unsubscribe(const URL&, const std::shared_ptr<NotifyListener>&) override {
    return Status::Ok();
  }
  Result<std::vector<URL>> Lookup(const URL&) override { return std::vector<URL>{}; }

  void Record(const std::string& event) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(event);
  }
  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

URL Provider(int port, bool fail = false) {
  return URL("dubbo", "10.0.0.5", port, "com.foo.Greeter",
             fail ? URL::Parameters{{"fail", "true"}} : URL::Parameters{});
}
URL ThrowingProvider(int port) {
  return URL("dubbo", "10.0.0.5", port, "com.foo.Greeter", {{"throw", "true"}});
}

class GracefulShutdownTest : public ::testing::Test {
 protected:
  GracefulShutdownOptions Options(std::chrono::seconds delay, std::chrono::seconds drain) {
    GracefulShutdownOptions options;
    options.propagation_delay = delay;
    options.drain_timeout = drain;
    options.scheduler = &scheduler_;
    return options;
  }
  // A stop function that records itself and the requests in flight when it runs.
  std::function<void()> RecordingStop() {
    return [this] {
      stops_.fetch_add(1);
      in_flight_at_stop_.store(tracker_.in_flight());
      registry_.Record("stop");
    };
  }

  ManualScheduler scheduler_;
  RecordingRegistry registry_;
  RequestTracker tracker_;
  std::atomic<int> stops_{0};
  std::atomic<int64_t> in_flight_at_stop_{-1};
};

TEST_F(GracefulShutdownTest, UnregistersThenStopsAfterTheLastRequestEnds) {
  auto request = std::make_unique<RequestTracker::Guard>(tracker_.Enter());
  Status result;
  std::thread shutdown([&] {
    result = GracefulShutdown(registry_, {Provider(1), Provider(2)}, tracker_, RecordingStop(),
                              Options(seconds(0), seconds(10)));
  });
  scheduler_.AwaitPending(1);  // The drain waits, with its timeout armed.
  EXPECT_EQ(registry_.events(),
            (std::vector<std::string>{"unregister 10.0.0.5:1", "unregister 10.0.0.5:2"}));
  EXPECT_EQ(stops_.load(), 0) << "stopped with a request in flight";
  request.reset();  // The last request ends on this thread and wakes the drain.
  shutdown.join();
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(stops_.load(), 1);
  EXPECT_EQ(in_flight_at_stop_.load(), 0);
  EXPECT_EQ(registry_.events().back(), "stop");
  EXPECT_EQ(scheduler_.pending(), 0u) << "the drain timer is cancelled";
}

TEST_F(GracefulShutdownTest, KeepsServingDuringThePropagationDelay) {
  Status result;
  std::thread shutdown([&] {
    result = GracefulShutdown(registry_, {Provider(1)}, tracker_, RecordingStop(),
                              Options(seconds(1), seconds(10)));
  });
  scheduler_.AwaitPending(1);  // The propagation delay runs.
  EXPECT_EQ(registry_.events(), std::vector<std::string>{"unregister 10.0.0.5:1"});
  // A consumer that has not heard yet still gets served, and the request is counted as late.
  auto late = std::make_unique<RequestTracker::Guard>(tracker_.Enter());
  EXPECT_EQ(tracker_.entered_after_close(), 1u);
  EXPECT_EQ(stops_.load(), 0);
  scheduler_.AdvanceBy(seconds(1));  // The delay ends; the drain waits for `late`.
  scheduler_.AwaitPending(1);
  EXPECT_EQ(stops_.load(), 0);
  late.reset();
  shutdown.join();
  EXPECT_TRUE(result.ok()) << result;
  EXPECT_EQ(stops_.load(), 1);
  EXPECT_EQ(in_flight_at_stop_.load(), 0);
}

TEST_F(GracefulShutdownTest, DrainTimeoutFiredByTheSchedulerReportsTheCount) {
  RequestTracker::Guard stuck = tracker_.Enter();
  Status result;
  std::thread shutdown([&] {
    result = GracefulShutdown(registry_, {Provider(1)}, tracker_, RecordingStop(),
                              Options(seconds(0), seconds(10)));
  });
  scheduler_.AwaitPending(1);
  scheduler_.AdvanceBy(seconds(10));
  shutdown.join();
  EXPECT_EQ(result.code(), StatusCode::kDeadlineExceeded) << result;
  EXPECT_NE(result.message().find("1 request(s) in flight"), std::string_view::npos) << result;
  EXPECT_EQ(stops_.load(), 1) << "stop runs even when the drain times out";
  EXPECT_EQ(in_flight_at_stop_.load(), 1);
}

TEST_F(GracefulShutdownTest, ZeroDrainTimeoutStopsAtOnce) {
  RequestTracker::Guard a = tracker_.Enter();
  RequestTracker::Guard b = tracker_.Enter();
  const Status result = GracefulShutdown(registry_, {Provider(1)}, tracker_, RecordingStop(),
                                         Options(seconds(0), seconds(0)));
  EXPECT_EQ(result.code(), StatusCode::kDeadlineExceeded) << result;
  EXPECT_NE(result.message().find("2 request(s) in flight"), std::string_view::npos) << result;
  EXPECT_EQ(stops_.load(), 1);
}

TEST_F(GracefulShutdownTest, UnregisterFailuresAreCollectedAndTheShutdownGoesOn) {
  const Status result =
      GracefulShutdown(registry_, {Provider(1, /*fail=*/true), Provider(2)}, tracker_,
                       RecordingStop(), Options(seconds(0), seconds(0)));
  EXPECT_EQ(result.code(), StatusCode::kUnavailable) << result;
  EXPECT_NE(result.message().find("10.0.0.5:1"), std::string_view::npos) << result;
  EXPECT_NE(result.message().find("registry down"), std::string_view::npos) << result;
  EXPECT_EQ(registry_.events(),
            (std::vector<std::string>{"unregister 10.0.0.5:1", "unregister 10.0.0.5:2", "stop"}));
}

TEST_F(GracefulShutdownTest, AnExceptionFromTheRegistryIsCaught) {
  const Status result = GracefulShutdown(registry_, {ThrowingProvider(1), Provider(2)}, tracker_,
                                         RecordingStop(), Options(seconds(0), seconds(0)));
  EXPECT_EQ(result.code(), StatusCode::kInternal) << result;
  EXPECT_NE(result.message().find("registry bug"), std::string_view::npos) << result;
  EXPECT_EQ(registry_.events(),
            (std::vector<std::string>{"unregister 10.0.0.5:1", "unregister 10.0.0.5:2", "stop"}));
}

TEST_F(GracefulShutdownTest, AnExceptionFromStopIsCaught) {
  const Status result = GracefulShutdown(
      registry_, {Provider(1)}, tracker_, [] { throw std::runtime_error("port busy"); },
      Options(seconds(0), seconds(0)));
  EXPECT_EQ(result.code(), StatusCode::kInternal) << result;
  EXPECT_NE(result.message().find("port busy"), std::string_view::npos) << result;
}

TEST_F(GracefulShutdownTest, RunsOncePerTracker) {
  // Two threads race; exactly one runs the shutdown, the other is refused without stopping.
  Status results[2];
  std::thread first([&] {
    results[0] = GracefulShutdown(registry_, {Provider(1)}, tracker_, RecordingStop(),
                                  Options(seconds(0), seconds(0)));
  });
  results[1] = GracefulShutdown(registry_, {Provider(1)}, tracker_, RecordingStop(),
                                Options(seconds(0), seconds(0)));
  first.join();
  EXPECT_EQ(stops_.load(), 1);
  EXPECT_NE(results[0].ok(), results[1].ok());
  const Status& refused = results[0].ok() ? results[1] : results[0];
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused;
  EXPECT_EQ(registry_.events(), (std::vector<std::string>{"unregister 10.0.0.5:1", "stop"}));
}

TEST(RequestTrackerTest, CountsRequestsAndMovesGuards) {
  RequestTracker tracker;
  EXPECT_TRUE(tracker.AwaitIdle(seconds(0)));
  {
    RequestTracker::Guard a = tracker.Enter();
    EXPECT_EQ(tracker.in_flight(), 1);
    RequestTracker::Guard b = std::move(a);
    EXPECT_EQ(tracker.in_flight(), 1) << "a moved guard ends nothing";
    RequestTracker::Guard c = tracker.Enter();
    c = std::move(b);  // c's own request ends; b's is now c's.
    EXPECT_EQ(tracker.in_flight(), 1);
    EXPECT_FALSE(tracker.AwaitIdle(seconds(0)));
  }
  EXPECT_EQ(tracker.in_flight(), 0);
  EXPECT_FALSE(tracker.closed());
  EXPECT_EQ(tracker.entered_after_close(), 0u);
  tracker.Close();
  { RequestTracker::Guard late = tracker.Enter(); }
  EXPECT_EQ(tracker.entered_after_close(), 1u);
  EXPECT_EQ(tracker.in_flight(), 0);
}

TEST(RequestTrackerTest, AwaitIdleInRealTimeIsWokenByTheLastRequest) {
  RequestTracker tracker;
  auto request = std::make_unique<RequestTracker::Guard>(tracker.Enter());
  std::thread worker([&] { request.reset(); });
  // The timeout is far beyond any test's run: only the wake-up can end the wait.
  EXPECT_TRUE(tracker.AwaitIdle(std::chrono::hours(24)));
  worker.join();
}

TEST(RequestTrackerTest, ManyThreadsEnterAndLeaveWhileAWaiterWaits) {
  RequestTracker tracker;
  auto held = std::make_unique<RequestTracker::Guard>(tracker.Enter());
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&tracker] {
      for (int i = 0; i < 2000; ++i) RequestTracker::Guard guard = tracker.Enter();
    });
  }
  std::thread releaser([&] {
    for (auto& worker : workers) worker.join();
    held.reset();
  });
  EXPECT_TRUE(tracker.AwaitIdle(std::chrono::hours(24)));
  releaser.join();
  EXPECT_EQ(tracker.in_flight(), 0);
}

}  // namespace
}  // namespace dubbo::registry
