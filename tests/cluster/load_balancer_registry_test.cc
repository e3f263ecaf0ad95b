// Tests for the load balancer registry: name and factory validation, built-ins that cannot be
// replaced, Create() finding registered names (and reporting factory failures without letting an
// exception through), Names() listing them, a custom balancer written against the public headers
// only that honours FailoverCluster's filter, and an unknown `loadbalance` reported by
// FailoverCluster::Create(). Its own executable: registrations last for the process.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/status.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using ::dubbo::cluster::testing::WeightedSnapshot;
using registry::Result;
using registry::Status;
using registry::StatusCode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The first allowed provider with the fewest calls in flight: public headers only.
class FewestActiveFirst final : public LoadBalancer {
 public:
  explicit FewestActiveFirst(std::string name) : name_(std::move(name)) {}
  std::string_view name() const override { return name_; }
  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    const Provider* best = nullptr;
    for (size_t i = 0; i < snapshot.size(); ++i) {
      if (filter != nullptr && !filter->Allowed(i, snapshot[i])) continue;
      if (best == nullptr || snapshot[i].stats().active() < best->stats().active())
        best = &snapshot[i];
    }
    return best;
  }

 private:
  std::string name_;
};

LoadBalancerFactory FewestActiveFactory(std::string name) {
  return [name](const LoadBalancerOptions&) -> Result<std::unique_ptr<LoadBalancer>> {
    return std::unique_ptr<LoadBalancer>(std::make_unique<FewestActiveFirst>(name));
  };
}

// Excludes the given indexes.
class Exclude final : public ProviderFilter {
 public:
  explicit Exclude(std::vector<size_t> excluded) : excluded_(std::move(excluded)) {}
  bool Allowed(size_t index, const Provider&) const override {
    for (size_t e : excluded_) {
      if (e == index) return false;
    }
    return true;
  }

 private:
  std::vector<size_t> excluded_;
};

TEST(ClusterLoadBalancerRegistry, RejectsBadNamesAndEmptyFactories) {
  EXPECT_EQ(RegisterLoadBalancer("", FewestActiveFactory("x")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(RegisterLoadBalancer(std::string(65, 'a'), FewestActiveFactory("x")).code(),
            StatusCode::kInvalidArgument);
  for (const char* bad : {"has space", "slash/", "q?", "a=b", "uni\xc3\xa9", "tab\t"}) {
    EXPECT_EQ(RegisterLoadBalancer(bad, FewestActiveFactory("x")).code(),
              StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(RegisterLoadBalancer("nofactory", nullptr).code(), StatusCode::kInvalidArgument);
  // 64 characters of every allowed kind is fine.
  const std::string longest = "Az09_.-" + std::string(57, 'x');
  ASSERT_EQ(longest.size(), kMaxLoadBalancerNameLength);
  EXPECT_TRUE(RegisterLoadBalancer(longest, FewestActiveFactory(longest)).ok());
  for (const std::string& name : LoadBalancer::Names()) EXPECT_NE(name, "nofactory");
}

TEST(ClusterLoadBalancerRegistry, BuiltInsAndTakenNamesCannotBeReplaced) {
  for (const char* builtin :
       {"random", "roundrobin", "leastactive", "shortestresponse", "consistenthash"}) {
    Status s = RegisterLoadBalancer(builtin, FewestActiveFactory(builtin));
    EXPECT_EQ(s.code(), StatusCode::kAlreadyExists) << builtin;
    EXPECT_EQ((*LoadBalancer::Create(builtin))->name(), builtin);
  }
  ASSERT_TRUE(RegisterLoadBalancer("taken", FewestActiveFactory("taken")).ok());
  EXPECT_EQ(RegisterLoadBalancer("taken", FewestActiveFactory("other")).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ((*LoadBalancer::Create("taken"))->name(), "taken");
}

TEST(ClusterLoadBalancerRegistry, CreateFindsRegisteredNamesAndNamesListsThemAfterTheBuiltIns) {
  ASSERT_TRUE(RegisterLoadBalancer("zz-fewest", FewestActiveFactory("zz-fewest")).ok());
  ASSERT_TRUE(RegisterLoadBalancer("aa-fewest", FewestActiveFactory("aa-fewest")).ok());
  Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create("aa-fewest");
  ASSERT_TRUE(lb.ok()) << lb.status();
  EXPECT_EQ((*lb)->name(), "aa-fewest");

  const std::vector<std::string> names = LoadBalancer::Names();
  ASSERT_GE(names.size(), 7u);
  EXPECT_THAT(
      std::vector<std::string>(names.begin(), names.begin() + 5),
      ElementsAre("random", "roundrobin", "leastactive", "shortestresponse", "consistenthash"));
  const std::vector<std::string> registered(names.begin() + 5, names.end());
  EXPECT_TRUE(std::is_sorted(registered.begin(), registered.end()));
  EXPECT_THAT(registered, ::testing::Contains("aa-fewest"));
  EXPECT_THAT(registered, ::testing::Contains("zz-fewest"));

  Result<std::unique_ptr<LoadBalancer>> unknown = LoadBalancer::Create("fastest");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  std::string listed;
  for (const std::string& name : names) listed += (listed.empty() ? "" : ", ") + name;
  EXPECT_EQ(unknown.status().message(), "unknown load balancer 'fastest' (known: " + listed + ")");
}

TEST(ClusterLoadBalancerRegistry, FactoryFailuresComeBackAsStatuses) {
  ASSERT_TRUE(
      RegisterLoadBalancer("refuses",
                           [](const LoadBalancerOptions&) -> Result<std::unique_ptr<LoadBalancer>> {
                             return registry::FailedPreconditionError("not today");
                           })
          .ok());
  ASSERT_TRUE(
      RegisterLoadBalancer("returns-null",
                           [](const LoadBalancerOptions&) -> Result<std::unique_ptr<LoadBalancer>> {
                             return std::unique_ptr<LoadBalancer>();
                           })
          .ok());
  ASSERT_TRUE(
      RegisterLoadBalancer("throws",
                           [](const LoadBalancerOptions&) -> Result<std::unique_ptr<LoadBalancer>> {
                             throw std::runtime_error("boom");
                           })
          .ok());
  ASSERT_TRUE(
      RegisterLoadBalancer(
          "throws-int",
          [](const LoadBalancerOptions&) -> Result<std::unique_ptr<LoadBalancer>> { throw 7; })
          .ok());

  Result<std::unique_ptr<LoadBalancer>> refused = LoadBalancer::Create("refuses");
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "not today");
  Result<std::unique_ptr<LoadBalancer>> null = LoadBalancer::Create("returns-null");
  EXPECT_EQ(null.status().code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(null.status().message()), HasSubstr("'returns-null'"));
  EXPECT_THAT(std::string(null.status().message()), HasSubstr("returned no load balancer"));
  Result<std::unique_ptr<LoadBalancer>> threw = LoadBalancer::Create("throws");
  EXPECT_EQ(threw.status().code(), StatusCode::kInternal);
  EXPECT_THAT(std::string(threw.status().message()), HasSubstr("threw: boom"));
  EXPECT_EQ(LoadBalancer::Create("throws-int").status().code(), StatusCode::kInternal);
}

TEST(ClusterLoadBalancerRegistry, TheFactoryReceivesTheCallersOptions) {
  const registry::URL* seen_config = nullptr;
  RandomSource* seen_random = nullptr;
  ASSERT_TRUE(RegisterLoadBalancer(
                  "options-probe",
                  [&](const LoadBalancerOptions& options) -> Result<std::unique_ptr<LoadBalancer>> {
                    seen_config = &options.config;
                    seen_random = options.random;
                    return std::unique_ptr<LoadBalancer>(
                        std::make_unique<FewestActiveFirst>("options-probe"));
                  })
                  .ok());
  SeededRandom rng(3);
  LoadBalancerOptions options;
  options.random = &rng;
  ASSERT_TRUE(LoadBalancer::Create("options-probe", options).ok());
  EXPECT_EQ(seen_config, &options.config);
  EXPECT_EQ(seen_random, &rng);
}

TEST(ClusterLoadBalancerRegistry, PublicWeightedPickHonoursTheFilterAndTheWeights) {
  std::shared_ptr<const ProviderSnapshot> snapshot = WeightedSnapshot({100, 0, 300, 100});
  SeededRandom rng(9);
  const Exclude skip_first({0});
  std::vector<int> counts(4, 0);
  for (int i = 0; i < 4000; ++i) {
    const Provider* p = PickWeightedAmongAllowed(*snapshot, skip_first, &rng);
    ASSERT_NE(p, nullptr);
    ++counts[static_cast<size_t>(testing::IndexOf(*snapshot, p))];
  }
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 0);  // weight 0 among non-zero weights
  EXPECT_NEAR(counts[2], 3000, 150);
  EXPECT_NEAR(counts[3], 1000, 150);
  const Exclude all({0, 1, 2, 3});
  EXPECT_EQ(PickWeightedAmongAllowed(*snapshot, all), nullptr);  // default randomness
}

TEST(ClusterLoadBalancerRegistry, FailoverClusterUsesARegisteredBalancerAndItsFilter) {
  ASSERT_TRUE(
      RegisterLoadBalancer("fewestactivefirst", FewestActiveFactory("fewestactivefirst")).ok());
  auto directory = std::make_shared<ProviderDirectory>();
  directory->Notify(
      {ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1"), ProviderUrl("10.0.0.3:1")});
  Result<std::unique_ptr<FailoverCluster>> cluster = FailoverCluster::Create(
      directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=fewestactivefirst"));
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ((*cluster)->load_balancer().name(), "fewestactivefirst");
  // Every provider refuses: the filter steers the retries to the untried ones, in order.
  std::vector<std::string> called;
  Status s = (*cluster)->Invoke(Invocation(), [&](const Provider& p, const Attempt&) {
    called.push_back(p.address());
    return registry::UnavailableError("refused");
  });
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_THAT(called, ElementsAre("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
}

TEST(ClusterLoadBalancerRegistry, FailoverClusterReportsAnUnknownNameWithTheService) {
  auto directory = std::make_shared<ProviderDirectory>();
  Result<std::unique_ptr<FailoverCluster>> cluster = FailoverCluster::Create(
      directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=fastest"));
  ASSERT_FALSE(cluster.ok());
  EXPECT_EQ(cluster.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cluster.status().message()),
              ::testing::StartsWith(
                  "FailoverCluster for com.foo.Greeter: unknown load balancer 'fastest' (known: "));
  EXPECT_THAT(std::string(cluster.status().message()), HasSubstr("consistenthash"));
}

}  // namespace
}  // namespace dubbo::cluster
