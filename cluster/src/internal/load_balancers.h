// Internal: the built-in load balancers (created through LoadBalancer::Create) and their shared
// helpers.
//
// Thread-safety: every load balancer's Select() is safe from any thread.
#ifndef DUBBO_CLUSTER_INTERNAL_LOAD_BALANCERS_H_
#define DUBBO_CLUSTER_INTERNAL_LOAD_BALANCERS_H_

#include <cstdint>
#include <memory>

#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster::internal {

// `random` is non-owning and never null.
std::unique_ptr<LoadBalancer> NewRandomLoadBalancer(RandomSource* random);
std::unique_ptr<LoadBalancer> NewRoundRobinLoadBalancer(RandomSource* random);
std::unique_ptr<LoadBalancer> NewLeastActiveLoadBalancer(RandomSource* random);
std::unique_ptr<LoadBalancer> NewShortestResponseLoadBalancer(RandomSource* random);
registry::Result<std::unique_ptr<LoadBalancer>> NewConsistentHashLoadBalancer(
    const registry::URL& config);

// Keys of ProviderSnapshot::GetOrBuild() data (distinct per kind; low bits carry parameters).
inline constexpr uint64_t kRoundRobinScheduleKey = 0x5252000000000000ULL;
inline constexpr uint64_t kHashRingKeyBase = 0x4348000000000000ULL;

}  // namespace dubbo::cluster::internal

#endif  // DUBBO_CLUSTER_INTERNAL_LOAD_BALANCERS_H_
