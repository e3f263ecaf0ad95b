// FailoverCluster: pick (skipping tried providers and open breakers), call with the attempt's
// timeout, account, eject, retry; synchronously (Invoke) or driven by the transport's reports
// (InvokeAsync). Both run the same per-attempt steps (FailoverCore::Begin/End/Failure).
//
// Thread-safety: FailoverCore is immutable after construction; per-call state lives on the stack
// (Invoke) or in an AsyncInvocation owned by exactly one thread at a time (InvokeAsync).
#include "dubbo/cluster/failover_cluster.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "internal/logging.h"

namespace dubbo::cluster {

namespace {

// Per-thread SnapshotReaders, one per FailoverCluster (by id, never reused) in use on the thread:
// the hot path then reads the directory's snapshot with one acquire load instead of
// std::atomic_load of a shared_ptr (a mutex from libstdc++'s pool, contended by every calling
// thread). A reader's directory is alive whenever it is used: only invocations of its own cluster
// look it up, and they hold the cluster's state, which owns the directory (FailoverCore). Entries
// of clusters that are gone are evicted as new ones come; a SnapshotReader's destructor does not
// touch its directory.
struct ThreadReader {
  uint64_t cluster_id = 0;
  std::unique_ptr<SnapshotReader> reader;
  int depth = 0;  // > 0 while an invocation of this cluster runs attempts on this thread.
};
constexpr size_t kMaxThreadReaders = 8;

std::atomic<uint64_t> next_cluster_id{1};

ThreadReader* ReaderFor(uint64_t cluster_id, const ProviderDirectory* directory) {
  // Entries are heap-allocated so that a nested Invoke() adding or evicting one never moves an
  // entry an outer Invoke() is using (those have depth > 0 and are never evicted).
  thread_local std::vector<std::unique_ptr<ThreadReader>> readers;
  for (const auto& r : readers) {
    if (r->cluster_id == cluster_id) return r.get();
  }
  if (readers.size() >= kMaxThreadReaders) {
    for (auto it = readers.begin(); it != readers.end(); ++it) {
      if ((*it)->depth == 0) {
        readers.erase(it);
        break;
      }
    }
    if (readers.size() >= kMaxThreadReaders) return nullptr;
  }
  readers.push_back(std::make_unique<ThreadReader>());
  readers.back()->cluster_id = cluster_id;
  readers.back()->reader = std::make_unique<SnapshotReader>(directory);
  return readers.back().get();
}

// The directory's snapshot for the attempts an invocation runs on this thread: the thread's reader
// (no reference count touched; its snapshot stays alive while the scope lasts, since only the
// outermost scope of a cluster on a thread uses the reader), else a fresh copy for nested
// invocations of the same cluster (a reader's snapshot may change under an outer one).
class ReaderScope {
 public:
  ReaderScope(uint64_t cluster_id, const ProviderDirectory* directory)
      : directory_(directory), reader_(ReaderFor(cluster_id, directory)) {
    if (reader_ != nullptr && reader_->depth > 0) reader_ = nullptr;
    if (reader_ != nullptr) ++reader_->depth;
  }
  ~ReaderScope() {
    if (reader_ != nullptr) --reader_->depth;
  }
  ReaderScope(const ReaderScope&) = delete;
  ReaderScope& operator=(const ReaderScope&) = delete;

  // The current snapshot, valid while this scope lasts; `*owned` holds it when there is no reader.
  const std::shared_ptr<const ProviderSnapshot>& Snapshot(
      std::shared_ptr<const ProviderSnapshot>* owned) {
    if (reader_ != nullptr) return reader_->reader->GetShared();
    *owned = directory_->snapshot();
    return *owned;
  }

 private:
  const ProviderDirectory* directory_;
  ThreadReader* reader_;
};

}  // namespace
namespace {

using registry::Status;
using registry::StatusCode;

constexpr int64_t kMaxTimeoutMillis = 86'400'000;

// A timeout in milliseconds from the URL: not positive (or absent) is the default; capped at a day.
registry::Duration TimeoutFromMillis(int64_t millis) {
  if (millis <= 0) millis = kDefaultTimeoutMillis;
  return std::chrono::milliseconds(std::min(millis, kMaxTimeoutMillis));
}

int ClampRetries(int64_t retries) {
  return static_cast<int>(std::clamp<int64_t>(retries, 0, kMaxRetries));
}

// The Status of an attempt whose call threw. Called from a catch block.
Status CallThrew() {
  try {
    throw;
  } catch (const std::exception& e) {
    return registry::InternalError(std::string("the call threw: ") + e.what());
  } catch (...) {
    return registry::InternalError("the call threw a non-standard exception");
  }
}

bool IsRetryable(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded ||
         code == StatusCode::kInternal || code == StatusCode::kCancelled;
}

// Excludes providers already tried or skipped in this invocation, and providers whose breaker would
// refuse a call now.
class AvailableFilter final : public ProviderFilter {
 public:
  AvailableFilter(const ProviderState* const* tried, size_t tried_count,
                  const std::vector<const ProviderState*>* skipped, const registry::Clock* clock)
      : tried_(tried), tried_count_(tried_count), skipped_(skipped), clock_(clock) {}

  bool Allowed(size_t /*index*/, const Provider& provider) const override {
    const ProviderState* state = provider.state().get();
    if (std::find(tried_, tried_ + tried_count_, state) != tried_ + tried_count_) return false;
    if (std::find(skipped_->begin(), skipped_->end(), state) != skipped_->end()) return false;
    return provider.breaker().IsAvailable(*clock_);
  }

 private:
  const ProviderState* const* tried_;
  size_t tried_count_;
  const std::vector<const ProviderState*>* skipped_;
  const registry::Clock* clock_;
};

}  // namespace

namespace internal {

// The attempt bookkeeping of one invocation. The happy path (the first attempt succeeds) allocates
// nothing: the retry count and the list of tried providers are set up on the first failure.
struct Attempts {
  int allowed = 0;  // retries + 1; 0 until the first failure.
  int counted = 0;  // failed attempts that use up a retry (a failed probe does not)
  int index = 0;    // the next attempt's Attempt::index
  size_t providers_seen = 0;
  std::vector<std::shared_ptr<ProviderState>> tried_states;  // keeps identities alive
  std::vector<const ProviderState*> tried;
  std::string tried_addresses;
  Status last;

  // Whether another attempt may be made. The attempts end too when no untried provider is left,
  // so there is at most one attempt per provider.
  bool More() const { return allowed == 0 || counted < allowed; }
  // Back to the initial state, keeping the capacity.
  void Clear() {
    providers_seen = 0;
    if (allowed == 0) return;  // nothing failed: the rest is untouched
    allowed = counted = index = 0;
    tried_states.clear();
    tried.clear();
    tried_addresses.clear();
    last = Status();
  }
};

// Everything of a FailoverCluster but the per-call state; immutable.
class FailoverCore {
 public:
  FailoverCore(std::shared_ptr<const ProviderDirectory> directory, registry::URL consumer_url,
               std::unique_ptr<LoadBalancer> load_balancer, int retries, registry::Duration timeout,
               bool timeout_fixed, registry::Clock* clock);

  registry::Duration TimeoutFor(const Invocation& invocation) const;
  int RetriesFor(const Invocation& invocation) const;

  // Picks among `snapshot`'s providers not in `tried` (`tried_count` entries) whose breaker admits
  // a call. nullptr when none. `*probe` tells whether the pick claimed a probe.
  const Provider* Pick(const ProviderSnapshot& snapshot, const Invocation& invocation,
                       const ProviderState* const* tried, size_t tried_count, bool* probe) const;

  // Starts an attempt: picks a provider (nullptr: none is left, the invocation has failed),
  // counts the call as active and fills `*attempt` and `*start`.
  const Provider* Begin(const ProviderSnapshot& snapshot, const Invocation& invocation,
                        Attempts* attempts, Attempt* attempt, registry::TimePoint* start) const;
  // Accounts the outcome `status` of the attempt on `provider` begun at `start`: statistics,
  // latency comparison, breaker, ejection. True when the invocation ends with `status` (success or
  // an application error); false when it was recorded in `*attempts` for a retry (see More()).
  bool End(const Provider& provider, const Attempt& attempt, registry::TimePoint start,
           Status* status, const Invocation& invocation, Attempts* attempts) const;
  // The final Status of an invocation whose attempts all failed (or that found no provider).
  Status Failure(const Invocation& invocation, const Attempts& attempts) const;

  const std::shared_ptr<const ProviderDirectory> directory;
  const registry::URL consumer_url;
  const std::unique_ptr<LoadBalancer> load_balancer;
  const int retries;  // -1: read the URL per call
  // The service-level timeout (options, else `timeout`, else the default), and the methods whose
  // `<method>.timeout` differs (read once: most URLs have none, so a call searches an empty list).
  const registry::Duration timeout;
  std::vector<std::pair<std::string, registry::Duration>> method_timeouts;
  registry::Clock* const clock;
  const uint64_t id;  // Unique per cluster, never reused: keys the per-thread snapshot readers.
};

}  // namespace internal

registry::Result<std::unique_ptr<FailoverCluster>> FailoverCluster::Create(
    std::shared_ptr<const ProviderDirectory> directory, registry::URL consumer_url,
    FailoverClusterOptions options) {
  if (directory == nullptr)
    return registry::InvalidArgumentError("FailoverCluster needs a directory");
  const std::string name =
      !options.loadbalance.empty()
          ? options.loadbalance
          : std::string(consumer_url.GetParameter("loadbalance", LoadBalancer::kDefaultName));
  LoadBalancerOptions lb_options;
  lb_options.config = consumer_url;
  lb_options.random = options.random;
  registry::Result<std::unique_ptr<LoadBalancer>> lb = LoadBalancer::Create(name, lb_options);
  if (!lb.ok()) {
    return lb.status().WithPrefix("FailoverCluster for " +
                                  std::string(consumer_url.ServiceInterface()));
  }
  registry::Clock* clock = options.clock != nullptr                ? options.clock
                           : directory->options().clock != nullptr ? directory->options().clock
                                                                   : registry::Clock::Real();
  const registry::Duration timeout =
      options.timeout > registry::Duration::zero()
          ? std::min<registry::Duration>(options.timeout,
                                         std::chrono::milliseconds(kMaxTimeoutMillis))
          : TimeoutFromMillis(consumer_url.GetInt("timeout", kDefaultTimeoutMillis));
  const int retries = options.retries < 0 ? -1 : ClampRetries(options.retries);
  return std::unique_ptr<FailoverCluster>(
      new FailoverCluster(std::make_shared<const internal::FailoverCore>(
          std::move(directory), std::move(consumer_url), std::move(*lb), retries, timeout,
          options.timeout > registry::Duration::zero(), clock)));
}

FailoverCluster::FailoverCluster(std::shared_ptr<const internal::FailoverCore> core)
    : core_(std::move(core)) {}

const LoadBalancer& FailoverCluster::load_balancer() const { return *core_->load_balancer; }
const ProviderDirectory& FailoverCluster::directory() const { return *core_->directory; }
registry::Duration FailoverCluster::TimeoutFor(const Invocation& invocation) const {
  return core_->TimeoutFor(invocation);
}
int FailoverCluster::RetriesFor(const Invocation& invocation) const {
  return core_->RetriesFor(invocation);
}

namespace internal {

FailoverCore::FailoverCore(std::shared_ptr<const ProviderDirectory> directory_arg,
                           registry::URL consumer_url_arg,
                           std::unique_ptr<LoadBalancer> load_balancer_arg, int retries_arg,
                           registry::Duration timeout_arg, bool timeout_fixed,
                           registry::Clock* clock_arg)
    : directory(std::move(directory_arg)),
      consumer_url(std::move(consumer_url_arg)),
      load_balancer(std::move(load_balancer_arg)),
      retries(retries_arg),
      timeout(timeout_arg),
      clock(clock_arg),
      id(next_cluster_id.fetch_add(1, std::memory_order_relaxed)) {
  if (timeout_fixed) return;
  constexpr std::string_view kSuffix = ".timeout";
  for (const auto& [key, value] : consumer_url.parameters()) {
    if (key.size() <= kSuffix.size() ||
        key.compare(key.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string method = key.substr(0, key.size() - kSuffix.size());
    const registry::Duration timeout_of_method =
        TimeoutFromMillis(consumer_url.GetMethodInt(method, "timeout", kDefaultTimeoutMillis));
    if (timeout_of_method != timeout) method_timeouts.emplace_back(method, timeout_of_method);
  }
}

registry::Duration FailoverCore::TimeoutFor(const Invocation& invocation) const {
  if (invocation.timeout > registry::Duration::zero()) {
    return std::min<registry::Duration>(invocation.timeout,
                                        std::chrono::milliseconds(kMaxTimeoutMillis));
  }
  for (const auto& [method, method_timeout] : method_timeouts) {
    if (method == invocation.method) return method_timeout;
  }
  return timeout;
}

int FailoverCore::RetriesFor(const Invocation& invocation) const {
  if (invocation.retries >= 0) return ClampRetries(invocation.retries);
  if (retries >= 0) return retries;
  return ClampRetries(
      invocation.method.empty()
          ? consumer_url.GetInt("retries", kDefaultRetries)
          : consumer_url.GetMethodInt(invocation.method, "retries", kDefaultRetries));
}

namespace {

// LoadBalancer::Select() of a balancer registered by the application may throw; that is a bug of
// the balancer, and it must not unwind through the cluster (in InvokeAsync() it would reach a
// report made from a destructor). It counts as no pick, and is logged.
const Provider* SelectCatching(const LoadBalancer& load_balancer, const ProviderSnapshot& snapshot,
                               const Invocation& invocation, const ProviderFilter* filter) {
  try {
    return load_balancer.Select(snapshot, invocation, filter);
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "cluster: load balancer '" << load_balancer.name() << "' threw ("
                     << e.what() << "); no provider picked";
  } catch (...) {
    DUBBO_LOG(ERROR) << "cluster: load balancer '" << load_balancer.name()
                     << "' threw a non-standard exception; no provider picked";
  }
  return nullptr;
}

}  // namespace

const Provider* FailoverCore::Pick(const ProviderSnapshot& snapshot, const Invocation& invocation,
                                   const ProviderState* const* tried, size_t tried_count,
                                   bool* probe) const {
  *probe = false;
  if (snapshot.empty()) return nullptr;
  if (tried_count == 0) {
    // The common case: no filter at all, and a closed breaker costs one relaxed load.
    const Provider* provider = SelectCatching(*load_balancer, snapshot, invocation, nullptr);
    if (provider != nullptr) {
      if (provider->breaker().closed()) return provider;
      if (provider->breaker().TryAcquire(*clock)) {
        *probe = true;
        return provider;
      }
    }
  }
  std::vector<const ProviderState*> skipped;
  const AvailableFilter filter(tried, tried_count, &skipped, clock);
  for (size_t round = 0; round <= snapshot.size(); ++round) {
    const Provider* provider = SelectCatching(*load_balancer, snapshot, invocation, &filter);
    if (provider == nullptr) return nullptr;
    if (provider->breaker().closed()) return provider;
    // Lost the race for a due probe: skip that provider.
    if (provider->breaker().TryAcquire(*clock)) {
      *probe = true;
      return provider;
    }
    skipped.push_back(provider->state().get());
  }
  return nullptr;
}

const Provider* FailoverCore::Begin(const ProviderSnapshot& snapshot, const Invocation& invocation,
                                    Attempts* attempts, Attempt* attempt,
                                    registry::TimePoint* start) const {
  attempts->providers_seen = snapshot.size();
  const Provider* provider =
      Pick(snapshot, invocation, attempts->tried.data(), attempts->tried.size(), &attempt->probe);
  if (provider == nullptr) return nullptr;
  provider->stats().BeginCall();
  *start = clock->Now();
  attempt->timeout = TimeoutFor(invocation);
  attempt->deadline = *start + attempt->timeout;
  attempt->index = attempts->index;
  return provider;
}

bool FailoverCore::End(const Provider& provider, const Attempt& attempt, registry::TimePoint start,
                       Status* status, const Invocation& invocation, Attempts* attempts) const {
  const registry::TimePoint end = clock->Now();
  provider.stats().EndCall(end - start, status->ok(), end);
  directory->MaybeCompareLatencies(end, *clock);

  if (status->ok()) {
    provider.breaker().OnSuccess();
    return true;
  }
  const StatusCode code = status->code();
  if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded) {
    const FailureKind kind =
        code == StatusCode::kUnavailable ? FailureKind::kConnect : FailureKind::kTimeout;
    if (provider.breaker().OnFailure(kind, *clock)) directory->TryEject(provider, *clock);
  } else if (!IsRetryable(code)) {
    provider.breaker().OnSuccess();  // it answered: the connection is fine
    return true;                     // an application error: Dubbo rethrows at once
  }
  if (attempts->allowed == 0) attempts->allowed = RetriesFor(invocation) + 1;
  if (!attempt.probe) ++attempts->counted;
  ++attempts->index;
  attempts->tried_states.push_back(provider.state());
  attempts->tried.push_back(provider.state().get());
  if (!attempts->tried_addresses.empty()) attempts->tried_addresses += ", ";
  attempts->tried_addresses += provider.address();
  attempts->last = std::move(*status);
  return false;
}

Status FailoverCore::Failure(const Invocation& invocation, const Attempts& attempts) const {
  const std::string service(consumer_url.ServiceInterface());
  const std::string method = invocation.method.empty() ? "" : "." + std::string(invocation.method);
  if (attempts.tried.empty()) {
    return registry::UnavailableError("No provider available for " + service + method + " (" +
                                      std::to_string(attempts.providers_seen) +
                                      " provider(s), none admitting calls)");
  }
  return Status(attempts.last.code(), "Failed to invoke " + service + method + " after " +
                                          std::to_string(attempts.tried.size()) + " attempt(s) (" +
                                          std::to_string(attempts.allowed) +
                                          " allowed, probes not counted) on [" +
                                          attempts.tried_addresses +
                                          "]; last error: " + std::string(attempts.last.message()));
}

}  // namespace internal

registry::Result<Selection> FailoverCluster::Select(const Invocation& invocation) const {
  const internal::FailoverCore& core = *core_;
  Selection selection;
  selection.snapshot = core.directory->snapshot();
  bool probe = false;
  selection.provider = core.Pick(*selection.snapshot, invocation, nullptr, 0, &probe);
  if (selection.provider == nullptr) {
    return registry::UnavailableError(
        "No provider available for " + std::string(core.consumer_url.ServiceInterface()) + " (" +
        std::to_string(selection.snapshot->size()) + " provider(s), none admitting calls)");
  }
  return selection;
}

registry::Status FailoverCluster::Invoke(const Invocation& invocation, const Call& call) const {
  const internal::FailoverCore& core = *core_;
  internal::Attempts attempts;
  ReaderScope readers(core.id, core.directory.get());
  do {
    // Re-list before every attempt: a retry sees providers that arrived meanwhile.
    std::shared_ptr<const ProviderSnapshot> owned;
    const ProviderSnapshot& snapshot = *readers.Snapshot(&owned);
    Attempt attempt;
    registry::TimePoint start;
    const Provider* provider = core.Begin(snapshot, invocation, &attempts, &attempt, &start);
    if (provider == nullptr) break;
    Status status;
    try {
      status = call(*provider, attempt);
    } catch (...) {
      status = CallThrew();
    }
    if (core.End(*provider, attempt, start, &status, invocation, &attempts)) return status;
  } while (attempts.More());
  return core.Failure(invocation, attempts);
}

namespace internal {

// The state of one InvokeAsync() invocation. Exactly one thread owns it at a time: the thread
// running its attempts (the driver); while an attempt is outstanding after its driver has left
// (detached), the AttemptDone that will report it, whose report makes the reporting thread the
// driver. `state_` settles the race between a report and the driver leaving.
class AsyncInvocation {
 public:
  // `cluster_core` is the cluster's own reference, read only while the cluster is alive.
  // `call` and `completion` are InvokeAsync()'s parameters: they are moved here only when the
  // invocation outlives InvokeAsync().
  static void Start(const std::shared_ptr<const FailoverCore>* cluster_core,
                    const Invocation& invocation, FailoverCluster::AsyncCall* call,
                    FailoverCluster::Completion* completion);
  // The attempt in flight ended with `status`; `dropped`: its AttemptDone was destroyed unused.
  static void Report(AsyncInvocation* op, Status status, bool dropped);
  // The cluster owning `core` is being destroyed on this thread: the invocations whose `call` is
  // running on this thread (the only ones that may use `core` without a reference) take one.
  static void ClusterDestroyed(const std::shared_ptr<const FailoverCore>& core);

 private:
  enum State : uint8_t {
    kInFlight,  // the attempt has not reported and its driver has not left
    kReported,  // the attempt reported while its driver was still running: the driver continues
    kDetached,  // the driver left before the report: the reporting thread continues
  };

  static AsyncInvocation* Acquire();
  // Drops what the invocation held and keeps the object for the thread's next invocation.
  void Release();
  // Moves or copies into this object what the caller lent (callbacks, method, arguments), so that
  // the invocation can outlive InvokeAsync().
  void OwnBorrowed();
  // Runs attempts on this thread until one is left in flight on a transport or the invocation
  // ends (then runs the completion). `outcome_ready`: the current attempt's outcome is in
  // `outcome_` and is accounted first.
  static void Drive(AsyncInvocation* op, bool outcome_ready);
  static void Finish(AsyncInvocation* op, Status result);

  // The cluster's state. While the first driver runs, a raw pointer suffices (the cluster is alive,
  // or its destructor handed its reference over through ClusterDestroyed()); `core_ref_` is taken
  // when the invocation outlives that driver, so a call reported before `call` returns touches no
  // reference count.
  const FailoverCore* core_ = nullptr;
  std::shared_ptr<const FailoverCore> core_ref_;
  const std::shared_ptr<const FailoverCore>* cluster_core_ = nullptr;
  // The callbacks: InvokeAsync()'s own parameters until the invocation outlives it, then
  // `owned_call_` and `owned_completion_`.
  FailoverCluster::AsyncCall* call_ = nullptr;
  FailoverCluster::Completion* completion_ = nullptr;
  FailoverCluster::AsyncCall owned_call_;
  FailoverCluster::Completion owned_completion_;
  Invocation invocation_;  // the caller's views until OwnBorrowed()
  bool borrowed_owned_ = false;
  std::string method_;
  std::vector<std::string> arguments_;
  std::vector<std::string_view> argument_views_;
  Attempts attempts_;
  // The attempt in flight. `snapshot_` keeps `provider_` alive once the driver that began the
  // attempt has left (until then the driver's ReaderScope does).
  std::shared_ptr<const ProviderSnapshot> snapshot_;
  const Provider* provider_ = nullptr;
  Attempt attempt_;
  registry::TimePoint start_;
  Status outcome_;
  bool dropped_ = false;
  std::atomic<uint8_t> state_{kInFlight};
};

namespace {

// The invocations whose `call` is running on this thread, innermost first. A report made from
// inside the innermost one's `call` needs no atomic read-modify-write: that thread is its driver.
struct DriverFrame {
  AsyncInvocation* op;
  DriverFrame* outer;
};
thread_local DriverFrame* innermost_driver = nullptr;

// One spare AsyncInvocation per thread: a call whose attempts report before `call` returns (and
// a chain of invocations started from completions) reuses it without allocating.
struct AsyncPool {
  AsyncInvocation* spare = nullptr;
  ~AsyncPool() { delete spare; }
};
thread_local AsyncPool async_pool;

}  // namespace

AsyncInvocation* AsyncInvocation::Acquire() {
  AsyncInvocation* op = async_pool.spare;
  if (op == nullptr) return new AsyncInvocation();
  async_pool.spare = nullptr;
  return op;
}

void AsyncInvocation::Release() {
  // Every other member is overwritten before its next use; `outcome_` was moved from.
  core_ref_.reset();  // also set when the cluster was destroyed inside `call`
  if (borrowed_owned_) {
    borrowed_owned_ = false;
    owned_call_ = nullptr;
    snapshot_.reset();
  }
  attempts_.Clear();
  if (async_pool.spare == nullptr) {
    async_pool.spare = this;
  } else {
    delete this;
  }
}

void AsyncInvocation::OwnBorrowed() {
  if (borrowed_owned_) return;
  borrowed_owned_ = true;
  owned_call_ = std::move(*call_);
  call_ = &owned_call_;
  owned_completion_ = std::move(*completion_);
  completion_ = &owned_completion_;
  method_.assign(invocation_.method);
  invocation_.method = method_;
  arguments_.clear();
  argument_views_.clear();
  for (size_t i = 0; i < invocation_.argument_count; ++i)
    arguments_.emplace_back(invocation_.arguments[i]);
  for (const std::string& argument : arguments_) argument_views_.emplace_back(argument);
  invocation_.arguments = argument_views_.data();
}

void AsyncInvocation::Start(const std::shared_ptr<const FailoverCore>* cluster_core,
                            const Invocation& invocation, FailoverCluster::AsyncCall* call,
                            FailoverCluster::Completion* completion) {
  AsyncInvocation* op = Acquire();
  op->core_ = cluster_core->get();
  op->cluster_core_ = cluster_core;
  op->completion_ = completion;
  if (!*call) {
    Finish(op, registry::InvalidArgumentError("InvokeAsync needs a call"));
    return;
  }
  op->call_ = call;
  op->invocation_ = invocation;
  Drive(op, false);
}

void AsyncInvocation::Report(AsyncInvocation* op, Status status, bool dropped) {
  op->outcome_ = std::move(status);
  op->dropped_ = dropped;
  if (innermost_driver != nullptr && innermost_driver->op == op) {
    // Inside the attempt's own `call`, on its driver's thread: nobody else touches `state_`.
    op->state_.store(kReported, std::memory_order_relaxed);
    return;
  }
  if (op->state_.exchange(kReported, std::memory_order_acq_rel) == kDetached) Drive(op, true);
}

void AsyncInvocation::ClusterDestroyed(const std::shared_ptr<const FailoverCore>& core) {
  for (DriverFrame* frame = innermost_driver; frame != nullptr; frame = frame->outer) {
    AsyncInvocation* op = frame->op;
    if (op->core_ == core.get() && op->core_ref_ == nullptr) op->core_ref_ = core;
  }
}

void AsyncInvocation::Drive(AsyncInvocation* op, bool outcome_ready) {
  const FailoverCore& core = *op->core_;
  Status result;
  DriverFrame frame{op, innermost_driver};
  {
    ReaderScope readers(core.id, core.directory.get());
    for (;;) {
      if (outcome_ready) {
        Status status = std::move(op->outcome_);
        const bool ended = core.End(*op->provider_, op->attempt_, op->start_, &status,
                                    op->invocation_, &op->attempts_);
        op->snapshot_.reset();
        if (ended) {
          result = std::move(status);
          break;
        }
        if (!op->attempts_.More()) {
          result = core.Failure(op->invocation_, op->attempts_);
          break;
        }
      }
      std::shared_ptr<const ProviderSnapshot> owned;
      const std::shared_ptr<const ProviderSnapshot>& snapshot = readers.Snapshot(&owned);
      op->provider_ =
          core.Begin(*snapshot, op->invocation_, &op->attempts_, &op->attempt_, &op->start_);
      if (op->provider_ == nullptr) {
        result = core.Failure(op->invocation_, op->attempts_);
        break;
      }
      op->dropped_ = false;
      op->state_.store(kInFlight, std::memory_order_relaxed);
      Status thrown;
      innermost_driver = &frame;
      try {
        (*op->call_)(*op->provider_, op->attempt_, AttemptDone(op));
      } catch (...) {
        thrown = CallThrew();
      }
      innermost_driver = frame.outer;
      if (op->state_.load(std::memory_order_acquire) != kReported) {
        // The attempt may outlive this frame: give it the snapshot and the invocation's data. Once
        // detached, `op` belongs to the AttemptDone.
        if (!thrown.ok()) {
          DUBBO_LOG(WARNING) << "cluster: " << core.consumer_url.ServiceInterface()
                             << ": the call handed its AttemptDone on and threw ("
                             << thrown.message() << "); the attempt waits for that report";
          thrown = Status();
        }
        op->snapshot_ = owned != nullptr ? std::move(owned) : snapshot;
        // The cluster is alive unless destroyed inside `call`, which handed its reference over.
        if (op->core_ref_ == nullptr) op->core_ref_ = *op->cluster_core_;
        op->OwnBorrowed();
        if (op->state_.exchange(kDetached, std::memory_order_acq_rel) == kInFlight) return;
      }
      // A call that threw without reporting its attempt counts as kInternal (dropping `done` while
      // unwinding is not a report of its own).
      if (!thrown.ok() && op->dropped_) op->outcome_ = std::move(thrown);
      // Reported inline: End() at the top of the next turn still reads the provider, so the
      // snapshot this turn owned (when the thread had no reader for it) must outlive the turn.
      if (owned != nullptr) op->snapshot_ = std::move(owned);
      outcome_ready = true;
    }
  }
  Finish(op, std::move(result));
}

namespace {

void RunCompletion(const FailoverCluster::Completion& completion, Status result) {
  if (!completion) return;
  try {
    completion(std::move(result));
  } catch (const std::exception& e) {
    DUBBO_LOG(ERROR) << "cluster: an InvokeAsync completion threw (" << e.what() << "); ignored";
  } catch (...) {
    DUBBO_LOG(ERROR)
        << "cluster: an InvokeAsync completion threw a non-standard exception; ignored";
  }
}

}  // namespace

void AsyncInvocation::Finish(AsyncInvocation* op, Status result) {
  // `op` is released first: the completion may start an invocation that reuses it.
  FailoverCluster::Completion* completion = op->completion_;
  if (completion != &op->owned_completion_) {  // InvokeAsync()'s parameter: alive until it returns
    op->Release();
    RunCompletion(*completion, std::move(result));
    return;
  }
  const FailoverCluster::Completion owned = std::move(op->owned_completion_);
  op->Release();
  RunCompletion(owned, std::move(result));
}

}  // namespace internal

void FailoverCluster::InvokeAsync(const Invocation& invocation, AsyncCall call,
                                  Completion completion) const {
  internal::AsyncInvocation::Start(&core_, invocation, &call, &completion);
}

FailoverCluster::~FailoverCluster() { internal::AsyncInvocation::ClusterDestroyed(core_); }

AttemptDone& AttemptDone::operator=(AttemptDone&& other) noexcept {
  if (this != &other) {
    if (op_ != nullptr) Report(registry::CancelledError("the transport dropped the attempt"), true);
    op_ = other.op_;
    other.op_ = nullptr;
  }
  return *this;
}

AttemptDone::~AttemptDone() {
  if (op_ != nullptr) Report(registry::CancelledError("the transport dropped the attempt"), true);
}

void AttemptDone::operator()(registry::Status status) { Report(std::move(status), false); }

std::function<void(registry::Status)> AttemptDone::IntoFunction() && {
  // The copies share one AttemptDone; the first caller takes it out under the mutex and reports
  // outside it (the report may run the next attempt). Destroying the last copy destroys an
  // AttemptDone nobody took, which reports the attempt dropped.
  struct Shared {
    std::mutex mu;
    AttemptDone done;
  };
  auto shared = std::make_shared<Shared>();
  shared->done = std::move(*this);
  return [shared](registry::Status status) {
    AttemptDone taken;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      taken = std::move(shared->done);
    }
    taken(std::move(status));
  };
}

void AttemptDone::Report(registry::Status status, bool dropped) {
  internal::AsyncInvocation* op = op_;
  if (op == nullptr) return;
  op_ = nullptr;
  internal::AsyncInvocation::Report(op, std::move(status), dropped);
}

}  // namespace dubbo::cluster
