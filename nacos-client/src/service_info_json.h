// service_info_json: the service JSON of the Nacos v1 list API and of UDP push packets (the `data`
// string), read into a ServiceInfo; the reverse for the disk cache; and the change detection the
// client's HostReactor runs when it applies new data.
//
// ParseServiceInfo takes hostile input (a UDP push is attacker-controlled): it never crashes, caps
// the size (kMaxServiceInfoJsonBytes) and the nesting depth (kMaxServerJsonDepth) through
// ReadServerJson, and answers kInvalidArgument with a message naming the problem. Faults are
// isolated per host: a host that does not parse is dropped on its own (and counted) and the rest
// of the list is used, so that one bad instance cannot hide the good ones beside it. Drops can
// never wipe a list: data from which a host was dropped and in which no usable instance is left is
// rejected whole, so the subscriber keeps what it had.
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
#include "server_json.h"

namespace dubbo::registry::nacos {

// Larger documents are rejected before parsing.
inline constexpr size_t kMaxServiceInfoJsonBytes = kMaxListAnswerBytes;

// What ParseServiceInfo left out of an accepted document.
struct ServiceInfoParseReport {
  size_t dropped_hosts = 0;      // Hosts dropped as malformed.
  std::string first_drop;        // Why the first of them was ("hosts[3].port: not an integer ...").
  std::string duration_problem;  // How cacheMillis was replaced or clamped ("" if it was not).
};

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
// else DEFAULT_GROUP. A `name` without "@@" becomes groupName@@name when groupName is non-empty,
// and stays bare otherwise. cacheMillis is clamped into kCacheMillisRange (server_json.h): a
// number outside [1 s, 1 h] is moved to the nearest bound, a value <= 0, not a number or absent
// is 10 s.
// Dropped host (counted in *report, logged at most once per 10 s per process): an element of
// `hosts` that is not an object, lacks a non-empty `ip` or a `port`, has a field of the wrong type
// or out of range (port outside [0, 65535], weight negative or not finite, metadata not an object),
// or holds a string or member name that is not valid UTF-8 anywhere inside it (metadata keys and
// values included).
// Rejected (kInvalidArgument): more than kMaxServiceInfoJsonBytes, a NUL byte, invalid JSON,
// trailing non-whitespace, nesting deeper than kMaxServerJsonDepth, a root that is not an object,
// a string that is not valid UTF-8 outside the hosts, a missing or empty `name`, a missing or
// non-array `hosts`, a root field of the wrong type (lastRefTime not an integer, say), and data
// from which a host was dropped and in which no usable instance (HasUsableInstance) is left.
Result<ServiceInfo> ParseServiceInfo(std::string_view json,
                                     ServiceInfoParseReport* report = nullptr);

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
// which this is false.
bool HasUsableInstance(const ServiceInfo& info);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_SERVICE_INFO_JSON_H_
