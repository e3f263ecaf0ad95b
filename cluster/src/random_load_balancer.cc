// `random`: weighted random through the snapshot's alias table.
//
// Thread-safety: stateless apart from the injected RandomSource.
#include <memory>
#include <string_view>

#include "internal/load_balancers.h"

namespace dubbo::cluster::internal {
namespace {

class RandomLoadBalancer final : public LoadBalancer {
 public:
  explicit RandomLoadBalancer(RandomSource* random) : random_(random) {}

  std::string_view name() const override { return "random"; }

  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    if (snapshot.empty()) return nullptr;
    const size_t index = snapshot.PickWeighted(random_->Next());
    if (filter == nullptr || filter->Allowed(index, snapshot[index])) return &snapshot[index];
    return PickWeightedAmongAllowed(snapshot, *filter, random_);
  }

 private:
  RandomSource* const random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> NewRandomLoadBalancer(RandomSource* random) {
  return std::make_unique<RandomLoadBalancer>(random);
}

}  // namespace dubbo::cluster::internal
