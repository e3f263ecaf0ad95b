// Tests for PushService and its wire helpers. Time is driven
// by ManualScheduler; nothing sleeps. One test uses ThreadScheduler to check the serialisation
// wrapper and destruction with a live scheduler; it waits on futures only.
#include "push_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "dubbo/registry/logging.h"
#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/scheduler.h"

namespace dubbo::naming_server {
namespace {

using registry::ManualScheduler;
using registry::StatusCode;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kNs[] = "public";
constexpr char kSvc[] = "DEFAULT_GROUP@@demo";

struct Sent {
  UdpEndpoint to;
  std::string bytes;
};

class FakeSender : public UdpSender {
 public:
  void Send(const UdpEndpoint& to, std::string_view datagram) override {
    sent.push_back(Sent{to, std::string(datagram)});
    if (on_send) on_send(to, datagram);
  }
  std::vector<Sent> sent;
  std::function<void(const UdpEndpoint&, std::string_view)> on_send;
};

// Decodes a datagram the way the Java PushReceiver does (gunzip if 1f 8b, then parse), expecting
// success.
PushPacket Decode(const std::string& datagram) {
  auto packet = ParsePushPacket(datagram);
  EXPECT_TRUE(packet.ok()) << packet.status();
  return packet.value_or(PushPacket{});
}

// Service data of about `size` bytes, as the HTTP layer would render it.
std::string ServiceJson(const std::string& marker, size_t size = 0) {
  std::string json = R"({"hosts":[{"ip":"10.0.0.5","port":8080,"healthy":true}],"name":")" +
                     std::string(kSvc) + R"(","marker":")" + marker +
                     R"(","cacheMillis":10000,"pad":")";
  while (json.size() + 2 < size) json += 'x';
  return json + "\"}";
}

class PushServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.scheduler = &sched_;
    options_.sender = &sender_;
    options_.data_provider =
        [this](const std::string& ns, const std::string& svc, const std::string& clusters,
               PushStyle) -> registry::Result<std::shared_ptr<const std::string>> {
      ++renders_;
      if (too_large_) return registry::ResourceExhaustedError("too large to render");
      auto found = data_.find({ns, svc, clusters});
      if (found != data_.end()) return std::make_shared<const std::string>(found->second);
      if (fail_render_) return nullptr;
      return std::make_shared<const std::string>(ServiceJson(current_ + "|" + clusters));
    };
  }

  std::unique_ptr<PushService> Make() {
    auto created = PushService::Create(options_);
    EXPECT_TRUE(created.ok()) << created.status();
    return std::move(created).value();
  }

  // Subscribes with the default keys; no push on subscribe unless the options say so.
  void Sub(PushService& push, const UdpEndpoint& ep, const std::string& clusters = "") {
    ASSERT_TRUE(push.Subscribe(kNs, kSvc, clusters, ep, "Nacos-Java-Client:v1.4.8").ok());
  }

  PushPacket Last() const {
    if (sender_.sent.empty()) {
      ADD_FAILURE() << "nothing was sent";
      return PushPacket{};
    }
    return Decode(sender_.sent.back().bytes);
  }

  ManualScheduler sched_;
  FakeSender sender_;
  PushServiceOptions options_;
  std::map<std::tuple<std::string, std::string, std::string>, std::string> data_;
  std::string current_ = "v1";
  bool fail_render_ = false;
  bool too_large_ = false;
  int renders_ = 0;
  const UdpEndpoint client_{"10.0.0.9", 55963};
};

// ------------------------------------------------------------------------------------------------
// Wire helpers.

TEST(UdpEndpointTest, EqualityOrderingHashAndPrinting) {
  const UdpEndpoint a{"10.0.0.9", 55963};
  EXPECT_EQ(a, (UdpEndpoint{"10.0.0.9", 55963}));
  EXPECT_NE(a, (UdpEndpoint{"10.0.0.9", 55964}));
  EXPECT_NE(a, (UdpEndpoint{"10.0.0.8", 55963}));
  EXPECT_LT((UdpEndpoint{"10.0.0.9", 1}), a);
  EXPECT_FALSE(a < a);
  EXPECT_EQ(UdpEndpointHash()(a), UdpEndpointHash()(UdpEndpoint{"10.0.0.9", 55963}));
  EXPECT_EQ(a.ToString(), "10.0.0.9:55963");
  EXPECT_EQ((UdpEndpoint{"::1", 80}).ToString(), "[::1]:80");
}

TEST(PushWireTest, PacketRoundTripsTrickyData) {
  std::string data = "{\"a\":\"quote\\\" back\\\\slash\"}\n\t\x01 ü € 😀 </script>";
  data.push_back('\0');
  data += "after-nul";
  const std::string json = EncodePushPacketJson(data, 81234567890123);
  ASSERT_LT(json.size(), kGzipThreshold);
  EXPECT_EQ(json.find('\n'), std::string::npos);  // Control characters are escaped.
  auto packet = BuildPushPacket(data, 81234567890123);
  ASSERT_TRUE(packet.ok());
  EXPECT_EQ(*packet, json);
  PushPacket decoded = Decode(*packet);
  EXPECT_FALSE(decoded.gzipped);
  EXPECT_EQ(decoded.type, "dom");
  EXPECT_EQ(decoded.data, data);
  EXPECT_EQ(decoded.last_ref_time, 81234567890123);
}

TEST(PushWireTest, PacketBytesAreExactlyTheSpecFormat) {
  EXPECT_EQ(
      EncodePushPacketJson("{\"hosts\":[],\"name\":\"a/b\"}\n\t\x01\\", 81234567890123),
      R"({"type":"dom","data":"{\"hosts\":[],\"name\":\"a/b\"}\n\t\u0001\\","lastRefTime":81234567890123})");
  EXPECT_EQ(EncodePushPacketJson("", -1), R"({"type":"dom","data":"","lastRefTime":-1})");
  EXPECT_EQ(EncodePushPacketJson("\xc3\xbc\xff", 1),
            "{\"type\":\"dom\",\"data\":\"\xc3\xbc\xff\",\"lastRefTime\":1}");
}

TEST(PushWireTest, ParsePushPacketAcceptsClientVariantsAndRejectsJunk) {
  auto packet = ParsePushPacket(R"({"lastRefTime":"12","data":"{}","type":"service","x":[1]})");
  ASSERT_TRUE(packet.ok()) << packet.status();
  EXPECT_EQ(packet->type, "service");
  EXPECT_EQ(packet->data, "{}");
  EXPECT_EQ(packet->last_ref_time, 12);
  EXPECT_FALSE(packet->gzipped);
  EXPECT_FALSE(ParsePushPacket(R"({"type":"dom","lastRefTime":1})").ok());
  EXPECT_FALSE(ParsePushPacket(R"({"type":"dom","data":{},"lastRefTime":1})").ok());
  EXPECT_FALSE(ParsePushPacket(R"({"type":1,"data":"","lastRefTime":1})").ok());
  EXPECT_FALSE(ParsePushPacket(R"({"type":"dom","data":"","lastRefTime":1.5})").ok());
  EXPECT_FALSE(ParsePushPacket(R"(["dom"])").ok());
  EXPECT_FALSE(ParsePushPacket(std::string(100000, '[')).ok());
  auto big = Gzip(EncodePushPacketJson(std::string(5000, 'a'), 3));
  ASSERT_TRUE(big.ok());
  EXPECT_TRUE(ParsePushPacket(*big).ok());
  EXPECT_FALSE(ParsePushPacket(*big, 4000).ok());  // Over the cap once gunzipped.
  EXPECT_FALSE(ParsePushPacket(big->substr(0, big->size() - 4)).ok());
}

TEST(PushWireTest, GzipsFromExactly1024Bytes) {
  const size_t overhead = EncodePushPacketJson("", 1).size();
  const std::string below(kGzipThreshold - 1 - overhead, 'a');
  const std::string at(kGzipThreshold - overhead, 'a');
  ASSERT_EQ(EncodePushPacketJson(below, 1).size(), 1023u);
  ASSERT_EQ(EncodePushPacketJson(at, 1).size(), 1024u);

  auto plain = BuildPushPacket(below, 1);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->front(), '{');
  EXPECT_FALSE(LooksGzipped(*plain));

  auto zipped = BuildPushPacket(at, 1);
  ASSERT_TRUE(zipped.ok());
  ASSERT_GE(zipped->size(), 10u);
  EXPECT_EQ(static_cast<unsigned char>((*zipped)[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>((*zipped)[1]), 0x8b);
  EXPECT_EQ(static_cast<unsigned char>((*zipped)[2]), 0x08);  // Deflate.
  auto unzipped = Gunzip(*zipped, 1 << 20);
  ASSERT_TRUE(unzipped.ok());
  EXPECT_EQ(*unzipped, EncodePushPacketJson(at, 1));  // The whole packet, not just `data`.
  EXPECT_EQ(Decode(*zipped).data, at);
}

TEST(PushWireTest, OversizeDatagramIsRefused) {
  std::mt19937 rng(7);
  std::string noise(100000, '\0');
  for (char& c : noise)
    c = static_cast<char>('!' + rng() % 90);  // ~6.5 bits/byte: > 64 KiB gzipped.
  auto packet = BuildPushPacket(noise, 1);
  ASSERT_FALSE(packet.ok());
  EXPECT_EQ(packet.status().code(), StatusCode::kInvalidArgument);
  // Highly compressible data of the same size fits once gzipped.
  EXPECT_TRUE(BuildPushPacket(std::string(70000, 'a'), 1).ok());
  // Far too big to ever fit, refused before encoding.
  EXPECT_FALSE(BuildPushPacket(std::string(kMaxUdpPayload * 1101, 'a'), 1).ok());
}

TEST(PushWireTest, GzipGunzipRoundTripAndErrors) {
  for (const std::string& text : {std::string(), std::string("hello"), std::string(100000, 'z')}) {
    auto zipped = Gzip(text);
    ASSERT_TRUE(zipped.ok());
    EXPECT_TRUE(LooksGzipped(*zipped));
    auto back = Gunzip(*zipped, 1 << 20);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, text);
  }
  auto zipped = Gzip(std::string(5000, 'q'));
  ASSERT_TRUE(zipped.ok());
  EXPECT_FALSE(Gunzip(zipped->substr(0, zipped->size() - 1), 1 << 20).ok());  // Truncated trailer.
  EXPECT_FALSE(Gunzip(zipped->substr(0, zipped->size() / 2), 1 << 20).ok());  // Truncated body.
  EXPECT_FALSE(Gunzip(*zipped + "x", 1 << 20).ok());                          // Trailing bytes.
  EXPECT_FALSE(Gunzip(*zipped, 4999).ok());                                   // Over the cap.
  EXPECT_TRUE(Gunzip(*zipped, 5000).ok());
  EXPECT_FALSE(Gunzip("{\"type\":\"push-ack\"}", 1 << 20).ok());  // Not gzip.
  EXPECT_FALSE(Gunzip(std::string("\x1f\x8b", 2), 1 << 20).ok());
  std::string corrupt = *zipped;
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_FALSE(Gunzip(corrupt, 1 << 20).ok());
}

TEST(PushWireTest, ParsePushAckAcceptsQuotedAndBareIds) {
  EXPECT_EQ(ParsePushAck(R"({"type": "push-ack", "lastRefTime":"81234567890123", "data":""})")
                .value_or(0),
            81234567890123);
  EXPECT_EQ(
      ParsePushAck(R"({"type":"push-ack","lastRefTime":81234567890123,"data":""})").value_or(0),
      81234567890123);
  EXPECT_EQ(ParsePushAck(BuildPushAck(42)).value_or(0), 42);
  EXPECT_EQ(ParsePushAck(BuildPushAck(42, /*quoted=*/false)).value_or(0), 42);
  EXPECT_EQ(ParsePushAck(R"({"lastRefTime":"-5","type":"push-ack"})").value_or(0), -5);
  EXPECT_EQ(ParsePushAck(R"({"type":"push-ack","lastRefTime":"9223372036854775807"})").value_or(0),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ParsePushAck(R"({"type":"push-ack","lastRefTime":-9223372036854775808})").value_or(0),
            std::numeric_limits<int64_t>::min());
  // Bytes in strings are not validated as UTF-8 (the Java client decodes leniently too).
  EXPECT_EQ(
      ParsePushAck("{\"type\":\"push-ack\",\"lastRefTime\":3,\"data\":\"\xff\xf0\"}").value_or(0),
      3);
  // The last duplicate wins; unknown and nested members are ignored.
  EXPECT_EQ(ParsePushAck(R"({"type":"x","type":"push-ack","lastRefTime":1,"lastRefTime":2,)"
                         R"("data":{"a":[1,{"b":null}]}})")
                .value_or(0),
            2);
}

TEST(PushWireTest, ParsePushAckRejectsEverythingElse) {
  const std::vector<std::string> bad = {
      "",
      "garbage",
      "null",
      "[]",
      "\"push-ack\"",
      R"({"type":"push-ack"})",
      R"({"lastRefTime":"1"})",
      R"({"type":"dump-ack","lastRefTime":"1","data":"{}"})",
      R"({"type":"unknown-ack","lastRefTime":"1"})",
      R"({"type":["push-ack"],"lastRefTime":"1"})",
      R"({"type":"push-ack","lastRefTime":"1"} trailing)",
      R"({"type":"push-ack","lastRefTime":"1")",
      R"({"type":"push-ack","lastRefTime":"9223372036854775808"})",
      R"({"type":"push-ack","lastRefTime":9223372036854775808})",
      R"({"type":"push-ack","lastRefTime":"99999999999999999999999999"})",
      R"({"type":"push-ack","lastRefTime":99999999999999999999999999})",
      R"({"type":"push-ack","lastRefTime":1e400})",
      R"({"type":"push-ack","lastRefTime":1.5})",
      R"({"type":"push-ack","lastRefTime":" 1"})",
      R"({"type":"push-ack","lastRefTime":"+1"})",
      R"({"type":"push-ack","lastRefTime":"0x10"})",
      R"({"type":"push-ack","lastRefTime":""})",
      R"({"type":"push-ack","lastRefTime":"-"})",
      R"({"type":"push-ack","lastRefTime":true})",
      R"({"type":"push-ack","lastRefTime":{"n":1}})",
      std::string(R"({"type":"push-ack","lastRefTime":"1"})") + '\0' + "junk",
  };
  for (const std::string& input : bad) {
    auto parsed = ParsePushAck(input);
    EXPECT_FALSE(parsed.ok()) << input;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(PushWireTest, ParsePushAckCapsNestingAndSize) {
  auto nested = [](int depth) {
    std::string s = R"({"type":"push-ack","lastRefTime":"7","data":)";
    for (int i = 1; i < depth; ++i) s += "[";
    for (int i = 1; i < depth; ++i) s += "]";
    return s + "}";
  };
  EXPECT_TRUE(ParsePushAck(nested(kMaxAckNesting)).ok());
  EXPECT_FALSE(ParsePushAck(nested(kMaxAckNesting + 1)).ok());
  // Very deep input is refused without recursing.
  EXPECT_FALSE(ParsePushAck(std::string(60000, '[')).ok());
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  EXPECT_FALSE(ParsePushAck(objects).ok());
  // Size cap.
  std::string big =
      R"({"type":"push-ack","lastRefTime":"7","data":")" + std::string(kMaxAckBytes, 'a') + "\"}";
  EXPECT_FALSE(ParsePushAck(big).ok());
}

// ------------------------------------------------------------------------------------------------
// PushService.

TEST_F(PushServiceTest, CreateValidatesOptions) {
  PushServiceOptions bad = options_;
  bad.scheduler = nullptr;
  EXPECT_EQ(PushService::Create(bad).status().code(), StatusCode::kInvalidArgument);
  bad = options_;
  bad.sender = nullptr;
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.data_provider = nullptr;
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.ack_timeout = milliseconds(0);
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.subscriber_ttl = milliseconds(-1);
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.push_delay = milliseconds(-1);
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.max_pending_acks = 0;
  EXPECT_FALSE(PushService::Create(bad).ok());
  bad = options_;
  bad.push_delay = milliseconds(0);
  EXPECT_TRUE(PushService::Create(bad).ok());
}

TEST_F(PushServiceTest, DefaultsAreDocumentedValues) {
  PushServiceOptions defaults;
  EXPECT_EQ(defaults.subscriber_ttl, milliseconds(30000));
  EXPECT_EQ(defaults.push_delay, milliseconds(50));
  EXPECT_EQ(defaults.ack_timeout, milliseconds(10000));
  EXPECT_TRUE(defaults.push_on_subscribe);
}

TEST_F(PushServiceTest, NewSubscriberGetsOneImmediatePushAndRefreshesDoNot) {
  auto push = Make();
  Sub(*push, client_);
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].to, client_);
  PushPacket packet = Last();
  EXPECT_EQ(packet.type, "dom");
  EXPECT_EQ(packet.data, ServiceJson("v1|"));
  EXPECT_GT(packet.last_ref_time, 0);
  EXPECT_EQ(push->subscriber_count(), 1u);

  sched_.AdvanceBy(seconds(1));
  Sub(*push, client_);  // Refresh.
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(push->subscriber_count(), 1u);
  EXPECT_EQ(push->stats().pushes_sent, 1u);
}

TEST_F(PushServiceTest, NoPushOnSubscribeWhenDisabled) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(renders_, 0);
}

TEST_F(PushServiceTest, SubscribeValidatesEndpoint) {
  auto push = Make();
  EXPECT_EQ(push->Subscribe(kNs, kSvc, "", UdpEndpoint{"10.0.0.9", 0}, "x").code(),
            StatusCode::kInvalidArgument);
  ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", UdpEndpoint{"", 4000}, "x").ok());
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].to, (UdpEndpoint{"127.0.0.1", 4000}));
}

TEST_F(PushServiceTest, IsolatedChangeIsPushedInTheSameCall) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  sched_.AdvanceBy(seconds(3));
  current_ = "v2";
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 1u);  // No AdvanceBy in between: no timer involved.
  EXPECT_EQ(Last().data, ServiceJson("v2|"));
  // A change long after the window is again immediate.
  sched_.AdvanceBy(seconds(1));
  current_ = "v3";
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(Last().data, ServiceJson("v3|"));
  EXPECT_EQ(push->stats().changes_merged, 0u);
  // Changes to other services, or without subscribers, send nothing.
  push->ServiceChanged(kNs, "DEFAULT_GROUP@@other");
  push->ServiceChanged("other-ns", kSvc);
  EXPECT_EQ(sender_.sent.size(), 2u);
}

TEST_F(PushServiceTest, BurstIsMergedIntoOnePushAtWindowEndWithLatestData) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  push->ServiceChanged(kNs, kSvc);  // Isolated: pushed now, opens a 50 ms window.
  ASSERT_EQ(sender_.sent.size(), 1u);
  for (const char* version : {"v2", "v3", "v4"}) {
    sched_.AdvanceBy(milliseconds(10));
    current_ = version;
    push->ServiceChanged(kNs, kSvc);
  }
  EXPECT_EQ(sender_.sent.size(), 1u);
  const int renders_before = renders_;
  sched_.AdvanceBy(milliseconds(19));  // t = 49 ms.
  EXPECT_EQ(sender_.sent.size(), 1u);
  current_ = "v5";  // Changed again without a ServiceChanged() yet: still covered by the render.
  sched_.AdvanceBy(milliseconds(1));  // t = 50 ms: the window ends.
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(renders_, renders_before + 1);  // Rendered when the timer fired, once.
  EXPECT_EQ(Last().data, ServiceJson("v5|"));
  EXPECT_EQ(push->stats().changes_merged, 3u);
  sched_.AdvanceBy(seconds(1));
  EXPECT_EQ(sender_.sent.size(), 2u);  // Nothing else was left pending.
  // The merged push opened a new window: a change 10 ms after it waits for its end.
  push->ServiceChanged(kNs, kSvc);  // t = 1.05 s: isolated.
  EXPECT_EQ(sender_.sent.size(), 3u);
  sched_.AdvanceBy(milliseconds(10));
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 3u);
  sched_.AdvanceBy(milliseconds(40));
  EXPECT_EQ(sender_.sent.size(), 4u);
}

TEST_F(PushServiceTest, ZeroPushDelayPushesEveryChangeWithIncreasingIds) {
  options_.push_on_subscribe = false;
  options_.push_delay = milliseconds(0);
  auto push = Make();
  Sub(*push, client_);
  for (int i = 0; i < 5; ++i) push->ServiceChanged(kNs, kSvc);  // Same instant.
  ASSERT_EQ(sender_.sent.size(), 5u);
  int64_t previous = 0;
  for (const Sent& sent : sender_.sent) {
    const int64_t id = Decode(sent.bytes).last_ref_time;
    EXPECT_GT(id, previous);
    previous = id;
  }
}

TEST_F(PushServiceTest, AckByQuotedAndBareLastRefTime) {
  auto push = Make();
  Sub(*push, client_);
  const int64_t first = Last().last_ref_time;
  EXPECT_EQ(push->pending_ack_count(), 1u);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(first, /*quoted=*/true)),
            DatagramResult::kAckMatched);
  EXPECT_EQ(push->pending_ack_count(), 0u);
  // A duplicate ack matches nothing.
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(first)), DatagramResult::kAckUnmatched);

  sched_.AdvanceBy(seconds(1));
  push->ServiceChanged(kNs, kSvc);
  const int64_t second = Last().last_ref_time;
  EXPECT_GT(second, first);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(second, /*quoted=*/false)),
            DatagramResult::kAckMatched);
  const PushStats stats = push->stats();
  EXPECT_EQ(stats.acks_matched, 2u);
  EXPECT_EQ(stats.acks_unmatched, 1u);
  EXPECT_EQ(stats.pending_acks, 0u);
  // Acked pushes are never resent.
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(push->stats().resends, 0u);
  EXPECT_EQ(push->stats().give_ups, 0u);
}

TEST_F(PushServiceTest, GzippedAckIsAccepted) {
  auto push = Make();
  Sub(*push, client_);
  auto zipped = Gzip(BuildPushAck(Last().last_ref_time));
  ASSERT_TRUE(zipped.ok());
  EXPECT_EQ(push->OnDatagram(client_, *zipped), DatagramResult::kAckMatched);
}

TEST_F(PushServiceTest, AckFromAnotherEndpointIsIgnored) {
  auto push = Make();
  Sub(*push, client_);
  const std::string ack = BuildPushAck(Last().last_ref_time);
  EXPECT_EQ(push->OnDatagram(UdpEndpoint{"10.0.0.9", 55964}, ack), DatagramResult::kAckUnmatched);
  EXPECT_EQ(push->OnDatagram(UdpEndpoint{"10.0.0.10", 55963}, ack), DatagramResult::kAckUnmatched);
  EXPECT_EQ(push->pending_ack_count(), 1u);
  sched_.AdvanceBy(seconds(10));
  EXPECT_EQ(sender_.sent.size(), 2u);  // Still resent.
  EXPECT_EQ(push->OnDatagram(client_, ack), DatagramResult::kAckMatched);
}

TEST_F(PushServiceTest, ResendsIdenticalPacketOnceAfterTenSecondsThenGivesUpAtTwenty) {
  auto push = Make();
  Sub(*push, client_);
  ASSERT_EQ(sender_.sent.size(), 1u);
  sched_.AdvanceBy(milliseconds(9999));
  EXPECT_EQ(sender_.sent.size(), 1u);
  sched_.AdvanceBy(milliseconds(1));  // t = 10 s.
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(sender_.sent[1].to, client_);
  EXPECT_EQ(sender_.sent[1].bytes, sender_.sent[0].bytes);  // Identical, same lastRefTime.
  EXPECT_EQ(push->stats().resends, 1u);
  EXPECT_EQ(push->stats().give_ups, 0u);
  sched_.AdvanceBy(milliseconds(9999));
  EXPECT_EQ(push->stats().give_ups, 0u);
  EXPECT_EQ(push->pending_ack_count(), 1u);
  sched_.AdvanceBy(milliseconds(1));  // t = 20 s.
  EXPECT_EQ(push->stats().give_ups, 1u);
  EXPECT_EQ(push->pending_ack_count(), 0u);
  sched_.AdvanceBy(seconds(5));
  EXPECT_EQ(sender_.sent.size(), 2u);  // Two transmissions in total.
  EXPECT_EQ(push->stats().resends, 1u);
  // A late ack matches nothing.
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(Decode(sender_.sent[0].bytes).last_ref_time)),
            DatagramResult::kAckUnmatched);
}

TEST_F(PushServiceTest, AckAfterResendReportsLatencyFromFirstSend) {
  std::vector<std::tuple<UdpEndpoint, int64_t, registry::Duration>> acks;
  options_.on_ack = [&](const UdpEndpoint& from, int64_t id, registry::Duration latency) {
    acks.emplace_back(from, id, latency);
  };
  auto push = Make();
  Sub(*push, client_);
  const int64_t id = Last().last_ref_time;
  sched_.AdvanceBy(seconds(12));
  ASSERT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(id)), DatagramResult::kAckMatched);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(std::get<0>(acks[0]), client_);
  EXPECT_EQ(std::get<1>(acks[0]), id);
  EXPECT_EQ(std::get<2>(acks[0]), seconds(12));
  EXPECT_EQ(push->stats().ack_latency_max, seconds(12));
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(push->stats().give_ups, 0u);
}

TEST_F(PushServiceTest, NewerPushSupersedesUnackedOlderOne) {
  auto push = Make();
  Sub(*push, client_);  // Push 1 (v1).
  const int64_t first = Last().last_ref_time;
  sched_.AdvanceBy(seconds(5));
  current_ = "v2";
  push->ServiceChanged(kNs, kSvc);  // Push 2 (v2) supersedes push 1.
  EXPECT_EQ(push->pending_ack_count(), 1u);
  EXPECT_EQ(push->stats().superseded, 1u);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(first)), DatagramResult::kAckUnmatched);
  sched_.AdvanceBy(seconds(5));  // t = 10 s: push 1 would have been resent; it is gone.
  EXPECT_EQ(sender_.sent.size(), 2u);
  sched_.AdvanceBy(seconds(5));  // t = 15 s: push 2 is resent, with v2.
  ASSERT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(Last().data, ServiceJson("v2|"));
  EXPECT_EQ(sender_.sent[2].bytes, sender_.sent[1].bytes);
}

TEST_F(PushServiceTest, SubscriberLapsesAfterTtlWithoutRefresh) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  sched_.AdvanceBy(seconds(30));  // Exactly the TTL: still live.
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 1u);
  ASSERT_TRUE(push->OnDatagram(client_, BuildPushAck(Last().last_ref_time)) ==
              DatagramResult::kAckMatched);
  sched_.AdvanceBy(milliseconds(1));
  push->ServiceChanged(kNs, kSvc);  // Within the window: merged, then dropped at push time.
  sched_.AdvanceBy(milliseconds(100));
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(push->subscriber_count(), 0u);
  EXPECT_EQ(push->stats().subscribers_expired, 1u);
}

TEST_F(PushServiceTest, RefreshKeepsSubscriberAlive) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  for (int i = 0; i < 6; ++i) {
    sched_.AdvanceBy(seconds(20));
    Sub(*push, client_);  // The client's re-query every cacheMillis (here slower: every 20 s).
  }
  sched_.AdvanceBy(seconds(25));  // 145 s after the first query, 25 s after the last refresh.
  EXPECT_EQ(push->subscriber_count(), 1u);
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(push->stats().subscribers_expired, 0u);
}

TEST_F(PushServiceTest, SweepDropsLapsedSubscribersAndLeavesNoTimers) {
  auto push = Make();
  Sub(*push, client_);  // Immediate push, never acked.
  Sub(*push, UdpEndpoint{"10.0.0.8", 1000}, "c1");
  EXPECT_EQ(push->subscriber_count(), 2u);
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(push->subscriber_count(), 2u);
  sched_.AdvanceBy(seconds(5));  // First sweep after the TTL.
  EXPECT_EQ(push->subscriber_count(), 0u);
  EXPECT_EQ(push->stats().subscribers_expired, 2u);
  EXPECT_EQ(sched_.pending(), 0u);  // No sweep without subscribers, no ack timer without pushes.
  // A lapsed client that queries again is a new subscriber and gets an immediate push.
  Sub(*push, client_);
  EXPECT_EQ(sender_.sent.size(), 5u);  // 2 first pushes + 2 resends + this one.
}

TEST_F(PushServiceTest, LapsedButUnsweptSubscriberQueryingAgainIsNew) {
  options_.sweep_interval = milliseconds(3600000);
  auto push = Make();
  Sub(*push, client_);
  ASSERT_EQ(push->OnDatagram(client_, BuildPushAck(Last().last_ref_time)),
            DatagramResult::kAckMatched);
  sched_.AdvanceBy(seconds(31));
  Sub(*push, client_);
  EXPECT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(push->stats().subscribers_expired, 1u);
  EXPECT_EQ(push->subscriber_count(), 1u);
}

TEST_F(PushServiceTest, OneChangeWithThousandSubscribersSendsThousandPackets) {
  options_.push_on_subscribe = false;
  auto push = Make();
  std::set<UdpEndpoint> endpoints;
  for (int i = 0; i < 1000; ++i) {
    UdpEndpoint ep{"10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250),
                   static_cast<uint16_t>(40000 + i)};
    endpoints.insert(ep);
    Sub(*push, ep);
  }
  EXPECT_EQ(push->subscriber_count(), 1000u);
  current_ = "big";
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 1000u);
  EXPECT_EQ(renders_, 1);  // One rendering and one packet shared by all.
  std::set<UdpEndpoint> reached;
  for (const Sent& sent : sender_.sent) {
    reached.insert(sent.to);
    EXPECT_EQ(sent.bytes, sender_.sent[0].bytes);
  }
  EXPECT_EQ(reached, endpoints);
  const int64_t id = Last().last_ref_time;
  EXPECT_EQ(push->pending_ack_count(), 1000u);
  sched_.AdvanceBy(milliseconds(3));
  for (const UdpEndpoint& ep : endpoints) {
    EXPECT_EQ(push->OnDatagram(ep, BuildPushAck(id)), DatagramResult::kAckMatched);
  }
  const PushStats stats = push->stats();
  EXPECT_EQ(stats.acks_matched, 1000u);
  EXPECT_EQ(stats.pending_acks, 0u);
  EXPECT_EQ(stats.ack_latency_max, milliseconds(3));
  EXPECT_EQ(stats.ack_latency_total, milliseconds(3000));
}

TEST_F(PushServiceTest, EachClustersValueGetsItsOwnRenderingAndId) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_, "");
  Sub(*push, client_, "c1,c2");  // Same endpoint, other clusters: a second subscriber.
  Sub(*push, UdpEndpoint{"10.0.0.8", 1000}, "c1,c2");
  EXPECT_EQ(push->subscriber_count(), 3u);
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 3u);
  EXPECT_EQ(renders_, 2);
  std::map<std::string, std::set<int64_t>> ids_by_data;
  for (const Sent& sent : sender_.sent) {
    PushPacket packet = Decode(sent.bytes);
    ids_by_data[packet.data].insert(packet.last_ref_time);
  }
  ASSERT_EQ(ids_by_data.size(), 2u);
  ASSERT_EQ(ids_by_data[ServiceJson("v1|")].size(), 1u);
  ASSERT_EQ(ids_by_data[ServiceJson("v1|c1,c2")].size(), 1u);
  const int64_t all_id = *ids_by_data[ServiceJson("v1|")].begin();
  const int64_t c_id = *ids_by_data[ServiceJson("v1|c1,c2")].begin();
  EXPECT_NE(all_id, c_id);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(all_id)), DatagramResult::kAckMatched);
  EXPECT_EQ(push->OnDatagram(client_, BuildPushAck(c_id)), DatagramResult::kAckMatched);
  EXPECT_EQ(push->pending_ack_count(), 1u);
}

TEST_F(PushServiceTest, EachStyleGetsItsOwnRenderingAndAgentChangesMoveASubscriber) {
  options_.push_on_subscribe = false;
  options_.style_of = [](std::string_view agent) { return agent == "b" ? 1 : 0; };
  std::vector<PushStyle> styles;  // Of every render.
  options_.data_provider = [&](const std::string&, const std::string&, const std::string&,
                               PushStyle style) {
    styles.push_back(style);
    return std::make_shared<const std::string>(ServiceJson("style" + std::to_string(style)));
  };
  auto push = Make();
  const UdpEndpoint a1{"10.0.0.1", 1}, b{"10.0.0.2", 1}, a2{"10.0.0.3", 1};
  ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", a1, "a").ok());
  ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", b, "b").ok());
  ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", a2, "a").ok());
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(styles, (std::vector<PushStyle>{0, 1}));  // One render per style.
  ASSERT_EQ(sender_.sent.size(), 3u);
  std::map<UdpEndpoint, PushPacket> got;
  for (const Sent& sent : sender_.sent) got[sent.to] = Decode(sent.bytes);
  EXPECT_EQ(got[a1].data, ServiceJson("style0"));
  EXPECT_EQ(got[a2].last_ref_time, got[a1].last_ref_time);  // One shared packet.
  EXPECT_EQ(got[b].data, ServiceJson("style1"));
  EXPECT_NE(got[b].last_ref_time, got[a1].last_ref_time);

  // A refresh with another agent changes the subscriber's style.
  ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", b, "a").ok());
  styles.clear();
  sched_.AdvanceBy(seconds(1));  // Past the coalescing window.
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(styles, (std::vector<PushStyle>{0}));
  ASSERT_EQ(sender_.sent.size(), 6u);
  EXPECT_EQ(Decode(sender_.sent[4].bytes).data, ServiceJson("style0"));
}

TEST_F(PushServiceTest, NamespacesAreSeparate) {
  options_.push_on_subscribe = false;
  auto push = Make();
  ASSERT_TRUE(push->Subscribe("ns-a", kSvc, "", client_, "a").ok());
  ASSERT_TRUE(push->Subscribe("ns-b", kSvc, "", UdpEndpoint{"10.0.0.8", 1}, "b").ok());
  data_[{"ns-a", kSvc, ""}] = "{\"ns\":\"a\"}";
  push->ServiceChanged("ns-a", kSvc);
  ASSERT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(sender_.sent[0].to, client_);
  EXPECT_EQ(Last().data, "{\"ns\":\"a\"}");
}

TEST_F(PushServiceTest, LargeDataIsGzippedAndOversizeIsSkipped) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  data_[{kNs, kSvc, ""}] = ServiceJson("large", 5000);
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 1u);
  PushPacket packet = Last();
  EXPECT_TRUE(packet.gzipped);
  EXPECT_EQ(packet.data, ServiceJson("large", 5000));

  std::mt19937 rng(11);
  std::string noise(150000, '\0');
  for (char& c : noise) c = static_cast<char>('a' + rng() % 26);
  data_[{kNs, kSvc, ""}] = "{\"noise\":\"" + noise + "\"}";
  sched_.AdvanceBy(seconds(1));
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(push->stats().oversize_skipped, 1u);
  EXPECT_EQ(push->pending_ack_count(), 1u);  // The earlier push is still tracked.
}

TEST_F(PushServiceTest, RenderFailureSkipsThePush) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  fail_render_ = true;  // The fixture's provider now returns nullopt.
  push->ServiceChanged(kNs, kSvc);
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(push->stats().render_failures, 1u);
}

// The provider may refuse a too large answer without rendering it: counted per subscriber as
// oversize, not as a render failure, and nothing is sent or tracked.
TEST_F(PushServiceTest, ProviderRefusingATooLargeAnswerCountsAsOversize) {
  options_.push_on_subscribe = false;
  auto push = Make();
  Sub(*push, client_);
  Sub(*push, UdpEndpoint{"10.0.0.10", 55963});
  too_large_ = true;
  push->ServiceChanged(kNs, kSvc);
  EXPECT_TRUE(sender_.sent.empty());
  EXPECT_EQ(push->stats().oversize_skipped, 2u);
  EXPECT_EQ(push->stats().render_failures, 0u);
  EXPECT_EQ(push->pending_ack_count(), 0u);
  too_large_ = false;
  sched_.AdvanceBy(seconds(1));
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(push->stats().oversize_skipped, 2u);
}

TEST_F(PushServiceTest, HostileDatagramsAreIgnored) {
  auto push = Make();
  Sub(*push, client_);
  const int64_t id = Last().last_ref_time;
  const std::string ack = BuildPushAck(id);
  auto zipped_ack = Gzip(ack);
  ASSERT_TRUE(zipped_ack.ok());
  auto bomb = Gzip(std::string(4 << 20, ' '));  // 4 MiB of spaces: over the 64 KiB cap.
  ASSERT_TRUE(bomb.ok());
  std::vector<std::string> hostile = {
      "",
      "garbage",
      std::string("\x1f\x8b", 2),
      std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10),
      zipped_ack->substr(0, zipped_ack->size() - 3),  // Truncated gzip.
      *zipped_ack + *zipped_ack,                      // Two members.
      *bomb,
      R"({"type":"push-ack","lastRefTime":"99999999999999999999999"})",
      R"({"type":"push-ack","lastRefTime":1e999})",
      R"({"type":"push-ack","lastRefTime":-1.0e308})",
      std::string(100000, '['),
      std::string(65000, '{'),
      std::string(70000, 'a'),  // Over the datagram cap.
      ack.substr(0, ack.size() - 1),
      R"({"type":"dump-ack","lastRefTime":")" + std::to_string(id) + R"(","data":"{}"})",
  };
  std::mt19937 rng(1234);
  for (int i = 0; i < 2000; ++i) {
    std::string random(rng() % 200, '\0');
    for (char& c : random) c = static_cast<char>(rng());
    if (i % 3 == 0 && random.size() >= 2) random[0] = '\x1f', random[1] = '\x8b';
    if (i % 3 == 1) random = ack.substr(0, rng() % ack.size()) + random;
    hostile.push_back(random);
  }
  for (const std::string& datagram : hostile) {
    EXPECT_EQ(push->OnDatagram(client_, datagram), DatagramResult::kIgnored)
        << testing::PrintToString(datagram.substr(0, 60));
  }
  EXPECT_EQ(push->stats().datagrams_ignored, hostile.size());
  EXPECT_EQ(push->pending_ack_count(), 1u);
  EXPECT_EQ(push->OnDatagram(client_, *zipped_ack), DatagramResult::kAckMatched);
}

TEST_F(PushServiceTest, SubscriberCapRefusesNewOnesButKeepsRefreshing) {
  options_.max_subscribers = 2;
  auto push = Make();
  Sub(*push, UdpEndpoint{"10.0.0.1", 1});
  Sub(*push, UdpEndpoint{"10.0.0.2", 1});
  const registry::Status refused = push->Subscribe(kNs, "DEFAULT_GROUP@@x", "", client_, "a");
  EXPECT_EQ(refused.code(), StatusCode::kUnavailable);
  EXPECT_EQ(push->stats().subscribers_rejected, 1u);
  EXPECT_EQ(push->subscriber_count(), 2u);
  Sub(*push, UdpEndpoint{"10.0.0.1", 1});  // Refresh.
  sched_.AdvanceBy(seconds(40));
  Sub(*push, client_);  // Room again after the others lapsed.
  EXPECT_EQ(push->subscriber_count(), 1u);
}

TEST_F(PushServiceTest, PendingAckCapForgetsTheOldest) {
  options_.max_pending_acks = 2;
  options_.push_on_subscribe = false;
  auto push = Make();
  const UdpEndpoint a{"10.0.0.1", 1}, b{"10.0.0.2", 1}, c{"10.0.0.3", 1};
  Sub(*push, a);
  Sub(*push, b);
  Sub(*push, c);
  push->ServiceChanged(kNs, kSvc);
  ASSERT_EQ(sender_.sent.size(), 3u);  // Everyone is pushed.
  const int64_t id = Last().last_ref_time;
  EXPECT_EQ(push->pending_ack_count(), 2u);
  EXPECT_EQ(push->stats().pending_evicted, 1u);
  EXPECT_EQ(push->OnDatagram(a, BuildPushAck(id)), DatagramResult::kAckUnmatched);  // Forgotten.
  EXPECT_EQ(push->OnDatagram(b, BuildPushAck(id)), DatagramResult::kAckMatched);
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(sender_.sent.size(), 4u);  // Only c is resent.
  EXPECT_EQ(sender_.sent[3].to, c);
}

TEST_F(PushServiceTest, ReentrantCallsFromCallbacksAreRefused) {
  options_.push_on_subscribe = false;
  std::unique_ptr<PushService> push;
  registry::Status inner_status;
  options_.data_provider = [&](const std::string&, const std::string&, const std::string&,
                               PushStyle) -> std::shared_ptr<const std::string> {
    push->ServiceChanged(kNs, kSvc);  // Refused (logged), not recursed into.
    inner_status = push->Subscribe(kNs, kSvc, "", UdpEndpoint{"10.0.0.1", 1}, "x");
    return std::make_shared<const std::string>("{}");
  };
  registry::SetMinLogSeverity(registry::LogSeverity::kError);
  std::vector<std::string> errors;
  registry::SetLogSink([&](registry::LogSeverity, const char*, int, std::string_view message) {
    errors.emplace_back(message);
  });
  push = Make();
  Sub(*push, client_);
  push->ServiceChanged(kNs, kSvc);
  registry::SetLogSink(registry::LogSink());
  registry::SetMinLogSeverity(registry::LogSeverity::kWarning);
  EXPECT_EQ(sender_.sent.size(), 1u);
  EXPECT_EQ(inner_status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(push->subscriber_count(), 1u);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], HasSubstr("ServiceChanged() called from inside a callback"));
}

TEST_F(PushServiceTest, SenderMayAckSynchronously) {
  std::unique_ptr<PushService> push;
  sender_.on_send = [&](const UdpEndpoint& to, std::string_view datagram) {
    // A loopback client that acks inside Send().
    EXPECT_EQ(push->OnDatagram(to, BuildPushAck(Decode(std::string(datagram)).last_ref_time)),
              DatagramResult::kAckMatched);
  };
  options_.push_on_subscribe = false;
  push = Make();
  for (uint16_t port = 1; port <= 10; ++port) Sub(*push, UdpEndpoint{"10.0.0.1", port});
  push->ServiceChanged(kNs, kSvc);
  EXPECT_EQ(sender_.sent.size(), 10u);
  EXPECT_EQ(push->stats().acks_matched, 10u);
  EXPECT_EQ(push->pending_ack_count(), 0u);
  sched_.AdvanceBy(seconds(30));
  EXPECT_EQ(sender_.sent.size(), 10u);
}

TEST_F(PushServiceTest, TimersRunThroughRunSerialized) {
  int serialized_runs = 0;
  options_.run_serialized = [&](std::function<void()> fn) {
    ++serialized_runs;
    fn();
  };
  auto push = Make();
  Sub(*push, client_);
  sched_.AdvanceBy(seconds(10));  // Sweeps at 5 s and 10 s, the ack timer at 10 s.
  EXPECT_EQ(sender_.sent.size(), 2u);
  EXPECT_EQ(serialized_runs, 3);
}

TEST_F(PushServiceTest, DestructorCancelsItsTimers) {
  auto push = Make();
  Sub(*push, client_);
  push->ServiceChanged(kNs, kSvc);
  sched_.AdvanceBy(milliseconds(10));
  push->ServiceChanged(kNs, kSvc);  // Merged push pending.
  EXPECT_EQ(sched_.pending(), 3u);  // Sweep, ack timer, merged push.
  push.reset();
  EXPECT_EQ(sched_.pending(), 0u);
  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(sender_.sent.size(), 2u);
}

// With a real scheduler thread: timer bodies run under the owner's mutex, and destruction while the
// scheduler still runs is safe.
TEST(PushServiceThreadTest, TimersRunUnderTheOwnersLock) {
  registry::ThreadScheduler scheduler("push-test");
  std::mutex mu;
  std::promise<void> merged_push;
  bool fulfilled = false;
  class Sender : public UdpSender {
   public:
    explicit Sender(std::function<void()> fn) : fn_(std::move(fn)) {}
    void Send(const UdpEndpoint&, std::string_view) override { fn_(); }

   private:
    std::function<void()> fn_;
  };
  int sends = 0;
  Sender sender([&] {
    if (++sends == 2 && !fulfilled) {
      fulfilled = true;
      merged_push.set_value();
    }
  });
  // The merge window is judged on a clock that stands still, so the second change below is always
  // merged (on the real clock a slow machine could let the 1 ms window pass between the two calls
  // and push the change at once, on this thread); the timer still runs on the scheduler's thread.
  ManualScheduler frozen;
  PushServiceOptions options;
  options.scheduler = &scheduler;
  options.clock = frozen.clock();
  options.sender = &sender;
  options.push_on_subscribe = false;
  options.push_delay = milliseconds(1);
  options.data_provider = [](const std::string&, const std::string&, const std::string&,
                             PushStyle) { return std::make_shared<const std::string>("{}"); };
  bool held_in_task = false;
  options.run_serialized = [&](std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mu);
    held_in_task = true;
    fn();
  };
  auto created = PushService::Create(options);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<PushService> push = std::move(created).value();
  {
    std::lock_guard<std::mutex> lock(mu);
    ASSERT_TRUE(push->Subscribe(kNs, kSvc, "", UdpEndpoint{"127.0.0.1", 9}, "x").ok());
    push->ServiceChanged(kNs, kSvc);  // Immediate.
    push->ServiceChanged(kNs, kSvc);  // Merged: on the scheduler thread 1 ms later.
  }
  ASSERT_EQ(merged_push.get_future().wait_for(seconds(60)), std::future_status::ready);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_TRUE(held_in_task);
    EXPECT_EQ(sends, 2);
    EXPECT_EQ(push->stats().pushes_sent, 2u);
  }
  push.reset();  // Scheduler still running: the sweep and ack timers are cancelled.
  scheduler.Shutdown();
}

}  // namespace
}  // namespace dubbo::naming_server
