// File: dubbo/cluster/load_balancer.h
//
// LoadBalancer: picks one provider of a ProviderSnapshot for one invocation. Created by name
// (Dubbo's `loadbalance` values), all weights warm-up adjusted:
//
//   random            weighted random, O(1) through the snapshot's alias table; uniform when all
//                     weights are equal or all 0. (The default.)
//   roundrobin        smooth weighted round robin (nginx / Dubbo): weights 5:1:1 give
//   a,a,b,a,c,a,a.
//                     The sequence of one period (total weight / gcd) is precomputed per snapshot
//                     and a pick is one atomic increment; periods above 65,536 picks (or whose
//                     schedule would cost more than 2^22 steps to build) fall back to Dubbo's O(n)
//                     per-pick algorithm under a per-snapshot mutex (never the directory's).
//   leastactive       fewest calls in flight (ProviderStats::active()); ties: weighted random among
//                     them when their weights differ, else uniform.
//   shortestresponse  smallest (mean successful response time in the stats window) x (active + 1);
//                     ties as leastactive.
//   consistenthash    Dubbo's ring: `hash.nodes` (default 160) points per provider, MD5 of
//                     "host:port" + i for i in [0, nodes/4), four little-endian 32-bit points per
//                     digest; the key is the concatenation of the arguments listed by
//                     `hash.arguments` (default "0": the first), hashed with MD5 (first 4 bytes).
//                     Same ring and same choices as Java Dubbo for the same addresses. Weights are
//                     ignored (as in Dubbo).
//
// A filter restricts a pick (failover retries, open circuit breakers); the algorithms honour it
// without changing their character (round robin advances its sequence; the hash walks the ring to
// the next allowed provider; random draws among the allowed providers by weight).
//
//   Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create("roundrobin");
//   if (!lb.ok()) return lb.status();                       // kInvalidArgument for an unknown name
//   const Provider* p = (*lb)->Select(*snapshot, invocation);  // nullptr when there is none
//
// Create a load balancer once per service (or method) and reuse it: round robin keeps its position
// in the load balancer.
//
// Thread-safety: Select() is safe from any number of threads at once and takes no lock shared with
// ProviderDirectory updates.
#ifndef DUBBO_CLUSTER_LOAD_BALANCER_H_
#define DUBBO_CLUSTER_LOAD_BALANCER_H_

#include <memory>
#include <string_view>
#include <vector>

#include "dubbo/cluster/invocation.h"
#include "dubbo/cluster/provider.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

// Restricts a pick to some providers.
class ProviderFilter {
 public:
  virtual ~ProviderFilter() = default;
  // True when `provider` (the snapshot's provider `index`) may be picked. Must be cheap and must
  // not claim anything (it may be called for providers that end up not picked).
  virtual bool Allowed(size_t index, const Provider& provider) const = 0;
};

struct LoadBalancerOptions {
  // Parameters: `hash.nodes` (default 160, rounded down to a multiple of 4, at least 4) and
  // `hash.arguments` (default "0"; comma-separated argument indexes) for consistenthash. Usually
  // the consumer URL. Default: the empty URL (every default).
  registry::URL config;
  // Randomness for random, leastactive and shortestresponse tie-breaks. Non-owning; must outlive
  // the load balancer. Default nullptr: RandomSource::Default().
  RandomSource* random = nullptr;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // Creates the load balancer named `name` (case-sensitive, one of Names()). An unknown name is
  // kInvalidArgument; so is a malformed `hash.arguments` or `hash.nodes`.
  static registry::Result<std::unique_ptr<LoadBalancer>> Create(
      std::string_view name, const LoadBalancerOptions& options = {});
  // "random", "roundrobin", "leastactive", "shortestresponse", "consistenthash".
  static const std::vector<std::string_view>& Names();
  static constexpr std::string_view kDefaultName = "random";

  virtual std::string_view name() const = 0;

  // Picks a provider of `snapshot` allowed by `filter` (nullptr: all allowed). Returns nullptr when
  // there is none. The pointer lives as long as `snapshot`.
  virtual const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& invocation,
                                 const ProviderFilter* filter = nullptr) const = 0;
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_LOAD_BALANCER_H_
