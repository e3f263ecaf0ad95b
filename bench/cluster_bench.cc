// Pick cost of the cluster load balancers at 10, 100 and 1,000 providers, on 1 and 2 threads.
//
//   ./build/bench/cluster_bench --benchmark_min_time=0.3
//
// BM_Select/<algorithm>/<providers>: LoadBalancer::Select() on a snapshot the thread already holds
// (the pick itself). "equal" snapshots give every provider weight 100; "mixed" ones cycle
// 100/200/300. BM_SelectViaReader: the same plus SnapshotReader::Get() (the data-plane path, one
// version check); "warming" providers are in their warm-up, so each Get() also reads the clock to
// see whether a re-weighing is due, and one Get() per second re-weighs. BM_Invoke:
// FailoverCluster::Invoke() with a call that does nothing (snapshot load, pick, breaker check,
// statistics). BM_InvokeAsync: FailoverCluster::InvokeAsync() with a call that reports success
// through `done` before returning (a callback framework's fast path) and a completion that keeps
// the Status; compare it with BM_Invoke of the same algorithm and size. With 2 threads both
// threads share the snapshot and the load balancer, so round robin's shared position and the
// statistics counters are contended as they would be in use.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/url.h"

namespace {

using dubbo::cluster::FailoverCluster;
using dubbo::cluster::Invocation;
using dubbo::cluster::LoadBalancer;
using dubbo::cluster::Provider;
using dubbo::cluster::ProviderDirectory;
using dubbo::cluster::ProviderSnapshot;
using dubbo::cluster::SnapshotReader;
using dubbo::registry::URL;

// `warming`: every provider started 60 s ago with a 10-minute warm-up, so the directory keeps
// re-weighing (the pick path then reads the clock to see whether a re-weighing is due).
std::vector<URL> ProviderUrls(int count, bool mixed, bool warming = false) {
  const int64_t started = dubbo::registry::Clock::Real()->WallMillis() - 60'000;
  std::vector<URL> urls;
  for (int i = 0; i < count; ++i) {
    const int weight = mixed ? 100 * (1 + i % 3) : 100;
    auto url = URL::Parse("dubbo://10." + std::to_string(i / 65536) + "." +
                          std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
                          ":20880/org.apache.dubbo.demo.DemoService?application=demo&side=provider"
                          "&version=1.0.0&weight=" +
                          std::to_string(weight) +
                          (warming ? "&warmup=600000&timestamp=" + std::to_string(started) : ""));
    if (!url.ok()) std::abort();
    urls.push_back(*url);
  }
  return urls;
}

// Shared between the threads of one benchmark, built once per configuration.
struct Fixture {
  std::shared_ptr<ProviderDirectory> directory;
  std::unique_ptr<LoadBalancer> lb;
  std::unique_ptr<FailoverCluster> cluster;
};

Fixture& GetFixture(std::string_view algorithm, int providers, bool mixed, bool warming = false) {
  static std::mutex mu;
  static auto* fixtures = new std::map<std::string, Fixture>();
  const std::string key = std::string(algorithm) + "/" + std::to_string(providers) +
                          (mixed ? "m" : "e") + (warming ? "w" : "");
  std::lock_guard<std::mutex> lock(mu);
  auto it = fixtures->find(key);
  if (it != fixtures->end()) return it->second;
  Fixture fixture;
  fixture.directory = std::make_shared<ProviderDirectory>();
  fixture.directory->Notify(ProviderUrls(providers, mixed, warming));
  fixture.lb = std::move(*LoadBalancer::Create(algorithm));
  dubbo::cluster::FailoverClusterOptions options;
  options.loadbalance = std::string(algorithm);
  fixture.cluster = std::move(*FailoverCluster::Create(
      fixture.directory, *URL::Parse("consumer://10.0.0.9/org.apache.dubbo.demo.DemoService"),
      options));
  // Build the lazily derived tables (schedule, ring) outside the timed loop.
  Invocation warm;
  fixture.lb->Select(*fixture.directory->snapshot(), warm);
  return fixtures->emplace(key, std::move(fixture)).first->second;
}

const std::vector<std::string>& Keys() {
  static auto* keys = [] {
    auto* k = new std::vector<std::string>();
    for (int i = 0; i < 1024; ++i) k->push_back("user-" + std::to_string(i * 7919));
    return k;
  }();
  return *keys;
}

void BM_Select(benchmark::State& state, std::string_view algorithm, bool mixed) {
  Fixture& fixture = GetFixture(algorithm, static_cast<int>(state.range(0)), mixed);
  const std::shared_ptr<const ProviderSnapshot> snapshot = fixture.directory->snapshot();
  const std::vector<std::string>& keys = Keys();
  size_t k = static_cast<size_t>(state.thread_index()) * 512;
  for (auto _ : state) {
    std::string_view args[] = {keys[k++ & 1023]};
    Invocation invocation;
    invocation.arguments = args;
    invocation.argument_count = 1;
    const Provider* p = fixture.lb->Select(*snapshot, invocation);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SelectViaReader(benchmark::State& state, std::string_view algorithm, bool mixed,
                        bool warming = false) {
  Fixture& fixture = GetFixture(algorithm, static_cast<int>(state.range(0)), mixed, warming);
  SnapshotReader reader(fixture.directory.get());
  const Invocation invocation;
  for (auto _ : state) {
    const Provider* p = fixture.lb->Select(reader.Get(), invocation);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Invoke(benchmark::State& state, std::string_view algorithm) {
  Fixture& fixture = GetFixture(algorithm, static_cast<int>(state.range(0)), false);
  const Invocation invocation;
  const FailoverCluster::Call call = [](const Provider&, const dubbo::cluster::Attempt&) {
    return dubbo::registry::Status();
  };
  for (auto _ : state) {
    dubbo::registry::Status s = fixture.cluster->Invoke(invocation, call);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_InvokeAsync(benchmark::State& state, std::string_view algorithm) {
  Fixture& fixture = GetFixture(algorithm, static_cast<int>(state.range(0)), false);
  const Invocation invocation;
  for (auto _ : state) {
    dubbo::registry::Status result;
    fixture.cluster->InvokeAsync(
        invocation,
        [](const Provider&, const dubbo::cluster::Attempt&, dubbo::cluster::AttemptDone done) {
          done(dubbo::registry::Status());
        },
        [&result](dubbo::registry::Status s) { result = std::move(s); });
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(state.iterations());
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->Arg(10)->Arg(100)->Arg(1000)->Threads(1)->Threads(2);
}

BENCHMARK_CAPTURE(BM_Select, random_equal, "random", false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, random_mixed, "random", true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, roundrobin_equal, "roundrobin", false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, roundrobin_mixed, "roundrobin", true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, leastactive, "leastactive", false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, shortestresponse, "shortestresponse", false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Select, consistenthash, "consistenthash", false)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_SelectViaReader, random_mixed, "random", true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_SelectViaReader, roundrobin_mixed, "roundrobin", true)->Apply(Sizes);
BENCHMARK_CAPTURE(BM_SelectViaReader, random_warming, "random", true, true)->Apply(Sizes);
void SizesOneThread(benchmark::internal::Benchmark* b) { b->Arg(10)->Arg(100)->Arg(1000); }

BENCHMARK_CAPTURE(BM_Invoke, random, "random")->Apply(Sizes);
BENCHMARK_CAPTURE(BM_Invoke, roundrobin, "roundrobin")->Apply(SizesOneThread);
BENCHMARK_CAPTURE(BM_InvokeAsync, random, "random")->Apply(SizesOneThread);
BENCHMARK_CAPTURE(BM_InvokeAsync, roundrobin, "roundrobin")->Apply(SizesOneThread);

}  // namespace

BENCHMARK_MAIN();
