// NacosRegistry over FakeNamingService (no server): registration, subscriptions and their full
// lists, empty:// and empty protection, filtering, shared Nacos subscriptions, pattern re-listing
// on a ManualScheduler, destroy, failback retries, availability and the factory. Deterministic: the
// fake delivers changes synchronously and time moves only through ManualScheduler.
#include "dubbo/registry/nacos/nacos_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/registry_factory.h"
#include "fake_naming_service.h"
#include "nacos_registry_mapping.h"
#include "testing/log_capture.h"
#include "testing/recording_listener.h"

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::nacos::testing::FakeNamingService;
using ::dubbo::registry::nacos::testing::NamingOp;
using ::dubbo::registry::testing::LogCapture;
using ::dubbo::registry::testing::RecordingListener;

constexpr char kGreeterName[] = "providers:com.foo.Greeter:1.0.0:";

URL Parse(const std::string& text) {
  Result<URL> url = URL::Parse(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.ok() ? *url : URL();
}

URL Provider(const std::string& ip, const std::string& extra = "") {
  return Parse("dubbo://" + ip +
               ":20880/com.foo.Greeter?version=1.0.0&side=provider&application=demo" + extra);
}
// What a consumer receives for a registered provider URL: the same URL, category made explicit.
URL Delivered(const URL& provider) { return provider.WithParameter("category", "providers"); }

URL ConsumerSubscription(const std::string& extra = "") {
  return Parse(
      "consumer://10.0.0.9/com.foo.Greeter?version=1.0.0&category=providers,configurators,routers" +
      extra);
}

Instance AsInstance(const URL& url) {
  return internal::UrlToInstance(url, URL("nacos", "h", 8848));
}

std::vector<URL> Urls(std::initializer_list<URL> urls) { return std::vector<URL>(urls); }

class NacosRegistryTest : public ::testing::Test {
 protected:
  std::shared_ptr<NacosRegistry> MakeRegistry(const std::string& params = "", bool owns = false) {
    RegistryOptions options;
    options.scheduler = &sched_;
    options.clock = &sched_;
    auto registry = std::make_shared<NacosRegistry>(
        Parse("nacos://127.0.0.1:8848?file.cache=false" + params), options, naming_, owns);
    sched_.RunDue();  // The first status check.
    return registry;
  }

  // A pattern subscription on `registry` sees a new service `period` after it subscribed, not
  // a second earlier.
  void ExpectRelistingEvery(NacosRegistry* registry, Duration period) {
    const URL greeter = Provider("10.0.0.1");
    AddProvider(greeter);
    auto listener = std::make_shared<RecordingListener>();
    const URL admin = Parse("admin://10.0.0.9/*?interface=*&version=*&group=*&check=false");
    ASSERT_TRUE(registry->Subscribe(admin, listener).ok());
    const URL echo = Parse("thrift://10.0.0.3:9090/demo.Echo?side=provider");
    naming_->AddInstance("providers:demo.Echo::", AsInstance(echo));
    sched_.AdvanceBy(period - std::chrono::seconds(1));
    EXPECT_EQ(registry->GetNotified(admin)["providers"], Urls({Delivered(greeter)}));
    sched_.AdvanceBy(std::chrono::seconds(1));
    EXPECT_EQ(registry->GetNotified(admin)["providers"],
              Urls({Delivered(greeter), Delivered(echo)}));
  }

  // Another process's provider.
  void AddProvider(const URL& url, const std::string& name = kGreeterName) {
    naming_->AddInstance(name, AsInstance(url));
  }
  void RemoveProvider(const URL& url, const std::string& name = kGreeterName) {
    naming_->RemoveInstance(name, AsInstance(url).Address());
  }

  ManualScheduler sched_;
  std::shared_ptr<FakeNamingService> naming_ = std::make_shared<FakeNamingService>();
};

// --- Register ------------------------------------------------------------------------------------

TEST_F(NacosRegistryTest, RegistersOneInstanceUnderTheDubboServiceNameAndTheRegistryGroup) {
  auto registry = MakeRegistry("&group=dev-group");
  EXPECT_EQ(registry->nacos_group(), "dev-group");
  const URL provider = Provider("10.0.0.1", "&weight=200");
  ASSERT_TRUE(registry->Register(provider).ok());

  std::vector<Instance> instances = naming_->instances(kGreeterName, "dev-group");
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].ip, "10.0.0.1");
  EXPECT_EQ(instances[0].port, 20880);
  EXPECT_DOUBLE_EQ(instances[0].weight, 200);
  EXPECT_EQ(instances[0].metadata.at("protocol"), "dubbo");
  EXPECT_EQ(instances[0].metadata.at("path"), "com.foo.Greeter");
  EXPECT_EQ(instances[0].metadata.at("category"), "providers");
  EXPECT_EQ(instances[0].metadata.at("application"), "demo");
  EXPECT_TRUE(naming_->instances(kGreeterName).empty());  // Not in DEFAULT_GROUP.

  ASSERT_TRUE(registry->Unregister(provider).ok());
  EXPECT_TRUE(naming_->instances(kGreeterName, "dev-group").empty());
}

TEST_F(NacosRegistryTest, DefaultGroupIsDefaultGroup) {
  auto registry = MakeRegistry();
  EXPECT_EQ(registry->nacos_group(), "DEFAULT_GROUP");
  ASSERT_TRUE(registry->Register(Provider("10.0.0.1")).ok());
  EXPECT_EQ(naming_->instances(kGreeterName, "DEFAULT_GROUP").size(), 1u);
}

TEST_F(NacosRegistryTest, ConsumerUrlsAreRegisteredOnlyWithRegisterConsumerUrl) {
  const URL consumer =
      Parse("consumer://10.0.0.9/com.foo.Greeter?version=1.0.0&side=consumer&category=consumers");
  {
    auto registry = MakeRegistry();
    ASSERT_TRUE(registry->Register(consumer).ok());
    EXPECT_EQ(naming_->calls(NamingOp::kRegister), 0);
    ASSERT_TRUE(registry->Unregister(consumer).ok());
    EXPECT_EQ(naming_->calls(NamingOp::kDeregister), 0);
  }
  auto registry = MakeRegistry("&register-consumer-url=true");
  ASSERT_TRUE(registry->Register(consumer).ok());
  EXPECT_EQ(naming_->instances("consumers:com.foo.Greeter:1.0.0:").size(), 1u);
}

TEST_F(NacosRegistryTest, UrlWithoutInterfaceIsRejected) {
  auto registry = MakeRegistry();
  EXPECT_EQ(registry->Register(Parse("dubbo://10.0.0.1:20880")).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(naming_->calls(NamingOp::kRegister), 0);
}

// --- Subscribe -----------------------------------------------------------------------------------

TEST_F(NacosRegistryTest, SubscribeDeliversTheCurrentProvidersThenTheFullListOnEveryChange) {
  const URL a = Provider("10.0.0.1");
  const URL b = Provider("10.0.0.2", "&weight=300");
  AddProvider(a);
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  ASSERT_EQ(listener->count(), 1u);  // Delivered before Subscribe returned.
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));

  AddProvider(b);
  ASSERT_EQ(listener->count(), 2u);
  EXPECT_EQ(listener->last(), Urls({Delivered(a), Delivered(b)}));
  EXPECT_EQ(listener->last()[1].GetParameter("weight"), "300");

  RemoveProvider(a);
  ASSERT_EQ(listener->count(), 3u);
  EXPECT_EQ(listener->last(), Urls({Delivered(b)}));
  EXPECT_FALSE(listener->overlapped());
}

TEST_F(NacosRegistryTest, ProvidersOfOtherVersionsAndForeignInstancesAreNotDelivered) {
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  Instance foreign;  // No protocol metadata: not a Dubbo provider.
  foreign.ip = "10.0.0.7";
  foreign.port = 80;
  naming_->AddInstance(kGreeterName, foreign);
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
}

TEST_F(NacosRegistryTest, RepeatedIdenticalListsAreNotRedelivered) {
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  naming_->Push(kGreeterName);
  naming_->SetHealthy(kGreeterName, AsInstance(a).Address(), false);  // Not part of the URL.
  EXPECT_EQ(listener->count(), 1u);
  // A new timestamp (a re-exported provider) is news, although URL equality ignores it.
  AddProvider(a.WithParameter("timestamp", "2"));
  AddProvider(a.WithParameter("timestamp", "3"));
  ASSERT_EQ(listener->count(), 3u);
  EXPECT_EQ(listener->last()[0].GetParameter("timestamp"), "3");
}

TEST_F(NacosRegistryTest, WithoutProtectionAnEmptyCategoryIsDeliveredAsEmptyUrl) {
  auto registry = MakeRegistry("&enable-empty-protection=false");
  auto listener = std::make_shared<RecordingListener>();
  const URL subscription = ConsumerSubscription();
  ASSERT_TRUE(registry->Subscribe(subscription, listener).ok());
  ASSERT_EQ(listener->count(), 1u);
  ASSERT_EQ(listener->last().size(), 1u);
  EXPECT_TRUE(listener->last()[0].IsEmptyProtocol());
  EXPECT_EQ(listener->last()[0].GetParameter("category"), "providers");
  EXPECT_EQ(listener->last()[0].ServiceInterface(), "com.foo.Greeter");

  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
  RemoveProvider(a);
  ASSERT_EQ(listener->count(), 3u);
  ASSERT_EQ(listener->last().size(), 1u);
  EXPECT_TRUE(listener->last()[0].IsEmptyProtocol());
}

TEST_F(NacosRegistryTest, EmptyProtectionKeepsTheLastNonEmptyListByDefault) {
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  // No list to keep yet: the empty category is still announced.
  ASSERT_EQ(listener->count(), 1u);
  EXPECT_TRUE(listener->last()[0].IsEmptyProtocol());

  const URL a = Provider("10.0.0.1");
  const URL b = Provider("10.0.0.2");
  AddProvider(a);
  ASSERT_EQ(listener->count(), 2u);
  RemoveProvider(a);
  EXPECT_EQ(listener->count(), 2u);  // Nothing sent: the listener keeps [a].
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
  AddProvider(b);
  ASSERT_EQ(listener->count(), 3u);
  EXPECT_EQ(listener->last(), Urls({Delivered(b)}));
}

// A bad boolean is the default, as URL::GetBool reads it, and is said once.
TEST_F(NacosRegistryTest, EmptyProtectionOtherThanTrueOrFalseIsOnAndLogged) {
  LogCapture logs(LogSeverity::kWarning);
  auto registry = MakeRegistry("&enable-empty-protection=yes");
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("enable-empty-protection=yes"), std::string::npos)
      << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using true"), std::string::npos) << logs.lines()[0];

  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  RemoveProvider(a);
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));  // Protected: the list is kept.
  int setting_lines = 0;
  for (const std::string& line : logs.lines()) {
    if (line.find("enable-empty-protection") != std::string::npos) ++setting_lines;
  }
  EXPECT_EQ(setting_lines, 1);
}

TEST_F(NacosRegistryTest, DisabledInstancesAreFilteredOut) {
  const URL a = Provider("10.0.0.1");
  const URL b = Provider("10.0.0.2");
  AddProvider(a);
  AddProvider(b);
  naming_->SetEnabled(kGreeterName, AsInstance(b).Address(), false);
  auto registry = MakeRegistry("&enable-empty-protection=false");
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));

  naming_->SetEnabled(kGreeterName, AsInstance(a).Address(), false);
  ASSERT_EQ(listener->last().size(), 1u);
  EXPECT_TRUE(listener->last()[0].IsEmptyProtocol());
  naming_->SetEnabled(kGreeterName, AsInstance(b).Address(), true);
  EXPECT_EQ(listener->last(), Urls({Delivered(b)}));
}

TEST_F(NacosRegistryTest, UnhealthyInstancesAreKeptByDefaultAsInDubbo) {
  const URL a = Provider("10.0.0.1");
  const URL b = Provider("10.0.0.2");
  AddProvider(a);
  AddProvider(b);
  naming_->SetHealthy(kGreeterName, AsInstance(b).Address(), false);
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(a), Delivered(b)}));
}

TEST_F(NacosRegistryTest, HealthyOnlyDropsUnhealthyInstancesUnlessNoneIsHealthy) {
  const URL a = Provider("10.0.0.1");
  const URL b = Provider("10.0.0.2");
  AddProvider(a);
  AddProvider(b);
  naming_->SetHealthy(kGreeterName, AsInstance(b).Address(), false);
  auto registry = MakeRegistry("&nacos.healthy-only=true");
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
  naming_->SetHealthy(kGreeterName, AsInstance(a).Address(), false);
  EXPECT_EQ(listener->last(), Urls({Delivered(a), Delivered(b)}));
}

TEST_F(NacosRegistryTest, OneNacosSubscriptionPerServiceNameIsShared) {
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  auto registry = MakeRegistry();
  auto first = std::make_shared<RecordingListener>();
  auto second = std::make_shared<RecordingListener>();
  auto third = std::make_shared<RecordingListener>();
  const URL subscription = ConsumerSubscription();
  const URL other_app = ConsumerSubscription("&application=other");
  ASSERT_TRUE(registry->Subscribe(subscription, first).ok());
  ASSERT_TRUE(registry->Subscribe(subscription, second).ok());
  ASSERT_TRUE(registry->Subscribe(other_app, third).ok());
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 1);
  EXPECT_EQ(naming_->calls(NamingOp::kSubscribe), 1);
  EXPECT_EQ(naming_->calls(NamingOp::kGetAllInstances), 1);  // Later subscribers reuse the data.
  for (const auto& l : {first, second, third}) EXPECT_EQ(l->last(), Urls({Delivered(a)}));

  const URL b = Provider("10.0.0.2");
  AddProvider(b);
  for (const auto& l : {first, second, third}) {
    EXPECT_EQ(l->count(), 2u);
    EXPECT_EQ(l->last(), Urls({Delivered(a), Delivered(b)}));
  }

  ASSERT_TRUE(registry->Unsubscribe(subscription, first).ok());
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 1);
  ASSERT_TRUE(registry->Unsubscribe(other_app, third).ok());
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 1);
  ASSERT_TRUE(registry->Unsubscribe(subscription, second).ok());
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 0);
  EXPECT_EQ(naming_->calls(NamingOp::kUnsubscribe), 1);
}

TEST_F(NacosRegistryTest, UnsubscribeStopsNotifications) {
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  const URL subscription = ConsumerSubscription();
  ASSERT_TRUE(registry->Subscribe(subscription, listener).ok());
  ASSERT_TRUE(registry->Unsubscribe(subscription, listener).ok());
  AddProvider(Provider("10.0.0.1"));
  EXPECT_EQ(listener->count(), 1u);
  EXPECT_EQ(naming_->total_subscriptions(), 0);
  // Unknown subscriptions are ignored.
  EXPECT_TRUE(registry->Unsubscribe(subscription, listener).ok());
}

TEST_F(NacosRegistryTest, AListenerMayUnsubscribeFromInsideItsCall) {
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  const URL subscription = ConsumerSubscription();
  ASSERT_TRUE(registry->Subscribe(subscription, listener).ok());
  std::weak_ptr<RecordingListener> weak = listener;
  listener->SetHook([&registry, &subscription, weak](const std::vector<URL>&) {
    EXPECT_TRUE(registry->Unsubscribe(subscription, weak.lock()).ok());
  });
  AddProvider(Provider("10.0.0.1"));
  EXPECT_EQ(listener->count(), 2u);
  AddProvider(Provider("10.0.0.2"));
  EXPECT_EQ(listener->count(), 2u);
  EXPECT_EQ(naming_->total_subscriptions(), 0);
}

TEST_F(NacosRegistryTest, LegacyNamesAreAggregatedWithTheCurrentOnes) {
  const URL old_provider = Provider("10.0.0.1");
  const URL new_provider = Provider("10.0.0.2");
  AddProvider(old_provider, "providers:com.foo.Greeter:1.0.0");  // As Dubbo <= 2.7.3 named it.
  AddProvider(new_provider);
  AddProvider(new_provider, "providers:com.foo.Greeter:1.0.0");  // Listed under both: once.
  {
    auto registry = MakeRegistry();
    auto listener = std::make_shared<RecordingListener>();
    ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
    EXPECT_EQ(listener->last(), Urls({Delivered(new_provider)}));
  }
  auto registry = MakeRegistry("&nacos.subscribe.legacy-name=true");
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(old_provider), Delivered(new_provider)}));
  // The legacy name going empty does not empty the list (apache/dubbo#5871).
  RemoveProvider(old_provider, "providers:com.foo.Greeter:1.0.0");
  RemoveProvider(new_provider, "providers:com.foo.Greeter:1.0.0");
  EXPECT_EQ(listener->last(), Urls({Delivered(new_provider)}));
}

TEST_F(NacosRegistryTest, LookupAsksWithoutSubscribing) {
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  auto registry = MakeRegistry();
  Result<std::vector<URL>> found = registry->Lookup(ConsumerSubscription());
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, Urls({Delivered(a)}));
  EXPECT_EQ(naming_->total_subscriptions(), 0);
}

// --- Patterns and the wildcard admin subscription ------------------------------------------------

TEST_F(NacosRegistryTest, WildcardSubscriptionListsServicesAndRelistsThemPeriodically) {
  const URL greeter = Provider("10.0.0.1");
  AddProvider(greeter);
  const URL consumer =
      Parse("consumer://10.0.0.9/com.foo.Greeter?version=1.0.0&side=consumer&category=consumers");
  naming_->AddInstance("consumers:com.foo.Greeter:1.0.0:", AsInstance(consumer));
  naming_->AddInstance("not-a-dubbo-service", Instance());
  auto registry = MakeRegistry("&nacos.service.names.lookup.interval=10");
  auto listener = std::make_shared<RecordingListener>();
  const URL admin = Parse(
      "admin://10.0.0.9/*?interface=*&version=*&group=*&classifier=*&enabled=*&check=false&"
      "category=providers,consumers,routers,configurators");
  ASSERT_TRUE(registry->Subscribe(admin, listener).ok());
  // One complete list per category.
  std::map<std::string, std::vector<URL>> notified = registry->GetNotified(admin);
  EXPECT_EQ(notified["providers"], Urls({Delivered(greeter)}));
  EXPECT_EQ(notified["consumers"], Urls({consumer}));
  EXPECT_EQ(naming_->total_subscriptions(), 2);

  const URL echo = Parse("thrift://10.0.0.3:9090/demo.Echo?side=provider");
  naming_->AddInstance("providers:demo.Echo::", AsInstance(echo));
  EXPECT_EQ(registry->GetNotified(admin)["providers"].size(), 1u);  // Not listened to yet.
  sched_.AdvanceBy(std::chrono::seconds(9));
  EXPECT_EQ(registry->GetNotified(admin)["providers"].size(), 1u);
  sched_.AdvanceBy(std::chrono::seconds(1));
  EXPECT_EQ(registry->GetNotified(admin)["providers"], Urls({Delivered(greeter), Delivered(echo)}));
  EXPECT_EQ(naming_->total_subscriptions(), 3);
  EXPECT_EQ(sched_.pending(), 1u);  // The next re-listing.

  // Unsubscribing the last pattern subscription stops the re-listing.
  ASSERT_TRUE(registry->Unsubscribe(admin, listener).ok());
  EXPECT_EQ(sched_.pending(), 0u);
  EXPECT_EQ(naming_->total_subscriptions(), 0);
}

// A period beyond a day would overflow nothing useful: it is a day, and the WARNING says so.
TEST_F(NacosRegistryTest, LookupIntervalAboveADayIsADayAndLogged) {
  LogCapture logs(LogSeverity::kWarning);
  auto registry = MakeRegistry("&nacos.service.names.lookup.interval=9223372036854775807");
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("nacos.service.names.lookup.interval=9223372036854775807"),
            std::string::npos)
      << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using 86400"), std::string::npos) << logs.lines()[0];

  ExpectRelistingEvery(registry.get(), std::chrono::hours(24));
}

TEST_F(NacosRegistryTest, MalformedLookupIntervalIsTheDefaultAndLogged) {
  LogCapture logs(LogSeverity::kWarning);
  auto registry = MakeRegistry("&nacos.service.names.lookup.interval=10s");
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("is not an integer"), std::string::npos) << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using 30"), std::string::npos) << logs.lines()[0];

  ExpectRelistingEvery(registry.get(), std::chrono::seconds(30));
}

TEST_F(NacosRegistryTest, RelistingPagesThroughAllServices) {
  for (int i = 0; i < 7; ++i) {
    naming_->AddInstance("providers:com.foo.S" + std::to_string(i) + "::",
                         AsInstance(Parse("dubbo://10.0.0.1:1/com.foo.S" + std::to_string(i))));
  }
  auto registry = MakeRegistry("&nacos.service.names.pagination.size=3");
  auto listener = std::make_shared<RecordingListener>();
  const URL admin = Parse("admin://10.0.0.9/*?interface=*&version=*&group=*&check=false");
  ASSERT_TRUE(registry->Subscribe(admin, listener).ok());
  EXPECT_EQ(naming_->calls(NamingOp::kGetServices), 3);
  EXPECT_EQ(registry->GetNotified(admin)["providers"].size(), 7u);
}

TEST_F(NacosRegistryTest, GroupWildcardOfAConcreteInterfaceMatchesEveryGroup) {
  const URL in_a = Provider("10.0.0.1", "&group=a");
  const URL in_b = Provider("10.0.0.2", "&group=b");
  const URL other = Parse("dubbo://10.0.0.3:20880/com.foo.Other?version=1.0.0&group=a");
  AddProvider(in_a, "providers:com.foo.Greeter:1.0.0:a");
  AddProvider(in_b, "providers:com.foo.Greeter:1.0.0:b");
  AddProvider(other, "providers:com.foo.Other:1.0.0:a");
  auto registry = MakeRegistry();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription("&group=*"), listener).ok());
  EXPECT_EQ(listener->last(), Urls({Delivered(in_a), Delivered(in_b)}));
  EXPECT_EQ(naming_->total_subscriptions(), 2);

  auto listed = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription("&group=b,c"), listed).ok());
  EXPECT_EQ(listed->last(), Urls({Delivered(in_b)}));
}

// --- Destroy -------------------------------------------------------------------------------------

TEST_F(NacosRegistryTest, DestroyDeregistersDynamicUrlsAndCancelsEverything) {
  auto registry = MakeRegistry();
  const URL dynamic = Provider("10.0.0.1");
  const URL persistent = Provider("10.0.0.2", "&dynamic=false");
  ASSERT_TRUE(registry->Register(dynamic).ok());
  ASSERT_TRUE(registry->Register(persistent).ok());
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  ASSERT_TRUE(
      registry->Subscribe(Parse("admin://h/*?interface=*&version=*&group=*"), listener).ok());
  const size_t calls = listener->count();

  registry->Destroy();
  EXPECT_TRUE(registry->IsDestroyed());
  EXPECT_FALSE(registry->IsAvailable());
  std::vector<Instance> left = naming_->instances(kGreeterName);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].ip, "10.0.0.2");
  EXPECT_EQ(naming_->total_subscriptions(), 0);
  EXPECT_EQ(sched_.pending(), 0u);
  EXPECT_FALSE(naming_->shut_down());  // Not the registry's to shut down.
  AddProvider(Provider("10.0.0.3"));
  EXPECT_EQ(listener->count(), calls);
  EXPECT_EQ(registry->Register(dynamic).code(), StatusCode::kFailedPrecondition);
  registry->Destroy();  // Idempotent.
}

TEST_F(NacosRegistryTest, DestroyShutsDownANamingServiceItOwns) {
  auto registry = MakeRegistry("", /*owns=*/true);
  ASSERT_TRUE(registry->Register(Provider("10.0.0.1")).ok());
  registry.reset();  // The destructor destroys.
  EXPECT_TRUE(naming_->shut_down());
  EXPECT_TRUE(naming_->instances(kGreeterName).empty());
}

// Keeps a copy of every naming listener, as a client whose bounded Shutdown() detached a listener
// thread still running would.
class ListenerKeepingNaming : public FakeNamingService {
 public:
  Result<SubscriptionId> Subscribe(std::string_view service_name, std::string_view group_name,
                                   NamingListener listener) override {
    {
      std::lock_guard<std::mutex> lock(kept_mu);
      kept.push_back(listener);
    }
    return FakeNamingService::Subscribe(service_name, group_name, std::move(listener));
  }
  std::mutex kept_mu;
  std::vector<NamingListener> kept;
};

TEST_F(NacosRegistryTest, ANamingListenerRunningAfterTheRegistryIsFreedTouchesNothingFreed) {
  auto naming = std::make_shared<ListenerKeepingNaming>();
  naming->AddInstance(kGreeterName, AsInstance(Provider("10.0.0.1")));
  RegistryOptions options;
  options.scheduler = &sched_;
  options.clock = &sched_;
  auto registry = std::make_shared<NacosRegistry>(Parse("nacos://127.0.0.1:8848?file.cache=false"),
                                                  options, naming, /*owns_naming=*/true);
  sched_.RunDue();
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), listener).ok());
  ASSERT_EQ(listener->count(), 1u);
  ASSERT_FALSE(naming->kept.empty());

  registry->Destroy();
  registry.reset();  // Freed: a listener must reach only the state it shares ownership of.
  ServiceChangeEvent event;
  event.service_name = std::string("DEFAULT_GROUP@@") + kGreeterName;
  event.instances.push_back(AsInstance(Provider("10.0.0.2")));
  for (const NamingListener& kept : naming->kept) kept(event);  // ASan flags a use after free.
  EXPECT_EQ(listener->count(), 1u);
}

TEST_F(NacosRegistryTest, DestroyLeavesEphemeralInstancesToTheClientItOwns) {
  auto registry = MakeRegistry("", /*owns=*/true);
  ASSERT_TRUE(registry->Register(Provider("10.0.0.1")).ok());
  ASSERT_TRUE(registry->Register(Provider("10.0.0.2", "&ephemeral=false")).ok());
  registry->Destroy();
  // Only the persistent one is deregistered one by one; the client's Shutdown() took the other.
  EXPECT_EQ(naming_->calls(NamingOp::kDeregister), 1);
  EXPECT_TRUE(naming_->shut_down());
  EXPECT_TRUE(naming_->instances(kGreeterName).empty());
}

// --- Failback ------------------------------------------------------------------------------------

TEST_F(NacosRegistryTest, FailedRegisterIsRetriedOnTheScheduler) {
  auto registry = MakeRegistry("&check=false");
  naming_->FailNext(NamingOp::kRegister, 2);
  ASSERT_TRUE(registry->Register(Provider("10.0.0.1")).ok());
  EXPECT_EQ(registry->pending_retries().registers, 1u);
  EXPECT_TRUE(naming_->instances(kGreeterName).empty());
  sched_.AdvanceBy(std::chrono::seconds(5));
  EXPECT_TRUE(naming_->instances(kGreeterName).empty());
  sched_.AdvanceBy(std::chrono::seconds(5));
  EXPECT_EQ(naming_->instances(kGreeterName).size(), 1u);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
}

TEST_F(NacosRegistryTest, FailedRegisterWithCheckIsReturned) {
  auto registry = MakeRegistry();
  naming_->FailNext(NamingOp::kRegister, 1);
  EXPECT_EQ(registry->Register(Provider("10.0.0.1")).code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry->pending_retries().total(), 0u);
}

TEST_F(NacosRegistryTest, FailedSubscribeIsRetriedAndThenDelivers) {
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  auto registry = MakeRegistry();
  naming_->FailNext(NamingOp::kGetAllInstances, 1);
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription("&check=false"), listener).ok());
  EXPECT_EQ(listener->count(), 0u);
  EXPECT_EQ(registry->pending_retries().subscribes, 1u);
  sched_.AdvanceBy(std::chrono::seconds(5));
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
  EXPECT_EQ(registry->pending_retries().total(), 0u);
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 1);
}

TEST_F(NacosRegistryTest, AChangeArrivingBeforeTheSubscribeRetryIsDelivered) {
  auto registry = MakeRegistry();
  naming_->FailNext(NamingOp::kGetAllInstances, 1);
  auto listener = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription("&check=false"), listener).ok());
  const URL a = Provider("10.0.0.1");
  AddProvider(a);
  EXPECT_EQ(listener->last(), Urls({Delivered(a)}));
}

TEST_F(NacosRegistryTest, FailedSubscribeWithCheckAndNoCacheIsReturned) {
  auto registry = MakeRegistry();
  naming_->FailNext(NamingOp::kSubscribe, 1);
  auto listener = std::make_shared<RecordingListener>();
  EXPECT_EQ(registry->Subscribe(ConsumerSubscription(), listener).code(), StatusCode::kUnavailable);
  EXPECT_EQ(naming_->total_subscriptions(), 0);
}

// --- Availability --------------------------------------------------------------------------------

TEST_F(NacosRegistryTest, IsAvailableIsCachedAndRefreshedInTheBackground) {
  RegistryOptions options;
  options.scheduler = &sched_;
  auto registry = std::make_shared<NacosRegistry>(
      Parse("nacos://127.0.0.1:8848?file.cache=false&nacos.available.ttl=2000"), options, naming_,
      false);
  EXPECT_FALSE(registry->IsAvailable());  // Not checked yet.
  sched_.RunDue();
  EXPECT_TRUE(registry->IsAvailable());
  EXPECT_EQ(naming_->calls(NamingOp::kGetServerStatus), 1);

  naming_->set_status("DOWN");
  sched_.AdvanceBy(std::chrono::milliseconds(1999));
  EXPECT_TRUE(registry->IsAvailable());  // Fresh enough: no call, no task.
  EXPECT_EQ(sched_.pending(), 0u);
  sched_.AdvanceBy(std::chrono::milliseconds(1));
  EXPECT_TRUE(registry->IsAvailable());  // Stale: answers at once, refreshes in the background.
  EXPECT_TRUE(registry->IsAvailable());
  EXPECT_EQ(sched_.pending(), 1u);
  sched_.RunDue();
  EXPECT_FALSE(registry->IsAvailable());
  EXPECT_EQ(naming_->calls(NamingOp::kGetServerStatus), 2);
}

TEST_F(NacosRegistryTest, AvailableTtlAboveADayIsADayAndLogged) {
  LogCapture logs(LogSeverity::kWarning);
  RegistryOptions options;
  options.scheduler = &sched_;
  auto registry = std::make_shared<NacosRegistry>(
      Parse("nacos://127.0.0.1:8848?file.cache=false&nacos.available.ttl=100000000000000000"),
      options, naming_, false);
  ASSERT_EQ(logs.lines().size(), 1u);
  EXPECT_NE(logs.lines()[0].find("nacos.available.ttl=100000000000000000"), std::string::npos)
      << logs.lines()[0];
  EXPECT_NE(logs.lines()[0].find("using 86400000"), std::string::npos) << logs.lines()[0];
  sched_.RunDue();
  EXPECT_TRUE(registry->IsAvailable());

  naming_->set_status("DOWN");
  sched_.AdvanceBy(std::chrono::hours(24) - std::chrono::milliseconds(1));
  EXPECT_TRUE(registry->IsAvailable());
  EXPECT_EQ(sched_.pending(), 0u);  // Still fresh.
  sched_.AdvanceBy(std::chrono::milliseconds(1));
  EXPECT_TRUE(registry->IsAvailable());
  EXPECT_EQ(sched_.pending(), 1u);  // Stale after a day: a refresh is queued.
  sched_.RunDue();
  EXPECT_FALSE(registry->IsAvailable());
}

// --- Factory -------------------------------------------------------------------------------------

class NacosRegistryFactoryTest : public ::testing::Test {
 protected:
  NacosRegistryFactoryTest() {
    RegistryOptions options;
    options.scheduler = &sched_;
    manager_ = std::make_unique<RegistryManager>(options);
    EXPECT_TRUE(manager_
                    ->RegisterFactory(std::make_unique<NacosRegistryFactory>(
                        [this](const URL& url) -> Result<std::shared_ptr<internal::NamingService>> {
                          made_for_.push_back(url);
                          auto fake = std::make_shared<FakeNamingService>();
                          fake->set_status(status_);
                          fakes_.push_back(fake);
                          return std::shared_ptr<internal::NamingService>(fake);
                        }))
                    .ok());
  }
  ~NacosRegistryFactoryTest() override { manager_->DestroyAll(); }

  ManualScheduler sched_;
  std::string status_ = "UP";
  std::vector<URL> made_for_;
  std::vector<std::shared_ptr<FakeNamingService>> fakes_;
  std::unique_ptr<RegistryManager> manager_;
};

TEST_F(NacosRegistryFactoryTest, ServesTheNacosProtocolAndSharesRegistriesPerNamespace) {
  Result<std::shared_ptr<Registry>> first =
      manager_->GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_NE(dynamic_cast<NacosRegistry*>(first->get()), nullptr);
  EXPECT_TRUE((*first)->IsAvailable());  // Checked at creation.
  Result<std::shared_ptr<Registry>> again =
      manager_->GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false&namespace=public"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), first->get());
  Result<std::shared_ptr<Registry>> dev =
      manager_->GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false&namespace=dev"));
  ASSERT_TRUE(dev.ok());
  EXPECT_NE(dev->get(), first->get());
  ASSERT_EQ(made_for_.size(), 2u);
  EXPECT_EQ(made_for_[1].GetParameter("namespace"), "dev");
  EXPECT_EQ(made_for_[1].path(), "org.apache.dubbo.registry.RegistryService");  // Normalised.

  ASSERT_TRUE((*first)->Register(Provider("10.0.0.1")).ok());
  EXPECT_EQ(fakes_[0]->instances(kGreeterName).size(), 1u);
  manager_->DestroyAll();
  EXPECT_TRUE(fakes_[0]->shut_down());
  EXPECT_TRUE(fakes_[1]->shut_down());
  EXPECT_TRUE(fakes_[0]->instances(kGreeterName).empty());
}

// A naming service whose status query waits until Shutdown() (bounded only so that a factory that
// never ends it fails the test instead of hanging it).
class StatusWaitsForShutdown : public FakeNamingService {
 public:
  std::string GetServerStatus() override {
    std::unique_lock<std::mutex> lock(mu_);
    asked_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return down_; });
    return "DOWN";
  }
  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      down_ = true;
      cv_.notify_all();
    }
    FakeNamingService::Shutdown();
  }
  void WaitUntilAsked() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return asked_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool asked_ = false;
  bool down_ = false;
};

TEST(NacosRegistryFactoryShutdownTest, DestroyAllEndsACreationWaitingForTheServer) {
  ManualScheduler sched;
  RegistryOptions options;
  options.scheduler = &sched;
  RegistryManager manager(options);
  auto naming = std::make_shared<StatusWaitsForShutdown>();
  ASSERT_TRUE(manager
                  .RegisterFactory(std::make_unique<NacosRegistryFactory>(
                      [naming](const URL&) -> Result<std::shared_ptr<internal::NamingService>> {
                        return std::shared_ptr<internal::NamingService>(naming);
                      }))
                  .ok());
  Result<std::shared_ptr<Registry>> created = InternalError("not run");
  std::thread starting(
      [&] { created = manager.GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false")); });
  naming->WaitUntilAsked();
  manager.DestroyAll();
  starting.join();
  EXPECT_EQ(created.status().code(), StatusCode::kFailedPrecondition) << created.status();
  EXPECT_TRUE(naming->shut_down());
  EXPECT_EQ(manager.GetRegistry(Parse("nacos://127.0.0.1:8848")).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST_F(NacosRegistryFactoryTest, CheckRequiresTheServerToBeUp) {
  status_ = "DOWN";
  Result<std::shared_ptr<Registry>> checked =
      manager_->GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false"));
  EXPECT_EQ(checked.status().code(), StatusCode::kUnavailable);
  ASSERT_EQ(fakes_.size(), 1u);
  EXPECT_TRUE(fakes_[0]->shut_down());

  Result<std::shared_ptr<Registry>> unchecked =
      manager_->GetRegistry(Parse("nacos://127.0.0.1:8848?file.cache=false&check=false"));
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  sched_.RunDue();
  EXPECT_FALSE((*unchecked)->IsAvailable());
}

// --- Concurrency ---------------------------------------------------------------------------------

// Changes pushed from other threads while subscriptions come and go: no deadlock, no overlapping
// listener calls, and every live subscription ends on the server's final list. (The pushers stop by
// themselves: the thread that drains a serial queue runs what others add meanwhile, so a flood that
// never ends could keep a subscriber busy delivering for as long.)
TEST_F(NacosRegistryTest, ChangesRaceSubscriptions) {
  auto registry = MakeRegistry();
  std::atomic<bool> stop{false};
  std::vector<std::thread> pushers;
  for (int t = 0; t < 2; ++t) {
    pushers.emplace_back([&, t] {
      for (int i = 0; i < 3000 && !stop.load(); ++i) {
        const URL p = Provider("10.0." + std::to_string(t) + "." + std::to_string(i % 5));
        if (i % 3 == 2) {
          RemoveProvider(p);
        } else {
          AddProvider(p);
        }
      }
    });
  }
  auto kept = std::make_shared<RecordingListener>();
  ASSERT_TRUE(registry->Subscribe(ConsumerSubscription(), kept).ok());
  for (int i = 0; i < 200; ++i) {
    auto listener = std::make_shared<RecordingListener>();
    const URL subscription = ConsumerSubscription("&n=" + std::to_string(i % 4));
    ASSERT_TRUE(registry->Subscribe(subscription, listener).ok());
    EXPECT_GE(listener->count(), 1u);
    ASSERT_TRUE(registry->Unsubscribe(subscription, listener).ok());
  }
  stop.store(true);
  for (std::thread& t : pushers) t.join();
  naming_->Push(kGreeterName);  // Settles every subscriber on the final list.
  std::vector<URL> expected;
  for (const Instance& instance : naming_->instances(kGreeterName)) {
    expected.push_back(*internal::InstanceToUrl(instance));
  }
  if (expected.empty()) {
    ASSERT_EQ(kept->last().size(), 1u);
    EXPECT_TRUE(kept->last()[0].IsEmptyProtocol());
  } else {
    EXPECT_EQ(kept->last(), expected);
  }
  EXPECT_FALSE(kept->overlapped());
  EXPECT_EQ(naming_->subscriber_count(kGreeterName), 1);
}

}  // namespace
}  // namespace dubbo::registry::nacos
