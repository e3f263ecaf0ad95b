// Tests for FailoverCluster: retries go to providers not yet tried, error classification, retries
// from the URL, statistics, and the circuit breaker taking a refusing provider out of the rotation
// until a probe succeeds. Round robin keeps the picks deterministic; time is a ManualScheduler.
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
  ClusterFailover() {
    ProviderDirectoryOptions options;
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

  // Invokes once; `refusing` addresses answer kUnavailable. Returns the addresses called, in order.
  std::vector<std::string> InvokeOnce(const FailoverCluster& cluster,
                                      const std::set<std::string>& refusing,
                                      Status* result = nullptr, const Invocation& invocation = {}) {
    std::vector<std::string> called;
    Status s = cluster.Invoke(invocation, [&](const Provider& p) {
      called.push_back(p.address());
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
  Status s = cluster->Invoke({}, [&](const Provider& p) {
    outer.push_back(p.address());
    if (outer.size() > 1) return Status();  // The retry succeeds.
    // Nested, while the list changes: the inner invocation sees the new list, and the outer
    // provider (still referenced) stays valid.
    directory_->Notify({ProviderUrl("10.0.0.9:1")});
    Status nested = cluster->Invoke({}, [&](const Provider& q) {
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
  auto cluster = MakeCluster("loadbalance=random");
  for (int round = 0; round < 50; ++round) {
    Status s;
    std::vector<std::string> called =
        InvokeOnce(*cluster, {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}, &s);
    ASSERT_EQ(called.size(), 3u);  // 1 + retries(2)
    EXPECT_EQ(std::set<std::string>(called.begin(), called.end()).size(), 3u);
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    // Breakers are open now; reset them for the next round.
    for (const Provider& p : directory_->snapshot()->providers()) p.breaker().OnSuccess();
  }
}

TEST_F(ClusterFailover, NeverRepeatsAProviderEvenWithRetriesLeft) {
  directory_->Notify({ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1")});
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=5");
  Status s;
  std::vector<std::string> called = InvokeOnce(*cluster, {"10.0.0.1:1", "10.0.0.2:1"}, &s);
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("after 2 attempt(s) of 6 on [10.0.0.1:1, 10.0.0.2:1]"));
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
  Status s = cluster->Invoke({}, [&](const Provider&) {
    ++calls;
    return registry::InvalidArgumentError("bad request");
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(s, registry::InvalidArgumentError("bad request"));
}

TEST_F(ClusterFailover, TimeoutsAreRetriedWithoutOpeningTheBreaker) {
  auto cluster = MakeCluster();
  int calls = 0;
  Status s = cluster->Invoke({}, [&](const Provider&) {
    ++calls;
    return registry::DeadlineExceededError("timeout");
  });
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded);
  for (const Provider& p : directory_->snapshot()->providers()) {
    EXPECT_EQ(p.breaker().state(), CircuitBreaker::State::kClosed);
    EXPECT_EQ(p.stats().failed(), 1u);
  }
}

TEST_F(ClusterFailover, ExceptionsFromTheCallBecomeInternalErrors) {
  auto cluster = MakeCluster("loadbalance=roundrobin&retries=0");
  Status s =
      cluster->Invoke({}, [&](const Provider&) -> Status { throw std::runtime_error("boom"); });
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
  Status s = cluster->Invoke({}, [&](const Provider&) {
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
  Status s = cluster->Invoke({}, [&](const Provider& p) {
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

TEST_F(ClusterFailover, AllBreakersOpenFailsFastThenProbes) {
  auto cluster = MakeCluster();
  Status s;
  InvokeOnce(*cluster, {"10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"}, &s);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_TRUE(InvokeOnce(*cluster, {}, &s).empty());
  EXPECT_THAT(std::string(s.message()), HasSubstr("No provider available"));
  clock_.AdvanceBy(std::chrono::seconds(1));
  EXPECT_EQ(InvokeOnce(*cluster, {}, &s).size(), 1u);
  EXPECT_TRUE(s.ok());
}

TEST_F(ClusterFailover, SelectHonoursBreakersAndKeepsTheSnapshot) {
  auto cluster = MakeCluster();
  (*directory_->snapshot())[0].breaker().OnConnectFailure(clock_);
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
