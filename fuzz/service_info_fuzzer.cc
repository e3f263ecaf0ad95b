// libFuzzer target for ParseServiceInfo(), the parser of list responses and UDP push `data`
// (attacker-controlled on the push port). Whatever it accepts must survive a
// ServiceInfoToJson()/ParseServiceInfo() round trip unchanged, and render to the same text again;
// DiffServiceInfo() of a value with itself must report no change, and against an empty service
// must report every distinct address as added; data from which hosts were dropped still has a
// usable instance. Seeds: fuzz/corpus/service_info/.
//
// Thread-safety: libFuzzer calls this from one thread.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <unordered_set>

#include "service_info_json.h"

namespace {

using dubbo::registry::nacos::DiffServiceInfo;
using dubbo::registry::nacos::HasUsableInstance;
using dubbo::registry::nacos::Instance;
using dubbo::registry::nacos::ParseServiceInfo;
using dubbo::registry::nacos::ServiceChangeEvent;
using dubbo::registry::nacos::ServiceInfo;
using dubbo::registry::nacos::ServiceInfoParseReport;
using dubbo::registry::nacos::ServiceInfoToJson;

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  ServiceInfoParseReport report;
  auto info = ParseServiceInfo(input, &report);
  if (!info.ok()) return 0;
  Check(report.dropped_hosts == 0 || HasUsableInstance(*info));

  const std::string json = ServiceInfoToJson(*info);
  Check(json.find('\n') == std::string::npos);
  auto reparsed = ParseServiceInfo(json);
  Check(reparsed.ok());
  Check(*reparsed == *info);
  Check(ServiceInfoToJson(*reparsed) == json);
  Check(!info->Key().empty());

  const ServiceChangeEvent same = DiffServiceInfo(*info, *reparsed);
  Check(same.added.empty() && same.removed.empty() && same.modified.empty());
  Check(same.instances == info->hosts);

  std::unordered_set<std::string> addresses;
  for (const Instance& host : info->hosts) addresses.insert(host.Address());
  const ServiceChangeEvent added = DiffServiceInfo(ServiceInfo(), *info);
  Check(added.added.size() == addresses.size() && added.removed.empty());
  const ServiceChangeEvent removed = DiffServiceInfo(*info, ServiceInfo());
  Check(removed.removed.size() == addresses.size() && removed.added.empty());

  HasUsableInstance(*info);
  return 0;
}
