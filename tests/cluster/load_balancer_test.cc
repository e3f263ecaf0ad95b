// Tests for the load balancers: selection by name, weighted random distribution, the exact smooth
// round-robin sequence, least-active and shortest-response tie-breaks, consistent-hash stability,
// warm-up weights, filters and empty snapshots. Randomness is a SeededRandom, so every run is the
// same.
#include "dubbo/cluster/load_balancer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/cluster/invocation.h"
#include "dubbo/cluster/provider.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/status.h"
#include "internal/md5.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::IndexOf;
using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using ::dubbo::cluster::testing::WeightedSnapshot;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<LoadBalancer> Make(std::string_view name, RandomSource* random,
                                   const registry::URL& config = registry::URL()) {
  LoadBalancerOptions options;
  options.random = random;
  options.config = config;
  registry::Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create(name, options);
  EXPECT_TRUE(lb.ok()) << lb.status();
  return std::move(*lb);
}

// Excludes the providers whose index is listed.
class ExcludeIndexes final : public ProviderFilter {
 public:
  explicit ExcludeIndexes(std::vector<size_t> excluded) : excluded_(std::move(excluded)) {}
  bool Allowed(size_t index, const Provider& /*provider*/) const override {
    for (size_t e : excluded_) {
      if (e == index) return false;
    }
    return true;
  }

 private:
  std::vector<size_t> excluded_;
};

std::vector<int> Counts(const LoadBalancer& lb, const ProviderSnapshot& snapshot, int picks,
                        const ProviderFilter* filter = nullptr) {
  std::vector<int> counts(snapshot.size(), 0);
  for (int i = 0; i < picks; ++i) {
    const int index = IndexOf(snapshot, lb.Select(snapshot, Invocation(), filter));
    EXPECT_GE(index, 0);
    if (index >= 0) ++counts[index];
  }
  return counts;
}

// Dubbo's smooth weighted round robin, written as Dubbo's algorithm states it, as the reference.
std::vector<int> ReferenceRoundRobin(const std::vector<int>& weights, int picks) {
  std::vector<long long> current(weights.size(), 0);
  long long total = 0;
  for (int w : weights) total += w;
  std::vector<int> order;
  for (int p = 0; p < picks; ++p) {
    int best = -1;
    for (size_t i = 0; i < weights.size(); ++i) {
      current[i] += weights[i];
      if (best < 0 || current[i] > current[best]) best = static_cast<int>(i);
    }
    current[best] -= total;
    order.push_back(best);
  }
  return order;
}

std::vector<int> Sequence(const LoadBalancer& lb, const ProviderSnapshot& snapshot, int picks) {
  std::vector<int> order;
  for (int i = 0; i < picks; ++i)
    order.push_back(IndexOf(snapshot, lb.Select(snapshot, Invocation())));
  return order;
}

TEST(ClusterLoadBalancer, CreatesEveryNamedAlgorithm) {
  SeededRandom rng(1);
  for (std::string_view name : LoadBalancer::Names()) {
    std::unique_ptr<LoadBalancer> lb = Make(name, &rng);
    ASSERT_NE(lb, nullptr);
    EXPECT_EQ(lb->name(), name);
  }
  EXPECT_THAT(LoadBalancer::Names(), ElementsAre("random", "roundrobin", "leastactive",
                                                 "shortestresponse", "consistenthash"));
}

TEST(ClusterLoadBalancer, UnknownNameIsInvalidArgument) {
  registry::Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create("fastest");
  ASSERT_FALSE(lb.ok());
  EXPECT_EQ(lb.status().code(), registry::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(lb.status().message()), HasSubstr("unknown load balancer 'fastest'"));
  EXPECT_THAT(std::string(lb.status().message()), HasSubstr("roundrobin"));
  EXPECT_FALSE(LoadBalancer::Create("RoundRobin").ok());
}

TEST(ClusterLoadBalancer, MalformedHashParametersAreInvalidArgument) {
  for (const char* query : {"hash.nodes=abc", "hash.nodes=0", "hash.nodes=-4", "hash.arguments=x",
                            "hash.arguments=0,,1", "hash.arguments=-1"}) {
    LoadBalancerOptions options;
    options.config = MustParse(std::string("consumer://10.0.0.9/com.foo.Greeter?") + query);
    registry::Result<std::unique_ptr<LoadBalancer>> lb =
        LoadBalancer::Create("consistenthash", options);
    ASSERT_FALSE(lb.ok()) << query;
    EXPECT_EQ(lb.status().code(), registry::StatusCode::kInvalidArgument) << query;
  }
}

TEST(ClusterLoadBalancer, EverySelectorReturnsNullOnAnEmptySnapshot) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> empty = ProviderSnapshot::Create({}, 0);
  for (std::string_view name : LoadBalancer::Names()) {
    EXPECT_EQ(Make(name, &rng)->Select(*empty, Invocation()), nullptr) << name;
  }
}

TEST(ClusterLoadBalancer, EverySelectorReturnsNullWhenTheFilterAllowsNothing) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 200, 300});
  ExcludeIndexes none({0, 1, 2});
  for (std::string_view name : LoadBalancer::Names()) {
    EXPECT_EQ(Make(name, &rng)->Select(*snapshot, Invocation(), &none), nullptr) << name;
  }
}

TEST(ClusterLoadBalancer, SingleProviderIsAlwaysPicked) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({7});
  for (std::string_view name : LoadBalancer::Names()) {
    EXPECT_EQ(Make(name, &rng)->Select(*snapshot, Invocation()), &(*snapshot)[0]) << name;
  }
}

TEST(ClusterRandom, WeightedDistributionWithinTolerance) {
  SeededRandom rng(42);
  std::unique_ptr<LoadBalancer> lb = Make("random", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 200, 300, 0});
  const int picks = 120000;
  std::vector<int> counts = Counts(*lb, *snapshot, picks);
  EXPECT_NEAR(counts[0], picks * 1 / 6, picks * 0.01);
  EXPECT_NEAR(counts[1], picks * 2 / 6, picks * 0.01);
  EXPECT_NEAR(counts[2], picks * 3 / 6, picks * 0.01);
  EXPECT_EQ(counts[3], 0);  // weight 0 is never picked while others have weight
}

TEST(ClusterRandom, EqualWeightsAreUniform) {
  SeededRandom rng(7);
  std::unique_ptr<LoadBalancer> lb = Make("random", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({50, 50, 50, 50, 50});
  const int picks = 100000;
  for (int count : Counts(*lb, *snapshot, picks)) EXPECT_NEAR(count, picks / 5, picks * 0.01);
}

TEST(ClusterRandom, AllZeroWeightsAreUniform) {
  SeededRandom rng(7);
  std::unique_ptr<LoadBalancer> lb = Make("random", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({0, 0});
  const int picks = 20000;
  for (int count : Counts(*lb, *snapshot, picks)) EXPECT_NEAR(count, picks / 2, picks * 0.02);
}

TEST(ClusterRandom, SameSeedSameSequence) {
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({1, 2, 3, 4, 5});
  SeededRandom a(99);
  SeededRandom b(99);
  EXPECT_EQ(Sequence(*Make("random", &a), *snapshot, 200),
            Sequence(*Make("random", &b), *snapshot, 200));
}

TEST(ClusterRandom, FilterKeepsTheWeightsOfTheRest) {
  SeededRandom rng(3);
  std::unique_ptr<LoadBalancer> lb = Make("random", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 300});
  ExcludeIndexes filter({1});
  const int picks = 40000;
  std::vector<int> counts = Counts(*lb, *snapshot, picks, &filter);
  EXPECT_EQ(counts[1], 0);
  EXPECT_NEAR(counts[0], picks / 4, picks * 0.015);
  EXPECT_NEAR(counts[2], picks * 3 / 4, picks * 0.015);
}

TEST(ClusterRoundRobin, SmoothSequenceFiveOneOne) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("roundrobin", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({5, 1, 1});
  // a,a,b,a,c,a,a and again.
  EXPECT_THAT(Sequence(*lb, *snapshot, 14), ElementsAre(0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0));
}

TEST(ClusterRoundRobin, ScaledWeightsGiveTheSameSequence) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({500, 100, 100});
  EXPECT_THAT(Sequence(*Make("roundrobin", &rng), *snapshot, 7), ElementsAre(0, 0, 1, 0, 2, 0, 0));
}

TEST(ClusterRoundRobin, EqualWeightsCycleInOrder) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100});
  EXPECT_THAT(Sequence(*Make("roundrobin", &rng), *snapshot, 7), ElementsAre(0, 1, 2, 0, 1, 2, 0));
}

TEST(ClusterRoundRobin, TableMatchesDubboAlgorithm) {
  SeededRandom rng(1);
  const std::vector<int> weights = {3, 7, 11, 2, 0, 5};
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot(weights);
  EXPECT_EQ(Sequence(*Make("roundrobin", &rng), *snapshot, 100), ReferenceRoundRobin(weights, 100));
}

TEST(ClusterRoundRobin, LongPeriodFallsBackToPerPickAlgorithm) {
  SeededRandom rng(1);
  // Period 40000 + 39999 + 3 (gcd 1) exceeds the 65,536-entry table.
  const std::vector<int> weights = {40000, 39999, 3};
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot(weights);
  EXPECT_EQ(Sequence(*Make("roundrobin", &rng), *snapshot, 500), ReferenceRoundRobin(weights, 500));
}

TEST(ClusterRoundRobin, FilterSkipsAlongTheSequence) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("roundrobin", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100});
  ExcludeIndexes filter({1});
  std::vector<int> order;
  for (int i = 0; i < 6; ++i)
    order.push_back(IndexOf(*snapshot, lb->Select(*snapshot, Invocation(), &filter)));
  EXPECT_THAT(order, ElementsAre(0, 2, 0, 2, 0, 2));
}

TEST(ClusterRoundRobin, DistributionFollowsWeights) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("roundrobin", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 200, 300});
  EXPECT_THAT(Counts(*lb, *snapshot, 600), ElementsAre(100, 200, 300));
}

TEST(ClusterLeastActive, PicksTheFewestActive) {
  SeededRandom rng(5);
  std::unique_ptr<LoadBalancer> lb = Make("leastactive", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100});
  (*snapshot)[0].stats().BeginCall();
  (*snapshot)[0].stats().BeginCall();
  (*snapshot)[2].stats().BeginCall();
  for (int i = 0; i < 50; ++i) EXPECT_EQ(lb->Select(*snapshot, Invocation()), &(*snapshot)[1]);
}

TEST(ClusterLeastActive, TiesWithEqualWeightsAreUniform) {
  SeededRandom rng(5);
  std::unique_ptr<LoadBalancer> lb = Make("leastactive", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100});
  (*snapshot)[2].stats().BeginCall();
  const int picks = 20000;
  std::vector<int> counts = Counts(*lb, *snapshot, picks);
  EXPECT_NEAR(counts[0], picks / 2, picks * 0.02);
  EXPECT_NEAR(counts[1], picks / 2, picks * 0.02);
  EXPECT_EQ(counts[2], 0);
}

TEST(ClusterLeastActive, TiesWithDifferentWeightsAreWeighted) {
  SeededRandom rng(5);
  std::unique_ptr<LoadBalancer> lb = Make("leastactive", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 300, 100});
  (*snapshot)[2].stats().BeginCall();
  const int picks = 20000;
  std::vector<int> counts = Counts(*lb, *snapshot, picks);
  EXPECT_NEAR(counts[0], picks / 4, picks * 0.02);
  EXPECT_NEAR(counts[1], picks * 3 / 4, picks * 0.02);
  EXPECT_EQ(counts[2], 0);
}

TEST(ClusterLeastActive, FollowsCallsEndingAndTheFilter) {
  SeededRandom rng(5);
  std::unique_ptr<LoadBalancer> lb = Make("leastactive", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100});
  const registry::TimePoint now{};
  (*snapshot)[0].stats().BeginCall();
  EXPECT_EQ(lb->Select(*snapshot, Invocation()), &(*snapshot)[1]);
  ExcludeIndexes filter({1});
  EXPECT_EQ(lb->Select(*snapshot, Invocation(), &filter), &(*snapshot)[0]);
  (*snapshot)[1].stats().BeginCall();
  (*snapshot)[1].stats().BeginCall();
  EXPECT_EQ(lb->Select(*snapshot, Invocation()), &(*snapshot)[0]);
  (*snapshot)[1].stats().EndCall(std::chrono::milliseconds(1), true, now);
  (*snapshot)[1].stats().EndCall(std::chrono::milliseconds(1), false, now);
  (*snapshot)[0].stats().EndCall(std::chrono::milliseconds(1), true, now);
  EXPECT_EQ((*snapshot)[1].stats().active(), 0);
  EXPECT_EQ((*snapshot)[1].stats().succeeded(), 1u);
  EXPECT_EQ((*snapshot)[1].stats().failed(), 1u);
}

TEST(ClusterShortestResponse, PicksTheFastestAndWeighsInActiveCalls) {
  SeededRandom rng(5);
  std::unique_ptr<LoadBalancer> lb = Make("shortestresponse", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100});
  const registry::TimePoint now{std::chrono::seconds(100)};
  auto record = [&](size_t i, int ms) {
    (*snapshot)[i].stats().BeginCall();
    (*snapshot)[i].stats().EndCall(std::chrono::milliseconds(ms), true, now);
  };
  record(0, 30);
  record(1, 10);
  record(1, 20);  // mean 15 ms
  record(2, 40);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(lb->Select(*snapshot, Invocation()), &(*snapshot)[1]);
  // 15 ms x (2 + 1) = 45 ms > 30 ms x 1: provider 0 wins now.
  (*snapshot)[1].stats().BeginCall();
  (*snapshot)[1].stats().BeginCall();
  EXPECT_EQ((*snapshot)[1].stats().WindowMeanNanos(), 15'000'000);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(lb->Select(*snapshot, Invocation()), &(*snapshot)[0]);
}

TEST(ClusterShortestResponse, WindowRestartsAfterThirtySeconds) {
  ProviderStats stats;
  const registry::TimePoint t0{std::chrono::seconds(100)};
  stats.BeginCall();
  stats.EndCall(std::chrono::milliseconds(50), true, t0);
  EXPECT_EQ(stats.WindowMeanNanos(), 50'000'000);
  stats.BeginCall();
  stats.EndCall(std::chrono::milliseconds(10), true, t0 + std::chrono::seconds(29));
  EXPECT_EQ(stats.WindowMeanNanos(), 30'000'000);
  stats.BeginCall();
  stats.EndCall(std::chrono::milliseconds(4), true, t0 + std::chrono::seconds(31));
  EXPECT_EQ(stats.WindowMeanNanos(), 4'000'000);
  EXPECT_EQ(stats.succeeded(), 3u);
}

TEST(ClusterShortestResponse, UnmeasuredProvidersTieAndShareTheLoad) {
  SeededRandom rng(8);
  std::unique_ptr<LoadBalancer> lb = Make("shortestresponse", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100});
  const int picks = 10000;
  std::vector<int> counts = Counts(*lb, *snapshot, picks);
  EXPECT_NEAR(counts[0], picks / 2, picks * 0.03);
}

TEST(ClusterConsistentHash, Md5MatchesKnownVectors) {
  auto hex = [](const registry::internal::Md5Digest& d) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (uint8_t b : d) {
      s += digits[b >> 4];
      s += digits[b & 15];
    }
    return s;
  };
  EXPECT_EQ(hex(registry::internal::Md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(hex(registry::internal::Md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hex(registry::internal::Md5("The quick brown fox jumps over the lazy dog")),
            "9e107d9d372bb6826bd81d3542a419d6");
  EXPECT_EQ(hex(registry::internal::Md5(std::string(1000, 'a'))), "cabe45dcc9ae5b66ba86600cca6b8ba8");
}

const Provider* SelectByKey(const LoadBalancer& lb, const ProviderSnapshot& snapshot,
                            const std::string& key, const ProviderFilter* filter = nullptr) {
  std::string_view args[] = {key};
  Invocation invocation;
  invocation.arguments = args;
  invocation.argument_count = 1;
  return lb.Select(snapshot, invocation, filter);
}

TEST(ClusterConsistentHash, SameKeySameProviderAndKeysSpread) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("consistenthash", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100, 100});
  std::vector<int> counts(4, 0);
  for (int k = 0; k < 4000; ++k) {
    const std::string key = "user-" + std::to_string(k);
    const Provider* p = SelectByKey(*lb, *snapshot, key);
    EXPECT_EQ(p, SelectByKey(*lb, *snapshot, key));
    ++counts[IndexOf(*snapshot, p)];
  }
  for (int count : counts) EXPECT_GT(count, 500);  // 1000 expected each; 160 points keep it even
}

TEST(ClusterConsistentHash, RemovingAProviderMovesOnlyItsKeys) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("consistenthash", &rng);
  std::vector<Provider> five;
  for (int i = 1; i <= 5; ++i)
    five.emplace_back(ProviderUrl("10.0.0." + std::to_string(i) + ":20880"));
  std::vector<Provider> four = five;
  four.erase(four.begin() + 2);  // 10.0.0.3 goes away
  std::shared_ptr<const ProviderSnapshot> before = ProviderSnapshot::Create(five, 0);
  std::shared_ptr<const ProviderSnapshot> after = ProviderSnapshot::Create(four, 0);
  int moved = 0;
  for (int k = 0; k < 5000; ++k) {
    const std::string key = "order-" + std::to_string(k);
    const std::string& old_address = SelectByKey(*lb, *before, key)->address();
    const std::string& new_address = SelectByKey(*lb, *after, key)->address();
    if (old_address == "10.0.0.3:20880") {
      ++moved;
      EXPECT_NE(new_address, old_address);
    } else {
      EXPECT_EQ(new_address, old_address) << key;
    }
  }
  EXPECT_GT(moved, 500);  // about a fifth of the keys lived there
}

TEST(ClusterConsistentHash, FilterWalksToTheNextProviderOnTheRing) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("consistenthash", &rng);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 100, 100, 100, 100});
  // Excluding a provider by filter moves exactly the keys a removal would move, to the same places.
  std::vector<Provider> without = snapshot->providers();
  without.erase(without.begin() + 1);
  std::shared_ptr<const ProviderSnapshot> removed = ProviderSnapshot::Create(without, 0);
  ExcludeIndexes filter({1});
  for (int k = 0; k < 2000; ++k) {
    const std::string key = std::to_string(k);
    EXPECT_EQ(SelectByKey(*lb, *snapshot, key, &filter)->address(),
              SelectByKey(*lb, *removed, key)->address());
  }
}

TEST(ClusterConsistentHash, HashArgumentsSelectAndConcatenate) {
  SeededRandom rng(1);
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({1, 1, 1, 1, 1, 1, 1, 1});
  std::unique_ptr<LoadBalancer> both =
      Make("consistenthash", &rng, MustParse("consumer://h/com.foo.Greeter?hash.arguments=0,1"));
  std::unique_ptr<LoadBalancer> second =
      Make("consistenthash", &rng, MustParse("consumer://h/com.foo.Greeter?hash.arguments=1"));
  std::unique_ptr<LoadBalancer> first = Make("consistenthash", &rng);
  for (int k = 0; k < 200; ++k) {
    const std::string a = "a" + std::to_string(k);
    const std::string b = "b" + std::to_string(k * 7);
    std::string_view args[] = {a, b};
    Invocation invocation;
    invocation.arguments = args;
    invocation.argument_count = 2;
    EXPECT_EQ(both->Select(*snapshot, invocation), SelectByKey(*first, *snapshot, a + b));
    EXPECT_EQ(second->Select(*snapshot, invocation), SelectByKey(*first, *snapshot, b));
    EXPECT_EQ(first->Select(*snapshot, invocation), SelectByKey(*first, *snapshot, a));
  }
}

TEST(ClusterConsistentHash, RingIsSharedAcrossReweighting) {
  SeededRandom rng(1);
  std::unique_ptr<LoadBalancer> lb = Make("consistenthash", &rng);
  const int64_t now = 1'700'000'000'000;
  std::vector<Provider> providers;
  providers.emplace_back(ProviderUrl("10.0.0.1:1", "timestamp=" + std::to_string(now)));
  providers.emplace_back(ProviderUrl("10.0.0.2:1"));
  std::shared_ptr<const ProviderSnapshot> early = ProviderSnapshot::Create(providers, now + 1000);
  std::shared_ptr<const ProviderSnapshot> later = early->Reweighted(now + 300'000);
  EXPECT_NE(early->weights(), later->weights());
  for (int k = 0; k < 100; ++k) {
    const std::string key = std::to_string(k);
    EXPECT_EQ(SelectByKey(*lb, *early, key)->address(), SelectByKey(*lb, *later, key)->address());
  }
}

TEST(ClusterWarmup, DubboLinearFormula) {
  const int64_t t = 1'700'000'000'000;
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t + 60'000), 10);  // 60 s / (600 s / 100)
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t + 300'000), 50);
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t + 599'999), 99);
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t + 600'000), 100);  // warm
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t + 1), 1);          // clamped up to 1
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t - 5), 1);          // clock skew: 1
  EXPECT_EQ(WarmupWeight(100, t, 600'000, t), 100);            // Dubbo: uptime 0 keeps the weight
  EXPECT_EQ(WarmupWeight(100, 0, 600'000, t), 100);            // no timestamp
  EXPECT_EQ(WarmupWeight(0, t, 600'000, t + 1), 0);
  EXPECT_EQ(WarmupWeight(-5, t, 600'000, t + 1), 0);
  EXPECT_EQ(WarmupWeight(200, t, 10'000, t + 2'500), 50);  // custom warmup
}

TEST(ClusterWarmup, SnapshotWeightsAndRandomFollowWarmup) {
  const int64_t t = 1'700'000'000'000;
  std::vector<Provider> providers;
  providers.emplace_back(ProviderUrl("10.0.0.1:1", "weight=100&timestamp=" + std::to_string(t)));
  providers.emplace_back(ProviderUrl("10.0.0.2:1", "weight=100"));
  std::shared_ptr<const ProviderSnapshot> snapshot =
      ProviderSnapshot::Create(providers, t + 150'000);
  EXPECT_THAT(snapshot->weights(), ElementsAre(25, 100));
  EXPECT_TRUE(snapshot->warming_up());
  EXPECT_EQ(snapshot->total_weight(), 125);
  SeededRandom rng(11);
  const int picks = 50000;
  std::vector<int> counts = Counts(*Make("random", &rng), *snapshot, picks);
  EXPECT_NEAR(counts[0], picks / 5, picks * 0.01);
  std::shared_ptr<const ProviderSnapshot> warm = snapshot->Reweighted(t + 600'000);
  EXPECT_THAT(warm->weights(), ElementsAre(100, 100));
  EXPECT_FALSE(warm->warming_up());
  EXPECT_GT(warm->version(), snapshot->version());
}

}  // namespace
}  // namespace dubbo::cluster
