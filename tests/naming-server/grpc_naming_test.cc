// Tests of the gRPC protocol core (GrpcNaming inside NamingCore): the Nacos 2.x gRPC test vectors
// as TEST(…, TvN…) cases, pushes (merging, acks, resends, supersession), connection lifecycle
// (detection, ejection, disconnect, reset) and the coexistence with the v1 HTTP API and its UDP
// pushes. No sockets: payloads go to NamingCore::grpc_handler() as the transport would hand them
// over, stream messages land in a recording GrpcSink, and time is a ManualScheduler. JSON is
// compared semantically (key order is not significant).
#include "grpc_naming.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "dubbo/registry/manual_scheduler.h"
#include "dubbo/registry/scheduler.h"
#include "grpc_types.h"
#include "http_types.h"
#include "nacos_grpc_vectors.h"
#include "naming_core.h"
#include "push_service.h"

namespace dubbo::naming_server {
namespace {

using nacos_grpc::kJavaSetup;
using nacos_grpc::kTv4Register;
using nacos_grpc::kTv6Subscribe;
using nacos_grpc::kTv8Body;
using nacos_grpc::kTv9Body;
using registry::ManualScheduler;
using std::chrono::milliseconds;
using std::chrono::seconds;

// The vectors' client: Java 2.5.1 at 10.0.0.9:54321, seen at wall time 1700000000000.
constexpr GrpcConnId kJava = 1;
constexpr GrpcConnId kRust = 2;
constexpr char kJavaId[] = "1700000000000_10.0.0.9_54321";

constexpr char kRustSetup[] =
    R"({"clientVersion":"Nacos-Rust-Client:0.8.0","abilities":{"remoteAbility":)"
    R"({"supportRemoteConnection":true},"configAbility":{"supportRemoteMetrics":true},)"
    R"("namingAbility":{"supportDeltaPush":false,"supportRemoteMetric":false}},"tenant":"public",)"
    R"("labels":{"AppName":"unknown","source":"sdk","module":"naming"},"headers":{},)"
    R"("requestId":null})";
constexpr char kTv5Register[] =
    R"({"type":"registerInstance","instance":{"instanceId":null,"ip":"10.0.0.6","port":9000,)"
    R"("weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":null,)"
    R"("serviceName":null,"metadata":{}},"headers":{},"requestId":"5","namespace":"public",)"
    R"("serviceName":"demo","groupName":"DEFAULT_GROUP"})";
constexpr char kTv7Host5[] =
    R"({"instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
    R"("weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
    R"("serviceName":"DEFAULT_GROUP@@demo","metadata":{"version":"1.0"},)"
    R"("instanceHeartBeatInterval":5000,"instanceHeartBeatTimeOut":15000,"ipDeleteTimeout":30000})";
constexpr char kTv5Host[] =
    R"({"instanceId":"10.0.0.6#9000#null#DEFAULT_GROUP@@demo","ip":"10.0.0.6","port":9000,)"
    R"("weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
    R"("serviceName":"DEFAULT_GROUP@@demo","metadata":{},"instanceHeartBeatInterval":5000,)"
    R"("instanceHeartBeatTimeOut":15000,"ipDeleteTimeout":30000,"instanceIdGenerator":"simple"})";

// `{"name":"demo",...,"hosts":[<hosts>],...}` with lastRefTime `ref`.
std::string ServiceInfo(const std::string& hosts, int64_t ref, const std::string& clusters = "") {
  return R"({"name":"demo","groupName":"DEFAULT_GROUP","clusters":")" + clusters +
         R"(","cacheMillis":10000,"hosts":[)" + hosts + R"(],"lastRefTime":)" +
         std::to_string(ref) +
         R"(,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true})";
}

std::unique_ptr<rapidjson::Document> Parse(const std::string& text) {
  auto doc = std::make_unique<rapidjson::Document>();
  doc->Parse(text.c_str(), text.size());
  EXPECT_FALSE(doc->HasParseError()) << text;
  return doc;
}

// Semantic JSON equality (numbers by value, objects regardless of key order).
::testing::AssertionResult JsonEq(const std::string& actual, const std::string& expected) {
  auto a = Parse(actual);
  auto e = Parse(expected);
  if (!a->HasParseError() && !e->HasParseError() && *a == *e) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "\n  actual:   " << actual << "\n  expected: " << expected;
}

// The integer `lastRefTime` of a serviceInfo inside `json` (at any of the two levels).
int64_t RefTime(const std::string& json) {
  auto doc = Parse(json);
  const rapidjson::Value& info = doc->HasMember("serviceInfo") ? (*doc)["serviceInfo"] : *doc;
  return info.HasMember("lastRefTime") ? info["lastRefTime"].GetInt64() : -1;
}

std::string StringField(const std::string& json, const char* name) {
  auto doc = Parse(json);
  return doc->IsObject() && doc->HasMember(name) && (*doc)[name].IsString()
             ? (*doc)[name].GetString()
             : std::string();
}

// Ports of the hosts of the serviceInfo in a push or an answer.
std::vector<int> Ports(const std::string& json) {
  std::vector<int> ports;
  auto doc = Parse(json);
  const rapidjson::Value& info = doc->HasMember("serviceInfo") ? (*doc)["serviceInfo"] : *doc;
  for (const auto& host : info["hosts"].GetArray()) ports.push_back(host["port"].GetInt());
  return ports;
}

struct Sent {
  GrpcConnId conn;
  GrpcMessage message;
};

class RecordingSink : public GrpcSink {
 public:
  void SendOnStream(GrpcConnId conn, std::shared_ptr<const GrpcMessage> message) override {
    sent.push_back(Sent{conn, *message});
  }
  void Close(GrpcConnId conn) override { closed.push_back(conn); }

  std::vector<Sent> sent;
  std::vector<GrpcConnId> closed;
};

class RecordingUdp : public UdpSender {
 public:
  void Send(const UdpEndpoint&, std::string_view datagram) override {
    datagrams.emplace_back(datagram);
  }
  std::vector<std::string> datagrams;
};

class GrpcNamingTest : public ::testing::Test {
 protected:
  explicit GrpcNamingTest(bool auth = false) {
    options_.auth_enabled = auth;
    options_.password = "secret";
    options_.token_ttl_seconds = 10;  // Expires while a connection is still active.
    core_ = std::make_unique<NamingCore>(options_, &sched_, &sched_, &udp_);
    core_->SetGrpcSink(&sink_);
    grpc_ = core_->grpc_handler();
  }
  ~GrpcNamingTest() override { core_->Shutdown(); }

  // A new core with the current options_ (no connections).
  void Rebuild() {
    core_->Shutdown();
    core_ = std::make_unique<NamingCore>(options_, &sched_, &sched_, &udp_);
    core_->SetGrpcSink(&sink_);
    grpc_ = core_->grpc_handler();
    sink_.sent.clear();
  }
  // A SubscribeServiceRequest (subscribe true) for `service` in `ns`.
  GrpcMessage Subscribe(GrpcConnId conn, const std::string& service,
                        const std::string& ns = "public") {
    return Unary(conn, "SubscribeServiceRequest",
                 R"({"namespace":")" + ns + R"(","serviceName":")" + service +
                     R"(","groupName":"DEFAULT_GROUP","subscribe":true,"clusters":""})");
  }

  GrpcMessage Unary(GrpcConnId conn, const std::string& type, const std::string& body,
                    std::map<std::string, std::string> headers = {}) {
    GrpcMessage request;
    request.type = type;
    request.client_ip = "10.0.0.9";
    request.headers = std::move(headers);
    request.body = body;
    return grpc_->OnUnary(conn, request);
  }
  void Stream(GrpcConnId conn, const std::string& type, const std::string& body) {
    GrpcMessage message;
    message.type = type;
    message.client_ip = "10.0.0.9";
    message.body = body;
    grpc_->OnStreamMessage(conn, message);
  }
  // A Java client: connected and set up, its SetupAck consumed.
  void Java(GrpcConnId conn = kJava, uint16_t port = 54321) {
    grpc_->OnConnect(conn, "10.0.0.9", port);
    Stream(conn, "ConnectionSetupRequest", kJavaSetup);
    sink_.sent.clear();
  }
  void Rust(GrpcConnId conn = kRust) {
    grpc_->OnConnect(conn, "10.0.0.10", 40000);
    Stream(conn, "ConnectionSetupRequest", kRustSetup);
  }
  // Messages of `type` sent to `conn`, in order; cleared from the record.
  std::vector<std::string> Take(GrpcConnId conn, const std::string& type) {
    std::vector<std::string> bodies;
    std::vector<Sent> rest;
    for (Sent& sent : sink_.sent) {
      if (sent.conn == conn && sent.message.type == type) {
        bodies.push_back(sent.message.body);
      } else {
        rest.push_back(std::move(sent));
      }
    }
    sink_.sent = std::move(rest);
    return bodies;
  }
  void Ack(GrpcConnId conn, const std::string& push) {
    Stream(conn, "NotifySubscriberResponse",
           R"({"resultCode":200,"errorCode":0,"requestId":")" + StringField(push, "requestId") +
               R"(","success":true})");
  }
  HttpResponse Http(const std::string& method, std::string_view target) {
    HttpRequest request;
    request.method = method;
    const size_t q = target.find('?');
    request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) {
      EXPECT_TRUE(ParseFormEncoded(target.substr(q + 1), &request.params).ok());
    }
    request.user_agent = "Nacos-Java-Client:v1.4.8";
    request.peer_ip = "127.0.0.1";
    request.peer_port = 40000;
    HttpResponse response = core_->Handle(request);
    if (response.shared_body) response.body = *response.shared_body;
    return response;
  }
  std::string Register(GrpcConnId conn, const std::string& body = kTv4Register) {
    return Unary(conn, "InstanceRequest", body).body;
  }

  ManualScheduler sched_;  // Wall time starts at 1700000000000.
  NamingServerOptions options_;
  RecordingSink sink_;
  RecordingUdp udp_;
  std::unique_ptr<NamingCore> core_;
  GrpcHandler* grpc_ = nullptr;
};

// ---- connections -------------------------------------------------------------------------------

TEST_F(GrpcNamingTest, Tv1ServerCheckBeforeSetup) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  GrpcMessage answer = Unary(kJava, "ServerCheckRequest", R"({"headers":{},"module":"internal"})");
  EXPECT_EQ(answer.type, "ServerCheckResponse");
  EXPECT_TRUE(
      JsonEq(answer.body, std::string(R"({"resultCode":200,"errorCode":0,"connectionId":")") +
                              kJavaId + R"(","supportAbilityNegotiation":true,"success":true})"));
  EXPECT_EQ(answer.client_ip, "");
}

TEST_F(GrpcNamingTest, Tv2JavaSetupGetsSetupAck) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  Stream(kJava, "ConnectionSetupRequest", kJavaSetup);
  const std::vector<std::string> acks = Take(kJava, "SetupAckRequest");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(JsonEq(acks[0], R"({"headers":{},"abilityTable":{"supportPersistentInstanceByGrpc":)"
                              R"(true},"module":"internal"})"));
  EXPECT_EQ(core_->grpc_stats().registered, 1u);
  // A second setup changes nothing and is not acked again.
  Stream(kJava, "ConnectionSetupRequest", kJavaSetup);
  EXPECT_TRUE(Take(kJava, "SetupAckRequest").empty());
  EXPECT_EQ(core_->grpc_stats().setups, 1u);
}

TEST_F(GrpcNamingTest, Tv3RustSetupFirstWithoutSetupAck) {
  grpc_->OnConnect(kRust, "10.0.0.10", 40000);
  // Before its setup, a health check is refused as unregistered.
  EXPECT_TRUE(JsonEq(Unary(kRust, "HealthCheckRequest", R"({"headers":{},"requestId":null})").body,
                     kTv8Body));
  Stream(kRust, "ConnectionSetupRequest", kRustSetup);
  EXPECT_TRUE(sink_.sent.empty());  // Legacy `abilities`: no SetupAck.
  GrpcMessage health = Unary(kRust, "HealthCheckRequest", R"({"headers":{},"requestId":null})");
  EXPECT_EQ(health.type, "HealthCheckResponse");
  EXPECT_TRUE(JsonEq(health.body, R"({"resultCode":200,"errorCode":0,"success":true})"));
  GrpcMessage check = Unary(kRust, "ServerCheckRequest", R"({"headers":{},"requestId":"3"})");
  EXPECT_EQ(StringField(check.body, "connectionId"), "1700000000000_10.0.0.10_40000");
}

TEST_F(GrpcNamingTest, Tv8RequestBeforeSetup) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  for (const char* type : {"HealthCheckRequest", "InstanceRequest"}) {
    GrpcMessage answer = Unary(kJava, type, kTv4Register);
    EXPECT_EQ(answer.type, "ErrorResponse");
    EXPECT_TRUE(JsonEq(answer.body, kTv8Body));
  }
  // A transport the core never saw is unregistered too.
  EXPECT_TRUE(JsonEq(Unary(99, "HealthCheckRequest", "{}").body, kTv8Body));
}

TEST_F(GrpcNamingTest, Tv9UnknownTypeBeforeAndAfterSetup) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  EXPECT_TRUE(JsonEq(Unary(kJava, "FooRequest", "{}").body, kTv9Body));
  Stream(kJava, "ConnectionSetupRequest", kJavaSetup);
  EXPECT_TRUE(JsonEq(Unary(kJava, "FooRequest", "not even json").body, kTv9Body));
  EXPECT_TRUE(JsonEq(Unary(kJava, "ConnectionSetupRequest", kJavaSetup).body, kTv9Body));
}

TEST_F(GrpcNamingTest, BrokenJsonIs502) {
  Java();
  GrpcMessage answer = Unary(kJava, "InstanceRequest", R"({"instance":)");
  EXPECT_EQ(answer.type, "ErrorResponse");
  auto doc = Parse(answer.body);
  EXPECT_EQ((*doc)["resultCode"].GetInt(), 500);
  EXPECT_EQ((*doc)["errorCode"].GetInt(), 502);
  // Numbers out of range and non-finite are refused the same way, as is deep nesting.
  for (const std::string& body :
       {std::string(R"({"instance":{"port":1e10}})"),
        std::string(R"({"instance":{"weight":1e999}})"),
        std::string(R"({"instance":{"metadata":{"a":{}}}})"),
        std::string(40, '[') + "1" + std::string(40, ']'), std::string("\"\xff\"")}) {
    auto refused = Parse(Unary(kJava, "InstanceRequest", body).body);
    EXPECT_EQ((*refused)["errorCode"].GetInt(), 502) << body;
  }
}

// ---- naming requests ---------------------------------------------------------------------------

TEST_F(GrpcNamingTest, Tv4RegisterJava) {
  Java();
  GrpcMessage answer = Unary(kJava, "InstanceRequest", kTv4Register, {{"app", "unknown"}});
  EXPECT_EQ(answer.type, "InstanceResponse");
  EXPECT_TRUE(JsonEq(
      answer.body, R"({"resultCode":200,"errorCode":0,"type":"registerInstance","success":true})"));
  GrpcMessage query = Unary(kJava, "ServiceQueryRequest",
                            R"({"namespace":"public","serviceName":"demo","groupName":)"
                            R"("DEFAULT_GROUP","cluster":"","healthyOnly":false})");
  EXPECT_EQ(query.type, "QueryServiceResponse");
  const std::string expected = R"({"resultCode":200,"errorCode":0,"serviceInfo":)" +
                               ServiceInfo(kTv7Host5, RefTime(query.body)) + R"(,"success":true})";
  EXPECT_TRUE(JsonEq(query.body, expected));
  EXPECT_NE(query.body.find(R"("weight":1.0)"), std::string::npos);  // Java's double text.
}

TEST_F(GrpcNamingTest, Tv5RegisterRustWithoutClusterAndTv7PushAck) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Take(kJava, "NotifySubscriberRequest");
  Register(kJava);
  std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  Ack(kJava, pushes[0]);
  sched_.AdvanceBy(seconds(1));  // Past the merging window.
  Rust();
  EXPECT_TRUE(
      JsonEq(Register(kRust, kTv5Register),
             R"({"resultCode":200,"errorCode":0,"type":"registerInstance","success":true})"));
  pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  const std::string id = StringField(pushes[0], "requestId");
  EXPECT_FALSE(id.empty());
  EXPECT_TRUE(JsonEq(pushes[0],
                     R"({"headers":{},"requestId":")" + id + R"(","serviceInfo":)" +
                         ServiceInfo(std::string(kTv7Host5) + "," + kTv5Host, RefTime(pushes[0])) +
                         R"(,"module":"naming"})"));
  // The TV7 Java ack completes it: nothing is resent.
  Stream(kJava, "NotifySubscriberResponse",
         R"({"resultCode":200,"errorCode":0,"requestId":")" + id + R"(","success":true})");
  sched_.AdvanceBy(seconds(10));
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  EXPECT_EQ(core_->grpc_stats().pushes_acked, 2u);
}

TEST_F(GrpcNamingTest, Tv6SubscribeAnswersAndPushesTheCurrentData) {
  Java();
  Register(kJava);
  GrpcMessage answer = Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  EXPECT_EQ(answer.type, "SubscribeServiceResponse");
  EXPECT_TRUE(JsonEq(answer.body, R"({"resultCode":200,"errorCode":0,"message":"success",)"
                                  R"("serviceInfo":)" +
                                      ServiceInfo(kTv7Host5, RefTime(answer.body)) +
                                      R"(,"success":true})"));
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(Ports(pushes[0]), std::vector<int>{8080});
  // An unknown service: the same shape with no hosts.
  GrpcMessage unknown = Unary(kJava, "SubscribeServiceRequest",
                              R"({"namespace":"public","serviceName":"nope","groupName":)"
                              R"("DEFAULT_GROUP","subscribe":true,"clusters":""})");
  EXPECT_TRUE(Ports(unknown.body).empty());
  // Subscribing again to the same service pushes nothing more; unsubscribing answers the same.
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  EXPECT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);  // nope's first push only
  GrpcMessage off = Unary(kJava, "SubscribeServiceRequest",
                          R"({"namespace":"public","serviceName":"demo","groupName":)"
                          R"("DEFAULT_GROUP","subscribe":false,"clusters":""})");
  EXPECT_EQ(StringField(off.body, "message"), "success");
  Register(kJava, R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
                  R"("type":"deregisterInstance","instance":{"ip":"10.0.0.5","port":8080}})");
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
}

TEST_F(GrpcNamingTest, SubscriptionsAreCappedPerConnectionAndInTotal) {
  options_.grpc_max_subscriptions_per_connection = 2;
  options_.grpc_max_subscriptions = 3;
  Rebuild();
  Java();
  EXPECT_EQ(StringField(Subscribe(kJava, "a").body, "message"), "success");
  EXPECT_EQ(StringField(Subscribe(kJava, "b").body, "message"), "success");
  // A third service on the same connection is refused and not kept.
  GrpcMessage refused = Subscribe(kJava, "c");
  EXPECT_EQ(refused.type, "SubscribeServiceResponse");
  EXPECT_TRUE(JsonEq(refused.body, R"({"resultCode":500,"errorCode":500,"message":)"
                                   R"("too many subscriptions: a connection may hold 2",)"
                                   R"("success":false})"));
  // Renewing an existing subscription is answered.
  EXPECT_EQ(StringField(Subscribe(kJava, "a").body, "message"), "success");
  Java(3, 54322);
  EXPECT_EQ(StringField(Subscribe(3, "c").body, "message"), "success");
  // The server holds 3: a fourth is refused on any connection.
  EXPECT_EQ(StringField(Subscribe(3, "d").body, "message"),
            "too many subscriptions: the server holds at most 3");
  EXPECT_EQ(core_->grpc_stats().subscriptions, 3u);
  EXPECT_EQ(core_->grpc_stats().subscriptions_refused, 2u);
  // Unsubscribing and disconnecting free their places.
  Unary(kJava, "SubscribeServiceRequest",
        R"({"namespace":"public","serviceName":"a","groupName":"DEFAULT_GROUP",)"
        R"("subscribe":false,"clusters":""})");
  EXPECT_EQ(StringField(Subscribe(3, "d").body, "message"), "success");
  grpc_->OnDisconnect(3);
  EXPECT_EQ(StringField(Subscribe(kJava, "e").body, "message"), "success");
  EXPECT_EQ(core_->grpc_stats().subscriptions, 2u);
}

TEST_F(GrpcNamingTest, AnEmptyNamespaceSubscribesToPublic) {
  Java();
  EXPECT_EQ(StringField(Subscribe(kJava, "demo", "").body, "message"), "success");
  EXPECT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);  // The first push.
  Register(kJava);  // In "public".
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(Ports(pushes[0]), std::vector<int>{8080});
}

TEST_F(GrpcNamingTest, AnswersAndPushesOverTheMessageLimitAreNotSent) {
  options_.grpc_max_message_bytes = 1000;  // One plain host fits, one with 1000 bytes does not.
  Rebuild();
  Java();
  Register(kJava);
  ASSERT_EQ(StringField(Subscribe(kJava, "demo").body, "message"), "success");
  ASSERT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);
  const std::string big = "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=10.0.0.7"
                          "&port=1&metadata=k%3D" +
                          std::string(1000, 'x');
  ASSERT_EQ(Http("POST", big).status, 200);
  // The push is skipped and counted; nothing is outstanding.
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  EXPECT_EQ(core_->grpc_stats().pushes_oversize_skipped, 1u);
  // Answers become failures naming the limit, and no subscription is created.
  GrpcMessage query = Unary(kJava, "ServiceQueryRequest",
                            R"({"namespace":"public","serviceName":"demo",)"
                            R"("groupName":"DEFAULT_GROUP","cluster":"","healthyOnly":false})");
  EXPECT_EQ(query.type, "QueryServiceResponse");
  EXPECT_NE(StringField(query.body, "message").find("exceeds the gRPC message limit of 1000 bytes"),
            std::string::npos)
      << query.body;
  Java(3, 54322);
  GrpcMessage sub = Subscribe(3, "demo");
  EXPECT_EQ(sub.type, "SubscribeServiceResponse");
  EXPECT_NE(StringField(sub.body, "message").find("limit of 1000 bytes"), std::string::npos)
      << sub.body;
  EXPECT_TRUE(Take(3, "NotifySubscriberRequest").empty());
  EXPECT_EQ(core_->grpc_stats().subscriptions, 1u);
  // Once the data fits again it is pushed.
  sched_.AdvanceBy(seconds(1));
  ASSERT_EQ(Http("DELETE", big).status, 200);
  sched_.AdvanceBy(seconds(1));
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(Ports(pushes[0]), std::vector<int>{8080});
}

TEST_F(GrpcNamingTest, AResendOfAnEndedSubscriptionDoesNotReachItsSuccessor) {
  Java();
  Subscribe(kJava, "demo");
  const std::vector<std::string> first = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(first.size(), 1u);
  // A failed ack schedules a resend of that push in 1 s.
  Stream(kJava, "NotifySubscriberResponse",
         R"({"resultCode":500,"errorCode":0,"requestId":")" + StringField(first[0], "requestId") +
             R"(","success":false})");
  Unary(kJava, "SubscribeServiceRequest",
        R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
        R"("subscribe":false,"clusters":""})");
  Subscribe(kJava, "demo");
  ASSERT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);
  // The new push is within its 5 s ack timeout: nothing is resent.
  sched_.AdvanceBy(seconds(2));
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  EXPECT_EQ(core_->grpc_stats().push_resends, 0u);
}

TEST_F(GrpcNamingTest, Tv10UnsupportedInstanceRequestType) {
  Java();
  std::string body = kTv4Register;
  body.replace(body.find("registerInstance"), 16, "updateInstance");
  GrpcMessage answer = Unary(kJava, "InstanceRequest", body);
  EXPECT_EQ(answer.type, "ErrorResponse");
  EXPECT_TRUE(JsonEq(answer.body, R"({"resultCode":400,"errorCode":400,"message":)"
                                  R"("Unsupported request type updateInstance","success":false})"));
}

TEST_F(GrpcNamingTest, Tv11MissingServiceOrGroupName) {
  Java();
  std::string body = kTv4Register;
  body.replace(body.find(R"("serviceName":"demo",)"), 21, "");
  EXPECT_TRUE(JsonEq(Register(kJava, body),
                     R"({"resultCode":500,"errorCode":500,"message":"Param 'serviceName' is )"
                     R"(illegal, serviceName is blank","success":false})"));
  body = kTv4Register;
  body.replace(body.find(R"("groupName":"DEFAULT_GROUP",)"), 28, "");
  EXPECT_TRUE(JsonEq(Register(kJava, body),
                     R"({"resultCode":500,"errorCode":500,"message":"Param 'groupName' is )"
                     R"(illegal, groupName is blank","success":false})"));
}

std::string WithCluster(const std::string& cluster) {
  std::string body = kTv4Register;
  body.replace(body.find(R"("clusterName":"DEFAULT")"), 23, R"("clusterName":")" + cluster + "\"");
  return body;
}

TEST_F(GrpcNamingTest, Tv12ClusterNames) {
  Java();
  GrpcMessage underscore = Unary(kJava, "InstanceRequest", WithCluster("c_1"));
  EXPECT_EQ(underscore.type, "ErrorResponse");
  EXPECT_TRUE(JsonEq(underscore.body,
                     R"({"resultCode":400,"errorCode":400,"message":"Instance 'clusterName' )"
                     R"j(should be characters with only 0-9a-zA-Z-. (current: c_1)","success":)j"
                     R"(false})"));
  GrpcMessage space = Unary(kJava, "InstanceRequest", WithCluster("c 1"));
  EXPECT_EQ(space.type, "InstanceResponse");
  EXPECT_TRUE(JsonEq(space.body,
                     R"({"resultCode":500,"errorCode":400,"message":"Param check invalid:Param )"
                     R"('cluster' is illegal, illegal characters should not appear in the )"
                     R"(param.","success":false})"));
  EXPECT_EQ(core_->stats().instances, 0u);
}

TEST_F(GrpcNamingTest, Tv13PortRangeAndHeartBeatMetadata) {
  Java();
  std::string body = kTv4Register;
  body.replace(body.find(R"("port":8080)"), 11, R"("port":70000)");
  GrpcMessage port = Unary(kJava, "InstanceRequest", body);
  EXPECT_EQ(port.type, "InstanceResponse");
  EXPECT_TRUE(JsonEq(port.body,
                     R"({"resultCode":500,"errorCode":400,"message":"Param check invalid:Param )"
                     R"('port' is illegal, the value should be between 0 and 65535.",)"
                     R"("success":false})"));
  body = kTv4Register;
  body.replace(body.find(R"({"version":"1.0"})"), 17,
               R"({"preserved.heart.beat.interval":"20000"})");
  GrpcMessage beat = Unary(kJava, "InstanceRequest", body);
  EXPECT_EQ(beat.type, "ErrorResponse");
  EXPECT_TRUE(JsonEq(beat.body,
                     R"({"resultCode":400,"errorCode":400,"message":"Instance 'heart beat )"
                     R"(interval' must less than 'heart beat timeout' and 'ip delete timeout'.",)"
                     R"("success":false})"));
}

TEST_F(GrpcNamingTest, Tv14WeightIsNotRangeChecked) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Take(kJava, "NotifySubscriberRequest");
  std::string body = kTv4Register;
  body.replace(body.find(R"("weight":1.0)"), 12, R"("weight":10001)");
  EXPECT_NE(Register(kJava, body).find(R"("success":true)"), std::string::npos);
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_NE(pushes[0].find(R"("weight":10001.0)"), std::string::npos) << pushes[0];
}

TEST_F(GrpcNamingTest, Tv17BatchReplacesTheConnectionsRecord) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Take(kJava, "NotifySubscriberRequest");
  const std::string batch =
      R"({"headers":{},"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
      R"("type":"batchRegisterInstance","instances":[{"ip":"10.0.0.5","port":8080,)"
      R"("clusterName":"DEFAULT"},{"ip":"10.0.0.5","port":8081,"clusterName":"DEFAULT"}],)"
      R"("module":"naming"})";
  GrpcMessage answer = Unary(kJava, "BatchInstanceRequest", batch);
  EXPECT_EQ(answer.type, "BatchInstanceResponse");
  EXPECT_TRUE(JsonEq(answer.body, R"({"resultCode":200,"errorCode":0,)"
                                  R"("type":"batchRegisterInstance","success":true})"));
  std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(Ports(pushes[0]), (std::vector<int>{8080, 8081}));
  sched_.AdvanceBy(seconds(1));
  std::string single = kTv4Register;
  single.replace(single.find(R"("port":8080)"), 11, R"("port":8082)");
  Register(kJava, single);
  pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(Ports(pushes[0]), std::vector<int>{8082});
  std::string wrong = batch;
  wrong.replace(wrong.find("batchRegisterInstance"), 21, "registerInstance");
  EXPECT_TRUE(JsonEq(Unary(kJava, "BatchInstanceRequest", wrong).body,
                     R"({"resultCode":400,"errorCode":400,"message":"Unsupported request type )"
                     R"(registerInstance","success":false})"));
}

TEST_F(GrpcNamingTest, Tv19SetupWithoutModuleNaming) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  Stream(kJava, "ConnectionSetupRequest", R"({"labels":{"source":"sdk"}})");
  GrpcMessage answer = Unary(kJava, "InstanceRequest", kTv4Register);
  EXPECT_EQ(answer.type, "ErrorResponse");
  EXPECT_TRUE(JsonEq(answer.body,
                     std::string(R"({"resultCode":-401,"errorCode":-401,"message":"errCode: -401, )"
                                 R"(errMsg: Client [)") +
                         kJavaId +
                         R"(] connection already disconnect, can't register ephemeral instance. ",)"
                         R"("success":false})"));
}

TEST_F(GrpcNamingTest, Tv20ServiceList) {
  Java();
  Register(kJava);
  const std::string list =
      R"({"headers":{},"namespace":"public","serviceName":"","groupName":"DEFAULT_GROUP",)"
      R"("pageNo":1,"pageSize":10,"module":"naming"})";
  GrpcMessage answer = Unary(kJava, "ServiceListRequest", list);
  EXPECT_EQ(answer.type, "ServiceListResponse");
  EXPECT_TRUE(JsonEq(answer.body,
                     R"({"resultCode":200,"errorCode":0,"count":1,"serviceNames":["demo"],)"
                     R"("success":true})"));
  std::string page2 = list;
  page2.replace(page2.find(R"("pageNo":1)"), 10, R"("pageNo":2)");
  EXPECT_TRUE(JsonEq(Unary(kJava, "ServiceListRequest", page2).body,
                     R"({"resultCode":200,"errorCode":0,"count":1,"serviceNames":[],)"
                     R"("success":true})"));
}

TEST_F(GrpcNamingTest, PersistentInstanceIsNotBoundToTheConnection) {
  Java();
  std::string body = kTv4Register;
  GrpcMessage answer = Unary(kJava, "PersistentInstanceRequest", body);
  EXPECT_EQ(answer.type, "InstanceResponse");
  EXPECT_NE(answer.body.find(R"("success":true)"), std::string::npos);
  grpc_->OnDisconnect(kJava);
  HttpResponse list = Http("GET", "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo");
  EXPECT_NE(list.body.find(R"("ephemeral":false)"), std::string::npos) << list.body;
}

TEST_F(GrpcNamingTest, QueryHonoursClusterAndHealthyOnly) {
  Java();
  const std::string batch =
      R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
      R"("type":"batchRegisterInstance","instances":[{"ip":"10.0.0.5","port":1,"clusterName":)"
      R"("a"},{"ip":"10.0.0.5","port":2,"clusterName":"b","healthy":false},{"ip":"10.0.0.5",)"
      R"("port":3,"clusterName":"b"},{"ip":"10.0.0.5","port":4,"clusterName":"b","enabled":false}]})";
  ASSERT_NE(Unary(kJava, "BatchInstanceRequest", batch).body.find(R"("success":true)"),
            std::string::npos);
  auto query = [&](const std::string& cluster, bool healthy_only) {
    return Ports(Unary(kJava, "ServiceQueryRequest",
                       R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
                       R"("cluster":")" +
                           cluster + R"(","healthyOnly":)" + (healthy_only ? "true" : "false") +
                           "}")
                     .body);
  };
  EXPECT_EQ(query("", false), (std::vector<int>{1, 3, 2}));
  EXPECT_EQ(query("b", false), (std::vector<int>{3, 2}));
  EXPECT_EQ(query("b", true), std::vector<int>{3});
}

// ---- auth --------------------------------------------------------------------------------------

class GrpcNamingAuthTest : public GrpcNamingTest {
 protected:
  GrpcNamingAuthTest() : GrpcNamingTest(true) {}
  std::string Login() {
    HttpResponse login = Http("POST", "/nacos/v1/auth/users/login?username=nacos&password=secret");
    EXPECT_EQ(login.status, 200) << login.body;
    return StringField(login.body, "accessToken");
  }
};

TEST_F(GrpcNamingAuthTest, Tv18TokensFromTheV1Login) {
  Java();
  auto refused = [](const std::string& message) {
    return R"({"resultCode":500,"errorCode":403,"message":")" + message + R"(","success":false})";
  };
  GrpcMessage missing = Unary(kJava, "InstanceRequest", kTv4Register);
  EXPECT_EQ(missing.type, "InstanceResponse");
  EXPECT_TRUE(JsonEq(missing.body, refused("user not found!")));
  EXPECT_TRUE(JsonEq(Unary(kJava, "InstanceRequest", kTv4Register, {{"accessToken", "bogus"}}).body,
                     refused("token invalid!")));
  GrpcMessage query = Unary(kJava, "ServiceQueryRequest", kTv6Subscribe);
  EXPECT_EQ(query.type, "QueryServiceResponse");
  EXPECT_TRUE(JsonEq(query.body, refused("user not found!")));
  // Not secured: health checks and server checks.
  EXPECT_EQ(Unary(kJava, "HealthCheckRequest", "{}").type, "HealthCheckResponse");
  const std::string token = Login();
  ASSERT_FALSE(token.empty());
  EXPECT_NE(Unary(kJava, "InstanceRequest", kTv4Register, {{"ACCESSTOKEN", token}})
                .body.find(R"("success":true)"),
            std::string::npos);
  EXPECT_NE(Unary(kJava, "InstanceRequest", kTv4Register, {{"authorization", "Bearer " + token}})
                .body.find(R"("success":true)"),
            std::string::npos);
  sched_.AdvanceBy(seconds(options_.token_ttl_seconds));
  EXPECT_TRUE(JsonEq(Unary(kJava, "InstanceRequest", kTv4Register, {{"accessToken", token}}).body,
                     refused("token expired!")));
}

// ---- pushes ------------------------------------------------------------------------------------

TEST_F(GrpcNamingTest, BurstIsMergedWithinPushDelay) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Take(kJava, "NotifySubscriberRequest");
  sched_.AdvanceBy(seconds(1));
  Rust();
  Register(kRust, kTv5Register);  // Isolated: pushed at once.
  EXPECT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);
  Register(kJava);  // Within push_delay of that push: merged.
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  sched_.AdvanceBy(milliseconds(options_.push_delay_ms));
  const std::vector<std::string> merged = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(Ports(merged[0]), (std::vector<int>{8080, 9000}));
  EXPECT_EQ(core_->grpc_stats().changes_merged, 1u);
}

TEST_F(GrpcNamingTest, UnackedPushIsResentWithANewRequestId) {
  Java();
  Register(kJava);
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  const std::vector<std::string> first = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(first.size(), 1u);
  sched_.AdvanceBy(milliseconds(options_.grpc_ack_timeout_ms + options_.grpc_resend_delay_ms - 1));
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  sched_.AdvanceBy(milliseconds(1));
  const std::vector<std::string> resent = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_NE(StringField(resent[0], "requestId"), StringField(first[0], "requestId"));
  EXPECT_EQ(Ports(resent[0]), Ports(first[0]));
  EXPECT_EQ(RefTime(resent[0]), RefTime(first[0]));
  // A late ack of the first transmission does not count; the second's does and stops resends.
  Ack(kJava, first[0]);
  Ack(kJava, resent[0]);
  sched_.AdvanceBy(seconds(20));
  EXPECT_TRUE(Take(kJava, "NotifySubscriberRequest").empty());
  const GrpcNamingStats stats = core_->grpc_stats();
  EXPECT_EQ(stats.push_resends, 1u);
  EXPECT_EQ(stats.pushes_acked, 1u);
}

TEST_F(GrpcNamingTest, FailedAckIsResentAfterTheResendDelay) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  const std::vector<std::string> first = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(first.size(), 1u);
  Stream(kJava, "NotifySubscriberResponse",
         R"({"resultCode":500,"errorCode":-500,"requestId":")" +
             StringField(first[0], "requestId") + R"("})");
  sched_.AdvanceBy(milliseconds(options_.grpc_resend_delay_ms));
  EXPECT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);
}

TEST_F(GrpcNamingTest, NewerPushSupersedesAnOutstandingOne) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  ASSERT_EQ(Take(kJava, "NotifySubscriberRequest").size(), 1u);  // Empty list, never acked.
  sched_.AdvanceBy(milliseconds(100));
  Register(kJava);
  const std::vector<std::string> newer = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(newer.size(), 1u);
  sched_.AdvanceBy(seconds(7));
  // Only the newer data is resent, once per timeout.
  const std::vector<std::string> resent = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(resent.size(), 1u);
  EXPECT_EQ(Ports(resent[0]), std::vector<int>{8080});
  EXPECT_EQ(core_->grpc_stats().pushes_superseded, 1u);
}

TEST_F(GrpcNamingTest, Tv21V1AndGrpcSeeEachOther) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Take(kJava, "NotifySubscriberRequest");
  Register(kJava);
  Take(kJava, "NotifySubscriberRequest");
  sched_.AdvanceBy(seconds(1));
  // A v1 UDP subscriber (a list with udpPort) sees the gRPC instance.
  HttpResponse list = Http("GET",
                           "/nacos/v1/ns/instance/list?serviceName=DEFAULT_GROUP%40%40demo&"
                           "udpPort=55963&clientIP=127.0.0.1");
  EXPECT_NE(list.body.find(R"("name":"DEFAULT_GROUP@@demo")"), std::string::npos) << list.body;
  EXPECT_NE(list.body.find(R"("ip":"10.0.0.5")"), std::string::npos) << list.body;
  udp_.datagrams.clear();
  // A v1 registration reaches the gRPC subscriber, and the UDP one.
  HttpResponse v1 = Http("POST", "/nacos/v1/ns/instance?serviceName=demo&ip=10.0.0.7&port=8080");
  EXPECT_EQ(v1.status, 200) << v1.body;
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_NE(pushes[0].find(R"("ip":"10.0.0.7")"), std::string::npos) << pushes[0];
  EXPECT_NE(pushes[0].find(R"("name":"demo")"), std::string::npos);
  EXPECT_EQ(udp_.datagrams.size(), 1u);
  // A gRPC change reaches the UDP subscriber.
  sched_.AdvanceBy(seconds(1));
  udp_.datagrams.clear();
  Register(kJava, R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
                  R"("type":"deregisterInstance","instance":{"ip":"10.0.0.5","port":8080}})");
  EXPECT_EQ(udp_.datagrams.size(), 1u);
}

// ---- connection lifecycle ----------------------------------------------------------------------

TEST_F(GrpcNamingTest, Tv15DisconnectRemovesInstancesAndPushesAtOnce) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Rust();
  Register(kRust, kTv5Register);
  sched_.AdvanceBy(seconds(1));
  Take(kJava, "NotifySubscriberRequest");
  grpc_->OnDisconnect(kRust);
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_TRUE(Ports(pushes[0]).empty());
  EXPECT_EQ(core_->stats().instances, 0u);
  // The subscriber's own disconnect removes its subscription.
  grpc_->OnDisconnect(kJava);
  EXPECT_EQ(core_->grpc_stats().subscriptions, 0u);
  EXPECT_EQ(core_->grpc_stats().connections, 0u);
}

TEST_F(GrpcNamingTest, Tv15SilentConnectionIsDetectedThenEjected) {
  Java();
  Unary(kJava, "SubscribeServiceRequest", kTv6Subscribe);
  Ack(kJava, Take(kJava, "NotifySubscriberRequest").at(0));
  Rust();
  Register(kRust, kTv5Register);
  Ack(kJava, Take(kJava, "NotifySubscriberRequest").at(0));
  // The subscriber keeps answering health checks; the publisher is silent.
  for (int i = 0; i < 5; ++i) {
    sched_.AdvanceBy(seconds(4));
    Unary(kJava, "HealthCheckRequest", "{}");
  }
  sched_.AdvanceBy(seconds(1));  // 21 s: the ejector ran at 21 s and found 21 s of silence.
  const std::vector<std::string> detections = Take(kRust, "ClientDetectionRequest");
  ASSERT_EQ(detections.size(), 1u);
  EXPECT_TRUE(JsonEq(detections[0], R"({"headers":{},"requestId":")" +
                                        StringField(detections[0], "requestId") +
                                        R"(","module":"internal"})"));
  EXPECT_TRUE(Take(kJava, "ClientDetectionRequest").empty());
  sched_.AdvanceBy(milliseconds(options_.grpc_detection_timeout_ms - 1));
  EXPECT_TRUE(sink_.closed.empty());
  sched_.AdvanceBy(milliseconds(1));
  EXPECT_EQ(sink_.closed, std::vector<GrpcConnId>{kRust});
  const std::vector<std::string> pushes = Take(kJava, "NotifySubscriberRequest");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_TRUE(Ports(pushes[0]).empty());
  EXPECT_EQ(core_->grpc_stats().ejections, 1u);
  // Requests on the ejected transport are refused until it closes.
  EXPECT_TRUE(JsonEq(Unary(kRust, "HealthCheckRequest", "{}").body, kTv8Body));
}

TEST_F(GrpcNamingTest, AFailedDetectionAnswerDoesNotKeepTheConnection) {
  Java();
  sched_.AdvanceBy(seconds(21));
  const std::vector<std::string> detections = Take(kJava, "ClientDetectionRequest");
  ASSERT_EQ(detections.size(), 1u);
  Stream(kJava, "ClientDetectionResponse",
         R"({"resultCode":500,"errorCode":0,"requestId":")" +
             StringField(detections[0], "requestId") + R"(","success":false})");
  sched_.AdvanceBy(seconds(10));
  EXPECT_EQ(sink_.closed, std::vector<GrpcConnId>{kJava});
  EXPECT_EQ(core_->grpc_stats().ejections, 1u);
}

TEST_F(GrpcNamingTest, Tv16DetectionAnswerKeepsTheConnection) {
  Java();
  sched_.AdvanceBy(seconds(21));
  const std::vector<std::string> detections = Take(kJava, "ClientDetectionRequest");
  ASSERT_EQ(detections.size(), 1u);
  Stream(kJava, "ClientDetectionResponse",
         R"({"resultCode":200,"errorCode":0,"requestId":")" +
             StringField(detections[0], "requestId") + R"(","success":true})");
  sched_.AdvanceBy(seconds(10));
  EXPECT_TRUE(sink_.closed.empty());
  EXPECT_EQ(core_->grpc_stats().detections, 1u);
  EXPECT_EQ(core_->grpc_stats().registered, 1u);
}

TEST_F(GrpcNamingTest, ConnectionThatNeverSetsUpIsClosed) {
  grpc_->OnConnect(kJava, "10.0.0.9", 54321);
  sched_.AdvanceBy(seconds(24));
  EXPECT_TRUE(sink_.closed.empty());
  sched_.AdvanceBy(seconds(3));
  EXPECT_EQ(sink_.closed, std::vector<GrpcConnId>{kJava});
}

TEST_F(GrpcNamingTest, ShutdownSendsConnectResetToRegisteredConnections) {
  Java();
  grpc_->OnConnect(kRust, "10.0.0.10", 40000);  // Not set up: no reset.
  core_->Shutdown();
  const std::vector<std::string> resets = Take(kJava, "ConnectResetRequest");
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_TRUE(JsonEq(resets[0], R"({"headers":{},"requestId":")" +
                                    StringField(resets[0], "requestId") +
                                    R"(","module":"internal"})"));
  EXPECT_TRUE(Take(kRust, "ConnectResetRequest").empty());
  auto after = Parse(Unary(kJava, "HealthCheckRequest", "{}").body);
  EXPECT_EQ((*after)["errorCode"].GetInt(), 300);
  EXPECT_EQ(sched_.pending(), 0u);
}

// ---- threads -----------------------------------------------------------------------------------

class LockedSink : public GrpcSink {
 public:
  void SendOnStream(GrpcConnId, std::shared_ptr<const GrpcMessage>) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++sent_;
  }
  void Close(GrpcConnId) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++closed_;
  }

 private:
  std::mutex mu_;
  size_t sent_ = 0;
  size_t closed_ = 0;
};

// Requests from several threads race the core's timers (acks, resends, detection and ejection,
// all set to a millisecond or so on a real scheduler). Whatever interleaving happens, every
// request is answered and once every connection is gone no instance or subscription is left.
TEST(GrpcNamingThreadsTest, RequestsRaceTimersUnderTheCoreMutex) {
  registry::ThreadScheduler scheduler("grpc-test");
  NamingServerOptions options;
  options.push_delay_ms = 1;
  options.grpc_ack_timeout_ms = 1;
  options.grpc_resend_delay_ms = 1;
  options.grpc_detection_idle_ms = 2;
  options.grpc_detection_timeout_ms = 1;
  options.grpc_ejector_period_ms = 1;
  RecordingUdp udp;
  LockedSink sink;
  NamingCore core(options, registry::Clock::Real(), &scheduler, &udp);
  core.SetGrpcSink(&sink);
  GrpcHandler* grpc = core.grpc_handler();
  constexpr int kThreads = 4;
  constexpr int kRounds = 100;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([grpc, t] {
      for (int i = 0; i < kRounds; ++i) {
        const GrpcConnId conn = static_cast<GrpcConnId>(t * kRounds + i + 1);
        grpc->OnConnect(conn, "10.0.0.9", static_cast<uint16_t>(conn));
        GrpcMessage message;
        message.type = "ConnectionSetupRequest";
        message.body = kJavaSetup;
        grpc->OnStreamMessage(conn, message);
        message.type = "SubscribeServiceRequest";
        message.body = kTv6Subscribe;
        grpc->OnUnary(conn, message);
        message.type = "InstanceRequest";
        message.body = i % 2 == 0 ? kTv4Register : kTv5Register;
        grpc->OnUnary(conn, message);
        message.type = "NotifySubscriberResponse";
        message.body = R"({"resultCode":200,"requestId":")" + std::to_string(i) + R"("})";
        grpc->OnStreamMessage(conn, message);
        grpc->OnDisconnect(conn);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const GrpcNamingStats stats = core.grpc_stats();
  EXPECT_EQ(stats.requests, static_cast<uint64_t>(kThreads * kRounds * 2));
  EXPECT_EQ(stats.connections, 0u);
  EXPECT_EQ(stats.subscriptions, 0u);
  EXPECT_EQ(core.stats().instances, 0u);
  core.Shutdown();
}

}  // namespace
}  // namespace dubbo::naming_server
