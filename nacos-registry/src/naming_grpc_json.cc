#include "naming_grpc_json.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <charconv>
#include <limits>
#include <utility>

#include "internal/ascii.h"
#include "service_info_json.h"

namespace dubbo::registry::nacos {
namespace {

using internal::EqualsIgnoreCase;
using internal::StartsWithIgnoreCase;

constexpr std::string_view kHeadersOpen = "{\"headers\":{}";
constexpr int kDefaultMainPort = 8848;

GrpcMessage Message(std::string_view type, std::string body) {
  GrpcMessage message;
  message.type.assign(type);
  message.body = std::move(body);
  return message;
}

// {"headers":{},"namespace":..,"serviceName":..,"groupName":..  (unterminated).
std::string NamingHead(std::string_view namespace_id, std::string_view grouped) {
  const GroupedService service = SplitGrouped(grouped);
  std::string body(kHeadersOpen);
  body.append(",\"namespace\":");
  AppendJsonString(namespace_id, &body);
  body.append(",\"serviceName\":");
  AppendJsonString(service.name, &body);
  body.append(",\"groupName\":");
  AppendJsonString(service.group, &body);
  return body;
}

void AppendMember(std::string_view name, std::string_view value, std::string* out) {
  out->append(",\"").append(name).append("\":");
  AppendJsonString(value, out);
}

// A preserved.* heart-beat metadata value as Java's Instance getters read it, else `fallback`.
int64_t HeartBeatValue(const Instance& instance, const char* key, int64_t fallback) {
  auto it = instance.metadata.find(key);
  int64_t value = 0;
  if (it == instance.metadata.end() || !ParseJsonInt64(it->second, &value)) return fallback;
  return value;
}

Status RefusalStatus(std::string_view type, int error_code, const std::string& message) {
  StatusCode code = StatusCode::kUnavailable;
  if (error_code == 400) code = StatusCode::kInvalidArgument;
  if (error_code == kGrpcErrorNoRight) code = StatusCode::kPermissionDenied;
  if (error_code == 302) code = StatusCode::kNotFound;
  if (error_code == 503) code = StatusCode::kResourceExhausted;
  std::string text(type);
  text.append(" errorCode ").append(std::to_string(error_code));
  if (!message.empty()) text.append(": ").append(message);
  return Status(code, text);
}

Status Malformed(std::string_view type, std::string_view why, AnswerFailure* failure) {
  if (failure != nullptr) failure->malformed = true;
  std::string text("malformed ");
  text.append(type.empty() ? std::string_view("answer") : type).append(": ").append(why);
  return UnavailableError(text);
}

// An int member in [lo, hi]; `fallback` when absent or null. False when present and not one.
bool IntMember(const JsonAnswer& body, std::string_view name, int64_t lo, int64_t hi,
               int64_t fallback, int64_t* out) {
  const JsonAnswer::Value* value = body.Find(name);
  if (value == nullptr || value->kind == JsonKind::kNull) {
    *out = fallback;
    return true;
  }
  const std::optional<int64_t> number = body.Int64(name);
  if (!number || *number < lo || *number > hi) return false;
  *out = *number;
  return true;
}

// A string member within kMaxGrpcIdBytes in valid UTF-8 (numbers as their text); "" when absent
// or null. False when present and unusable.
bool IdMember(const JsonAnswer& body, std::string_view name, std::string* out) {
  out->clear();
  const JsonAnswer::Value* value = body.Find(name);
  if (value == nullptr || value->kind == JsonKind::kNull) return true;
  if (value->kind != JsonKind::kString && value->kind != JsonKind::kNumber) return false;
  if (value->text.size() > kMaxGrpcIdBytes || !IsValidUtf8(value->text)) return false;
  *out = value->text;
  return true;
}

// Re-serialises one object member of the root object, compactly, with RapidJSON's Writer.
class ObjectMemberWriter final : public JsonSaxHandler {
 public:
  explicit ObjectMemberWriter(std::string_view name) : name_(name), writer_(buffer_) {}

  bool OnScalar(JsonKind kind, std::string_view text) override {
    if (depth_ == 0) return Fail("not a JSON object");
    if (!capturing_) return true;
    switch (kind) {
      case JsonKind::kNull:
        return writer_.Null();
      case JsonKind::kBool:
        return writer_.Bool(text == "true");
      case JsonKind::kNumber:
        return writer_.RawValue(text.data(), text.size(), rapidjson::kNumberType);
      default:
        return writer_.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
    }
  }
  bool OnKey(std::string_view name) override {
    if (depth_ == 1) {
      key_matches_ = name == name_;
      return true;
    }
    return !capturing_ || writer_.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
  }
  bool OnStart(bool is_object) override {
    if (depth_ == 0 && !is_object) return Fail("not a JSON object");
    if (depth_ == 1 && key_matches_ && is_object) {
      capturing_ = true;
      buffer_.Clear();
      writer_.Reset(buffer_);
    }
    ++depth_;
    if (!capturing_) return true;
    open_.push_back(is_object);
    return is_object ? writer_.StartObject() : writer_.StartArray();
  }
  bool OnEnd() override {
    --depth_;
    if (!capturing_) return true;
    const bool ok = open_.back() ? writer_.EndObject() : writer_.EndArray();
    open_.pop_back();
    if (depth_ == 1) {
      capturing_ = false;
      found_ = true;
      text_.assign(buffer_.GetString(), buffer_.GetSize());
    }
    return ok;
  }
  const std::string& error() const override { return error_; }

  bool found() const { return found_; }
  std::string& text() { return text_; }

 private:
  bool Fail(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    return false;
  }

  const std::string_view name_;
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
  int depth_ = 0;
  bool key_matches_ = false;
  bool capturing_ = false;
  bool found_ = false;
  std::vector<bool> open_;  // The captured containers open now: true for an object.
  std::string text_;
  std::string error_;
};

// At most `max` bytes of server text, control bytes replaced, for a Status message or a log line.
std::string Printable(std::string_view text, size_t max) {
  std::string out(text.substr(0, max));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  }
  if (!IsValidUtf8(out)) out = "(not UTF-8)";
  return out;
}

// The captured object member `name` of `json`; nullopt-like "" with *found false when absent.
Status ObjectMember(std::string_view json, size_t max_bytes, std::string_view what,
                    std::string_view name, bool* found, std::string* text) {
  ObjectMemberWriter writer(name);
  DUBBO_RETURN_IF_ERROR(ReadServerJson(json, max_bytes, what, &writer));
  *found = writer.found();
  *text = std::move(writer.text());
  return Status::Ok();
}

}  // namespace

GroupedService SplitGrouped(std::string_view grouped) {
  const size_t at = grouped.find("@@");
  if (at == std::string_view::npos) return {std::string(kDefaultGroup), std::string(grouped)};
  return {std::string(grouped.substr(0, at)), std::string(grouped.substr(at + 2))};
}

bool SplitServerAddress(std::string_view entry, ServerEndpoint* out) {
  if (StartsWithIgnoreCase(entry, "http://")) entry.remove_prefix(7);
  if (StartsWithIgnoreCase(entry, "https://")) entry.remove_prefix(8);
  entry = entry.substr(0, entry.find_first_of("/?#"));
  std::string_view host = entry;
  std::string_view port_text;
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = entry.substr(1, close - 1);
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return false;
    if (!rest.empty()) port_text = rest.substr(1);
  } else {
    const size_t colon = entry.find(':');
    if (colon != std::string_view::npos) {
      if (entry.find(':', colon + 1) != std::string_view::npos) return false;
      host = entry.substr(0, colon);
      port_text = entry.substr(colon + 1);
    }
  }
  if (host.empty() || host.find_first_of(" \t@") != std::string_view::npos) return false;
  int port = kDefaultMainPort;
  if (!port_text.empty() || entry.back() == ':') {
    const char* end = port_text.data() + port_text.size();
    const std::from_chars_result parsed = std::from_chars(port_text.data(), end, port);
    if (parsed.ec != std::errc() || parsed.ptr != end || port < 1 || port > 65535) return false;
  }
  out->host.assign(host);
  out->port = port;
  return true;
}

// ---- Requests ----------------------------------------------------------------------------------

GrpcMessage BuildServerCheckRequest() {
  return Message("ServerCheckRequest", "{\"headers\":{},\"module\":\"internal\"}");
}

GrpcMessage BuildHealthCheckRequest() {
  return Message("HealthCheckRequest", "{\"headers\":{},\"module\":\"internal\"}");
}

GrpcMessage BuildConnectionSetupRequest(std::string_view client_version, std::string_view app_name,
                                        std::string_view tenant) {
  std::string body(kHeadersOpen);
  AppendMember("clientVersion", client_version, &body);
  body.append(",\"labels\":{\"AppName\":");
  AppendJsonString(app_name, &body);
  body.append(",\"module\":\"naming\",\"source\":\"sdk\"}");
  AppendMember("tenant", tenant, &body);
  body.append(",\"abilityTable\":{},\"module\":\"internal\"}");
  return Message("ConnectionSetupRequest", std::move(body));
}

std::string InstanceJson(const Instance& instance) {
  std::string out("{");
  if (!instance.instance_id.empty()) {
    out.append("\"instanceId\":");
    AppendJsonString(instance.instance_id, &out);
    out.append(",");
  }
  out.append("\"ip\":");
  AppendJsonString(instance.ip, &out);
  out.append(",\"port\":").append(std::to_string(instance.port));
  out.append(",\"weight\":");
  AppendJsonDouble(instance.weight, &out);
  out.append(",\"healthy\":").append(instance.healthy ? "true" : "false");
  out.append(",\"enabled\":").append(instance.enabled ? "true" : "false");
  out.append(",\"ephemeral\":").append(instance.ephemeral ? "true" : "false");
  AppendMember("clusterName",
               instance.cluster_name.empty() ? kDefaultCluster : instance.cluster_name, &out);
  if (!instance.service_name.empty()) AppendMember("serviceName", instance.service_name, &out);
  out.append(",\"metadata\":").append(MetadataJson(instance.metadata));
  out.append(",\"instanceHeartBeatInterval\":")
      .append(std::to_string(HeartBeatValue(instance, "preserved.heart.beat.interval", 5000)));
  out.append(",\"instanceHeartBeatTimeOut\":")
      .append(std::to_string(HeartBeatValue(instance, "preserved.heart.beat.timeout", 15000)));
  out.append(",\"ipDeleteTimeout\":")
      .append(std::to_string(HeartBeatValue(instance, "preserved.ip.delete.timeout", 30000)));
  out.append("}");
  return out;
}

GrpcMessage BuildInstanceRequest(std::string_view namespace_id, std::string_view grouped,
                                 const Instance& instance, bool do_register, bool persistent) {
  std::string body = NamingHead(namespace_id, grouped);
  AppendMember("type", do_register ? "registerInstance" : "deregisterInstance", &body);
  body.append(",\"instance\":").append(InstanceJson(instance));
  body.append(",\"module\":\"naming\"}");
  return Message(persistent ? "PersistentInstanceRequest" : "InstanceRequest", std::move(body));
}

GrpcMessage BuildBatchInstanceRequest(std::string_view namespace_id, std::string_view grouped,
                                      const std::vector<Instance>& instances) {
  std::string body = NamingHead(namespace_id, grouped);
  body.append(",\"type\":\"batchRegisterInstance\",\"instances\":[");
  for (size_t i = 0; i < instances.size(); ++i) {
    if (i > 0) body.append(",");
    body.append(InstanceJson(instances[i]));
  }
  body.append("],\"module\":\"naming\"}");
  return Message("BatchInstanceRequest", std::move(body));
}

GrpcMessage BuildServiceQueryRequest(std::string_view namespace_id, std::string_view grouped,
                                     std::string_view clusters, bool healthy_only) {
  std::string body = NamingHead(namespace_id, grouped);
  AppendMember("cluster", clusters, &body);
  body.append(",\"healthyOnly\":").append(healthy_only ? "true" : "false");
  body.append(",\"udpPort\":0,\"module\":\"naming\"}");
  return Message("ServiceQueryRequest", std::move(body));
}

GrpcMessage BuildServiceListRequest(std::string_view namespace_id, std::string_view group,
                                    int page_no, int page_size) {
  std::string body(kHeadersOpen);
  AppendMember("namespace", namespace_id, &body);
  body.append(",\"serviceName\":\"\"");
  AppendMember("groupName", group, &body);
  body.append(",\"pageNo\":").append(std::to_string(page_no));
  body.append(",\"pageSize\":").append(std::to_string(page_size));
  body.append(",\"module\":\"naming\"}");
  return Message("ServiceListRequest", std::move(body));
}

GrpcMessage BuildSubscribeServiceRequest(std::string_view namespace_id, std::string_view grouped,
                                         bool subscribe) {
  std::string body = NamingHead(namespace_id, grouped);
  body.append(",\"subscribe\":").append(subscribe ? "true" : "false");
  body.append(",\"clusters\":\"\",\"module\":\"naming\"}");
  return Message("SubscribeServiceRequest", std::move(body));
}

GrpcMessage BuildStreamResponse(std::string_view type, std::string_view request_id, int result_code,
                                std::string_view message) {
  std::string body("{\"resultCode\":");
  body.append(std::to_string(result_code));
  body.append(",\"errorCode\":").append(std::to_string(result_code == 200 ? 0 : result_code));
  if (!message.empty()) AppendMember("message", message, &body);
  AppendMember("requestId", request_id, &body);
  body.append(",\"success\":").append(result_code == 200 ? "true" : "false").append("}");
  return Message(type, std::move(body));
}

// ---- Answers -----------------------------------------------------------------------------------

Result<JsonAnswer> ReadGrpcAnswer(const GrpcMessage& answer, std::string_view expected_type,
                                  size_t max_bytes, AnswerFailure* failure) {
  if (failure != nullptr) *failure = AnswerFailure{};
  const bool is_error = answer.type == "ErrorResponse";
  if (!is_error && answer.type != expected_type) {
    return Malformed(expected_type, "an answer of type '" + Printable(answer.type, 64) + "'",
                     failure);
  }
  Result<JsonAnswer> body = JsonAnswer::Parse(answer.body, max_bytes, answer.type);
  if (!body.ok()) return Malformed(expected_type, body.status().message(), failure);
  constexpr int64_t kMin = std::numeric_limits<int32_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int32_t>::max();
  int64_t result_code = 0;
  int64_t error_code = 0;
  if (!IntMember(*body, "resultCode", kMin, kMax, 200, &result_code) ||
      !IntMember(*body, "errorCode", kMin, kMax, 0, &error_code)) {
    return Malformed(expected_type, "resultCode or errorCode is not a 32-bit integer", failure);
  }
  if (result_code == 200 && !is_error) return body;
  int code = static_cast<int>(error_code != 0 ? error_code : result_code);
  if (code == 200) code = 500;  // An ErrorResponse that claims success.
  if (failure != nullptr) failure->error_code = code;
  return RefusalStatus(answer.type, code, Printable(body->String("message").value_or(""), 256));
}

Result<ServerCheckInfo> ReadServerCheckResponse(const GrpcMessage& answer, AnswerFailure* failure) {
  Result<JsonAnswer> body =
      ReadGrpcAnswer(answer, "ServerCheckResponse", kMaxSmallAnswerBytes, failure);
  if (!body.ok()) return body.status();
  ServerCheckInfo info;
  if (!IdMember(*body, "connectionId", &info.connection_id)) {
    return Malformed("ServerCheckResponse", "connectionId is not a short string", failure);
  }
  info.support_ability_negotiation = body->Bool("supportAbilityNegotiation").value_or(false);
  return info;
}

Result<std::string> ReadServiceInfoAnswer(const GrpcMessage& answer, std::string_view expected_type,
                                          AnswerFailure* failure) {
  Result<JsonAnswer> body = ReadGrpcAnswer(answer, expected_type, kMaxListAnswerBytes, failure);
  if (!body.ok()) return body.status();
  bool found = false;
  std::string text;
  const Status read =
      ObjectMember(answer.body, kMaxListAnswerBytes, expected_type, "serviceInfo", &found, &text);
  if (!read.ok()) return Malformed(expected_type, read.message(), failure);
  if (!found) return Malformed(expected_type, "no serviceInfo object", failure);
  return text;
}

Result<ServiceList> ReadServiceListResponse(const GrpcMessage& answer, AnswerFailure* failure) {
  Result<JsonAnswer> body =
      ReadGrpcAnswer(answer, "ServiceListResponse", kMaxListAnswerBytes, failure);
  if (!body.ok()) return body.status();
  ServiceList list;
  const JsonAnswer::Value* names = body->Find("serviceNames");
  if (names != nullptr && names->kind != JsonKind::kNull) {
    if (names->kind != JsonKind::kArray) {
      return Malformed("ServiceListResponse", "serviceNames is not an array", failure);
    }
    for (const JsonAnswer::Value& item : names->items) {
      if (item.kind == JsonKind::kString && IsValidUtf8(item.text)) list.names.push_back(item.text);
    }
  }
  if (!IntMember(*body, "count", 0, std::numeric_limits<int32_t>::max(),
                 static_cast<int64_t>(list.names.size()), &list.count)) {
    return Malformed("ServiceListResponse", "count is not an integer in [0, 2^31)", failure);
  }
  return list;
}

// ---- Server requests ---------------------------------------------------------------------------

Result<std::string> ReadServerRequestId(const GrpcMessage& request) {
  Result<JsonAnswer> body = JsonAnswer::Parse(request.body, kMaxSmallAnswerBytes, request.type);
  if (!body.ok()) return body.status();
  std::string id;
  if (!IdMember(*body, "requestId", &id)) {
    return InvalidArgumentError(request.type + ": requestId is not a short string");
  }
  return id;
}

Result<bool> ReadSetupAck(const GrpcMessage& request) {
  bool found = false;
  std::string table;
  DUBBO_RETURN_IF_ERROR(ObjectMember(request.body, kMaxSmallAnswerBytes, "SetupAckRequest",
                                     "abilityTable", &found, &table));
  if (!found) return false;
  Result<JsonAnswer> abilities = JsonAnswer::Parse(table, kMaxSmallAnswerBytes, "abilityTable");
  if (!abilities.ok()) return abilities.status();
  return abilities->Bool("supportPersistentInstanceByGrpc").value_or(false);
}

Result<ConnectResetInfo> ReadConnectReset(const GrpcMessage& request) {
  Result<JsonAnswer> body = JsonAnswer::Parse(request.body, kMaxSmallAnswerBytes, request.type);
  if (!body.ok()) return body.status();
  ConnectResetInfo info;
  if (!IdMember(*body, "requestId", &info.request_id)) {
    return InvalidArgumentError("ConnectResetRequest: requestId is not a short string");
  }
  // A target that cannot be used leaves the choice to the client (the next server).
  int64_t port = 0;
  if (IdMember(*body, "serverIp", &info.server_ip) &&
      IntMember(*body, "serverPort", 1, 65535, 0, &port)) {
    info.server_port = static_cast<int>(port);
  } else {
    info.server_ip.clear();
  }
  return info;
}

Result<NotifySubscriberInfo> ReadNotifySubscriber(const GrpcMessage& request,
                                                  std::string* request_id) {
  request_id->clear();
  Result<JsonAnswer> body = JsonAnswer::Parse(request.body, kMaxListAnswerBytes, request.type);
  if (!body.ok()) return body.status();
  NotifySubscriberInfo info;
  if (!IdMember(*body, "requestId", &info.request_id)) {
    return InvalidArgumentError("NotifySubscriberRequest: requestId is not a short string");
  }
  *request_id = info.request_id;
  bool found = false;
  DUBBO_RETURN_IF_ERROR(ObjectMember(request.body, kMaxListAnswerBytes, request.type, "serviceInfo",
                                     &found, &info.service_info_json));
  if (!found) return InvalidArgumentError("NotifySubscriberRequest: no serviceInfo object");
  return info;
}

}  // namespace dubbo::registry::nacos
