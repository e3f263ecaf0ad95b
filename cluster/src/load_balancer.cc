// LoadBalancer::Create: the name -> implementation table, and the shared weighted-pick helper.
//
// Thread-safety: Create() and Names() may be called from any thread.
#include "dubbo/cluster/load_balancer.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "internal/load_balancers.h"

namespace dubbo::cluster {

const std::vector<std::string_view>& LoadBalancer::Names() {
  static const std::vector<std::string_view>* const names = new std::vector<std::string_view>{
      "random", "roundrobin", "leastactive", "shortestresponse", "consistenthash"};
  return *names;
}

registry::Result<std::unique_ptr<LoadBalancer>> LoadBalancer::Create(
    std::string_view name, const LoadBalancerOptions& options) {
  RandomSource* random = options.random != nullptr ? options.random : RandomSource::Default();
  if (name == "random") return internal::NewRandomLoadBalancer(random);
  if (name == "roundrobin") return internal::NewRoundRobinLoadBalancer(random);
  if (name == "leastactive") return internal::NewLeastActiveLoadBalancer(random);
  if (name == "shortestresponse") return internal::NewShortestResponseLoadBalancer(random);
  if (name == "consistenthash") return internal::NewConsistentHashLoadBalancer(options.config);
  std::string known;
  for (std::string_view n : Names()) {
    if (!known.empty()) known += ", ";
    known += n;
  }
  return registry::InvalidArgumentError("unknown load balancer '" + std::string(name) +
                                        "' (known: " + known + ")");
}

namespace internal {

const Provider* PickWeightedAmongAllowed(const ProviderSnapshot& snapshot,
                                         const ProviderFilter& filter, RandomSource* random) {
  std::vector<uint32_t> allowed;
  allowed.reserve(snapshot.size());
  int64_t total = 0;
  bool same_weight = true;
  for (size_t i = 0; i < snapshot.size(); ++i) {
    if (!filter.Allowed(i, snapshot[i])) continue;
    if (!allowed.empty() && snapshot.weight(i) != snapshot.weight(allowed.front()))
      same_weight = false;
    allowed.push_back(static_cast<uint32_t>(i));
    total += snapshot.weight(i);
  }
  if (allowed.empty()) return nullptr;
  if (same_weight || total <= 0)
    return &snapshot[allowed[UniformIndex(random->Next(), allowed.size())]];
  int64_t offset = static_cast<int64_t>(UniformIndex(random->Next(), static_cast<uint64_t>(total)));
  for (uint32_t i : allowed) {
    offset -= snapshot.weight(i);
    if (offset < 0) return &snapshot[i];
  }
  return &snapshot[allowed.back()];
}

}  // namespace internal
}  // namespace dubbo::cluster
