// Many threads register, unregister, subscribe, unsubscribe and push at once while operations fail
// at random and a driver thread runs the retry timers. Run under ThreadSanitizer in CI (label
// `concurrency`). Checks: no crash or race, listeners never called concurrently, and once everything
// settles the registry and the "server" agree with the last operation of every thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "testing/fake_registry.h"
#include "testing/recording_listener.h"

namespace dubbo::registry {
namespace {

using testing::FakeRegistry;
using testing::Op;
using testing::RecordingListener;

constexpr int kThreads = 6;
constexpr int kUrlsPerThread = 4;
constexpr int kIterations = 400;

URL ProviderUrl(int thread, int index) {
  return *URL::Parse("dubbo://10.0." + std::to_string(thread) + "." + std::to_string(index) +
                     ":20880/com.stress.Service?interface=com.stress.Service&side=provider");
}

TEST(RegistryStressTest, ConcurrentOperationsWithFailuresSettleConsistently) {
  ManualScheduler sched;
  RegistryOptions options;
  options.scheduler = &sched;
  FakeRegistry registry(*URL::Parse("fake://127.0.0.1:9090?check=false&file=false&retry.period=10"),
                        options);
  const URL consumer = *URL::Parse("consumer://10.9.9.9/com.stress.Service?interface=com.stress.Service");

  std::atomic<bool> stop{false};
  // Runs the retry timers concurrently with the callers.
  std::thread driver([&] {
    while (!stop.load()) sched.AdvanceBy(std::chrono::milliseconds(1));
  });
  // Plays the server pushing changes.
  std::thread pusher([&] {
    while (!stop.load()) registry.Push();
  });

  std::vector<std::shared_ptr<RecordingListener>> listeners;
  for (int t = 0; t < kThreads; ++t) listeners.push_back(std::make_shared<RecordingListener>());
  // Final intended state, written only by the owning thread (char, not vector<bool>: its packed bits
  // would make neighbouring threads' writes a data race).
  std::vector<std::vector<char>> registered(kThreads, std::vector<char>(kUrlsPerThread, 0));
  std::vector<char> subscribed(kThreads, 0);

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int i = 0; i < kIterations; ++i) {
        const int choice = static_cast<int>(rng() % 10);
        const int index = static_cast<int>(rng() % kUrlsPerThread);
        if (rng() % 8 == 0) registry.FailNext(static_cast<Op>(rng() % 4), 1);
        Status status;
        if (choice < 4) {
          status = registry.Register(ProviderUrl(t, index));
          registered[t][index] = 1;
        } else if (choice < 7) {
          status = registry.Unregister(ProviderUrl(t, index));
          registered[t][index] = 0;
        } else if (choice < 9) {
          status = registry.Subscribe(consumer, listeners[t]);
          subscribed[t] = 1;
        } else {
          status = registry.Unsubscribe(consumer, listeners[t]);
          subscribed[t] = 0;
        }
        EXPECT_TRUE(status.ok()) << status;
        if (i % 50 == 0) (void)registry.Lookup(consumer);
      }
    });
  }
  for (auto& w : workers) w.join();
  stop = true;
  driver.join();
  pusher.join();

  // Settle: no more injected failures; run every pending retry.
  for (int op = 0; op < 4; ++op) registry.FailNext(static_cast<Op>(op), 0);
  for (int i = 0; i < 100 && registry.pending_retries().total() > 0; ++i) {
    sched.AdvanceBy(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(registry.pending_retries().total(), 0u);

  std::vector<URL> server = registry.server_urls();
  std::vector<URL> local = registry.GetRegistered();
  size_t expected = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kUrlsPerThread; ++k) {
      const URL url = ProviderUrl(t, k);
      const bool on_server = std::find(server.begin(), server.end(), url) != server.end();
      const bool in_local = std::find(local.begin(), local.end(), url) != local.end();
      EXPECT_EQ(on_server, registered[t][k] != 0) << url;
      EXPECT_EQ(in_local, registered[t][k] != 0) << url;
      expected += registered[t][k] ? 1 : 0;
    }
  }
  EXPECT_EQ(server.size(), expected);
  size_t expected_subscriptions = 0;
  for (int t = 0; t < kThreads; ++t) expected_subscriptions += subscribed[t] ? 1 : 0;
  EXPECT_EQ(registry.GetSubscribed().size(), expected_subscriptions);
  EXPECT_EQ(registry.server_subscription_count(), expected_subscriptions);

  registry.Destroy();
  std::vector<size_t> counts;
  for (const auto& l : listeners) counts.push_back(l->count());
  registry.Push();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_FALSE(listeners[t]->overlapped()) << "listener " << t << " was called concurrently";
    EXPECT_EQ(listeners[t]->count(), counts[t]) << "called after Destroy()";
  }
}

// The real ThreadScheduler with its own thread: the registry's retries and callers race for real.
TEST(RegistryStressTest, RealSchedulerAndDestroyUnderLoad) {
  auto registry = std::make_unique<FakeRegistry>(
      *URL::Parse("fake://127.0.0.1:9090?check=false&file=false&retry.period=1"), RegistryOptions());
  const URL consumer = *URL::Parse("consumer://10.9.9.9/com.stress.Service?interface=com.stress.Service");
  auto listener = std::make_shared<RecordingListener>();
  registry->FailNext(Op::kRegister, 1000000);  // Retries keep the timer thread busy throughout.
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        EXPECT_TRUE(registry->Register(ProviderUrl(t, i % kUrlsPerThread)).ok());
        EXPECT_TRUE(registry->Subscribe(consumer, listener).ok());
        registry->Push();
        EXPECT_TRUE(registry->Unsubscribe(consumer, listener).ok());
      }
    });
  }
  for (auto& w : workers) w.join();
  registry->Destroy();
  EXPECT_FALSE(listener->overlapped());
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  registry.reset();
}

}  // namespace
}  // namespace dubbo::registry
