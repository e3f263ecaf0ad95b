#include "dubbo/registry/registry_factory.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "testing/fake_registry.h"

namespace dubbo::registry {
namespace {

using testing::FakeRegistry;

// Creates FakeRegistry instances; like Nacos, it keys registries by address *and* namespace.
class FakeFactory : public RegistryFactory {
 public:
  explicit FakeFactory(std::string protocol, std::atomic<int>* created)
      : protocol_(std::move(protocol)), created_(created) {}
  std::string protocol() const override { return protocol_; }
  Result<std::shared_ptr<Registry>> CreateRegistry(const URL& url,
                                                   const RegistryOptions& options) override {
    if (url.GetParameter("fail") == "true") return UnavailableError("cannot reach " + url.Address());
    if (throw_next) {
      throw_next = false;
      throw std::runtime_error("factory exploded");
    }
    ++*created_;
    last_url = url;
    return std::shared_ptr<Registry>(std::make_shared<FakeRegistry>(url.WithParameter("file", "false"), options));
  }
  std::string CacheKey(const URL& url) const override {
    return RegistryFactory::CacheKey(url) + "?namespace=" + std::string(url.GetParameter("namespace"));
  }
  URL last_url;
  bool throw_next = false;  // The next creation throws.

 private:
  std::string protocol_;
  std::atomic<int>* created_;
};

class RegistryManagerTest : public ::testing::Test {
 protected:
  RegistryManagerTest() : manager_(Options()) {
    auto factory = std::make_unique<FakeFactory>("fake", &created_);
    factory_ = factory.get();
    EXPECT_TRUE(manager_.RegisterFactory(std::move(factory)).ok());
  }
  RegistryOptions Options() {
    RegistryOptions options;
    options.scheduler = &sched_;
    return options;
  }
  static URL U(const std::string& text) { return *URL::Parse(text); }

  ManualScheduler sched_;
  std::atomic<int> created_{0};
  FakeFactory* factory_ = nullptr;
  RegistryManager manager_;
};

TEST_F(RegistryManagerTest, UnknownProtocolIsAClearError) {
  Result<std::shared_ptr<Registry>> r = manager_.GetRegistry(U("zookeeper://127.0.0.1:2181"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "no registry factory for protocol 'zookeeper' (registered: fake)");
}

TEST_F(RegistryManagerTest, DuplicateAndInvalidFactoriesAreRejected) {
  EXPECT_EQ(manager_.RegisterFactory(std::make_unique<FakeFactory>("FAKE", &created_)).code(),
            StatusCode::kAlreadyExists);
  EXPECT_EQ(manager_.RegisterFactory(nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(manager_.RegisterFactory(std::make_unique<FakeFactory>("", &created_)).code(),
            StatusCode::kInvalidArgument);
}

TEST_F(RegistryManagerTest, SameAddressAndNamespaceShareOneRegistry) {
  auto a = manager_.GetRegistry(U("fake://127.0.0.1:8848?namespace=dev&timestamp=1"));
  auto b = manager_.GetRegistry(U("FAKE://127.0.0.1:8848?namespace=dev&timestamp=2&export=x"));
  auto other_ns = manager_.GetRegistry(U("fake://127.0.0.1:8848?namespace=prod"));
  auto other_host = manager_.GetRegistry(U("fake://127.0.0.2:8848?namespace=dev"));
  ASSERT_TRUE(a.ok() && b.ok() && other_ns.ok() && other_host.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), other_ns->get());
  EXPECT_NE(a->get(), other_host->get());
  EXPECT_EQ(created_.load(), 3);
  EXPECT_EQ(manager_.registries().size(), 3u);
}

TEST_F(RegistryManagerTest, FactoriesSeeTheNormalisedUrl) {
  ASSERT_TRUE(manager_.GetRegistry(U("fake://u:p@127.0.0.1:8848/foo?export=dubbo%3A%2F%2Fx&refer=a%3Db"
                                     "&timestamp=5&namespace=dev"))
                  .ok());
  const URL& url = factory_->last_url;
  EXPECT_EQ(url.path(), "org.apache.dubbo.registry.RegistryService");
  EXPECT_EQ(url.GetParameter("interface"), "org.apache.dubbo.registry.RegistryService");
  EXPECT_FALSE(url.HasParameter("export"));
  EXPECT_FALSE(url.HasParameter("refer"));
  EXPECT_FALSE(url.HasParameter("timestamp"));
  EXPECT_EQ(url.GetParameter("namespace"), "dev");
  EXPECT_EQ(url.username(), "u");
}

TEST_F(RegistryManagerTest, CreationErrorsArePassedOnAndNothingIsCached) {
  auto r = manager_.GetRegistry(U("fake://127.0.0.1:8848?fail=true"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(manager_.registries().empty());
}

TEST_F(RegistryManagerTest, AThrowingFactoryIsAnInternalErrorAndTheNextCallCreatesAgain) {
  factory_->throw_next = true;
  auto failed = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kInternal);
  EXPECT_NE(failed.status().message().find("factory exploded"), std::string::npos);
  EXPECT_TRUE(manager_.registries().empty());
  // The failed creation was completed and forgotten: the same key is created again, not waited on.
  auto again = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(created_.load(), 1);
}

TEST_F(RegistryManagerTest, ADestroyedRegistryIsReplaced) {
  auto a = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  ASSERT_TRUE(a.ok());
  (*a)->Destroy();
  auto b = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  ASSERT_TRUE(b.ok());
  EXPECT_NE(a->get(), b->get());
  EXPECT_FALSE((*b)->IsDestroyed());
}

TEST_F(RegistryManagerTest, DestroyAllDestroysAndRefusesNewRegistries) {
  auto a = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  ASSERT_TRUE(a.ok());
  manager_.DestroyAll();
  EXPECT_TRUE((*a)->IsDestroyed());
  auto b = manager_.GetRegistry(U("fake://127.0.0.1:8848"));
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition);
  manager_.DestroyAll();  // idempotent
}

TEST_F(RegistryManagerTest, ConcurrentCallersGetTheSameRegistry) {
  std::vector<std::thread> threads;
  std::vector<Registry*> seen(8);
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      auto r = manager_.GetRegistry(U("fake://127.0.0.1:8848?namespace=x"));
      seen[i] = r.ok() ? r->get() : nullptr;
    });
  }
  for (auto& t : threads) t.join();
  for (Registry* r : seen) EXPECT_EQ(r, seen[0]);
  EXPECT_NE(seen[0], nullptr);
  EXPECT_EQ(created_.load(), 1);
}

// A factory whose creation of host "slow" blocks until Release() (or Shutdown()); other hosts are
// created at once, and creating host "releaser" releases the slow one.
class GatedFactory : public RegistryFactory {
 public:
  std::string protocol() const override { return "gated"; }
  Result<std::shared_ptr<Registry>> CreateRegistry(const URL& url,
                                                   const RegistryOptions& options) override {
    if (url.host() == "releaser") Release();
    if (url.host() == "slow") {
      std::unique_lock<std::mutex> lock(mu_);
      ++slow_entered_;
      cv_.notify_all();
      // Bounded only so that a manager that blocks other keys fails this test instead of hanging
      // it: with the lock-free creation the gate opens at once.
      released_by_other_key_ = cv_.wait_for(lock, std::chrono::seconds(10), [&] { return open_; });
    }
    ++created_;
    auto registry = std::make_shared<FakeRegistry>(url.WithParameter("file", "false"), options);
    std::lock_guard<std::mutex> lock(mu_);
    made_.push_back(registry);
    return std::shared_ptr<Registry>(registry);
  }
  void Shutdown() override { Release(); }

  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void WaitForSlowCreation() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return slow_entered_ > 0; });
  }
  bool released_by_other_key() {
    std::lock_guard<std::mutex> lock(mu_);
    return released_by_other_key_;
  }
  std::vector<std::shared_ptr<FakeRegistry>> made() {
    std::lock_guard<std::mutex> lock(mu_);
    return made_;
  }
  std::atomic<int> created_{0};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int slow_entered_ = 0;
  bool released_by_other_key_ = false;
  std::vector<std::shared_ptr<FakeRegistry>> made_;
};

class GatedManagerTest : public ::testing::Test {
 protected:
  GatedManagerTest() {
    RegistryOptions options;
    options.scheduler = &sched_;
    manager_ = std::make_unique<RegistryManager>(options);
    auto factory = std::make_unique<GatedFactory>();
    factory_ = factory.get();
    EXPECT_TRUE(manager_->RegisterFactory(std::move(factory)).ok());
  }
  static URL U(const std::string& text) { return *URL::Parse(text); }

  ManualScheduler sched_;
  std::unique_ptr<RegistryManager> manager_;
  GatedFactory* factory_ = nullptr;
};

TEST_F(GatedManagerTest, ASlowCreationDoesNotBlockAnotherKey) {
  Result<std::shared_ptr<Registry>> slow = InternalError("not run");
  std::thread caller([&] { slow = manager_->GetRegistry(U("gated://slow:1")); });
  factory_->WaitForSlowCreation();
  // Created while the slow one is still being created; creating it opens the slow one's gate.
  auto releaser = manager_->GetRegistry(U("gated://releaser:1"));
  caller.join();
  ASSERT_TRUE(releaser.ok()) << releaser.status();
  ASSERT_TRUE(slow.ok()) << slow.status();
  EXPECT_TRUE(factory_->released_by_other_key());
  EXPECT_EQ(manager_->registries().size(), 2u);
}

TEST_F(GatedManagerTest, CallersOfOneKeyShareOneCreation) {
  std::vector<Result<std::shared_ptr<Registry>>> results(4, InternalError("not run"));
  std::vector<std::thread> callers;
  callers.emplace_back([&] { results[0] = manager_->GetRegistry(U("gated://slow:1")); });
  factory_->WaitForSlowCreation();
  for (size_t i = 1; i < results.size(); ++i) {
    callers.emplace_back([&, i] { results[i] = manager_->GetRegistry(U("gated://slow:1")); });
  }
  factory_->Release();
  for (std::thread& t : callers) t.join();
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, *results[0]);
  }
  EXPECT_EQ(factory_->created_.load(), 1);
}

TEST_F(GatedManagerTest, DestroyAllEndsACreationInProgressAndDestroysItsRegistry) {
  Result<std::shared_ptr<Registry>> slow = InternalError("not run");
  std::thread caller([&] { slow = manager_->GetRegistry(U("gated://slow:1")); });
  factory_->WaitForSlowCreation();
  manager_->DestroyAll();  // Calls the factory's Shutdown(), which opens the gate.
  caller.join();
  EXPECT_EQ(slow.status().code(), StatusCode::kFailedPrecondition) << slow.status();
  ASSERT_EQ(factory_->made().size(), 1u);
  EXPECT_TRUE(factory_->made()[0]->IsDestroyed());
  EXPECT_TRUE(manager_->registries().empty());
}

TEST(RegistryManagerDefaultTest, IsOneProcessWideInstance) {
  EXPECT_EQ(&RegistryManager::Default(), &RegistryManager::Default());
}

}  // namespace
}  // namespace dubbo::registry
