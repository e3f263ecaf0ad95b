// naming_types implementation.
//
// Thread-safety: stateless functions on values.
#include "dubbo/registry/nacos/naming_types.h"

namespace dubbo::registry::nacos {

namespace {

constexpr std::string_view kGroupSeparator = "@@";

}  // namespace

std::string GroupedName(std::string_view service_name, std::string_view group_name) {
  if (group_name.empty()) group_name = kDefaultGroup;
  std::string out;
  out.reserve(group_name.size() + kGroupSeparator.size() + service_name.size());
  out.append(group_name).append(kGroupSeparator).append(service_name);
  return out;
}

bool Instance::operator==(const Instance& other) const {
  return instance_id == other.instance_id && ip == other.ip && port == other.port &&
         weight == other.weight && healthy == other.healthy && enabled == other.enabled &&
         ephemeral == other.ephemeral && cluster_name == other.cluster_name &&
         service_name == other.service_name && metadata == other.metadata;
}

std::string ServiceInfo::Key() const {
  std::string key =
      name.find(kGroupSeparator) == std::string::npos ? GroupedName(name, group_name) : name;
  if (!clusters.empty()) key.append(kGroupSeparator).append(clusters);
  return key;
}

bool ServiceInfo::operator==(const ServiceInfo& other) const {
  return name == other.name && group_name == other.group_name && clusters == other.clusters &&
         cache_millis == other.cache_millis && last_ref_time == other.last_ref_time &&
         reach_protection_threshold == other.reach_protection_threshold && hosts == other.hosts;
}

}  // namespace dubbo::registry::nacos
