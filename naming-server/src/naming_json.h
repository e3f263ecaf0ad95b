// naming_json: the JSON bodies of the Nacos v1 naming API as a 1.4.x server writes them, and the
// parsers for the JSON a client sends (the `metadata` parameter and the `beat` parameter).
//
// Renderers write fields in the order Nacos 1.4.x does; maps (metadata) are written sorted by key.
// Parsers take hostile input: they never crash, cap the size and the nesting depth, and answer
// kInvalidArgument with a clear message.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef DUBBO_NAMING_SERVER_NAMING_JSON_H_
#define DUBBO_NAMING_SERVER_NAMING_JSON_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "instance_store.h"
#include "json_out.h"

namespace dubbo::naming_server {

// Inputs larger than these are rejected before parsing.
inline constexpr size_t kMaxMetadataBytes = 64 * 1024;
inline constexpr size_t kMaxBeatBytes = 128 * 1024;
// JSON nested deeper than this (objects and arrays) is rejected.
inline constexpr int kMaxJsonDepth = 32;

// How the HTTP layer (or the push service) wants a list response rendered.
struct ListRenderOptions {
  // 1.4.x: 10000 (pushCacheMillis) when the request (re)registered a push subscriber, else 3000
  // (defaultCacheMillis); always 10000 in a UDP push.
  int64_t cache_millis = 3000;
  // True for a Java client >= 1.0.0 (User-Agent "Nacos-Java-Client:v<version>"): `dom` and each
  // host's `serviceName` carry the grouped name; false: the ungrouped name (`name` stays grouped).
  bool grouped_names = true;
  std::string env;  // Echoed.
};

// GET /instance/list, 1.4.x shapes:
//   unknown service:  {"name","clusters","cacheMillis","hosts":[]}
//   no instance in the requested clusters:
//     {"dom","name","cacheMillis","lastRefTime","checksum","useSpecifiedURL","clusters","env",
//      "hosts":[],"metadata"}
//   otherwise: {"hosts":[...],"dom","name","cacheMillis","lastRefTime","checksum",
//      "useSpecifiedURL":false,"clusters","env","metadata"}
//   host: {"ip","port","valid","healthy","marked","instanceId","metadata","enabled","weight",
//      "clusterName","serviceName","ephemeral"} (valid == healthy).
// lastRefTime is the service revision (1.4.x writes the current time; both only grow). checksum is
// the 32-hex MD5 of a canonical text of the snapshot (service name, the normalised cluster list,
// threshold, metadata and every listed host); like 1.4.x's it is opaque and the Java client
// ignores it.
// The checksum covers the requested cluster list as NormalizedClusters() gives it, not as written.
std::string RenderInstanceList(const ServiceSnapshot& snapshot, const ListRenderOptions& options);

// A list answer of a known service (snapshot.found) without its echoed fields: what depends only
// on the service's data and on the variant asked for (cluster list, healthyOnly, grouped names).
// RenderInstanceList() == AssembleInstanceList(RenderListParts(snapshot, grouped_names),
// cache_millis, snapshot.clusters, env) for a known service.
struct ListAnswerParts {
  std::string head;    // `{"hosts":[...],"dom":..,"name":..,"cacheMillis":`
  std::string middle;  // `,"lastRefTime":..,"checksum":"..","useSpecifiedURL":false,"clusters":`
  std::string tail;    // `,"hosts":[]` (no instance) then `,"metadata":{..}}`
  size_t size() const { return head.size() + middle.size() + tail.size(); }
};
ListAnswerParts RenderListParts(const ServiceSnapshot& snapshot, bool grouped_names);
// The answer: `parts` with the echoed fields. Copies the parts; no MD5, no JSON of hosts.
std::string AssembleInstanceList(const ListAnswerParts& parts, int64_t cache_millis,
                                 std::string_view clusters, std::string_view env);

// PUT /instance/beat: {"clientBeatInterval":5000,"code":10200,"lightBeatEnabled":true}, or for an
// unknown instance on a light beat {"clientBeatInterval":5000,"code":20404}.
std::string RenderBeatResult(const BeatResult& result);

// GET /instance: {"service","ip","port","clusterName","weight","healthy","instanceId","metadata"}.
std::string RenderInstanceDetail(const Instance& instance);

// GET /service/list, 1.4.8: {"doms":["demo"],"count":1}.
std::string RenderServiceList(const ServiceListPage& page);

// GET /service: {"name","namespaceId","protectThreshold","metadata","selector":{"type":"none"},
// "groupName","clusters":[{"name","healthChecker":{"type":"TCP"},"metadata":{}}]}.
std::string RenderServiceDetail(const ServiceInfo& service);

struct MetricsView {
  std::string status = "UP";
  size_t service_count = 0;   // Also written as responsibleServiceCount (one node).
  size_t instance_count = 0;  // Also written as responsibleInstanceCount.
  double cpu = 0.0;
  double load = 0.0;
  double mem = 0.0;
};
// GET /operator/metrics, 1.4.8: {"status","serviceCount","instanceCount","raftNotifyTaskCount":0,
// "responsibleServiceCount","responsibleInstanceCount","cpu","load","mem"}.
std::string RenderMetrics(const MetricsView& metrics);

// The `metadata` parameter (register, update, patch, service create/update), as 1.4.x
// UtilsAndCommons.parseMetadata reads it:
//   blank -> empty; a JSON object -> its members, where strings are taken as they are, numbers as
//   their source text ("1.50" stays "1.50") and booleans as "true"/"false", and a null value drops
//   the key; JSON null -> empty. Anything else (invalid JSON, another JSON type, an object with an
//   object or array value, nesting beyond kMaxJsonDepth) is read as the legacy form "k1=v1,k2=v2"
//   (Java split semantics: trailing empty parts dropped; each part must split on '=' into exactly
//   two), else kInvalidArgument "metadata format incorrect:<raw>".
// Longer than kMaxMetadataBytes: kInvalidArgument "metadata too large: <n> bytes (max <m>)".
// Text that is not valid UTF-8, or a JSON string whose escapes spell an unpaired surrogate
// ("\ud800"): kInvalidArgument "metadata is not valid UTF-8..." (never read as the legacy form).
// On an error, *reason (when not null) is set to kInvalidUtf8 for the UTF-8 errors, else to
// kInvalidParameter.
Result<Metadata> ParseMetadata(std::string_view raw, RejectReason* reason = nullptr);

// The `beat` parameter, e.g. {"port":8080,"ip":"10.0.0.5","weight":1.0,"serviceName":
// "DEFAULT_GROUP@@demo","cluster":"DEFAULT","metadata":{"version":"1.0"},"scheduled":false,
// "period":5000,"stopped":false}. Reads ip, port, cluster, serviceName, weight, metadata,
// ephemeral; other fields are ignored whatever their type. Like Jackson it accepts numbers written
// as strings ("port":"8080"), an integral float for port, "true"/"false" strings for ephemeral,
// and a null for any field (the default stays). Missing fields keep BeatInfo's defaults (weight
// 1.0; 1.4.x would use 0.0, which makes a compensated instance unusable). Errors
// (kInvalidArgument): "beat too large: <n> bytes (max <m>)", "beat is nested too deeply (max 32
// levels)", "beat is not valid UTF-8..." (the text, or a string escape spelling an unpaired
// surrogate), "beat is not valid JSON: <reason> (offset <n>)" (a NUL byte included), "beat must be
// a JSON object", "beat field '<name>' has an invalid value". *reason as ParseMetadata().
Result<BeatInfo> ParseBeatInfo(std::string_view json, RejectReason* reason = nullptr);

// The text of a JSON number as a finite double; nullopt when it is not one whole number or does
// not fit a finite double.
std::optional<double> ParseDouble(std::string_view text);

// Lower-case hex MD5 (RFC 1321) of `data`.
std::string Md5Hex(std::string_view data);

// --- Building blocks, shared with the gRPC payloads (grpc_naming.cc) -----------------------------

// JsonOut, the compact writer: json_out.h.

// A parsed JSON value: the root and the members of containers up to `max_levels` deep (see
// ParseJsonTree()).
struct JsonNode {
  enum class Kind { kNull, kBool, kNumber, kString, kObject, kArray };
  Kind kind = Kind::kNull;
  std::string key;   // For members of an object.
  std::string text;  // String contents, a number's source text, "true"/"false".
  std::vector<JsonNode> members;
};

// Parses one JSON value (text after it is ignored, as Jackson does) with RapidJSON's SAX reader,
// keeping the members of containers up to `max_levels` deep (1: the root's members; deeper
// content is checked for syntax only). At most `max_values` values (each container counts one).
// Errors (kInvalidArgument): "too many values (max <n>)", "nested too deeply (max 32 levels)",
// "not valid UTF-8: ..." (then *bad_utf8 is set; the text, or a string escape spelling an
// unpaired surrogate), "not valid JSON: <reason> (offset <n>)" (a NUL byte included).
Status ParseJsonTree(std::string_view json, int max_levels, size_t max_values, JsonNode* root,
                     bool* bad_utf8);

// Members of a JSON object as Jackson reads Map<String, String>: strings and numbers as text,
// booleans as "true"/"false", null removes the key; nullopt if a value is an object or an array.
std::optional<Metadata> MetadataFromObject(const JsonNode& object);

}  // namespace dubbo::naming_server

#endif  // DUBBO_NAMING_SERVER_NAMING_JSON_H_
