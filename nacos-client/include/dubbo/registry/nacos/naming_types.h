// File: dubbo/registry/nacos/naming_types.h
//
// The Nacos naming data a client sees: Instance and ServiceInfo, as the v1 list API and the UDP
// push carry them, and the change event listeners receive.
//
// Thread-safety: plain values.
#ifndef DUBBO_REGISTRY_NACOS_NAMING_TYPES_H_
#define DUBBO_REGISTRY_NACOS_NAMING_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/export.h"

namespace dubbo::registry::nacos {

inline constexpr std::string_view kDefaultNamespace = "public";
inline constexpr std::string_view kDefaultGroup = "DEFAULT_GROUP";
inline constexpr std::string_view kDefaultCluster = "DEFAULT";

// "group@@name" (Nacos NamingUtils.getGroupedName). An empty group means DEFAULT_GROUP.
DUBBO_REGISTRY_EXPORT std::string GroupedName(std::string_view service_name,
                                              std::string_view group_name);

struct DUBBO_REGISTRY_EXPORT Instance {
  std::string instance_id;
  std::string ip;
  int port = 0;
  double weight = 1.0;
  bool healthy = true;
  bool enabled = true;
  bool ephemeral = true;
  std::string cluster_name = std::string(kDefaultCluster);
  std::string service_name;  // As the server sent it (grouped for Java-style clients).
  std::map<std::string, std::string> metadata;

  // "ip:port": how Nacos clients tell instances apart in change detection.
  std::string Address() const { return ip + ":" + std::to_string(port); }
  bool operator==(const Instance& other) const;
  bool operator!=(const Instance& other) const { return !(*this == other); }
};

struct DUBBO_REGISTRY_EXPORT ServiceInfo {
  std::string name;        // Grouped: "group@@service".
  std::string group_name;  // Derived from `name` when the server omits it.
  std::string clusters;    // As queried: comma-separated, empty for all.
  int64_t cache_millis = 1000;
  int64_t last_ref_time = 0;
  bool reach_protection_threshold = false;
  std::vector<Instance> hosts;

  // The cache key: "group@@service", plus "@@clusters" when clusters is non-empty. A `name`
  // without "@@" is grouped with group_name first (DEFAULT_GROUP when that is empty too).
  std::string Key() const;
  // Every field, hosts in order.
  bool operator==(const ServiceInfo& other) const;
  bool operator!=(const ServiceInfo& other) const { return !(*this == other); }
};

// What a subscriber is told after each change of a service it listens to.
struct ServiceChangeEvent {
  std::string service_name;  // Grouped.
  std::string clusters;
  std::vector<Instance> instances;  // The full current list.
  std::vector<Instance> added;
  std::vector<Instance> removed;
  std::vector<Instance> modified;  // Same ip:port, other fields changed.
};

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_NAMING_TYPES_H_
