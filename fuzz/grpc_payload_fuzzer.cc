// libFuzzer target for the gRPC protocol core (GrpcNaming): the request JSON parsers and every
// handler behind OnUnary(), and the stream messages (setup, acks, detection answers). The first
// input byte picks the message type, the rest is its body, handed to a set-up connection while a
// second connection subscribes to the service the vectors use. Every answer and every message
// sent on a stream must be valid JSON; an answer must carry resultCode, errorCode and success.
// Timers then run (resends, detection, ejection) and the connection ends. Seeds:
// fuzz/corpus/grpc_payload/.
//
// Thread-safety: libFuzzer calls this from one thread.
#include <rapidjson/reader.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "dubbo/registry/manual_scheduler.h"
#include "fuzz_check.h"
#include "grpc_naming.h"
#include "instance_store.h"
#include "naming_json.h"

namespace {

using dubbo::naming_server::GrpcConnId;
using dubbo::naming_server::GrpcMessage;

// Valid JSON text in valid UTF-8 (SAX, in-situ: see naming_json.cc on RapidJSON's DOM).
bool IsValidJson(const std::string& json) {
  std::string copy(json);
  rapidjson::InsituStringStream stream(&copy[0]);
  rapidjson::Reader reader;
  rapidjson::BaseReaderHandler<> handler;
  constexpr unsigned kFlags = rapidjson::kParseInsituFlag | rapidjson::kParseValidateEncodingFlag;
  return !reader.Parse<kFlags>(stream, handler).IsError();
}

class CheckingSink : public dubbo::naming_server::GrpcSink {
 public:
  void SendOnStream(GrpcConnId, std::shared_ptr<const GrpcMessage> message) override {
    FUZZ_CHECK(IsValidJson(message->body), "stream message %s: %s", message->type.c_str(),
               message->body.c_str());
  }
  void Close(GrpcConnId) override {}
};

constexpr const char* kTypes[] = {
    "ServerCheckRequest",        "HealthCheckRequest",      "InstanceRequest",
    "PersistentInstanceRequest", "BatchInstanceRequest",    "ServiceQueryRequest",
    "ServiceListRequest",        "SubscribeServiceRequest", "FooRequest",
};
constexpr const char* kStreamTypes[] = {
    "ConnectionSetupRequest",
    "NotifySubscriberResponse",
    "ClientDetectionResponse",
};

constexpr char kSetup[] = R"({"labels":{"module":"naming"},"abilityTable":{}})";
constexpr char kSubscribe[] =
    R"({"namespace":"public","serviceName":"demo","groupName":"DEFAULT_GROUP","subscribe":true})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dubbo::fuzz::SilenceLogs();
  if (size == 0) return 0;
  static dubbo::registry::ManualScheduler scheduler;
  dubbo::naming_server::InstanceStore store(&scheduler);
  CheckingSink sink;
  dubbo::naming_server::GrpcNamingOptions options;
  options.scheduler = &scheduler;
  options.store = &store;
  options.sink = &sink;
  if ((data[0] & 0x80) != 0) {
    options.check_token = [](std::string_view token) {
      return token == "t" ? dubbo::naming_server::TokenState::kValid
                          : dubbo::naming_server::TokenState::kInvalid;
    };
  }
  auto created = dubbo::naming_server::GrpcNaming::Create(options);
  FUZZ_CHECK(created.ok(), "create");
  dubbo::naming_server::GrpcNaming& grpc = **created;
  store.SetChangeHook([&grpc](const std::string& ns, const std::string& service) {
    grpc.ServiceChanged(ns, service);
  });

  GrpcMessage message;
  message.headers["accessToken"] = "t";
  for (GrpcConnId conn : {1, 2}) {
    grpc.OnConnect(conn, "10.0.0.9", static_cast<uint16_t>(40000 + conn));
    message.type = "ConnectionSetupRequest";
    message.body = kSetup;
    grpc.OnStreamMessage(conn, message);
  }
  message.type = "SubscribeServiceRequest";
  message.body = kSubscribe;
  grpc.OnUnary(2, message);

  const size_t pick = data[0] & 0x7f;
  message.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  constexpr size_t kUnary = sizeof(kTypes) / sizeof(kTypes[0]);
  constexpr size_t kStream = sizeof(kStreamTypes) / sizeof(kStreamTypes[0]);
  if (pick % (kUnary + kStream) < kUnary) {
    message.type = kTypes[pick % (kUnary + kStream)];
    const GrpcMessage answer = grpc.OnUnary(1, message);
    FUZZ_CHECK(IsValidJson(answer.body), "answer to %s: %s", message.type.c_str(),
               answer.body.c_str());
    dubbo::naming_server::JsonNode root;
    bool bad_utf8 = false;
    FUZZ_CHECK(dubbo::naming_server::ParseJsonTree(answer.body, 1, SIZE_MAX, &root, &bad_utf8).ok(),
               "answer: %s", answer.body.c_str());
    bool result_code = false;
    bool error_code = false;
    bool success = false;
    for (const auto& member : root.members) {
      result_code = result_code || member.key == "resultCode";
      error_code = error_code || member.key == "errorCode";
      success = success || member.key == "success";
    }
    FUZZ_CHECK(result_code && error_code && success, "answer fields: %s", answer.body.c_str());
  } else {
    message.type = kStreamTypes[pick % (kUnary + kStream) - kUnary];
    grpc.OnStreamMessage(1, message);
  }
  scheduler.AdvanceBy(std::chrono::seconds(30));
  grpc.OnDisconnect(1);
  grpc.OnDisconnect(2);
  grpc.Shutdown();
  store.SetChangeHook(nullptr);
  return 0;
}
