// Concurrency tests (label `concurrency`, run under ThreadSanitizer by .ci/run): picks with every
// load balancer and failover invocations race with provider-list updates, warm-up re-weighting and
// breaker flips; InvokeAsync() attempts are reported from a transport thread (sometimes before
// `call` returns) while the cluster is destroyed; load balancers are registered while others are
// created. No sleeps: the writer performs a fixed number of updates while readers loop until it is
// done, and waits are on condition variables.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
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

// A transport thread: reports the attempts handed to it, in order.
class TransportThread {
 public:
  TransportThread() : thread_([this] { Run(); }) {}
  ~TransportThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Post(AttemptDone done, registry::Status status) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.emplace_back(std::move(done), std::move(status));
    }
    cv_.notify_all();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto [done, status] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      done(std::move(status));  // may run the next attempt, which may Post() again
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::deque<std::pair<AttemptDone, registry::Status>> queue_;
  std::thread thread_;
};

TEST(ClusterConcurrency, AsyncAttemptsReportedFromAnotherThreadWhileTheClusterGoes) {
  constexpr int kInvocations = 400;
  auto directory = std::make_shared<ProviderDirectory>();
  directory->Notify(ProviderList(4));  // 5 providers
  auto cluster = std::move(*FailoverCluster::Create(
      directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=roundrobin")));
  std::mutex mu;
  std::condition_variable cv;
  int finished = 0;
  std::vector<int> completions(kInvocations, 0);
  std::atomic<int> attempts{0};
  {
    TransportThread transport;
    for (int i = 0; i < kInvocations; ++i) {
      cluster->InvokeAsync(
          {},
          [&](const Provider& p, const Attempt&, AttemptDone done) {
            const int n = attempts.fetch_add(1);
            // Every fourth attempt is refused (and retried); the report races with this return.
            transport.Post(std::move(done),
                           n % 4 == 0 ? registry::UnavailableError("refused " + p.address())
                                      : registry::Status());
          },
          [&, i](registry::Status) {
            std::lock_guard<std::mutex> lock(mu);
            ++completions[static_cast<size_t>(i)];
            ++finished;
            cv.notify_all();
          });
      if (i == kInvocations / 2) cluster.reset();  // the rest go to a new cluster
      if (cluster == nullptr) {
        cluster = std::move(*FailoverCluster::Create(
            directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=random")));
      }
    }
    cluster.reset();  // with attempts still in flight
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return finished == kInvocations; });
  }
  for (int c : completions) EXPECT_EQ(c, 1);
  EXPECT_GE(attempts.load(), kInvocations);
  for (const Provider& p : directory->snapshot()->providers()) EXPECT_EQ(p.stats().active(), 0);
}

// A response and a timer racing to report one attempt through copies of IntoFunction()'s callable:
// exactly one report counts, whichever thread wins.
TEST(ClusterConcurrency, CopiesOfAnAttemptReportRaceAndOneWins) {
  constexpr int kInvocations = 200;
  auto directory = std::make_shared<ProviderDirectory>();
  directory->Notify(ProviderList(1));  // 2 providers
  auto cluster = std::move(*FailoverCluster::Create(
      directory, MustParse("consumer://10.0.0.9/com.foo.Greeter?loadbalance=roundrobin")));
  std::atomic<int> completions{0};
  std::atomic<int> ok{0};
  for (int i = 0; i < kInvocations; ++i) {
    std::vector<std::thread> racers;
    cluster->InvokeAsync(
        {},
        [&](const Provider&, const Attempt&, AttemptDone done) {
          std::function<void(registry::Status)> report = std::move(done).IntoFunction();
          racers.emplace_back([report] { report(registry::Status()); });
          racers.emplace_back([report] { report(registry::InvalidArgumentError("business")); });
        },
        [&](registry::Status s) {
          if (s.ok()) ok.fetch_add(1);
          completions.fetch_add(1);
        });
    for (std::thread& t : racers) t.join();
  }
  EXPECT_EQ(completions.load(), kInvocations);
  // Each invocation made one attempt, accounted once: as a success or as the business error.
  uint64_t accounted = 0;
  uint64_t succeeded = 0;
  for (const Provider& p : directory->snapshot()->providers()) {
    EXPECT_EQ(p.stats().active(), 0);
    accounted += p.stats().succeeded() + p.stats().failed();
    succeeded += p.stats().succeeded();
  }
  EXPECT_EQ(accounted, static_cast<uint64_t>(kInvocations));
  EXPECT_EQ(succeeded, static_cast<uint64_t>(ok.load()));
}

TEST(ClusterConcurrency, LoadBalancersRegisterWhileOthersAreCreated) {
  std::atomic<bool> done{false};
  auto creator = [&] {
    long created = 0;
    while (!done.load(std::memory_order_acquire) || created < 200) {
      for (const std::string& name : LoadBalancer::Names()) {
        registry::Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create(name);
        ASSERT_TRUE(lb.ok()) << name << ": " << lb.status();
        ASSERT_EQ((*lb)->name(), name);
      }
      ++created;
    }
  };
  auto registrar = [](int thread) {
    for (int i = 0; i < 50; ++i) {
      const std::string name = "conc-" + std::to_string(thread) + "-" + std::to_string(i);
      registry::Status s = RegisterLoadBalancer(name, [name](const LoadBalancerOptions& options) {
        LoadBalancerOptions renamed = options;
        // A wrapper around a built-in that reports its registered name.
        struct Named final : LoadBalancer {
          std::string name_;
          std::unique_ptr<LoadBalancer> inner_;
          std::string_view name() const override { return name_; }
          const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& invocation,
                                 const ProviderFilter* filter) const override {
            return inner_->Select(snapshot, invocation, filter);
          }
        };
        auto named = std::make_unique<Named>();
        named->name_ = name;
        named->inner_ = std::move(*LoadBalancer::Create("random", renamed));
        return registry::Result<std::unique_ptr<LoadBalancer>>(std::move(named));
      });
      ASSERT_TRUE(s.ok()) << s;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(creator);
  threads.emplace_back(registrar, 0);
  threads.emplace_back(registrar, 1);
  threads[1].join();
  threads[2].join();
  done.store(true, std::memory_order_release);
  threads[0].join();
  const std::vector<std::string> names = LoadBalancer::Names();
  EXPECT_EQ(names.size(), 5u + 100u);
}

}  // namespace
}  // namespace dubbo::cluster
