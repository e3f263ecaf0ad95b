// GrpcNaming implementation. The behaviour reference is the Nacos 2.5 server (its gRPC request
// acceptor, naming request handlers, push executor and connection ejector); where this differs,
// docs/naming-server.md says so and why.
#include "grpc_naming.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <system_error>
#include <utility>
#include <vector>

#include "internal/ascii.h"
#include "internal/logging.h"
#include "naming_json.h"

namespace dubbo::naming_server {
namespace {

using registry::InvalidArgumentError;
using registry::Result;
using registry::Status;
using registry::TimePoint;
using registry::internal::EqualsIgnoreCase;

// A request body may hold this many JSON values at most (each container counts one): a batch of
// 20,000 instances with a few metadata entries each takes about 300,000. Caps the parse tree of a
// hostile 10 MiB body at some tens of MB.
constexpr size_t kMaxJsonValues = size_t{1} << 19;
// Levels of the parse tree kept: request -> instances -> instance -> metadata.
constexpr int kKeptLevels = 4;
constexpr int64_t kCacheMillis = 10000;  // Nacos's defaultPushCacheMillis switch.
// Instance getter defaults (ms) Nacos renders when the metadata does not set them.
constexpr int64_t kDefaultHeartBeatInterval = 5000;
constexpr int64_t kDefaultHeartBeatTimeout = 15000;
constexpr int64_t kDefaultIpDeleteTimeout = 30000;
constexpr size_t kMaxNamespaceLength = 64;
constexpr size_t kMaxClusterLength = 64;
constexpr size_t kMaxIpLength = 128;

// Nacos error codes (NacosException).
constexpr int kNoHandler = 302;
constexpr int kUnregistered = 301;
constexpr int kBadGateway = 502;
constexpr int kInvalidParam = 400;
constexpr int kNoRight = 403;
constexpr int kServerError = 500;
constexpr int kClientDisconnect = -401;

constexpr char kServerCheckRequest[] = "ServerCheckRequest";
constexpr char kHealthCheckRequest[] = "HealthCheckRequest";
constexpr char kInstanceRequest[] = "InstanceRequest";
constexpr char kPersistentInstanceRequest[] = "PersistentInstanceRequest";
constexpr char kBatchInstanceRequest[] = "BatchInstanceRequest";
constexpr char kServiceQueryRequest[] = "ServiceQueryRequest";
constexpr char kServiceListRequest[] = "ServiceListRequest";
constexpr char kSubscribeServiceRequest[] = "SubscribeServiceRequest";

// The answer type of each unary request type this server handles; nullptr for any other type.
const char* ResponseTypeOf(std::string_view type) {
  struct Entry {
    std::string_view request;
    const char* response;
  };
  static constexpr Entry kTypes[] = {
      {kHealthCheckRequest, "HealthCheckResponse"},
      {kInstanceRequest, "InstanceResponse"},
      {kPersistentInstanceRequest, "InstanceResponse"},
      {kBatchInstanceRequest, "BatchInstanceResponse"},
      {kServiceQueryRequest, "QueryServiceResponse"},
      {kServiceListRequest, "ServiceListResponse"},
      {kSubscribeServiceRequest, "SubscribeServiceResponse"},
  };
  for (const Entry& entry : kTypes) {
    if (entry.request == type) return entry.response;
  }
  return nullptr;
}

GrpcMessage Message(std::string type, std::string body) {
  GrpcMessage message;
  message.type = std::move(type);
  message.body = std::move(body);
  return message;
}

}  // namespace

GrpcMessage GrpcFailure(std::string type, int result_code, int error_code, std::string_view text) {
  JsonOut out;
  out.BeginObject();
  out.Key("resultCode");
  out.Int(result_code);
  out.Key("errorCode");
  out.Int(error_code);
  out.Key("message");
  out.String(text);
  out.Key("success");
  out.Bool(false);
  out.EndObject();
  return Message(std::move(type), out.Take());
}

namespace {

// ErrorResponse.build(code, message) (result code 500).
GrpcMessage Error(int error_code, std::string_view text) {
  return GrpcFailure("ErrorResponse", kServerError, error_code, text);
}

// ErrorResponse.build(NacosException): the result code is the error code.
GrpcMessage ErrorOf(int code, std::string_view text) {
  return GrpcFailure("ErrorResponse", code, code, text);
}

// A store refusal as the ErrorResponse of a NacosException.
GrpcMessage StoreError(const Status& status) {
  const int code =
      status.code() == registry::StatusCode::kInvalidArgument ? kInvalidParam : kServerError;
  return ErrorOf(code, status.message());
}

// Begins a success body: {"resultCode":200,"errorCode":0
void BeginSuccess(JsonOut& out) {
  out.BeginObject();
  out.Key("resultCode");
  out.Int(200);
  out.Key("errorCode");
  out.Int(0);
}

GrpcMessage Success(std::string type, std::optional<std::string_view> request_type = {}) {
  JsonOut out;
  BeginSuccess(out);
  if (request_type) {
    out.Key("type");
    out.String(*request_type);
  }
  out.Key("success");
  out.Bool(true);
  out.EndObject();
  return Message(std::move(type), out.Take());
}

// --- Reading the parse tree ---------------------------------------------------------------------

// The member `key` of an object (the last one, as Jackson keeps), nullptr when absent or null.
const JsonNode* Member(const JsonNode& object, std::string_view key) {
  const JsonNode* found = nullptr;
  for (const JsonNode& member : object.members) {
    if (member.key == key) found = &member;
  }
  return found != nullptr && found->kind == JsonNode::Kind::kNull ? nullptr : found;
}

Status BadField(std::string_view key, std::string_view what) {
  return InvalidArgumentError("field '" + std::string(key) + "' " + std::string(what));
}

// Jackson reads any scalar into a String.
Status ReadString(const JsonNode& object, std::string_view key, std::optional<std::string>* out) {
  const JsonNode* node = Member(object, key);
  if (node == nullptr) return Status::Ok();
  if (node->kind == JsonNode::Kind::kObject || node->kind == JsonNode::Kind::kArray) {
    return BadField(key, "must be a string");
  }
  *out = node->text;
  return Status::Ok();
}

Status ReadString(const JsonNode& object, std::string_view key, std::string* out) {
  std::optional<std::string> value;
  DUBBO_RETURN_IF_ERROR(ReadString(object, key, &value));
  if (value) *out = std::move(*value);
  return Status::Ok();
}

std::optional<double> ToDouble(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

// An int (numbers, or numeric strings as Jackson coerces them; an integral float too), within
// Java's int range.
Status ReadInt(const JsonNode& object, std::string_view key, int64_t* out) {
  const JsonNode* node = Member(object, key);
  if (node == nullptr) return Status::Ok();
  if (node->kind != JsonNode::Kind::kNumber && node->kind != JsonNode::Kind::kString) {
    return BadField(key, "must be a number");
  }
  int64_t value = 0;
  const std::string& text = node->text;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    const std::optional<double> d = ToDouble(text);
    if (!d || std::trunc(*d) != *d || std::fabs(*d) > 4e9) return BadField(key, "is not an int");
    value = static_cast<int64_t>(*d);
  }
  if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
    return BadField(key, "is out of the range of an int");
  }
  *out = value;
  return Status::Ok();
}

Status ReadDouble(const JsonNode& object, std::string_view key, double* out) {
  const JsonNode* node = Member(object, key);
  if (node == nullptr) return Status::Ok();
  if (node->kind != JsonNode::Kind::kNumber && node->kind != JsonNode::Kind::kString) {
    return BadField(key, "must be a number");
  }
  const std::optional<double> value = ToDouble(node->text);
  if (!value) return BadField(key, "must be a finite number");
  *out = *value;
  return Status::Ok();
}

Status ReadBool(const JsonNode& object, std::string_view key, bool* out) {
  const JsonNode* node = Member(object, key);
  if (node == nullptr) return Status::Ok();
  if ((node->kind != JsonNode::Kind::kBool && node->kind != JsonNode::Kind::kString) ||
      (node->text != "true" && node->text != "false")) {
    return BadField(key, "must be a boolean");
  }
  *out = node->text == "true";
  return Status::Ok();
}

Status ReadMap(const JsonNode& object, std::string_view key, Metadata* out) {
  const JsonNode* node = Member(object, key);
  if (node == nullptr) return Status::Ok();
  std::optional<Metadata> map;
  if (node->kind == JsonNode::Kind::kObject) map = MetadataFromObject(*node);
  if (!map) return BadField(key, "must be an object of strings");
  *out = std::move(*map);
  return Status::Ok();
}

// A JSON object body, parsed.
Status ParseObject(std::string_view body, JsonNode* root) {
  bool bad_utf8 = false;
  DUBBO_RETURN_IF_ERROR(ParseJsonTree(body, kKeptLevels, kMaxJsonValues, root, &bad_utf8));
  if (root->kind != JsonNode::Kind::kObject) return InvalidArgumentError("body is not an object");
  return Status::Ok();
}

// One `instance` of a request, as sent.
struct InstanceFields {
  InstanceSpec spec;  // ip, port (range-checked later), weight, healthy, enabled, metadata
  int64_t port = 0;   // As sent.
  std::optional<std::string> cluster;       // null stays null (it shows in the generated id)
  std::optional<std::string> service_name;  // Only for the generated id.
  std::string instance_id;
};

Status ParseInstance(const JsonNode& node, InstanceFields* out) {
  if (node.kind != JsonNode::Kind::kObject)
    return InvalidArgumentError("an instance must be an object");
  DUBBO_RETURN_IF_ERROR(ReadString(node, "instanceId", &out->instance_id));
  DUBBO_RETURN_IF_ERROR(ReadString(node, "ip", &out->spec.ip));
  DUBBO_RETURN_IF_ERROR(ReadInt(node, "port", &out->port));
  DUBBO_RETURN_IF_ERROR(ReadDouble(node, "weight", &out->spec.weight));
  DUBBO_RETURN_IF_ERROR(ReadBool(node, "healthy", &out->spec.healthy));
  DUBBO_RETURN_IF_ERROR(ReadBool(node, "enabled", &out->spec.enabled));
  DUBBO_RETURN_IF_ERROR(ReadString(node, "clusterName", &out->cluster));
  DUBBO_RETURN_IF_ERROR(ReadString(node, "serviceName", &out->service_name));
  return ReadMap(node, "metadata", &out->spec.metadata);
}

// [0-9a-zA-Z-] plus `extra`.
bool IsClusterChars(std::string_view name, std::string_view extra) {
  return std::all_of(name.begin(), name.end(), [extra](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           extra.find(c) != std::string_view::npos;
  });
}

// A getter of Nacos's Instance: the metadata value when all digits, else the default; the
// default when there is no metadata.
int64_t MetadataMillis(const Metadata& metadata, std::string_view key, int64_t fallback) {
  auto it = metadata.find(std::string(key));
  if (it == metadata.end() || it->second.empty() || it->second.size() > 18 ||
      !std::all_of(it->second.begin(), it->second.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    return fallback;
  }
  return std::stoll(it->second);
}

void WriteHost(JsonOut& out, const Instance& host) {
  out.BeginObject();
  out.Key("instanceId");
  out.String(host.instance_id);
  out.Key("ip");
  out.String(host.ip);
  out.Key("port");
  out.Int(host.port);
  out.Key("weight");
  out.Double(host.weight);
  out.Key("healthy");
  out.Bool(host.healthy);
  out.Key("enabled");
  out.Bool(host.enabled);
  out.Key("ephemeral");
  out.Bool(host.ephemeral);
  out.Key("clusterName");
  out.String(host.cluster_name);
  out.Key("serviceName");
  out.String(host.service_name);
  out.Key("metadata");
  out.Metadata(host.metadata);
  const Metadata& metadata = host.metadata;
  out.Key("instanceHeartBeatInterval");
  out.Int(MetadataMillis(metadata, kHeartBeatIntervalKey, kDefaultHeartBeatInterval));
  out.Key("instanceHeartBeatTimeOut");
  out.Int(MetadataMillis(metadata, kHeartBeatTimeoutKey, kDefaultHeartBeatTimeout));
  out.Key("ipDeleteTimeout");
  out.Int(MetadataMillis(metadata, kIpDeleteTimeoutKey, kDefaultIpDeleteTimeout));
  // Nacos's getter: "simple" without metadata, else the metadata's value (left out if absent).
  if (metadata.empty()) {
    out.Key("instanceIdGenerator");
    out.String("simple");
  } else if (auto it = metadata.find(std::string(kInstanceIdGeneratorKey)); it != metadata.end()) {
    out.Key("instanceIdGenerator");
    out.String(it->second);
  }
  out.EndObject();
}

// "{"headers":{},"requestId":"<id>",["serviceInfo":<service_info>,]"module":"<module>"}", a
// request the server sends; the serviceInfo member only when `service_info` is not empty. Built
// in one allocation: a push builds one per subscriber.
std::string ServerRequest(std::string_view request_id, std::string_view module,
                          std::string_view service_info = {}) {
  constexpr std::string_view kHead = R"({"headers":{},"requestId":")";
  constexpr std::string_view kInfo = R"(","serviceInfo":)";
  constexpr std::string_view kModule = R"("module":")";
  std::string body;
  body.reserve(kHead.size() + request_id.size() + kInfo.size() + service_info.size() +
               kModule.size() + module.size() + 4);
  body.append(kHead).append(request_id);
  if (service_info.empty()) {
    body.append("\",");
  } else {
    body.append(kInfo).append(service_info).append(",");
  }
  body.append(kModule).append(module).append("\"}");
  return body;
}

}  // namespace

// A naming request, parsed: the common fields, then whatever its type carries.
struct GrpcNaming::Request {
  std::string namespace_id;
  std::string service_name;  // Ungrouped, as sent.
  std::string group_name;
  std::string type;  // InstanceRequest.type, BatchInstanceRequest.type
  std::vector<InstanceFields> instances;
  std::string clusters;  // ServiceQuery `cluster`, SubscribeService `clusters`
  bool healthy_only = false;
  bool subscribe = false;  // Java's default: a request without it unsubscribes.
  int64_t page_no = 1;
  int64_t page_size = 10;

  std::string Grouped() const { return group_name + std::string(kGroupSeparator) + service_name; }
};

registry::Result<std::unique_ptr<GrpcNaming>> GrpcNaming::Create(GrpcNamingOptions options) {
  if (options.scheduler == nullptr) {
    return InvalidArgumentError("GrpcNaming: scheduler is required");
  }
  if (options.store == nullptr) return InvalidArgumentError("GrpcNaming: store is required");
  if (options.clock == nullptr) options.clock = options.scheduler->clock();
  if (options.clock == nullptr) return InvalidArgumentError("GrpcNaming: no clock");
  if (options.push_delay.count() < 0 || options.ack_timeout.count() <= 0 ||
      options.resend_delay.count() <= 0 || options.detection_idle.count() <= 0 ||
      options.detection_timeout.count() <= 0 || options.ejector_period.count() <= 0) {
    return InvalidArgumentError("GrpcNaming: timings must be positive (push_delay may be 0)");
  }
  return std::unique_ptr<GrpcNaming>(new GrpcNaming(std::move(options)));
}

GrpcNaming::GrpcNaming(GrpcNamingOptions options)
    : options_(std::move(options)),
      clock_(options_.clock),
      store_(options_.store),
      timers_(options_.scheduler, options_.run_serialized) {}

// The timers stop first (the last member); see serialized_timers.h.
GrpcNaming::~GrpcNaming() = default;

bool GrpcNaming::ScheduleTask(registry::Duration delay, std::function<void()> body) {
  return !stopped_ && timers_.Schedule(delay, std::move(body));
}

void GrpcNaming::Send(GrpcConnId conn_id, std::string type, std::string body) {
  if (options_.sink == nullptr) return;
  auto message = std::make_shared<GrpcMessage>(Message(std::move(type), std::move(body)));
  message->client_ip = options_.server_ip;
  options_.sink->SendOnStream(conn_id, std::move(message));
}

std::string GrpcNaming::ConnectionId(GrpcConnId conn) const {
  auto it = conns_.find(conn);
  return it == conns_.end() ? std::string() : it->second.id;
}

// --- Connections --------------------------------------------------------------------------------

void GrpcNaming::OnConnect(GrpcConnId conn_id, const std::string& peer_ip, uint16_t peer_port) {
  Connection conn;
  conn.id = std::to_string(clock_->WallMillis()) + "_" + peer_ip + "_" + std::to_string(peer_port);
  conn.last_active = clock_->Now();
  conns_[conn_id] = std::move(conn);
  EnsureEjector();
}

void GrpcNaming::OnDisconnect(GrpcConnId conn_id) { RemoveConnection(conn_id); }

void GrpcNaming::RemoveConnection(GrpcConnId conn_id) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) return;
  Connection conn = std::move(it->second);
  conns_.erase(it);
  subscription_count_ -= conn.subscriptions.size();
  for (const auto& [key, sub] : conn.subscriptions) {
    auto subs = subscribers_.find(key);
    if (subs == subscribers_.end()) continue;
    subs->second.conns.erase(conn_id);
    if (subs->second.conns.empty() && !subs->second.push_scheduled) subscribers_.erase(subs);
  }
  // Each service it published is changed once, and its subscribers pushed (the store's hook).
  for (const auto& [ns, service] : store_->OwnedServices(conn.id)) {
    const Status removed = store_->ReplaceOwned(conn.id, ns, service, {});
    if (!removed.ok()) {
      DUBBO_LOG(ERROR) << "gRPC connection " << conn.id << ": instances of " << service
                       << " not removed: " << removed;
    }
  }
}

void GrpcNaming::Setup(GrpcConnId conn_id, Connection& conn, const GrpcMessage& message) {
  if (conn.registered) return;  // Nacos registers a connection id once.
  JsonNode root;
  if (const Status parsed = ParseObject(message.body, &root); !parsed.ok()) {
    ++stats_.stream_dropped;
    DUBBO_LOG(INFO) << "gRPC connection " << conn.id
                    << ": ConnectionSetupRequest ignored: " << parsed;
    return;
  }
  Metadata labels;
  std::string version;
  std::string tenant;
  if (!ReadMap(root, "labels", &labels).ok() || !ReadString(root, "clientVersion", &version).ok() ||
      !ReadString(root, "tenant", &tenant).ok()) {
    ++stats_.stream_dropped;
    return;
  }
  conn.registered = true;
  conn.labels = std::move(labels);
  conn.client_version = std::move(version);
  conn.tenant = std::move(tenant);
  conn.client_ip = message.client_ip;
  auto module = conn.labels.find("module");
  conn.naming = module != conn.labels.end() && module->second == "naming";
  auto app = conn.labels.find("AppName");
  conn.app_name = app != conn.labels.end() ? app->second : "-";
  conn.last_active = clock_->Now();
  ++stats_.setups;
  // A client that negotiates abilities (abilityTable, even {}) waits for the server's.
  if (Member(root, "abilityTable") != nullptr) {
    Send(conn_id, "SetupAckRequest",
         R"({"headers":{},"abilityTable":{"supportPersistentInstanceByGrpc":true},)"
         R"("module":"internal"})");
  }
}

void GrpcNaming::OnStreamMessage(GrpcConnId conn_id, const GrpcMessage& message) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end()) {
    ++stats_.stream_dropped;
    return;
  }
  Connection& conn = it->second;
  if (message.type == "ConnectionSetupRequest") return Setup(conn_id, conn, message);
  const std::string_view type = message.type;
  const std::string_view suffix = "Response";
  if (!conn.registered || type.size() < suffix.size() ||
      type.substr(type.size() - suffix.size()) != suffix) {
    ++stats_.stream_dropped;
    return;
  }
  OnResponse(conn_id, conn, message);
}

void GrpcNaming::OnResponse(GrpcConnId conn_id, Connection& conn, const GrpcMessage& message) {
  conn.last_active = clock_->Now();
  JsonNode root;
  std::string request_id;
  int64_t result_code = 200;
  if (!ParseObject(message.body, &root).ok() || !ReadString(root, "requestId", &request_id).ok() ||
      !ReadInt(root, "resultCode", &result_code).ok()) {
    ++stats_.stream_dropped;
    return;
  }
  if (message.type == "ClientDetectionResponse") {
    // Only a success answers the detection (Nacos: response.isSuccess()).
    if (result_code == 200 && !conn.detection_id.empty() && request_id == conn.detection_id) {
      conn.detection_id.clear();
    }
    return;
  }
  if (message.type != "NotifySubscriberResponse") return;  // ConnectResetResponse, ...
  auto ack = conn.acks.find(request_id);
  if (ack == conn.acks.end()) return;  // Late (superseded) or unknown.
  const ServiceKey key = ack->second;
  conn.acks.erase(ack);
  auto sub = conn.subscriptions.find(key);
  if (sub == conn.subscriptions.end() || sub->second.pending_id != request_id) return;
  if (result_code == 200) {
    ++stats_.pushes_acked;
    sub->second.pending_id.clear();
    sub->second.pending_info.reset();
    return;
  }
  // A failed ack: sent again after the resend delay, as after a timeout.
  const uint64_t generation = sub->second.generation;
  ScheduleTask(options_.resend_delay,
               [this, conn_id, key, generation] { Resend(conn_id, key, generation); });
}

// --- Unary requests -----------------------------------------------------------------------------

GrpcMessage GrpcNaming::OnUnary(GrpcConnId conn_id, const GrpcMessage& request) {
  ++stats_.requests;
  auto it = conns_.find(conn_id);
  if (request.type == kServerCheckRequest) {
    JsonOut out;
    BeginSuccess(out);
    out.Key("connectionId");
    out.String(it != conns_.end() ? it->second.id : std::string());
    out.Key("supportAbilityNegotiation");
    out.Bool(true);
    out.Key("success");
    out.Bool(true);
    out.EndObject();
    return Message("ServerCheckResponse", out.Take());
  }
  GrpcMessage answer;
  if (ResponseTypeOf(request.type) == nullptr) {
    answer = Error(kNoHandler, "RequestHandler Not Found");
  } else if (it == conns_.end() || !it->second.registered) {
    answer = Error(kUnregistered, "Connection is unregistered.");
  } else {
    ++stats_.requests_by_type[request.type];
    answer = Dispatch(conn_id, it->second, request);
  }
  // Every success body starts with its resultCode 200.
  if (answer.body.rfind(R"({"resultCode":200,)", 0) != 0) ++stats_.request_errors;
  return answer;
}

GrpcMessage GrpcNaming::Dispatch(GrpcConnId conn_id, Connection& conn, const GrpcMessage& message) {
  const std::string response_type = ResponseTypeOf(message.type);
  JsonNode root;
  if (const Status parsed = ParseObject(message.body, &root); !parsed.ok()) {
    return Error(kBadGateway, parsed.message());
  }
  Request r;
  r.namespace_id = std::string(kDefaultNamespace);
  r.type = "null";  // Java's text for an absent type.
  Status read = Status::Ok();
  auto step = [&read](const Status& status) {
    if (read.ok()) read = status;
  };
  step(ReadString(root, "namespace", &r.namespace_id));
  step(ReadString(root, "serviceName", &r.service_name));
  step(ReadString(root, "groupName", &r.group_name));
  // Each type reads its own fields (Jackson ignores the others, whatever they hold).
  const std::string& type = message.type;
  const bool instance_type = type == kInstanceRequest || type == kPersistentInstanceRequest;
  if (instance_type || type == kBatchInstanceRequest) step(ReadString(root, "type", &r.type));
  if (const JsonNode* instance = instance_type ? Member(root, "instance") : nullptr) {
    r.instances.emplace_back();
    step(ParseInstance(*instance, &r.instances.back()));
  }
  if (const JsonNode* instances =
          type == kBatchInstanceRequest ? Member(root, "instances") : nullptr) {
    if (instances->kind != JsonNode::Kind::kArray) {
      step(BadField("instances", "must be an array"));
    } else {
      for (const JsonNode& node : instances->members) {
        if (!read.ok()) break;
        r.instances.emplace_back();
        step(ParseInstance(node, &r.instances.back()));
      }
    }
  }
  if (type == kServiceQueryRequest) {
    step(ReadString(root, "cluster", &r.clusters));
    step(ReadBool(root, "healthyOnly", &r.healthy_only));
  }
  if (type == kSubscribeServiceRequest) {
    step(ReadString(root, "clusters", &r.clusters));
    step(ReadBool(root, "subscribe", &r.subscribe));
  }
  if (type == kServiceListRequest) {
    step(ReadInt(root, "pageNo", &r.page_no));
    step(ReadInt(root, "pageSize", &r.page_size));
  }
  if (!read.ok()) return Error(kBadGateway, read.message());
  // The store files an empty namespace under "public"; subscriptions and queries must too.
  if (r.namespace_id.empty()) r.namespace_id = std::string(kDefaultNamespace);

  conn.last_active = clock_->Now();
  if (message.type == kHealthCheckRequest) return Success("HealthCheckResponse");

  // Auth: the same tokens as the v1 API, from the request headers (any case).
  if (options_.check_token) {
    std::optional<std::string> token;
    for (const auto& [name, value] : message.headers) {
      if (EqualsIgnoreCase(name, "accessToken")) {
        token = value;
      } else if (!token && EqualsIgnoreCase(name, "Authorization") &&
                 value.rfind("Bearer ", 0) == 0) {
        token = value.substr(7);
      }
    }
    const TokenState state =
        token && !token->empty() ? options_.check_token(*token) : TokenState::kMissing;
    switch (state) {
      case TokenState::kValid:
        break;
      case TokenState::kMissing:
        return GrpcFailure(response_type, kServerError, kNoRight, "user not found!");
      case TokenState::kExpired:
        return GrpcFailure(response_type, kServerError, kNoRight, "token expired!");
      case TokenState::kInvalid:
        return GrpcFailure(response_type, kServerError, kNoRight, "token invalid!");
    }
  }

  // The parameter checks, answered in the handler's own type.
  auto param_error = [&response_type](const std::string& text) {
    return GrpcFailure(response_type, kServerError, kInvalidParam, "Param check invalid:" + text);
  };
  auto too_long = [](std::string_view name, size_t max) {
    return "Param '" + std::string(name) + "' is illegal, the param length should not exceed " +
           std::to_string(max) + ".";
  };
  auto illegal_chars = [](std::string_view name) {
    return "Param '" + std::string(name) +
           "' is illegal, illegal characters should not appear in the param.";
  };
  if (r.namespace_id.size() > kMaxNamespaceLength) {
    return param_error(too_long("namespaceId", kMaxNamespaceLength));
  }
  if (!IsClusterChars(r.namespace_id, "_")) return param_error(illegal_chars("namespaceId"));
  if (r.service_name.size() > options_.max_service_name_length) {
    return param_error(too_long("serviceName", options_.max_service_name_length));
  }
  if (r.group_name.size() > options_.max_service_name_length) {
    return param_error(too_long("groupName", options_.max_service_name_length));
  }
  for (size_t begin = 0; begin <= r.clusters.size();) {  // A comma-separated list.
    const size_t end = std::min(r.clusters.find(',', begin), r.clusters.size());
    const std::string_view name = std::string_view(r.clusters).substr(begin, end - begin);
    if (name.size() > kMaxClusterLength) return param_error(too_long("cluster", kMaxClusterLength));
    if (!IsClusterChars(name, "_")) return param_error(illegal_chars("cluster"));
    begin = end + 1;
  }
  if (r.instances.size() > options_.max_batch_instances) {
    return param_error("Param 'instances' is illegal, at most " +
                       std::to_string(options_.max_batch_instances) + " instances in one request.");
  }
  for (const InstanceFields& instance : r.instances) {
    if (instance.cluster) {
      if (instance.cluster->size() > kMaxClusterLength) {
        return param_error(too_long("cluster", kMaxClusterLength));
      }
      if (!IsClusterChars(*instance.cluster, "_")) return param_error(illegal_chars("cluster"));
    }
    if (instance.spec.ip.size() > kMaxIpLength) return param_error(too_long("ip", kMaxIpLength));
    if (std::any_of(instance.spec.ip.begin(), instance.spec.ip.end(),
                    [](char c) { return static_cast<unsigned char>(c) <= ' '; })) {
      return param_error(illegal_chars("ip"));
    }
    if (instance.port < 0 || instance.port > 65535) {
      return param_error("Param 'port' is illegal, the value should be between 0 and 65535.");
    }
    size_t bytes = 0;
    for (const auto& [key, value] : instance.spec.metadata) bytes += key.size() + value.size();
    if (bytes > options_.max_metadata_bytes) {
      return param_error("Param 'metadata' is illegal, its keys and values take " +
                         std::to_string(bytes) + " bytes, more than " +
                         std::to_string(options_.max_metadata_bytes) + ".");
    }
  }

  if (message.type == kServiceListRequest) return List(r);
  auto blank = [](const std::string& s) {
    return s.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
  };
  if (blank(r.service_name)) {
    return ErrorOf(kServerError, "Param 'serviceName' is illegal, serviceName is blank");
  }
  if (blank(r.group_name)) {
    return ErrorOf(kServerError, "Param 'groupName' is illegal, groupName is blank");
  }
  if (message.type == kInstanceRequest) return HandleInstance(conn, r, false);
  if (message.type == kPersistentInstanceRequest) return HandleInstance(conn, r, true);
  if (message.type == kBatchInstanceRequest) return Batch(conn, r);
  if (message.type == kServiceQueryRequest) return Query(r);
  return Subscribe(conn_id, conn, r);
}

namespace {

// Nacos's checkInstanceIsLegal, then the spec as the store takes it: the id generated as Nacos
// does (from the values sent: a null cluster shows as "null"), the cluster defaulted.
Status ToSpec(const InstanceFields& fields, const std::string& namespace_id,
              const std::string& grouped, bool persistent, InstanceSpec* spec,
              GrpcMessage* refusal) {
  if (fields.cluster && !fields.cluster->empty() && !IsClusterChars(*fields.cluster, "")) {
    *refusal = ErrorOf(kInvalidParam,
                       "Instance 'clusterName' should be characters with only 0-9a-zA-Z-. "
                       "(current: " +
                           *fields.cluster + ")");
    return InvalidArgumentError("cluster");
  }
  *spec = fields.spec;
  spec->namespace_id = namespace_id;
  spec->service_name = grouped;
  spec->port = static_cast<int>(fields.port);
  spec->cluster_name = fields.cluster.value_or("");
  spec->ephemeral = !persistent;
  spec->any_weight = true;
  const std::string service_for_id =
      fields.service_name && !fields.service_name->empty() ? *fields.service_name : grouped;
  spec->instance_id = fields.instance_id;
  auto generator = spec->metadata.find(std::string(kInstanceIdGeneratorKey));
  const bool snowflake = generator != spec->metadata.end() &&
                         registry::internal::EqualsIgnoreCase(generator->second, "snowflake");
  if (spec->instance_id.empty() && !snowflake) {
    spec->instance_id = spec->ip + "#" + std::to_string(spec->port) + "#" +
                        fields.cluster.value_or("null") + "#" + service_for_id;
  }
  return Status::Ok();
}

GrpcMessage ClientDisconnected(const std::string& conn_id) {
  return ErrorOf(kClientDisconnect,
                 "errCode: -401, errMsg: Client [" + conn_id +
                     "] connection already disconnect, can't register ephemeral instance. ");
}

}  // namespace

GrpcMessage GrpcNaming::HandleInstance(Connection& conn, const Request& r, bool persistent) {
  const bool reg = r.type == "registerInstance";
  if (!reg && r.type != "deregisterInstance") {
    return ErrorOf(kInvalidParam, "Unsupported request type " + r.type);
  }
  const std::string grouped = r.Grouped();
  InstanceFields fields;
  if (!r.instances.empty()) fields = r.instances.front();
  InstanceSpec spec;
  GrpcMessage refusal;
  if (reg || persistent) {
    if (!ToSpec(fields, r.namespace_id, grouped, persistent, &spec, &refusal).ok()) return refusal;
  }
  Status status = Status::Ok();
  if (persistent) {
    if (reg) {
      status = store_->Register(spec);
    } else {
      InstanceKey key;
      key.namespace_id = r.namespace_id;
      key.service_name = grouped;
      key.cluster_name = spec.cluster_name;
      key.ip = spec.ip;
      key.port = spec.port;
      key.ephemeral = false;
      status = store_->Deregister(key);
    }
  } else if (reg) {
    if (!conn.naming) return ClientDisconnected(conn.id);
    status = store_->ReplaceOwned(conn.id, r.namespace_id, grouped, {spec});
  } else if (conn.naming) {
    status = store_->ReplaceOwned(conn.id, r.namespace_id, grouped, {});
  }
  if (!status.ok()) return StoreError(status);
  return Success("InstanceResponse", r.type);
}

GrpcMessage GrpcNaming::Batch(Connection& conn, const Request& r) {
  if (r.type != "batchRegisterInstance") {
    return ErrorOf(kInvalidParam, "Unsupported request type " + r.type);
  }
  const std::string grouped = r.Grouped();
  std::vector<InstanceSpec> specs(r.instances.size());
  for (size_t i = 0; i < r.instances.size(); ++i) {
    GrpcMessage refusal;
    if (!ToSpec(r.instances[i], r.namespace_id, grouped, false, &specs[i], &refusal).ok()) {
      return refusal;
    }
  }
  if (!conn.naming) return ClientDisconnected(conn.id);
  const Status status = store_->ReplaceOwned(conn.id, r.namespace_id, grouped, specs);
  if (!status.ok()) return StoreError(status);
  return Success("BatchInstanceResponse", r.type);
}

std::shared_ptr<const std::string> GrpcNaming::RenderServiceInfo(const ServiceKey& key,
                                                                 const std::string& clusters,
                                                                 bool healthy_only) const {
  ListQuery query;
  query.namespace_id = key.first;
  query.service_name = key.second;
  query.clusters = clusters;
  query.healthy_only = healthy_only;
  Result<ServiceSnapshot> listed = store_->List(query);
  ServiceSnapshot snapshot;
  if (listed.ok()) snapshot = std::move(*listed);
  JsonOut out;
  out.BeginObject();
  out.Key("name");
  out.String(UngroupedServiceName(key.second));
  out.Key("groupName");
  out.String(GroupNameOf(key.second));
  out.Key("clusters");
  out.String(clusters);
  out.Key("cacheMillis");
  out.Int(kCacheMillis);
  out.Key("hosts");
  out.BeginArray();
  for (const Instance& host : snapshot.hosts) WriteHost(out, host);
  out.EndArray();
  out.Key("lastRefTime");
  out.Int(snapshot.found ? snapshot.last_ref_time : clock_->WallMillis());
  out.Key("checksum");
  out.String("");
  out.Key("allIPs");
  out.Bool(false);
  out.Key("reachProtectionThreshold");
  out.Bool(snapshot.has_instances && snapshot.protect_threshold_reached);
  out.Key("valid");
  out.Bool(true);
  out.EndObject();
  return std::make_shared<const std::string>(out.Take());
}

GrpcMessage GrpcNaming::Query(const Request& r) {
  const std::shared_ptr<const std::string> info =
      RenderServiceInfo({r.namespace_id, r.Grouped()}, r.clusters, r.healthy_only);
  std::string body =
      R"({"resultCode":200,"errorCode":0,"serviceInfo":)" + *info + R"(,"success":true})";
  if (body.size() > options_.max_message_bytes) {
    return Oversize("QueryServiceResponse", body.size());
  }
  return Message("QueryServiceResponse", std::move(body));
}

GrpcMessage GrpcNaming::Oversize(std::string type, size_t bytes) {
  ++stats_.oversize_answers;
  return GrpcFailure(std::move(type), kServerError, kServerError,
                 "the answer of " + std::to_string(bytes) +
                     " bytes exceeds the gRPC message limit of " +
                     std::to_string(options_.max_message_bytes) + " bytes");
}

GrpcMessage GrpcNaming::List(const Request& r) {
  const ServiceListPage page = store_->ListServices(
      r.namespace_id, r.group_name, static_cast<int>(r.page_no), static_cast<int>(r.page_size));
  JsonOut out;
  BeginSuccess(out);
  out.Key("count");
  out.Int(static_cast<int64_t>(page.count));
  out.Key("serviceNames");
  out.BeginArray();
  for (const std::string& name : page.names) out.String(name);
  out.EndArray();
  out.Key("success");
  out.Bool(true);
  out.EndObject();
  return Message("ServiceListResponse", out.Take());
}

GrpcMessage GrpcNaming::Subscribe(GrpcConnId conn_id, Connection& conn, const Request& r) {
  const ServiceKey key{r.namespace_id, r.Grouped()};
  const std::shared_ptr<const std::string> info = RenderServiceInfo(key, r.clusters, false);
  std::string body = R"({"resultCode":200,"errorCode":0,"message":"success","serviceInfo":)" +
                     *info + R"(,"success":true})";
  // Too large to answer: no new subscription is kept, as a push of it could not be sent either.
  const bool oversize = body.size() > options_.max_message_bytes;
  // Without a naming client (no module=naming label) Nacos answers but keeps no subscription.
  if (!r.subscribe) {
    Unsubscribe(conn_id, conn, key);
  } else if (conn.naming && !oversize) {
    if (conn.subscriptions.count(key) == 0) {
      const bool conn_full = conn.subscriptions.size() >= options_.max_subscriptions_per_connection;
      if (conn_full || subscription_count_ >= options_.max_subscriptions) {
        ++stats_.subscriptions_refused;
        return GrpcFailure("SubscribeServiceResponse", kServerError, kServerError,
                       conn_full ? "too many subscriptions: a connection may hold " +
                                       std::to_string(options_.max_subscriptions_per_connection)
                                 : "too many subscriptions: the server holds at most " +
                                       std::to_string(options_.max_subscriptions));
      }
    }
    auto [it, added] = conn.subscriptions.try_emplace(key);
    it->second.clusters = r.clusters;
    if (added) {
      ++subscription_count_;
      subscribers_[key].conns.insert(conn_id);
      // The first subscription of a connection to a service gets the data pushed.
      SendPush(conn_id, conn, key, it->second, info, false);
    }
  }
  if (oversize) return Oversize("SubscribeServiceResponse", body.size());
  return Message("SubscribeServiceResponse", std::move(body));
}

void GrpcNaming::Unsubscribe(GrpcConnId conn_id, Connection& conn, const ServiceKey& key) {
  auto it = conn.subscriptions.find(key);
  if (it == conn.subscriptions.end()) return;
  if (!it->second.pending_id.empty()) conn.acks.erase(it->second.pending_id);
  conn.subscriptions.erase(it);
  --subscription_count_;
  auto subs = subscribers_.find(key);
  if (subs == subscribers_.end()) return;
  subs->second.conns.erase(conn_id);
  if (subs->second.conns.empty() && !subs->second.push_scheduled) subscribers_.erase(subs);
}

// --- Pushes -------------------------------------------------------------------------------------

void GrpcNaming::ServiceChanged(const std::string& namespace_id,
                                const std::string& grouped_service) {
  if (stopped_) return;
  const ServiceKey key{namespace_id, grouped_service};
  auto it = subscribers_.find(key);
  if (it == subscribers_.end() || it->second.conns.empty()) return;
  ServiceSubscribers& state = it->second;
  if (state.push_scheduled) {
    ++stats_.changes_merged;
    return;
  }
  const TimePoint now = clock_->Now();
  if (state.last_push && options_.push_delay.count() > 0 &&
      now < *state.last_push + options_.push_delay) {
    if (ScheduleTask(*state.last_push + options_.push_delay - now, [this, key] {
          auto subs = subscribers_.find(key);
          if (subs == subscribers_.end()) return;
          subs->second.push_scheduled = false;
          if (subs->second.conns.empty()) {
            subscribers_.erase(subs);
            return;
          }
          PushNow(key);
        })) {
      state.push_scheduled = true;
      ++stats_.changes_merged;
      return;
    }
  }
  PushNow(key);
}

void GrpcNaming::PushNow(const ServiceKey& key) {
  auto it = subscribers_.find(key);
  if (it == subscribers_.end()) return;
  it->second.last_push = clock_->Now();
  // One rendering per cluster selection, shared by its subscribers.
  std::map<std::string, std::shared_ptr<const std::string>> rendered;
  for (GrpcConnId conn_id : it->second.conns) {
    auto conn = conns_.find(conn_id);
    if (conn == conns_.end()) continue;
    auto sub = conn->second.subscriptions.find(key);
    if (sub == conn->second.subscriptions.end()) continue;
    std::shared_ptr<const std::string>& info = rendered[sub->second.clusters];
    if (info == nullptr) info = RenderServiceInfo(key, sub->second.clusters, false);
    SendPush(conn_id, conn->second, key, sub->second, info, false);
  }
}

void GrpcNaming::SendPush(GrpcConnId conn_id, Connection& conn, const ServiceKey& key,
                          Subscription& sub, std::shared_ptr<const std::string> info, bool resend) {
  if (!sub.pending_id.empty()) {
    conn.acks.erase(sub.pending_id);
    if (!resend) ++stats_.pushes_superseded;
  }
  const std::string request_id = NextRequestId();
  std::string body = ServerRequest(request_id, "naming", *info);
  sub.generation = ++last_generation_;  // Any resend of the superseded push stops.
  if (body.size() > options_.max_message_bytes) {
    // The client would refuse it; sending would only cost the connection. The next change that
    // fits is pushed.
    ++stats_.pushes_oversize_skipped;
    sub.pending_id.clear();
    sub.pending_info.reset();
    return;
  }
  ++(resend ? stats_.push_resends : stats_.pushes_sent);
  sub.pending_id = request_id;
  sub.pending_info = std::move(info);
  conn.acks[sub.pending_id] = key;
  Send(conn_id, "NotifySubscriberRequest", std::move(body));
  sub.ack_deadline = clock_->Now() + options_.ack_timeout;
  // One ack timer per subscription, moved on to the latest push's deadline when it fires.
  if (!sub.ack_timer) {
    sub.ack_timer =
        ScheduleTask(options_.ack_timeout, [this, conn_id, key] { OnAckTimeout(conn_id, key); });
  }
}

void GrpcNaming::OnAckTimeout(GrpcConnId conn_id, const ServiceKey& key) {
  auto conn = conns_.find(conn_id);
  if (conn == conns_.end()) return;
  auto it = conn->second.subscriptions.find(key);
  if (it == conn->second.subscriptions.end()) return;
  Subscription& sub = it->second;
  sub.ack_timer = false;
  if (sub.pending_id.empty()) return;  // Acked.
  const TimePoint now = clock_->Now();
  if (now < sub.ack_deadline) {  // A newer push is outstanding.
    sub.ack_timer =
        ScheduleTask(sub.ack_deadline - now, [this, conn_id, key] { OnAckTimeout(conn_id, key); });
    return;
  }
  const uint64_t generation = sub.generation;
  ScheduleTask(options_.resend_delay,
               [this, conn_id, key, generation] { Resend(conn_id, key, generation); });
}

void GrpcNaming::Resend(GrpcConnId conn_id, const ServiceKey& key, uint64_t generation) {
  auto conn = conns_.find(conn_id);
  if (conn == conns_.end()) return;
  auto sub = conn->second.subscriptions.find(key);
  // Acked, superseded by newer data, or gone: nothing to resend.
  if (sub == conn->second.subscriptions.end() || sub->second.generation != generation ||
      sub->second.pending_id.empty()) {
    return;
  }
  SendPush(conn_id, conn->second, key, sub->second, sub->second.pending_info, true);
}

// --- Idle connections ---------------------------------------------------------------------------

void GrpcNaming::EnsureEjector() {
  if (ejector_scheduled_ || conns_.empty()) return;
  ejector_scheduled_ = ScheduleTask(options_.ejector_period, [this] {
    ejector_scheduled_ = false;
    RunEjector();
    EnsureEjector();
  });
}

void GrpcNaming::RunEjector() {
  const TimePoint now = clock_->Now();
  std::vector<GrpcConnId> silent;
  for (auto& [conn_id, conn] : conns_) {
    const auto idle = now - conn.last_active;
    if (!conn.registered) {
      if (idle >= options_.detection_idle + options_.detection_timeout) silent.push_back(conn_id);
      continue;
    }
    if (idle < options_.detection_idle || !conn.detection_id.empty()) continue;
    conn.detection_id = NextRequestId();
    ++stats_.detections;
    Send(conn_id, "ClientDetectionRequest", ServerRequest(conn.detection_id, "internal"));
    const GrpcConnId id = conn_id;
    ScheduleTask(options_.detection_timeout,
                 [this, id, request_id = conn.detection_id] { CheckDetection(id, request_id); });
  }
  for (GrpcConnId conn_id : silent) Eject(conn_id);
}

void GrpcNaming::CheckDetection(GrpcConnId conn_id, const std::string& request_id) {
  auto it = conns_.find(conn_id);
  if (it == conns_.end() || it->second.detection_id != request_id) return;
  Eject(conn_id);
}

void GrpcNaming::Eject(GrpcConnId conn_id) {
  ++stats_.ejections;
  DUBBO_LOG(INFO) << "gRPC connection " << ConnectionId(conn_id) << " silent, closed";
  RemoveConnection(conn_id);
  if (options_.sink != nullptr) options_.sink->Close(conn_id);
}

void GrpcNaming::Shutdown() {
  if (stopped_) return;
  for (const auto& [conn_id, conn] : conns_) {
    if (conn.registered) {
      Send(conn_id, "ConnectResetRequest", ServerRequest(NextRequestId(), "internal"));
    }
  }
  stopped_ = true;
  timers_.Stop();
}

GrpcNamingStats GrpcNaming::stats() const {
  GrpcNamingStats stats = stats_;
  stats.connections = conns_.size();
  for (const auto& [conn_id, conn] : conns_) {
    stats.registered += conn.registered ? 1 : 0;
    stats.subscriptions += conn.subscriptions.size();
  }
  return stats;
}

}  // namespace dubbo::naming_server
