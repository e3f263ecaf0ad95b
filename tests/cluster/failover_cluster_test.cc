// Tests for FailoverCluster: retries go to providers not yet tried, error classification, retries
// and timeouts from the URL, statistics, the circuit breaker taking a refusing or hung provider out
// of the rotation until a probe succeeds, the ejection cap, latency ejection, and failed probes
// being retried elsewhere. Round robin keeps the picks deterministic; time is a ManualScheduler.
#include "dubbo/cluster/failover_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/status.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using registry::Status;
using registry::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class ClusterFailover : public ::testing::Test {
 protected:
  ClusterFailover() { MakeDirectory(ProviderDirectoryOptions()); }

  void MakeDirectory(ProviderDirectoryOptions options) {
    options.clock = &clock_;
    directory_ = std::make_shared<ProviderDirectory>(options);
    directory_->Notify(
        {ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1"), ProviderUrl("10.0.0.3:1")});
  }

  std::unique_ptr<FailoverCluster> MakeCluster(
      const std::string& query = "loadbalance=roundrobin") {
    registry::Result<std::unique_ptr<FailoverCluster>> cluster = FailoverCluster::Create(
        directory_, MustParse("consumer://10.0.0.9/com.foo.Greeter?" + query));
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    return std::move(*cluster);
  }

  // Invokes once; `refusing` addresses answer kUnavailable after 1 ms, `hung` ones
  // kDeadlineExceeded after the attempt's timeout, the others OK after 1 ms. Returns the addresses
  // called, in order.
  std::vector<std::string> InvokeOnce(const FailoverCluster& cluster,
                                      const std::set<std::string>& refusing,
                                      Status* result = nullptr, const Invocation& invocation = {},
                                      const std::set<std::string>& hung = {}) {
    std::vector<std::string> called;
    Status s = cluster.Invoke(invocation, [&](const Provider& p, const Attempt& attempt) {
      called.push_back(p.address());
      if (hung.count(p.address())) {
        clock_.AdvanceBy(attempt.timeout);
        return registry::DeadlineExceededError("timed out");
      }
      clock_.AdvanceBy(std::chrono::milliseconds(1));
      return refusing.count(p.address()) ? registry::UnavailableError("connection refused")
                                         : Status();
    });
    if (result != nullptr) *result = s;
    return called;
  }

  registry::ManualScheduler clock_;
  std::shared_ptr<ProviderDirectory> directory_;
};

TEST_F(ClusterFailover, SucceedsOnTheFirstProvider) {
  auto cluster = MakeCluster();
  Status s;
  EXPECT_THAT(InvokeOnce(*cluster, {}, &s), ElementsAre("10.0.0.1:1"));
  EXPECT_TRUE(s.ok());
  EXPECT_THAT(InvokeOnce(*cluster, {}), ElementsAre("10.0.0.2:1"));
}

TEST_F(ClusterFailover, SeesEveryDirectoryUpdateBetweenCalls) {
  auto cluster = MakeCluster();
  EXPECT_THAT(InvokeOnce(*cluster, {}), ElementsAre("10.0.0.1:1"));
  directory_->Notify({ProviderUrl("10.0.0.7:1")});
  EXPECT_THAT(InvokeOnce(*cluster, {}), ElementsAre("10.0.0.7:1"));
  directory_->Notify({ProviderUrl("10.0.0.8:1")});
  EXPECT_THAT(InvokeOnce(*cluster, {}), ElementsAre("10.0.0.8:1"));
}

TEST_F(ClusterFailover, ACallMayInvokeTheSameClusterAgainWhileTheListChanges) {
  auto cluster = MakeCluster();
  std::vector<std::string> outer, inner;
  Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt&) {
    outer.push_back(p.address());
    if (outer.size() > 1) return Status();  // The retry succeeds.
    // Nested, while the list changes: the inner invocation sees the new list, and the outer
    // provider (still referenced) stays valid.
    directory_->Notify({ProviderUrl("10.0.0.9:1")});
    Status nested = cluster->Invoke({}, [&](const Provider& q, const Attempt&) {
      inner.push_back(q.address());
      return Status();
    });
    EXPECT_TRUE(nested.ok());
    EXPECT_EQ(p.address(), "10.0.0.1:1");
    return registry::UnavailableError("refused");  // The outer one retries on the new list.
  });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_THAT(outer, ElementsAre("10.0.0.1:1", "10.0.0.9:1"));
  EXPECT_THAT(inner, ElementsAre("10.0.0.9:1"));
}

TEST_F(ClusterFailover, ManyClustersOnOneThread) {
  std::vector<std::unique_ptr<FailoverCluster>> clusters;
  for (int i = 0; i < 20; ++i) clusters.push_back(MakeCluster());
  for (int round = 0; round < 3; ++round) {
    for (auto& c : clusters) EXPECT_EQ(InvokeOnce(*c, {}).size(), 1u);
  }
  clusters.clear();
  auto fresh = MakeCluster();
  EXPECT_THAT(InvokeOnce(*fresh, {}), ElementsAre("10.0.0.1:1"));
}

TEST_F(ClusterFailover, RetriesGoToProvidersNotYetTried) {
  ProviderDirectoryOptions options;
  options.outlier.max_ejection_percent = 0;  // nobody ejected: every round starts alike
  MakeDirectory(options);
  auto cluster = MakeCluster("loadbalance=random");
  for (int round = 0; round < 50; ++round) {
    Status s;
    std::vector<std::string> called =
        InvokeOnce(*cluster, {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}, &s);
    ASSERT_EQ(called.size(), 3u);  // 1 + retries(2)
    EXPECT_EQ(std::set<std::string>(called.begin(), called.end()).size(), 3u);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  }
}

TEST_F(ClusterFailover, NeverRepeatsAProviderEvenWithRetriesLeft) {
  directory_->Notify({ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1")});
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=5");
  Status s;
  std::vector<std::string> called = InvokeOnce(*cluster, {"10.0.0.1:1", "10.0.0.2:1"}, &s);
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(
      std::string(s.message()),
      HasSubstr("after 2 attempt(s) (6 allowed, probes not counted) on [10.0.0.1:1, 10.0.0.2:1]"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("connection refused"));
}

TEST_F(ClusterFailover, FailsOverThenSucceeds) {
  auto cluster = MakeCluster();
  Status s;
  EXPECT_THAT(InvokeOnce(*cluster, {"10.0.0.1:1"}, &s), ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  EXPECT_TRUE(s.ok());
}

TEST_F(ClusterFailover, BusinessErrorsAreNotRetried) {
  auto cluster = MakeCluster();
  int calls = 0;
  Status s = cluster->Invoke({}, [&](const Provider&, const Attempt&) {
    ++calls;
    return registry::InvalidArgumentError("bad request");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s, registry::InvalidArgumentError("bad request"));
}

TEST_F(ClusterFailover, TimeoutsAreRetriedAndCountAsBreakerFailures) {
  auto cluster = MakeCluster();  // round robin over .1 .2 .3; timeout_threshold 3
  const std::set<std::string> hung = {"10.0.0.1:1"};
  const Provider& first = (*directory_->snapshot())[0];
  int timeouts = 0;
  for (int i = 0; i < 100 && timeouts < 3; ++i) {
    EXPECT_EQ(first.breaker().state(), CircuitBreaker::State::kClosed) << timeouts << " timeouts";
    Status s;
    const std::vector<std::string> called = InvokeOnce(*cluster, {}, &s, {}, hung);
    EXPECT_TRUE(s.ok()) << s;
    if (called.front() == "10.0.0.1:1") {
      ++timeouts;
      ASSERT_EQ(called.size(), 2u);  // retried on another provider
      EXPECT_NE(called[1], "10.0.0.1:1");
    }
  }
  ASSERT_EQ(timeouts, 3);
  EXPECT_EQ(first.breaker().state(), CircuitBreaker::State::kOpen);  // the third ejected it
  EXPECT_EQ(first.stats().failed(), 3u);
  // Out of the rotation: no call goes to it any more until its probe is due.
  for (int i = 0; i < 20; ++i) {
    EXPECT_THAT(InvokeOnce(*cluster, {}, nullptr, {}, hung),
                ::testing::Not(::testing::Contains("10.0.0.1:1")));
  }
}

TEST_F(ClusterFailover, EveryAttemptGetsTheTimeoutFromTheUrlMethodLevelFirst) {
  auto cluster =
      MakeCluster("loadbalance=roundrobin&timeout=2500&Greet.timeout=300&Bye.timeout=-5");
  Invocation plain;
  EXPECT_EQ(cluster->TimeoutFor(plain), std::chrono::milliseconds(2500));
  Invocation greet;
  greet.method = "Greet";
  EXPECT_EQ(cluster->TimeoutFor(greet), std::chrono::milliseconds(300));
  Invocation other;
  other.method = "Other";
  EXPECT_EQ(cluster->TimeoutFor(other), std::chrono::milliseconds(2500));
  Invocation bye;  // not positive: the default
  bye.method = "Bye";
  EXPECT_EQ(cluster->TimeoutFor(bye), std::chrono::milliseconds(1000));
  Invocation overridden;
  overridden.method = "Greet";
  overridden.timeout = std::chrono::milliseconds(40);
  EXPECT_EQ(cluster->TimeoutFor(overridden), std::chrono::milliseconds(40));
  EXPECT_EQ(MakeCluster()->TimeoutFor(plain), std::chrono::milliseconds(1000));  // the default
  EXPECT_EQ(MakeCluster("timeout=abc")->TimeoutFor(plain), std::chrono::milliseconds(1000));

  // The call sees it, with the deadline on the cluster's clock, on every attempt.
  std::vector<Attempt> attempts;
  const registry::TimePoint start = clock_.Now();
  Status s = cluster->Invoke(greet, [&](const Provider&, const Attempt& attempt) {
    attempts.push_back(attempt);
    return attempts.size() == 1 ? registry::UnavailableError("refused") : Status();
  });
  EXPECT_TRUE(s.ok());
  ASSERT_EQ(attempts.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(attempts[i].timeout, std::chrono::milliseconds(300));
    EXPECT_EQ(attempts[i].deadline, start + std::chrono::milliseconds(300));
    EXPECT_EQ(attempts[i].index, i);
    EXPECT_FALSE(attempts[i].probe);
  }
  // A fixed option overrides the URL.
  FailoverClusterOptions options;
  options.timeout = std::chrono::milliseconds(70);
  auto fixed = std::move(*FailoverCluster::Create(
      directory_, MustParse("consumer://h/com.foo.Greeter?timeout=2500&Greet.timeout=300"),
      options));
  EXPECT_EQ(fixed->TimeoutFor(greet), std::chrono::milliseconds(70));
}

TEST_F(ClusterFailover, AProbeThatTimesOutIsRetriedOnAnotherProviderWithoutUsingARetry) {
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=0");
  const std::set<std::string> hung = {"10.0.0.1:1"};
  const Provider& first = (*directory_->snapshot())[0];
  first.breaker().OnFailure(FailureKind::kConnect, clock_);
  ASSERT_TRUE(directory_->TryEject(first, clock_));
  clock_.AdvanceBy(std::chrono::seconds(1));  // the probe is due
  // Round robin comes to .1 after .2 and .3 (which take its turns while it is out).
  std::vector<std::vector<std::string>> calls;
  std::vector<Attempt> seen;
  for (int i = 0; i < 3; ++i) {
    Status s;
    calls.push_back(InvokeOnce(*cluster, {}, &s, {}, hung));
    EXPECT_TRUE(s.ok()) << "a failed probe must not fail the call: " << s;
  }
  int probes = 0;
  for (const auto& c : calls) {
    if (c.front() != "10.0.0.1:1") {
      EXPECT_EQ(c.size(), 1u);
      continue;
    }
    ++probes;
    ASSERT_EQ(c.size(), 2u) << "retries=0, yet the failed probe was retried elsewhere";
    EXPECT_NE(c[1], "10.0.0.1:1");
  }
  EXPECT_EQ(probes, 1);
  EXPECT_EQ(first.breaker().state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(first.breaker().ejections(), 2);
}

TEST_F(ClusterFailover, AProbeIsFlaggedAndAnsweredProbeRejoins) {
  auto cluster = MakeCluster("loadbalance=roundrobin");
  const Provider& first = (*directory_->snapshot())[0];
  first.breaker().OnFailure(FailureKind::kTimeout, clock_);
  ASSERT_TRUE(directory_->TryEject(first, clock_));
  clock_.AdvanceBy(std::chrono::seconds(1));
  int probes = 0;
  for (int i = 0; i < 6; ++i) {
    Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt& attempt) {
      EXPECT_EQ(attempt.probe, &p == &first && probes == 0) << p.address();
      if (attempt.probe) ++probes;
      return Status();
    });
    EXPECT_TRUE(s.ok());
  }
  EXPECT_EQ(probes, 1);
  EXPECT_EQ(first.breaker().state(), CircuitBreaker::State::kClosed);
}

TEST_F(ClusterFailover, ExceptionsFromTheCallBecomeInternalErrors) {
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=0");
  Status s = cluster->Invoke(
      {}, [&](const Provider&, const Attempt&) -> Status { throw std::runtime_error("boom"); });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("boom"));
  EXPECT_EQ((*directory_->snapshot())[0].stats().active(), 0);
}

TEST_F(ClusterFailover, RetriesComeFromTheUrlTheMethodAndTheInvocation) {
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=1&sayHello.retries=0");
  Invocation plain;
  EXPECT_EQ(cluster->RetriesFor(plain), 1);
  Invocation say_hello;
  say_hello.method = "sayHello";
  EXPECT_EQ(cluster->RetriesFor(say_hello), 0);
  Invocation other;
  other.method = "other";
  EXPECT_EQ(cluster->RetriesFor(other), 1);
  Invocation overridden;
  overridden.retries = 4;
  EXPECT_EQ(cluster->RetriesFor(overridden), 4);
  EXPECT_EQ(MakeCluster()->RetriesFor(plain), 2);  // the default
  EXPECT_EQ(MakeCluster("retries=-3")->RetriesFor(plain), 0);
}

TEST_F(ClusterFailover, NoProviderIsUnavailable) {
  directory_->Notify({registry::URL::Empty("com.foo.Greeter", "providers")});
  auto cluster = MakeCluster();
  bool called = false;
  Status s = cluster->Invoke({}, [&](const Provider&, const Attempt&) {
    called = true;
    return Status();
  });
  EXPECT_FALSE(called);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("No provider available for com.foo.Greeter"));
  EXPECT_FALSE(cluster->Select({}).ok());
}

TEST_F(ClusterFailover, UnknownLoadBalancerIsInvalidArgument) {
  registry::Result<std::unique_ptr<FailoverCluster>> cluster = FailoverCluster::Create(
      directory_, MustParse("consumer://h/com.foo.Greeter?loadbalance=nope"));
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.status().code(), StatusCode::kInvalidArgument);
  FailoverClusterOptions options;
  options.loadbalance = "leastactive";
  cluster = FailoverCluster::Create(
      directory_, MustParse("consumer://h/com.foo.Greeter?loadbalance=nope"), options);
  ASSERT_TRUE(cluster.ok());
  EXPECT_EQ((*cluster)->load_balancer().name(), "leastactive");
  EXPECT_FALSE(FailoverCluster::Create(nullptr, registry::URL()).ok());
}

TEST_F(ClusterFailover, StatisticsAreKept) {
  auto cluster = MakeCluster();
  InvokeOnce(*cluster, {});
  const Provider& first = (*directory_->snapshot())[0];
  EXPECT_EQ(first.stats().active(), 0);
  EXPECT_EQ(first.stats().succeeded(), 1u);
  EXPECT_EQ(first.stats().WindowMeanNanos(), 1'000'000);  // the call advanced the clock by 1 ms
  int active_during_call = -1;
  Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt&) {
    active_during_call = p.stats().active();
    return Status();
  });
  EXPECT_EQ(active_during_call, 1);
}

TEST_F(ClusterFailover, RefusingProviderLeavesTheRotationAndRejoinsAfterAProbe) {
  auto cluster = MakeCluster();  // round robin over .1 .2 .3
  Status s;
  // .1 refuses: its breaker opens, the call fails over to .2.
  EXPECT_THAT(InvokeOnce(*cluster, {"10.0.0.1:1"}, &s), ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  EXPECT_TRUE(s.ok());
  EXPECT_EQ((*directory_->snapshot())[0].breaker().state(), CircuitBreaker::State::kOpen);
  // From now on .1 gets no calls at all, however many are made.
  std::map<std::string, int> counts;
  for (int i = 0; i < 30; ++i) {
    for (const std::string& a : InvokeOnce(*cluster, {"10.0.0.1:1"})) ++counts[a];
  }
  EXPECT_EQ(counts.count("10.0.0.1:1"), 0u);
  EXPECT_EQ(counts["10.0.0.2:1"] + counts["10.0.0.3:1"], 30);
  EXPECT_NEAR(counts["10.0.0.2:1"], 15, 1);
  // After the wait (1 s; the calls above advanced the clock 30 ms) one call probes .1; it still
  // refuses.
  clock_.AdvanceBy(std::chrono::seconds(1));
  counts.clear();
  for (int i = 0; i < 6; ++i) {
    for (const std::string& a : InvokeOnce(*cluster, {"10.0.0.1:1"})) ++counts[a];
  }
  EXPECT_EQ(counts["10.0.0.1:1"], 1);
  EXPECT_EQ((*directory_->snapshot())[0].breaker().state(), CircuitBreaker::State::kOpen);
  // Next wait is 2 s. Then .1 accepts again: the probe succeeds and it is back in the rotation.
  clock_.AdvanceBy(std::chrono::seconds(2));
  counts.clear();
  for (int i = 0; i < 30; ++i) {
    for (const std::string& a : InvokeOnce(*cluster, {})) ++counts[a];
  }
  EXPECT_EQ((*directory_->snapshot())[0].breaker().state(), CircuitBreaker::State::kClosed);
  EXPECT_NEAR(counts["10.0.0.1:1"], 10, 1);
}

TEST_F(ClusterFailover, TheEjectionCapKeepsProvidersInTheRotation) {
  // Default 50 % of 3 providers: one may be ejected.
  auto cluster = MakeCluster();
  const std::set<std::string> all = {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"};
  Status s;
  EXPECT_EQ(InvokeOnce(*cluster, all, &s).size(), 3u);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  auto open_count = [&] {
    int open = 0;
    for (const Provider& p : directory_->snapshot()->providers()) open += !p.breaker().closed();
    return open;
  };
  EXPECT_EQ(open_count(), 1);
  // The two others keep being tried (and failing fast) instead of being ejected too.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(InvokeOnce(*cluster, all, &s).size(), 2u);
  EXPECT_EQ(open_count(), 1);
  EXPECT_FALSE(directory_->TryEject((*directory_->snapshot())[1], clock_));

  // 100 %: still never all of them.
  ProviderDirectoryOptions options;
  options.outlier.max_ejection_percent = 100;
  MakeDirectory(options);
  cluster = MakeCluster();
  InvokeOnce(*cluster, all, &s);
  EXPECT_EQ(open_count(), 2);
  EXPECT_THAT(InvokeOnce(*cluster, all, &s), ElementsAre("10.0.0.3:1"));  // the one left
  // 0 %: no ejection at all.
  options.outlier.max_ejection_percent = 0;
  MakeDirectory(options);
  cluster = MakeCluster();
  InvokeOnce(*cluster, all, &s);
  EXPECT_EQ(open_count(), 0);
  // A single provider is never ejected.
  options.outlier.max_ejection_percent = 100;
  MakeDirectory(options);
  directory_->Notify({ProviderUrl("10.0.0.1:1")});
  cluster = MakeCluster();
  InvokeOnce(*cluster, all, &s);
  InvokeOnce(*cluster, all, &s);
  EXPECT_EQ(open_count(), 0);
}

TEST_F(ClusterFailover, ASlowProviderIsEjectedForLatency) {
  ProviderDirectoryOptions options;
  options.outlier.latency_interval = std::chrono::seconds(10);
  options.outlier.latency_min_requests = 5;
  MakeDirectory(options);  // latency_factor 3, latency_min 100 ms
  auto cluster = MakeCluster();
  const Provider& slow = (*directory_->snapshot())[1];
  auto run = [&](std::chrono::milliseconds slow_latency, int calls) {
    for (int i = 0; i < calls; ++i) {
      Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt&) {
        clock_.AdvanceBy(&p == &slow ? slow_latency : std::chrono::milliseconds(2));
        return Status();
      });
      ASSERT_TRUE(s.ok());
    }
  };
  // The first call sets the baseline; each run below is shorter than the interval, and the first
  // call after the interval compares.
  // 80 ms against 2 ms is 40×, but under latency_min: kept.
  run(std::chrono::milliseconds(80), 30);
  clock_.AdvanceBy(std::chrono::seconds(10));
  run(std::chrono::milliseconds(80), 1);
  EXPECT_EQ(slow.breaker().state(), CircuitBreaker::State::kClosed);
  // 150 ms: over both bounds. The comparison after the next interval ejects it.
  run(std::chrono::milliseconds(150), 30);
  EXPECT_EQ(slow.breaker().state(), CircuitBreaker::State::kClosed);
  clock_.AdvanceBy(std::chrono::seconds(10));
  run(std::chrono::milliseconds(150), 1);
  EXPECT_EQ(slow.breaker().state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ((*directory_->snapshot())[0].breaker().state(), CircuitBreaker::State::kClosed);
  EXPECT_EQ((*directory_->snapshot())[2].breaker().state(), CircuitBreaker::State::kClosed);
}

TEST_F(ClusterFailover, LatencyIsNotJudgedWithTooFewProviders) {
  ProviderDirectoryOptions options;
  options.outlier.latency_min_requests = 5;
  MakeDirectory(options);
  directory_->Notify({ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1")});
  auto cluster = MakeCluster();
  const Provider& slow = (*directory_->snapshot())[1];
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 20; ++i) {
      Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt&) {
        clock_.AdvanceBy(&p == &slow ? std::chrono::milliseconds(500)
                                     : std::chrono::milliseconds(1));
        return Status();
      });
      EXPECT_TRUE(s.ok());
    }
    clock_.AdvanceBy(std::chrono::seconds(1));
  }
  EXPECT_EQ(slow.breaker().state(), CircuitBreaker::State::kClosed);  // 2 < latency_min_providers
}

TEST_F(ClusterFailover, SelectHonoursBreakersAndKeepsTheSnapshot) {
  auto cluster = MakeCluster();
  ASSERT_TRUE(directory_->TryEject((*directory_->snapshot())[0], clock_));
  for (int i = 0; i < 10; ++i) {
    registry::Result<Selection> selection = cluster->Select({});
    ASSERT_TRUE(selection.ok());
    EXPECT_NE(selection->provider->address(), "10.0.0.1:1");
    directory_->Notify({ProviderUrl("10.0.0." + std::to_string(4 + i) + ":1")});
    EXPECT_FALSE(selection->provider->address().empty());  // still alive: the selection holds it
  }
}

}  // namespace
}  // namespace dubbo::cluster
