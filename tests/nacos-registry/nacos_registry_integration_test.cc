// NacosRegistry end to end: the production factory (NamingClient underneath) against an in-process
// naming-server on port 0. A provider process and a consumer process are two RegistryManagers.
// Waits are bounded condition-variable waits, never sleeps.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/registry_factory.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using naming_server::NamingServer;
using naming_server::NamingServerOptions;
using registry::testing::TempDir;

// Records notifications; Wait() blocks until the last list satisfies a predicate, under a watchdog
// (60 s) that only a broken registry runs into, however loaded the machine.
class WaitingListener : public NotifyListener {
 public:
  void Notify(const std::vector<URL>& urls) override {
    std::lock_guard<std::mutex> lock(mu_);
    last_ = urls;
    ++count_;
    cv_.notify_all();
  }
  bool Wait(const std::function<bool(const std::vector<URL>&)>& pred,
            std::chrono::seconds bound = std::chrono::seconds(60)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return count_ > 0 && pred(last_); });
  }
  std::vector<URL> last() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<URL> last_;
  int count_ = 0;
};

bool IsEmptyList(const std::vector<URL>& urls) {
  return urls.size() == 1 && urls[0].IsEmptyProtocol();
}

URL Parse(const std::string& text) {
  Result<URL> url = URL::Parse(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.ok() ? *url : URL();
}

class NacosRegistryIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NamingServerOptions options;
    options.port = 0;
    auto server = NamingServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_TRUE(RegisterNacosRegistry(provider_side_).ok());
    ASSERT_TRUE(RegisterNacosRegistry(consumer_side_).ok());
  }
  void TearDown() override {
    provider_side_.DestroyAll();
    consumer_side_.DestroyAll();
  }

  std::string RegistryUrl(const std::string& extra = "") const {
    return "nacos://127.0.0.1:" + std::to_string(server_->port()) +
           "?file.cache=false&clientIp=127.0.0.1&requestTimeout=2000&JM.SNAPSHOT.PATH=" +
           cache_.path() + extra;
  }

  TempDir cache_;
  std::unique_ptr<NamingServer> server_;
  RegistryManager provider_side_;
  RegistryManager consumer_side_;
};

TEST_F(NacosRegistryIntegrationTest, ConsumerFollowsAProviderThroughTheServer) {
  // Without empty protection (it covers both layers), so that the last provider leaving is seen.
  auto consumer =
      consumer_side_.GetRegistry(Parse(RegistryUrl("&enable-empty-protection=false")));
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  auto provider = provider_side_.GetRegistry(Parse(RegistryUrl()));
  ASSERT_TRUE(provider.ok()) << provider.status();
  EXPECT_TRUE((*consumer)->IsAvailable());

  auto listener = std::make_shared<WaitingListener>();
  const URL subscription = Parse(
      "consumer://127.0.0.1/"
      "com.foo.Greeter?version=1.0.0&category=providers,configurators,routers");
  ASSERT_TRUE((*consumer)->Subscribe(subscription, listener).ok());
  EXPECT_TRUE(IsEmptyList(listener->last()));

  const URL exported = Parse(
      "dubbo://127.0.0.1:20880/"
      "com.foo.Greeter?version=1.0.0&side=provider&application=demo&weight=200&"
      "methods=hello,bye&timestamp=1700000000000");
  ASSERT_TRUE((*provider)->Register(exported).ok());
  const URL expected = exported.WithParameter("category", "providers");
  ASSERT_TRUE(listener->Wait([&](const std::vector<URL>& urls) {
    return urls.size() == 1 && urls[0] == expected;
  })) << "last: "
      << (listener->last().empty() ? "-" : listener->last()[0].ToString());
  EXPECT_EQ(listener->last()[0].ToFullString(),
            expected.ToFullString());  // Exactly, timestamp too.

  Result<std::vector<URL>> looked_up = (*consumer)->Lookup(subscription);
  ASSERT_TRUE(looked_up.ok()) << looked_up.status();
  EXPECT_EQ(looked_up->size(), 1u);

  ASSERT_TRUE((*provider)->Unregister(exported).ok());
  EXPECT_TRUE(listener->Wait(IsEmptyList));

  // Destroy deregisters what is still registered.
  const URL second = exported.WithPort(20881);
  ASSERT_TRUE((*provider)->Register(second).ok());
  ASSERT_TRUE(listener->Wait(
      [](const std::vector<URL>& urls) { return urls.size() == 1 && urls[0].port() == 20881; }));
  (*provider)->Destroy();
  EXPECT_TRUE(listener->Wait(IsEmptyList));
}

TEST_F(NacosRegistryIntegrationTest, WildcardSubscriptionSeesEveryService) {
  auto provider = provider_side_.GetRegistry(Parse(RegistryUrl()));
  ASSERT_TRUE(provider.ok()) << provider.status();
  ASSERT_TRUE((*provider)->Register(Parse("dubbo://127.0.0.1:20880/com.foo.A?side=provider")).ok());
  ASSERT_TRUE(
      (*provider)->Register(Parse("tri://127.0.0.1:50051/com.foo.B?version=2&side=provider")).ok());

  auto admin_registry = consumer_side_.GetRegistry(Parse(RegistryUrl()));
  ASSERT_TRUE(admin_registry.ok()) << admin_registry.status();
  auto listener = std::make_shared<WaitingListener>();
  ASSERT_TRUE(
      (*admin_registry)
          ->Subscribe(Parse("admin://127.0.0.1/*?interface=*&version=*&group=*&check=false"),
                      listener)
          .ok());
  EXPECT_TRUE(listener->Wait([](const std::vector<URL>& urls) { return urls.size() == 2; }))
      << listener->last().size();
}

// The registry reads enable-empty-protection=yes as true (a bad URL parameter is the default), and
// so does the naming client it creates: creation succeeds instead of failing on
// namingPushEmptyProtection, a key the URL does not contain.
TEST_F(NacosRegistryIntegrationTest, BadEmptyProtectionDoesNotFailCreation) {
  auto registry = consumer_side_.GetRegistry(Parse(RegistryUrl("&enable-empty-protection=yes")));
  ASSERT_TRUE(registry.ok()) << registry.status();
  // The client's own property is still checked, under its own name.
  auto explicit_bad =
      consumer_side_.GetRegistry(Parse(RegistryUrl("&namingPushEmptyProtection=yes&group=g2")));
  ASSERT_FALSE(explicit_bad.ok());
  EXPECT_EQ(explicit_bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(explicit_bad.status().message().find("namingPushEmptyProtection"), std::string::npos)
      << explicit_bad.status();
}

TEST_F(NacosRegistryIntegrationTest, CheckRefusesAServerThatIsDown) {
  const std::string url = RegistryUrl("&connectTimeout=500&requestTimeout=500");
  server_.reset();  // Nobody listens on that port any more.
  auto checked = consumer_side_.GetRegistry(Parse(url));
  EXPECT_EQ(checked.status().code(), StatusCode::kUnavailable) << checked.status();
  auto unchecked = consumer_side_.GetRegistry(Parse(url + "&check=false"));
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  EXPECT_FALSE((*unchecked)->IsAvailable());
}

}  // namespace
}  // namespace dubbo::registry::nacos
