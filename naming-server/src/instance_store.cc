// InstanceStore implementation. See instance_store.h for the contracts.
//
// Thread-safety: not thread-safe; the caller serialises all calls.
#include "instance_store.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <system_error>
#include <tuple>
#include <utility>

#include "internal/ascii.h"
#include "internal/logging.h"

namespace dubbo::naming_server {

using registry::InvalidArgumentError;
using registry::NotFoundError;
using registry::TimePoint;

namespace {

constexpr double kMaxWeight = 10000.0;
constexpr double kMinPositiveWeight = 0.01;
constexpr char kWeightRangeMessage[] =
    "instance format invalid: The weights range from 0.0 to 10000.0";
constexpr char kBadIpMessage[] = "instance format invalid: Your IP address is spelled incorrectly";
constexpr char kHeartbeatRuleMessage[] =
    "Instance 'heart beat interval' must less than 'heart beat timeout' and 'ip delete timeout'.";

std::string Or(std::string_view value, std::string_view fallback) {
  return std::string(value.empty() ? fallback : value);
}

Status RequiredError(std::string_view param) {
  return InvalidArgumentError("Param '" + std::string(param) + "' is required.");
}

// Java String.split with a literal separator: no match -> {s}; otherwise trailing empty parts are
// dropped.
std::vector<std::string_view> JavaSplit(std::string_view s, std::string_view sep) {
  if (s.find(sep) == std::string_view::npos) return {s};
  std::vector<std::string_view> parts;
  size_t begin = 0;
  while (true) {
    const size_t pos = s.find(sep, begin);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(begin));
      break;
    }
    parts.push_back(s.substr(begin, pos - begin));
    begin = pos + sep.size();
  }
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  return parts;
}

// ASCII only, whatever the locale.
bool IsAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

using registry::internal::AsciiLower;
using registry::internal::EqualsIgnoreCase;

// [0-9a-zA-Z@.:_-]+
bool IsValidGroupedName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return IsAsciiAlnum(c) || c == '@' || c == '.' || c == ':' || c == '_' || c == '-';
  });
}

// [0-9a-zA-Z-]+
bool IsValidClusterName(std::string_view name) {
  return !name.empty() &&
         std::all_of(name.begin(), name.end(), [](char c) { return IsAsciiAlnum(c) || c == '-'; });
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Longest ip accepted (Nacos 2.3's parameter checker: 128).
constexpr size_t kMaxIpLength = 128;
// Longest cluster name accepted (Nacos 2.3's parameter checker: 64).
constexpr size_t kMaxClusterNameLength = 64;

// Nacos Instance.validate(): an ip of only digits and dots must make "<ip>:<port>" match
// (\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}):?(\d{1,5})?
// Beyond Nacos: any other ip must be a host name or an IPv6 address ([0-9A-Za-z.:%_-], at most
// 128 bytes), and any port must be 0-99999 (the range the regex allows).
bool IpLooksValid(std::string_view ip, int port) {
  if (ip.size() > kMaxIpLength || port < 0 || port > 99999) return false;
  if (!std::all_of(ip.begin(), ip.end(), [](char c) {
        return IsAsciiAlnum(c) || c == '.' || c == ':' || c == '%' || c == '_' || c == '-';
      })) {
    return false;
  }
  const bool digits_and_dots = !ip.empty() && std::all_of(ip.begin(), ip.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  });
  if (!digits_and_dots) return true;  // A host name: accepted as is.
  const std::vector<std::string_view> parts = JavaSplit(ip, ".");
  if (parts.size() != 4 || ip.back() == '.') return false;
  for (std::string_view part : parts) {
    if (part.empty() || part.size() > 3) return false;
  }
  return true;
}

double ClampWeight(double weight) {
  if (!(weight > 0)) return 0.0;  // Also NaN.
  if (weight < kMinPositiveWeight) return kMinPositiveWeight;
  return std::min(weight, kMaxWeight);
}

// Nacos core Instance.toString(): "<datumKey>_<weight>_<healthy>_<marked>_<cluster>".
std::string NacosInstanceString(const InstanceSpec& spec, const std::string& cluster) {
  const std::string datum_key =
      spec.port > 0 ? spec.ip + ":" + std::to_string(spec.port) + ":unknown:" + cluster
                    : spec.ip + ":unknown:" + cluster;
  return datum_key + "_" + JavaDoubleToString(spec.weight) + "_" +
         (spec.healthy ? "true" : "false") + "_" + (spec.marked ? "true" : "false") + "_" + cluster;
}

// The preserved metadata keys as std::string: Metadata lookups need one, and building it per lookup
// (the keys are longer than the small-string buffer) cost a malloc per instance in every sweep.
const std::string& HeartBeatIntervalKey() {
  static const std::string key(kHeartBeatIntervalKey);
  return key;
}
const std::string& HeartBeatTimeoutKey() {
  static const std::string key(kHeartBeatTimeoutKey);
  return key;
}
const std::string& IpDeleteTimeoutKey() {
  static const std::string key(kIpDeleteTimeoutKey);
  return key;
}

// t + d, or TimePoint::max() where that would overflow (metadata timeouts may be up to 18 digits of
// milliseconds, far beyond the nanosecond clock's range).
TimePoint SaturatingAdd(TimePoint t, std::chrono::milliseconds d) {
  if (d.count() < 0) return t;
  if (t > TimePoint() && d >= std::chrono::duration_cast<std::chrono::milliseconds>(
                                  TimePoint::max() - t)) {
    return TimePoint::max();
  }
  if (d >= std::chrono::duration_cast<std::chrono::milliseconds>(TimePoint::duration::max())) {
    return TimePoint::max();
  }
  return t + d;
}

// Comma-separated list (commons-lang StringUtils.split: no empty tokens), duplicates removed.
std::vector<std::string> SplitClusters(std::string_view clusters) {
  std::vector<std::string> names;
  for (std::string_view token : JavaSplit(clusters, ",")) {
    if (token.empty()) continue;
    if (std::find(names.begin(), names.end(), token) == names.end()) names.emplace_back(token);
  }
  return names;
}

}  // namespace

std::string NormalizedClusters(std::string_view clusters) {
  std::string out;
  for (const std::string& name : SplitClusters(clusters)) {
    if (!out.empty()) out.push_back(',');
    out += name;
  }
  return out;
}

std::string GroupedServiceName(std::string_view service_name, std::string_view group_name) {
  if (service_name.find(kGroupSeparator) != std::string_view::npos) {
    return std::string(service_name);
  }
  return Or(group_name, kDefaultGroup) + std::string(kGroupSeparator) + std::string(service_name);
}

std::string_view UngroupedServiceName(std::string_view grouped) {
  const size_t first = grouped.find(kGroupSeparator);
  if (first == std::string_view::npos) return grouped;
  std::string_view rest = grouped.substr(first + kGroupSeparator.size());
  return rest.substr(0, rest.find(kGroupSeparator));
}

std::string_view GroupNameOf(std::string_view grouped) {
  const size_t first = grouped.find(kGroupSeparator);
  return first == std::string_view::npos ? kDefaultGroup : grouped.substr(0, first);
}

Status CheckServiceNameFormat(std::string_view grouped) {
  const std::vector<std::string_view> parts = JavaSplit(grouped, kGroupSeparator);
  if (parts.size() <= 1) {
    return InvalidArgumentError(
        "Param 'serviceName' is illegal, it should be format as 'groupName@@serviceName'");
  }
  if (parts[0].empty()) {
    return InvalidArgumentError("Param 'serviceName' is illegal, groupName can't be empty");
  }
  return Status::Ok();
}

std::string JavaDoubleToString(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v == 0) return std::signbit(v) ? "-0.0" : "0.0";
  // Shortest round-trip digits, locale-independent: "[-]d[.ddd]e(+|-)xx".
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  if (ec != std::errc()) return "NaN";  // Cannot happen: the buffer is large enough.
  std::string_view text(buf, static_cast<size_t>(end - buf));
  std::string sign;
  if (text[0] == '-') {
    sign = "-";
    text.remove_prefix(1);
  }
  const size_t e = text.find('e');
  int exponent = 0;
  std::from_chars(text.data() + e + (text[e + 1] == '+' ? 2 : 1), text.data() + text.size(),
                  exponent);
  std::string digits(text.substr(0, e));
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const double magnitude = std::fabs(v);
  if (magnitude >= 1e-3 && magnitude < 1e7) {
    if (exponent < 0) {
      return sign + "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    }
    const size_t int_digits = static_cast<size_t>(exponent) + 1;
    if (digits.size() < int_digits) digits.append(int_digits - digits.size(), '0');
    const std::string fraction = digits.substr(int_digits);
    return sign + digits.substr(0, int_digits) + "." + (fraction.empty() ? "0" : fraction);
  }
  const std::string fraction = digits.size() > 1 ? digits.substr(1) : "0";
  return sign + digits.substr(0, 1) + "." + fraction + "E" + std::to_string(exponent);
}

size_t MetadataBytes(const Metadata& metadata) {
  size_t bytes = 0;
  for (const auto& [key, value] : metadata) bytes += key.size() + value.size();
  return bytes;
}

// Estimated JSON of a metadata map: each member is "key":"value" plus a comma.
size_t MetadataJsonBytes(const Metadata& metadata) {
  return MetadataBytes(metadata) + 6 * metadata.size() + 2;
}

InstanceStore::InstanceStore(registry::Clock* clock, InstanceStoreOptions options)
    : clock_(clock), options_(options) {}

// ---- helpers ----------------------------------------------------------------------------------

InstanceStore::Service* InstanceStore::FindService(std::string_view namespace_id,
                                                   std::string_view service_name) {
  auto ns = namespaces_.find(namespace_id.empty() ? kDefaultNamespace : namespace_id);
  if (ns == namespaces_.end()) return nullptr;
  auto it = ns->second.find(service_name);
  return it == ns->second.end() ? nullptr : &it->second;
}

const InstanceStore::Service* InstanceStore::FindService(std::string_view namespace_id,
                                                         std::string_view service_name) const {
  return const_cast<InstanceStore*>(this)->FindService(namespace_id, service_name);
}

Result<InstanceStore::Service*> InstanceStore::GetOrCreateService(const std::string& namespace_id,
                                                                  const std::string& service_name,
                                                                  RejectReason* refused_by) {
  if (Service* existing = FindService(namespace_id, service_name)) return existing;
  if (!IsValidGroupedName(service_name)) {
    return InvalidArgumentError(
        "dom name can only have these characters: 0-9a-zA-Z-._:, current: " + service_name);
  }
  auto ns = namespaces_.find(namespace_id);
  if (ns != namespaces_.end() && ns->second.size() >= options_.max_services_per_namespace) {
    return Refuse(RejectReason::kServicesPerNamespace,
                  "namespace " + namespace_id + " already holds " +
                      std::to_string(ns->second.size()) + " services, the most allowed (" +
                      "max_services_per_namespace, --max-services-per-namespace)",
                  refused_by);
  }
  if (service_count_ >= options_.max_total_services) {
    return Refuse(RejectReason::kTotalServices,
                  "the server already holds " + std::to_string(service_count_) +
                      " services, the most allowed (max_total_services, --max-total-services)",
                  refused_by);
  }
  Service& service = namespaces_[namespace_id][service_name];
  ++service_count_;
  Rebalance(service, 0, ServiceBaseBytes(service.metadata, namespace_id, service_name));
  service.empty_since = clock_->Now();
  Touch(service);
  return &service;
}

// A host of a list answer: {"ip":"","port":,"valid":false,"healthy":false,"marked":false,
// "instanceId":"","metadata":,"enabled":false,"weight":,"clusterName":"","serviceName":"",
// "ephemeral":false}, and a comma, is 157 bytes; a port and a weight take at most 11 and 24 more.
// The default instance id is "<ip>#<port>#<cluster>#<service>".
constexpr size_t kHostJsonBytes = 157 + 11 + 24 + 14;
// A cluster of a service-detail answer: {"name":"","healthChecker":{"type":"TCP"},"metadata":{}},
// 58 bytes, and the map node that holds it.
constexpr size_t kClusterJsonBytes = 64;
// The rest of a list answer (its fields but the hosts, the echoed clusters and env): ~230 bytes.
constexpr size_t kListJsonBytes = 256;

size_t InstanceStore::InstanceBytes(const Instance& instance, const std::string& service_name) {
  return kHostJsonBytes +
         2 * (instance.ip.size() + instance.cluster_name.size() + service_name.size()) +
         instance.instance_id.size() + instance.app.size() + MetadataJsonBytes(instance.metadata);
}

size_t InstanceStore::ClusterBytes(const std::string& cluster_name) {
  return kClusterJsonBytes + cluster_name.size();
}

size_t InstanceStore::ServiceBaseBytes(const Metadata& metadata, const std::string& namespace_id,
                                       const std::string& service_name) {
  return kListJsonBytes + namespace_id.size() + 2 * service_name.size() +
         MetadataJsonBytes(metadata);
}

void InstanceStore::EraseService(Namespace& ns, Namespace::iterator it) {
  Rebalance(it->second, it->second.bytes, 0);
  --service_count_;
  ns.erase(it);
}

void InstanceStore::Rebalance(Service& service, size_t before, size_t after) {
  service.bytes = service.bytes - before + after;
  bytes_held_ = bytes_held_ - before + after;
}

InstanceStore::Cluster::iterator InstanceStore::EraseInstance(Service& service,
                                                              const std::string& service_name,
                                                              Cluster& cluster,
                                                              Cluster::iterator it) {
  Rebalance(service, InstanceBytes(it->second, service_name), 0);
  --service.instance_count;
  --instance_count_;
  return cluster.erase(it);
}

void InstanceStore::EraseClusterIfEmpty(Service& service,
                                        decltype(Service::clusters)::iterator cluster) {
  if (!cluster->second.empty()) return;
  Rebalance(service, ClusterBytes(cluster->first), 0);
  service.clusters.erase(cluster);
}

size_t InstanceStore::AnswerBytes(std::string_view namespace_id,
                                  std::string_view service_name) const {
  const Service* service = FindService(namespace_id, service_name);
  return service == nullptr ? 0 : service->bytes;
}

Status InstanceStore::Refuse(RejectReason reason, const std::string& message,
                             RejectReason* refused_by) {
  if (refused_by != nullptr) *refused_by = reason;
  return InvalidArgumentError(message);
}

Status InstanceStore::CheckMetadataCap(const Metadata& metadata, std::string_view app,
                                       std::string_view owner, RejectReason* refused_by) const {
  // The default app is no client's text.
  const size_t bytes = MetadataBytes(metadata) + (app == kDefaultApp ? 0 : app.size());
  if (bytes <= options_.max_metadata_bytes) return Status::Ok();
  return Refuse(RejectReason::kMetadataTooLarge,
                std::string(owner) + " metadata too large: " + std::to_string(bytes) +
                    " bytes of keys and values" +
                    (app.empty() || app == kDefaultApp ? "" : " and app") + " (max " +
                    std::to_string(options_.max_metadata_bytes) +
                    ", max_metadata_bytes, --max-metadata-bytes)",
                refused_by);
}

Status InstanceStore::CheckAnswerCap(const std::string& service_name, size_t bytes, size_t before,
                                     size_t after, RejectReason* refused_by) const {
  if (after <= before || bytes - before + after <= options_.max_answer_bytes) return Status::Ok();
  return Refuse(RejectReason::kAnswerTooLarge,
                "the list answer of service " + service_name + " would take about " +
                    std::to_string(bytes - before + after) + " bytes (max " +
                    std::to_string(options_.max_answer_bytes) +
                    ", max_answer_bytes, --max-answer-bytes)",
                refused_by);
}

void InstanceStore::Touch(Service& service) {
  service.last_ref_time = std::max(clock_->WallMillis(), service.last_ref_time + 1);
  service.revision = ++last_revision_;
}

uint64_t InstanceStore::Revision(std::string_view namespace_id,
                                 std::string_view service_name) const {
  const Service* service = FindService(namespace_id, service_name);
  return service == nullptr ? 0 : service->revision;
}

std::pair<Instance*, Instance*> InstanceStore::FindBothKinds(Cluster& cluster, const std::string& ip,
                                                             int port) {
  std::pair<Instance*, Instance*> found{nullptr, nullptr};
  auto it = cluster.lower_bound(InstanceId{ip, port, false});  // Persistent sorts first.
  for (int i = 0; i < 2 && it != cluster.end(); ++i, ++it) {
    const auto& [id_ip, id_port, id_ephemeral] = it->first;
    if (id_port != port || id_ip != ip) break;
    (id_ephemeral ? found.second : found.first) = &it->second;
  }
  return found;
}

Instance* InstanceStore::FindInstance(Cluster& cluster, const std::string& ip, int port) {
  auto [persistent, ephemeral] = FindBothKinds(cluster, ip, port);
  return persistent != nullptr ? persistent : ephemeral;
}

const Instance* InstanceStore::FindInstance(const Cluster& cluster, const std::string& ip,
                                            int port) {
  return FindInstance(const_cast<Cluster&>(cluster), ip, port);
}

TimePoint InstanceStore::NextHealthEvent(const Instance& instance) const {
  if (!instance.ephemeral || instance.marked || !instance.owner.empty()) return TimePoint::max();
  // Deletion does not wait for unhealthiness: a delete timeout may be the shorter one.
  TimePoint next = TimePoint::max();
  if (instance.healthy) {
    next = SaturatingAdd(instance.last_beat, MillisFromMetadata(instance.metadata,
                                                                kHeartBeatTimeoutKey,
                                                                options_.heartbeat_timeout));
  }
  if (options_.expire_instances) {
    next = std::min(next, SaturatingAdd(instance.last_beat,
                                        MillisFromMetadata(instance.metadata, kIpDeleteTimeoutKey,
                                                           options_.ip_delete_timeout)));
  }
  return next;
}

void InstanceStore::ExpectHealthEvent(Service& service, TimePoint when) {
  service.sweep_due = std::min(service.sweep_due, when);
}

void InstanceStore::Notify(const std::string& namespace_id, const std::string& service_name) const {
  if (hook_) hook_(namespace_id, service_name);
}

std::chrono::milliseconds InstanceStore::MillisFromMetadata(
    const Metadata& metadata, std::string_view key, std::chrono::milliseconds fallback) const {
  if (metadata.empty()) return fallback;
  const std::string* name = key == kHeartBeatTimeoutKey   ? &HeartBeatTimeoutKey()
                            : key == kIpDeleteTimeoutKey  ? &IpDeleteTimeoutKey()
                            : key == kHeartBeatIntervalKey ? &HeartBeatIntervalKey()
                                                           : nullptr;
  auto it = name != nullptr ? metadata.find(*name) : metadata.find(std::string(key));
  // At most 18 digits always fits in int64.
  if (it == metadata.end() || !IsDigits(it->second) || it->second.size() > 18) return fallback;
  return std::chrono::milliseconds(std::strtoll(it->second.c_str(), nullptr, 10));
}

std::string InstanceStore::NewInstanceId(const Service& service, const Instance& instance) const {
  // Default ids ("ip#port#cluster#service") are not stored: Materialize() derives them, which saves
  // two heap strings per instance. Only snowflake ids, which cannot be derived, are kept.
  auto generator = instance.metadata.find(std::string(kInstanceIdGeneratorKey));
  if (generator == instance.metadata.end() || !EqualsIgnoreCase(generator->second, "snowflake")) {
    return {};
  }
  std::set<std::string> used;
  for (const auto& [name, cluster] : service.clusters) {
    for (const auto& [id, existing] : cluster) used.insert(existing.instance_id);
  }
  int64_t candidate = 0;
  while (used.count(std::to_string(candidate)) != 0) ++candidate;
  return std::to_string(candidate);
}

Status InstanceStore::ValidateSpec(const InstanceSpec& spec, RejectReason* refused_by) const {
  if (spec.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(spec.service_name));
  if (spec.ip.empty()) return RequiredError("ip");
  if (!IpLooksValid(spec.ip, spec.port)) return InvalidArgumentError(kBadIpMessage);
  if (spec.any_weight ? !std::isfinite(spec.weight)
                      : !(spec.weight >= 0 && spec.weight <= kMaxWeight)) {
    return InvalidArgumentError(kWeightRangeMessage);
  }
  if (spec.cluster_name.size() > kMaxClusterNameLength) {
    return InvalidArgumentError(
        "cluster name too long: " + std::to_string(spec.cluster_name.size()) + " bytes (max " +
        std::to_string(kMaxClusterNameLength) + ")");
  }
  // Every stored cluster passed this check when it was created, so checking the name of every
  // request (not only of a new cluster) refuses the same requests, before anything is created.
  if (const std::string cluster = Or(spec.cluster_name, kDefaultCluster);
      !IsValidClusterName(cluster)) {
    return InvalidArgumentError(
        "cluster name can only have these characters: 0-9a-zA-Z-, current: " + cluster);
  }
  // The 2.x rule judges what the instance asks for; keys it leaves out count as Nacos's constants
  // (5 s / 15 s / 30 s), not as this server's configured timings, so a server started with short
  // test timeouts still accepts ordinary instances.
  const auto interval =
      MillisFromMetadata(spec.metadata, kHeartBeatIntervalKey, std::chrono::milliseconds(5000));
  const auto timeout =
      MillisFromMetadata(spec.metadata, kHeartBeatTimeoutKey, std::chrono::milliseconds(15000));
  const auto delete_timeout =
      MillisFromMetadata(spec.metadata, kIpDeleteTimeoutKey, std::chrono::milliseconds(30000));
  if (timeout < interval || delete_timeout < interval) {
    return InvalidArgumentError(kHeartbeatRuleMessage);
  }
  return CheckMetadataCap(spec.metadata, spec.app, "instance", refused_by);
}

Instance InstanceStore::FromSpec(const InstanceSpec& spec, const std::string& owner) const {
  Instance instance;
  instance.ip = spec.ip;
  instance.port = spec.port;
  instance.weight = spec.any_weight ? spec.weight : ClampWeight(spec.weight);
  instance.healthy = spec.healthy;
  instance.enabled = spec.enabled;
  instance.ephemeral = spec.ephemeral.value_or(options_.default_ephemeral);
  instance.marked = spec.marked;
  // service_name is not stored; see Materialize().
  instance.cluster_name = Or(spec.cluster_name, kDefaultCluster);
  instance.app = Or(spec.app, kDefaultApp);
  instance.metadata = spec.metadata;
  instance.last_beat = clock_->Now();
  instance.owner = owner;
  instance.instance_id = spec.instance_id;
  return instance;
}

void InstanceStore::IndexOwned(const std::string& owner, const std::string& namespace_id,
                               const std::string& service_name, const std::string& cluster,
                               const Instance& instance, bool add) {
  if (owner.empty()) return;
  const std::pair<std::string, InstanceId> key{
      cluster, InstanceId{instance.ip, instance.port, instance.ephemeral}};
  if (add) {
    owned_[owner][{namespace_id, service_name}].insert(key);
    return;
  }
  auto by_owner = owned_.find(owner);
  if (by_owner == owned_.end()) return;
  auto by_service = by_owner->second.find({namespace_id, service_name});
  if (by_service == by_owner->second.end()) return;
  by_service->second.erase(key);
  if (by_service->second.empty()) by_owner->second.erase(by_service);
  if (by_owner->second.empty()) owned_.erase(by_owner);
}

void InstanceStore::Put(Service& service, const std::string& namespace_id,
                        const std::string& service_name, Instance instance) {
  const std::string cluster_name = instance.cluster_name;
  auto cluster_it = service.clusters.find(cluster_name);
  if (cluster_it == service.clusters.end()) {
    cluster_it = service.clusters.emplace(cluster_name, Cluster()).first;
    Rebalance(service, 0, ClusterBytes(cluster_name));
  }
  Cluster& cluster = cluster_it->second;
  // A default id is derived on output (Materialize()), so only another id is stored.
  const std::string derived =
      instance.ip + "#" + std::to_string(instance.port) + "#" + cluster_name + "#" + service_name;
  if (instance.instance_id == derived) instance.instance_id.clear();
  const bool chosen_id = !instance.instance_id.empty();
  IndexOwned(instance.owner, namespace_id, service_name, cluster_name, instance, true);
  auto existing = cluster.find(InstanceId{instance.ip, instance.port, instance.ephemeral});
  if (existing != cluster.end()) {
    if (existing->second.owner != instance.owner) {
      IndexOwned(existing->second.owner, namespace_id, service_name, cluster_name, existing->second,
                 false);
    }
    if (!chosen_id) instance.instance_id = existing->second.instance_id;
    // A beat-checked instance keeps its health state; an owned one reports what it is told.
    if (!instance.marked && instance.owner.empty()) instance.healthy = existing->second.healthy;
    Rebalance(service, InstanceBytes(existing->second, service_name),
              InstanceBytes(instance, service_name));
    existing->second = std::move(instance);
  } else {
    if (!chosen_id) instance.instance_id = NewInstanceId(service, instance);
    Rebalance(service, 0, InstanceBytes(instance, service_name));
    ++service.instance_count;
    ++instance_count_;
    const InstanceId id{instance.ip, instance.port, instance.ephemeral};
    existing = cluster.emplace(id, std::move(instance)).first;
  }
  ExpectHealthEvent(service, NextHealthEvent(existing->second));
  service.empty_since.reset();
  if (!existing->second.ephemeral) ++persistent_revision_;
}

Status InstanceStore::Upsert(const InstanceSpec& spec, RejectReason* refused_by) {
  const std::string namespace_id = Or(spec.namespace_id, kDefaultNamespace);
  Instance instance = FromSpec(spec, {});
  const std::string& cluster_name = instance.cluster_name;
  const InstanceId id{instance.ip, instance.port, instance.ephemeral};

  // The caps, before anything is created.
  const Service* known = FindService(namespace_id, spec.service_name);
  const Instance* replaced = nullptr;
  bool new_cluster = true;
  if (known != nullptr) {
    auto cluster = known->clusters.find(cluster_name);
    if (cluster != known->clusters.end()) {
      new_cluster = false;
      auto it = cluster->second.find(id);
      if (it != cluster->second.end()) replaced = &it->second;
    }
  }
  DUBBO_RETURN_IF_ERROR(
      CheckCountCaps(known, spec.service_name, replaced == nullptr ? 1 : 0, refused_by));
  const size_t service_bytes =
      known != nullptr ? known->bytes : ServiceBaseBytes({}, namespace_id, spec.service_name);
  DUBBO_RETURN_IF_ERROR(CheckAnswerCap(
      spec.service_name, service_bytes,
      replaced != nullptr ? InstanceBytes(*replaced, spec.service_name) : 0,
      InstanceBytes(instance, spec.service_name) + (new_cluster ? ClusterBytes(cluster_name) : 0),
      refused_by));
  Result<Service*> found = GetOrCreateService(namespace_id, spec.service_name, refused_by);
  if (!found.ok()) return found.status();
  Service& service = **found;
  Put(service, namespace_id, spec.service_name, std::move(instance));
  Touch(service);
  Notify(namespace_id, spec.service_name);
  return Status::Ok();
}

Status InstanceStore::CheckCountCaps(const Service* known, const std::string& service_name,
                                     size_t added, RejectReason* refused_by) const {
  if (added == 0) return Status::Ok();
  if (instance_count_ + added > options_.max_total_instances) {
    return Refuse(RejectReason::kTotalInstances,
                  "the server already holds " + std::to_string(instance_count_) +
                      " instances, the most allowed (max_total_instances, "
                      "--max-total-instances)",
                  refused_by);
  }
  const size_t held = known != nullptr ? known->instance_count : 0;
  if (held + added > options_.max_instances_per_service) {
    return Refuse(RejectReason::kInstancesPerService,
                  "service " + service_name + " already holds " + std::to_string(held) +
                      " instances, the most allowed (max_instances_per_service, "
                      "--max-instances-per-service)",
                  refused_by);
  }
  return Status::Ok();
}

Status InstanceStore::ReplaceOwned(const std::string& owner, const std::string& namespace_id_in,
                                   const std::string& service_name,
                                   const std::vector<InstanceSpec>& specs,
                                   RejectReason* refused_by) {
  if (owner.empty()) return InvalidArgumentError("an owner is required");
  if (service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(service_name));
  const std::string namespace_id = Or(namespace_id_in, kDefaultNamespace);
  // The new set, checked whole; a repeated (cluster, ip, port, ephemeral) keeps the last.
  std::map<std::pair<std::string, InstanceId>, Instance> wanted;
  for (const InstanceSpec& given : specs) {
    InstanceSpec spec = given;
    spec.namespace_id = namespace_id;
    spec.service_name = service_name;
    DUBBO_RETURN_IF_ERROR(ValidateSpec(spec, refused_by));
    Instance instance = FromSpec(spec, owner);
    std::pair<std::string, InstanceId> key{
        instance.cluster_name, InstanceId{instance.ip, instance.port, instance.ephemeral}};
    wanted[std::move(key)] = std::move(instance);
  }
  OwnedKeys held;
  if (auto by_owner = owned_.find(owner); by_owner != owned_.end()) {
    if (auto it = by_owner->second.find({namespace_id, service_name});
        it != by_owner->second.end()) {
      held = it->second;
    }
  }
  if (held.empty() && wanted.empty()) return Status::Ok();

  // The caps for the whole set, from what the service holds now at each key.
  Service* known = FindService(namespace_id, service_name);
  auto stored = [&](const std::pair<std::string, InstanceId>& key) -> const Instance* {
    if (known == nullptr) return nullptr;
    auto cluster = known->clusters.find(key.first);
    if (cluster == known->clusters.end()) return nullptr;
    auto it = cluster->second.find(key.second);
    return it == cluster->second.end() ? nullptr : &it->second;
  };
  size_t added = 0;
  size_t removed = 0;
  size_t before = 0;
  size_t after = 0;
  std::set<std::string> new_clusters;
  for (const auto& [key, instance] : wanted) {
    const Instance* old = stored(key);
    if (old == nullptr) {
      ++added;
      if (known == nullptr || known->clusters.count(key.first) == 0) new_clusters.insert(key.first);
    } else {
      before += InstanceBytes(*old, service_name);
    }
    after += InstanceBytes(instance, service_name);
  }
  for (const std::string& cluster : new_clusters) after += ClusterBytes(cluster);
  for (const auto& key : held) {
    if (wanted.count(key) != 0) continue;
    if (const Instance* old = stored(key)) {
      ++removed;
      before += InstanceBytes(*old, service_name);
    }
  }
  DUBBO_RETURN_IF_ERROR(
      CheckCountCaps(known, service_name, added > removed ? added - removed : 0, refused_by));
  const size_t service_bytes =
      known != nullptr ? known->bytes : ServiceBaseBytes({}, namespace_id, service_name);
  DUBBO_RETURN_IF_ERROR(CheckAnswerCap(service_name, service_bytes, before, after, refused_by));
  // Drops a held key whose instance the service no longer has from the owner index. The index and
  // the services change together, so this only repairs an index that went wrong.
  auto unindex = [&](const std::pair<std::string, InstanceId>& key) {
    Instance gone;
    std::tie(gone.ip, gone.port, gone.ephemeral) = key.second;
    IndexOwned(owner, namespace_id, service_name, key.first, gone, false);
  };
  if (known == nullptr) {
    if (wanted.empty()) {
      for (const auto& key : held) unindex(key);
      return Status::Ok();
    }
    Result<Service*> created = GetOrCreateService(namespace_id, service_name, refused_by);
    if (!created.ok()) return created.status();
    known = *created;
  }

  // Apply: what the owner held and no longer wants goes, then the new set is written.
  Service& service = *known;
  for (const auto& key : held) {
    if (wanted.count(key) != 0) continue;
    auto cluster = service.clusters.find(key.first);
    if (cluster == service.clusters.end()) {
      unindex(key);
      continue;
    }
    auto it = cluster->second.find(key.second);
    if (it == cluster->second.end() || it->second.owner != owner) {
      unindex(key);
      continue;
    }
    IndexOwned(owner, namespace_id, service_name, key.first, it->second, false);
    EraseInstance(service, service_name, cluster->second, it);
    EraseClusterIfEmpty(service, cluster);
  }
  for (auto& [key, instance] : wanted)
    Put(service, namespace_id, service_name, std::move(instance));
  if (service.InstanceCount() == 0) {
    service.empty_since = clock_->Now();
    ExpectHealthEvent(service, *service.empty_since);  // The sweep works out the expiry.
  }
  Touch(service);
  Notify(namespace_id, service_name);
  return Status::Ok();
}

std::vector<std::pair<std::string, std::string>> InstanceStore::OwnedServices(
    const std::string& owner) const {
  std::vector<std::pair<std::string, std::string>> services;
  auto by_owner = owned_.find(owner);
  if (by_owner == owned_.end()) return services;
  for (const auto& [service, keys] : by_owner->second) services.push_back(service);
  return services;
}

// ---- instance operations ----------------------------------------------------------------------

Status InstanceStore::Register(const InstanceSpec& spec, RejectReason* refused_by) {
  DUBBO_RETURN_IF_ERROR(ValidateSpec(spec, refused_by));
  return Upsert(spec, refused_by);
}

Status InstanceStore::Update(const InstanceSpec& spec, bool strict, RejectReason* refused_by) {
  DUBBO_RETURN_IF_ERROR(ValidateSpec(spec, refused_by));
  if (!strict) return Upsert(spec, refused_by);
  const std::string namespace_id = Or(spec.namespace_id, kDefaultNamespace);
  const Service* service = FindService(namespace_id, spec.service_name);
  if (service == nullptr) {
    return InvalidArgumentError("service not found, namespace: " + namespace_id +
                                ", service: " + spec.service_name);
  }
  const bool ephemeral = spec.ephemeral.value_or(options_.default_ephemeral);
  bool exists = false;
  for (const auto& [name, cluster] : service->clusters) {
    for (const auto& [id, instance] : cluster) {
      exists = exists || (instance.ip == spec.ip && instance.ephemeral == ephemeral &&
                          (spec.port == 0 || instance.port == spec.port));
    }
  }
  if (!exists) {
    return InvalidArgumentError("instance not exist: " +
                                NacosInstanceString(spec, Or(spec.cluster_name, kDefaultCluster)));
  }
  return Upsert(spec, refused_by);
}

Status InstanceStore::Patch(const InstanceKey& key, const InstancePatch& patch,
                            RejectReason* refused_by) {
  if (key.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(key.service_name));
  if (key.ip.empty()) return RequiredError("ip");
  const std::string namespace_id = Or(key.namespace_id, kDefaultNamespace);
  Service* service = FindService(namespace_id, key.service_name);
  Instance* target = nullptr;
  if (service != nullptr) {
    auto cluster = service->clusters.find(Or(key.cluster_name, kDefaultCluster));
    if (cluster != service->clusters.end()) target = FindInstance(cluster->second, key.ip, key.port);
  }
  if (target == nullptr) return InvalidArgumentError("instance not found");
  if (patch.weight && !(*patch.weight >= 0 && *patch.weight <= kMaxWeight)) {
    return InvalidArgumentError(kWeightRangeMessage);
  }
  if (patch.metadata || patch.app) {
    Instance patched = *target;
    if (patch.metadata) patched.metadata = *patch.metadata;
    if (patch.app) patched.app = *patch.app;
    DUBBO_RETURN_IF_ERROR(CheckMetadataCap(patched.metadata, patched.app, "instance", refused_by));
    const size_t before = InstanceBytes(*target, key.service_name);
    const size_t after = InstanceBytes(patched, key.service_name);
    DUBBO_RETURN_IF_ERROR(
        CheckAnswerCap(key.service_name, service->bytes, before, after, refused_by));
    target->metadata = std::move(patched.metadata);
    target->app = std::move(patched.app);
    Rebalance(*service, before, after);
  }
  if (patch.weight) target->weight = ClampWeight(*patch.weight);
  if (patch.healthy) target->healthy = *patch.healthy;
  if (patch.enabled) target->enabled = *patch.enabled;
  if (!target->ephemeral) ++persistent_revision_;
  target->last_beat = clock_->Now();
  ExpectHealthEvent(*service, NextHealthEvent(*target));
  Touch(*service);
  Notify(namespace_id, key.service_name);
  return Status::Ok();
}

Status InstanceStore::Deregister(const InstanceKey& key) {
  if (key.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(key.service_name));
  if (key.ip.empty()) return RequiredError("ip");
  const std::string namespace_id = Or(key.namespace_id, kDefaultNamespace);
  Service* service = FindService(namespace_id, key.service_name);
  if (service == nullptr) return Status::Ok();
  auto cluster = service->clusters.find(Or(key.cluster_name, kDefaultCluster));
  if (cluster == service->clusters.end()) return Status::Ok();
  const InstanceId id{key.ip, key.port, key.ephemeral.value_or(options_.default_ephemeral)};
  auto instance = cluster->second.find(id);
  if (instance == cluster->second.end()) return Status::Ok();
  // A gRPC connection's instance goes with the connection: in Nacos the v1 client (ip:port) and
  // the connection are two clients, and one's deregistration never removes the other's instance.
  if (!instance->second.owner.empty()) return Status::Ok();
  if (!std::get<2>(id)) ++persistent_revision_;
  IndexOwned(instance->second.owner, namespace_id, key.service_name, cluster->first,
             instance->second, false);
  EraseInstance(*service, key.service_name, cluster->second, instance);
  EraseClusterIfEmpty(*service, cluster);
  if (service->InstanceCount() == 0) {
    service->empty_since = clock_->Now();
    ExpectHealthEvent(*service, *service->empty_since);  // The sweep works out the expiry.
  }
  Touch(*service);
  Notify(namespace_id, key.service_name);
  return Status::Ok();
}

Instance InstanceStore::Materialize(const Instance& stored, const std::string& service_name) {
  Instance out = stored;
  out.service_name = service_name;
  if (out.instance_id.empty()) {
    out.instance_id = out.ip + "#" + std::to_string(out.port) + "#" + out.cluster_name + "#" +
                      service_name;
  }
  return out;
}

Result<Instance> InstanceStore::GetInstance(const InstanceKey& key) const {
  if (key.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(key.service_name));
  if (key.ip.empty()) return RequiredError("ip");
  const Service* service = FindService(key.namespace_id, key.service_name);
  if (service == nullptr) return NotFoundError("no service " + key.service_name + " found!");
  const std::string cluster_name = Or(key.cluster_name, kDefaultCluster);
  auto cluster = service->clusters.find(cluster_name);
  if (cluster == service->clusters.end() || cluster->second.empty()) {
    return NotFoundError("no ips found for cluster " + cluster_name + " in service " +
                         key.service_name);
  }
  if (const Instance* instance = FindInstance(cluster->second, key.ip, key.port)) {
    return Materialize(*instance, key.service_name);
  }
  return NotFoundError("no matched ip found!");
}

Result<BeatResult> InstanceStore::Beat(const BeatRequest& request, RejectReason* refused_by) {
  if (request.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(request.service_name));
  const std::string namespace_id = Or(request.namespace_id, kDefaultNamespace);
  std::string cluster_name = Or(request.cluster_name, kDefaultCluster);
  std::string ip = request.ip;
  int port = request.port;
  if (request.beat) {
    if (!request.beat->cluster.empty()) cluster_name = request.beat->cluster;
    ip = request.beat->ip;
    port = request.beat->port;
  }

  // The instance with this address: map look-ups, persistent first, as the cluster map sorts.
  Service* service = nullptr;
  Cluster* cluster = nullptr;
  auto locate = [&] {
    service = FindService(namespace_id, request.service_name);
    cluster = nullptr;
    if (service == nullptr) return;
    auto it = service->clusters.find(cluster_name);
    if (it != service->clusters.end()) cluster = &it->second;
  };
  locate();

  Instance* persistent = nullptr;
  Instance* ephemeral = nullptr;
  if (cluster != nullptr) std::tie(persistent, ephemeral) = FindBothKinds(*cluster, ip, port);

  BeatResult result;
  result.client_beat_interval = options_.client_beat_interval;
  result.light_beat_enabled = options_.light_beat_enabled;
  if (persistent == nullptr && ephemeral == nullptr) {
    if (!request.beat) {
      result.found = false;
      return result;
    }
    if (ip.empty()) return RequiredError("ip");
    DUBBO_LOG(INFO) << "beat for unknown instance " << ip << ":" << port << " of "
                    << request.service_name << ", re-registering it (data compensation)";
    InstanceSpec spec;
    spec.namespace_id = namespace_id;
    spec.service_name = request.service_name;
    spec.cluster_name = cluster_name;
    spec.ip = ip;
    spec.port = port;
    spec.weight = request.beat->weight;
    spec.metadata = request.beat->metadata;
    spec.ephemeral = request.beat->ephemeral;
    DUBBO_RETURN_IF_ERROR(Register(spec, refused_by));
    locate();  // The service or the cluster may be new.
    std::tie(persistent, ephemeral) = FindBothKinds(*cluster, ip, port);
  }

  const Instance* instance = ephemeral != nullptr ? ephemeral : persistent;
  if (ephemeral != nullptr) {
    ephemeral->last_beat = clock_->Now();  // Only later: the sweep's due time stays a lower bound.
    if (!ephemeral->marked && !ephemeral->healthy) {
      ephemeral->healthy = true;
      ExpectHealthEvent(*service, NextHealthEvent(*ephemeral));
      Touch(*service);
      Notify(namespace_id, request.service_name);
    }
  }
  result.client_beat_interval =
      MillisFromMetadata(instance->metadata, kHeartBeatIntervalKey, options_.client_beat_interval);
  return result;
}

Result<ServiceSnapshot> InstanceStore::List(const ListQuery& query) const {
  if (query.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(query.service_name));
  ServiceSnapshot snapshot;
  snapshot.service_name = query.service_name;
  snapshot.clusters = query.clusters;
  const Service* service = FindService(query.namespace_id, query.service_name);
  if (service == nullptr) return snapshot;
  snapshot.found = true;
  snapshot.protect_threshold = service->protect_threshold;
  snapshot.last_ref_time = service->last_ref_time;
  snapshot.metadata = service->metadata;

  std::vector<std::string> cluster_names = SplitClusters(query.clusters);
  if (cluster_names.empty()) {
    for (const auto& [name, cluster] : service->clusters) cluster_names.push_back(name);
  }
  std::vector<const Instance*> selected;
  for (const std::string& name : cluster_names) {
    auto cluster = service->clusters.find(name);
    if (cluster == service->clusters.end()) continue;
    for (const auto& [id, instance] : cluster->second) selected.push_back(&instance);
  }
  if (selected.empty()) return snapshot;
  snapshot.has_instances = true;

  const size_t healthy = static_cast<size_t>(std::count_if(
      selected.begin(), selected.end(), [](const Instance* i) { return i->healthy; }));
  // Nacos: (float) healthy / total <= (float) protectThreshold, compared as doubles.
  const float ratio = static_cast<float>(healthy) / static_cast<float>(selected.size());
  snapshot.protect_threshold_reached =
      static_cast<double>(ratio) <=
      static_cast<double>(static_cast<float>(service->protect_threshold));

  for (bool healthy_group : {true, false}) {
    if (!healthy_group && (query.healthy_only || snapshot.protect_threshold_reached)) continue;
    for (const Instance* instance : selected) {
      const bool reported = snapshot.protect_threshold_reached || instance->healthy;
      if (reported != healthy_group || !instance->enabled) continue;
      snapshot.hosts.push_back(Materialize(*instance, query.service_name));
      snapshot.hosts.back().healthy = reported;
    }
  }
  return snapshot;
}

HealthSweepResult InstanceStore::CheckHealth() {
  HealthSweepResult result;
  HealthSweepCursor cursor;
  while (!CheckHealthStep(&cursor, SIZE_MAX, &result)) {
  }
  return result;
}

size_t InstanceStore::SweepService(Service& service, const std::string& service_name, TimePoint now,
                                   bool* changed, HealthSweepResult* result) {
  size_t examined = 0;
  TimePoint due = TimePoint::max();
  for (auto cluster_it = service.clusters.begin(); cluster_it != service.clusters.end();) {
    Cluster& cluster = cluster_it->second;
    for (auto inst = cluster.begin(); inst != cluster.end();) {
      ++examined;
      Instance& instance = inst->second;
      if (!instance.ephemeral || instance.marked || !instance.owner.empty()) {
        ++inst;
        continue;
      }
      if (instance.healthy &&
          now > SaturatingAdd(instance.last_beat,
                              MillisFromMetadata(instance.metadata, kHeartBeatTimeoutKey,
                                                 options_.heartbeat_timeout))) {
        instance.healthy = false;
        *changed = true;
        ++result->marked_unhealthy;
        DUBBO_LOG(INFO) << "no beat from " << instance.ip << ":" << instance.port << " of "
                        << service_name << ", marked unhealthy";
      }
      if (options_.expire_instances &&
          now > SaturatingAdd(instance.last_beat,
                              MillisFromMetadata(instance.metadata, kIpDeleteTimeoutKey,
                                                 options_.ip_delete_timeout))) {
        DUBBO_LOG(INFO) << "no beat from " << instance.ip << ":" << instance.port << " of "
                        << service_name << ", deleted";
        inst = EraseInstance(service, service_name, cluster, inst);
        *changed = true;
        ++result->deleted;
        continue;
      }
      due = std::min(due, NextHealthEvent(instance));
      ++inst;
    }
    EraseClusterIfEmpty(service, cluster_it++);
  }
  if (service.InstanceCount() == 0) {
    if (!service.empty_since) service.empty_since = now;
    if (!service.explicit_service && options_.empty_service_expiry.count() >= 0) {
      due = std::min(due, SaturatingAdd(*service.empty_since, options_.empty_service_expiry));
    }
  }
  service.sweep_due = due;
  return examined;
}

bool InstanceStore::CheckHealthStep(HealthSweepCursor* cursor, size_t budget,
                                    HealthSweepResult* result) {
  const TimePoint now = clock_->Now();
  std::vector<std::pair<std::string, std::string>> changed;
  size_t examined = 0;
  bool complete = true;
  for (auto ns = namespaces_.lower_bound(cursor->namespace_id); ns != namespaces_.end();) {
    auto it = ns->first == cursor->namespace_id ? ns->second.lower_bound(cursor->service_name)
                                                : ns->second.begin();
    while (it != ns->second.end()) {
      if (examined >= budget) {
        cursor->namespace_id = ns->first;
        cursor->service_name = it->first;
        complete = false;
        break;
      }
      ++examined;
      Service& service = it->second;
      if (options_.sweep_only_due_services && now < service.sweep_due) {
        ++it;
        continue;
      }
      bool service_changed = false;
      examined += SweepService(service, it->first, now, &service_changed, result);
      if (service_changed) {
        Touch(service);
        changed.emplace_back(ns->first, it->first);
      }
      if (service.InstanceCount() == 0 && !service.explicit_service &&
          options_.empty_service_expiry.count() >= 0 &&
          now > SaturatingAdd(*service.empty_since, options_.empty_service_expiry)) {
        EraseService(ns->second, it++);
        ++result->services_removed;
        continue;
      }
      ++it;
    }
    if (!complete) break;
    ns = ns->second.empty() ? namespaces_.erase(ns) : std::next(ns);
  }
  if (complete) *cursor = HealthSweepCursor();
  for (const auto& [namespace_id, service_name] : changed) Notify(namespace_id, service_name);
  return complete;
}

// ---- service operations -----------------------------------------------------------------------

Status InstanceStore::CreateService(const ServiceSpec& spec, RejectReason* refused_by) {
  if (spec.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckServiceNameFormat(spec.service_name));
  DUBBO_RETURN_IF_ERROR(CheckMetadataCap(spec.metadata, {}, "service", refused_by));
  const std::string namespace_id = Or(spec.namespace_id, kDefaultNamespace);
  if (FindService(namespace_id, spec.service_name) != nullptr) {
    return InvalidArgumentError("specified service already exists, serviceName : " +
                                spec.service_name);
  }
  // Measured from the bare service, which any service takes: only metadata can be refused here.
  const size_t bare = ServiceBaseBytes({}, namespace_id, spec.service_name);
  const size_t bytes = ServiceBaseBytes(spec.metadata, namespace_id, spec.service_name);
  DUBBO_RETURN_IF_ERROR(CheckAnswerCap(spec.service_name, bare, bare, bytes, refused_by));
  Result<Service*> created = GetOrCreateService(namespace_id, spec.service_name, refused_by);
  if (!created.ok()) return created.status();
  Service& service = **created;
  service.explicit_service = true;
  ++persistent_revision_;
  service.protect_threshold = spec.protect_threshold;
  Rebalance(service, service.bytes, bytes);
  service.metadata = spec.metadata;
  Notify(namespace_id, spec.service_name);
  return Status::Ok();
}

Status InstanceStore::UpdateService(const ServiceSpec& spec, RejectReason* refused_by) {
  if (spec.service_name.empty()) return RequiredError("serviceName");
  DUBBO_RETURN_IF_ERROR(CheckMetadataCap(spec.metadata, {}, "service", refused_by));
  const std::string namespace_id = Or(spec.namespace_id, kDefaultNamespace);
  Service* service = FindService(namespace_id, spec.service_name);
  if (service == nullptr) {
    return InvalidArgumentError("service " + spec.service_name + " not found!");
  }
  const size_t before = ServiceBaseBytes(service->metadata, namespace_id, spec.service_name);
  const size_t after = ServiceBaseBytes(spec.metadata, namespace_id, spec.service_name);
  DUBBO_RETURN_IF_ERROR(
      CheckAnswerCap(spec.service_name, service->bytes, before, after, refused_by));
  service->explicit_service = true;
  ++persistent_revision_;
  service->protect_threshold = spec.protect_threshold;
  Rebalance(*service, before, after);
  service->metadata = spec.metadata;
  Touch(*service);
  Notify(namespace_id, spec.service_name);
  return Status::Ok();
}

Status InstanceStore::DeleteService(std::string_view namespace_id, std::string_view service_name) {
  if (service_name.empty()) return RequiredError("serviceName");
  const Service* service = FindService(namespace_id, service_name);
  if (service == nullptr) {
    return InvalidArgumentError("specified service not exist, serviceName : " +
                                std::string(service_name));
  }
  if (service->InstanceCount() != 0) {
    return InvalidArgumentError("Service " + std::string(service_name) +
                                " is not empty, can't be delete. Please unregister instance first");
  }
  if (service->explicit_service) ++persistent_revision_;
  auto ns = namespaces_.find(namespace_id.empty() ? kDefaultNamespace : namespace_id);
  EraseService(ns->second, ns->second.find(service_name));
  if (ns->second.empty()) namespaces_.erase(ns);
  return Status::Ok();
}

Result<ServiceInfo> InstanceStore::GetService(std::string_view namespace_id,
                                              std::string_view service_name) const {
  if (service_name.empty()) return RequiredError("serviceName");
  const Service* service = FindService(namespace_id, service_name);
  if (service == nullptr) {
    return NotFoundError("service " + std::string(service_name) + " is not found!");
  }
  ServiceInfo info;
  info.namespace_id = Or(namespace_id, kDefaultNamespace);
  info.service_name = std::string(service_name);
  info.protect_threshold = service->protect_threshold;
  info.metadata = service->metadata;
  for (const auto& [name, cluster] : service->clusters) info.clusters.push_back(name);
  info.instance_count = service->InstanceCount();
  info.last_ref_time = service->last_ref_time;
  return info;
}

ServiceListPage InstanceStore::ListServices(std::string_view namespace_id,
                                            std::string_view group_name, int page_no, int page_size,
                                            size_t max_bytes) const {
  ServiceListPage page;
  auto ns = namespaces_.find(namespace_id.empty() ? kDefaultNamespace : namespace_id);
  if (ns == namespaces_.end()) return page;
  const std::string prefix = Or(group_name, kDefaultGroup) + std::string(kGroupSeparator);
  std::vector<std::string_view> names;
  for (const auto& [name, service] : ns->second) {
    if (std::string_view(name).substr(0, prefix.size()) == prefix) {
      names.push_back(std::string_view(name).substr(prefix.size()));
    }
  }
  page.count = names.size();
  const int64_t size = static_cast<int64_t>(names.size());
  const int64_t start =
      std::clamp((static_cast<int64_t>(page_no) - 1) * page_size, int64_t{0}, size);
  const int64_t end = std::clamp(start + page_size, start, size);
  size_t bytes = 0;
  for (int64_t i = start; i < end; ++i) bytes += names[static_cast<size_t>(i)].size() + 3;
  if (bytes > max_bytes) {
    page.too_large = true;
    page.min_bytes = bytes;
    return page;
  }
  for (int64_t i = start; i < end; ++i) page.names.emplace_back(names[static_cast<size_t>(i)]);
  return page;
}

std::vector<PersistentService> InstanceStore::PersistentSnapshot() const {
  std::vector<PersistentService> out;
  for (const auto& [namespace_id, ns] : namespaces_) {
    for (const auto& [service_name, service] : ns) {
      PersistentService kept;
      for (const auto& [cluster_name, cluster] : service.clusters) {
        for (const auto& [id, instance] : cluster) {
          if (!instance.ephemeral) kept.instances.push_back(instance);
        }
      }
      if (!service.explicit_service && kept.instances.empty()) continue;
      kept.namespace_id = namespace_id;
      kept.service_name = service_name;
      kept.explicit_service = service.explicit_service;
      kept.protect_threshold = service.protect_threshold;
      kept.metadata = service.metadata;
      out.push_back(std::move(kept));
    }
  }
  return out;
}

size_t InstanceStore::ServiceCount() const { return service_count_; }

size_t InstanceStore::InstanceCount() const { return instance_count_; }

}  // namespace dubbo::naming_server
