// Endpoint-level tests of NamingCore (test vectors taken from real Nacos answers, as
// TEST(…, TVn…) cases). No sockets: requests are built the way the HTTP shell builds them (query
// string, then form body, decoded with ParseFormEncoded) and handed to Handle(); datagrams go to a
// recording UdpSender; time is a ManualScheduler that moves only with AdvanceBy(). Nothing sleeps.
#include "naming_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "http_types.h"
#include "internal/utf8.h"
#include "login_throttle.h"
#include "push_service.h"

namespace dubbo::naming_server {
namespace {

using registry::ManualScheduler;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

constexpr char kJavaUa[] = "Nacos-Java-Client:v1.4.8";
constexpr char kPeer[] = "127.0.0.1";
constexpr uint16_t kUdpPort = 55963;

// Requests as real clients send them, verbatim.
constexpr char kTv1Register[] =
    "/nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo&groupName="
    "DEFAULT_GROUP&clusterName=DEFAULT&ip=10.0.0.5&port=8080&weight=1.0&enable=true&healthy=true&"
    "ephemeral=true&metadata=%7B%22version%22%3A%221.0%22%7D&app=unknown";
constexpr char kTv4Beat[] =
    "/nacos/v1/ns/instance/beat?namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo&"
    "clusterName=DEFAULT&ip=10.0.0.5&port=8080";
constexpr char kTv4BeatJson[] =
    R"({"port":8080,"ip":"10.0.0.5","weight":1.0,"serviceName":"DEFAULT_GROUP@@demo",)"
    R"("cluster":"DEFAULT","metadata":{"version":"1.0"},"scheduled":false,"period":5000,)"
    R"("stopped":false})";
constexpr char kTv6List[] =
    "/nacos/v1/ns/instance/list?namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo&clusters=&"
    "udpPort=55963&clientIP=10.0.0.9&healthyOnly=false&app=unknown";
constexpr char kTv6ListNoUdp[] =
    "/nacos/v1/ns/instance/list?namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo&clusters=&"
    "clientIP=10.0.0.9&healthyOnly=false&app=unknown";
constexpr char kTv10Deregister[] =
    "/nacos/v1/ns/instance?namespaceId=public&serviceName=DEFAULT_GROUP%40%40demo&clusterName="
    "DEFAULT&ip=10.0.0.5&port=8080&ephemeral=true";
constexpr char kTv11ServiceList[] =
    "/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=DEFAULT_GROUP&namespaceId=public";

// The TV6 1.4.x body (Java UA), with lastRefTime and checksum normalised (see Normalize()).
constexpr char kTv6Body[] =
    R"({"hosts":[{"ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,"marked":false,)"
    R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},)"
    R"("enabled":true,"weight":1.0,"clusterName":"DEFAULT","serviceName":"DEFAULT_GROUP@@demo",)"
    R"("ephemeral":true}],"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo",)"
    R"("cacheMillis":10000,"lastRefTime":<T>,"checksum":"<MD5>","useSpecifiedURL":false,)"
    R"("clusters":"","env":"","metadata":{}})";

struct Datagram {
  UdpEndpoint to;
  std::string bytes;
};

// Records every datagram. Thread-safe (the concurrency test reads while the core sends).
class RecordingSender : public UdpSender {
 public:
  void Send(const UdpEndpoint& to, std::string_view datagram) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent_.push_back(Datagram{to, std::string(datagram)});
  }
  std::vector<Datagram> sent() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.size();
  }
  Datagram at(size_t i) const {
    std::lock_guard<std::mutex> lock(mu_);
    return sent_.at(i);
  }

 private:
  mutable std::mutex mu_;
  std::vector<Datagram> sent_;
};

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

// The request the HTTP shell would build for `method target` with a form `body`.
HttpRequest MakeRequest(const std::string& method, std::string_view target,
                        std::string_view body = "", const std::string& user_agent = kJavaUa,
                        const std::string& peer_ip = kPeer) {
  HttpRequest request;
  request.method = method;
  const size_t q = target.find('?');
  request.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    EXPECT_TRUE(ParseFormEncoded(target.substr(q + 1), &request.params).ok()) << target;
  }
  EXPECT_TRUE(ParseFormEncoded(body, &request.params).ok()) << body;
  request.user_agent = user_agent;
  request.peer_ip = peer_ip;
  request.peer_port = 40000;
  return request;
}

// lastRefTime (epoch ms, 13 digits) -> <T>; checksum (32 lower-case hex) -> <MD5>. A value of
// another format stays, so the comparison that follows fails.
std::string Normalize(const std::string& body) {
  static const std::regex kRef("\"lastRefTime\":[0-9]{13}(?=[,}])");
  static const std::regex kSum("\"checksum\":\"[0-9a-f]{32}\"");
  return std::regex_replace(std::regex_replace(body, kRef, "\"lastRefTime\":<T>"), kSum,
                            "\"checksum\":\"<MD5>\"");
}

// Replaces the first `from` in `text` by `to`.
std::string ReplaceFirst(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from << " not in " << text;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::unique_ptr<rapidjson::Document> ParseJson(const std::string& text) {
  auto doc = std::make_unique<rapidjson::Document>();
  doc->Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc->HasParseError()) << text;
  EXPECT_TRUE(doc->IsObject()) << text;
  return doc;
}

int64_t IntField(const std::string& json, const char* name) {
  auto doc = ParseJson(json);
  if (!doc->IsObject() || !doc->HasMember(name) || !(*doc)[name].IsInt64()) {
    ADD_FAILURE() << "no integer " << name << " in " << json;
    return -1;
  }
  return (*doc)[name].GetInt64();
}

PushPacket Decode(const Datagram& datagram) {
  registry::Result<PushPacket> packet = ParsePushPacket(datagram.bytes);
  EXPECT_TRUE(packet.ok()) << packet.status();
  return packet.ok() ? *packet : PushPacket{};
}

// (ip, healthy) of each host in a list/push body, in order.
std::vector<std::pair<std::string, bool>> Hosts(const std::string& json) {
  std::vector<std::pair<std::string, bool>> hosts;
  auto doc = ParseJson(json);
  if (!doc->IsObject() || !doc->HasMember("hosts") || !(*doc)["hosts"].IsArray()) {
    ADD_FAILURE() << "no hosts in " << json;
    return hosts;
  }
  for (const auto& host : (*doc)["hosts"].GetArray()) {
    hosts.emplace_back(host["ip"].GetString(), host["healthy"].GetBool());
  }
  return hosts;
}

using HostList = std::vector<std::pair<std::string, bool>>;

// `response` with a shared body copied into `body`, for the assertions.
HttpResponse WithBodyCopied(HttpResponse response) {
  if (response.shared_body) response.body = *response.shared_body;
  return response;
}

#define EXPECT_RESPONSE(response_expr, status_code, text)                   \
  do {                                                                      \
    const HttpResponse& resp_ = (response_expr);                            \
    EXPECT_EQ(resp_.status, status_code) << resp_.body;                     \
    EXPECT_EQ(resp_.body, text);                                            \
  } while (0)

class NamingCoreTest : public ::testing::Test {
 protected:
  NamingCoreTest() { Start(NamingServerOptions()); }

  // (Re)creates the core with `options`.
  void Start(const NamingServerOptions& options) {
    core_.reset();
    core_ = std::make_unique<NamingCore>(options, &sched_, &sched_, &sender_);
  }

  HttpResponse Do(const std::string& method, std::string_view target, std::string_view body = "",
                  const std::string& user_agent = kJavaUa, const std::string& peer_ip = kPeer) {
    return WithBodyCopied(core_->Handle(MakeRequest(method, target, body, user_agent, peer_ip)));
  }
  HttpResponse Get(std::string_view target, const std::string& user_agent = kJavaUa) {
    return Do("GET", target, "", user_agent);
  }
  // POST /instance for `ip`:`port` in DEFAULT_GROUP@@demo (plus `extra` params).
  HttpResponse Register(const std::string& ip, int port, const std::string& extra = "") {
    return Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=" + ip +
                          "&port=" + std::to_string(port) + extra);
  }
  HttpResponse Detail(const std::string& ip, int port) {
    return Get("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=" + ip +
               "&port=" + std::to_string(port));
  }
  HttpResponse LightBeat(const std::string& ip, int port) {
    return Do("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&ip=" + ip +
                         "&port=" + std::to_string(port));
  }
  void Ack(const Datagram& datagram) {
    core_->OnDatagram(datagram.to, BuildPushAck(Decode(datagram).last_ref_time));
  }
  int64_t PushSucceeded() {
    return IntField(Get("/nacos/v1/ns/operator/push/state").body, "succeed");
  }

  ManualScheduler sched_;
  RecordingSender sender_;
  std::unique_ptr<NamingCore> core_;  // Last: destroyed before the scheduler and the sender.
};

// ------------------------------------------------------------------------------------------------
// Test vectors: real Nacos requests and answers.

TEST_F(NamingCoreTest, TV1RegisterThenDetail) {
  EXPECT_RESPONSE(Do("POST", kTv1Register), 200, "ok");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&"
                      "port=8080"),
                  200,
                  R"({"service":"DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
                  R"("clusterName":"DEFAULT","weight":1.0,"healthy":true,)"
                  R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo",)"
                  R"("metadata":{"version":"1.0"}})");
  EXPECT_EQ(core_->stats().instances, 1u);
  EXPECT_EQ(core_->stats().services, 1u);
}

TEST_F(NamingCoreTest, TV1LegacyEnableParamIsHonoured) {
  // `enable` (the 1.4.8 Java client's name) is read when `enabled` is absent: enable=false makes a
  // disabled instance, which the list leaves out.
  EXPECT_RESPONSE(Register("10.0.0.5", 8080), 200, "ok");
  EXPECT_RESPONSE(Register("10.0.0.6", 8080, "&enable=false"), 200, "ok");
  EXPECT_EQ(Hosts(Get(kTv6ListNoUdp).body), (HostList{{"10.0.0.5", true}}));
  // `enabled` wins over `enable`.
  EXPECT_RESPONSE(Register("10.0.0.6", 8080, "&enabled=true&enable=false"), 200, "ok");
  EXPECT_EQ(Hosts(Get(kTv6ListNoUdp).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));
}

TEST_F(NamingCoreTest, TV1DetailNotFoundMessages) {
  EXPECT_RESPONSE(Detail("10.0.0.5", 8080), 404, "no service DEFAULT_GROUP@@demo found!");
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  EXPECT_RESPONSE(Detail("10.0.0.5", 9999), 404, "no matched ip found!");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&"
                      "port=8080&clusterName=OTHER"),
                  404, "no ips found for cluster OTHER in service DEFAULT_GROUP@@demo");
}

TEST_F(NamingCoreTest, TV2BareNamePlusGroupIsStoredGrouped) {
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=orders&groupName=G1&ip=10.0.0.6&"
                             "port=9000"),
                  200, "ok");
  const std::string body = Get("/nacos/v1/ns/instance/list?serviceName=G1%40%40orders").body;
  EXPECT_THAT(body, HasSubstr(R"("instanceId":"10.0.0.6#9000#DEFAULT#G1@@orders")"));
  EXPECT_THAT(body, HasSubstr(R"("name":"G1@@orders")"));
  EXPECT_EQ(Hosts(body), (HostList{{"10.0.0.6", true}}));
  // The bare name + group finds it too; the bare name alone means DEFAULT_GROUP, which is unknown.
  EXPECT_EQ(Get("/nacos/v1/ns/instance/list?serviceName=orders&groupName=G1").body, body);
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance/list?serviceName=orders"), 200,
                  R"({"name":"DEFAULT_GROUP@@orders","clusters":"","cacheMillis":3000,"hosts":[]})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=1&pageSize=10&groupName=G1"), 200,
                  R"({"doms":["orders"],"count":1})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance?serviceName=G1%40%40orders&ip=10.0.0.6&port=9000"),
                  200,
                  R"({"service":"G1@@orders","ip":"10.0.0.6","port":9000,"clusterName":"DEFAULT",)"
                  R"("weight":1.0,"healthy":true,"instanceId":"10.0.0.6#9000#DEFAULT#G1@@orders",)"
                  R"("metadata":{}})");
}

TEST_F(NamingCoreTest, TV3ValidationErrors) {
  const std::string base = "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&"
                           "port=8080";
  EXPECT_RESPONSE(Do("POST", base + "&weight=10001"), 400,
                  "instance format invalid: The weights range from 0.0 to 10000.0");
  EXPECT_RESPONSE(Do("POST", base + "&weight=-1"), 400,
                  "instance format invalid: The weights range from 0.0 to 10000.0");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=%40%40demo&ip=10.0.0.5&port=8080"),
                  400, "Param 'serviceName' is illegal, groupName can't be empty");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=grp%40%40&ip=10.0.0.5&port=8080"),
                  400,
                  "Param 'serviceName' is illegal, it should be format as "
                  "'groupName@@serviceName'");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&port=8080"),
                  400, "Param 'ip' is required.");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?ip=10.0.0.5&port=8080"), 400,
                  "Param 'serviceName' is required.");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                             "ip=10.0.0.5"),
                  400, "Param 'port' is required.");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0&"
                             "port=8080"),
                  400, "instance format invalid: Your IP address is spelled incorrectly");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40bad%20name&"
                             "ip=10.0.0.5&port=8080"),
                  400,
                  "dom name can only have these characters: 0-9a-zA-Z-._:, current: "
                  "DEFAULT_GROUP@@bad name");
  EXPECT_EQ(core_->stats().services, 0u);

  EXPECT_RESPONSE(Do("POST", base + "&clusterName=c_1"), 400,
                  "cluster name can only have these characters: 0-9a-zA-Z-, current: c_1");
  // Unlike Nacos, which has created the empty service by then, a refused request creates nothing.
  EXPECT_RESPONSE(Get(kTv11ServiceList), 200, R"({"doms":[],"count":0})");
  EXPECT_EQ(core_->stats().instances, 0u);
  // Every error above is plain text.
  EXPECT_EQ(Do("POST", base + "&weight=10001").content_type, "text/plain;charset=UTF-8");
}

// With several errors in one register, the one Nacos 1.4.x reports: InstanceController checks
// serviceName (required, format), then ip, port (required, parsed), weight (parsed), metadata
// (parsed), and only then Instance.validate() (ip format, weight range).
TEST_F(NamingCoreTest, TV3ValidationOrderFollowsNacos) {
  const std::string svc = "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo";
  for (const std::string& method : {std::string("POST"), std::string("PUT")}) {
    SCOPED_TRACE(method);
    EXPECT_RESPONSE(Do(method, "/nacos/v1/ns/instance?ip=10.0.0.5&port=abc&metadata=bad"), 400,
                    "Param 'serviceName' is required.");
    EXPECT_RESPONSE(Do(method, "/nacos/v1/ns/instance?serviceName=%40%40demo&ip=10.0.0.5&port=abc"),
                    400, "Param 'serviceName' is illegal, groupName can't be empty");
    EXPECT_RESPONSE(Do(method, "/nacos/v1/ns/instance?serviceName=%40%40demo&ip=10.0.0.5"), 400,
                    "Param 'serviceName' is illegal, groupName can't be empty");
    EXPECT_RESPONSE(Do(method, svc + "&port=8080&weight=heavy&metadata=bad"), 400,
                    "Param 'ip' is required.");
    EXPECT_RESPONSE(Do(method, svc + "&ip=10.0.0.5&port=abc&weight=heavy"), 400,
                    R"(For input string: "abc")");
    EXPECT_RESPONSE(Do(method, svc + "&ip=10.0.0.5&port=8080&weight=heavy&metadata=bad"), 400,
                    R"(For input string: "heavy")");
    EXPECT_RESPONSE(Do(method, svc + "&ip=10.0&port=8080&weight=10001&metadata=bad"), 400,
                    "metadata format incorrect:bad");
    EXPECT_RESPONSE(Do(method, svc + "&ip=10.0&port=8080&weight=10001"), 400,
                    "instance format invalid: Your IP address is spelled incorrectly");
  }
  EXPECT_EQ(core_->stats().services, 0u);
}

TEST_F(NamingCoreTest, TV4FullBeatRecreatesExpiredInstance) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  // No beat: the core's own health check (every 5 s) deletes it once > 30 s have passed.
  sched_.AdvanceBy(seconds(35));
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_RESPONSE(Detail("10.0.0.5", 8080), 404,
                  "no ips found for cluster DEFAULT in service DEFAULT_GROUP@@demo");

  const std::string body = "beat=" + UrlEncode(kTv4BeatJson);
  const HttpResponse beat = Do("PUT", kTv4Beat, body);
  EXPECT_RESPONSE(beat, 200, R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");
  EXPECT_EQ(beat.content_type, "application/json;charset=UTF-8");
  EXPECT_RESPONSE(Detail("10.0.0.5", 8080), 200,
                  R"({"service":"DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
                  R"("clusterName":"DEFAULT","weight":1.0,"healthy":true,)"
                  R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo",)"
                  R"("metadata":{"version":"1.0"}})");
  // From now on a light beat finds it.
  EXPECT_RESPONSE(LightBeat("10.0.0.5", 8080), 200,
                  R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");
}

TEST_F(NamingCoreTest, TV4FullBeatRecreatesAfterTheServiceWasRemoved) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  sched_.AdvanceBy(seconds(100));  // Deleted at 35 s; the empty service goes after 60 s more.
  EXPECT_EQ(core_->stats().services, 0u);
  EXPECT_RESPONSE(Do("PUT", kTv4Beat, "beat=" + UrlEncode(kTv4BeatJson)), 200,
                  R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");
  EXPECT_EQ(core_->stats().services, 1u);
  EXPECT_EQ(core_->stats().instances, 1u);
  EXPECT_EQ(Normalize(Get(kTv6ListNoUdp).body),
            ReplaceFirst(kTv6Body, "\"cacheMillis\":10000", "\"cacheMillis\":3000"));
}

TEST_F(NamingCoreTest, TV4BeatRevivesAnUnhealthyInstance) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  sched_.AdvanceBy(seconds(20));
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
  EXPECT_RESPONSE(LightBeat("10.0.0.5", 8080), 200,
                  R"({"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true})");
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":true)"));
}

TEST_F(NamingCoreTest, TV5LightBeatForUnknownInstance) {
  constexpr char kTv5[] =
      "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&ip=10.9.9.9&port=1";
  EXPECT_RESPONSE(Do("PUT", kTv5), 200, R"({"clientBeatInterval":5000,"code":20404})");
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);  // Known service, still unknown instance.
  EXPECT_RESPONSE(Do("PUT", kTv5), 200, R"({"clientBeatInterval":5000,"code":20404})");
  EXPECT_EQ(core_->stats().instances, 1u);  // A light beat never creates anything.
}

TEST_F(NamingCoreTest, TV6ListWithPushSubscription) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  const HttpResponse with_udp = Get(kTv6List);
  EXPECT_EQ(with_udp.status, 200);
  EXPECT_EQ(with_udp.content_type, "application/json;charset=UTF-8");
  EXPECT_EQ(Normalize(with_udp.body), kTv6Body) << with_udp.body;
  // lastRefTime is an epoch-ms revision on the injected clock.
  const int64_t last_ref = IntField(with_udp.body, "lastRefTime");
  EXPECT_GE(last_ref, 1'700'000'000'000);
  EXPECT_LE(last_ref, sched_.WallMillis() + 10);
  EXPECT_EQ(core_->stats().subscribers, 1u);

  // Same query without udpPort: identical except cacheMillis 3000.
  const HttpResponse without_udp = Get(kTv6ListNoUdp);
  EXPECT_EQ(without_udp.body,
            ReplaceFirst(with_udp.body, "\"cacheMillis\":10000", "\"cacheMillis\":3000"));

  // A refresh of the subscription answers 10000 again.
  EXPECT_EQ(Get(kTv6List).body, with_udp.body);
  EXPECT_EQ(core_->stats().subscribers, 1u);
}

TEST_F(NamingCoreTest, TV6ListWithoutJavaAgentUsesUngroupedNames) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  const std::string expected =
      R"({"hosts":[{"ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,"marked":false,)"
      R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},)"
      R"("enabled":true,"weight":1.0,"clusterName":"DEFAULT","serviceName":"demo",)"
      R"("ephemeral":true}],"dom":"demo","name":"DEFAULT_GROUP@@demo",)"
      R"("cacheMillis":3000,"lastRefTime":<T>,"checksum":"<MD5>","useSpecifiedURL":false,)"
      R"("clusters":"","env":"","metadata":{}})";
  EXPECT_EQ(Normalize(Get(kTv6ListNoUdp, "").body), expected);
  // Java clients older than 1.0.0 get the ungrouped names too.
  EXPECT_EQ(Normalize(Get(kTv6ListNoUdp, "Nacos-Java-Client:v0.9.0").body), expected);
}

TEST_F(NamingCoreTest, TV6ListOfKnownServiceWithoutInstancesInCluster) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  EXPECT_EQ(Normalize(Get("/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&"
                          "clusters=OTHER&env=prod")
                          .body),
            R"({"dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo","cacheMillis":3000,)"
            R"("lastRefTime":<T>,"checksum":"<MD5>","useSpecifiedURL":false,"clusters":"OTHER",)"
            R"("env":"prod","hosts":[],"metadata":{}})");
}

TEST_F(NamingCoreTest, TV7ListOfUnknownService) {
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40nope"), 200,
                  R"({"name":"DEFAULT_GROUP@@nope","clusters":"","cacheMillis":3000,"hosts":[]})");
}

TEST_F(NamingCoreTest, TV8ProtectionThresholdReportsAllHealthy) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  sched_.AdvanceBy(seconds(15) + milliseconds(1));
  core_->CheckHealth();  // > 15 s without a beat.
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));

  const std::string healthy_only =
      "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&healthyOnly=true";
  const std::string body = Get(healthy_only).body;
  EXPECT_THAT(body, HasSubstr(R"("ip":"10.0.0.5","port":8080,"valid":true,"healthy":true,)"));
  EXPECT_EQ(Hosts(body), (HostList{{"10.0.0.5", true}}));

  // With one healthy instance the unhealthy one shows as such, or goes with healthyOnly.
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  const std::string all = Get(kTv6ListNoUdp).body;
  EXPECT_THAT(all, HasSubstr(R"("ip":"10.0.0.5","port":8080,"valid":false,"healthy":false,)"));
  EXPECT_EQ(Hosts(all), (HostList{{"10.0.0.7", true}, {"10.0.0.5", false}}));
  EXPECT_EQ(Hosts(Get(healthy_only).body), (HostList{{"10.0.0.7", true}}));
}

TEST_F(NamingCoreTest, TV9PushOnChangeAndAck) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);  // From 127.0.0.1; clientIP=10.0.0.9 is not trusted.
  // A new subscriber is pushed the current data at once (one host).
  ASSERT_EQ(sender_.count(), 1u);
  const UdpEndpoint client{kPeer, kUdpPort};
  EXPECT_EQ(sender_.at(0).to, client);
  EXPECT_EQ(Hosts(Decode(sender_.at(0)).data), (HostList{{"10.0.0.5", true}}));

  // A registration is pushed in the same call: no AdvanceBy().
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  const Datagram push = sender_.at(1);
  EXPECT_EQ(push.to, client);
  const PushPacket packet = Decode(push);
  EXPECT_EQ(packet.type, "dom");
  EXPECT_GT(packet.last_ref_time, Decode(sender_.at(0)).last_ref_time);
  EXPECT_EQ(Hosts(packet.data), (HostList{{"10.0.0.5", true}, {"10.0.0.7", true}}));
  EXPECT_THAT(packet.data, HasSubstr(R"("dom":"DEFAULT_GROUP@@demo","name":"DEFAULT_GROUP@@demo",)"
                                     R"("cacheMillis":10000,)"));
  // The data is what the list returns, but for cacheMillis.
  EXPECT_EQ(ReplaceFirst(packet.data, "\"cacheMillis\":10000", "\"cacheMillis\":3000"),
            Get(kTv6ListNoUdp).body);

  // Acks from anywhere but the subscriber's endpoint match nothing.
  core_->OnDatagram(UdpEndpoint{"10.0.0.9", kUdpPort}, BuildPushAck(packet.last_ref_time));
  core_->OnDatagram(UdpEndpoint{kPeer, kUdpPort + 1}, BuildPushAck(packet.last_ref_time));
  EXPECT_EQ(PushSucceeded(), 0);
  core_->OnDatagram(client, BuildPushAck(packet.last_ref_time));
  EXPECT_GE(PushSucceeded(), 1);
  EXPECT_EQ(core_->stats().acks, 1u);
  const std::string state = Get("/nacos/v1/ns/operator/push/state").body;
  EXPECT_THAT(state, HasSubstr(R"("succeed":1,"total":2,)"));

  // Acked: nothing is resent (the 10.0.0.x instances stay healthy until 20 s).
  sched_.AdvanceBy(seconds(15));
  EXPECT_EQ(sender_.count(), 2u);
}

TEST_F(NamingCoreTest, TV9UnackedPushIsResentOnceAfterTenSeconds) {
  NamingServerOptions options;
  options.heartbeat_timeout_ms = 600000;  // No health flips (and pushes) in this test.
  options.ip_delete_timeout_ms = 1200000;
  Start(options);
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  const Datagram push = sender_.at(1);  // Supersedes the subscribe push: only it is resent.

  sched_.AdvanceBy(seconds(10) - milliseconds(1));
  EXPECT_EQ(sender_.count(), 2u);
  sched_.AdvanceBy(milliseconds(1));
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(sender_.at(2).to, push.to);
  EXPECT_EQ(sender_.at(2).bytes, push.bytes);  // The identical packet.

  sched_.AdvanceBy(seconds(60));
  EXPECT_EQ(sender_.count(), 3u);  // Not again.
  EXPECT_EQ(PushSucceeded(), 0);
  EXPECT_THAT(Get("/nacos/v1/ns/operator/push/state").body, HasSubstr(R"("total":2,)"));
  // A late ack matches nothing.
  core_->OnDatagram(push.to, BuildPushAck(Decode(push).last_ref_time));
  EXPECT_EQ(PushSucceeded(), 0);
}

TEST_F(NamingCoreTest, TV10DeregisterIsOkTwice) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  // The kind must match: a persistent deregister leaves the ephemeral instance.
  EXPECT_RESPONSE(Do("DELETE", ReplaceFirst(kTv10Deregister, "ephemeral=true", "ephemeral=false")),
                  200, "ok");
  EXPECT_EQ(core_->stats().instances, 1u);
  EXPECT_RESPONSE(Do("DELETE", kTv10Deregister), 200, "ok");
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_RESPONSE(Do("DELETE", kTv10Deregister), 200, "ok");
  EXPECT_RESPONSE(Do("DELETE", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40nope&"
                               "ip=10.0.0.5&port=8080"),
                  200, "ok");
  EXPECT_THAT(Get(kTv6ListNoUdp).body, HasSubstr(R"("hosts":[])"));
}

TEST_F(NamingCoreTest, TV11ServiceList) {
  EXPECT_RESPONSE(Get(kTv11ServiceList), 200, R"({"doms":[],"count":0})");
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  EXPECT_RESPONSE(Get(kTv11ServiceList), 200, R"({"doms":["demo"],"count":1})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageSize=10&groupName=DEFAULT_GROUP"), 400,
                  "Param 'pageNo' is required.");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=1"), 400, "Param 'pageSize' is required.");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=2&pageSize=10"), 200,
                  R"({"doms":[],"count":1})");
  ASSERT_EQ(Do("POST", "/nacos/v1/ns/instance?serviceName=alpha&ip=10.0.0.8&port=1").status, 200);
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=1&pageSize=1"), 200,
                  R"({"doms":["alpha"],"count":2})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=2&pageSize=1"), 200,
                  R"({"doms":["demo"],"count":2})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=3&pageSize=1"), 200,
                  R"({"doms":[],"count":2})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=1&pageSize=10&namespaceId=other"), 200,
                  R"({"doms":[],"count":0})");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service/list?pageNo=x&pageSize=10"), 400,
                  R"(For input string: "x")");
}

class NamingCoreAuthTest : public NamingCoreTest {
 protected:
  void SetUp() override {
    NamingServerOptions options;
    options.auth_enabled = true;
    options.token_ttl_seconds = 100;
    Start(options);
  }
  // Logs in (username in the query, password in the form body, like the Java client).
  std::string Login() {
    const HttpResponse login =
        Do("POST", "/nacos/v1/auth/users/login?username=nacos", "password=nacos");
    EXPECT_EQ(login.status, 200) << login.body;
    std::smatch match;
    static const std::regex kBody(
        R"re(\{"accessToken":"([0-9A-Za-z._-]+)","tokenTtl":100,"globalAdmin":true,)re"
        R"re("username":"nacos"\})re");
    if (!std::regex_match(login.body, match, kBody)) {
      ADD_FAILURE() << login.body;
      return "";
    }
    return match[1];
  }
  HttpResponse WithBearer(const std::string& target, const std::string& token) {
    HttpRequest request = MakeRequest("GET", target);
    request.authorization = "Bearer " + token;
    return WithBodyCopied(core_->Handle(request));
  }
};

TEST_F(NamingCoreAuthTest, TV12LoginAndTokens) {
  const std::string token = Login();
  ASSERT_FALSE(token.empty());
  EXPECT_RESPONSE(Do("POST", std::string(kTv1Register) + "&accessToken=" + token), 200, "ok");
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&accessToken=" + token).status, 200);
  EXPECT_THAT(WithBearer(kTv6ListNoUdp, token).body, HasSubstr(R"("ip":"10.0.0.5")"));
  EXPECT_EQ(WithBearer(kTv6ListNoUdp, token).status, 200);

  // No token, a wrong one, or wrong credentials: 403.
  EXPECT_EQ(Get(kTv6ListNoUdp).status, 403);
  EXPECT_EQ(Do("POST", kTv1Register).status, 403);
  EXPECT_RESPONSE(Get(std::string(kTv6ListNoUdp) + "&accessToken=forged"), 403, "token invalid!");
  EXPECT_EQ(WithBearer(kTv6ListNoUdp, "forged").status, 403);
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/auth/users/login?username=nacos", "password=wrong"), 403,
                  "unknown user!");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/auth/users/login?username=root", "password=nacos"), 403,
                  "unknown user!");
  EXPECT_EQ(Do("POST", "/nacos/v1/auth/login?username=nacos&password=nacos").status, 200);

  // Username and password parameters count as credentials (the Node SDK's way).
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&username=nacos&password=nacos").status, 200);
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&username=nacos&password=wrong").status, 403);

  // Health probes need no token.
  EXPECT_RESPONSE(Get("/nacos/v1/console/health/liveness"), 200, "OK");
}

TEST_F(NamingCoreAuthTest, TV12TokenExpiresAfterTtlOnTheInjectedClock) {
  const std::string token = Login();
  ASSERT_FALSE(token.empty());
  const std::string with_token = std::string(kTv6ListNoUdp) + "&accessToken=" + token;
  sched_.AdvanceBy(seconds(100) - milliseconds(1));
  EXPECT_EQ(Get(with_token).status, 200);
  EXPECT_EQ(WithBearer(kTv6ListNoUdp, token).status, 200);
  sched_.AdvanceBy(milliseconds(1));
  EXPECT_RESPONSE(Get(with_token), 403, "token expired!");
  EXPECT_EQ(WithBearer(kTv6ListNoUdp, token).status, 403);
  // A new login works again.
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&accessToken=" + Login()).status, 200);
}

TEST_F(NamingCoreAuthTest, TokensAreCappedAndALoginBeyondTheCapDropsTheSoonestToExpire) {
  NamingServerOptions options;
  options.auth_enabled = true;
  options.token_ttl_seconds = 100;
  options.max_tokens = 3;
  Start(options);
  const auto status_with = [this](const std::string& token) {
    return Get(std::string(kTv6ListNoUdp) + "&accessToken=" + token);
  };
  std::vector<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    tokens.push_back(Login());
    sched_.AdvanceBy(seconds(1));
  }
  // Issued at 0, 1, 2, 3 and 4 s: the two that expire soonest made room for the last two.
  EXPECT_RESPONSE(status_with(tokens[0]), 403, "token invalid!");
  EXPECT_RESPONSE(status_with(tokens[1]), 403, "token invalid!");
  for (int i = 2; i < 5; ++i) EXPECT_EQ(status_with(tokens[i]).status, 200) << i;

  // At 102 s the token of 2 s has expired: a login drops it, and no live one.
  sched_.AdvanceBy(seconds(97));
  const std::string fresh = Login();
  EXPECT_RESPONSE(status_with(tokens[2]), 403, "token invalid!");
  for (const std::string& live : {tokens[3], tokens[4], fresh}) {
    EXPECT_EQ(status_with(live).status, 200);
  }

  // Expired tokens are dropped at a login even when the table is not full.
  sched_.AdvanceBy(seconds(1));  // 103 s: the token of 3 s has expired.
  EXPECT_RESPONSE(status_with(tokens[3]), 403, "token expired!");  // ... and is dropped.
  sched_.AdvanceBy(seconds(1));  // 104 s: the token of 4 s too; two of three places are taken.
  const std::string last = Login();
  EXPECT_RESPONSE(status_with(tokens[4]), 403, "token invalid!");
  EXPECT_EQ(status_with(fresh).status, 200);
  EXPECT_EQ(status_with(last).status, 200);
}

TEST_F(NamingCoreTest, TV12HugeTokenTtlMeansNoExpiryNotOverflow) {
  // NamingServer::Start() accepts any positive TTL; "practically never" must not overflow the
  // nanosecond clock (which would make the token expired at once, and is undefined behaviour).
  NamingServerOptions options;
  options.auth_enabled = true;
  options.token_ttl_seconds = int64_t{1} << 40;  // ~35000 years.
  Start(options);
  const HttpResponse login = Do("POST", "/nacos/v1/auth/users/login?username=nacos&password=nacos");
  ASSERT_EQ(login.status, 200) << login.body;
  EXPECT_THAT(login.body, HasSubstr(R"("tokenTtl":1099511627776,)"));
  auto doc = ParseJson(login.body);
  ASSERT_TRUE(doc->IsObject() && (*doc)["accessToken"].IsString());
  const std::string token = (*doc)["accessToken"].GetString();
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&accessToken=" + token).status, 200);
  sched_.AdvanceBy(std::chrono::hours(24));
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&accessToken=" + token).status, 200);
}

TEST_F(NamingCoreTest, TV12AuthDisabledIgnoresTokens) {
  EXPECT_EQ(Get(kTv6ListNoUdp).status, 200);
  EXPECT_EQ(Get(std::string(kTv6ListNoUdp) + "&accessToken=forged").status, 200);
  const HttpResponse login =
      Do("POST", "/nacos/v1/auth/users/login?username=nacos", "password=nacos");
  EXPECT_EQ(login.status, 200);
  EXPECT_THAT(login.body, HasSubstr(R"("tokenTtl":18000,"globalAdmin":true,"username":"nacos"})"));
}

// ------------------------------------------------------------------------------------------------
// Failed credential checks: the per-address back-off.

class NamingCoreLoginThrottleTest : public NamingCoreTest {
 protected:
  static constexpr char kPassword[] = "s3cret-pw";
  static constexpr char kOther[] = "192.0.2.7";

  void SetUp() override { Start(AuthOptions()); }
  static NamingServerOptions AuthOptions() {
    NamingServerOptions options;
    options.auth_enabled = true;
    options.password = kPassword;
    return options;
  }
  HttpResponse LoginFrom(const std::string& peer, const std::string& password,
                         const std::string& user = "nacos") {
    return Do("POST", "/nacos/v1/auth/users/login?username=" + user,
              "password=" + UrlEncode(password), kJavaUa, peer);
  }
  // A list call that presents username and password parameters instead of a token.
  HttpResponse ListWithCredentials(const std::string& peer, const std::string& password) {
    return Do("GET", std::string(kTv6ListNoUdp) + "&username=nacos&password=" + UrlEncode(password),
              "", kJavaUa, peer);
  }
  uint64_t Rejected(RejectReason reason) const { return core_->metrics().Rejected(reason); }
  static std::string RetryAfter(int after_seconds) {
    return "too many failed logins from this address; retry after " +
           std::to_string(after_seconds) + " s";
  }
};

TEST_F(NamingCoreLoginThrottleTest, TheSixthFailureFromOneAddressIs429AndOtherAddressesAreNot) {
  for (int i = 0; i < 5; ++i) {
    // A wrong user name counts as much as a wrong password.
    EXPECT_RESPONSE(i % 2 == 0 ? LoginFrom(kPeer, "wrong") : LoginFrom(kPeer, kPassword, "root"),
                    403, "unknown user!");
  }
  EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 429, RetryAfter(1));
  // Locked out: the right password is not looked at either.
  EXPECT_RESPONSE(LoginFrom(kPeer, kPassword), 429, RetryAfter(1));

  EXPECT_RESPONSE(LoginFrom(kOther, "wrong"), 403, "unknown user!");
  EXPECT_EQ(LoginFrom(kOther, kPassword).status, 200);

  EXPECT_EQ(Rejected(RejectReason::kLoginFailed), 6u);
  EXPECT_EQ(Rejected(RejectReason::kLoginThrottled), 2u);
}

TEST_F(NamingCoreLoginThrottleTest, TheLockOutDoublesPerFurtherFailureUpToTheCapAndEndsOnTheClock) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(LoginFrom(kPeer, "wrong").status, 403);
  for (int lockout : {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300}) {
    EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 429, RetryAfter(lockout));
    sched_.AdvanceBy(seconds(lockout) - milliseconds(1));
    SCOPED_TRACE(lockout);
    EXPECT_RESPONSE(LoginFrom(kPeer, kPassword), 429, RetryAfter(1));
    sched_.AdvanceBy(milliseconds(1));
    // The lock-out is over: the password is checked again, and this failure doubles it.
    EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 403, "unknown user!");
  }
  sched_.AdvanceBy(seconds(300));
  EXPECT_EQ(LoginFrom(kPeer, kPassword).status, 200);
}

TEST_F(NamingCoreLoginThrottleTest, ASuccessResetsTheAddress) {
  for (int i = 0; i < 4; ++i) ASSERT_EQ(LoginFrom(kPeer, "wrong").status, 403);
  ASSERT_EQ(LoginFrom(kPeer, kPassword).status, 200);
  // Five free failures again; without the reset the first of them would start the lock-out.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(LoginFrom(kPeer, "wrong").status, 403) << i;
  EXPECT_RESPONSE(LoginFrom(kPeer, kPassword), 429, RetryAfter(1));

  // After a lock-out ends, a success resets the doubling as well.
  sched_.AdvanceBy(seconds(1));
  ASSERT_EQ(LoginFrom(kPeer, kPassword).status, 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(LoginFrom(kPeer, "wrong").status, 403) << i;
  EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 429, RetryAfter(1));
}

TEST_F(NamingCoreLoginThrottleTest, CredentialParametersOnAnyCallAreThrottledWithTheLogin) {
  const HttpResponse login = LoginFrom(kPeer, kPassword);
  ASSERT_EQ(login.status, 200);
  auto doc = ParseJson(login.body);
  const std::string token = (*doc)["accessToken"].GetString();

  EXPECT_EQ(ListWithCredentials(kPeer, kPassword).status, 200);
  for (int i = 0; i < 5; ++i) {
    EXPECT_RESPONSE(ListWithCredentials(kPeer, "wrong"), 403, "user not found!");
  }
  EXPECT_RESPONSE(ListWithCredentials(kPeer, "wrong"), 429, RetryAfter(1));
  EXPECT_RESPONSE(ListWithCredentials(kPeer, kPassword), 429, RetryAfter(1));
  EXPECT_RESPONSE(LoginFrom(kPeer, kPassword), 429, RetryAfter(1));  // One count per address.
  // A token is not a credential check: it still works from the locked-out address.
  EXPECT_EQ(Do("GET", std::string(kTv6ListNoUdp) + "&accessToken=" + token).status, 200);

  // Calls without any credentials are denied but guess nothing, so they do not count.
  for (int i = 0; i < 10; ++i) {
    EXPECT_RESPONSE(Do("GET", kTv6ListNoUdp, "", kJavaUa, kOther), 403, "user not found!");
  }
  EXPECT_RESPONSE(
      Do("GET", std::string(kTv6ListNoUdp) + "&accessToken=forged", "", kJavaUa, kOther), 403,
      "token invalid!");
  EXPECT_EQ(ListWithCredentials(kOther, kPassword).status, 200);

  EXPECT_EQ(Rejected(RejectReason::kLoginFailed), 5u);
  EXPECT_EQ(Rejected(RejectReason::kLoginThrottled), 3u);
  EXPECT_EQ(Rejected(RejectReason::kAuthDenied), 11u);
}

TEST_F(NamingCoreLoginThrottleTest, IPv6CountsPerSlash64AndMappedIPv4AsIPv4) {
  for (int i = 1; i <= 5; ++i) {
    ASSERT_EQ(LoginFrom("2001:db8:0:7::" + std::to_string(i), "wrong").status, 403);
  }
  EXPECT_EQ(LoginFrom("2001:db8:0:7:ffff:1:2:3", kPassword).status, 429);
  EXPECT_EQ(LoginFrom("2001:db8:0:8::1", kPassword).status, 200);

  for (int i = 0; i < 5; ++i) ASSERT_EQ(LoginFrom("::ffff:192.0.2.1", "wrong").status, 403);
  EXPECT_EQ(LoginFrom("192.0.2.1", kPassword).status, 429);
}

TEST_F(NamingCoreLoginThrottleTest, AFullTableRefusesNewAddressesAndKeepsEveryLockOut) {
  NamingServerOptions options = AuthOptions();
  options.login_throttle_max_addresses = 3;
  Start(options);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(LoginFrom(kPeer, "wrong").status, 403);
  EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 429, RetryAfter(1));
  // A spray fills the table; it drops nothing to make room.
  ASSERT_EQ(LoginFrom("192.0.2.8", "wrong").status, 403);
  ASSERT_EQ(LoginFrom("192.0.2.9", "wrong").status, 403);
  const std::string table_full =
      "too many failed logins from many addresses; retry after 300 s";  // 192.0.2.8 forgotten.
  EXPECT_RESPONSE(LoginFrom("192.0.2.10", "wrong"), 429, table_full);
  EXPECT_RESPONSE(LoginFrom("192.0.2.11", kPassword), 429, table_full);  // Not compared.
  EXPECT_EQ(Rejected(RejectReason::kLoginThrottled), 3u);

  // kPeer's back-off survived the spray: after its lock-out the next failure doubles it.
  sched_.AdvanceBy(seconds(1));
  EXPECT_RESPONSE(LoginFrom(kPeer, "wrong"), 403, "unknown user!");
  EXPECT_RESPONSE(LoginFrom(kPeer, kPassword), 429, RetryAfter(2));

  // Addresses in the table are served as usual; a success frees its slot for a new address.
  EXPECT_EQ(LoginFrom("192.0.2.9", kPassword).status, 200);
  EXPECT_EQ(LoginFrom("192.0.2.11", kPassword).status, 200);

  // Once the spray stops, its addresses are forgotten and new addresses log in again.
  ASSERT_EQ(LoginFrom("192.0.2.12", "wrong").status, 403);
  EXPECT_EQ(LoginFrom("192.0.2.13", kPassword).status, 429);
  sched_.AdvanceBy(seconds(300));
  EXPECT_EQ(LoginFrom("192.0.2.13", kPassword).status, 200);
  EXPECT_RESPONSE(LoginFrom("192.0.2.12", "wrong"), 403, "unknown user!");
}

TEST(LoginThrottleTest, ASprayOfManyAddressesNeitherGrowsTheTableNorFlushesALockOut) {
  ManualScheduler clock;
  LoginThrottleOptions options;  // 10,000 addresses, 5 free failures, 1 s first, 5 min cap.
  LoginThrottle throttle(options, &clock);
  const auto address = [](int i) {
    return "10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) + "." +
           std::to_string(i & 255);
  };
  for (int i = 0; i < 4; ++i) throttle.Failed("192.0.2.1");
  ASSERT_EQ(throttle.Failed("192.0.2.1"), seconds(1));

  // 50,000 addresses, five failures each (what would lock each out).
  for (int i = 0; i < 50000; ++i) {
    for (int k = 0; k < 5; ++k) throttle.Failed(address(i));
    ASSERT_LE(throttle.size(), options.max_addresses);
  }
  EXPECT_EQ(throttle.size(), options.max_addresses);
  EXPECT_EQ(throttle.LockedFor("192.0.2.1").remaining, seconds(1));
  EXPECT_FALSE(throttle.LockedFor("192.0.2.1").table_full);
  // The first 9,999 of the spray are remembered and locked out; the rest are refused unseen,
  // until the first remembered address is forgotten (1 s lock-out + 5 min).
  EXPECT_EQ(throttle.LockedFor(address(9998)).remaining, seconds(1));
  const LoginThrottle::Lockout unseen = throttle.LockedFor(address(9999));
  EXPECT_TRUE(unseen.table_full);
  EXPECT_EQ(unseen.remaining, seconds(1) + options.max_backoff);

  // After its lock-out, 192.0.2.1's next failure doubles it: the spray reset nothing.
  clock.AdvanceBy(seconds(1));
  EXPECT_EQ(throttle.LockedFor("192.0.2.1").remaining, registry::Duration::zero());
  EXPECT_EQ(throttle.Failed("192.0.2.1"), seconds(2));

  // Addresses are forgotten max_backoff after their lock-out ended (the spray's at 301 s); then
  // new addresses get room again.
  clock.AdvanceBy(options.max_backoff);
  EXPECT_EQ(throttle.LockedFor(address(20000)).remaining, registry::Duration::zero());
  EXPECT_EQ(throttle.size(), 1u);  // 192.0.2.1: its lock-out ended at 3 s, forgotten at 303 s.
  EXPECT_EQ(throttle.Failed(address(20000)), registry::Duration::zero());
  EXPECT_EQ(throttle.size(), 2u);
  clock.AdvanceBy(seconds(2));
  EXPECT_EQ(throttle.LockedFor("192.0.2.1").remaining, registry::Duration::zero());
  EXPECT_EQ(throttle.size(), 1u);
}

TEST(LoginThrottleTest, AnAddressWithARecentSuccessIsNotRefusedByAFullTable) {
  ManualScheduler clock;
  LoginThrottleOptions options;
  options.max_addresses = 100;
  LoginThrottle throttle(options, &clock);
  throttle.Succeeded("192.0.2.7");  // A client that logged in before the spray.
  for (int i = 0; i < 100; ++i) {
    for (int k = 0; k < 5; ++k) throttle.Failed("10.0.0." + std::to_string(i));
  }
  ASSERT_EQ(throttle.size(), 100u);
  EXPECT_TRUE(throttle.LockedFor("198.51.100.1").table_full);  // Unknown: refused.
  EXPECT_EQ(throttle.LockedFor("192.0.2.7").remaining, registry::Duration::zero());
  // Its failures still count: a room is made for it, and five lock it out.
  for (int k = 0; k < 4; ++k) EXPECT_EQ(throttle.Failed("192.0.2.7"), registry::Duration::zero());
  EXPECT_EQ(throttle.Failed("192.0.2.7"), seconds(1));
  EXPECT_EQ(throttle.size(), 100u);
  EXPECT_EQ(throttle.LockedFor("192.0.2.7").remaining, seconds(1));
  EXPECT_FALSE(throttle.LockedFor("192.0.2.7").table_full);
  // A wrong password never makes an address exempt.
  EXPECT_EQ(throttle.Failed("198.51.100.1"), registry::Duration::zero());
  EXPECT_TRUE(throttle.LockedFor("198.51.100.1").table_full);
}

TEST(LoginThrottleTest, AHugeFreeFailureCountDoesNotOverflow) {
  ManualScheduler clock;
  LoginThrottleOptions options;
  options.free_failures = std::numeric_limits<int>::max();
  LoginThrottle throttle(options, &clock);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(throttle.Failed("192.0.2.1"), registry::Duration::zero());
  }
}

// ------------------------------------------------------------------------------------------------
// Push targets and agents.

TEST_F(NamingCoreTest, PushGoesToTcpPeerNotClientIpByDefault) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Do("GET", kTv6List, "", kJavaUa, "192.0.2.10").status, 200);  // clientIP=10.0.0.9
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  for (const Datagram& datagram : sender_.sent()) {
    EXPECT_EQ(datagram.to, (UdpEndpoint{"192.0.2.10", kUdpPort}));
  }
}

TEST_F(NamingCoreTest, PushGoesToClientIpOnlyWhenTrusted) {
  NamingServerOptions options;
  options.trust_client_ip = true;
  Start(options);
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Do("GET", kTv6List, "", kJavaUa, "192.0.2.10").status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  for (const Datagram& datagram : sender_.sent()) {
    EXPECT_EQ(datagram.to, (UdpEndpoint{"10.0.0.9", kUdpPort}));
  }
  // Without clientIP the peer address is used.
  ASSERT_EQ(Do("GET", ReplaceFirst(kTv6List, "&clientIP=10.0.0.9", ""), "", kJavaUa, "192.0.2.10")
                .status,
            200);
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(sender_.at(2).to, (UdpEndpoint{"192.0.2.10", kUdpPort}));
}

TEST_F(NamingCoreTest, NonPushCapableAgentGetsNoSubscription) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  for (const std::string agent : {"Nacos-CPP-Client:v1.0.0", "", "curl/8.0", "1.4.8",
                                  "Nacos-C-Client:v1.0.11"}) {
    SCOPED_TRACE(agent);
    const std::string body = Get(kTv6List, agent).body;
    EXPECT_THAT(body, HasSubstr(R"("cacheMillis":3000,)"));
  }
  EXPECT_EQ(core_->stats().subscribers, 0u);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  sched_.AdvanceBy(seconds(1));
  EXPECT_EQ(sender_.count(), 0u);
  // Other qualifying agents do subscribe.
  EXPECT_THAT(Get(kTv6List, "Nacos-Go-Client:v1.0.0").body, HasSubstr(R"("cacheMillis":10000,)"));
  EXPECT_EQ(core_->stats().subscribers, 1u);
}

// The push data is the list response *for that subscriber* (UA rules included), so a
// push-capable non-Java client gets the ungrouped `dom` in pushes as in its list responses.
TEST_F(NamingCoreTest, PushDataFollowsTheSubscribersAgentRules) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  const std::string list = Get(kTv6List, "Nacos-Go-Client:v1.0.0").body;
  EXPECT_THAT(list, HasSubstr(R"("dom":"demo")"));
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_THAT(Decode(sender_.at(0)).data, HasSubstr(R"("dom":"demo")"));
}

// Java and Go subscribers of one service: each push is exactly the list answer that subscriber's
// agent gets, and subscribers of one style share one packet (one rendering, one lastRefTime).
TEST_F(NamingCoreTest, PushesToMixedAgentsRenderOncePerStyle) {
  constexpr char kGoUa[] = "Nacos-Go-Client:v1.0.0";
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  auto on_port = [](uint16_t port) {
    return ReplaceFirst(kTv6List, "udpPort=55963", "udpPort=" + std::to_string(port));
  };
  ASSERT_EQ(Get(on_port(7001)).status, 200);
  ASSERT_EQ(Get(on_port(7002), kGoUa).status, 200);
  ASSERT_EQ(Get(on_port(7003)).status, 200);
  ASSERT_EQ(sender_.count(), 3u);  // The first push of each new subscriber.
  for (size_t i = 0; i < 3; ++i) Ack(sender_.at(i));

  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 6u);
  std::map<uint16_t, Datagram> pushed;
  for (size_t i = 3; i < 6; ++i) pushed.emplace(sender_.at(i).to.port, sender_.at(i));
  ASSERT_EQ(pushed.size(), 3u);
  const PushPacket java = Decode(pushed.at(7001));
  const PushPacket go = Decode(pushed.at(7002));
  EXPECT_EQ(pushed.at(7003).bytes, pushed.at(7001).bytes);
  EXPECT_NE(go.last_ref_time, java.last_ref_time);
  EXPECT_THAT(java.data, HasSubstr(R"("dom":"DEFAULT_GROUP@@demo")"));
  EXPECT_THAT(go.data, HasSubstr(R"("dom":"demo")"));
  EXPECT_EQ(Hosts(go.data), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));
  // The re-queries (refreshes: no push) answer exactly what was pushed.
  EXPECT_EQ(Get(on_port(7001)).body, java.data);
  EXPECT_EQ(Get(on_port(7002), kGoUa).body, go.data);
  EXPECT_EQ(sender_.count(), 6u);
}

// ------------------------------------------------------------------------------------------------
// Health, driven by the core's own timer only.

TEST_F(NamingCoreTest, HealthFlipsAndExpiryByTimerArePushed) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);  // Kept alive by beats.
  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);  // Silent.
  ASSERT_EQ(Get(kTv6List).status, 200);
  ASSERT_EQ(sender_.count(), 1u);
  Ack(sender_.at(0));

  auto step = [&] {  // 5 s, then a beat from 10.0.0.5.
    sched_.AdvanceBy(seconds(5));
    ASSERT_EQ(IntField(LightBeat("10.0.0.5", 8080).body, "code"), 10200);
  };
  for (int i = 0; i < 3; ++i) step();  // t = 15 s: exactly 15 s is not "more than 15 s".
  EXPECT_THAT(Detail("10.0.0.6", 8080).body, HasSubstr(R"("healthy":true)"));
  EXPECT_EQ(sender_.count(), 1u);

  step();  // t = 20 s: unhealthy, pushed.
  EXPECT_THAT(Detail("10.0.0.6", 8080).body, HasSubstr(R"("healthy":false)"));
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(Hosts(Decode(sender_.at(1)).data),
            (HostList{{"10.0.0.5", true}, {"10.0.0.6", false}}));
  Ack(sender_.at(1));
  ASSERT_EQ(Get(kTv6List).status, 200);  // Refreshes the subscription (no push).
  EXPECT_EQ(sender_.count(), 2u);

  step();
  step();  // t = 30 s: still there.
  EXPECT_EQ(Detail("10.0.0.6", 8080).status, 200);
  EXPECT_EQ(sender_.count(), 2u);

  step();  // t = 35 s: deleted, pushed.
  EXPECT_RESPONSE(Detail("10.0.0.6", 8080), 404, "no matched ip found!");
  EXPECT_EQ(core_->stats().instances, 1u);
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(Hosts(Decode(sender_.at(2)).data), (HostList{{"10.0.0.5", true}}));
  Ack(sender_.at(2));
  EXPECT_EQ(core_->stats().acks, 3u);
}

TEST_F(NamingCoreTest, HealthCheckPeriodComesFromOptions) {
  NamingServerOptions options;
  options.health_check_period_ms = 1000;
  options.heartbeat_timeout_ms = 3000;
  options.ip_delete_timeout_ms = 6000;
  Start(options);
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  sched_.AdvanceBy(seconds(3));
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":true)"));
  sched_.AdvanceBy(seconds(1));
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
  sched_.AdvanceBy(seconds(3));
  EXPECT_EQ(core_->stats().instances, 0u);
}

TEST_F(NamingCoreTest, ReRegisterKeepsHealthAndResetsTheBeat) {
  // `healthy` counts for a new instance only.
  ASSERT_EQ(Register("10.0.0.5", 8080, "&healthy=false").status, 200);
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
  ASSERT_EQ(Register("10.0.0.5", 8080, "&healthy=true").status, 200);
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);  // A beat heals it.
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":true)"));

  // A re-register counts as a beat: registered at 0 s and again at 14 s, healthy at 25 s.
  sched_.AdvanceBy(seconds(14));
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  sched_.AdvanceBy(seconds(11));
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":true)"));
  sched_.AdvanceBy(seconds(5));  // 16 s after the re-register.
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
}

TEST_F(NamingCoreTest, PerInstanceBeatMetadata) {
  // preserved.heart.beat.interval is what beats answer; the timeouts drive this instance's expiry.
  ASSERT_EQ(Register("10.0.0.5", 8080,
                     "&metadata=" + UrlEncode(R"({"preserved.heart.beat.interval":"1000",)"
                                              R"("preserved.heart.beat.timeout":"3000",)"
                                              R"("preserved.ip.delete.timeout":"7000"})"))
                .status,
            200);
  EXPECT_RESPONSE(LightBeat("10.0.0.5", 8080), 200,
                  R"({"clientBeatInterval":1000,"code":10200,"lightBeatEnabled":true})");
  sched_.AdvanceBy(seconds(5));  // First check: 5 s > 3 s.
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("healthy":false)"));
  sched_.AdvanceBy(seconds(5));  // 10 s > 7 s.
  EXPECT_EQ(core_->stats().instances, 0u);
  // An interval above a timeout is refused (the 2.x rule).
  EXPECT_RESPONSE(Register("10.0.0.5", 8080,
                           "&metadata=" + UrlEncode(R"({"preserved.heart.beat.interval":"20000"})")),
                  400,
                  "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip "
                  "delete timeout'.");
}

TEST_F(NamingCoreTest, ClustersLegacyParamAndListFilter) {
  ASSERT_EQ(Register("10.0.0.5", 8080, "&clusterName=c1").status, 200);
  ASSERT_EQ(Register("10.0.0.6", 8080, "&cluster=c2").status, 200);  // Legacy name.
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  EXPECT_EQ(Get("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.6&port=8080&"
                "clusterName=c2")
                .status,
            200);
  const std::string list = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo";
  EXPECT_EQ(Hosts(Get(list + "&clusters=c2,c1").body),
            (HostList{{"10.0.0.6", true}, {"10.0.0.5", true}}));
  EXPECT_THAT(Get(list + "&clusters=c2,c1").body, HasSubstr(R"("clusters":"c2,c1",)"));
  EXPECT_EQ(Hosts(Get(list).body).size(), 3u);
  // Deregister reads the legacy name too.
  EXPECT_RESPONSE(Do("DELETE", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                               "ip=10.0.0.6&port=8080&cluster=c2"),
                  200, "ok");
  EXPECT_EQ(core_->stats().instances, 2u);
  // 1.4.x quirk: isCheck=true answers {}.
  EXPECT_RESPONSE(Get(list + "&isCheck=true"), 200, "{}");
}

TEST_F(NamingCoreTest, BurstOfChangesIsMergedIntoOnePush) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);  // Pushed at once.
  ASSERT_EQ(sender_.count(), 2u);
  ASSERT_EQ(Register("10.0.0.8", 8080).status, 200);  // Within 50 ms of that push: merged...
  ASSERT_EQ(Register("10.0.0.9", 8080).status, 200);
  EXPECT_EQ(sender_.count(), 2u);
  sched_.AdvanceBy(milliseconds(50));  // ... into one push at the end of the window.
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(Hosts(Decode(sender_.at(2)).data).size(), 4u);
}

TEST_F(NamingCoreTest, SubscriberLapsesWithoutRefresh) {
  NamingServerOptions options;
  options.subscriber_ttl_ms = 20000;
  Start(options);
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);
  Ack(sender_.at(0));
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);  // Refresh at 10 s: lives until 30 s.
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  Ack(sender_.at(1));
  sched_.AdvanceBy(seconds(11));  // 31 s: lapsed.
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(LightBeat("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(Register("10.0.0.8", 8080).status, 200);
  EXPECT_EQ(sender_.count(), 2u);
  EXPECT_EQ(core_->stats().subscribers, 0u);
  // A new query subscribes afresh (and is pushed the current data).
  EXPECT_THAT(Get(kTv6List).body, HasSubstr(R"("cacheMillis":10000,)"));
  ASSERT_EQ(sender_.count(), 3u);
  EXPECT_EQ(Hosts(Decode(sender_.at(2)).data).size(), 3u);
}

TEST_F(NamingCoreTest, SubscriptionBeforeTheServiceExists) {
  const std::string body = Get(kTv6List).body;
  EXPECT_EQ(body, R"({"name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":10000,"hosts":[]})");
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(Decode(sender_.at(0)).data, body);
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(sender_.count(), 2u);
  EXPECT_EQ(Hosts(Decode(sender_.at(1)).data), (HostList{{"10.0.0.5", true}}));
}

// ------------------------------------------------------------------------------------------------
// Routing.

TEST_F(NamingCoreTest, UnknownApiUnderNamingIs501) {
  EXPECT_RESPONSE(Get("/nacos/v1/ns/nope"), 501, "no such api:GET:/nacos/v1/ns/nope");
  EXPECT_RESPONSE(Do("DELETE", "/nacos/v1/ns/instance/list?serviceName=x"), 501,
                  "no such api:DELETE:/nacos/v1/ns/instance/list");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance/beat"), 501,
                  "no such api:POST:/nacos/v1/ns/instance/beat");
}

TEST_F(NamingCoreTest, PathOutsideContextPathIs404) {
  EXPECT_EQ(Get("/v1/ns/instance/list?serviceName=demo").status, 404);
  EXPECT_EQ(Get("/nacosx/v1/ns/instance/list?serviceName=demo").status, 404);
  EXPECT_EQ(Get("/nacos").status, 404);
  EXPECT_EQ(Get("/nacos/v2/ns/instance/list?serviceName=demo").status, 404);
  EXPECT_EQ(Get("/").status, 404);
}

TEST_F(NamingCoreTest, HeadWorksLikeGet) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  for (const std::string& target :
       {std::string(kTv6ListNoUdp), std::string("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP"
                                                "%40%40demo&ip=10.0.0.5&port=8080"),
        std::string("/nacos/v1/ns/operator/metrics"), std::string(kTv11ServiceList),
        std::string("/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40nope")}) {
    SCOPED_TRACE(target);
    const HttpResponse get = Get(target);
    const HttpResponse head = Do("HEAD", target);
    EXPECT_EQ(head.status, get.status);
    EXPECT_EQ(head.body, get.body);
    EXPECT_EQ(head.content_type, get.content_type);
  }
}

// ------------------------------------------------------------------------------------------------
// Operator endpoints.

TEST_F(NamingCoreTest, MetricsCounts) {
  const char kEmpty[] =
      R"({"status":"UP","serviceCount":0,"instanceCount":0,"raftNotifyTaskCount":0,)"
      R"("responsibleServiceCount":0,"responsibleInstanceCount":0,"cpu":0.0,"load":0.0,)"
      R"("mem":0.0})";
  EXPECT_RESPONSE(Get("/nacos/v1/ns/operator/metrics"), 200, kEmpty);
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  ASSERT_EQ(Do("POST", "/nacos/v1/ns/instance?serviceName=orders&groupName=G1&ip=10.0.0.6&"
                       "port=9000")
                .status,
            200);
  const char kCounts[] =
      R"({"status":"UP","serviceCount":2,"instanceCount":3,"raftNotifyTaskCount":0,)"
      R"("responsibleServiceCount":2,"responsibleInstanceCount":3,"cpu":0.0,"load":0.0,)"
      R"("mem":0.0})";
  EXPECT_RESPONSE(Get("/nacos/v1/ns/operator/metrics"), 200, kCounts);
  EXPECT_RESPONSE(Get("/nacos/v1/ns/ops/metrics"), 200, kCounts);
}

// One sample line of a Prometheus text, "name{labels} value", or "" when absent.
std::string PrometheusLine(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  const size_t end = text.find('\n', at + 1);
  return text.substr(at + 1, end - at - 1);
}

TEST_F(NamingCoreTest, PrometheusReportsStoreAndRefusals) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  core_->metrics().Reject(RejectReason::kHeadTimeout);
  core_->metrics().Reject(RejectReason::kHeadTimeout);

  const HttpResponse answer = Get("/nacos/actuator/prometheus");
  ASSERT_EQ(answer.status, 200);
  EXPECT_EQ(answer.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = answer.body;
  EXPECT_EQ(PrometheusLine(text, R"(nacos_monitor{module="naming",name="serviceCount"})"),
            R"(nacos_monitor{module="naming",name="serviceCount"} 1)");
  EXPECT_EQ(PrometheusLine(text, R"(nacos_monitor{module="naming",name="ipCount"})"),
            R"(nacos_monitor{module="naming",name="ipCount"} 2)");
  EXPECT_EQ(PrometheusLine(text, R"(naming_server_rejects_total{reason="head_timeout"})"),
            R"(naming_server_rejects_total{reason="head_timeout"} 2)");
  EXPECT_EQ(PrometheusLine(text, R"(naming_server_rejects_total{reason="login_throttled"})"),
            R"(naming_server_rejects_total{reason="login_throttled"} 0)");
  // Every reason has its line, and every family its HELP and TYPE.
  for (std::string_view reason : kRejectReasonNames) {
    EXPECT_NE(
        PrometheusLine(text, "naming_server_rejects_total{reason=\"" + std::string(reason) + "\"}"),
        "")
        << reason;
  }
  EXPECT_THAT(text, HasSubstr("# TYPE naming_server_rejects_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE nacos_monitor gauge\n"));
}

// Keeps what the gRPC core sends on streams, for the test to answer.
class KeepingGrpcSink : public GrpcSink {
 public:
  void SendOnStream(GrpcConnId, std::shared_ptr<const GrpcMessage> message) override {
    sent.push_back(*message);
  }
  void Close(GrpcConnId) override {}
  std::vector<GrpcMessage> sent;
};

GrpcMessage GrpcRequest(std::string type, std::string body) {
  GrpcMessage message;
  message.type = std::move(type);
  message.body = std::move(body);
  return message;
}

TEST_F(NamingCoreTest, PrometheusReportsGrpcTransportAndProtocolFigures) {
  KeepingGrpcSink sink;
  core_->SetGrpcSink(&sink);
  GrpcHandler* grpc = core_->grpc_handler();
  grpc->OnConnect(1, "10.0.0.9", 54321);
  grpc->OnConnect(2, "10.0.0.9", 54322);
  grpc->OnStreamMessage(1, GrpcRequest("ConnectionSetupRequest",
                                       R"({"labels":{"module":"naming"},"abilityTable":{}})"));
  ASSERT_EQ(sink.sent.size(), 1u);
  EXPECT_EQ(sink.sent[0].type, "SetupAckRequest");
  const std::string service =
      R"("namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP")";
  EXPECT_EQ(grpc->OnUnary(1, GrpcRequest("InstanceRequest",
                                         "{" + service +
                                             R"(,"type":"registerInstance","instance":)"
                                             R"({"ip":"10.0.0.5","port":8080}})"))
                .type,
            "InstanceResponse");
  EXPECT_EQ(grpc->OnUnary(1, GrpcRequest("SubscribeServiceRequest",
                                         "{" + service + R"(,"subscribe":true,"clusters":""})"))
                .type,
            "SubscribeServiceResponse");
  ASSERT_EQ(sink.sent.size(), 2u);
  ASSERT_EQ(sink.sent[1].type, "NotifySubscriberRequest");
  const auto push = ParseJson(sink.sent[1].body);
  ASSERT_TRUE(push->HasMember("requestId") && (*push)["requestId"].IsString());
  const std::string push_id = (*push)["requestId"].GetString();
  grpc->OnStreamMessage(1, GrpcRequest("NotifySubscriberResponse",
                                       R"({"resultCode":200,"errorCode":0,"requestId":")" +
                                           push_id + R"(","success":true})"));
  EXPECT_EQ(grpc->OnUnary(1, GrpcRequest("FooRequest", "{}")).type, "ErrorResponse");  // 302
  EXPECT_EQ(grpc->OnUnary(2, GrpcRequest("HealthCheckRequest", "{}")).type,
            "ErrorResponse");  // 301
  // The transport's counters live in the shared ServerMetrics.
  core_->metrics().grpc_connections_open = 2;
  core_->metrics().grpc_connections_accepted = 3;
  core_->metrics().grpc_connections_refused = 1;
  core_->metrics().grpc_protocol_errors = 4;

  const std::string text = Get("/nacos/actuator/prometheus").body;
  const std::pair<std::string, std::string> expected[] = {
      {"naming_server_grpc_connections", "2"},
      {"naming_server_grpc_connections_accepted_total", "3"},
      {"naming_server_grpc_connections_refused_total", "1"},
      {"naming_server_grpc_protocol_errors_total", "4"},
      {"naming_server_grpc_output_overflows_total", "0"},
      {"naming_server_grpc_registered_connections", "1"},
      {"naming_server_grpc_subscriptions", "1"},
      {"naming_server_grpc_setups_total", "1"},
      {"naming_server_grpc_requests_total", "4"},
      {"naming_server_grpc_request_errors_total", "2"},
      {R"(naming_server_grpc_requests_handled_total{type="InstanceRequest"})", "1"},
      {R"(naming_server_grpc_requests_handled_total{type="SubscribeServiceRequest"})", "1"},
      {"naming_server_grpc_pushes_total", "1"},
      {"naming_server_grpc_push_acks_total", "1"},
      {"naming_server_grpc_push_resends_total", "0"},
      {"naming_server_grpc_ejections_total", "0"},
      {"naming_server_grpc_subscriptions_refused_total", "0"},
      {"naming_server_grpc_pushes_oversize_skipped_total", "0"},
  };
  for (const auto& [series, value] : expected) {
    EXPECT_EQ(PrometheusLine(text, series), series + " " + value);
  }
  // The unregistered connection's request is not counted by type.
  EXPECT_EQ(PrometheusLine(
                text, R"(naming_server_grpc_requests_handled_total{type="HealthCheckRequest"})"),
            "");
  EXPECT_THAT(text, HasSubstr("# TYPE naming_server_grpc_connections gauge\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE naming_server_grpc_push_acks_total counter\n"));
  EXPECT_THAT(text, HasSubstr("# HELP naming_server_grpc_requests_handled_total "));
  core_->SetGrpcSink(nullptr);
}

TEST_F(NamingCoreTest, SwitchesJsonParses) {
  const HttpResponse switches = Get("/nacos/v1/ns/operator/switches");
  ASSERT_EQ(switches.status, 200);
  EXPECT_EQ(switches.content_type, "application/json;charset=UTF-8");
  auto doc = ParseJson(switches.body);
  ASSERT_TRUE(doc->IsObject());
  EXPECT_EQ((*doc)["defaultPushCacheMillis"].GetInt64(), 10000);
  EXPECT_EQ((*doc)["clientBeatInterval"].GetInt64(), 5000);
  EXPECT_EQ((*doc)["defaultCacheMillis"].GetInt64(), 3000);
  EXPECT_TRUE((*doc)["pushEnabled"].GetBool());
  EXPECT_TRUE((*doc)["lightBeatEnabled"].GetBool());
  EXPECT_TRUE((*doc)["healthCheckEnabled"].GetBool());
  EXPECT_TRUE((*doc)["defaultInstanceEphemeral"].GetBool());
  EXPECT_STREQ((*doc)["pushJavaVersion"].GetString(), "0.1.0");
  EXPECT_EQ(Get("/nacos/v1/ns/ops/switches").body, switches.body);
}

TEST_F(NamingCoreTest, SwitchesFollowOptions) {
  NamingServerOptions options;
  options.client_beat_interval_ms = 2000;
  options.light_beat_enabled = false;
  Start(options);
  auto doc = ParseJson(Get("/nacos/v1/ns/operator/switches").body);
  ASSERT_TRUE(doc->IsObject());
  EXPECT_EQ((*doc)["clientBeatInterval"].GetInt64(), 2000);
  EXPECT_FALSE((*doc)["lightBeatEnabled"].GetBool());
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  EXPECT_RESPONSE(LightBeat("10.0.0.5", 8080), 200,
                  R"({"clientBeatInterval":2000,"code":10200,"lightBeatEnabled":false})");
}

TEST_F(NamingCoreTest, PushStateJsonParses) {
  auto doc = ParseJson(Get("/nacos/v1/ns/operator/push/state").body);
  ASSERT_TRUE(doc->IsObject());
  EXPECT_EQ((*doc)["succeed"].GetInt64(), 0);
  EXPECT_EQ((*doc)["total"].GetInt64(), 0);
  EXPECT_TRUE((*doc)["failed"].IsArray());
}

// ------------------------------------------------------------------------------------------------
// Update, patch, parameter errors.

TEST_F(NamingCoreTest, PutWithJavaAgentIsStrictUpdate) {
  EXPECT_RESPONSE(Do("PUT", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40ghost&"
                            "ip=10.0.0.5&port=8080"),
                  400, "service not found, namespace: public, service: DEFAULT_GROUP@@ghost");
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  const HttpResponse missing = Do("PUT", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                                         "ip=10.0.0.99&port=8080");
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body, "instance not exist: 10.0.0.99:8080:unknown:DEFAULT_1.0_true_false_DEFAULT");
  EXPECT_EQ(core_->stats().instances, 1u);

  // Existing: replaced like a re-register (metadata omitted => empty), health kept.
  sched_.AdvanceBy(seconds(20));  // Unhealthy now.
  EXPECT_RESPONSE(Do("PUT", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                            "ip=10.0.0.5&port=8080&weight=5&healthy=true"),
                  200, "ok");
  EXPECT_RESPONSE(Detail("10.0.0.5", 8080), 200,
                  R"({"service":"DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
                  R"("clusterName":"DEFAULT","weight":5.0,"healthy":false,)"
                  R"("instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","metadata":{}})");
}

TEST_F(NamingCoreTest, PutWithoutJavaAgentRegisters) {
  for (const std::string agent : {"", "Nacos-CPP-Client:v1.0.0", "Nacos-Java-Client:v0.9.9"}) {
    SCOPED_TRACE(agent);
    EXPECT_RESPONSE(Do("PUT", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40fresh&"
                              "ip=10.0.0.5&port=8080",
                       "", agent),
                    200, "ok");
  }
  EXPECT_EQ(Get("/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40fresh&ip=10.0.0.5&"
                "port=8080")
                .status,
            200);
  EXPECT_EQ(core_->stats().instances, 1u);
}

TEST_F(NamingCoreTest, PatchChangesOnlyGivenFields) {
  ASSERT_EQ(Register("10.0.0.5", 8080, "&weight=2&metadata=%7B%22a%22%3A%221%22%7D").status, 200);
  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);
  const std::string patch =
      "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&port=8080";
  EXPECT_RESPONSE(Do("PATCH", patch + "&weight=3"), 200, "ok");
  EXPECT_THAT(Detail("10.0.0.5", 8080).body,
              HasSubstr(R"("weight":3.0,"healthy":true,"instanceId":"10.0.0.5#8080#DEFAULT#)"
                        R"(DEFAULT_GROUP@@demo","metadata":{"a":"1"}})"));
  EXPECT_RESPONSE(Do("PATCH", patch + "&metadata=b%3D2"), 200, "ok");  // Legacy k=v form.
  EXPECT_THAT(Detail("10.0.0.5", 8080).body,
              HasSubstr(R"("weight":3.0,"healthy":true,"instanceId":"10.0.0.5#8080#DEFAULT#)"
                        R"(DEFAULT_GROUP@@demo","metadata":{"b":"2"}})"));
  EXPECT_RESPONSE(Do("PATCH", patch + "&enabled=false"), 200, "ok");
  EXPECT_EQ(Hosts(Get(kTv6ListNoUdp).body), (HostList{{"10.0.0.6", true}}));
  EXPECT_RESPONSE(Do("PATCH", patch + "&enabled=true&healthy=false"), 200, "ok");
  EXPECT_EQ(Hosts(Get(kTv6ListNoUdp).body), (HostList{{"10.0.0.6", true}, {"10.0.0.5", false}}));
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("weight":3.0,"healthy":false,)"));

  EXPECT_RESPONSE(Do("PATCH", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                              "ip=10.0.0.9&port=8080&weight=1"),
                  400, "instance not found");
  EXPECT_RESPONSE(Do("PATCH", patch + "&weight=10001"), 400,
                  "instance format invalid: The weights range from 0.0 to 10000.0");
  EXPECT_RESPONSE(Do("PATCH", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&port=1"),
                  400, "Param 'ip' is required.");
}

TEST_F(NamingCoreTest, MalformedMetadataIs400) {
  EXPECT_RESPONSE(Register("10.0.0.5", 8080, "&metadata=version%3A1.0"), 400,
                  "metadata format incorrect:version:1.0");
  EXPECT_RESPONSE(Register("10.0.0.5", 8080, "&metadata=%7B%22a%22%3A"), 400,
                  R"(metadata format incorrect:{"a":)");
  EXPECT_RESPONSE(Register("10.0.0.5", 8080, "&metadata=a%3Db%3Dc"), 400,
                  "metadata format incorrect:a=b=c");
  EXPECT_EQ(core_->stats().instances, 0u);
  // The legacy form is accepted.
  EXPECT_RESPONSE(Register("10.0.0.5", 8080, "&metadata=k1%3Dv1%2Ck2%3Dv2"), 200, "ok");
  EXPECT_THAT(Detail("10.0.0.5", 8080).body, HasSubstr(R"("metadata":{"k1":"v1","k2":"v2"})"));
}

TEST_F(NamingCoreTest, NonNumericNumbersAre400) {
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                             "ip=10.0.0.5&port=abc"),
                  400, R"(For input string: "abc")");
  EXPECT_RESPONSE(Register("10.0.0.5", 8080, "&weight=heavy"), 400,
                  R"(For input string: "heavy")");
  EXPECT_RESPONSE(Do("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&"
                            "ip=10.0.0.5&port=abc"),
                  400, R"(For input string: "abc")");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&"
                      "udpPort=abc"),
                  400, R"(For input string: "abc")");
  EXPECT_EQ(core_->stats().instances, 0u);
}

TEST_F(NamingCoreTest, ServiceCrud) {
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service?serviceName=demo"), 404,
                  "service DEFAULT_GROUP@@demo is not found!");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/service?serviceName=demo&protectThreshold=0.5&"
                             "metadata=%7B%22k%22%3A%22v%22%7D"),
                  200, "ok");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/service?serviceName=demo"), 200,
                  R"({"name":"demo","namespaceId":"public","protectThreshold":0.5,)"
                  R"("metadata":{"k":"v"},"selector":{"type":"none"},"groupName":"DEFAULT_GROUP",)"
                  R"("clusters":[]})");
  EXPECT_RESPONSE(Do("DELETE", "/nacos/v1/ns/service?serviceName=demo"), 200, "ok");
  EXPECT_EQ(Get("/nacos/v1/ns/service?serviceName=demo").status, 404);
}

// ------------------------------------------------------------------------------------------------
// Lifecycle and threads.

TEST_F(NamingCoreTest, ShutdownThenHandleStillAnswersAndNothingIsPushed) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);
  ASSERT_EQ(sender_.count(), 1u);  // The subscribe push, never acked.

  core_->Shutdown();
  EXPECT_EQ(sched_.pending(), 0u);  // Health check, ack and sweep timers are gone.
  EXPECT_RESPONSE(Register("10.0.0.7", 8080), 200, "ok");
  const std::string list = Get(kTv6List).body;  // No subscription any more: 3000.
  EXPECT_THAT(list, HasSubstr(R"("cacheMillis":3000,)"));
  EXPECT_EQ(Hosts(list), (HostList{{"10.0.0.5", true}, {"10.0.0.7", true}}));
  EXPECT_RESPONSE(Get("/nacos/v1/ns/nope"), 501, "no such api:GET:/nacos/v1/ns/nope");
  core_->OnDatagram(UdpEndpoint{kPeer, kUdpPort}, BuildPushAck(1));
  sched_.AdvanceBy(seconds(60));  // No resend, no health check.
  EXPECT_EQ(sender_.count(), 1u);
  EXPECT_EQ(core_->stats().instances, 2u);
  core_->CheckHealth();  // An explicit check still works, silently.
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_EQ(sender_.count(), 1u);
  core_->Shutdown();  // Idempotent.
  EXPECT_EQ(Get(kTv11ServiceList).status, 200);
}

TEST_F(NamingCoreTest, ConcurrentRequestsTimersAndAcks) {
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  constexpr int kThreads = 3;
  constexpr int kPerThread = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string peer = "127.0.0." + std::to_string(t + 2);
      for (int i = 0; i < kPerThread; ++i) {
        const std::string ip = "10.1." + std::to_string(t) + "." + std::to_string(i);
        if (Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=" + ip +
                           "&port=80")
                .status != 200) {
          ++failures;
        }
        if (Do("GET", kTv6List, "", kJavaUa, peer).status != 200) ++failures;
        if (Do("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&ip=" + ip +
                          "&port=80")
                .status != 200) {
          ++failures;
        }
        if (Get("/nacos/v1/ns/operator/push/state").status != 200) ++failures;
        if (Get(kTv11ServiceList).status != 200) ++failures;  // Rendered outside the lock too.
      }
    });
  }
  // Meanwhile: timers (health checks, coalesced pushes, resends) and acks on this thread. 400
  // steps of 10 ms stay far below every expiry.
  size_t acked = 0;
  for (int step = 0; step < 400; ++step) {
    sched_.AdvanceBy(milliseconds(10));
    const std::vector<Datagram> sent = sender_.sent();
    for (; acked < sent.size(); ++acked) Ack(sent[acked]);
    (void)core_->stats();
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(core_->stats().instances, 1u + kThreads * kPerThread);
  EXPECT_EQ(core_->stats().subscribers, static_cast<size_t>(kThreads));
  // Merged pushes still pending go out within the coalescing window; then every subscriber has the
  // full list as its last packet.
  sched_.AdvanceBy(milliseconds(100));
  std::map<UdpEndpoint, std::string> last;
  for (const Datagram& datagram : sender_.sent()) last[datagram.to] = Decode(datagram).data;
  ASSERT_EQ(last.size(), static_cast<size_t>(kThreads));
  for (const auto& [endpoint, data] : last) {
    EXPECT_EQ(Hosts(data).size(), 1u + kThreads * kPerThread) << endpoint.ToString();
  }
}

// ------------------------------------------------------------------------------------------------
// Rendered list answers are kept per service revision and request variant.

// A string field of a JSON object, or "<none>".
std::string StringField(const std::string& json, const char* name) {
  auto doc = ParseJson(json);
  if (!doc->IsObject() || !doc->HasMember(name) || !(*doc)[name].IsString()) return "<none>";
  return (*doc)[name].GetString();
}

TEST_F(NamingCoreTest, ListAnswersFollowEveryChangeOfTheService) {
  constexpr char kList[] = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo";
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  EXPECT_EQ(Hosts(Get(kList).body), (HostList{{"10.0.0.5", true}}));
  EXPECT_EQ(Get(kList).body, Get(kList).body);  // Served again: identical.

  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);
  EXPECT_EQ(Hosts(Get(kList).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));

  // Re-register with new metadata, and a PATCH of it.
  ASSERT_EQ(Register("10.0.0.6", 8080, "&metadata=%7B%22v%22%3A%222%22%7D").status, 200);
  EXPECT_THAT(Get(kList).body, HasSubstr(R"("metadata":{"v":"2"})"));
  ASSERT_EQ(Do("PATCH", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.6&"
                        "port=8080&metadata=%7B%22v%22%3A%223%22%7D")
                .status,
            200);
  EXPECT_THAT(Get(kList).body, HasSubstr(R"("metadata":{"v":"3"})"));

  // Health flips by the timer's sweep: 10.0.0.5 keeps beating, 10.0.0.6 does not.
  const std::string before = Get(kList).body;
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);
  EXPECT_EQ(Get(kList).body, before);  // A beat changes nothing a list shows.
  sched_.AdvanceBy(seconds(10));        // 20 s: 10.0.0.6 is unhealthy.
  EXPECT_EQ(Hosts(Get(kList).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", false}}));
  EXPECT_EQ(Hosts(Get(std::string(kList) + "&healthyOnly=true").body),
            (HostList{{"10.0.0.5", true}}));
  ASSERT_EQ(LightBeat("10.0.0.6", 8080).status, 200);  // Revived.
  EXPECT_EQ(Hosts(Get(kList).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));

  // Deregister; then a service update (metadata, threshold).
  EXPECT_EQ(Do("DELETE", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                         "ip=10.0.0.6&port=8080")
                .status,
            200);
  EXPECT_EQ(Hosts(Get(kList).body), (HostList{{"10.0.0.5", true}}));
  ASSERT_EQ(Do("PUT", "/nacos/v1/ns/service?serviceName=DEFAULT_GROUP%40%40demo&"
                      "metadata=%7B%22owner%22%3A%22x%22%7D")
                .status,
            200);
  EXPECT_THAT(Get(kList).body, HasSubstr(R"("metadata":{"owner":"x"}})"));

  // Deleted and created again without the clock moving (so lastRefTime may repeat): the new
  // service's data, not the old answer.
  ASSERT_EQ(Do("DELETE", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&"
                         "ip=10.0.0.5&port=8080")
                .status,
            200);
  ASSERT_EQ(Do("DELETE", "/nacos/v1/ns/service?serviceName=DEFAULT_GROUP%40%40demo").status, 200);
  EXPECT_EQ(Get(kList).body,
            R"({"name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":3000,"hosts":[]})");
  ASSERT_EQ(Register("10.0.0.7", 8080).status, 200);
  const std::string recreated = Get(kList).body;
  EXPECT_EQ(Hosts(recreated), (HostList{{"10.0.0.7", true}}));
  EXPECT_THAT(recreated, HasSubstr(R"("metadata":{}})"));
}

TEST_F(NamingCoreTest, ListAnswerVariantsAreKeptApart) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(Register("10.0.0.6", 8080, "&clusterName=c1").status, 200);
  const std::string base = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo";
  const std::string by_group = "/nacos/v1/ns/instance/list?serviceName=demo&groupName=DEFAULT_GROUP";
  for (int round = 0; round < 2; ++round) {  // The second round is served from what the first kept.
    SCOPED_TRACE(round);
    EXPECT_EQ(Hosts(Get(base).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));
    const std::string c1 = Get(base + "&clusters=c1").body;
    EXPECT_EQ(Hosts(c1), (HostList{{"10.0.0.6", true}}));
    EXPECT_EQ(StringField(c1, "clusters"), "c1");
    const std::string c1_default = Get(base + "&clusters=c1%2CDEFAULT%2C").body;
    EXPECT_EQ(Hosts(c1_default), (HostList{{"10.0.0.6", true}, {"10.0.0.5", true}}));
    EXPECT_EQ(StringField(c1_default, "clusters"), "c1,DEFAULT,");  // Echoed as written.
    EXPECT_EQ(StringField(Get(base + "&clusters=DEFAULT%2Cc1").body, "clusters"), "DEFAULT,c1");
    EXPECT_EQ(StringField(Get(by_group).body, "name"), "DEFAULT_GROUP@@demo");
    EXPECT_EQ(StringField(Get(base + "&env=prod").body, "env"), "prod");
    EXPECT_EQ(StringField(Get(base).body, "env"), "");
    EXPECT_EQ(StringField(Get(base).body, "dom"), "DEFAULT_GROUP@@demo");
    EXPECT_EQ(StringField(Get(base, "Nacos-Node-Client:v2.6.3").body, "dom"), "demo");
    EXPECT_EQ(IntField(Get(base + "&udpPort=55963").body, "cacheMillis"), 10000);
    EXPECT_EQ(IntField(Get(base).body, "cacheMillis"), 3000);
    EXPECT_EQ(Get("/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&"
                  "namespaceId=dev")
                  .body,
              R"({"name":"DEFAULT_GROUP@@demo","clusters":"","cacheMillis":3000,"hosts":[]})");
  }
  // healthyOnly: after the sweep one instance is unhealthy.
  ASSERT_EQ(Get(base + "&healthyOnly=true").status, 200);
  sched_.AdvanceBy(seconds(10));
  ASSERT_EQ(LightBeat("10.0.0.5", 8080).status, 200);
  sched_.AdvanceBy(seconds(10));
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(Hosts(Get(base + "&healthyOnly=true").body), (HostList{{"10.0.0.5", true}}));
    EXPECT_EQ(Hosts(Get(base).body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", false}}));
  }
}

TEST_F(NamingCoreTest, PushAndListShareTheRenderedAnswer) {
  // A subscriber's re-query asks for exactly what was pushed (Java agent, cacheMillis 10000): the
  // data of both agrees after every change, and lastRefTime is the revision's in both.
  ASSERT_EQ(Do("POST", kTv1Register).status, 200);
  ASSERT_EQ(Get(kTv6List).status, 200);
  ASSERT_EQ(sender_.count(), 1u);  // The first push.
  for (int i = 0; i < 3; ++i) {
    sched_.AdvanceBy(seconds(1));
    ASSERT_EQ(Register("10.0.1." + std::to_string(i), 80).status, 200);
    const PushPacket pushed = Decode(sender_.at(sender_.count() - 1));
    EXPECT_EQ(Get(kTv6List).body, pushed.data);
    EXPECT_EQ(IntField(pushed.data, "lastRefTime"),
              IntField(Get(kTv6ListNoUdp).body, "lastRefTime"));
  }
}

// ------------------------------------------------------------------------------------------------
// What the server stores: valid UTF-8 only, the checks of a registration on every path, caps.

constexpr char kRegisterDemo[] =
    "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.5&port=8080";
constexpr char kBeatDemo[] = "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40demo&beat=";
constexpr char kListDemo[] = "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo";

TEST_F(NamingCoreTest, InvalidUtf8IsRefusedOnEveryPathAndNothingIsStored) {
  const std::string reg = kRegisterDemo;
  EXPECT_RESPONSE(Do("POST", reg + "&metadata=%7B%22k%22%3A%22%FF%22%7D"), 400,
                  "Param 'metadata' is not valid UTF-8");
  EXPECT_RESPONSE(Do("POST",
                     "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40d%C3&"
                     "ip=10.0.0.5&port=8080"),
                  400, "Param 'serviceName' is not valid UTF-8");
  EXPECT_RESPONSE(Do("POST", reg + "&clusterName=c%ED%A0%80"), 400,  // An encoded surrogate.
                  "Param 'clusterName' is not valid UTF-8");
  EXPECT_RESPONSE(Do("POST", reg + "&k%FF=v"), 400, "a parameter name is not valid UTF-8");
  EXPECT_RESPONSE(
      Do("POST", "/nacos/v1/ns/instance", "serviceName=demo&ip=10.0.0.5&port=1&app=%C0%80"), 400,
      "Param 'app' is not valid UTF-8");  // Overlong, in a form body.
  EXPECT_RESPONSE(Do("PUT", kBeatDemo + UrlEncode("{\"ip\":\"10.0.0.5\",\"port\":8080,"
                                                  "\"metadata\":{\"k\":\"\xff\"}}")),
                  400, "Param 'beat' is not valid UTF-8");
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kInvalidUtf8), 6u);

  // Escapes that spell a lone surrogate, inside the JSON of a parameter.
  HttpResponse escaped = Do("POST", reg + "&metadata=" + UrlEncode(R"({"k":"\ud800"})"));
  EXPECT_EQ(escaped.status, 400);
  EXPECT_THAT(escaped.body, ::testing::StartsWith("metadata is not valid UTF-8"));
  escaped = Do("PUT",
               kBeatDemo + UrlEncode(R"({"ip":"10.0.0.5","port":8080,"metadata":{"k":"\udc00"}})"));
  EXPECT_EQ(escaped.status, 400);
  EXPECT_THAT(escaped.body, ::testing::StartsWith("beat is not valid UTF-8"));
  escaped = Do("PUT", kBeatDemo + UrlEncode(R"({"ip":"10.0.0.5","port":8080,"cluster":"\ud800"})"));
  EXPECT_EQ(escaped.status, 400);
  escaped = Do("POST", "/nacos/v1/ns/service?serviceName=G%40%40s&metadata=" +
                           UrlEncode(R"({"k":"\ud800"})"));
  EXPECT_EQ(escaped.status, 400);
  EXPECT_THAT(escaped.body, ::testing::StartsWith("metadata is not valid UTF-8"));
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kInvalidUtf8), 10u);
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kInvalidParameter), 0u);
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_EQ(core_->stats().services, 0u);

  // Valid text beyond ASCII is stored, and the list answer stays valid UTF-8 JSON.
  ASSERT_EQ(
      Do("POST", reg + "&metadata=" + UrlEncode(R"({"owner":"Zo\u00eb \ud83d\ude00"})")).status,
      200);
  const std::string list = Get(kListDemo).body;
  EXPECT_TRUE(registry::internal::IsValidUtf8(list));
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(list.c_str(), list.size());
  EXPECT_FALSE(doc.HasParseError()) << list;
  EXPECT_THAT(list, HasSubstr("\"owner\":\"Zo\xc3\xab \xf0\x9f\x98\x80\""));
}

TEST_F(NamingCoreTest, FullBeatReRegistrationAnswersWhatARegistrationAnswers) {
  struct Case {
    std::string register_params;  // Appended to the service name.
    std::string beat;
  };
  const std::string rule = R"({"preserved.heart.beat.interval":"20000"})";
  const Case cases[] = {
      {"&ip=not%20an%20ip%21&port=80", R"({"ip":"not an ip!","port":80})"},
      {"&ip=10.0.0.5&port=-7", R"({"ip":"10.0.0.5","port":-7})"},
      {"&ip=10.0.0.5&port=80&weight=-5", R"({"ip":"10.0.0.5","port":80,"weight":-5})"},
      {"&ip=10.0.0.5&port=80&metadata=" + UrlEncode(rule),
       R"({"ip":"10.0.0.5","port":80,"metadata":)" + rule + "}"},
      {"&ip=10.0.0.5&port=80&clusterName=bad_cluster",
       R"({"ip":"10.0.0.5","port":80,"cluster":"bad_cluster"})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.beat);
    const HttpResponse registered =
        Do("POST", "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo" + c.register_params);
    ASSERT_EQ(registered.status, 400) << registered.body;
    EXPECT_RESPONSE(Do("PUT", kBeatDemo + UrlEncode(c.beat)), 400, registered.body);
  }
  EXPECT_EQ(core_->stats().instances, 0u);
  EXPECT_THAT(Get(kListDemo).body, HasSubstr("\"hosts\":[]"));
}

TEST_F(NamingCoreTest, ServiceNameLengthCap) {
  const std::string at_cap = "DEFAULT_GROUP%40%40" + std::string(512 - 15, 'a');  // 512 bytes.
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?ip=10.0.0.5&port=80&serviceName=" + at_cap),
                  200, "ok");
  const std::string past_cap = at_cap + "a";
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?ip=10.0.0.5&port=80&serviceName=" + past_cap),
                  400,
                  "Param 'serviceName' is too long: 513 bytes (max 512, max_service_name_length, "
                  "--max-service-name-length)");
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance/list?serviceName=" + past_cap), 400,
                  "Param 'serviceName' is too long: 513 bytes (max 512, max_service_name_length, "
                  "--max-service-name-length)");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?ip=10.0.0.5&port=80&serviceName=s&groupName=" +
                                 std::string(513, 'g')),
                  400,
                  "Param 'groupName' is too long: 513 bytes (max 512, max_service_name_length, "
                  "--max-service-name-length)");
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kServiceNameTooLong), 3u);
  EXPECT_EQ(core_->stats().services, 1u);
}

TEST_F(NamingCoreTest, MetadataCapWithItsDefault) {
  const std::string at_cap = R"({"k":")" + std::string(16383, 'v') + "\"}";  // 16384 bytes.
  EXPECT_RESPONSE(Do("POST", std::string(kRegisterDemo) + "&metadata=" + UrlEncode(at_cap)), 200,
                  "ok");
  const std::string past_cap = R"({"k":")" + std::string(16384, 'v') + "\"}";
  EXPECT_RESPONSE(Do("POST", std::string(kRegisterDemo) + "&metadata=" + UrlEncode(past_cap)), 400,
                  "instance metadata too large: 16385 bytes of keys and values (max 16384, "
                  "max_metadata_bytes, --max-metadata-bytes)");
  EXPECT_EQ(Do("PUT", kBeatDemo +
                          UrlEncode(R"({"ip":"10.0.0.6","port":8080,"metadata":)" + past_cap + "}"))
                .status,
            400);
  EXPECT_RESPONSE(
      Do("POST", "/nacos/v1/ns/service?serviceName=G%40%40s&metadata=" + UrlEncode(past_cap)), 400,
      "service metadata too large: 16385 bytes of keys and values (max 16384, "
      "max_metadata_bytes, --max-metadata-bytes)");
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kMetadataTooLarge), 3u);
  EXPECT_EQ(core_->stats().instances, 1u);
  EXPECT_EQ(core_->stats().services, 1u);
}

TEST_F(NamingCoreTest, InstanceAndServiceCapsAreCountedApartFromOtherErrors) {
  NamingServerOptions options;
  options.max_instances_per_service = 2;
  options.max_services_per_namespace = 2;
  options.max_total_instances = 3;
  Start(options);
  ASSERT_EQ(Register("10.0.0.1", 80).status, 200);
  ASSERT_EQ(Register("10.0.0.2", 80).status, 200);  // At the service's cap.
  EXPECT_RESPONSE(Register("10.0.0.3", 80), 400,
                  "service DEFAULT_GROUP@@demo already holds 2 instances, the most allowed "
                  "(max_instances_per_service, --max-instances-per-service)");
  const std::string b = "/nacos/v1/ns/instance?serviceName=G%40%40b&port=80&ip=";
  ASSERT_EQ(Do("POST", b + "10.0.0.1").status, 200);  // At the server's cap.
  EXPECT_RESPONSE(Do("POST", b + "10.0.0.2"), 400,
                  "the server already holds 3 instances, the most allowed (max_total_instances, "
                  "--max-total-instances)");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/service?serviceName=G%40%40c"), 400,
                  "namespace public already holds 2 services, the most allowed "
                  "(max_services_per_namespace, --max-services-per-namespace)");
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/instance?serviceName=G%40%40b&port=80"), 400,
                  "Param 'ip' is required.");
  const ServerMetrics& metrics = core_->metrics();
  EXPECT_EQ(metrics.Rejected(RejectReason::kInstancesPerService), 1u);
  EXPECT_EQ(metrics.Rejected(RejectReason::kTotalInstances), 1u);
  EXPECT_EQ(metrics.Rejected(RejectReason::kServicesPerNamespace), 1u);
  EXPECT_EQ(metrics.Rejected(RejectReason::kInvalidParameter), 1u);
  EXPECT_EQ(core_->stats().instances, 3u);
  EXPECT_EQ(core_->stats().services, 2u);
}

// max_answer_bytes is judged on the store's estimate of the service's answer, which
// stats().bytes_held reports: a probe core gives the figures for one and two instances. The write
// that would take the service past it is refused; its readers and subscribers keep their answers.
TEST_F(NamingCoreTest, AnswerCapRefusesTheWriteNotTheReaders) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  const size_t one = core_->stats().bytes_held;
  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);
  const size_t two = core_->stats().bytes_held;
  ASSERT_GT(two, one);
  NamingServerOptions options;
  options.max_answer_bytes = one;
  Start(options);
  const size_t sent = sender_.count();

  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(core_->stats().bytes_held, one);
  const HttpResponse at_cap = Get(std::string(kListDemo) + "&udpPort=" + std::to_string(kUdpPort));
  EXPECT_EQ(at_cap.status, 200) << at_cap.body;
  EXPECT_LE(at_cap.body.size(), one);
  ASSERT_EQ(sender_.count(), sent + 1);  // The subscription's first push.

  const std::string message = "the list answer of service DEFAULT_GROUP@@demo would take about " +
                              std::to_string(two) + " bytes (max " + std::to_string(one) +
                              ", max_answer_bytes, --max-answer-bytes)";
  EXPECT_RESPONSE(Register("10.0.0.6", 8080), 400, message);
  EXPECT_RESPONSE(Do("PUT", kBeatDemo + UrlEncode(R"({"ip":"10.0.0.6","port":8080})")), 400,
                  message);  // A beat's re-registration too.
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kAnswerTooLarge), 2u);
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kInvalidParameter), 0u);
  EXPECT_EQ(core_->stats().instances, 1u);
  EXPECT_EQ(core_->stats().bytes_held, one);
  sched_.AdvanceBy(seconds(1));
  EXPECT_EQ(sender_.count(), sent + 1);  // Nothing changed, nothing pushed.
  const HttpResponse still = Get(kListDemo);
  EXPECT_EQ(still.status, 200);
  EXPECT_THAT(std::string(still.body_view()), ::testing::HasSubstr("10.0.0.5"));

  // The rendered answer is still measured: long echoed fields are not in the estimate.
  const std::string env(one, 'e');
  const HttpResponse echoed = Get(std::string(kListDemo) + "&env=" + env);
  EXPECT_EQ(echoed.status, 413);
  EXPECT_THAT(echoed.body, ::testing::StartsWith("list answer of DEFAULT_GROUP@@demo too large: "));
  EXPECT_EQ(Get("/nacos/v1/ns/instance/list?serviceName=G%40%40unknown&clusters=" + env).status,
            413);
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kAnswerTooLarge), 4u);
}

TEST_F(NamingCoreTest, NamespaceIdsFollowNacosRules) {
  const std::string register_in =
      "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.5&port=80&namespaceId=";
  EXPECT_EQ(Do("POST", register_in + "3f2a9c1e-0b7d-4c55-9e2a-1d2c3b4a5f60").status, 200);
  EXPECT_EQ(Do("POST", register_in + "dev_1").status, 200);
  EXPECT_EQ(Do("POST", register_in + std::string(64, 'n')).status, 200);
  const std::string message =
      "Param 'namespaceId' is illegal: at most 64 bytes of 0-9a-zA-Z_- allowed";
  EXPECT_RESPONSE(Do("POST", register_in + std::string(65, 'n')), 400, message);
  EXPECT_RESPONSE(Do("POST", register_in + "a.b"), 400, message);
  EXPECT_RESPONSE(Do("POST", register_in + "a%2Fb"), 400, message);
  EXPECT_RESPONSE(Get("/nacos/v1/ns/instance/list?serviceName=demo&namespaceId=%C3%A9"), 400,
                  message);
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kInvalidParameter), 4u);
  EXPECT_EQ(core_->stats().services, 3u);
}

TEST_F(NamingCoreTest, TotalServicesCapCountsServicesCreatedByTheServiceApi) {
  NamingServerOptions options;
  options.max_total_services = 2;
  Start(options);
  ASSERT_EQ(Do("POST", "/nacos/v1/ns/service?serviceName=a").status, 200);
  ASSERT_EQ(Do("POST", "/nacos/v1/ns/service?serviceName=b&namespaceId=dev").status, 200);
  EXPECT_RESPONSE(Do("POST", "/nacos/v1/ns/service?serviceName=c&namespaceId=other"), 400,
                  "the server already holds 2 services, the most allowed (max_total_services, "
                  "--max-total-services)");
  EXPECT_EQ(Register("10.0.0.5", 8080).status, 400);
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kTotalServices), 2u);
}

TEST_F(NamingCoreTest, ServiceListAnswerOverMaxAnswerBytesIs413) {
  const std::string list = "/nacos/v1/ns/service/list?pageNo=1&pageSize=100";
  auto fill = [&] {
    for (const char* name : {"alpha", "beta", "gamma"}) {
      ASSERT_EQ(Do("POST", std::string("/nacos/v1/ns/service?serviceName=") + name).status, 200);
    }
  };
  fill();
  const std::string body = Get(list).body;
  ASSERT_EQ(body, R"({"doms":["alpha","beta","gamma"],"count":3})");
  NamingServerOptions options;
  options.max_answer_bytes = body.size();
  Start(options);
  fill();
  EXPECT_RESPONSE(Get(list), 200, body);
  options.max_answer_bytes = body.size() - 1;
  Start(options);
  fill();
  EXPECT_RESPONSE(Get(list), 413,
                  "service list answer too large: " + std::to_string(body.size()) + " bytes (max " +
                      std::to_string(body.size() - 1) + ", max_answer_bytes, --max-answer-bytes)");
  options.max_answer_bytes = 30;  // Less than the names alone: refused before they are copied.
  Start(options);
  fill();
  EXPECT_RESPONSE(Get(list), 413,
                  "service list answer too large: at least 42 bytes (max 30, max_answer_bytes, "
                  "--max-answer-bytes)");
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kAnswerTooLarge), 1u);  // This core's.
}

TEST_F(NamingCoreTest, ServiceDetailOverMaxAnswerBytesIs413) {
  const std::string detail = "/nacos/v1/ns/service?serviceName=demo";
  ASSERT_EQ(Do("POST", detail).status, 200);
  const std::string body = Get(detail).body;
  ASSERT_THAT(body, HasSubstr(R"("clusters":[])"));
  NamingServerOptions options;
  options.max_answer_bytes = body.size();
  Start(options);
  ASSERT_EQ(Do("POST", detail).status, 200);  // A bare service is never refused by the cap.
  EXPECT_RESPONSE(Get(detail), 200, body);
  options.max_answer_bytes = body.size() - 1;
  Start(options);
  ASSERT_EQ(Do("POST", detail).status, 200);
  EXPECT_RESPONSE(Get(detail), 413,
                  "service answer of DEFAULT_GROUP@@demo too large: " +
                      std::to_string(body.size()) + " bytes (max " +
                      std::to_string(body.size() - 1) + ", max_answer_bytes, --max-answer-bytes)");
  EXPECT_EQ(core_->metrics().Rejected(RejectReason::kAnswerTooLarge), 1u);
}

// A service whose answer the store estimates above 20 UDP payloads is not rendered for a push: the
// push is counted as oversize and its subscribers poll. A small service is pushed as usual.
TEST_F(NamingCoreTest, PushSkipsAServiceTooLargeToRenderForADatagram) {
  // ~15 KB of metadata per instance: 90 instances take the estimate past 20 * 65,507 bytes.
  const std::string metadata =
      "&metadata=" + UrlEncode(R"({"k":")" + std::string(15000, 'm') + R"("})");
  for (int i = 0; i < 90; ++i) {
    ASSERT_EQ(Register("10.0.1." + std::to_string(i), 8080, metadata).status, 200);
  }
  ASSERT_GT(core_->stats().bytes_held, 20u * 65507u);
  ASSERT_EQ(Get(kTv6List).status, 200);  // Subscribes; the list answer itself is served.
  EXPECT_EQ(sender_.count(), 0u);
  EXPECT_EQ(core_->stats().pushes_oversize_skipped, 1u);
  ASSERT_EQ(Register("10.0.2.1", 8080).status, 200);  // A change: not pushed either.
  EXPECT_EQ(sender_.count(), 0u);
  EXPECT_EQ(core_->stats().pushes_oversize_skipped, 2u);

  ASSERT_EQ(Do("POST", "/nacos/v1/ns/instance?serviceName=small&ip=10.0.0.5&port=80").status, 200);
  ASSERT_EQ(Get("/nacos/v1/ns/instance/list?serviceName=small&udpPort=" + std::to_string(kUdpPort))
                .status,
            200);
  ASSERT_EQ(sender_.count(), 1u);
  EXPECT_EQ(Hosts(Decode(sender_.at(0)).data), (HostList{{"10.0.0.5", true}}));
  EXPECT_EQ(core_->stats().pushes_oversize_skipped, 2u);
}

TEST_F(NamingCoreTest, ACachedListAnswerIsSharedNotCopied) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  const HttpRequest request = MakeRequest("GET", kListDemo);
  const HttpResponse first = core_->Handle(request);
  const HttpResponse second = core_->Handle(request);
  ASSERT_NE(first.shared_body, nullptr);
  EXPECT_EQ(first.shared_body.get(), second.shared_body.get());
  EXPECT_TRUE(second.body.empty());
  EXPECT_EQ(second.body_view(), *first.shared_body);
  const std::string before = *first.shared_body;

  ASSERT_EQ(Register("10.0.0.6", 8080).status, 200);
  const HttpResponse third = core_->Handle(request);
  ASSERT_NE(third.shared_body, nullptr);
  EXPECT_NE(third.shared_body.get(), first.shared_body.get());
  EXPECT_EQ(Hosts(*third.shared_body), (HostList{{"10.0.0.5", true}, {"10.0.0.6", true}}));
  EXPECT_EQ(*first.shared_body, before);  // An answer already handed out never changes.
}

// The echoed fields are added per request to the data part, which every spelling of the same
// variant shares: the answers differ in those fields only, the checksum included.
TEST_F(NamingCoreTest, EchoedFieldsVaryPerRequestOverOneRenderedVariant) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  ASSERT_EQ(Register("10.0.0.6", 8080, "&clusterName=c2").status, 200);
  const std::string plain = Get(std::string(kListDemo) + "&clusters=DEFAULT").body;
  for (const std::string spelling : {"DEFAULT,", ",DEFAULT,DEFAULT"}) {
    for (const std::string env : {"", "prod", "q\"x"}) {
      const std::string body = Get(std::string(kListDemo) + "&clusters=" + UrlEncode(spelling) +
                                   "&env=" + UrlEncode(env))
                                   .body;
      std::string expected =
          ReplaceFirst(plain, "\"clusters\":\"DEFAULT\"", "\"clusters\":\"" + spelling + "\"");
      expected = ReplaceFirst(expected, "\"env\":\"\"",
                              "\"env\":\"" + (env == "q\"x" ? std::string("q\\\"x") : env) + "\"");
      EXPECT_EQ(body, expected) << spelling << " " << env;
    }
  }
  // The last spelling asked for does not displace the first one's answer.
  EXPECT_EQ(Get(std::string(kListDemo) + "&clusters=DEFAULT").body, plain);
  EXPECT_EQ(Hosts(plain), (HostList{{"10.0.0.5", true}}));
}

// Answers are dropped least recently used first: one asked for all along survives thousands of
// others (each service's answer is one entry), where clearing all on overflow would re-render it.
TEST_F(NamingCoreTest, KeptAnswersAreDroppedLeastRecentlyUsedFirst) {
  ASSERT_EQ(Register("10.0.0.5", 8080).status, 200);
  const HttpRequest hot = MakeRequest("GET", kListDemo);
  const HttpResponse first = core_->Handle(hot);
  ASSERT_NE(first.shared_body, nullptr);
  const HttpRequest cold = MakeRequest("GET", "/nacos/v1/ns/instance/list?serviceName=G%40%40s0");
  std::shared_ptr<const std::string> cold_first;  // Held: its address cannot be reused.
  for (int i = 0; i < 5000; ++i) {
    const std::string service = "G%40%40s" + std::to_string(i);
    ASSERT_EQ(Do("POST", "/nacos/v1/ns/instance?ip=10.0.0.1&port=80&serviceName=" + service).status,
              200);
    if (i == 0) {
      cold_first = core_->Handle(cold).shared_body;
      ASSERT_NE(cold_first, nullptr);
      // Kept: asked again at once, the same answer.
      ASSERT_EQ(core_->Handle(cold).shared_body, cold_first);
    } else {
      ASSERT_EQ(Get("/nacos/v1/ns/instance/list?serviceName=" + service).status, 200);
    }
    ASSERT_EQ(core_->Handle(hot).shared_body.get(), first.shared_body.get()) << i;
  }
  // The cold one was dropped: the same request (same revision) is rendered anew, and kept.
  const HttpResponse again = core_->Handle(cold);
  ASSERT_NE(again.shared_body, nullptr);
  EXPECT_NE(again.shared_body, cold_first);
  EXPECT_EQ(*again.shared_body, *cold_first);
  EXPECT_EQ(core_->Handle(cold).shared_body, again.shared_body);
}

}  // namespace
}  // namespace dubbo::naming_server
