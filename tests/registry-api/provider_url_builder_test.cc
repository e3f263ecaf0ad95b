// ProviderUrlBuilder: the defaults it writes (with a manual clock, so the timestamp is known), the
// round trip of every built URL through ToString() and Parse(), and each validation rule, with the
// first problem reported.
#include "dubbo/registry/provider_url_builder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <random>
#include <string>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/version.h"

namespace dubbo::registry {
namespace {

using std::chrono::milliseconds;

constexpr int64_t kWallMillis = 1'700'000'123'456;

class ProviderUrlBuilderTest : public ::testing::Test {
 protected:
  ProviderUrlBuilder Builder(std::string host = "10.0.0.5", int port = 20880) {
    ProviderUrlBuilder builder("dubbo", std::move(host), port, "com.foo.Greeter");
    builder.UseClock(&clock_);
    return builder;
  }

  // Builds, expecting success, and checks that the printed URL parses back to the same URL with
  // the same timestamp.
  URL BuildAndRoundTrip(const ProviderUrlBuilder& builder) {
    Result<URL> url = builder.Build();
    EXPECT_TRUE(url.ok()) << url.status();
    if (!url.ok()) return URL();
    Result<URL> parsed = URL::Parse(url->ToString());
    EXPECT_TRUE(parsed.ok()) << url->ToString() << ": " << parsed.status();
    if (!parsed.ok()) return *url;
    EXPECT_EQ(*parsed, *url) << url->ToString();
    EXPECT_EQ(parsed->parameters(), url->parameters()) << url->ToString();
    EXPECT_EQ(parsed->host(), url->host());
    EXPECT_EQ(parsed->port(), url->port());
    EXPECT_EQ(parsed->path(), url->path());
    return *url;
  }

  // Expects Build() to fail with kInvalidArgument and a message containing `fragment`.
  static void ExpectInvalid(const ProviderUrlBuilder& builder, const std::string& fragment) {
    Result<URL> url = builder.Build();
    ASSERT_FALSE(url.ok()) << "built " << url->ToString();
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << url.status();
    EXPECT_NE(url.status().message().find(fragment), std::string_view::npos)
        << "expected \"" << fragment << "\" in: " << url.status();
  }

  ManualScheduler clock_{kWallMillis};
};

TEST_F(ProviderUrlBuilderTest, WritesDubboProviderDefaults) {
  const URL url = BuildAndRoundTrip(Builder());
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(url.ToString(),
            "dubbo://10.0.0.5:20880/com.foo.Greeter?anyhost=false&deprecated=false&dubbo=2.0.2"
            "&dynamic=true&generic=false&interface=com.foo.Greeter&methods=*&pid=" +
                pid + "&release=" + DUBBO_REGISTRY_VERSION +
                "&side=provider&timestamp=1700000123456");
  EXPECT_EQ(url.ServiceInterface(), "com.foo.Greeter");
  EXPECT_TRUE(IsProvider(url));
  EXPECT_FALSE(url.HasParameter(keys::kWeight)) << "consumers apply their own default";
  EXPECT_FALSE(url.HasParameter(keys::kCategory));
}

TEST_F(ProviderUrlBuilderTest, TimestampFollowsTheInjectedClock) {
  ProviderUrlBuilder builder = Builder();
  EXPECT_EQ(builder.Build()->GetInt(keys::kTimestamp, 0), kWallMillis);
  clock_.AdvanceBy(std::chrono::seconds(5));
  EXPECT_EQ(builder.Build()->GetInt(keys::kTimestamp, 0), kWallMillis + 5000);
}

TEST_F(ProviderUrlBuilderTest, EverySetterRoundTrips) {
  ProviderUrlBuilder builder = Builder();
  builder.Application("greeter-app")
      .Version("1.0.0")
      .Group("blue")
      .Methods({"Ping", "Greet"})
      .Weight(250)
      .Timeout(milliseconds(3000))
      .Retries(0)
      .LoadBalance("roundrobin")
      .Warmup(std::chrono::minutes(2))
      .AnyHost(true)
      .Deprecated(true)
      .Dynamic(false)
      .MethodParameter("Greet", "timeout", "500")
      .Parameter("category", "providers")
      .Parameter("release", "3.2.16");
  const URL url = BuildAndRoundTrip(builder);
  EXPECT_EQ(url.GetParameter("application"), "greeter-app");
  EXPECT_EQ(url.Version(), "1.0.0");
  EXPECT_EQ(url.Group(), "blue");
  EXPECT_EQ(url.GetParameter("methods"), "Greet,Ping") << "sorted";
  EXPECT_EQ(url.GetInt(keys::kWeight, 0), 250);
  EXPECT_EQ(url.GetInt("timeout", 0), 3000);
  EXPECT_EQ(url.GetInt("retries", -1), 0);
  EXPECT_EQ(url.GetParameter("loadbalance"), "roundrobin");
  EXPECT_EQ(url.GetInt(keys::kWarmup, 0), 120000);
  EXPECT_TRUE(url.IsAnyHost());
  EXPECT_EQ(url.GetParameter("deprecated"), "true");
  EXPECT_FALSE(url.GetBool(keys::kDynamic, true));
  EXPECT_EQ(url.GetMethodInt("Greet", "timeout", 0), 500);
  EXPECT_EQ(url.GetMethodInt("Ping", "timeout", 0), 3000) << "the service-level value";
  EXPECT_EQ(url.GetParameter("release"), "3.2.16") << "Parameter() overrides a default";
  EXPECT_EQ(url.ServiceKey(), "blue/com.foo.Greeter:1.0.0");
}

TEST_F(ProviderUrlBuilderTest, SpecialCharactersTheGrammarCarriesRoundTrip) {
  ProviderUrlBuilder builder = Builder();
  // '=' after the first, '?', '#', '%' (Parse() does not decode), ',', ':', '/', '@' and non-ASCII
  // UTF-8 all survive printing and parsing.
  builder.Parameter("expr", "a=b=c")
      .Parameter("query", "x?y#z")
      .Parameter("percent", "100%25")
      .Parameter("list", "a,b:c/d@e")
      .Parameter("greeting", "h\xC3\xA9llo-\xE4\xBD\xA0\xE5\xA5\xBD")
      .Parameter("empty", "")
      .Parameter("Mixed-Case_key.1", "v");
  const URL url = BuildAndRoundTrip(builder);
  EXPECT_EQ(url.GetParameter("expr"), "a=b=c");
  EXPECT_EQ(url.GetParameter("query"), "x?y#z");
  EXPECT_EQ(url.GetParameter("percent"), "100%25");
  EXPECT_EQ(url.GetParameter("greeting"), "h\xC3\xA9llo-\xE4\xBD\xA0\xE5\xA5\xBD");
  EXPECT_TRUE(url.HasParameter("empty"));
}

TEST_F(ProviderUrlBuilderTest, RandomAcceptedParametersRoundTrip) {
  // Seeded: every run checks the same 300 URLs.
  std::mt19937 random(20261207);
  const std::string key_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
  // Every printable ASCII character but space, '&' and ';', and multi-byte UTF-8 sequences.
  std::vector<std::string> value_pieces;
  for (char c = '!'; c <= '~'; ++c) {
    if (c != '&' && c != ';') value_pieces.emplace_back(1, c);
  }
  for (const char* piece : {"\xC3\xA9", "\xE4\xBD\xA0", "\xF0\x9F\x98\x80", "%41", "+"}) {
    value_pieces.emplace_back(piece);
  }
  const std::vector<std::string> hosts = {"10.1.2.3", "[::1]", "2001:db8::1", "[fe80::2%eth1]",
                                          "svc.example.org"};
  auto pick = [&random](size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(random);
  };
  for (int i = 0; i < 300; ++i) {
    ProviderUrlBuilder builder =
        Builder(hosts[pick(hosts.size())], 1 + static_cast<int>(pick(65535)));
    const size_t count = pick(6);
    for (size_t p = 0; p < count; ++p) {
      std::string key = "x";  // Never a builder-owned key nor `default.*`.
      for (size_t k = pick(8); k > 0; --k) key.push_back(key_chars[pick(key_chars.size())]);
      std::string value;
      for (size_t v = pick(10); v > 0; --v) value += value_pieces[pick(value_pieces.size())];
      builder.Parameter(key, value);
    }
    SCOPED_TRACE("iteration " + std::to_string(i));
    BuildAndRoundTrip(builder);
  }
}

TEST_F(ProviderUrlBuilderTest, Ipv6HostsGetBracketsAndRoundTrip) {
  EXPECT_EQ(BuildAndRoundTrip(Builder("[::1]")).host(), "[::1]");
  EXPECT_EQ(BuildAndRoundTrip(Builder("2001:db8::5")).host(), "[2001:db8::5]");
  EXPECT_EQ(BuildAndRoundTrip(Builder("[fe80::1%eth0]", 50051)).host(), "[fe80::1%eth0]");
  EXPECT_EQ(BuildAndRoundTrip(Builder("[fe80::1%eth0]", 50051)).port(), 50051);
  EXPECT_EQ(BuildAndRoundTrip(Builder("provider-3.prod.example.com")).host(),
            "provider-3.prod.example.com");
}

TEST_F(ProviderUrlBuilderTest, LimitsAreAccepted) {
  BuildAndRoundTrip(Builder("10.0.0.5", 1).Weight(0).Warmup(milliseconds(0)));
  BuildAndRoundTrip(Builder("10.0.0.5", 65535).Weight(INT_MAX));
  // A sub-millisecond timeout is rounded up, never down to 0.
  EXPECT_EQ(Builder().Timeout(std::chrono::microseconds(1)).Build()->GetInt("timeout", 0), 1);
  // An empty version or group is no version or group.
  const URL url = *Builder().Version("1").Version("").Group("g").Group("").Build();
  EXPECT_FALSE(url.HasParameter(keys::kVersion));
  EXPECT_FALSE(url.HasParameter(keys::kGroup));
}

TEST(ProviderUrlBuilderValidationTest, ConstructorArguments) {
  auto expect = [](ProviderUrlBuilder builder, const std::string& fragment) {
    Result<URL> url = builder.Build();
    ASSERT_FALSE(url.ok()) << fragment;
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(url.status().message().find(fragment), std::string_view::npos) << url.status();
  };
  expect({"", "10.0.0.5", 1, "I"}, "protocol is empty");
  expect({"1tri", "10.0.0.5", 1, "I"}, "not a URL scheme");
  expect({"dub bo", "10.0.0.5", 1, "I"}, "not a URL scheme");
  expect({"empty", "10.0.0.5", 1, "I"}, "not a provider's");
  expect({"consumer", "10.0.0.5", 1, "I"}, "not a provider's");
  expect({"dubbo", "", 1, "I"}, "host is empty");
  expect({"dubbo", "10.0.0.256", 1, "I"}, "not a valid IPv4 address");
  expect({"dubbo", "0.0.0.0", 1, "I"}, "unspecified address");
  expect({"dubbo", "[::]", 1, "I"}, "unspecified address");
  expect({"dubbo", "[::1", 1, "I"}, "does not close");
  expect({"dubbo", "[::g]", 1, "I"}, "not a valid IPv6 address");
  expect({"dubbo", "[fe80::1%]", 1, "I"}, "zone id");
  expect({"dubbo", "host_name", 1, "I"}, "neither an IP address nor a DNS name");
  expect({"dubbo", "-bad.example", 1, "I"}, "neither an IP address nor a DNS name");
  expect({"dubbo", "a..b", 1, "I"}, "neither an IP address nor a DNS name");
  expect({"dubbo", "10.0.0.5", 0, "I"}, "outside 1..65535");
  expect({"dubbo", "10.0.0.5", 65536, "I"}, "outside 1..65535");
  expect({"dubbo", "10.0.0.5", -1, "I"}, "outside 1..65535");
  expect({"dubbo", "10.0.0.5", 1, ""}, "interface is empty");
  expect({"dubbo", "10.0.0.5", 1, "com.foo:Bar"}, "may only hold");
  expect({"dubbo", "10.0.0.5", 1, "com/foo"}, "may only hold");
}

TEST_F(ProviderUrlBuilderTest, SetterValues) {
  ExpectInvalid(Builder().Weight(-1), "weight -1 is negative");
  ExpectInvalid(Builder().Timeout(milliseconds(0)), "timeout must be positive");
  ExpectInvalid(Builder().Retries(-1), "negative");
  ExpectInvalid(Builder().Warmup(milliseconds(-1)), "warm-up period is negative");
  ExpectInvalid(Builder().LoadBalance(""), "load balancer name is empty");
  ExpectInvalid(Builder().LoadBalance("round robin"), "may only hold");
  ExpectInvalid(Builder().Version("1.0:x"), "':'");
  ExpectInvalid(Builder().Group("a,b"), "','");
  ExpectInvalid(Builder().Group("*"), "'*'");
  ExpectInvalid(Builder().Application("my app"), "whitespace");
  ExpectInvalid(Builder().Methods({"Greet", "Ping", "Greet"}), "\"Greet\" is listed twice");
  ExpectInvalid(Builder().Methods({"Greet", ""}), "method name is empty");
  ExpectInvalid(Builder().Methods({"a.b"}), "holds '.'");
  ExpectInvalid(Builder().Methods({"Greet"}).MethodParameter("Ping", "timeout", "1"),
                "not one of the service's methods");
  ExpectInvalid(Builder().MethodParameter("Greet", "", "1"), "method parameter key is empty");
  ExpectInvalid(Builder().MethodParameter("default", "timeout", "1"), "\"default.\"");
}

TEST_F(ProviderUrlBuilderTest, ParameterKeysAndValues) {
  ExpectInvalid(Builder().Parameter("", "v"), "parameter key is empty");
  ExpectInvalid(Builder().Parameter("a&b", "v"), "may only hold");
  ExpectInvalid(Builder().Parameter("a=b", "v"), "may only hold");
  ExpectInvalid(Builder().Parameter("k y", "v"), "may only hold");
  ExpectInvalid(Builder().Parameter("default.timeout", "5"), "\"default.\"");
  ExpectInvalid(Builder().Parameter("weight", "5"), "use Weight()");
  ExpectInvalid(Builder().Parameter("interface", "x"), "written by the builder");
  ExpectInvalid(Builder().Parameter("timestamp", "1"), "written by the builder");
  ExpectInvalid(Builder().Parameter("category", "consumers"), "category can only be");
  ExpectInvalid(Builder().Parameter("k", "a&b"), "'&'");
  ExpectInvalid(Builder().Parameter("k", "a;b"), "';'");
  ExpectInvalid(Builder().Parameter("k", "a b"), "whitespace");
  ExpectInvalid(Builder().Parameter("k", " a"), "whitespace");
  ExpectInvalid(Builder().Parameter("k", "a\tb"), "whitespace");
  ExpectInvalid(Builder().Parameter("k", std::string("a\0b", 3)), "control character");
  ExpectInvalid(Builder().Parameter("k", "\xC3"), "not valid UTF-8");
  ExpectInvalid(Builder().Parameter("k", "\xC0\xAF"), "not valid UTF-8");
  ExpectInvalid(Builder().Parameter("k", "\xED\xA0\x80"), "not valid UTF-8");
}

TEST_F(ProviderUrlBuilderTest, TheFirstProblemIsReported) {
  // Setter problems in call order.
  ExpectInvalid(Builder().Weight(-1).Retries(-2), "weight");
  ExpectInvalid(Builder().Retries(-2).Weight(-1), "retries");
  // The constructor's arguments before any setter.
  ExpectInvalid(ProviderUrlBuilder("dubbo", "10.0.0.5", 0, "I").Weight(-1), "port");
  // A later valid call does not clear an earlier problem.
  ExpectInvalid(Builder().Weight(-1).Weight(5), "weight");
}

}  // namespace
}  // namespace dubbo::registry
