// Tests for CircuitBreaker: open on a refused connection, half-open probe after the wait, close on
// success, doubling wait after a failed probe, threshold, disabled. Time is a ManualScheduler.
#include "dubbo/cluster/circuit_breaker.h"

#include <gtest/gtest.h>

#include <chrono>

#include "dubbo/registry/manual_scheduler.h"

namespace dubbo::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using State = CircuitBreaker::State;

TEST(ClusterCircuitBreaker, OpensAtOnceAndClosesAfterASuccessfulProbe) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker;
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.TryAcquire(clock));
  breaker.OnConnectFailure(clock);
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_EQ(breaker.times_opened(), 1u);
  EXPECT_FALSE(breaker.IsAvailable(clock));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  clock.AdvanceBy(milliseconds(999));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  clock.AdvanceBy(milliseconds(1));
  EXPECT_TRUE(breaker.IsAvailable(clock));
  EXPECT_TRUE(breaker.TryAcquire(clock));  // the probe
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker.IsAvailable(clock));  // one probe at a time
  EXPECT_FALSE(breaker.TryAcquire(clock));
  breaker.OnSuccess();
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.TryAcquire(clock));
}

TEST(ClusterCircuitBreaker, FailedProbeDoublesTheWaitUpToTheCap) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.open_duration = seconds(1);
  options.max_open_duration = seconds(3);
  CircuitBreaker breaker(options);
  breaker.OnConnectFailure(clock);
  clock.AdvanceBy(seconds(1));
  ASSERT_TRUE(breaker.TryAcquire(clock));
  breaker.OnConnectFailure(clock);  // probe failed: wait 2 s
  EXPECT_EQ(breaker.state(), State::kOpen);
  clock.AdvanceBy(milliseconds(1999));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  clock.AdvanceBy(milliseconds(1));
  ASSERT_TRUE(breaker.TryAcquire(clock));
  breaker.OnConnectFailure(clock);  // wait 4 s, capped at 3 s
  clock.AdvanceBy(milliseconds(2999));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  clock.AdvanceBy(milliseconds(1));
  ASSERT_TRUE(breaker.TryAcquire(clock));
  EXPECT_EQ(breaker.times_opened(), 3u);
  breaker.OnSuccess();
  // Closed again; the next opening starts from open_duration.
  breaker.OnConnectFailure(clock);
  clock.AdvanceBy(seconds(1));
  EXPECT_TRUE(breaker.TryAcquire(clock));
}

TEST(ClusterCircuitBreaker, UnreportedProbeIsRetriedAfterTheWait) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker;
  breaker.OnConnectFailure(clock);
  clock.AdvanceBy(seconds(1));
  ASSERT_TRUE(breaker.TryAcquire(clock));  // this probe never reports back
  clock.AdvanceBy(milliseconds(500));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  clock.AdvanceBy(milliseconds(500));
  EXPECT_TRUE(breaker.TryAcquire(clock));
}

TEST(ClusterCircuitBreaker, ThresholdCountsConsecutiveFailures) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.failure_threshold = 3;
  CircuitBreaker breaker(options);
  breaker.OnConnectFailure(clock);
  breaker.OnConnectFailure(clock);
  breaker.OnSuccess();  // resets the count
  breaker.OnConnectFailure(clock);
  breaker.OnConnectFailure(clock);
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.OnConnectFailure(clock);
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(ClusterCircuitBreaker, DisabledNeverOpens) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.enabled = false;
  CircuitBreaker breaker(options);
  for (int i = 0; i < 10; ++i) breaker.OnConnectFailure(clock);
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.TryAcquire(clock));
}

}  // namespace
}  // namespace dubbo::cluster
