// service_info_json: the service JSON of the Nacos v1 list API and of UDP push packets (the `data`
// string), read into a ServiceInfo; the reverse for the disk cache; and the change detection the
// client's HostReactor runs when it applies new data (spec nacos-naming-v1-protocol.md §5, §7.2,
// §8).
//
// ParseServiceInfo takes hostile input (a UDP push is attacker-controlled): it never crashes, caps
// the size (kMaxServiceInfoJsonBytes) and the nesting depth (kMaxServiceInfoJsonDepth), and answers
// kInvalidArgument with a message naming the problem. It rejects a whole document rather than
// dropping a bad host, so that one malformed entry cannot shrink or wipe a subscriber's list.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef DUBBO_REGISTRY_NACOS_SERVICE_INFO_JSON_H_
#define DUBBO_REGISTRY_NACOS_SERVICE_INFO_JSON_H_

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"

namespace dubbo::registry::nacos {

// Larger documents are rejected before parsing.
inline constexpr size_t kMaxServiceInfoJsonBytes = 16 * 1024 * 1024;
// Objects and arrays nested deeper than this (the root object is level 1) are rejected.
inline constexpr int kMaxServiceInfoJsonDepth = 32;

// Reads a list response or a push `data` string. Both server shapes are accepted:
//   1.4.x {"hosts":[..],"dom","name","cacheMillis","lastRefTime","checksum","useSpecifiedURL",
//          "clusters","env","metadata"}, host {"ip","port","valid","healthy","marked","instanceId",
//          "metadata","enabled","weight","clusterName","serviceName","ephemeral"};
//   2.x   {"name","groupName","clusters","cacheMillis","hosts","lastRefTime","checksum","allIPs",
//          "reachProtectionThreshold","valid"}, host also "instanceHeartBeatInterval", ....
// Leniency, as Jackson reads the Java client's ServiceInfo:
//   * unknown members are ignored (syntax- and depth-checked only); a repeated member's last value
//     wins; null means "absent" for every member except `hosts`;
//   * numbers may come as strings ("10000") and integers as integral floats (1e4); booleans as
//     "true"/"false" strings (any case); text fields accept numbers and booleans as their text;
//   * metadata values: strings as they are, numbers as their source text, booleans as
//     "true"/"false", objects and arrays as compact JSON text; null values are dropped;
//   * a host's `healthy` wins over `valid` (1.4.x's duplicate); `valid` alone is used as healthy.
// Derived fields: group_name is `groupName` when non-empty, else the part of `name` before "@@",
// else DEFAULT_GROUP. A `name` without "@@" becomes groupName@@name when groupName is non-empty
// (§8), and stays bare otherwise.
// Rejected (kInvalidArgument): more than kMaxServiceInfoJsonBytes, a NUL byte, invalid JSON,
// trailing non-whitespace, nesting deeper than kMaxServiceInfoJsonDepth, a string that is not
// valid UTF-8 after unescaping (a lone surrogate escape included), a root that is not an object,
// a missing or empty `name`, a missing or non-array `hosts`, a field of the wrong type or out of
// range (cacheMillis < 0, port outside [0, 65535], weight negative or not finite), and any host
// that is not an object or lacks a non-empty `ip` or a `port`.
Result<ServiceInfo> ParseServiceInfo(std::string_view json);

// One line of JSON in the 1.4.x list-response shape, so that the Java client can read our disk
// cache; adds `groupName` (only when `name` is grouped, so that the round trip is exact) and
// `reachProtectionThreshold`. Metadata is written sorted by key. For every value ParseServiceInfo
// returns, ParseServiceInfo(ServiceInfoToJson(x)) == x. Invalid UTF-8 in a string is written as
// U+FFFD and a non-finite weight as 0.0, so the output is always valid JSON.
std::string ServiceInfoToJson(const ServiceInfo& info);

// What changed from `before` to `after`, instances told apart by ip:port (Instance::Address()):
// added (in after only), removed (in before only) and modified (in both, some field differs; the
// after version is reported). A repeated address counts once, its last entry winning, as in the
// Java client's maps. added and modified follow after's order, removed before's. instances is
// after.hosts; service_name and clusters are after's.
ServiceChangeEvent DiffServiceInfo(const ServiceInfo& before, const ServiceInfo& after);

// JSON output helpers for the client's requests. AppendJsonString writes `s` as a string literal
// (quotes included; invalid UTF-8 becomes U+FFFD). AppendJsonDouble writes the shortest text that
// reads back as `v`, with ".0" on integral values as Java does (non-finite: 0.0). MetadataJson is
// an object of string members, sorted by key.
void AppendJsonString(std::string_view s, std::string* out);
void AppendJsonDouble(double v, std::string* out);
std::string MetadataJson(const std::map<std::string, std::string>& metadata);

// True when some host is healthy, enabled and of weight > 0. Empty-push protection ignores data for
// which this is false (§8).
bool HasUsableInstance(const ServiceInfo& info);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_SERVICE_INFO_JSON_H_
