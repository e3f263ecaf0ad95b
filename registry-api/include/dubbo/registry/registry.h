// File: dubbo/registry/registry.h
//
// Registry: a RegistryService bound to one registry address (Dubbo's Node + RegistryService), and
// RegistryOptions, the seams a registry is built with.
//
// Thread-safety: every method may be called concurrently from any thread.
#ifndef DUBBO_REGISTRY_REGISTRY_H_
#define DUBBO_REGISTRY_REGISTRY_H_

#include "dubbo/registry/clock.h"
#include "dubbo/registry/export.h"
#include "dubbo/registry/registry_service.h"
#include "dubbo/registry/scheduler.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

// Non-owning seams; each must outlive every registry created with it (leveldb's Options::env rule).
struct RegistryOptions {
  // Time source. Default nullptr: the scheduler's clock when a scheduler is given, else Clock::Real().
  Clock* clock = nullptr;
  // Runs retry timers and asynchronous cache-file saves. Default nullptr: the registry starts its own
  // ThreadScheduler (one thread) and stops it in Destroy().
  Scheduler* scheduler = nullptr;
};

class DUBBO_REGISTRY_EXPORT Registry : public RegistryService {
 public:
  // The registry's own URL, e.g. nacos://127.0.0.1:8848?namespace=dev.
  virtual const URL& url() const = 0;

  // True when the registry can currently reach its server.
  virtual bool IsAvailable() const = 0;

  // Unregisters every dynamic URL this registry registered, cancels every subscription and timer,
  // and flushes the cache file. No listener is called after it returns. Idempotent. Afterwards
  // every call returns kFailedPrecondition.
  virtual void Destroy() = 0;
  virtual bool IsDestroyed() const = 0;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_REGISTRY_H_
