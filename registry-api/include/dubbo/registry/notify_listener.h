// File: dubbo/registry/notify_listener.h
//
// NotifyListener: receives a subscription's URLs.
//
// Contract of every call made by this library's registries:
//   * `urls` is never empty and holds the *complete* list of one category (providers, routers,
//     configurators, ...) of one subscription: never a partial list, never a diff;
//   * an empty category is sent as exactly one `empty://` URL carrying `category=<category>`;
//   * the first notification after Subscribe() is complete for every category the registry knows of;
//   * for one registry, calls are made one at a time, in order, and never while a registry lock is
//     held, so a listener may call back into the registry (Subscribe, Unsubscribe, ...).
// A listener must not block for long: it delays every other listener of the same registry.
// Exceptions thrown by a listener are caught and logged.
//
// Thread-safety: calls may arrive on any thread (the caller's, or the registry's timer thread), but
// never concurrently for the same registry.
#ifndef DUBBO_REGISTRY_NOTIFY_LISTENER_H_
#define DUBBO_REGISTRY_NOTIFY_LISTENER_H_

#include <functional>
#include <memory>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

class DUBBO_REGISTRY_EXPORT NotifyListener {
 public:
  virtual ~NotifyListener() = default;
  virtual void Notify(const std::vector<URL>& urls) = 0;
};

// Wraps a callable as a listener.
DUBBO_REGISTRY_EXPORT std::shared_ptr<NotifyListener> MakeNotifyListener(
    std::function<void(const std::vector<URL>&)> fn);

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_NOTIFY_LISTENER_H_
