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
// Custom load balancers: implement LoadBalancer and register a factory under a new name once (at
// start-up, from any thread); Create() and therefore `loadbalance=<name>` on a consumer URL
// (FailoverCluster) then accept that name. A custom Select() must honour the filter
// (FailoverCluster uses it to skip providers already tried and open circuit breakers). Everything a
// pick may look at is public: the snapshot's providers and effective weights, ProviderStats (active
// calls, response times), RandomSource and UniformIndex(), and PickWeightedAmongAllowed() below.
//
//   class FewestActiveFirst final : public LoadBalancer {   // first allowed, fewest calls in
//   flight
//    public:
//     std::string_view name() const override { return "fewestactivefirst"; }
//     const Provider* Select(const ProviderSnapshot& snapshot, const Invocation&,
//                            const ProviderFilter* filter) const override {
//       const Provider* best = nullptr;
//       for (size_t i = 0; i < snapshot.size(); ++i) {
//         if (filter != nullptr && !filter->Allowed(i, snapshot[i])) continue;
//         if (best == nullptr || snapshot[i].stats().active() < best->stats().active())
//           best = &snapshot[i];
//       }
//       return best;
//     }
//   };
//   RegisterLoadBalancer("fewestactivefirst", [](const LoadBalancerOptions&) {
//     return Result<std::unique_ptr<LoadBalancer>>(std::make_unique<FewestActiveFirst>());
//   }).IgnoreError();
//
// Thread-safety: Select() is safe from any number of threads at once and takes no lock shared with
// ProviderDirectory updates; a custom load balancer must be too. Create(), Names() and
// RegisterLoadBalancer() may be called from any thread at once; they share one process-wide mutex
// that Select() never takes.
#ifndef DUBBO_CLUSTER_LOAD_BALANCER_H_
#define DUBBO_CLUSTER_LOAD_BALANCER_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/cluster/invocation.h"
#include "dubbo/cluster/provider.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

// Restricts a pick to some providers.
class DUBBO_REGISTRY_EXPORT ProviderFilter {
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

class DUBBO_REGISTRY_EXPORT LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;

  // Creates the load balancer named `name` (case-sensitive, one of Names()): a built-in, else a
  // registered one (its factory runs on the caller's thread, outside any lock of ours). An unknown
  // name is kInvalidArgument with a message listing every known name; so is a malformed
  // `hash.arguments` or `hash.nodes`. A factory's error is returned as it is; a factory that
  // returns nullptr or throws gives kInternal.
  static registry::Result<std::unique_ptr<LoadBalancer>> Create(
      std::string_view name, const LoadBalancerOptions& options = {});
  // The built-ins ("random", "roundrobin", "leastactive", "shortestresponse", "consistenthash"),
  // then the registered names in sorted order.
  static std::vector<std::string> Names();
  static constexpr std::string_view kDefaultName = "random";

  virtual std::string_view name() const = 0;

  // Picks a provider of `snapshot` allowed by `filter` (nullptr: all allowed). Returns nullptr when
  // there is none. The pointer lives as long as `snapshot`. Should not throw: FailoverCluster logs
  // an exception from it and counts it as no pick.
  virtual const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& invocation,
                                 const ProviderFilter* filter = nullptr) const = 0;
};

// Makes a load balancer: called by LoadBalancer::Create() with the caller's options (a null
// `options.random` means RandomSource::Default()). Returns the load balancer or an error; must not
// return nullptr (that, or an exception, makes Create() return kInternal).
using LoadBalancerFactory =
    std::function<registry::Result<std::unique_ptr<LoadBalancer>>(const LoadBalancerOptions&)>;

// The longest name RegisterLoadBalancer() accepts.
inline constexpr size_t kMaxLoadBalancerNameLength = 64;

// Adds `name` to the names LoadBalancer::Create() accepts, for the life of the process (there is no
// unregistering). kInvalidArgument when `name` is empty, longer than kMaxLoadBalancerNameLength or
// has a character outside [A-Za-z0-9_.-], or when `factory` is empty; kAlreadyExists when the name
// is taken (a built-in name included: built-ins cannot be replaced).
DUBBO_REGISTRY_EXPORT registry::Status RegisterLoadBalancer(std::string name,
                                                            LoadBalancerFactory factory);

// A provider among those `filter` allows, drawn with probability weight/total by the snapshot's
// effective weights (uniform when their weights are equal or all 0), in O(n) and one vector
// allocation: the building block for honouring a filter in a custom load balancer. nullptr when
// none is allowed. `random` nullptr: RandomSource::Default(). (Without a filter, prefer the
// snapshot's O(1) PickWeighted().)
DUBBO_REGISTRY_EXPORT const Provider* PickWeightedAmongAllowed(const ProviderSnapshot& snapshot,
                                                               const ProviderFilter& filter,
                                                               RandomSource* random = nullptr);

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_LOAD_BALANCER_H_
