// Tests for naming_json: the 1.4.x response shapes (field names, order and values of real Nacos
// answers and TV11), MD5, and the metadata and beat parsers against well-formed and hostile input.
#include "naming_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/reader.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "instance_store.h"

namespace dubbo::naming_server {
namespace {

using registry::StatusCode;

constexpr char kDemo[] = "DEFAULT_GROUP@@demo";

// Collects the member names of the root object. SAX and in-situ: RapidJSON 1.1's DOM trips UBSan
// (see naming_json.cc).
struct KeyCollector : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, KeyCollector> {
  bool StartObject() { return ++depth > 0; }
  bool EndObject(rapidjson::SizeType) { return --depth >= 0; }
  bool StartArray() { return ++depth > 0; }
  bool EndArray(rapidjson::SizeType) { return --depth >= 0; }
  bool Key(const char* s, rapidjson::SizeType length, bool) {
    if (depth == 1) keys.emplace_back(s, length);
    return true;
  }
  int depth = 0;
  std::vector<std::string> keys;
};

// Member names of a JSON object, in document order; fails the test if `json` is not valid JSON.
std::vector<std::string> KeysOf(const std::string& json) {
  std::string copy(json);
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  KeyCollector collector;
  EXPECT_FALSE(reader.Parse<rapidjson::kParseInsituFlag>(stream, collector).IsError()) << json;
  return collector.keys;
}

// Replaces the lastRefTime and checksum values, after checking their format.
std::string Normalize(const std::string& json) {
  static const std::regex kLastRefTime(R"("lastRefTime":[0-9]+)");
  static const std::regex kChecksum(R"("checksum":"[0-9a-f]{32}")");
  EXPECT_TRUE(std::regex_search(json, kLastRefTime)) << json;
  EXPECT_TRUE(std::regex_search(json, kChecksum)) << json;
  return std::regex_replace(std::regex_replace(json, kLastRefTime, R"("lastRefTime":LRT)"),
                            kChecksum, R"("checksum":"MD5")");
}

std::string ChecksumOf(const std::string& json) {
  static const std::regex kChecksum(R"re("checksum":"([0-9a-f]{32})")re");
  std::smatch match;
  return std::regex_search(json, match, kChecksum) ? match[1].str() : "";
}

class NamingJsonTest : public ::testing::Test {
 protected:
  // The instance of TV1.
  void RegisterDemo() {
    InstanceSpec spec;
    spec.service_name = kDemo;
    spec.ip = "10.0.0.5";
    spec.port = 8080;
    spec.metadata = {{"version", "1.0"}};
    ASSERT_TRUE(store_.Register(spec).ok());
  }

  ServiceSnapshot ListOf(const std::string& service = kDemo, const std::string& clusters = "") {
    ListQuery query;
    query.service_name = service;
    query.clusters = clusters;
    Result<ServiceSnapshot> snapshot = store_.List(query);
    EXPECT_TRUE(snapshot.ok());
    return snapshot.ok() ? *snapshot : ServiceSnapshot();
  }

  registry::ManualScheduler clock_;
  InstanceStore store_{&clock_};
};

// ---- rendering --------------------------------------------------------------------------------

TEST(Md5Test, Rfc1321Vectors) {
  EXPECT_EQ(Md5Hex(""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(Md5Hex("a"), "0cc175b9c0f1b6a831c399e269772661");
  EXPECT_EQ(Md5Hex("abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(Md5Hex("message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
  EXPECT_EQ(Md5Hex("abcdefghijklmnopqrstuvwxyz"), "c3fcd3d76192e4007dfb496cca67e13b");
  EXPECT_EQ(
      Md5Hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890"),
      "57edf4a22be3c955ac49da2e2107b67a");
  EXPECT_EQ(Md5Hex(std::string(1000, '\xff')).size(), 32u);
}

TEST_F(NamingJsonTest, TV6_ListShapeForJavaClientWithPush) {
  RegisterDemo();
  ListRenderOptions options;
  options.cache_millis = 10000;
  const ServiceSnapshot snapshot = ListOf();
  const std::string json = RenderInstanceList(snapshot, options);
  EXPECT_EQ(
      Normalize(json),
      R"({"hosts":[{"ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,"marked":false,)"
      R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},)"
      R"("enabled":true,"weight":1.0,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@demo",)"
      R"("ephemeral":true}],"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo",)"
      R"("cacheMillis":10000,"lastRefTime":LRT,"checksum":"MD5","useSpecifiedURL":false,)"
      R"("clusters":"","env":"","metadata":{}})");
  EXPECT_NE(json.find("\"lastRefTime\":" + std::to_string(snapshot.last_ref_time) + ","),
            std::string::npos);
  EXPECT_GE(snapshot.last_ref_time, 1'700'000'000'000);

  // Without udpPort: identical except cacheMillis.
  std::string polled = RenderInstanceList(snapshot, ListRenderOptions());
  EXPECT_EQ(polled.replace(polled.find("\"cacheMillis\":3000"), 18, "\"cacheMillis\":10000"), json);
}

TEST_F(NamingJsonTest, ListForOtherClientsUsesUngroupedDomAndServiceName) {
  RegisterDemo();
  ListRenderOptions options;
  options.grouped_names = false;
  options.env = "prod";
  const std::string json = Normalize(RenderInstanceList(ListOf(), options));
  EXPECT_NE(json.find(R"("clusterName":"DEFAULT","serviceName":"demo","ephemeral")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("dom":"demo","name":"DEFAULT_GROUP@@demo","cacheMillis":3000)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("env":"prod")"), std::string::npos);
}

TEST_F(NamingJsonTest, TV7_UnknownService) {
  EXPECT_EQ(RenderInstanceList(ListOf("DEFAULT_GROUP@@nope"), ListRenderOptions()),
            R"({"name":"DEFAULT_GROUP@@nope","clusters":"","cacheMillis":3000,"hosts":[]})");
  ListRenderOptions options;
  options.cache_millis = 10000;
  EXPECT_EQ(RenderInstanceList(ListOf("DEFAULT_GROUP@@nope", "c1,c2"), options),
            R"({"name":"DEFAULT_GROUP@@nope","clusters":"c1,c2","cacheMillis":10000,"hosts":[]})");
}

TEST_F(NamingJsonTest, KnownServiceWithoutInstancesInTheClusters) {
  RegisterDemo();
  const std::string json = RenderInstanceList(ListOf(kDemo, "other"), ListRenderOptions());
  EXPECT_EQ(KeysOf(json),
            (std::vector<std::string>{"dom", "name", "cacheMillis", "lastRefTime", "checksum",
                                      "useSpecifiedURL", "clusters", "env", "hosts", "metadata"}));
  EXPECT_EQ(Normalize(json),
            R"({"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","cacheMillis":3000,)"
            R"("lastRefTime":LRT,"checksum":"MD5","useSpecifiedURL":false,"clusters":"other",)"
            R"("env":"","hosts":[],"metadata":{}})");
}

TEST_F(NamingJsonTest, HostsFilteredAwayKeepTheNormalShape) {
  InstanceSpec spec;
  spec.service_name = kDemo;
  spec.ip = "10.0.0.5";
  spec.enabled = false;
  ASSERT_TRUE(store_.Register(spec).ok());
  const std::string json = RenderInstanceList(ListOf(), ListRenderOptions());
  EXPECT_EQ(KeysOf(json), (std::vector<std::string>{"hosts", "dom", "name", "cacheMillis",
                                                    "lastRefTime", "checksum", "useSpecifiedURL",
                                                    "clusters", "env", "metadata"}));
  EXPECT_EQ(json.rfind(R"({"hosts":[],"dom")", 0), 0u) << json;
}

TEST_F(NamingJsonTest, ServiceMetadataAndUnhealthyHostsAreRendered) {
  ServiceSpec service;
  service.service_name = kDemo;
  service.metadata = {{"owner", "me"}};
  ASSERT_TRUE(store_.CreateService(service).ok());
  RegisterDemo();
  InstanceSpec down;
  down.service_name = kDemo;
  down.ip = "10.0.0.6";
  down.port = 1;
  down.healthy = false;
  down.weight = 0.5;
  ASSERT_TRUE(store_.Register(down).ok());
  const std::string json = RenderInstanceList(ListOf(), ListRenderOptions());
  EXPECT_NE(json.find(R"("ip":"10.0.0.6","port":1,"valid":false,"healthy":false,"marked":false)"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("weight":0.5)"), std::string::npos);
  EXPECT_NE(json.find(R"("metadata":{"owner":"me"}})"), std::string::npos);
}

TEST_F(NamingJsonTest, ChecksumIsStableAndFollowsTheData) {
  RegisterDemo();
  const std::string first = ChecksumOf(RenderInstanceList(ListOf(), ListRenderOptions()));
  ASSERT_EQ(first.size(), 32u);
  ListRenderOptions other;
  other.cache_millis = 10000;
  other.grouped_names = false;
  EXPECT_EQ(ChecksumOf(RenderInstanceList(ListOf(), other)), first);
  InstanceSpec spec;
  spec.service_name = kDemo;
  spec.ip = "10.0.0.5";
  spec.port = 8080;
  spec.weight = 2;
  ASSERT_TRUE(store_.Register(spec).ok());
  EXPECT_NE(ChecksumOf(RenderInstanceList(ListOf(), ListRenderOptions())), first);
}

// The checksum follows the clusters selected, not how the request spelled them.
TEST_F(NamingJsonTest, ChecksumCoversTheNormalisedClusterList) {
  RegisterDemo();
  const std::string plain = ChecksumOf(RenderInstanceList(ListOf(kDemo, "DEFAULT"), {}));
  EXPECT_EQ(ChecksumOf(RenderInstanceList(ListOf(kDemo, ",DEFAULT,,DEFAULT,"), {})), plain);
  EXPECT_NE(ChecksumOf(RenderInstanceList(ListOf(kDemo, ""), {})), plain);
  EXPECT_EQ(NormalizedClusters(",b,,a,b,"), "b,a");
  EXPECT_EQ(NormalizedClusters(""), "");
}

TEST_F(NamingJsonTest, AssembledPartsAreTheRenderedAnswer) {
  RegisterDemo();
  for (const char* clusters : {"", "DEFAULT", "other"}) {
    const ServiceSnapshot snapshot = ListOf(kDemo, clusters);
    for (bool grouped : {true, false}) {
      ListRenderOptions options;
      options.grouped_names = grouped;
      options.cache_millis = 10000;
      options.env = "e\"nv";
      EXPECT_EQ(
          AssembleInstanceList(RenderListParts(snapshot, grouped), 10000, clusters, options.env),
          RenderInstanceList(snapshot, options))
          << clusters;
    }
  }
}

TEST_F(NamingJsonTest, BeatResponses) {
  BeatResult found;
  EXPECT_EQ(RenderBeatResult(found),
            R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");
  BeatResult missing;
  missing.found = false;
  EXPECT_EQ(RenderBeatResult(missing), R"({"clientBeatInterval":5000,"code":20404})");
}

TEST_F(NamingJsonTest, InstanceDetail) {
  RegisterDemo();
  InstanceKey key;
  key.service_name = kDemo;
  key.ip = "10.0.0.5";
  key.port = 8080;
  Result<Instance> instance = store_.GetInstance(key);
  ASSERT_TRUE(instance.ok());
  instance->metadata.clear();
  EXPECT_EQ(RenderInstanceDetail(*instance),
            R"({"service":"DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
            R"("clusterName":"DEFAULT","weight":1.0,"healthy":true,)"
            R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{}})");
}

TEST_F(NamingJsonTest, TV11_ServiceList) {
  EXPECT_EQ(RenderServiceList(store_.ListServices("public", "DEFAULT_GROUP", 1, 10)),
            R"({"doms":[],"count":0})");
  RegisterDemo();
  EXPECT_EQ(RenderServiceList(store_.ListServices("public", "DEFAULT_GROUP", 1, 10)),
            R"({"doms":["demo"],"count":1})");
  EXPECT_EQ(RenderServiceList(store_.ListServices("public", "DEFAULT_GROUP", 2, 10)),
            R"({"doms":[],"count":1})");
}

TEST_F(NamingJsonTest, ServiceDetail) {
  RegisterDemo();
  Result<ServiceInfo> info = store_.GetService("public", kDemo);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(RenderServiceDetail(*info),
            R"({"name":"demo","namespaceId":"public","protectThreshold":0.0,"metadata":{},)"
            R"("selector":{"type":"none"},"groupName":"DEFAULT_GROUP",)"
            R"("clusters":[{"name":"DEFAULT","healthChecker":{"type":"TCP"},"metadata":{}}]})");
}

TEST_F(NamingJsonTest, Metrics) {
  RegisterDemo();
  MetricsView metrics;
  metrics.service_count = store_.ServiceCount();
  metrics.instance_count = store_.InstanceCount();
  metrics.load = 0.5;
  EXPECT_EQ(RenderMetrics(metrics),
            R"({"status":"UP","serviceCount":1,"instanceCount":1,"raftNotifyTaskCount":0,)"
            R"("responsibleServiceCount":1,"responsibleInstanceCount":1,"cpu":0.0,"load":0.5,)"
            R"("mem":0.0})");
}

TEST(NamingJsonRenderTest, EscapesRoundTrip) {
  Instance instance;
  instance.service_name = "G@@s";
  instance.ip = "a\"b";
  instance.port = 7;
  instance.weight = 0.25;
  instance.metadata = Metadata{{"k\n", std::string("q\"\\\x01\0z\x7f\xc3\xa9/", 10)}};
  const std::string json = RenderInstanceDetail(instance);
  EXPECT_EQ(json, R"({"service":"G@@s","ip":"a\"b","port":7,"clusterName":"","weight":0.25,)"
                  R"("healthy":true,"instanceId":"","metadata":{"k\n":"q\"\\\u0001\u0000z)"
                  "\x7f\xc3\xa9"
                  R"(/"}})");
  // Read back with the beat parser, which takes ip, port, weight and metadata.
  Result<BeatInfo> back = ParseBeatInfo(json);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ip, instance.ip);
  EXPECT_EQ(back->port, 7);
  EXPECT_DOUBLE_EQ(back->weight, 0.25);
  EXPECT_EQ(back->metadata, instance.metadata);
}

TEST(NamingJsonRenderTest, DoublesAsJacksonWritesThem) {
  Instance instance;
  for (const auto& [weight, text] :
       std::vector<std::pair<double, std::string>>{{1.0, "1.0"},
                                                   {0.01, "0.01"},
                                                   {10000.0, "10000.0"},
                                                   {0.0, "0.0"},
                                                   {0.1, "0.1"},
                                                   {1e-4, "1.0E-4"},
                                                   {1e7, "1.0E7"},
                                                   {123456.789, "123456.789"},
                                                   {std::nan(""), "\"NaN\""},
                                                   {-INFINITY, "\"-Infinity\""}}) {
    instance.weight = weight;
    const std::string json = RenderInstanceDetail(instance);
    EXPECT_NE(json.find("\"weight\":" + text + ","), std::string::npos) << json;
    KeysOf(json);
  }
}

TEST(JavaDoubleToStringTest, MatchesJava) {
  EXPECT_EQ(JavaDoubleToString(1.0), "1.0");
  EXPECT_EQ(JavaDoubleToString(-2.5), "-2.5");
  EXPECT_EQ(JavaDoubleToString(0.001), "0.001");
  EXPECT_EQ(JavaDoubleToString(0.00099), "9.9E-4");
  EXPECT_EQ(JavaDoubleToString(9999999.0), "9999999.0");
  EXPECT_EQ(JavaDoubleToString(12345678.0), "1.2345678E7");
  EXPECT_EQ(JavaDoubleToString(1e21), "1.0E21");
  EXPECT_EQ(JavaDoubleToString(100.0), "100.0");
  EXPECT_EQ(JavaDoubleToString(0.30000001192092896), "0.30000001192092896");
  EXPECT_EQ(JavaDoubleToString(-0.0), "-0.0");
  EXPECT_EQ(JavaDoubleToString(INFINITY), "Infinity");
}

// ---- metadata parser --------------------------------------------------------------------------

Metadata MustParseMetadata(std::string_view raw) {
  Result<Metadata> metadata = ParseMetadata(raw);
  EXPECT_TRUE(metadata.ok()) << raw << ": " << metadata.status();
  return metadata.ok() ? *metadata : Metadata();
}

void ExpectMetadataError(std::string_view raw) {
  Result<Metadata> metadata = ParseMetadata(raw);
  ASSERT_FALSE(metadata.ok()) << raw;
  EXPECT_EQ(metadata.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(metadata.status().message(), "metadata format incorrect:" + std::string(raw));
}

TEST(ParseMetadataTest, JsonObjects) {
  EXPECT_EQ(MustParseMetadata(R"({"version":"1.0"})"), (Metadata{{"version", "1.0"}}));
  EXPECT_EQ(MustParseMetadata(R"( { "a" : "x y" , "" : "" } )"),
            (Metadata{{"a", "x y"}, {"", ""}}));
  EXPECT_EQ(MustParseMetadata(R"({"n":1.50,"i":-3,"e":1E3,"t":true,"f":false})"),
            (Metadata{{"n", "1.50"}, {"i", "-3"}, {"e", "1E3"}, {"t", "true"}, {"f", "false"}}));
  EXPECT_EQ(MustParseMetadata(R"({"a":"1","a":"2"})"), (Metadata{{"a", "2"}}));
  EXPECT_EQ(MustParseMetadata(R"({"a":"1","a":null,"b":null})"), Metadata());
  EXPECT_EQ(MustParseMetadata(R"({"u":"\u00e9\n"})"), (Metadata{{"u", "\xc3\xa9\n"}}));
  EXPECT_EQ(MustParseMetadata(R"({"a":"b"} trailing text)"), (Metadata{{"a", "b"}}));
  EXPECT_EQ(MustParseMetadata("{}"), Metadata());
  EXPECT_EQ(MustParseMetadata("null"), Metadata());
  EXPECT_EQ(MustParseMetadata(""), Metadata());
  EXPECT_EQ(MustParseMetadata(" \t\n"), Metadata());
  const Metadata nul = MustParseMetadata(R"({"k":"a\u0000b"})");
  EXPECT_EQ(nul.at("k"), std::string("a\0b", 3));
}

TEST(ParseMetadataTest, LegacyKeyValueForm) {
  EXPECT_EQ(MustParseMetadata("k1=v1,k2=v2"), (Metadata{{"k1", "v1"}, {"k2", "v2"}}));
  EXPECT_EQ(MustParseMetadata("a=1,"), (Metadata{{"a", "1"}}));
  EXPECT_EQ(MustParseMetadata("=b"), (Metadata{{"", "b"}}));
  EXPECT_EQ(MustParseMetadata("a=b="), (Metadata{{"a", "b"}}));
  EXPECT_EQ(MustParseMetadata(",,"), Metadata());
  EXPECT_EQ(MustParseMetadata("a=1,a=2"), (Metadata{{"a", "2"}}));
  // Broken JSON that happens to look like k=v is read that way, as in Nacos.
  EXPECT_EQ(MustParseMetadata(R"({"a":"b=c")"), (Metadata{{R"({"a":"b)", R"(c")"}}));
}

TEST(ParseMetadataTest, Errors) {
  ExpectMetadataError("abc");
  ExpectMetadataError("a=1,,b=2");
  ExpectMetadataError("a==b");
  ExpectMetadataError("a=b=c");
  ExpectMetadataError(R"({"a":{"b":"c"}})");
  ExpectMetadataError(R"({"a":["b"]})");
  ExpectMetadataError(R"(["a"])");
  ExpectMetadataError(R"("text")");
  ExpectMetadataError("42");
  ExpectMetadataError("{\"a\":1");
  ExpectMetadataError(std::string("a\0b", 3));
}

// Stored text must be valid UTF-8 however it arrives: raw bytes, or JSON escapes that spell a lone
// surrogate. Neither is read as the legacy k=v form.
TEST(ParseMetadataTest, InvalidUtf8IsRefused) {
  for (const std::string& raw :
       {std::string("\xff\xfe{"), std::string("k=\xc3"), std::string("{\"k\":\"\xed\xa0\x80\"}"),
        std::string(R"({"k":"\ud800"})"), std::string(R"({"k":"\udc00x"})"),
        std::string(R"({"\ud800":"v"})"), std::string(R"({"k":"\ud800\u0041"})")}) {
    RejectReason reason = RejectReason::kCount;
    Result<Metadata> metadata = ParseMetadata(raw, &reason);
    ASSERT_FALSE(metadata.ok()) << raw;
    EXPECT_EQ(metadata.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(reason, RejectReason::kInvalidUtf8) << raw;
    EXPECT_THAT(std::string(metadata.status().message()),
                ::testing::StartsWith("metadata is not valid UTF-8"))
        << raw;
  }
  RejectReason reason = RejectReason::kCount;
  EXPECT_FALSE(ParseMetadata("abc", &reason).ok());
  EXPECT_EQ(reason, RejectReason::kInvalidParameter);
  // A paired surrogate escape is fine: U+1F600.
  EXPECT_EQ(MustParseMetadata(R"({"k":"\ud83d\ude00"})"), (Metadata{{"k", "\xf0\x9f\x98\x80"}}));
}

TEST(ParseBeatInfoTest, InvalidUtf8IsRefused) {
  for (const std::string& raw :
       {std::string("{\"ip\":\"10.0.0.1\xff\"}"), std::string(R"({"ip":"\udc00"})"),
        std::string(R"({"metadata":{"k":"\ud800"}})"), std::string(R"({"cluster":"\ud800x"})")}) {
    RejectReason reason = RejectReason::kCount;
    Result<BeatInfo> beat = ParseBeatInfo(raw, &reason);
    ASSERT_FALSE(beat.ok()) << raw;
    EXPECT_EQ(reason, RejectReason::kInvalidUtf8) << raw;
    EXPECT_THAT(std::string(beat.status().message()),
                ::testing::StartsWith("beat is not valid UTF-8"))
        << raw;
  }
  RejectReason reason = RejectReason::kCount;
  EXPECT_FALSE(ParseBeatInfo("[1]", &reason).ok());
  EXPECT_EQ(reason, RejectReason::kInvalidParameter);
}

TEST(ParseMetadataTest, SizeAndDepthLimits) {
  const std::string big(kMaxMetadataBytes + 1, 'a');
  Result<Metadata> too_big = ParseMetadata(big);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().message(), "metadata too large: 65537 bytes (max 65536)");

  std::string at_limit = "k=" + std::string(kMaxMetadataBytes - 2, 'v');
  EXPECT_EQ(MustParseMetadata(at_limit).at("k").size(), kMaxMetadataBytes - 2);

  std::string deep = "{\"a\":" + std::string(50000, '[') + std::string(50000, ']') + "}";
  EXPECT_FALSE(ParseMetadata(deep).ok());
  std::string unbalanced(60000, '{');
  EXPECT_FALSE(ParseMetadata(unbalanced).ok());
}

// ---- beat parser ------------------------------------------------------------------------------

BeatInfo MustParseBeat(std::string_view json) {
  Result<BeatInfo> beat = ParseBeatInfo(json);
  EXPECT_TRUE(beat.ok()) << json << ": " << beat.status();
  return beat.ok() ? *beat : BeatInfo();
}

std::string BeatError(std::string_view json) {
  Result<BeatInfo> beat = ParseBeatInfo(json);
  EXPECT_FALSE(beat.ok()) << json;
  if (beat.ok()) return "";
  EXPECT_EQ(beat.status().code(), StatusCode::kInvalidArgument);
  return std::string(beat.status().message());
}

TEST(ParseBeatInfoTest, JavaClientBeat) {
  const BeatInfo beat = MustParseBeat(
      R"({"port":8080,"ip":"10.0.0.5","weight":1.0,"serviceName":"DEFAULT_GROUP@@demo",)"
      R"("cluster":"DEFAULT","metadata":{"version":"1.0"},"scheduled":false,"period":5000,)"
      R"("stopped":false})");
  EXPECT_EQ(beat.ip, "10.0.0.5");
  EXPECT_EQ(beat.port, 8080);
  EXPECT_DOUBLE_EQ(beat.weight, 1.0);
  EXPECT_EQ(beat.service_name, kDemo);
  EXPECT_EQ(beat.cluster, "DEFAULT");
  EXPECT_EQ(beat.metadata, (Metadata{{"version", "1.0"}}));
  EXPECT_TRUE(beat.ephemeral);
}

TEST(ParseBeatInfoTest, DefaultsNullsAndUnknownFields) {
  BeatInfo beat = MustParseBeat("{}");
  EXPECT_EQ(beat.ip, "");
  EXPECT_EQ(beat.port, 0);
  EXPECT_DOUBLE_EQ(beat.weight, 1.0);
  EXPECT_TRUE(beat.ephemeral);
  EXPECT_TRUE(beat.metadata.empty());

  beat = MustParseBeat(
      R"({"ip":null,"port":null,"weight":null,"metadata":null,"ephemeral":null,"cluster":null})");
  EXPECT_EQ(beat.port, 0);
  EXPECT_DOUBLE_EQ(beat.weight, 1.0);

  beat = MustParseBeat(
      R"({"scheduled":{"x":[1,{"y":2}]},"period":"abc","load":-1.5,"ak":null,"ip":"1.2.3.4"})");
  EXPECT_EQ(beat.ip, "1.2.3.4");
}

TEST(ParseBeatInfoTest, LenientScalars) {
  BeatInfo beat = MustParseBeat(
      R"({"port":"8080","weight":"2.5","ephemeral":"false","ip":10,"metadata":{"n":7,"b":true}})");
  EXPECT_EQ(beat.port, 8080);
  EXPECT_DOUBLE_EQ(beat.weight, 2.5);
  EXPECT_FALSE(beat.ephemeral);
  EXPECT_EQ(beat.ip, "10");
  EXPECT_EQ(beat.metadata, (Metadata{{"b", "true"}, {"n", "7"}}));
  EXPECT_EQ(MustParseBeat(R"({"port":8080.0})").port, 8080);
  EXPECT_EQ(MustParseBeat(R"({"port":-1})").port, -1);
  EXPECT_FALSE(MustParseBeat(R"({"ephemeral":false})").ephemeral);
  EXPECT_EQ(MustParseBeat(R"({"ip":"a"} trailing)").ip, "a");
}

TEST(ParseBeatInfoTest, Errors) {
  EXPECT_EQ(BeatError("[]"), "beat must be a JSON object");
  EXPECT_EQ(BeatError(R"("x")"), "beat must be a JSON object");
  EXPECT_EQ(BeatError("null"), "beat must be a JSON object");
  EXPECT_EQ(BeatError("12"), "beat must be a JSON object");
  EXPECT_EQ(BeatError("").rfind("beat is not valid JSON: ", 0), 0u);
  EXPECT_EQ(BeatError("{").rfind("beat is not valid JSON: ", 0), 0u);
  EXPECT_EQ(BeatError(R"({"ip":"a)").rfind("beat is not valid JSON: ", 0), 0u);
  EXPECT_EQ(BeatError(std::string("{\"ip\":\"a\0\"}", 11)),
            "beat is not valid JSON: NUL byte (offset 8)");
  EXPECT_EQ(BeatError(R"({"ip":true})"), "beat field 'ip' has an invalid value");
  EXPECT_EQ(BeatError(R"({"cluster":{}})"), "beat field 'cluster' has an invalid value");
  EXPECT_EQ(BeatError(R"({"serviceName":[]})"), "beat field 'serviceName' has an invalid value");
  EXPECT_EQ(BeatError(R"({"port":"x"})"), "beat field 'port' has an invalid value");
  EXPECT_EQ(BeatError(R"({"port":8080.5})"), "beat field 'port' has an invalid value");
  EXPECT_EQ(BeatError(R"({"port":99999999999})"), "beat field 'port' has an invalid value");
  EXPECT_EQ(BeatError(R"({"port":true})"), "beat field 'port' has an invalid value");
  EXPECT_EQ(BeatError(R"({"weight":"abc"})"), "beat field 'weight' has an invalid value");
  EXPECT_EQ(BeatError(R"({"weight":"1e400"})"), "beat field 'weight' has an invalid value");
  EXPECT_EQ(BeatError(R"({"weight":1e400})").rfind("beat is not valid JSON: ", 0), 0u);
  EXPECT_EQ(BeatError(R"({"ephemeral":1})"), "beat field 'ephemeral' has an invalid value");
  EXPECT_EQ(BeatError(R"({"ephemeral":"yes"})"), "beat field 'ephemeral' has an invalid value");
  EXPECT_EQ(BeatError(R"({"metadata":[]})"), "beat field 'metadata' has an invalid value");
  EXPECT_EQ(BeatError(R"({"metadata":"a=b"})"), "beat field 'metadata' has an invalid value");
  EXPECT_EQ(BeatError(R"({"metadata":{"a":{}}})"), "beat field 'metadata' has an invalid value");
}

TEST(ParseBeatInfoTest, SizeAndDepthLimits) {
  const std::string big = "{\"ip\":\"" + std::string(kMaxBeatBytes, 'a') + "\"}";
  EXPECT_EQ(BeatError(big), "beat too large: 131081 bytes (max 131072)");
  const std::string deep = "{\"x\":" + std::string(33, '[') + std::string(33, ']') + "}";
  EXPECT_EQ(BeatError(deep), "beat is nested too deeply (max 32 levels)");
  const std::string ok_depth = "{\"x\":" + std::string(31, '[') + std::string(31, ']') + "}";
  MustParseBeat(ok_depth);
  // Brackets inside strings do not count.
  MustParseBeat("{\"ip\":\"" + std::string(100, '[') + "\\\"\"}");
}

}  // namespace
}  // namespace dubbo::naming_server
