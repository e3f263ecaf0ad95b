// NacosRegistry's mapping: service names, URL <-> Instance
// (a table and a seeded property test of the exact round trip), subscription plans and name
// patterns.
#include "nacos_registry_mapping.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "dubbo/registry/nacos/nacos_registry.h"

namespace dubbo::registry::nacos::internal {
namespace {

URL Parse(std::string_view text) {
  Result<URL> url = URL::Parse(text);
  EXPECT_TRUE(url.ok()) << text << ": " << url.status();
  return url.ok() ? *url : URL();
}

const URL kRegistry = URL("nacos", "127.0.0.1", 8848);

TEST(NacosServiceNameTest, CategoryInterfaceVersionGroupWithEmptySegmentsKept) {
  EXPECT_EQ(ServiceName("providers", "com.foo.Bar", "1.0.0", "g"), "providers:com.foo.Bar:1.0.0:g");
  EXPECT_EQ(ServiceName("providers", "com.foo.Bar", "", ""), "providers:com.foo.Bar::");
  EXPECT_EQ(ServiceName("consumers", "com.foo.Bar", "1.0.0", ""), "consumers:com.foo.Bar:1.0.0:");
  EXPECT_EQ(ServiceName("providers", "com.foo.Outer$Inner", "", "g"),
            "providers:com.foo.Outer___Inner::g");
}

TEST(NacosServiceNameTest, RegisteredNameComesFromTheUrl) {
  EXPECT_EQ(
      RegisteredServiceName(Parse("dubbo://10.0.0.1:20880/com.foo.Bar?version=1.0.0&group=g")),
      "providers:com.foo.Bar:1.0.0:g");
  // `interface` wins over the path.
  EXPECT_EQ(RegisteredServiceName(Parse("tri://10.0.0.1:50051/ctx/path?interface=com.foo.Bar")),
            "providers:com.foo.Bar::");
  EXPECT_EQ(RegisteredServiceName(Parse("consumer://10.0.0.9/com.foo.Bar?version=2&side=consumer")),
            "consumers:com.foo.Bar:2:");
  EXPECT_EQ(RegisteredServiceName(Parse("dubbo://10.0.0.1:1/com.foo.Bar?category=routers")),
            "routers:com.foo.Bar::");
}

TEST(NacosServiceNameTest, LegacyNamesDropBlankParts) {
  EXPECT_EQ(LegacyServiceName("providers", "com.foo.Bar", "", ""), "providers:com.foo.Bar");
  EXPECT_EQ(LegacyServiceName("providers", "com.foo.Bar", "1.0", "g"),
            "providers:com.foo.Bar:1.0:g");
  EXPECT_EQ(LegacyServiceName("providers", "com.foo.Bar", "", "g"), "providers:com.foo.Bar:g");
}

TEST(NacosServiceNameTest, ParseAcceptsOnlyFourSegments) {
  std::optional<ServiceNameParts> parts = ParseServiceName("providers:com.foo.Outer___Inner:1.0:g");
  ASSERT_TRUE(parts.has_value());
  EXPECT_EQ(parts->category, "providers");
  EXPECT_EQ(parts->interface, "com.foo.Outer$Inner");
  EXPECT_EQ(parts->version, "1.0");
  EXPECT_EQ(parts->group, "g");
  ASSERT_TRUE(ParseServiceName("providers:com.foo.Bar::").has_value());
  EXPECT_FALSE(ParseServiceName("providers:com.foo.Bar").has_value());
  EXPECT_FALSE(ParseServiceName("providers:com.foo.Bar:1:g:extra").has_value());
  EXPECT_FALSE(ParseServiceName("my-plain-nacos-service").has_value());
  EXPECT_FALSE(ParseServiceName(":com.foo.Bar::").has_value());
}

TEST(NacosServiceNameTest, Concreteness) {
  EXPECT_TRUE(IsConcrete("1.0.0"));
  EXPECT_TRUE(IsConcrete(""));
  EXPECT_TRUE(IsConcrete("a,"));  // Java's split drops the trailing empty item.
  EXPECT_FALSE(IsConcrete("*"));
  EXPECT_FALSE(IsConcrete("a,b"));
}

TEST(NacosSubscriptionPlanTest, ConcreteConsumerListensToTheProvidersName) {
  SubscriptionPlan plan = PlanSubscription(
      Parse("consumer://10.0.0.9/"
            "com.foo.Bar?version=1.0.0&group=g&category=providers,configurators,routers"),
      /*legacy_names=*/false);
  EXPECT_FALSE(plan.pattern);
  EXPECT_EQ(plan.names, (std::vector<std::string>{"providers:com.foo.Bar:1.0.0:g"}));
  EXPECT_EQ(plan.categories, (std::vector<std::string>{"providers"}));

  plan = PlanSubscription(Parse("consumer://10.0.0.9/com.foo.Bar"), /*legacy_names=*/true);
  EXPECT_EQ(plan.names,
            (std::vector<std::string>{"providers:com.foo.Bar::", "providers:com.foo.Bar"}));

  // Nacos holds no configurators: nothing to listen to.
  plan = PlanSubscription(Parse("provider://10.0.0.1:20880/com.foo.Bar?category=configurators"),
                          false);
  EXPECT_TRUE(plan.names.empty());
  EXPECT_TRUE(plan.categories.empty());

  plan =
      PlanSubscription(Parse("admin://10.0.0.9/com.foo.Bar?category=providers,consumers"), false);
  EXPECT_EQ(plan.names,
            (std::vector<std::string>{"providers:com.foo.Bar::", "consumers:com.foo.Bar::"}));
}

TEST(NacosSubscriptionPlanTest, WildcardsAndListsArePatterns) {
  EXPECT_TRUE(PlanSubscription(Parse("admin://h/*?interface=*&version=*&group=*"), false).pattern);
  EXPECT_TRUE(PlanSubscription(Parse("consumer://h/com.foo.Bar?group=*"), false).pattern);
  EXPECT_TRUE(PlanSubscription(Parse("consumer://h/com.foo.Bar?group=a,b"), false).pattern);
  EXPECT_TRUE(PlanSubscription(Parse("consumer://h/com.foo.Bar?version=*"), false).names.empty());
}

TEST(NacosSubscriptionPlanTest, PatternMatching) {
  auto matches = [](std::string_view subscription, std::string_view name) {
    std::optional<ServiceNameParts> parts = ParseServiceName(name);
    return parts.has_value() && ServiceNameMatches(Parse(subscription), *parts);
  };
  const std::string admin =
      "admin://h/*?interface=*&version=*&group=*&category=providers,consumers";
  EXPECT_TRUE(matches(admin, "providers:com.foo.Bar:1.0:g"));
  EXPECT_TRUE(matches(admin, "consumers:com.foo.Bar::"));
  EXPECT_FALSE(matches(admin, "routers:com.foo.Bar::"));
  EXPECT_FALSE(matches("admin://h/*?interface=*&version=*&group=*", "consumers:com.foo.Bar::"));

  EXPECT_TRUE(matches("consumer://h/com.foo.Bar?group=*", "providers:com.foo.Bar::x"));
  EXPECT_FALSE(matches("consumer://h/com.foo.Bar?group=*", "providers:com.foo.Baz::x"));
  EXPECT_FALSE(matches("consumer://h/com.foo.Bar?group=*", "providers:com.foo.Bar:1.0:x"));
  EXPECT_TRUE(matches("consumer://h/com.foo.Bar?group=a,b&version=1", "providers:com.foo.Bar:1:b"));
  EXPECT_FALSE(
      matches("consumer://h/com.foo.Bar?group=a,b&version=1", "providers:com.foo.Bar:1:c"));
  EXPECT_TRUE(
      matches("consumer://h/com.foo.Outer$Inner?group=*", "providers:com.foo.Outer___Inner::g"));
}

TEST(NacosInstanceMappingTest, ProviderUrlToInstance) {
  const URL url = Parse(
      "dubbo://10.0.0.1:20880/com.foo.Bar?application=demo&version=1.0.0&group=g&weight=200&"
      "methods=sayHello,sayBye&timestamp=1700000000000");
  Instance instance = UrlToInstance(url, kRegistry);
  EXPECT_EQ(instance.ip, "10.0.0.1");
  EXPECT_EQ(instance.port, 20880);
  EXPECT_DOUBLE_EQ(instance.weight, 200);
  EXPECT_TRUE(instance.ephemeral);
  EXPECT_TRUE(instance.enabled);
  EXPECT_TRUE(instance.cluster_name.empty());
  std::map<std::string, std::string> expected = {
      {"application", "demo"},   {"version", "1.0.0"},           {"group", "g"},
      {"weight", "200"},         {"methods", "sayHello,sayBye"}, {"timestamp", "1700000000000"},
      {"category", "providers"}, {"protocol", "dubbo"},          {"path", "com.foo.Bar"}};
  EXPECT_EQ(instance.metadata, expected);
}

TEST(NacosInstanceMappingTest, WeightEphemeralIpv6AndPreservedSettings) {
  EXPECT_DOUBLE_EQ(UrlToInstance(Parse("dubbo://h:1/p"), kRegistry).weight, 100);
  EXPECT_DOUBLE_EQ(UrlToInstance(Parse("dubbo://h:1/p?weight=0"), kRegistry).weight, 0);
  EXPECT_DOUBLE_EQ(UrlToInstance(Parse("dubbo://h:1/p?weight=-5"), kRegistry).weight, 0);
  EXPECT_DOUBLE_EQ(UrlToInstance(Parse("dubbo://h:1/p?weight=99999"), kRegistry).weight, 10000);
  EXPECT_DOUBLE_EQ(UrlToInstance(Parse("dubbo://h:1/p?weight=heavy"), kRegistry).weight, 100);

  EXPECT_FALSE(UrlToInstance(Parse("dubbo://h:1/p?ephemeral=false"), kRegistry).ephemeral);
  const URL persistent_registry = kRegistry.WithParameter("ephemeral", "false");
  EXPECT_FALSE(UrlToInstance(Parse("dubbo://h:1/p"), persistent_registry).ephemeral);
  EXPECT_TRUE(UrlToInstance(Parse("dubbo://h:1/p?ephemeral=true"), persistent_registry).ephemeral);

  Instance v6 = UrlToInstance(Parse("dubbo://[::1]:20880/p"), kRegistry);
  EXPECT_EQ(v6.ip, "::1");
  Result<URL> back = InstanceToUrl(v6);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->host(), "[::1]");
  EXPECT_EQ(back->port(), 20880);

  const URL tuned = kRegistry.WithParameter("preserved.heart.beat.interval", "3000");
  EXPECT_EQ(
      UrlToInstance(Parse("dubbo://h:1/p"), tuned).metadata.at("preserved.heart.beat.interval"),
      "3000");
  EXPECT_EQ(UrlToInstance(Parse("dubbo://h:1/p?preserved.heart.beat.interval=1000"), tuned)
                .metadata.at("preserved.heart.beat.interval"),
            "1000");
}

TEST(NacosInstanceMappingTest, ConsumerUrlsAreConsumers) {
  const URL consumer = Parse("consumer://10.0.0.9/com.foo.Bar?side=consumer&version=1");
  EXPECT_TRUE(IsConsumerUrl(consumer));
  EXPECT_FALSE(IsConsumerUrl(Parse("dubbo://10.0.0.1:1/com.foo.Bar?side=provider")));
  Instance instance = UrlToInstance(consumer, kRegistry);
  EXPECT_EQ(instance.port, 0);
  EXPECT_EQ(instance.metadata.at("category"), "consumers");
  EXPECT_EQ(instance.metadata.at("protocol"), "consumer");
}

TEST(NacosInstanceMappingTest, InstanceToUrl) {
  Instance instance;
  instance.ip = "10.0.0.2";
  instance.port = 20881;
  instance.weight = 3;  // Not mapped back: the URL's weight is the metadata's.
  instance.metadata = {
      {"protocol", "tri"}, {"path", "com.foo.Bar"}, {"version", "1"}, {"weight", "7"}};
  Result<URL> url = InstanceToUrl(instance);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->ToFullString(), "tri://10.0.0.2:20881/com.foo.Bar?version=1&weight=7");

  Instance foreign;  // Registered by something other than Dubbo.
  foreign.ip = "10.0.0.3";
  foreign.port = 8080;
  EXPECT_EQ(InstanceToUrl(foreign).status().code(), StatusCode::kInvalidArgument);
}

TEST(NacosInstanceMappingTest, ProtocolAndPathParametersAreTakenByTheMapping) {
  // As in Dubbo, `protocol` and `path` metadata describe the URL itself; a parameter of that name
  // is overwritten.
  Result<URL> back =
      InstanceToUrl(UrlToInstance(Parse("consumer://h/com.foo.Bar?protocol=tri"), kRegistry));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->protocol(), "consumer");
  EXPECT_FALSE(back->HasParameter("protocol"));
}

TEST(NacosInstanceMappingTest, RoundTripTable) {
  const std::vector<std::string> cases = {
      "dubbo://10.0.0.1:20880/com.foo.Bar",
      "dubbo://10.0.0.1:20880/com.foo.Bar?version=1.0.0&group=g&category=providers",
      "tri://[fe80::1]:50051/ctx/com.foo.Bar?interface=com.foo.Bar&anyhost=true",
      "thrift://provider.local:9090/demo.Echo?weight=300&warmup=60000&timestamp=1",
      "consumer://10.0.0.9/com.foo.Bar?side=consumer&category=consumers&check=false",
      "dubbo://10.0.0.1:20880/"
      "com.foo.Bar?empty=&spaces=%20a%20b%20&unicode=%E2%9C%93&sayHello.timeout=300",
      "dubbo://10.0.0.1:20880/com.foo.Outer$Inner?enabled=false&dynamic=false",
      "dubbo://10.0.0.1:20880?no.path=1",
  };
  for (const std::string& text : cases) {
    const URL url = Parse(text);
    Result<URL> back = InstanceToUrl(UrlToInstance(url, kRegistry));
    ASSERT_TRUE(back.ok()) << text;
    const URL expected = url.WithParameter("category", RegisteredCategory(url));
    EXPECT_EQ(*back, expected) << text << "\n  got " << back->ToFullString();
    EXPECT_EQ(back->ToFullString(), expected.ToFullString()) << text;
  }
}

// Random URLs: every parameter (any bytes in keys and values), host kind, port and path must
// survive URL -> Instance -> URL.
TEST(NacosInstanceMappingTest, RoundTripProperty) {
  std::mt19937 rng(20240607);
  auto pick = [&](int n) {
    return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(rng));
  };
  auto random_text = [&](size_t max_len, bool allow_empty) {
    static const std::string alphabet =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "
        ".-_*:/?#&=;,%+@[]{}\"'\\\t$~";
    std::string out;
    const size_t len = (allow_empty ? 0 : 1) + static_cast<size_t>(pick(static_cast<int>(max_len)));
    for (size_t i = 0; i < len; ++i) {
      if (pick(20) == 0) {
        out.append("\xC3\xA9");  // Non-ASCII (é).
      } else {
        out.push_back(alphabet[static_cast<size_t>(pick(static_cast<int>(alphabet.size())))]);
      }
    }
    return out;
  };
  const std::vector<std::string> protocols = {"dubbo", "tri", "thrift", "grpc", "consumer", "rest"};
  const std::vector<std::string> categories = {"", "providers", "consumers", "routers"};
  for (int i = 0; i < 2000; ++i) {
    std::string host;
    switch (pick(3)) {
      case 0:
        host = std::to_string(pick(256)) + "." + std::to_string(pick(256)) + ".0." +
               std::to_string(pick(256));
        break;
      case 1:
        host = "[fd00::" + std::to_string(pick(65536)) + "]";
        break;
      default:
        host = "host-" + std::to_string(pick(1000)) + ".example";
        break;
    }
    const std::string protocol =
        protocols[static_cast<size_t>(pick(static_cast<int>(protocols.size())))];
    const int port = protocol == "consumer" ? 0 : 1 + pick(65535);
    std::string path = pick(5) == 0 ? "" : "com.example.S" + std::to_string(pick(100));
    if (pick(4) == 0) path = "ctx/" + path;
    URL::Parameters params;
    const int n = pick(12);
    for (int p = 0; p < n; ++p) {
      std::string key = random_text(12, false);
      if (key == "protocol" || key == "path") continue;
      params.emplace_back(std::move(key), random_text(24, true));
    }
    const std::string category =
        categories[static_cast<size_t>(pick(static_cast<int>(categories.size())))];
    if (!category.empty()) params.emplace_back("category", category);
    if (pick(3) == 0) params.emplace_back("side", pick(2) == 0 ? "consumer" : "provider");
    const URL url(protocol, host, port, path, params);

    const Instance instance = UrlToInstance(url, kRegistry);
    Result<URL> back = InstanceToUrl(instance);
    ASSERT_TRUE(back.ok()) << back.status();
    const URL expected = url.WithParameter("category", RegisteredCategory(url));
    ASSERT_EQ(*back, expected) << "case " << i << ": " << url.ToFullString() << "\n  got "
                               << back->ToFullString();
    ASSERT_EQ(back->parameters(), expected.parameters()) << "case " << i;  // timestamp values too.
    ASSERT_EQ(back->host(), url.host());
  }
}

TEST(NacosRegistryAddressTest, CommaListBecomesBackup) {
  Result<URL> url = ParseNacosRegistryAddress("nacos://u:p@h1:8848,h2:8848, h3?namespace=dev");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host(), "h1");
  EXPECT_EQ(url->port(), 8848);
  EXPECT_EQ(url->username(), "u");
  EXPECT_EQ(url->GetParameter("backup"), "h2:8848,h3");
  EXPECT_EQ(url->GetParameter("namespace"), "dev");
  EXPECT_EQ(url->BackupAddress(), "h1:8848,h2:8848,h3");

  url = ParseNacosRegistryAddress("nacos://h1:1,h2:2/path?backup=h0:0");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->GetParameter("backup"), "h0:0,h2:2");
  EXPECT_EQ(url->path(), "path");

  url = ParseNacosRegistryAddress("nacos://10.0.0.1:8848?namespace=a,b");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host(), "10.0.0.1");
  EXPECT_FALSE(url->HasParameter("backup"));
}

}  // namespace
}  // namespace dubbo::registry::nacos::internal
