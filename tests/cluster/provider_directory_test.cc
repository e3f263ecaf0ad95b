// Tests for ProviderDirectory: categories, empty://, filtering, keeping the last good list, state
// that survives updates, warm-up re-weighing as a manual clock advances (no Scheduler, no list
// change), and SnapshotReader.
#include "dubbo/cluster/provider_directory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;
using registry::URL;
using ::testing::ElementsAre;

std::vector<std::string> Addresses(const ProviderSnapshot& snapshot) {
  std::vector<std::string> out;
  for (const Provider& p : snapshot.providers()) out.push_back(p.address());
  return out;
}

URL EmptyUrl(const std::string& category) { return URL::Empty("com.foo.Greeter", category); }

URL RouterUrl() {
  return MustParse("route://0.0.0.0/com.foo.Greeter?category=routers&rule=host%3D1");
}
URL ConfiguratorUrl() {
  return MustParse("override://0.0.0.0/com.foo.Greeter?category=configurators&weight=200");
}

TEST(ClusterDirectory, StartsEmptyAndTakesProvidersInOrder) {
  ProviderDirectory directory;
  EXPECT_TRUE(directory.snapshot()->empty());
  const uint64_t v0 = directory.version();
  directory.Notify(
      {ProviderUrl("10.0.0.2:1"), ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.3:1")});
  EXPECT_THAT(Addresses(*directory.snapshot()),
              ElementsAre("10.0.0.2:1", "10.0.0.1:1", "10.0.0.3:1"));
  EXPECT_GT(directory.version(), v0);
  EXPECT_EQ(directory.version(), directory.snapshot()->version());
}

TEST(ClusterDirectory, ProvidersListReplacesThePreviousOne) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1"), ProviderUrl("10.0.0.2:1")});
  directory.Notify({ProviderUrl("10.0.0.3:1")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.3:1"));
}

TEST(ClusterDirectory, EmptyProvidersUrlClears) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  directory.Notify({EmptyUrl("providers")});
  EXPECT_TRUE(directory.snapshot()->empty());
}

TEST(ClusterDirectory, EmptyUrlOfAnotherCategoryKeepsProviders) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1"), RouterUrl(), ConfiguratorUrl()});
  EXPECT_EQ(directory.snapshot()->routers().size(), 1u);
  EXPECT_EQ(directory.snapshot()->configurators().size(), 1u);
  directory.Notify({EmptyUrl("routers")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1"));
  EXPECT_TRUE(directory.snapshot()->routers().empty());
  EXPECT_EQ(directory.snapshot()->configurators().size(), 1u);
  directory.Notify({EmptyUrl("configurators")});
  EXPECT_TRUE(directory.snapshot()->configurators().empty());
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1"));
}

TEST(ClusterDirectory, RoutersAndConfiguratorsOnlyKeepProviders) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  directory.Notify({RouterUrl()});
  directory.Notify({ConfiguratorUrl()});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1"));
  EXPECT_EQ(directory.snapshot()->routers().size(), 1u);
  EXPECT_EQ(directory.snapshot()->configurators().size(), 1u);
}

TEST(ClusterDirectory, ConsumersCategoryIsIgnored) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  const uint64_t version = directory.version();
  directory.Notify({MustParse("consumer://10.0.0.9/com.foo.Greeter?category=consumers")});
  EXPECT_EQ(directory.version(), version);
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1"));
}

TEST(ClusterDirectory, DisabledProvidersAreDropped) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1", "enabled=false"), ProviderUrl("10.0.0.2:1"),
                    ProviderUrl("10.0.0.3:1", "disabled=true"),
                    ProviderUrl("10.0.0.4:1", "enabled=true")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.2:1", "10.0.0.4:1"));
}

TEST(ClusterDirectory, ConsumerProtocolListFiltersProviders) {
  ProviderDirectoryOptions options;
  options.consumer_url = MustParse("consumer://10.0.0.9/com.foo.Greeter?protocol=thrift,tri");
  ProviderDirectory directory(options);
  directory.Notify({MustParse("thrift://10.0.0.1:9090/com.foo.Greeter"), ProviderUrl("10.0.0.2:1"),
                    MustParse("tri://10.0.0.3:50051/com.foo.Greeter")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:9090", "10.0.0.3:50051"));
}

TEST(ClusterDirectory, NoUsableProviderKeepsTheLastGoodList) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  directory.Notify({ProviderUrl("10.0.0.2:1", "enabled=false")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1"));
}

TEST(ClusterDirectory, DuplicatesAreDroppedIgnoringTimestamp) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1", "timestamp=1"),
                    ProviderUrl("10.0.0.1:1", "timestamp=2"), ProviderUrl("10.0.0.2:1")});
  EXPECT_THAT(Addresses(*directory.snapshot()), ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
}

TEST(ClusterDirectory, StatsAndBreakerSurviveUpdatesOfTheSameProvider) {
  ProviderDirectory directory;
  directory.Notify({ProviderUrl("10.0.0.1:1", "weight=100"), ProviderUrl("10.0.0.2:1")});
  std::shared_ptr<const ProviderSnapshot> first = directory.snapshot();
  (*first)[0].stats().BeginCall();
  directory.Notify({ProviderUrl("10.0.0.3:1"), ProviderUrl("10.0.0.1:1", "weight=300")});
  std::shared_ptr<const ProviderSnapshot> second = directory.snapshot();
  EXPECT_EQ((*second)[1].state(), (*first)[0].state());
  EXPECT_EQ((*second)[1].stats().active(), 1);
  EXPECT_EQ((*second)[1].weight(), 300);
  // A provider that left and came back starts afresh.
  directory.Notify({ProviderUrl("10.0.0.3:1")});
  directory.Notify({ProviderUrl("10.0.0.3:1"), ProviderUrl("10.0.0.1:1")});
  EXPECT_NE(directory.snapshot()->providers()[1].state(), (*first)[0].state());
  // The old snapshot is untouched and still usable.
  EXPECT_THAT(Addresses(*first), ElementsAre("10.0.0.1:1", "10.0.0.2:1"));
}

TEST(ClusterDirectory, BreakerOptionsReachEveryProvider) {
  ProviderDirectoryOptions options;
  options.breaker.failure_threshold = 3;
  ProviderDirectory directory(options);
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  EXPECT_EQ((*directory.snapshot())[0].breaker().options().failure_threshold, 3);
}

TEST(ClusterDirectory, WarmupWeightGrowsAsTheClockAdvancesWithoutAScheduler) {
  registry::ManualScheduler clock;  // used only as a clock: nothing is ever scheduled on it
  ProviderDirectoryOptions options;
  options.clock = &clock;
  ProviderDirectory directory(options);
  const int64_t now = clock.WallMillis();
  // Started 60 s ago, warm-up 600000 ms: weight 10 of 100. The other one is warm.
  directory.Notify(
      {ProviderUrl("10.0.0.1:1", "warmup=600000&timestamp=" + std::to_string(now - 60'000)),
       ProviderUrl("10.0.0.2:1")});
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(10, 100));
  EXPECT_TRUE(directory.snapshot()->warming_up());
  clock.AdvanceBy(std::chrono::seconds(60));  // 120 s up
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(20, 100));
  clock.AdvanceBy(std::chrono::seconds(180));  // 300 s up
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(50, 100));
  clock.AdvanceBy(std::chrono::seconds(300));  // warm
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(100, 100));
  EXPECT_FALSE(directory.snapshot()->warming_up());
  EXPECT_EQ(clock.pending(), 0u);
}

TEST(ClusterDirectory, SnapshotReaderSeesWarmupProgressAtMostOncePerInterval) {
  registry::ManualScheduler clock;
  ProviderDirectoryOptions options;
  options.clock = &clock;
  options.warmup_refresh_interval = std::chrono::seconds(10);
  ProviderDirectory directory(options);
  directory.Notify({ProviderUrl(
      "10.0.0.1:1", "warmup=600000&timestamp=" + std::to_string(clock.WallMillis() - 60'000))});
  SnapshotReader reader(&directory);
  EXPECT_EQ(reader.Get().weight(0), 10);
  clock.AdvanceBy(std::chrono::seconds(9));  // the weight would be 11, but no re-weighing is due
  EXPECT_EQ(reader.Get().weight(0), 10);
  clock.AdvanceBy(std::chrono::seconds(1));  // 10 s since the list was built: due
  EXPECT_EQ(reader.Get().weight(0), 11);
  const uint64_t version = directory.version();
  clock.AdvanceBy(std::chrono::seconds(10));
  EXPECT_EQ(reader.Get().weight(0), 13);
  EXPECT_GT(directory.version(), version);
}

TEST(ClusterDirectory, RefreshWeightsWithoutAScheduler) {
  registry::ManualScheduler clock;
  ProviderDirectoryOptions options;
  options.clock = &clock;
  ProviderDirectory directory(options);
  directory.Notify({ProviderUrl(
      "10.0.0.1:1", "warmup=1000&timestamp=" + std::to_string(clock.WallMillis() - 100))});
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(10));
  const uint64_t version = directory.version();
  directory.RefreshWeights();  // nothing moved: no new snapshot
  EXPECT_EQ(directory.version(), version);
  clock.AdvanceBy(std::chrono::milliseconds(400));
  directory.RefreshWeights();
  EXPECT_THAT(directory.snapshot()->weights(), ElementsAre(50));
  EXPECT_GT(directory.version(), version);
}

TEST(ClusterDirectory, SnapshotReaderFollowsUpdates) {
  ProviderDirectory directory;
  SnapshotReader reader(&directory);
  EXPECT_TRUE(reader.Get().empty());
  directory.Notify({ProviderUrl("10.0.0.1:1")});
  EXPECT_THAT(Addresses(reader.Get()), ElementsAre("10.0.0.1:1"));
  const ProviderSnapshot* cached = &reader.Get();
  EXPECT_EQ(&reader.Get(), cached);  // unchanged: the same snapshot
  directory.Notify({EmptyUrl("providers")});
  EXPECT_TRUE(reader.Get().empty());
}

TEST(ClusterDirectory, WorksAsASharedNotifyListener) {
  auto directory = std::make_shared<ProviderDirectory>();
  std::shared_ptr<registry::NotifyListener> listener = directory;
  listener->Notify({ProviderUrl("10.0.0.1:1")});
  EXPECT_EQ(directory->snapshot()->size(), 1u);
}

}  // namespace
}  // namespace dubbo::cluster
