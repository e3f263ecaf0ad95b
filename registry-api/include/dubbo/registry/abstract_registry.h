// File: dubbo/registry/abstract_registry.h
//
// AbstractRegistry: the bookkeeping every registry shares:
//   * the registered URLs, the subscriptions, and the last list notified per subscription and
//   category;
//   * notification: Notify() splits a list by category and delivers one complete list per category,
//     through one serial notifier per registry (in order, one at a time, never under a lock);
//   * the local cache file, so that a process can find its providers while the registry is away.
//
// The cache file
//   Path: the registry URL's `file` parameter, else
//   $HOME/.dubbo/dubbo-registry-<application>-<host>-<port>.cache (':' of the address becomes '-').
//   `file` set to false, 0, null or N/A, or `file.cache`/`file-cache` set to false, disables it.
//   Format: Java .properties, as Dubbo writes it, so either can read the other's file: one line per
//   subscribed service key, its value every notified URL (empty:// included) in full form,
//   separated by spaces. Writes go to a temporary file that is renamed over the old one, under an
//   flock() on `<file>.lock`; a writer re-reads the file under that lock and replaces only the keys
//   it owns, so processes sharing a file never lose each other's entries. Writers in one process
//   take the lock in turn, in arrival order. Saves are asynchronous (500 ms after a change,
//   coalesced) and wait for the lock at most 10 s; a failed one (a full disk, a lock held too long:
//   kUnavailable) keeps the old file, is logged, and is retried up to 3 times, then again on the
//   next change. The saves someone waits for (every change with `save.file=true`, and Destroy())
//   wait for the lock at most 500 ms, so that another process holding it cannot stall a
//   notification or a shutdown for long; when one fails it is logged. Loading skips, with a
//   warning, every line that is malformed, holds an unparsable URL, or was cut short (no final
//   newline).
//
// Subclasses: FailbackRegistry adds the remote operations and retries; concrete registries extend
// that. A subclass destructor must call Destroy() (the base destructor cannot call virtual
// functions).
//
// Thread-safety: every public method may be called concurrently from any thread.
#ifndef DUBBO_REGISTRY_ABSTRACT_REGISTRY_H_
#define DUBBO_REGISTRY_ABSTRACT_REGISTRY_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/registry.h"

namespace dubbo::registry {

namespace internal {
class RegistryState;
}  // namespace internal

class DUBBO_REGISTRY_EXPORT AbstractRegistry : public Registry {
 public:
  // `registry_url` is the registry's own URL (its parameters configure the cache file, see above).
  AbstractRegistry(URL registry_url, RegistryOptions options);
  ~AbstractRegistry() override;

  AbstractRegistry(const AbstractRegistry&) = delete;
  AbstractRegistry& operator=(const AbstractRegistry&) = delete;

  const URL& url() const override { return url_; }
  bool IsDestroyed() const override;

  // Bookkeeping only; FailbackRegistry overrides these to reach the server as well.
  // Each returns kFailedPrecondition after Destroy(); Subscribe() kInvalidArgument for a null listener.
  Status Register(const URL& url) override;
  Status Unregister(const URL& url) override;
  Status Subscribe(const URL& url, std::shared_ptr<NotifyListener> listener) override;
  Status Unsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override;

  // The last notified URLs of `url`'s subscription (empty:// left out); failing that DoLookup();
  // failing that, the cache file's URLs for the service key that match `url`; failing that the error.
  Result<std::vector<URL>> Lookup(const URL& url) override;

  // Unregisters dynamic URLs and cancels subscriptions through OnDestroy(), waits for running
  // listener calls, writes the cache file (waiting at most 500 ms for its lock) and stops the timer
  // thread it owns. Idempotent.
  void Destroy() override;

  // Re-registers and re-subscribes everything, after a reconnect. The base class has no server and
  // does nothing.
  virtual void Recover() {}

  // --- Observers (snapshots) -------------------------------------------------------------------
  std::vector<URL> GetRegistered() const;
  std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> GetSubscribed() const;
  // category -> last list delivered, for the subscription URL `url`.
  std::map<std::string, std::vector<URL>> GetNotified(const URL& url) const;
  // What a failing subscription falls back to: the in-memory notified URLs of `url`, else the cache
  // file's entry for its service key (empty:// included).
  std::vector<URL> GetCacheUrls(const URL& url) const;
  // Empty when there is no cache file.
  const std::string& cache_file_path() const { return cache_path_; }
  // Writes pending cache changes now. OK when there is nothing to write or no cache file.
  Status FlushCacheFile();

 protected:
  // Delivers `urls` to `listener`'s subscription `url`: keeps the URLs IsMatch() accepts,
  // groups them by category (default providers) and, for each category, stores the list, queues one
  // listener call with the complete list, and updates the cache file. An empty `urls` is ignored with a
  // warning unless the interface is `*`: to clear a category send an empty:// URL. Nothing is delivered
  // to a subscription that has been cancelled. Safe to call from any thread, with no lock held.
  void Notify(const URL& url, const std::shared_ptr<NotifyListener>& listener,
              const std::vector<URL>& urls);

  // Waits until every listener call queued so far has returned (at once when called from a listener).
  void FlushNotifications();

  // Lookup() asks this when nothing has been notified for the URL. Default: kUnavailable.
  virtual Result<std::vector<URL>> DoLookup(const URL& url);

  // Called once by Destroy(), with the state already cleared and subscriptions deactivated: release
  // server-side state here (unregister `dynamic_registered`, cancel `subscriptions`). Default: nothing.
  virtual void OnDestroy(const std::vector<URL>& dynamic_registered,
                         const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& subscriptions);

  // Removes `url` from the registered set / a subscription from the subscribed set, for subclasses
  // rolling back an operation that failed for good.
  void ForgetRegistered(const URL& url);
  void ForgetSubscribed(const URL& url, const std::shared_ptr<NotifyListener>& listener);

  Clock* clock() const { return clock_; }
  Scheduler* scheduler() const { return scheduler_; }

 private:
  void ScheduleCacheSave();
  // Writes pending cache changes, waiting at most `lock_wait` for the cache file's lock.
  Status SaveCacheNow(Duration lock_wait);

  const URL url_;
  std::unique_ptr<ThreadScheduler> owned_scheduler_;
  Scheduler* scheduler_;
  Clock* clock_;
  std::string cache_path_;
  bool sync_save_;
  std::unique_ptr<internal::RegistryState> state_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_ABSTRACT_REGISTRY_H_
