// FailoverCluster: pick (skipping tried providers and open breakers), call with the attempt's
// timeout, account, eject, retry.
//
// Thread-safety: no mutable members; per-call state lives on the stack.
#include "dubbo/cluster/failover_cluster.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dubbo::cluster {

namespace {

// Per-thread SnapshotReaders, one per FailoverCluster (by id, never reused) in use on the thread:
// the hot path then reads the directory's snapshot with one acquire load instead of
// std::atomic_load of a shared_ptr (a mutex from libstdc++'s pool, contended by every calling
// thread). A reader's directory is alive whenever it is used: only its own cluster, which owns the
// directory, looks it up. Entries of clusters that are gone are evicted as new ones come.
struct ThreadReader {
  uint64_t cluster_id = 0;
  std::unique_ptr<SnapshotReader> reader;
  int depth = 0;  // > 0 while an Invoke() of this cluster runs on this thread.
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
  if (!lb.ok()) return lb.status();
  registry::Clock* clock = options.clock != nullptr                ? options.clock
                           : directory->options().clock != nullptr ? directory->options().clock
                                                                   : registry::Clock::Real();
  const registry::Duration timeout =
      options.timeout > registry::Duration::zero()
          ? std::min<registry::Duration>(options.timeout,
                                         std::chrono::milliseconds(kMaxTimeoutMillis))
          : TimeoutFromMillis(consumer_url.GetInt("timeout", kDefaultTimeoutMillis));
  return std::unique_ptr<FailoverCluster>(new FailoverCluster(
      std::move(directory), std::move(consumer_url), std::move(*lb), options.retries, timeout,
      options.timeout > registry::Duration::zero(), clock));
}

FailoverCluster::FailoverCluster(std::shared_ptr<const ProviderDirectory> directory,
                                 registry::URL consumer_url,
                                 std::unique_ptr<LoadBalancer> load_balancer, int retries,
                                 registry::Duration timeout, bool timeout_fixed,
                                 registry::Clock* clock)
    : directory_(std::move(directory)),
      consumer_url_(std::move(consumer_url)),
      load_balancer_(std::move(load_balancer)),
      retries_(retries),
      timeout_(timeout),
      clock_(clock),
      id_(next_cluster_id.fetch_add(1, std::memory_order_relaxed)) {
  if (timeout_fixed) return;
  constexpr std::string_view kSuffix = ".timeout";
  for (const auto& [key, value] : consumer_url_.parameters()) {
    if (key.size() <= kSuffix.size() ||
        key.compare(key.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
      continue;
    }
    const std::string method = key.substr(0, key.size() - kSuffix.size());
    const registry::Duration timeout_of_method =
        TimeoutFromMillis(consumer_url_.GetMethodInt(method, "timeout", kDefaultTimeoutMillis));
    if (timeout_of_method != timeout_) method_timeouts_.emplace_back(method, timeout_of_method);
  }
}

registry::Duration FailoverCluster::TimeoutFor(const Invocation& invocation) const {
  if (invocation.timeout > registry::Duration::zero()) {
    return std::min<registry::Duration>(invocation.timeout,
                                        std::chrono::milliseconds(kMaxTimeoutMillis));
  }
  for (const auto& [method, timeout] : method_timeouts_) {
    if (method == invocation.method) return timeout;
  }
  return timeout_;
}

int FailoverCluster::RetriesFor(const Invocation& invocation) const {
  if (invocation.retries >= 0) return invocation.retries;
  if (retries_ >= 0) return retries_;
  const int64_t retries =
      invocation.method.empty()
          ? consumer_url_.GetInt("retries", kDefaultRetries)
          : consumer_url_.GetMethodInt(invocation.method, "retries", kDefaultRetries);
  return static_cast<int>(std::clamp<int64_t>(retries, 0, 1000));
}

const Provider* FailoverCluster::Pick(const ProviderSnapshot& snapshot,
                                      const Invocation& invocation,
                                      const ProviderState* const* tried, size_t tried_count,
                                      bool* probe) const {
  *probe = false;
  if (snapshot.empty()) return nullptr;
  if (tried_count == 0) {
    // The common case: no filter at all, and a closed breaker costs one relaxed load.
    const Provider* provider = load_balancer_->Select(snapshot, invocation);
    if (provider != nullptr) {
      if (provider->breaker().closed()) return provider;
      if (provider->breaker().TryAcquire(*clock_)) {
        *probe = true;
        return provider;
      }
    }
  }
  std::vector<const ProviderState*> skipped;
  const AvailableFilter filter(tried, tried_count, &skipped, clock_);
  for (size_t round = 0; round <= snapshot.size(); ++round) {
    const Provider* provider = load_balancer_->Select(snapshot, invocation, &filter);
    if (provider == nullptr) return nullptr;
    if (provider->breaker().closed()) return provider;
    // Lost the race for a due probe: skip that provider.
    if (provider->breaker().TryAcquire(*clock_)) {
      *probe = true;
      return provider;
    }
    skipped.push_back(provider->state().get());
  }
  return nullptr;
}

registry::Result<Selection> FailoverCluster::Select(const Invocation& invocation) const {
  Selection selection;
  selection.snapshot = directory_->snapshot();
  bool probe = false;
  selection.provider = Pick(*selection.snapshot, invocation, nullptr, 0, &probe);
  if (selection.provider == nullptr) {
    return registry::UnavailableError(
        "No provider available for " + std::string(consumer_url_.ServiceInterface()) + " (" +
        std::to_string(selection.snapshot->size()) + " provider(s), none admitting calls)");
  }
  return selection;
}

registry::Status FailoverCluster::Invoke(const Invocation& invocation, const Call& call) const {
  // The happy path (the first attempt succeeds) allocates nothing and reads no URL parameter: the
  // retry count and the bookkeeping of tried providers are set up on the first failure.
  int attempts = 0;                                          // 0 until the first failure.
  std::vector<std::shared_ptr<ProviderState>> tried_states;  // keeps identities alive
  std::vector<const ProviderState*> tried;
  std::string tried_addresses;
  Status last;
  size_t providers_seen = 0;
  // The thread's reader, unless an Invoke() of this cluster is already running on this thread
  // (a call that invokes again): a reader's snapshot may change under an outer Invoke().
  ThreadReader* reader = ReaderFor(id_, directory_.get());
  if (reader != nullptr && reader->depth > 0) reader = nullptr;
  struct DepthGuard {
    ThreadReader* r;
    ~DepthGuard() {
      if (r != nullptr) --r->depth;
    }
  } guard{reader};
  if (reader != nullptr) ++reader->depth;
  // `counted`: failed attempts that use up a retry (a failed probe does not). The loop ends too
  // when no untried provider is left, so it makes at most one attempt per provider.
  for (int index = 0, counted = 0; attempts == 0 || counted < attempts; ++index) {
    // Re-list before every attempt: a retry sees providers that arrived meanwhile.
    // With the thread's reader, no reference count is touched: the reader keeps the snapshot
    // alive until its next GetShared(), which only this Invoke() calls (depth guard above).
    std::shared_ptr<const ProviderSnapshot> owned;
    if (reader == nullptr) owned = directory_->snapshot();
    const ProviderSnapshot* snapshot =
        reader != nullptr ? reader->reader->GetShared().get() : owned.get();
    providers_seen = snapshot->size();
    Attempt attempt;
    const Provider* provider =
        Pick(*snapshot, invocation, tried.data(), tried.size(), &attempt.probe);
    if (provider == nullptr) break;

    ProviderStats& stats = provider->stats();
    stats.BeginCall();
    const registry::TimePoint start = clock_->Now();
    attempt.timeout = TimeoutFor(invocation);
    attempt.deadline = start + attempt.timeout;
    attempt.index = index;
    Status status;
    try {
      status = call(*provider, attempt);
    } catch (const std::exception& e) {
      status = registry::InternalError(std::string("the call threw: ") + e.what());
    } catch (...) {
      status = registry::InternalError("the call threw a non-standard exception");
    }
    const registry::TimePoint end = clock_->Now();
    stats.EndCall(end - start, status.ok(), end);
    directory_->MaybeCompareLatencies(end, *clock_);

    if (status.ok()) {
      provider->breaker().OnSuccess();
      return status;
    }
    const StatusCode code = status.code();
    if (code == StatusCode::kUnavailable || code == StatusCode::kDeadlineExceeded) {
      const FailureKind kind =
          code == StatusCode::kUnavailable ? FailureKind::kConnect : FailureKind::kTimeout;
      if (provider->breaker().OnFailure(kind, *clock_)) directory_->TryEject(*provider, *clock_);
    } else if (!IsRetryable(code)) {
      provider->breaker().OnSuccess();  // it answered: the connection is fine
      return status;                    // an application error: Dubbo rethrows at once
    }
    if (attempts == 0) attempts = RetriesFor(invocation) + 1;
    if (!attempt.probe) ++counted;
    tried_states.push_back(provider->state());
    tried.push_back(provider->state().get());
    if (!tried_addresses.empty()) tried_addresses += ", ";
    tried_addresses += provider->address();
    last = std::move(status);
  }
  const std::string service(consumer_url_.ServiceInterface());
  const std::string method = invocation.method.empty() ? "" : "." + std::string(invocation.method);
  if (tried.empty()) {
    return registry::UnavailableError("No provider available for " + service + method + " (" +
                                      std::to_string(providers_seen) +
                                      " provider(s), none admitting calls)");
  }
  return Status(last.code(), "Failed to invoke " + service + method + " after " +
                                 std::to_string(tried.size()) + " attempt(s) (" +
                                 std::to_string(attempts) + " allowed, probes not counted) on [" +
                                 tried_addresses + "]; last error: " + std::string(last.message()));
}

}  // namespace dubbo::cluster
