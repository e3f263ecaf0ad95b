// Tests for CircuitBreaker: ejection on a refused connection and after consecutive timeouts, the
// half-open probe after the ejection time, close on success, the ejection time growing by one base
// per consecutive ejection up to the cap and shrinking again after healthy time, thresholds,
// disabled. Time is a ManualScheduler.
#include "dubbo/cluster/circuit_breaker.h"

#include <gtest/gtest.h>

#include <chrono>

#include "dubbo/registry/manual_scheduler.h"

namespace dubbo::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using State = CircuitBreaker::State;

// What FailoverCluster does with a failure when no ejection cap is in the way.
void Fail(CircuitBreaker& breaker, const registry::Clock& clock,
          FailureKind kind = FailureKind::kConnect) {
  if (breaker.OnFailure(kind, clock)) breaker.Eject(clock);
}

// Advances to just before the probe is due, checks that it is not, then to the moment it is.
void ExpectProbeDueAfter(CircuitBreaker& breaker, registry::ManualScheduler& clock,
                         milliseconds wait) {
  clock.AdvanceBy(wait - milliseconds(1));
  EXPECT_FALSE(breaker.TryAcquire(clock)) << "probe admitted before " << wait.count() << " ms";
  clock.AdvanceBy(milliseconds(1));
  EXPECT_TRUE(breaker.TryAcquire(clock)) << "no probe after " << wait.count() << " ms";
}

CircuitBreakerOptions EjectionTimes(seconds base, seconds cap) {
  CircuitBreakerOptions options;
  options.open_duration = base;
  options.max_open_duration = cap;
  return options;
}

// A failure that ejects (the `ejections`-th time in a row), then the probe due after `wait`.
void EjectThenProbeAfter(CircuitBreaker& breaker, registry::ManualScheduler& clock, int ejections,
                         milliseconds wait, FailureKind kind = FailureKind::kConnect) {
  Fail(breaker, clock, kind);
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_EQ(breaker.ejections(), ejections);
  ExpectProbeDueAfter(breaker, clock, wait);
}

TEST(ClusterCircuitBreaker, OpensAtOnceAndClosesAfterASuccessfulProbe) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker;
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.TryAcquire(clock));
  EXPECT_TRUE(breaker.OnFailure(FailureKind::kConnect, clock));
  EXPECT_EQ(breaker.state(), State::kClosed);  // counting does not eject by itself
  EXPECT_TRUE(breaker.Eject(clock));
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_EQ(breaker.times_opened(), 1u);
  EXPECT_FALSE(breaker.IsAvailable(clock));
  EXPECT_FALSE(breaker.TryAcquire(clock));
  EXPECT_FALSE(breaker.Eject(clock));  // already open
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

TEST(ClusterCircuitBreaker, ATimeoutCountsAsAFailure) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.timeout_threshold = 3;
  CircuitBreaker breaker(options);
  EXPECT_FALSE(breaker.OnFailure(FailureKind::kTimeout, clock));
  EXPECT_FALSE(breaker.OnFailure(FailureKind::kTimeout, clock));
  EXPECT_TRUE(breaker.OnFailure(FailureKind::kTimeout, clock));  // third in a row: eject
  EXPECT_TRUE(breaker.Eject(clock));
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(ClusterCircuitBreaker, ATimedOutProbeEjectsAgain) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker;
  Fail(breaker, clock);
  clock.AdvanceBy(seconds(1));
  ASSERT_TRUE(breaker.TryAcquire(clock));
  // A probe failure ejects at once, whatever the kind and the threshold.
  EXPECT_FALSE(breaker.OnFailure(FailureKind::kTimeout, clock));
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_EQ(breaker.ejections(), 2);
}

TEST(ClusterCircuitBreaker, FailuresOfBothKindsAreConsecutiveTogether) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.failure_threshold = 3;
  options.timeout_threshold = 3;
  CircuitBreaker breaker(options);
  EXPECT_FALSE(breaker.OnFailure(FailureKind::kTimeout, clock));
  EXPECT_FALSE(breaker.OnFailure(FailureKind::kConnect, clock));
  EXPECT_TRUE(breaker.OnFailure(FailureKind::kTimeout, clock));
}

TEST(ClusterCircuitBreaker, EjectionTimeGrowsByOneBasePerEjectionUpToTheCap) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker(EjectionTimes(seconds(1), seconds(3)));
  EjectThenProbeAfter(breaker, clock, 1, seconds(1));
  EjectThenProbeAfter(breaker, clock, 2, seconds(2));  // the probe failed: second ejection
  EjectThenProbeAfter(breaker, clock, 3, seconds(3));  // third: 3 s, the cap
  EjectThenProbeAfter(breaker, clock, 4, seconds(3), FailureKind::kTimeout);  // 4 s, capped
  EXPECT_EQ(breaker.times_opened(), 4u);
  breaker.OnSuccess();
  // Closed again at once, but the ejections are remembered: the next one is the fifth (capped).
  EjectThenProbeAfter(breaker, clock, 5, seconds(3));
}

TEST(ClusterCircuitBreaker, HealthyTimeForgivesPastEjections) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker(EjectionTimes(seconds(1), seconds(10)));
  EjectThenProbeAfter(breaker, clock, 1, seconds(1));
  EjectThenProbeAfter(breaker, clock, 2, seconds(2));
  EjectThenProbeAfter(breaker, clock, 3, seconds(3));
  breaker.OnSuccess();  // closed after 3 ejections
  // 20 s closed (2 × max_open_duration) forgive two of them: the next ejection is the second.
  clock.AdvanceBy(seconds(20));
  EjectThenProbeAfter(breaker, clock, 2, seconds(2));
  breaker.OnSuccess();
  // A long healthy time forgives them all.
  clock.AdvanceBy(seconds(100));
  EjectThenProbeAfter(breaker, clock, 1, seconds(1));
}

TEST(ClusterCircuitBreaker, UnreportedProbeIsRetriedAfterTheWait) {
  registry::ManualScheduler clock;
  CircuitBreaker breaker;
  Fail(breaker, clock);
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
  Fail(breaker, clock);
  Fail(breaker, clock);
  breaker.OnSuccess();  // resets the count
  Fail(breaker, clock);
  Fail(breaker, clock);
  EXPECT_EQ(breaker.state(), State::kClosed);
  Fail(breaker, clock);
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(ClusterCircuitBreaker, DisabledNeverOpens) {
  registry::ManualScheduler clock;
  CircuitBreakerOptions options;
  options.enabled = false;
  CircuitBreaker breaker(options);
  for (int i = 0; i < 10; ++i) Fail(breaker, clock);
  EXPECT_FALSE(breaker.Eject(clock));
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.TryAcquire(clock));
}

}  // namespace
}  // namespace dubbo::cluster
