// File: dubbo/registry/registry_service.h
//
// RegistryService: register, unregister, subscribe, unsubscribe and look up service URLs
//. Listeners are identified by pointer: pass the same shared_ptr to
// Unsubscribe() that was passed to Subscribe().
//
// Thread-safety: implementations in this library allow every method to be called concurrently from
// any thread, including from inside a NotifyListener.
#ifndef DUBBO_REGISTRY_REGISTRY_SERVICE_H_
#define DUBBO_REGISTRY_REGISTRY_SERVICE_H_

#include <memory>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

class DUBBO_REGISTRY_EXPORT RegistryService {
 public:
  virtual ~RegistryService() = default;

  // Registers `url`, e.g. dubbo://10.20.153.10/com.foo.BarService?version=1.0.0&application=kylin.
  //  * check=false on the URL or the registry: a failure is not returned but retried in the background;
  //  * dynamic=false: persistent data, kept when this process goes away; otherwise removed with it;
  //  * stored and notified per `category` (default providers);
  //  * URLs that differ only in parameters co-exist.
  virtual Status Register(const URL& url) = 0;

  // Unregisters `url` (matched in full, timestamp aside). Unknown dynamic URLs are ignored.
  virtual Status Unregister(const URL& url) = 0;

  // Subscribes `listener` to the URLs matching `url`:
  //  * `category` selects categories (comma list, `*` for all; default providers);
  //  * `interface`, `group`, `version`, `classifier` are conditions and accept `*`;
  //  * check=false: a failure is retried in the background instead of returned;
  //  * returns after the first notification has been delivered (when the registry has one).
  // `listener` must not be null; the registry keeps a reference until Unsubscribe() or Destroy().
  virtual Status Subscribe(const URL& url, std::shared_ptr<NotifyListener> listener) = 0;

  // Cancels a subscription. When it returns, no further call to `listener` for `url` can start
  // (unless called from inside that listener, where the current call is of course still running).
  // Unknown subscriptions are ignored.
  virtual Status Unsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) = 0;

  // The pull form of Subscribe(): the URLs currently matching `url`, without `empty://`.
  virtual Result<std::vector<URL>> Lookup(const URL& url) = 0;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_REGISTRY_SERVICE_H_
