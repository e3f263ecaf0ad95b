// Concurrency tests (label `concurrency`, run under ThreadSanitizer by .ci/run): picks with every
// load balancer and failover invocations race with provider-list updates, warm-up re-weighting and
// breaker flips. No sleeps: the writer performs a fixed number of updates while readers loop until
// it is done.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cluster/cluster_test_util.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/clock.h"

namespace dubbo::cluster {
namespace {

using ::dubbo::cluster::testing::MustParse;
using ::dubbo::cluster::testing::ProviderUrl;

std::vector<registry::URL> ProviderList(int round) {
  std::vector<registry::URL> urls;
  const int count = 1 + round % 7;
  const int64_t now = registry::Clock::Real()->WallMillis();
  for (int i = 0; i < count; ++i) {
    // Mixed weights, some warming up, so every table and ring gets rebuilt.
    urls.push_back(
        ProviderUrl("10.0." + std::to_string(round % 3) + "." + std::to_string(i) + ":1",
                    "weight=" + std::to_string(100 * (1 + (i + round) % 3)) +
                        (i % 2 == 0 ? "&timestamp=" + std::to_string(now - 1000 * i) : "")));
  }
  if (round % 11 == 10) return {registry::URL::Empty("com.foo.Greeter", "providers")};
  return urls;
}

TEST(ClusterConcurrency, PicksRaceWithUpdates) {
  ProviderDirectory directory;
  std::atomic<bool> done{false};
  std::atomic<long> picks{0};
  std::vector<std::unique_ptr<LoadBalancer>> balancers;
  for (std::string_view name : LoadBalancer::Names()) {
    balancers.push_back(std::move(*LoadBalancer::Create(name)));
  }
  auto reader = [&](int seed) {
    SnapshotReader snapshots(&directory);
    std::string key;
    long local = 0;
    while (!done.load(std::memory_order_acquire) || local < 1000) {
      const ProviderSnapshot& snapshot = snapshots.Get();
      key = std::to_string(local * 31 + seed);
      std::string_view args[] = {key};
      Invocation invocation;
      invocation.arguments = args;
      invocation.argument_count = 1;
      for (const auto& lb : balancers) {
        const Provider* p = lb->Select(snapshot, invocation);
        if (snapshot.empty()) {
          ASSERT_EQ(p, nullptr);
        } else {
          ASSERT_NE(p, nullptr);
          ASSERT_GE(p, &snapshot[0]);
          ASSERT_LE(p, &snapshot[snapshot.size() - 1]);
          p->stats().BeginCall();
          p->stats().EndCall(std::chrono::microseconds(local % 100), local % 5 != 0,
                             registry::Clock::Real()->Now());
        }
      }
      ++local;
    }
    picks.fetch_add(local);
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader, i);
  for (int round = 0; round < 400; ++round) {
    directory.Notify(ProviderList(round));
    if (round % 5 == 0) directory.RefreshWeights();
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : readers) t.join();
  EXPECT_GE(picks.load(), 3000);
}

TEST(ClusterConcurrency, FailoverRacesWithUpdatesAndBreakers) {
  ProviderDirectoryOptions directory_options;
  // Ejections end at once (the next call probes), and latencies are compared all the time, so that
  // ejections, probes and comparisons race with the calls and the updates.
  directory_options.breaker.open_duration = std::chrono::seconds(0);
  directory_options.outlier.latency_interval = std::chrono::microseconds(1);
  directory_options.outlier.latency_min_requests = 1;
  auto directory = std::make_shared<ProviderDirectory>(directory_options);
  directory->Notify(ProviderList(0));
  FailoverClusterOptions options;
  options.loadbalance = "roundrobin";
  auto cluster = std::move(*FailoverCluster::Create(
      directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?retries=2"), options));
  std::atomic<bool> done{false};
  auto caller = [&] {
    long calls = 0;
    while (!done.load(std::memory_order_acquire) || calls < 500) {
      const registry::Status s = cluster->Invoke({}, [&](const Provider& p, const Attempt&) {
        // Every third address refuses: breakers open and close all the time.
        return p.address().back() == '1' && calls % 3 == 0 ? registry::UnavailableError("refused")
                                                           : registry::Status();
      });
      if (!s.ok()) {
        ASSERT_EQ(s.code(), registry::StatusCode::kUnavailable) << s;
      }
      ++calls;
    }
  };
  std::vector<std::thread> callers;
  for (int i = 0; i < 3; ++i) callers.emplace_back(caller);
  for (int round = 0; round < 300; ++round) {
    directory->Notify(ProviderList(round));
    const std::shared_ptr<const ProviderSnapshot> snapshot = directory->snapshot();
  }
  done.store(true, std::memory_order_release);
  for (std::thread& t : callers) t.join();
  for (const Provider& p : directory->snapshot()->providers()) EXPECT_EQ(p.stats().active(), 0);
}

}  // namespace
}  // namespace dubbo::cluster
