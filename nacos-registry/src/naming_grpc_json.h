// Internal: the JSON bodies of the Nacos 2.x/3.x gRPC naming messages, as the naming client's
// protocol core (naming_grpc_proxy.h) sends and reads them.
//
// Builders return a GrpcMessage with `type` and `body` set; the caller adds Metadata.clientIp and
// Metadata.headers. Bodies follow the Java client's shape: `"headers":{}` first (the headers travel
// in Metadata), `module` last ("naming" on naming requests, "internal" on the others), naming
// requests carry `namespace`, the ungrouped `serviceName` and `groupName`.
//
// Readers take what the server sent as hostile: every body goes through ReadServerJson
// (server_json.h: size cap, depth cap, no NUL), absent or null optional members and unknown keys
// are accepted, `success` is ignored (resultCode decides; absent resultCode means 200, as the Java
// client reads it), and every number is range-checked. A failed answer (an ErrorResponse, or
// resultCode != 200) becomes a Status whose message names the type, the errorCode and the server's
// message; its code follows errorCode:
//   400 -> kInvalidArgument, 403 -> kPermissionDenied, 302 (no handler: the server does not know
//   the request type) -> kNotFound, 503 (over the server's TPS limit) -> kResourceExhausted,
//   anything else (301, 300, 500, -401, ...) -> kUnavailable.
// An answer of another type, or one that does not parse, is kUnavailable with `malformed` set.
// AnswerFailure tells the caller what the Status cannot: the errorCode (301 means the server no
// longer knows the connection, and the caller reconnects) and whether the answer was malformed.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_JSON_H_
#define DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_JSON_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"
#include "grpc_payload.h"
#include "server_json.h"

namespace dubbo::registry::nacos {

using nacos_wire::GrpcMessage;

// errorCode of "Connection is unregistered.": the server does not know this connection.
inline constexpr int kGrpcErrorUnregistered = 301;
// errorCode of an authentication or authorisation failure.
inline constexpr int kGrpcErrorNoRight = 403;
// Cap on a requestId, connectionId or server IP read from the server.
inline constexpr size_t kMaxGrpcIdBytes = 256;

// "group@@name" split; a name without "@@" is in DEFAULT_GROUP.
struct GroupedService {
  std::string group;
  std::string name;
};
GroupedService SplitGrouped(std::string_view grouped);

// A server entry ("host:port", "[v6]:port", "http(s)://host[:port][/path]"; no port: 8848) as a
// host (brackets removed) and its main port. False when the entry is none of these.
struct ServerEndpoint {
  std::string host;
  int port = 0;
};
bool SplitServerAddress(std::string_view entry, ServerEndpoint* out);

// ---- Requests ----------------------------------------------------------------------------------

// {"headers":{},"module":"internal"}.
GrpcMessage BuildServerCheckRequest();
GrpcMessage BuildHealthCheckRequest();
// labels {AppName, module: naming, source: sdk}, tenant, abilityTable {} (asks for a SetupAck).
GrpcMessage BuildConnectionSetupRequest(std::string_view client_version, std::string_view app_name,
                                        std::string_view tenant);
// The Instance object: instanceId (when set), ip, port, weight, healthy, enabled, ephemeral,
// clusterName, serviceName (when set), metadata, and the heart-beat getters Java emits (from the
// preserved.* metadata, else 5000/15000/30000).
std::string InstanceJson(const Instance& instance);
// InstanceRequest (or PersistentInstanceRequest), type registerInstance / deregisterInstance.
GrpcMessage BuildInstanceRequest(std::string_view namespace_id, std::string_view grouped,
                                 const Instance& instance, bool do_register, bool persistent);
// BatchInstanceRequest batchRegisterInstance: `instances` replace the connection's record.
GrpcMessage BuildBatchInstanceRequest(std::string_view namespace_id, std::string_view grouped,
                                      const std::vector<Instance>& instances);
GrpcMessage BuildServiceQueryRequest(std::string_view namespace_id, std::string_view grouped,
                                     std::string_view clusters, bool healthy_only);
// serviceName "" and the group's name.
GrpcMessage BuildServiceListRequest(std::string_view namespace_id, std::string_view group,
                                    int page_no, int page_size);
// clusters always "": the caller filters.
GrpcMessage BuildSubscribeServiceRequest(std::string_view namespace_id, std::string_view grouped,
                                         bool subscribe);
// An answer on the stream (NotifySubscriberResponse, ClientDetectionResponse,
// ConnectResetResponse): resultCode, errorCode (0 on 200), message (when set), requestId, success.
GrpcMessage BuildStreamResponse(std::string_view type, std::string_view request_id,
                                int result_code = 200, std::string_view message = {});

// ---- Answers -----------------------------------------------------------------------------------

// What the Status of a failed answer cannot carry.
struct AnswerFailure {
  int error_code = 0;      // The server's errorCode (resultCode when errorCode is 0); 0: none.
  bool malformed = false;  // Not the expected type, or not parsable.
};

// The top-level members of `answer` when it is `expected_type` with resultCode 200. `max_bytes`
// caps the body. `failure` (may be null) is filled on failure.
Result<JsonAnswer> ReadGrpcAnswer(const GrpcMessage& answer, std::string_view expected_type,
                                  size_t max_bytes, AnswerFailure* failure);

struct ServerCheckInfo {
  std::string connection_id;
  bool support_ability_negotiation = false;
};
Result<ServerCheckInfo> ReadServerCheckResponse(const GrpcMessage& answer, AnswerFailure* failure);

// The serviceInfo object of a QueryServiceResponse or SubscribeServiceResponse (`expected_type`),
// as compact JSON text. A missing or non-object serviceInfo is malformed.
Result<std::string> ReadServiceInfoAnswer(const GrpcMessage& answer, std::string_view expected_type,
                                          AnswerFailure* failure);

// ServiceListResponse: count (an integer in [0, 2^31), absent: the page's size) and serviceNames
// (strings in valid UTF-8; other elements are dropped on their own; absent or null: none).
Result<ServiceList> ReadServiceListResponse(const GrpcMessage& answer, AnswerFailure* failure);

// ---- Server requests on the stream --------------------------------------------------------------

// The requestId of a server request: a string (or number) of at most kMaxGrpcIdBytes in valid
// UTF-8; "" when absent or null. kInvalidArgument when the body does not parse or the id is
// unusable.
Result<std::string> ReadServerRequestId(const GrpcMessage& request);

// SetupAckRequest: whether abilityTable.supportPersistentInstanceByGrpc is true.
Result<bool> ReadSetupAck(const GrpcMessage& request);

struct ConnectResetInfo {
  std::string request_id;
  std::string server_ip;  // "" when absent.
  int server_port = 0;    // The main port; 0 when absent. [1, 65535] otherwise.
};
Result<ConnectResetInfo> ReadConnectReset(const GrpcMessage& request);

struct NotifySubscriberInfo {
  std::string request_id;
  std::string service_info_json;  // The serviceInfo object, compact JSON text.
};
// kInvalidArgument when the body does not parse or serviceInfo is not an object; the requestId is
// still filled in when it could be read, so that the push can be answered.
Result<NotifySubscriberInfo> ReadNotifySubscriber(const GrpcMessage& request,
                                                  std::string* request_id);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_NACOS_REGISTRY_SRC_NAMING_GRPC_JSON_H_
