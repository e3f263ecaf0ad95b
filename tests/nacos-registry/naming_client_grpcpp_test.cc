// NamingClient over gRPC against a scripted Nacos server written on grpc++, an HTTP/2 and gRPC
// implementation independent of ours. The server answers as Nacos 2.5 does and records what the
// client sends; the tests compare that with the messages the Java client sends (Nacos 2.5.1, a
// client at 10.0.0.9, namespace public, auth off), member by member: every member of the Java
// message must be in ours with the same value (extra members, such as Java's getter-only keys,
// and member order do not matter).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dubbo/registry/nacos/naming_client.h"
#include "nacos_grpc_service.grpc.pb.h"

namespace dubbo::registry::nacos {
namespace {

using std::chrono::seconds;

// Only a broken client makes a test wait this long, however loaded the machine; it never bounds
// elapsed time in an assertion.
constexpr seconds kHangGuard{60};

// True when every member of `expected` is in `actual` with an equal value (objects recursively;
// arrays element by element, of equal length; numbers by value).
bool Contains(const rapidjson::Value& actual, const rapidjson::Value& expected, std::string* where) {
  if (expected.IsObject()) {
    if (!actual.IsObject()) return false;
    for (auto it = expected.MemberBegin(); it != expected.MemberEnd(); ++it) {
      const std::string name = it->name.GetString();
      if (!actual.HasMember(name.c_str())) {
        *where = name + " (absent)";
        return false;
      }
      if (!Contains(actual[name.c_str()], it->value, where)) {
        *where = name + (where->empty() ? "" : "." + *where);
        return false;
      }
    }
    return true;
  }
  if (expected.IsArray()) {
    if (!actual.IsArray() || actual.Size() != expected.Size()) return false;
    for (rapidjson::SizeType i = 0; i < expected.Size(); ++i) {
      if (!Contains(actual[i], expected[i], where)) {
        *where = "[" + std::to_string(i) + "]" + *where;
        return false;
      }
    }
    return true;
  }
  if (expected.IsNumber()) return actual.IsNumber() && actual.GetDouble() == expected.GetDouble();
  return actual == expected;
}

::testing::AssertionResult JsonContains(const std::string& actual, const std::string& expected) {
  rapidjson::Document a, e;
  a.Parse(actual.c_str(), actual.size());
  e.Parse(expected.c_str(), expected.size());
  if (e.HasParseError()) return ::testing::AssertionFailure() << "bad expectation " << expected;
  if (a.HasParseError()) return ::testing::AssertionFailure() << "not JSON: " << actual;
  std::string where;
  if (Contains(a, e, &where)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "at " << where << ":\n  sent     " << actual
                                       << "\n  expected " << expected;
}

std::string Hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

struct Received {
  std::string type;
  std::string body;
  std::string client_ip;
  std::map<std::string, std::string> headers;
  std::string bytes;  // The Payload as protobuf serializes it again.
};

Payload MakePayload(const std::string& type, const std::string& body) {
  Payload payload;
  payload.mutable_metadata()->set_type(type);
  payload.mutable_body()->set_value(body);
  return payload;
}

Received FromPayload(const Payload& payload) {
  Received r;
  r.type = payload.metadata().type();
  r.client_ip = payload.metadata().clientip();
  for (const auto& [k, v] : payload.metadata().headers()) r.headers[k] = v;
  r.body = payload.body().value();
  r.bytes = payload.SerializeAsString();
  return r;
}

constexpr char kHost8080[] =
    R"({"instanceId":"10.0.0.5#8080#DEFAULT#DEFAULT_GROUP@@demo","ip":"10.0.0.5","port":8080,)"
    R"("weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
    R"("serviceName":"DEFAULT_GROUP@@demo","metadata":{"version":"1.0"}})";
constexpr char kHost9000[] =
    R"({"instanceId":"10.0.0.6#9000#null#DEFAULT_GROUP@@demo","ip":"10.0.0.6","port":9000,)"
    R"("weight":1.0,"healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
    R"("serviceName":"DEFAULT_GROUP@@demo","metadata":{}})";

std::string ServiceInfoJson(const std::string& hosts, int64_t last_ref_time) {
  return R"({"name":"demo","groupName":"DEFAULT_GROUP","clusters":"","cacheMillis":10000,)"
         R"("hosts":[)" +
         hosts + R"(],"lastRefTime":)" + std::to_string(last_ref_time) +
         R"(,"checksum":"","allIPs":false,"reachProtectionThreshold":false,"valid":true})";
}

// A Nacos 2.5 server as far as these tests need one: every unary request is answered as the Java
// server answers it, the setup gets SetupAckRequest, and the test can send on the stream.
class ScriptedNacos final : public ::Request::Service, public ::BiRequestStream::Service {
 public:
  ScriptedNacos() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(static_cast<::Request::Service*>(this));
    builder.RegisterService(static_cast<::BiRequestStream::Service*>(this));
    server_ = builder.BuildAndStart();
  }
  ~ScriptedNacos() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  int port() const { return port_; }

  grpc::Status request(grpc::ServerContext*, const Payload* in, Payload* out) override {
    Received r = FromPayload(*in);
    *out = Answer(r);
    {
      std::lock_guard<std::mutex> lock(mu_);
      unary_.push_back(std::move(r));
    }
    cv_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status requestBiStream(grpc::ServerContext*,
                               grpc::ServerReaderWriter<Payload, Payload>* stream) override {
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      stream_ = stream;
    }
    Payload in;
    while (stream->Read(&in)) {
      Received r = FromPayload(in);
      if (r.type == "ConnectionSetupRequest") {
        Send("SetupAckRequest",
             R"({"headers":{},"abilityTable":{"supportPersistentInstanceByGrpc":true},)"
             R"("module":"internal"})");
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        stream_in_.push_back(std::move(r));
      }
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(write_mu_);
    stream_ = nullptr;
    return grpc::Status::OK;
  }

  // Sends on the client's bi-stream; false when there is none.
  bool Send(const std::string& type, const std::string& body) {
    std::lock_guard<std::mutex> lock(write_mu_);
    return stream_ != nullptr && stream_->Write(MakePayload(type, body));
  }

  // The first unary request (or stream message) of `type`, waited for.
  Received WaitUnary(const std::string& type) { return Wait(unary_, type); }
  Received WaitStream(const std::string& type) { return Wait(stream_in_, type); }
  // The types of the unary requests so far, in order.
  std::vector<std::string> UnaryTypes() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> types;
    for (const Received& r : unary_) types.push_back(r.type);
    return types;
  }

 private:
  Payload Answer(const Received& r) {
    const auto ok = [](const std::string& type, const std::string& rest) {
      return MakePayload(type, R"({"resultCode":200,"errorCode":0,)" + rest + R"("success":true})");
    };
    if (r.type == "ServerCheckRequest") {
      return ok("ServerCheckResponse",
                R"("connectionId":"1700000000000_127.0.0.1_1","supportAbilityNegotiation":true,)");
    }
    if (r.type == "HealthCheckRequest") return ok("HealthCheckResponse", "");
    if (r.type == "InstanceRequest") {
      rapidjson::Document doc;
      doc.Parse(r.body.c_str());
      const std::string type =
          doc.IsObject() && doc.HasMember("type") && doc["type"].IsString() ? doc["type"].GetString()
                                                                          : "";
      return ok("InstanceResponse", R"("type":")" + type + R"(",)");
    }
    if (r.type == "BatchInstanceRequest") {
      return ok("BatchInstanceResponse", R"("type":"batchRegisterInstance",)");
    }
    if (r.type == "SubscribeServiceRequest") {
      return ok("SubscribeServiceResponse", R"("message":"success","serviceInfo":)" +
                                                ServiceInfoJson(kHost8080, 1700000000500) + ",");
    }
    if (r.type == "ServiceListRequest") {
      return ok("ServiceListResponse", R"("count":1,"serviceNames":["demo"],)");
    }
    return MakePayload("ErrorResponse",
                       R"({"resultCode":500,"errorCode":302,"message":"RequestHandler Not Found",)"
                       R"("success":false})");
  }

  Received Wait(const std::vector<Received>& list, const std::string& type) {
    std::unique_lock<std::mutex> lock(mu_);
    Received found;
    const bool got = cv_.wait_for(lock, kHangGuard, [&] {
      for (const Received& r : list) {
        if (r.type == type) {
          found = r;
          return true;
        }
      }
      return false;
    });
    if (!got) ADD_FAILURE() << "the client never sent " << type;
    return found;
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> unary_;      // Guarded by mu_.
  std::vector<Received> stream_in_;  // Guarded by mu_.
  std::mutex write_mu_;
  grpc::ServerReaderWriter<Payload, Payload>* stream_ = nullptr;  // Guarded by write_mu_.
};

// Listener calls, waited for.
class Events {
 public:
  NamingListener Listener() {
    return [this](const ServiceChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  // Waits for an event whose instance list has exactly `ports`.
  bool WaitForPorts(const std::set<int>& ports) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kHangGuard, [&] {
      if (events_.empty()) return false;
      std::set<int> seen;
      for (const Instance& i : events_.back().instances) seen.insert(i.port);
      return seen == ports;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ServiceChangeEvent> events_;
};

class NamingClientGrpcppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GT(server_.port(), 1000) << "the main port is the gRPC port minus the offset";
    cache_dir_ = ::testing::TempDir() + "grpcpp-cache-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name();
    NacosOptions options;
    options.server_addresses = {"127.0.0.1:" + std::to_string(server_.port() - 1000)};
    options.naming_protocol = NacosOptions::NamingProtocol::kGrpc;
    options.grpc_port_offset = 1000;
    options.cache_dir = cache_dir_;
    options.client_ip = "10.0.0.9";  // The Java client's address in the reference messages.
    auto client = NamingClient::Create(options);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(*client);
  }

  static Instance Make(const std::string& ip, int port) {
    Instance instance;
    instance.ip = ip;
    instance.port = port;
    instance.metadata = {{"version", "1.0"}};
    return instance;
  }

  ScriptedNacos server_;
  std::string cache_dir_;
  std::unique_ptr<NamingClient> client_;
};

TEST_F(NamingClientGrpcppTest, SetupAndRegistrationsAreTheJavaClientsMessages) {
  ASSERT_TRUE(client_->RegisterInstance("demo", "", Make("10.0.0.5", 8080)).ok());

  const Received check = server_.WaitUnary("ServerCheckRequest");
  // Byte for byte the Java client's: Metadata{type, clientIp}, no headers, the same body.
  EXPECT_EQ(Hex(check.bytes),
            "121e1a12536572766572436865636b52657175657374420831302e302e302e391a2412227b2268656164"
            "657273223a7b7d2c226d6f64756c65223a22696e7465726e616c227d");
  const Received setup = server_.WaitStream("ConnectionSetupRequest");
  EXPECT_TRUE(JsonContains(
      setup.body,
      R"({"labels":{"AppName":"unknown","module":"naming","source":"sdk"},"abilityTable":{}})"));
  const Received reg = server_.WaitUnary("InstanceRequest");
  EXPECT_TRUE(JsonContains(
      reg.body,
      R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
      R"("type":"registerInstance","instance":{"ip":"10.0.0.5","port":8080,"weight":1.0,)"
      R"("healthy":true,"enabled":true,"ephemeral":true,"clusterName":"DEFAULT",)"
      R"("metadata":{"version":"1.0"}},"module":"naming"})"));
  EXPECT_EQ(reg.headers.count("app") ? reg.headers.at("app") : "", "unknown");
  EXPECT_EQ(reg.client_ip, "10.0.0.9");
  // ServerCheck opens the connection; the registration follows the setup.
  EXPECT_EQ(server_.UnaryTypes().front(), "ServerCheckRequest");

  // A second instance of the same service: one record of both, or the server would keep only it.
  ASSERT_TRUE(client_->RegisterInstance("demo", "", Make("10.0.0.5", 8081)).ok());
  const Received batch = server_.WaitUnary("BatchInstanceRequest");
  EXPECT_TRUE(JsonContains(
      batch.body,
      R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP",)"
      R"("type":"batchRegisterInstance","module":"naming"})"));
  rapidjson::Document doc;
  doc.Parse(batch.body.c_str());
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("instances") && doc["instances"].IsArray());
  std::set<int> ports;
  for (const auto& i : doc["instances"].GetArray()) {
    if (i.IsObject() && i.HasMember("port") && i["port"].IsInt()) ports.insert(i["port"].GetInt());
  }
  EXPECT_EQ(ports, (std::set<int>{8080, 8081}));
}

TEST_F(NamingClientGrpcppTest, ASubscriptionIsPushedToAndEveryServerRequestIsAnswered) {
  Events events;
  ASSERT_TRUE(client_->Subscribe("demo", "", "", events.Listener()).ok());
  const Received sub = server_.WaitUnary("SubscribeServiceRequest");
  EXPECT_TRUE(JsonContains(sub.body,
                           R"({"namespace":"public","serviceName":"demo","groupName":)"
                           R"("DEFAULT_GROUP","subscribe":true,"clusters":"","module":"naming"})"));
  ASSERT_TRUE(events.WaitForPorts({8080})) << "the subscription's answer is the first data";

  // A push: applied, and acked with its requestId.
  ASSERT_TRUE(server_.Send("NotifySubscriberRequest",
                           R"({"headers":{},"requestId":"17","serviceInfo":)" +
                               ServiceInfoJson(std::string(kHost8080) + "," + kHost9000,
                                               1700000001234) +
                               R"(,"module":"naming"})"));
  const Received ack = server_.WaitStream("NotifySubscriberResponse");
  // Byte for byte the Java client's ack: no clientIp on a response, the same body.
  EXPECT_EQ(Hex(ack.bytes),
            "121a1a184e6f7469667953756273637269626572526573706f6e73651a4212407b22726573756c74436f"
            "6465223a3230302c226572726f72436f6465223a302c22726571756573744964223a223137222c227375"
            "6363657373223a747275657d");
  EXPECT_TRUE(events.WaitForPorts({8080, 9000}));

  // The server's liveness probe.
  ASSERT_TRUE(server_.Send("ClientDetectionRequest",
                           R"({"headers":{},"requestId":"42","module":"internal"})"));
  const Received detection = server_.WaitStream("ClientDetectionResponse");
  EXPECT_TRUE(JsonContains(detection.body, R"({"resultCode":200,"errorCode":0,"requestId":"42"})"));
}

TEST_F(NamingClientGrpcppTest, AServiceListPageIsTheJavaClientsRequest) {
  Result<ServiceList> page = client_->GetServices(1, 10);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_EQ(page->count, 1);
  EXPECT_EQ(page->names, std::vector<std::string>{"demo"});
  const Received list = server_.WaitUnary("ServiceListRequest");
  EXPECT_TRUE(JsonContains(list.body,
                           R"({"namespace":"public","serviceName":"","groupName":"DEFAULT_GROUP",)"
                           R"("pageNo":1,"pageSize":10,"module":"naming"})"));
}

}  // namespace
}  // namespace dubbo::registry::nacos
