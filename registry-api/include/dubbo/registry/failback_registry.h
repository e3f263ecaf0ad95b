// File: dubbo/registry/failback_registry.h
//
// FailbackRegistry: a template-method base that turns unreliable server calls into reliable
// registry semantics. Subclasses implement only DoRegister, DoUnregister, DoSubscribe and
// DoUnsubscribe (and IsAvailable); this class keeps the state, retries what failed, and restores
// everything after a reconnect.
//
// Retry rules
//   * A failed operation is retried every `retry.period` ms (default 5000, in [1, 86400000]: <= 0
//     gives 5000, more than a day gives a day), read from the operation's URL, else the registry
//     URL, on the injected Scheduler, until it succeeds, is superseded (a Register cancels a pending
//     Unregister of the same URL and vice versa; the same for Subscribe and Unsubscribe) or the
//     registry is destroyed.
//   * `retry.times` (operation URL, else registry URL) N >= 1 gives up after N failed retries; 0 or
//     any negative value retries forever, as Dubbo >= 3.2.4 does; the default -1 retries forever.
//     Dubbo 2.7's default of 3 retries gives up 15 s into an outage and silently leaves a provider
//     unregistered for good.
//   * Both are read when an operation is queued for retry (the registry URL's at construction); a
//     malformed value gives the default (retry.times: -1) and is logged once as a WARNING naming
//     the key, the value and the value used.
//   * kInvalidArgument from a Do* call is never retried: the same input can never succeed. The
//     operation is rolled back and the error returned whatever `check` says.
//
// check
//   When `check` is true on both the registry URL and the operation's URL (both default true), and
//   for Register also the URL's port is not 0 (Dubbo 3.x), the first failure is returned to the
//   caller and not retried; the URL stays registered (or subscribed) so that Recover() restores it.
//   Otherwise the failure is logged and retried. A failed Subscribe first delivers the cached URLs
//   (GetCacheUrls()), if there are any, and then counts as handled: it returns OK and is retried.
//
// Recover() queues an immediate retry of every registered URL and every subscription (Dubbo waits
// one retry period; we do not). Destroy() cancels the retries, then unregisters dynamic URLs and
// unsubscribes, logging failures without retrying them. Those calls run one after another and each
// may wait for the server; a subclass whose client can deregister in bulk within a time bound
// passes only the rest on to FailbackRegistry::OnDestroy() (NacosRegistry does).
//
// Thread-safety: every public method may be called concurrently from any thread. Do* calls may run
// concurrently with each other (from callers and from the retry timer).
#ifndef DUBBO_REGISTRY_FAILBACK_REGISTRY_H_
#define DUBBO_REGISTRY_FAILBACK_REGISTRY_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "dubbo/registry/abstract_registry.h"
#include "dubbo/registry/export.h"

namespace dubbo::registry {

namespace internal {
class RetryTable;
}  // namespace internal

class DUBBO_REGISTRY_EXPORT FailbackRegistry : public AbstractRegistry {
 public:
  // Default `retry.period`, in milliseconds.
  static constexpr int64_t kDefaultRetryPeriodMs = 5000;

  FailbackRegistry(URL registry_url, RegistryOptions options);
  ~FailbackRegistry() override;

  Status Register(const URL& url) override;
  Status Unregister(const URL& url) override;
  Status Subscribe(const URL& url, std::shared_ptr<NotifyListener> listener) override;
  Status Unsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override;
  void Recover() override;

  // Operations waiting for a retry, by kind.
  struct PendingRetries {
    size_t registers = 0;
    size_t unregisters = 0;
    size_t subscribes = 0;
    size_t unsubscribes = 0;
    size_t total() const { return registers + unregisters + subscribes + unsubscribes; }
  };
  PendingRetries pending_retries() const;

 protected:
  // The server calls. Return kUnavailable / kDeadlineExceeded for transient failures (retried) and
  // kInvalidArgument for input the server can never accept (not retried). DoSubscribe should deliver
  // the current URLs through Notify() before it returns. Called without any lock held.
  virtual Status DoRegister(const URL& url) = 0;
  virtual Status DoUnregister(const URL& url) = 0;
  virtual Status DoSubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) = 0;
  virtual Status DoUnsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) = 0;

  // Cancels retries, then DoUnregister / DoUnsubscribe for each, logging failures.
  void OnDestroy(const std::vector<URL>& dynamic_registered,
                 const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& subscriptions)
      override;

 private:
  enum class RetryKind : int;

  // `check` for `url`: the registry's and the URL's `check` (both default true).
  bool CheckEnabled(const URL& url) const;
  // Queues a retry of `kind` for (`url`, `listener`), at once or after the retry period, unless one
  // is already queued.
  void AddRetry(RetryKind kind, const URL& url, const std::shared_ptr<NotifyListener>& listener,
                bool at_once);
  void CancelRetry(RetryKind kind, const URL& url, const std::shared_ptr<NotifyListener>& listener);
  void RunRetry(RetryKind kind, const URL& url, const NotifyListener* listener, uint64_t generation);
  Status Execute(RetryKind kind, const URL& url, const std::shared_ptr<NotifyListener>& listener);
  // Cancels every retry and refuses new ones.
  void StopRetries();

  std::unique_ptr<internal::RetryTable> retries_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_FAILBACK_REGISTRY_H_
