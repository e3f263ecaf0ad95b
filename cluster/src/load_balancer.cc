// LoadBalancer::Create: the built-ins, the registry of custom load balancers, and the shared
// weighted-pick helper.
//
// Thread-safety: Create(), Names() and RegisterLoadBalancer() may be called from any thread; the
// registry is guarded by one mutex, never held while a factory runs.
#include "dubbo/cluster/load_balancer.h"

#include <array>
#include <cstdint>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal/load_balancers.h"
#include "internal/mutex.h"

namespace dubbo::cluster {

namespace {

using registry::internal::Mutex;
using registry::internal::MutexLock;

constexpr std::array<std::string_view, 5> kBuiltInNames = {"random", "roundrobin", "leastactive",
                                                           "shortestresponse", "consistenthash"};

bool IsBuiltIn(std::string_view name) {
  for (std::string_view builtin : kBuiltInNames) {
    if (builtin == name) return true;
  }
  return false;
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// The registered factories by name (sorted). Never destroyed, so that registration and Create()
// from static initialisers or exiting threads stay safe.
struct Registry {
  Mutex mu;
  std::map<std::string, LoadBalancerFactory, std::less<>> factories DUBBO_GUARDED_BY(mu);
};

Registry& GetRegistry() {
  static Registry* const registry = new Registry();
  return *registry;
}

}  // namespace

std::vector<std::string> LoadBalancer::Names() {
  std::vector<std::string> names(kBuiltInNames.begin(), kBuiltInNames.end());
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  for (const auto& entry : registry.factories) names.push_back(entry.first);
  return names;
}

registry::Result<std::unique_ptr<LoadBalancer>> LoadBalancer::Create(
    std::string_view name, const LoadBalancerOptions& options) {
  RandomSource* random = options.random != nullptr ? options.random : RandomSource::Default();
  if (name == "random") return internal::NewRandomLoadBalancer(random);
  if (name == "roundrobin") return internal::NewRoundRobinLoadBalancer(random);
  if (name == "leastactive") return internal::NewLeastActiveLoadBalancer(random);
  if (name == "shortestresponse") return internal::NewShortestResponseLoadBalancer(random);
  if (name == "consistenthash") return internal::NewConsistentHashLoadBalancer(options.config);
  LoadBalancerFactory factory;
  {
    Registry& registry = GetRegistry();
    MutexLock lock(&registry.mu);
    auto it = registry.factories.find(name);
    if (it != registry.factories.end()) factory = it->second;
  }
  if (!factory) {
    std::string known;
    for (const std::string& n : Names()) {
      if (!known.empty()) known += ", ";
      known += n;
    }
    return registry::InvalidArgumentError("unknown load balancer '" + std::string(name) +
                                          "' (known: " + known + ")");
  }
  try {
    registry::Result<std::unique_ptr<LoadBalancer>> created = factory(options);
    if (created.ok() && *created == nullptr) {
      return registry::InternalError("the factory of load balancer '" + std::string(name) +
                                     "' returned no load balancer");
    }
    return created;
  } catch (const std::exception& e) {
    return registry::InternalError("the factory of load balancer '" + std::string(name) +
                                   "' threw: " + e.what());
  } catch (...) {
    return registry::InternalError("the factory of load balancer '" + std::string(name) +
                                   "' threw a non-standard exception");
  }
}

registry::Status RegisterLoadBalancer(std::string name, LoadBalancerFactory factory) {
  if (name.empty()) return registry::InvalidArgumentError("load balancer name is empty");
  if (name.size() > kMaxLoadBalancerNameLength) {
    return registry::InvalidArgumentError("load balancer name is longer than " +
                                          std::to_string(kMaxLoadBalancerNameLength) +
                                          " characters");
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return registry::InvalidArgumentError("load balancer name '" + name +
                                            "' has a character outside [A-Za-z0-9_.-]");
    }
  }
  if (!factory) {
    return registry::InvalidArgumentError("load balancer '" + name + "' has an empty factory");
  }
  if (IsBuiltIn(name)) {
    return registry::AlreadyExistsError("load balancer '" + name +
                                        "' is built in and cannot be replaced");
  }
  Registry& registry = GetRegistry();
  MutexLock lock(&registry.mu);
  auto [it, inserted] = registry.factories.try_emplace(std::move(name), std::move(factory));
  if (!inserted) {
    return registry::AlreadyExistsError("load balancer '" + it->first + "' is already registered");
  }
  return registry::Status();
}

const Provider* PickWeightedAmongAllowed(const ProviderSnapshot& snapshot,
                                         const ProviderFilter& filter, RandomSource* random) {
  if (random == nullptr) random = RandomSource::Default();
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

}  // namespace dubbo::cluster
