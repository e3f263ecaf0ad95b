// A URL built by ProviderUrlBuilder, registered by NacosRegistry (over FakeNamingService) and read
// back by a consumer's ProviderDirectory: the Nacos service name, group, instance fields and
// metadata are the expected ones, and the consumer sees the weight, warm-up and timestamp the
// provider set.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/provider_url_builder.h"
#include "fake_naming_service.h"
#include "nacos_registry_mapping.h"

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::nacos::testing::FakeNamingService;

constexpr int64_t kExportMillis = 1'700'000'000'000;

class ProviderUrlBuilderNacosTest : public ::testing::Test {
 protected:
  std::shared_ptr<NacosRegistry> MakeRegistry() {
    RegistryOptions options;
    options.scheduler = &sched_;
    options.clock = &sched_;
    auto registry = std::make_shared<NacosRegistry>(
        *URL::Parse("nacos://127.0.0.1:8848?file.cache=false&group=TEAM_A"), options, naming_,
        /*owns_naming=*/false);
    sched_.RunDue();  // The first status check.
    return registry;
  }

  URL Build(ProviderUrlBuilder builder) {
    Result<URL> url = builder.UseClock(&sched_).Build();
    EXPECT_TRUE(url.ok()) << url.status();
    return url.ok() ? *url : URL();
  }

  ManualScheduler sched_{kExportMillis};
  std::shared_ptr<FakeNamingService> naming_ = std::make_shared<FakeNamingService>();
};

TEST_F(ProviderUrlBuilderNacosTest, BuiltUrlMapsToTheExpectedInstance) {
  const URL url = Build(ProviderUrlBuilder("tri", "2001:db8::7", 50051, "com.foo.Outer$Greeter")
                            .Application("greeter")
                            .Version("1.0.0")
                            .Group("blue")
                            .Methods({"Greet"})
                            .Weight(250)
                            .Warmup(std::chrono::minutes(2)));
  auto registry = MakeRegistry();
  ASSERT_TRUE(registry->Register(url).ok());

  const std::string name = "providers:com.foo.Outer___Greeter:1.0.0:blue";
  EXPECT_EQ(internal::RegisteredServiceName(url), name);
  const std::vector<Instance> instances = naming_->instances(name, "TEAM_A");
  ASSERT_EQ(instances.size(), 1u) << "registered under the registry's Nacos group";
  const Instance& instance = instances[0];
  EXPECT_EQ(instance.ip, "2001:db8::7") << "brackets removed";
  EXPECT_EQ(instance.port, 50051);
  EXPECT_EQ(instance.weight, 250.0);
  EXPECT_TRUE(instance.enabled);
  EXPECT_TRUE(instance.healthy);
  EXPECT_TRUE(instance.ephemeral) << "dynamic provider";
  // Every URL parameter, plus category, protocol and path.
  for (const auto& [key, value] : url.parameters()) {
    auto it = instance.metadata.find(key);
    ASSERT_NE(it, instance.metadata.end()) << key;
    EXPECT_EQ(it->second, value) << key;
  }
  EXPECT_EQ(instance.metadata.size(), url.parameters().size() + 3);
  EXPECT_EQ(instance.metadata.at("category"), "providers");
  EXPECT_EQ(instance.metadata.at("protocol"), "tri");
  EXPECT_EQ(instance.metadata.at("path"), "com.foo.Outer$Greeter");
  EXPECT_EQ(instance.metadata.at("side"), "provider");
  EXPECT_EQ(instance.metadata.at("timestamp"), std::to_string(kExportMillis));

  // And back: the URL a consumer receives is the built one, category made explicit.
  Result<URL> back = internal::InstanceToUrl(instance);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, url.WithParameter("category", "providers"));
}

TEST_F(ProviderUrlBuilderNacosTest, ConsumerReadsTheWeightAndWarmupBack) {
  // A weight above Nacos's instance cap (10000): the instance weight is capped, the consumer reads
  // the exact value from the metadata.
  const URL url = Build(ProviderUrlBuilder("dubbo", "10.0.0.5", 20880, "com.foo.Greeter")
                            .Version("1.0.0")
                            .Weight(20000)
                            .Warmup(std::chrono::seconds(90)));
  auto registry = MakeRegistry();
  ASSERT_TRUE(registry->Register(url).ok());
  EXPECT_EQ(naming_->instances("providers:com.foo.Greeter:1.0.0:", "TEAM_A").at(0).weight, 10000.0);

  const URL consumer =
      *URL::Parse("consumer://10.0.0.9/com.foo.Greeter?version=1.0.0&category=providers");
  cluster::ProviderDirectoryOptions options;
  options.consumer_url = consumer;
  options.clock = &sched_;
  auto directory = std::make_shared<cluster::ProviderDirectory>(options);
  ASSERT_TRUE(registry->Subscribe(consumer, directory).ok());
  std::shared_ptr<const cluster::ProviderSnapshot> snapshot = directory->snapshot();
  ASSERT_EQ(snapshot->size(), 1u);
  const cluster::Provider& provider = (*snapshot)[0];
  EXPECT_EQ(provider.weight(), 20000);
  EXPECT_EQ(provider.warmup_ms(), 90000);
  EXPECT_EQ(provider.timestamp_ms(), kExportMillis);
  // Warm-up runs from the built URL's timestamp: a third of the way in, a third of the weight.
  EXPECT_EQ(provider.WeightAt(kExportMillis + 30000), 20000 / 3);
  EXPECT_EQ(provider.WeightAt(kExportMillis + 90000), 20000);
  registry->Unsubscribe(consumer, directory).IgnoreError();
}

}  // namespace
}  // namespace dubbo::registry::nacos
