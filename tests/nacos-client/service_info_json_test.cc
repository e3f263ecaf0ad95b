// Tests for service_info_json (ParseServiceInfo, ServiceInfoToJson, DiffServiceInfo,
// HasUsableInstance) and the value types of naming_types.h.
#include "service_info_json.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace dubbo::registry::nacos {
namespace {

using ::dubbo::registry::StatusCode;

// A Nacos 1.4.x list answer (kTv6Legacy) and a 2.x one (kTv6V2) for the same instance, verbatim.
constexpr std::string_view kTv6Legacy =
    R"({"hosts":[{"ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,"marked":false,"instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},"enabled":true,"weight":1.0,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@demo","ephemeral":true}],"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","cacheMillis":10000,"lastRefTime":1700000000000,"checksum":"<32 hex>","useSpecifiedURL":false,"clusters":"","env":"","metadata":{}})";
constexpr std::string_view kTv6V2 =
    R"({"name":"DEFAULT_GROUP@@demo","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,"hosts":[{"instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,"weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},"instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,"ipDeleteTimeout":30000}],"lastRefTime":1700000000000,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true})";
// A 2.x list answer for a service that does not exist.
constexpr std::string_view kTv7Unknown =
    R"({"name":"DEFAULT_GROUP@@nope","clusters":"","cacheMillis":3000,"hosts":[]})";
// A UDP push packet from a 2.x server: `data` has no groupName.
constexpr std::string_view kPushPacket =
    R"({"type":"dom","data":"{\"name\":\"DEFAULT_GROUP@@demo\",\"clusters\":\"\",\"cacheMillis\":10000,\"hosts\":[{\"instanceId\":\"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo\",\"ip\":\"10.0.0.5\",\"port\":8080,\"weight\":1.0,\"healthy\":true,\"enabled\":true,\"ephemeral\":true,\"clusterName\":\"DEFAULT\",\"serviceName\":\"DEFAULT_GROUP@@demo\",\"metadata\":{\"version\":\"1.0\"},\"instanceHeartBeatInterval\":5000,\"instanceHeartBeatTimeOut\":15000,\"ipDeleteTimeout\":30000},{\"instanceId\":\"10.0.0.7#8080#DEFAULT#DEFAULT_GROUP@@demo\",\"ip\":\"10.0.0.7\",\"port\":8080,\"weight\":2.0,\"healthy\":false,\"enabled\":true,\"ephemeral\":true,\"clusterName\":\"DEFAULT\",\"serviceName\":\"DEFAULT_GROUP@@demo\",\"metadata\":{},\"instanceIdGenerator\":\"simple\"}],\"lastRefTime\":1700000001000,\"checksum\":\"\",\"allIPs\":false,\"reachProtectionThreshold\":false,\"valid\":true}","lastRefTime":81234567890123})";

Instance DemoInstance() {
  Instance instance;
  instance.instance_id = "10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo";
  instance.ip = "10.0.0.5";
  instance.port = 8080;
  instance.weight = 1.0;
  instance.healthy = true;
  instance.enabled = true;
  instance.ephemeral = true;
  instance.cluster_name = "DEFAULT";
  instance.service_name = "DEFAULT_GROUP@@demo";
  instance.metadata = {{"version", "1.0"}};
  return instance;
}

ServiceInfo Parse(std::string_view json) {
  Result<ServiceInfo> info = ParseServiceInfo(json);
  EXPECT_TRUE(info.ok()) << info.status() << "\n" << json;
  return info.ok() ? *info : ServiceInfo();
}

// Wraps host objects into a minimal document.
std::string WithHosts(std::string_view hosts) {
  return R"({"name":"DEFAULT_GROUP@@demo","hosts":[)" + std::string(hosts) + "]}";
}

Instance Host(std::string ip, int port) {
  Instance instance;
  instance.ip = std::move(ip);
  instance.port = port;
  return instance;
}

// ---- naming_types ------------------------------------------------------------------------------

TEST(NamingTypesTest, GroupedName) {
  EXPECT_EQ(GroupedName("demo", "G1"), "G1@@demo");
  EXPECT_EQ(GroupedName("demo", ""), "DEFAULT_GROUP@@demo");
}

TEST(NamingTypesTest, KeyAddsClusters) {
  ServiceInfo info;
  info.name = "DEFAULT_GROUP@@demo";
  EXPECT_EQ(info.Key(), "DEFAULT_GROUP@@demo");
  info.clusters = "c1,c2";
  EXPECT_EQ(info.Key(), "DEFAULT_GROUP@@demo@@c1,c2");
}

TEST(NamingTypesTest, KeyGroupsABareName) {
  ServiceInfo info;
  info.name = "demo";
  info.group_name = "G1";
  EXPECT_EQ(info.Key(), "G1@@demo");
  info.group_name.clear();
  EXPECT_EQ(info.Key(), "DEFAULT_GROUP@@demo");
}

TEST(NamingTypesTest, InstanceEqualityCoversEveryField) {
  const Instance base = DemoInstance();
  EXPECT_EQ(base, DemoInstance());
  std::vector<Instance> variants(10, base);
  variants[0].instance_id = "x";
  variants[1].ip = "10.0.0.6";
  variants[2].port = 8081;
  variants[3].weight = 2.0;
  variants[4].healthy = false;
  variants[5].enabled = false;
  variants[6].ephemeral = false;
  variants[7].cluster_name = "c1";
  variants[8].service_name = "G@@demo";
  variants[9].metadata["k"] = "v";
  for (const Instance& variant : variants) {
    EXPECT_NE(variant, base);
    EXPECT_FALSE(variant == base);
  }
}

TEST(NamingTypesTest, InstanceAddress) { EXPECT_EQ(DemoInstance().Address(), "10.0.0.5:8080"); }

// ---- ParseServiceInfo: the server shapes -------------------------------------------------------

TEST(ParseServiceInfoTest, Tv6Legacy14x) {
  const ServiceInfo info = Parse(kTv6Legacy);
  EXPECT_EQ(info.name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(info.group_name, "DEFAULT_GROUP");
  EXPECT_EQ(info.clusters, "");
  EXPECT_EQ(info.cache_millis, 10000);
  EXPECT_EQ(info.last_ref_time, 1700000000000);
  EXPECT_FALSE(info.reach_protection_threshold);
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0], DemoInstance());
  EXPECT_EQ(info.Key(), "DEFAULT_GROUP@@demo");
}

TEST(ParseServiceInfoTest, Tv6V2) {
  const ServiceInfo info = Parse(kTv6V2);
  EXPECT_EQ(info.name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(info.group_name, "DEFAULT_GROUP");
  EXPECT_EQ(info.cache_millis, 10000);
  EXPECT_EQ(info.last_ref_time, 1700000000000);
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0], DemoInstance());
}

TEST(ParseServiceInfoTest, BothShapesGiveTheSameServiceInfo) {
  EXPECT_EQ(Parse(kTv6Legacy), Parse(kTv6V2));
}

TEST(ParseServiceInfoTest, Tv7UnknownService) {
  const ServiceInfo info = Parse(kTv7Unknown);
  EXPECT_EQ(info.name, "DEFAULT_GROUP@@nope");
  EXPECT_EQ(info.group_name, "DEFAULT_GROUP");
  EXPECT_EQ(info.cache_millis, 3000);
  EXPECT_EQ(info.last_ref_time, 0);
  EXPECT_TRUE(info.hosts.empty());
}

TEST(ParseServiceInfoTest, Legacy14xNoInstanceInClusters) {
  const ServiceInfo info = Parse(
      R"({"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","cacheMillis":3000,"lastRefTime":1700000000000,"checksum":"0123456789abcdef0123456789abcdef","useSpecifiedURL":false,"clusters":"c1,c2","env":"","hosts":[],"metadata":{"k":"v"}})");
  EXPECT_EQ(info.clusters, "c1,c2");
  EXPECT_EQ(info.Key(), "DEFAULT_GROUP@@demo@@c1,c2");
  EXPECT_TRUE(info.hosts.empty());
}

TEST(ParseServiceInfoTest, PushPacketData) {
  // The push receiver unwraps the packet; its `data` string is a list response.
  rapidjson::Document packet;
  packet.Parse(kPushPacket.data(), kPushPacket.size());
  ASSERT_FALSE(packet.HasParseError());
  ASSERT_TRUE(packet["data"].IsString());
  const std::string data(packet["data"].GetString(), packet["data"].GetStringLength());

  const ServiceInfo info = Parse(data);
  EXPECT_EQ(info.name, "DEFAULT_GROUP@@demo");
  EXPECT_EQ(info.group_name, "DEFAULT_GROUP");
  EXPECT_EQ(info.last_ref_time, 1700000001000);
  ASSERT_EQ(info.hosts.size(), 2u);
  EXPECT_EQ(info.hosts[0], DemoInstance());
  EXPECT_EQ(info.hosts[1].ip, "10.0.0.7");
  EXPECT_EQ(info.hosts[1].weight, 2.0);
  EXPECT_FALSE(info.hosts[1].healthy);
  EXPECT_TRUE(info.hosts[1].metadata.empty());
}

TEST(ParseServiceInfoTest, V2ReachProtectionThreshold) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@s","groupName":"G","clusters":"","cacheMillis":10000,"hosts":[],"reachProtectionThreshold":true})");
  EXPECT_TRUE(info.reach_protection_threshold);
}

TEST(ParseServiceInfoTest, HostDefaults) {
  const ServiceInfo info = Parse(WithHosts(R"({"ip":"10.0.0.1","port":80})"));
  ASSERT_EQ(info.hosts.size(), 1u);
  const Instance& host = info.hosts[0];
  EXPECT_EQ(host, Host("10.0.0.1", 80));
  EXPECT_EQ(host.weight, 1.0);
  EXPECT_TRUE(host.healthy);
  EXPECT_TRUE(host.enabled);
  EXPECT_TRUE(host.ephemeral);
  EXPECT_EQ(host.cluster_name, "DEFAULT");
  EXPECT_EQ(host.instance_id, "");
  EXPECT_EQ(info.cache_millis, 10000);  // kCacheMillisRange's fallback when the server omits it.
}

TEST(ParseServiceInfoTest, NullMeansAbsent) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@s","groupName":null,"clusters":null,"cacheMillis":null,"lastRefTime":null,"hosts":[)"
      R"({"ip":"h","port":1,"weight":null,"healthy":null,"enabled":null,"clusterName":null,"metadata":null,"instanceId":null}]})");
  EXPECT_EQ(info.group_name, "G");
  EXPECT_EQ(info.clusters, "");
  EXPECT_EQ(info.cache_millis, 10000);
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0], Host("h", 1));
}

TEST(ParseServiceInfoTest, NumbersAndBooleansAsStrings) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@s","cacheMillis":"10000","lastRefTime":"1700000000000","reachProtectionThreshold":"TRUE","hosts":[)"
      R"({"ip":"10.0.0.1","port":"8080","weight":"2.5","healthy":"false","enabled":"True","ephemeral":"false"}]})");
  EXPECT_EQ(info.cache_millis, 10000);
  EXPECT_EQ(info.last_ref_time, 1700000000000);
  EXPECT_TRUE(info.reach_protection_threshold);
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0].port, 8080);
  EXPECT_EQ(info.hosts[0].weight, 2.5);
  EXPECT_FALSE(info.hosts[0].healthy);
  EXPECT_TRUE(info.hosts[0].enabled);
  EXPECT_FALSE(info.hosts[0].ephemeral);
}

TEST(ParseServiceInfoTest, IntegralFloatsAndTextFromNumbers) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@s","clusters":7,"cacheMillis":1e4,"lastRefTime":-5.0,"hosts":[{"ip":"h","port":80.0,"weight":3,"clusterName":12,"instanceId":true}]})");
  EXPECT_EQ(info.clusters, "7");
  EXPECT_EQ(info.cache_millis, 10000);
  EXPECT_EQ(info.last_ref_time, -5);
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0].port, 80);
  EXPECT_EQ(info.hosts[0].weight, 3.0);
  EXPECT_EQ(info.hosts[0].cluster_name, "12");
  EXPECT_EQ(info.hosts[0].instance_id, "true");
}

TEST(ParseServiceInfoTest, MetadataValuesBecomeText) {
  const ServiceInfo info = Parse(WithHosts(
      R"({"ip":"h","port":1,"metadata":{"s":"x","n":1.50,"i":-3,"t":true,"f":false,"gone":null,)"
      R"("o":{"a":[1,"x\"y",{"b":null}],"c":{}},"arr":[],"e":"\u00e9\n"}})"));
  ASSERT_EQ(info.hosts.size(), 1u);
  const std::map<std::string, std::string> expected = {
      {"s", "x"},    {"n", "1.50"},       {"i", "-3"},
      {"t", "true"}, {"f", "false"},      {"o", R"({"a":[1,"x\"y",{"b":null}],"c":{}})"},
      {"arr", "[]"}, {"e", "\xC3\xA9\n"},
  };
  EXPECT_EQ(info.hosts[0].metadata, expected);
}

TEST(ParseServiceInfoTest, UnknownMembersIgnored) {
  const ServiceInfo info = Parse(
      R"({"selector":{"deep":[[[{"x":[1,2,{"y":null}]}]]]},"hosts":[{"ip":"h","port":1,"marked":{"odd":[]},"extra":[1,{"name":"no"}],"instanceHeartBeatInterval":5000}],"name":"G@@s","future":true,"allIPs":"x"})");
  EXPECT_EQ(info.name, "G@@s");
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0], Host("h", 1));
}

TEST(ParseServiceInfoTest, RepeatedMembersLastWins) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@a","name":"G@@b","hosts":[{"ip":"h1","port":1}],"hosts":[{"ip":"h2","port":2,"port":3,"metadata":{"a":"1"},"metadata":{"b":"2","b":"3"}}]})");
  EXPECT_EQ(info.name, "G@@b");
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0].ip, "h2");
  EXPECT_EQ(info.hosts[0].port, 3);
  EXPECT_EQ(info.hosts[0].metadata, (std::map<std::string, std::string>{{"b", "3"}}));
}

TEST(ParseServiceInfoTest, HealthyWinsOverValid) {
  const ServiceInfo info = Parse(WithHosts(
      R"({"ip":"a","port":1,"valid":false},{"ip":"b","port":1,"valid":false,"healthy":true},)"
      R"({"ip":"c","port":1,"healthy":false,"valid":true})"));
  ASSERT_EQ(info.hosts.size(), 3u);
  EXPECT_FALSE(info.hosts[0].healthy);
  EXPECT_TRUE(info.hosts[1].healthy);
  EXPECT_FALSE(info.hosts[2].healthy);
}

TEST(ParseServiceInfoTest, GroupDerivation) {
  struct Case {
    std::string_view json;
    std::string_view name;
    std::string_view group;
  };
  const Case cases[] = {
      {R"({"name":"G1@@orders","hosts":[]})", "G1@@orders", "G1"},
      {R"({"name":"orders","groupName":"G1","hosts":[]})", "G1@@orders", "G1"},
      {R"({"name":"orders","hosts":[]})", "orders", "DEFAULT_GROUP"},
      {R"({"name":"orders","groupName":"","hosts":[]})", "orders", "DEFAULT_GROUP"},
      {R"({"name":"A@@orders","groupName":"B","hosts":[]})", "A@@orders", "B"},
      {R"({"name":"@@orders","hosts":[]})", "@@orders", ""},
      {R"({"name":"a@@b@@c","hosts":[]})", "a@@b@@c", "a"},
  };
  for (const Case& c : cases) {
    const ServiceInfo info = Parse(c.json);
    EXPECT_EQ(info.name, c.name) << c.json;
    EXPECT_EQ(info.group_name, c.group) << c.json;
  }
  EXPECT_EQ(Parse(R"({"name":"orders","hosts":[]})").Key(), "DEFAULT_GROUP@@orders");
}

TEST(ParseServiceInfoTest, EscapesAndUnicode) {
  const ServiceInfo info = Parse(
      R"({"name":"G@@s\u00e9\ud83d\ude00","hosts":[{"ip":"h","port":1,"metadata":{"k\u0000":"a\u0000b"}}]})");
  EXPECT_EQ(info.name, "G@@s\xC3\xA9\xF0\x9F\x98\x80");
  ASSERT_EQ(info.hosts.size(), 1u);
  EXPECT_EQ(info.hosts[0].metadata.at(std::string("k\0", 2)), std::string("a\0b", 3));
}

TEST(ParseServiceInfoTest, WhitespaceAroundTheDocument) {
  EXPECT_EQ(Parse(" \r\n\t{ \"name\" : \"G@@s\" , \"hosts\" : [ ] } \n").name, "G@@s");
}

TEST(ParseServiceInfoTest, DepthLimitIsInclusive) {
  // The root object is level 1; 31 more levels inside an unknown member make 32.
  std::string ok = R"({"name":"G@@s","hosts":[],"x":)";
  ok += std::string(31, '[') + std::string(31, ']') + "}";
  EXPECT_TRUE(ParseServiceInfo(ok).ok());
  std::string deep = R"({"name":"G@@s","hosts":[],"x":)";
  deep += std::string(32, '[') + std::string(32, ']') + "}";
  const Result<ServiceInfo> result = ParseServiceInfo(deep);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("nested too deeply"), std::string_view::npos);
}

// ---- ParseServiceInfo: hostile and malformed input ---------------------------------------------

TEST(ParseServiceInfoTest, RejectsMalformedDocuments) {
  const std::string cases[] = {
      "",
      "   ",
      "null",
      "[]",
      R"("text")",
      "42",
      "{",
      R"({"name":"G@@s","hosts":[)",
      R"({"name":"G@@s","hosts":[]} x)",
      R"({"name":"G@@s","hosts":[]}{})",
      R"({"name":"G@@s","hosts":[],})",
      R"({'name':'G@@s','hosts':[]})",
      "{}",
      R"({"hosts":[]})",
      R"({"name":"","hosts":[]})",
      R"({"name":null,"hosts":[]})",
      R"({"name":{},"hosts":[]})",
      R"({"name":["G@@s"],"hosts":[]})",
      R"({"name":"G@@s"})",
      R"({"name":"G@@s","hosts":null})",
      R"({"name":"G@@s","hosts":{}})",
      R"({"name":"G@@s","hosts":"[]"})",
      R"({"name":"G@@s","hosts":1})",
      R"({"name":"G@@s","hosts":[],"lastRefTime":"1e400"})",
      R"({"name":"G@@s","hosts":[],"lastRefTime":99999999999999999999})",
      R"({"name":"G@@s","hosts":[],"reachProtectionThreshold":"maybe"})",
      R"({"name":"G@@s","hosts":[],"reachProtectionThreshold":1})",
      R"({"name":"G@@s","hosts":[],"clusters":{}})",
      R"({"name":"G@@s","hosts":[],"nan":NaN})",
      R"({"name":"G@@s","hosts":[],"x":01})",
      R"({"name":"G@@s","hosts":[],"x":1e999})",  // RapidJSON: number too big.
  };
  for (const std::string& json : cases) {
    const Result<ServiceInfo> result = ParseServiceInfo(json);
    EXPECT_FALSE(result.ok()) << json;
    if (!result.ok()) {
      EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument) << json;
    }
  }
}

// cacheMillis is advisory: clamped into [1 s, 1 h], 10 s when unusable; never a reason to refuse
// the hosts beside it.
TEST(ParseServiceInfoTest, CacheMillisIsClampedNotRejected) {
  const std::pair<std::string, int64_t> cases[] = {
      {"-1", 10000},
      {"0", 10000},
      {"\"soon\"", 10000},
      {"true", 10000},
      {"{}", -1},
      {"1e30", 3600000},
      {"\"1e400\"", 3600000},
      {"99999999999999999999", 3600000},
      {"\"4e9\"", 3600000},
      {"1.5", 1000},
      {"500", 1000},
      {"\"20000\"", 20000},
      {"3000", 3000},
      {"\"1e-400\"", 10000},
      {"\"-1e400\"", 10000},
      {"\"-5\"", 10000},
  };
  for (const auto& [value, expected] : cases) {
    const std::string json =
        R"({"name":"G@@s","cacheMillis":)" + value + R"(,"hosts":[{"ip":"10.0.0.5","port":8080}]})";
    ServiceInfoParseReport report;
    const Result<ServiceInfo> result = ParseServiceInfo(json, &report);
    if (expected < 0) {  // An object where a scalar belongs is a root-level problem.
      EXPECT_FALSE(result.ok()) << json;
      continue;
    }
    ASSERT_TRUE(result.ok()) << json << ": " << result.status();
    EXPECT_EQ(result->cache_millis, expected) << json;
    EXPECT_EQ(result->hosts.size(), 1u) << json;
    EXPECT_EQ(report.duration_problem.empty(), expected == 3000 || expected == 20000)
        << json << ": " << report.duration_problem;
  }
}

TEST(ParseServiceInfoTest, DropsABadHostAndKeepsTheOthers) {
  const std::string hosts[] = {
      "1",
      "null",
      R"("10.0.0.9:80")",
      "[]",
      R"([{"ip":"h","port":1}])",
      R"({"port":1})",
      R"({"ip":"","port":1})",
      R"({"ip":null,"port":1})",
      R"({"ip":"h"})",
      R"({"ip":"h","port":null})",
      R"({"ip":"h","port":-1})",
      R"({"ip":"h","port":65536})",
      R"({"ip":"h","port":1.5})",
      R"({"ip":"h","port":"http"})",
      R"({"ip":"h","port":true})",
      R"({"ip":{},"port":1})",
      R"({"ip":"h","port":1,"weight":-1})",
      R"({"ip":"h","port":1,"weight":"NaN"})",
      R"({"ip":"h","port":1,"weight":"inf"})",
      R"({"ip":"h","port":1,"weight":"1e999"})",
      R"({"ip":"h","port":1,"weight":true})",
      R"({"ip":"h","port":1,"healthy":"yes"})",
      R"({"ip":"h","port":1,"enabled":0})",
      R"({"ip":"h","port":1,"ephemeral":[]})",
      R"({"ip":"h","port":1,"metadata":"k=v"})",
      R"({"ip":"h","port":1,"metadata":[]})",
      R"({"ip":"h","port":1,"metadata":1})",
      R"({"ip":"h","port":1,"clusterName":{}})",
      // Invalid UTF-8 anywhere inside the host.
      "{\"ip\":\"h\xff\",\"port\":1}",
      "{\"ip\":\"h\",\"port\":1,\"metadata\":{\"k\":\"\xc3\"}}",
      "{\"ip\":\"h\",\"port\":1,\"metadata\":{\"\xfe\":\"v\"}}",
      "{\"ip\":\"h\",\"port\":1,\"metadata\":{\"k\":[\"\xff\"]}}",
      "{\"ip\":\"h\",\"port\":1,\"metadata\":{\"k\":{\"\xed\xa0\x80\":1}}}",
      "{\"ip\":\"h\",\"port\":1,\"x\":{\"y\":\"\xf4\x90\x80\x80\"}}",
      "{\"\xff\":1,\"ip\":\"h\",\"port\":1}",
      R"({"ip":"h","port":1,"instanceId":"\udc00"})",
  };
  const std::string good = R"({"ip":"10.0.0.5","port":8080})";
  const std::string other = R"({"ip":"10.0.0.6","port":8080,"metadata":{"k":"v"}})";
  for (const std::string& host : hosts) {
    const std::string json = WithHosts(good + "," + host + "," + other);
    ServiceInfoParseReport report;
    const Result<ServiceInfo> result = ParseServiceInfo(json, &report);
    ASSERT_TRUE(result.ok()) << json << ": " << result.status();
    ASSERT_EQ(result->hosts.size(), 2u) << json;
    EXPECT_EQ(result->hosts[0], Host("10.0.0.5", 8080));
    EXPECT_EQ(result->hosts[1].ip, "10.0.0.6");
    EXPECT_EQ(result->hosts[1].metadata.at("k"), "v") << "the next host is read whole";
    EXPECT_EQ(report.dropped_hosts, 1u) << json;
    EXPECT_EQ(report.first_drop.rfind("hosts[1]", 0), 0u) << report.first_drop;
  }
  ServiceInfoParseReport report;
  ASSERT_TRUE(
      ParseServiceInfo(WithHosts(good + ",{\"ip\":\"h\",\"port\":1,\"metadata\":{\"k\":\"\xff\"}}"),
                       &report)
          .ok());
  EXPECT_EQ(report.first_drop, "hosts[1].metadata: a string is not valid UTF-8");
}

// Drops can never leave a subscriber with nothing to call: data from which hosts were dropped and
// in which no usable instance is left is refused whole (empty-push protection may be off).
TEST(ParseServiceInfoTest, DropsNeverLeaveNoUsableInstance) {
  const std::string bad = "{\"ip\":\"10.0.0.9\",\"port\":1,\"metadata\":{\"k\":\"\xff\"}}";
  const std::string cases[] = {
      WithHosts(bad),
      WithHosts(bad + "," + bad),
      WithHosts(bad + R"(,{"ip":"10.0.0.5","port":1,"healthy":false})"),
      WithHosts(bad + R"(,{"ip":"10.0.0.5","port":1,"enabled":false})"),
      WithHosts(bad + R"(,{"ip":"10.0.0.5","port":1,"weight":0})"),
  };
  for (const std::string& json : cases) {
    const Result<ServiceInfo> result = ParseServiceInfo(json);
    ASSERT_FALSE(result.ok()) << json;
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(result.status().message().find("no usable instance is left"), std::string::npos)
        << result.status();
  }
  // Without a drop, data without a usable instance (or without hosts) is the server's word.
  EXPECT_TRUE(ParseServiceInfo(WithHosts(R"({"ip":"10.0.0.5","port":1,"healthy":false})")).ok());
  EXPECT_TRUE(ParseServiceInfo(WithHosts("")).ok());
}

TEST(ParseServiceInfoTest, RejectsBadEncodingAndNul) {
  static constexpr char kNulInside[] = "{\"name\":\"G@@s\0\",\"hosts\":[]}";
  // Byte escapes need ordinary string literals; JSON escapes are written as \\u.
  const std::string cases[] = {
      "{\"name\":\"G@@s\",\"hosts\":[],\"x\":\"\xff\"}",
      "{\"name\":\"G@@s\xc3\",\"hosts\":[]}",              // Truncated sequence.
      "{\"name\":\"G@@s\xc0\xaf\",\"hosts\":[]}",          // Overlong '/'.
      "{\"name\":\"G@@s\xed\xa0\x80\",\"hosts\":[]}",      // Raw surrogate.
      "{\"name\":\"G@@s\xf4\x90\x80\x80\",\"hosts\":[]}",  // Above U+10FFFF.
      "{\"name\":\"G@@s\xe2\x82\",\"hosts\":[]}",          // Truncated before the quote.
      R"({"name":"G@@s\udc00","hosts":[]})",               // Lone low surrogate escape.
      R"({"name":"G@@s\ud800","hosts":[]})",               // Lone high surrogate escape.
      R"({"name":"G@@s\ud800\u0041","hosts":[]})",
      "{\"name\":\"G@@s\",\"hosts\":[],\"\xfe\":1}",  // In a member name.
      std::string(R"({"name":"G@@s","hosts":[]})") + std::string(1, '\0'),
      std::string(kNulInside, sizeof(kNulInside) - 1),
      "{\"name\":\"G@@s\",\"hosts\":[],\"x\":\"\xe2\x82",  // Truncated at the end.
      "\xef\xbb\xbf{\"name\":\"G@@s\",\"hosts\":[]}",      // BOM.
  };

  for (const std::string& json : cases) {
    const Result<ServiceInfo> result = ParseServiceInfo(json);
    EXPECT_FALSE(result.ok()) << json;
  }
}

TEST(ParseServiceInfoTest, RejectsDeepNestingWithoutRecursing) {
  // Far beyond what an unchecked recursive parser would survive.
  const std::string prefixes[] = {R"({"name":"G@@s","hosts":[],"x":)",
                                  R"({"name":"G@@s","hosts":[{"ip":"h","port":1,"metadata":{"k":)",
                                  R"({"name":"G@@s","hosts":[],"x":{"a":)"};
  for (const std::string& prefix : prefixes) {
    std::string json = prefix + std::string(200000, '[');
    const Result<ServiceInfo> result = ParseServiceInfo(json);
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("nested too deeply"), std::string_view::npos);
  }
  std::string objects = R"({"name":"G@@s","hosts":[],"x":)";
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  EXPECT_FALSE(ParseServiceInfo(objects).ok());
}

TEST(ParseServiceInfoTest, RejectsOversizedInput) {
  std::string json = R"({"name":"G@@s","hosts":[]})";
  json.resize(kMaxServiceInfoJsonBytes, ' ');
  EXPECT_TRUE(ParseServiceInfo(json).ok());
  json.push_back(' ');
  const Result<ServiceInfo> result = ParseServiceInfo(json);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("larger than"), std::string_view::npos);
}

TEST(ParseServiceInfoTest, ManyHosts) {
  std::string hosts;
  for (int i = 0; i < 5000; ++i) {
    if (i > 0) hosts += ",";
    hosts += R"({"ip":"10.0.)" + std::to_string(i / 256) + "." + std::to_string(i % 256) +
             R"(","port":8080,"metadata":{"i":")" + std::to_string(i) + R"("}})";
  }
  const ServiceInfo info = Parse(WithHosts(hosts));
  ASSERT_EQ(info.hosts.size(), 5000u);
  EXPECT_EQ(info.hosts[4999].ip, "10.0.19.135");
  EXPECT_EQ(info.hosts[4999].metadata.at("i"), "4999");
}

// ---- ServiceInfoToJson -------------------------------------------------------------------------

TEST(ServiceInfoToJsonTest, GoldenLegacyShape) {
  ServiceInfo info;
  info.name = "DEFAULT_GROUP@@demo";
  info.group_name = "DEFAULT_GROUP";
  info.cache_millis = 10000;
  info.last_ref_time = 1700000000000;
  info.hosts.push_back(DemoInstance());
  EXPECT_EQ(
      ServiceInfoToJson(info),
      R"({"hosts":[{"ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,"marked":false,"instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},"enabled":true,"weight":1.0,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@demo","ephemeral":true}],)"
      R"("dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","groupName":"DEFAULT_GROUP","cacheMillis":10000,"lastRefTime":1700000000000,"checksum":"","useSpecifiedURL":false,"clusters":"","env":"","metadata":{},"reachProtectionThreshold":false})");
}

TEST(ServiceInfoToJsonTest, RoundTripsServerDocuments) {
  for (std::string_view json : {kTv6Legacy, kTv6V2, kTv7Unknown}) {
    const ServiceInfo info = Parse(json);
    const std::string text = ServiceInfoToJson(info);
    EXPECT_EQ(text.find('\n'), std::string::npos);
    EXPECT_EQ(Parse(text), info) << text;
  }
}

TEST(ServiceInfoToJsonTest, RoundTripsBareNamesAndOddGroups) {
  for (std::string_view json :
       {R"({"name":"orders","hosts":[]})", R"({"name":"@@orders","hosts":[]})",
        R"({"name":"A@@orders","groupName":"B","hosts":[]})"}) {
    const ServiceInfo info = Parse(json);
    EXPECT_EQ(Parse(ServiceInfoToJson(info)), info) << json;
  }
}

TEST(ServiceInfoToJsonTest, EscapesStrings) {
  ServiceInfo info;
  info.name = "G@@s";
  info.group_name = "G";
  Instance host = Host("h", 1);
  static constexpr char kValue[] = "ctl\x01\x1f\b\f\n\r\t\x7f nul:\0!";
  host.metadata["quote\"back\\slash"] = std::string(kValue, sizeof(kValue) - 1);
  host.metadata["utf8"] = "\xC3\xA9\xF0\x9F\x98\x80";
  info.hosts.push_back(host);
  const std::string text = ServiceInfoToJson(info);
  EXPECT_NE(text.find(R"("quote\"back\\slash":"ctl\u0001\u001f\b\f\n\r\t)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(nul:\u0000!")"), std::string::npos) << text;
  EXPECT_EQ(Parse(text), info);
}

TEST(ServiceInfoToJsonTest, InvalidUtf8BecomesReplacementCharacter) {
  ServiceInfo info;
  info.name = "G@@s\xff";
  info.group_name = "G";
  info.hosts.push_back(Host("h\xc3", 1));
  const std::string text = ServiceInfoToJson(info);
  const ServiceInfo parsed = Parse(text);
  EXPECT_EQ(parsed.name, "G@@s\xEF\xBF\xBD");
  ASSERT_EQ(parsed.hosts.size(), 1u);
  EXPECT_EQ(parsed.hosts[0].ip, "h\xEF\xBF\xBD");
}

TEST(ServiceInfoToJsonTest, Numbers) {
  ServiceInfo info;
  info.name = "G@@s";
  info.group_name = "G";
  info.cache_millis = kCacheMillisRange.max;
  info.last_ref_time = std::numeric_limits<int64_t>::min();
  for (double weight : {0.0, 0.1, 1.0, 100.0, 1e-300, 12345.678, 1e21, 5e-324}) {
    Instance host = Host("h" + std::to_string(info.hosts.size()), 65535);
    host.weight = weight;
    info.hosts.push_back(host);
  }
  const std::string text = ServiceInfoToJson(info);
  EXPECT_NE(text.find(R"("weight":0.1,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("weight":100.0,)"), std::string::npos) << text;
  EXPECT_EQ(Parse(text), info) << text;

  ServiceInfo odd = info;
  odd.hosts.resize(1);
  odd.hosts[0].weight = std::numeric_limits<double>::infinity();
  EXPECT_NE(ServiceInfoToJson(odd).find(R"("weight":0.0,)"), std::string::npos);
  odd.hosts[0].weight = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(ParseServiceInfo(ServiceInfoToJson(odd)).ok());
}

// Random ServiceInfos of the kind the parser returns survive a write and a read.
TEST(ServiceInfoToJsonTest, RoundTripProperty) {
  std::mt19937 rng(20240611);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const std::string_view pieces[] = {"a",
                                     "Z",
                                     "0",
                                     "@@",
                                     "@",
                                     "\"",
                                     "\\",
                                     "/",
                                     " ",
                                     "\n",
                                     "\t",
                                     std::string_view("\0", 1),
                                     "\x01",
                                     "\x7f",
                                     "\xC3\xA9",
                                     "\xE2\x82\xAC",
                                     "\xF0\x9F\x98\x80",
                                     "#",
                                     ":",
                                     ",",
                                     "{}",
                                     "[]"};
  const auto text = [&](int max_pieces) {
    std::string out;
    const int n = pick(max_pieces + 1);
    for (int i = 0; i < n; ++i) out.append(pieces[pick(static_cast<int>(std::size(pieces)))]);
    return out;
  };
  for (int iteration = 0; iteration < 500; ++iteration) {
    ServiceInfo info;
    info.name = text(4) + "@@" + text(6);
    info.group_name = pick(2) == 0 ? info.name.substr(0, info.name.find("@@")) : "g" + text(3);
    if (info.group_name.empty()) info.group_name = info.name.substr(0, info.name.find("@@"));
    if (pick(4) == 0) {  // A bare name: the parser gives DEFAULT_GROUP.
      info.name = "bare" + text(3);
      if (info.name.find("@@") != std::string::npos) info.name = "bare";
      info.group_name = "DEFAULT_GROUP";
    }
    info.clusters = text(3);
    info.cache_millis = 1000 + static_cast<int64_t>(rng() % 100000);
    info.last_ref_time = std::uniform_int_distribution<int64_t>(
        std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())(rng);
    info.reach_protection_threshold = pick(2) == 0;
    const int hosts = pick(5);
    for (int i = 0; i < hosts; ++i) {
      Instance host;
      host.instance_id = text(3);
      host.ip = "ip" + text(2);
      host.port = pick(65536);
      host.weight = pick(3) == 0 ? 0.0 : std::uniform_real_distribution<double>(0, 10000)(rng);
      host.healthy = pick(2) == 0;
      host.enabled = pick(2) == 0;
      host.ephemeral = pick(2) == 0;
      host.cluster_name = text(2);
      host.service_name = text(3);
      const int entries = pick(4);
      for (int j = 0; j < entries; ++j) host.metadata[text(2)] = text(4);
      info.hosts.push_back(host);
    }
    const std::string json = ServiceInfoToJson(info);
    const Result<ServiceInfo> parsed = ParseServiceInfo(json);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << json;
    ASSERT_EQ(*parsed, info) << json;
    ASSERT_EQ(ServiceInfoToJson(*parsed), json);
  }
}

// ---- DiffServiceInfo ---------------------------------------------------------------------------

ServiceInfo WithHostList(std::vector<Instance> hosts) {
  ServiceInfo info;
  info.name = "DEFAULT_GROUP@@demo";
  info.group_name = "DEFAULT_GROUP";
  info.hosts = std::move(hosts);
  return info;
}

std::vector<std::string> Addresses(const std::vector<Instance>& hosts) {
  std::vector<std::string> out;
  for (const Instance& host : hosts) out.push_back(host.Address());
  return out;
}

using Strings = std::vector<std::string>;

TEST(DiffServiceInfoTest, NoChange) {
  const ServiceInfo info = WithHostList({Host("a", 1), Host("b", 2)});
  const ServiceChangeEvent event = DiffServiceInfo(info, info);
  EXPECT_TRUE(event.added.empty());
  EXPECT_TRUE(event.removed.empty());
  EXPECT_TRUE(event.modified.empty());
  EXPECT_EQ(event.instances, info.hosts);
  EXPECT_EQ(event.service_name, "DEFAULT_GROUP@@demo");
}

TEST(DiffServiceInfoTest, ReorderIsNoChange) {
  const ServiceChangeEvent event = DiffServiceInfo(WithHostList({Host("a", 1), Host("b", 2)}),
                                                   WithHostList({Host("b", 2), Host("a", 1)}));
  EXPECT_TRUE(event.added.empty() && event.removed.empty() && event.modified.empty());
  EXPECT_EQ(Addresses(event.instances), (Strings{"b:2", "a:1"}));
}

TEST(DiffServiceInfoTest, AddedRemovedModified) {
  Instance b2 = Host("b", 2);
  b2.weight = 5;
  Instance c3 = Host("c", 3);
  c3.metadata["v"] = "2";
  Instance d4 = Host("d", 4);
  d4.healthy = false;
  const ServiceInfo before =
      WithHostList({Host("a", 1), Host("b", 2), Host("c", 3), Host("d", 4), Host("e", 5)});
  ServiceInfo after = WithHostList({Host("f", 6), d4, Host("a", 1), c3, b2, Host("e", 6)});
  after.clusters = "c1";
  const ServiceChangeEvent event = DiffServiceInfo(before, after);
  EXPECT_EQ(Addresses(event.added), (Strings{"f:6", "e:6"}));
  EXPECT_EQ(Addresses(event.removed), (Strings{"e:5"}));
  EXPECT_EQ(Addresses(event.modified), (Strings{"d:4", "c:3", "b:2"}));
  EXPECT_EQ(event.modified[0], d4);  // The after version.
  EXPECT_EQ(event.modified[1], c3);
  EXPECT_EQ(event.modified[2], b2);
  EXPECT_EQ(event.instances, after.hosts);
  EXPECT_EQ(event.clusters, "c1");
}

TEST(DiffServiceInfoTest, FromAndToEmpty) {
  const ServiceInfo empty = WithHostList({});
  const ServiceInfo full = WithHostList({Host("a", 1), Host("b", 2)});
  ServiceChangeEvent event = DiffServiceInfo(empty, full);
  EXPECT_EQ(Addresses(event.added), (Strings{"a:1", "b:2"}));
  EXPECT_TRUE(event.removed.empty());
  event = DiffServiceInfo(full, empty);
  EXPECT_EQ(Addresses(event.removed), (Strings{"a:1", "b:2"}));
  EXPECT_TRUE(event.added.empty());
  EXPECT_TRUE(event.instances.empty());
}

TEST(DiffServiceInfoTest, SameIpOtherPortIsAnotherInstance) {
  const ServiceChangeEvent event =
      DiffServiceInfo(WithHostList({Host("a", 1)}), WithHostList({Host("a", 2)}));
  EXPECT_EQ(Addresses(event.added), (Strings{"a:2"}));
  EXPECT_EQ(Addresses(event.removed), (Strings{"a:1"}));
  EXPECT_TRUE(event.modified.empty());
}

TEST(DiffServiceInfoTest, RepeatedAddressesCountOnceLastWins) {
  Instance heavy = Host("a", 1);
  heavy.weight = 9;
  const ServiceChangeEvent event =
      DiffServiceInfo(WithHostList({Host("a", 1), Host("b", 2), Host("b", 2)}),
                      WithHostList({Host("a", 1), heavy, Host("c", 3), Host("c", 3)}));
  ASSERT_EQ(event.modified.size(), 1u);
  EXPECT_EQ(event.modified[0], heavy);
  EXPECT_EQ(Addresses(event.added), (Strings{"c:3"}));
  EXPECT_EQ(Addresses(event.removed), (Strings{"b:2"}));
  EXPECT_EQ(event.instances.size(), 4u);
}

TEST(DiffServiceInfoTest, ParsedDocuments) {
  const ServiceInfo before = Parse(kTv6Legacy);
  rapidjson::Document packet;
  packet.Parse(kPushPacket.data(), kPushPacket.size());
  ASSERT_FALSE(packet.HasParseError());
  const ServiceInfo after = Parse(packet["data"].GetString());
  const ServiceChangeEvent event = DiffServiceInfo(before, after);
  EXPECT_EQ(Addresses(event.added), (Strings{"10.0.0.7:8080"}));
  EXPECT_TRUE(event.removed.empty());
  EXPECT_TRUE(event.modified.empty());
}

// ---- HasUsableInstance -------------------------------------------------------------------------

TEST(HasUsableInstanceTest, NeedsHealthyEnabledPositiveWeight) {
  EXPECT_FALSE(HasUsableInstance(WithHostList({})));
  Instance unhealthy = Host("a", 1);
  unhealthy.healthy = false;
  Instance disabled = Host("b", 1);
  disabled.enabled = false;
  Instance weightless = Host("c", 1);
  weightless.weight = 0;
  EXPECT_FALSE(HasUsableInstance(WithHostList({unhealthy, disabled, weightless})));
  Instance light = Host("d", 1);
  light.weight = 0.01;
  EXPECT_TRUE(HasUsableInstance(WithHostList({unhealthy, disabled, weightless, light})));
  EXPECT_TRUE(HasUsableInstance(Parse(kTv6V2)));
  EXPECT_FALSE(HasUsableInstance(Parse(kTv7Unknown)));
}

}  // namespace
}  // namespace dubbo::registry::nacos
