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
// InvokeAsync() is Invoke() for a callback transport (brpc, gRPC's callback API, Thrift async),
// with the same failover, retries, timeouts, breakers, ejection, probes, latency comparison and
// error messages. It has no thread of its own: `call` starts an attempt and returns; the transport
// reports the outcome once through the AttemptDone it was given, from any thread, and the next
// attempt (or `completion`) runs on the thread that reports. An attempt reported before `call`
// returns (a transport's fast path) continues in a loop on the calling thread, so the stack does
// not grow with retries. An invocation in flight keeps the cluster's state (directory, load
// balancer, settings) alive: the FailoverCluster may be destroyed while attempts are in flight and
// from inside `call` or `completion`, and the invocation still finishes normally. (As for any
// object, not while another thread is inside one of its methods, InvokeAsync() included.)
//
//   (*cluster)->InvokeAsync(inv,
//       [channel](const Provider& p, const Attempt& attempt, AttemptDone done) {
//         // Send() takes a std::function<void(Status)>, so the AttemptDone is made copyable.
//         channel->Send(p.address(), attempt.timeout, request, std::move(done).IntoFunction());
//       },
//       [reply](Status s) { reply->Finish(std::move(s)); });   // exactly once, from any thread
//
// Thread-safety: Invoke(), InvokeAsync() and Select() are safe from any number of threads at once;
// per-call state lives on the calling stack (Invoke) or in the invocation's own state
// (InvokeAsync), never in the cluster. Callbacks never run under a lock of ours.
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
#include "dubbo/registry/export.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::cluster {

inline constexpr int kDefaultRetries = 2;
// Retries above this count as this many, wherever they come from (options, URL, Invocation).
inline constexpr int kMaxRetries = 1000;
inline constexpr int64_t kDefaultTimeoutMillis = 1000;

struct FailoverClusterOptions {
  // Load balancer name. Default "": the consumer URL's `loadbalance` parameter, else "random".
  std::string loadbalance;
  // Retries after the first attempt, at most kMaxRetries (larger values count as 1000). Default -1:
  // the consumer URL's `<method>.retries`, then `retries`, then 2. Negative values from the URL
  // count as 0.
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

namespace internal {
class FailoverCore;
class AsyncInvocation;
}  // namespace internal

// How the transport reports the outcome of one InvokeAsync() attempt: call it once with the
// attempt's Status (classified as the Status Invoke()'s call returns), from any thread. Move-only
// (IntoFunction() makes a copyable callable of it).
// The first report wins: calling it again does nothing. Destroying it (or assigning over it)
// without calling it reports kCancelled "the transport dropped the attempt", so a lost callback
// never leaves an invocation hanging. Reporting may run the next attempt, or the completion, on the
// reporting thread before it returns (destroying it too). An empty AttemptDone (default-constructed
// or moved from) does nothing. Like any object, one AttemptDone must not be used by two threads at
// once; different attempts' AttemptDones are independent.
class DUBBO_REGISTRY_EXPORT AttemptDone {
 public:
  AttemptDone() = default;
  AttemptDone(AttemptDone&& other) noexcept : op_(other.op_) { other.op_ = nullptr; }
  AttemptDone& operator=(AttemptDone&& other) noexcept;
  AttemptDone(const AttemptDone&) = delete;
  AttemptDone& operator=(const AttemptDone&) = delete;
  ~AttemptDone();

  void operator()(registry::Status status);
  // True until it has reported.
  explicit operator bool() const { return op_ != nullptr; }

  // For transports whose callbacks must be copyable (std::function, as in gRPC's callback API and
  // Thrift's async channels): a callable that holds this AttemptDone, and whose copies may be
  // called from any threads at once (a response racing a timer, say). The first call reports; the
  // others do nothing; when the last copy is destroyed without any call, the attempt is reported
  // dropped (kCancelled). Costs one allocation, only for the transports that need it.
  std::function<void(registry::Status)> IntoFunction() &&;

 private:
  friend class internal::AsyncInvocation;
  explicit AttemptDone(internal::AsyncInvocation* op) : op_(op) {}
  void Report(registry::Status status, bool dropped);

  internal::AsyncInvocation* op_ = nullptr;
};

class DUBBO_REGISTRY_EXPORT FailoverCluster {
 public:
  using Call = std::function<registry::Status(const Provider&, const Attempt&)>;
  // Starts one attempt on `provider` and arranges for `done` to be called with its outcome. The
  // references are valid until `done` reports (copy what the transport needs later).
  using AsyncCall = std::function<void(const Provider&, const Attempt&, AttemptDone done)>;
  // Receives the invocation's final Status, exactly once.
  using Completion = std::function<void(registry::Status)>;

  // `directory` must not be null. The consumer URL supplies `loadbalance`, `retries`, `timeout`
  // (and their `<method>.` forms) and the load balancer's parameters (`hash.nodes`,
  // `hash.arguments`). kInvalidArgument for an unknown load balancer.
  static registry::Result<std::unique_ptr<FailoverCluster>> Create(
      std::shared_ptr<const ProviderDirectory> directory, registry::URL consumer_url,
      FailoverClusterOptions options = {});

  // Invocations in flight keep what they need; they finish normally.
  ~FailoverCluster();
  FailoverCluster(const FailoverCluster&) = delete;
  FailoverCluster& operator=(const FailoverCluster&) = delete;

  // Picks one provider whose breaker admits a call (claiming a due probe when it picks an open
  // provider). Does not touch the statistics: pair with BeginCall()/EndCall() and report the
  // outcome to the breaker yourself, or use Invoke(). kUnavailable when no provider is available.
  registry::Result<Selection> Select(const Invocation& invocation) const;

  // Runs `call` with failover as described in the file comment. A `call` that throws counts as a
  // kInternal outcome of its attempt.
  registry::Status Invoke(const Invocation& invocation, const Call& call) const;

  // Invoke() for a callback transport (file comment). Runs `call` for the first attempt on the
  // calling thread; each later attempt, and `completion`, runs on the thread that reported the
  // attempt before it (the calling thread when that is reported before `call` returns).
  // `completion` runs exactly once with what Invoke() would return; an empty `completion` is
  // allowed, an empty `call` completes with kInvalidArgument. An exception from `completion` is
  // logged and dropped. If `call` throws, its attempt counts as kInternal unless `done` was already
  // called; if `call` handed `done` on before throwing, the exception is logged and the attempt
  // waits for that report.
  //
  // Lifetime: `invocation`'s views (method, arguments) are read only until InvokeAsync() returns.
  // When an attempt is still in flight at that point, InvokeAsync() first copies the method name
  // and the arguments (and moves `call` and `completion`) into the invocation's state, for later
  // attempts and the final message. An invocation whose attempts all report before `call` returns
  // copies nothing and, after the thread's first invocation, allocates nothing.
  void InvokeAsync(const Invocation& invocation, AsyncCall call, Completion completion) const;

  // The number of retries Invoke() and InvokeAsync() use for `invocation`, in [0, kMaxRetries].
  int RetriesFor(const Invocation& invocation) const;
  // The timeout of each attempt Invoke() and InvokeAsync() make for `invocation`.
  registry::Duration TimeoutFor(const Invocation& invocation) const;

  const LoadBalancer& load_balancer() const;
  const ProviderDirectory& directory() const;

 private:
  explicit FailoverCluster(std::shared_ptr<const internal::FailoverCore> core);

  // Everything but the per-call state, shared with the InvokeAsync() invocations in flight.
  const std::shared_ptr<const internal::FailoverCore> core_;
};

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_FAILOVER_CLUSTER_H_
