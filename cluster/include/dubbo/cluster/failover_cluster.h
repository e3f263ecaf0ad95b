// File: dubbo/cluster/failover_cluster.h
//
// FailoverCluster: Dubbo's default cluster on top of a ProviderDirectory and a LoadBalancer, with
// per-provider statistics, circuit breakers and outlier ejection.
//
// Invoke() makes up to `retries` + 1 attempts. Each attempt re-reads the directory's snapshot and
// picks with the load balancer among providers that (a) were not tried yet in this invocation and
// (b) whose circuit breaker admits a call. When no such provider is left the invocation fails at
// once; a retry never goes to a provider already tried. Each attempt is bounded by the timeout
// (`<method>.timeout`, then `timeout`, default 1000 ms): the call receives it in Attempt and its
// transport must give up after it and return kDeadlineExceeded. Around each attempt the cluster
// maintains ProviderStats (active count, response time) and feeds the breaker. The callback's
// Status decides what happens next:
//
//   OK                  success; closes the provider's breaker.
//   kUnavailable        the provider refused the connection / is unreachable: a breaker failure
//                       (by default one ejects the provider at once); retried.
//   kDeadlineExceeded   no answer within the timeout: a breaker failure (by default three in a row
//                       eject the provider, so a hung provider leaves the rotation); retried.
//   kInternal,          transport trouble: retried on another provider; the breaker is not touched.
//   kCancelled
//   any other code      an application ("business") error: returned at once, not retried (Dubbo
//                       rethrows business exceptions).
//
// Ejections go through ProviderDirectory::TryEject(), so at most max_ejection_percent of the
// providers are out at once, and after every attempt the directory's latency comparison may eject
// a provider much slower than the others. An ejected provider is probed back in: once its ejection
// time has passed one call goes to it (Attempt::probe). A probe that fails is retried elsewhere
// and does not use up a retry, so a probe of a still-hung provider costs one bounded attempt and
// never fails the user's call by itself.
//
// When every attempt fails, Invoke() returns the last error's code with a message naming the
// providers tried. With no provider at all it returns kUnavailable "No provider available ...".
//
//   auto directory = std::make_shared<ProviderDirectory>(directory_options);
//   registry->Subscribe(consumer_url, directory).IgnoreError();
//   auto cluster = FailoverCluster::Create(directory, consumer_url);   // Result<unique_ptr<...>>
//   Status s = (*cluster)->Invoke(inv, [&](const Provider& p, const Attempt& attempt) {
//     return CallOverThrift(p.url(), attempt.timeout, ...);   // kDeadlineExceeded on timeout
//   });
//
// Thread-safety: Invoke() and Select() are safe from any number of threads at once.
#ifndef DUBBO_CLUSTER_FAILOVER_CLUSTER_H_
#define DUBBO_CLUSTER_FAILOVER_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dubbo/cluster/invocation.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/cluster/provider.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/cluster/provider_snapshot.h"
#include "dubbo/cluster/random.h"
#include "dubbo/registry/clock.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

inline constexpr int kDefaultRetries = 2;
inline constexpr int64_t kDefaultTimeoutMillis = 1000;

struct FailoverClusterOptions {
  // Load balancer name. Default "": the consumer URL's `loadbalance` parameter, else "random".
  std::string loadbalance;
  // Retries after the first attempt. Default -1: the consumer URL's `<method>.retries`, then
  // `retries`, then 2. Negative values from the URL count as 0.
  int retries = -1;
  // Timeout of each attempt. Default 0: the consumer URL's `<method>.timeout`, then `timeout` (in
  // milliseconds), then 1000 ms. Values from the URL that are not positive count as 1000 ms; all
  // are capped at one day.
  registry::Duration timeout{0};
  // Times calls and drives the breakers. Non-owning; must outlive the cluster. Default nullptr: the
  // directory's clock (ProviderDirectoryOptions::clock), else Clock::Real().
  registry::Clock* clock = nullptr;
  // Passed to the load balancer. Non-owning. Default nullptr: RandomSource::Default().
  RandomSource* random = nullptr;
};

// What the call learns about its attempt.
struct Attempt {
  // How long this attempt may take; the transport should give up after it (and report
  // kDeadlineExceeded).
  registry::Duration timeout{0};
  // The cluster clock's Now() at the start of the attempt plus `timeout`.
  registry::TimePoint deadline;
  // True when the attempt probes an ejected provider (its circuit breaker is half-open).
  bool probe = false;
  // 0 for the first attempt of the invocation, then 1, 2, ...
  int index = 0;
};

// One pick: the provider and the snapshot that keeps it alive.
struct Selection {
  std::shared_ptr<const ProviderSnapshot> snapshot;
  const Provider* provider = nullptr;
};

class FailoverCluster {
 public:
  using Call = std::function<registry::Status(const Provider&, const Attempt&)>;

  // `directory` must not be null. The consumer URL supplies `loadbalance`, `retries`, `timeout`
  // (and their `<method>.` forms) and the load balancer's parameters (`hash.nodes`,
  // `hash.arguments`). kInvalidArgument for an unknown load balancer.
  static registry::Result<std::unique_ptr<FailoverCluster>> Create(
      std::shared_ptr<const ProviderDirectory> directory, registry::URL consumer_url,
      FailoverClusterOptions options = {});

  // Picks one provider whose breaker admits a call (claiming a due probe when it picks an open
  // provider). Does not touch the statistics: pair with BeginCall()/EndCall() and report the
  // outcome to the breaker yourself, or use Invoke(). kUnavailable when no provider is available.
  registry::Result<Selection> Select(const Invocation& invocation) const;

  // Runs `call` with failover as described in the file comment.
  registry::Status Invoke(const Invocation& invocation, const Call& call) const;

  // The number of retries Invoke() uses for `invocation`.
  int RetriesFor(const Invocation& invocation) const;
  // The timeout of each attempt Invoke() makes for `invocation`.
  registry::Duration TimeoutFor(const Invocation& invocation) const;

  const LoadBalancer& load_balancer() const { return *load_balancer_; }
  const ProviderDirectory& directory() const { return *directory_; }

 private:
  FailoverCluster(std::shared_ptr<const ProviderDirectory> directory, registry::URL consumer_url,
                  std::unique_ptr<LoadBalancer> load_balancer, int retries,
                  registry::Duration timeout, bool timeout_fixed, registry::Clock* clock);

  // Picks among `snapshot`'s providers not in `tried` (`tried_count` entries) whose breaker admits
  // a call. nullptr when none. `*probe` tells whether the pick claimed a probe.
  const Provider* Pick(const ProviderSnapshot& snapshot, const Invocation& invocation,
                       const ProviderState* const* tried, size_t tried_count, bool* probe) const;

  const std::shared_ptr<const ProviderDirectory> directory_;
  const registry::URL consumer_url_;
  const std::unique_ptr<LoadBalancer> load_balancer_;
  const int retries_;  // -1: read the URL per call
  // The service-level timeout (options, else `timeout`, else the default), and the methods whose
  // `<method>.timeout` differs (read once: most URLs have none, so a call searches an empty list).
  const registry::Duration timeout_;
  std::vector<std::pair<std::string, registry::Duration>> method_timeouts_;
  registry::Clock* const clock_;
  const uint64_t id_;  // Unique per cluster, never reused: keys the per-thread snapshot readers.
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_FAILOVER_CLUSTER_H_
