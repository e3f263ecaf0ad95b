// `leastactive` and `shortestresponse`: the provider with the smallest load figure (calls in
// flight; or mean successful response time x (calls in flight + 1)), ties broken as Dubbo does:
// weighted random among the tied providers when their weights differ and sum to more than 0, else
// uniform.
//
// Thread-safety: reads lock-free counters; per-thread scratch space only.
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>
#include <vector>

#include "internal/load_balancers.h"

namespace dubbo::cluster::internal {
namespace {

template <typename LoadFn>
const Provider* SelectLeast(const ProviderSnapshot& snapshot, const ProviderFilter* filter,
                            RandomSource* random, LoadFn load) {
  thread_local std::vector<uint32_t> tied;
  tied.clear();
  int64_t least = std::numeric_limits<int64_t>::max();
  int64_t total = 0;
  bool same_weight = true;
  for (size_t i = 0; i < snapshot.size(); ++i) {
    const Provider& provider = snapshot[i];
    if (filter != nullptr && !filter->Allowed(i, provider)) continue;
    const int64_t value = load(provider);
    const int32_t weight = snapshot.weight(i);
    if (value < least) {
      least = value;
      tied.clear();
      total = 0;
      same_weight = true;
    } else if (value > least) {
      continue;
    }
    if (!tied.empty() && weight != snapshot.weight(tied.front())) same_weight = false;
    tied.push_back(static_cast<uint32_t>(i));
    total += weight;
  }
  if (tied.empty()) return nullptr;
  if (tied.size() == 1) return &snapshot[tied.front()];
  if (!same_weight && total > 0) {
    int64_t offset =
        static_cast<int64_t>(UniformIndex(random->Next(), static_cast<uint64_t>(total)));
    for (uint32_t i : tied) {
      offset -= snapshot.weight(i);
      if (offset < 0) return &snapshot[i];
    }
  }
  return &snapshot[tied[UniformIndex(random->Next(), tied.size())]];
}

class LeastActiveLoadBalancer final : public LoadBalancer {
 public:
  explicit LeastActiveLoadBalancer(RandomSource* random) : random_(random) {}

  std::string_view name() const override { return "leastactive"; }

  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    return SelectLeast(snapshot, filter, random_,
                       [](const Provider& p) { return static_cast<int64_t>(p.stats().active()); });
  }

 private:
  RandomSource* const random_;
};

class ShortestResponseLoadBalancer final : public LoadBalancer {
 public:
  explicit ShortestResponseLoadBalancer(RandomSource* random) : random_(random) {}

  std::string_view name() const override { return "shortestresponse"; }

  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    return SelectLeast(snapshot, filter, random_, [](const Provider& p) {
      const int64_t active = p.stats().active();
      return p.stats().WindowMeanNanos() * (active < 0 ? 1 : active + 1);
    });
  }

 private:
  RandomSource* const random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> NewLeastActiveLoadBalancer(RandomSource* random) {
  return std::make_unique<LeastActiveLoadBalancer>(random);
}

std::unique_ptr<LoadBalancer> NewShortestResponseLoadBalancer(RandomSource* random) {
  return std::make_unique<ShortestResponseLoadBalancer>(random);
}

}  // namespace dubbo::cluster::internal
