// File: dubbo/registry/registry_factory.h
//
// RegistryFactory: the extension point that creates registries for one URL protocol ("nacos").
// RegistryManager: the explicit, start-up-time table of factories and the cache of live registries.
//
//   RegistryManager manager;
//   manager.RegisterFactory(std::make_unique<NacosRegistryFactory>());   // at start-up
//   Result<std::shared_ptr<Registry>> r =
//   manager.GetRegistry(*URL::Parse("nacos://127.0.0.1:8848"));
//
// Factories are registered explicitly (no static self-registration: a linker drops such objects
// from static libraries, and their order is undefined). GetRegistry() returns the same registry for
// the same address and namespace key: the URL is normalised (path and `interface` become
// org.apache.dubbo.registry.RegistryService; `export`, `refer` and `timestamp` are dropped) and
// keyed by the factory's CacheKey(). A registry that has been destroyed is replaced by a fresh one.
//
// Thread-safety: RegistryManager's methods may be called concurrently from any thread. No lock is
// held while a factory creates a registry (which may wait for a server): a slow registry never
// delays GetRegistry() of another key, and concurrent calls for one key share one creation.
#ifndef DUBBO_REGISTRY_REGISTRY_FACTORY_H_
#define DUBBO_REGISTRY_REGISTRY_FACTORY_H_

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/registry.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

inline constexpr std::string_view kRegistryServiceInterface = "org.apache.dubbo.registry.RegistryService";

class DUBBO_REGISTRY_EXPORT RegistryFactory {
 public:
  virtual ~RegistryFactory() = default;

  // The URL protocol served, lower case ("nacos").
  virtual std::string protocol() const = 0;

  // Creates a registry for `url` (already normalised). Failing to reach the server is an error only
  // when the URL says check=true (the default); with check=false a registry is returned that connects
  // in the background.
  virtual Result<std::shared_ptr<Registry>> CreateRegistry(const URL& url,
                                                           const RegistryOptions& options) = 0;

  // The key under which GetRegistry() shares registries. Default:
  // protocol://[user[:pass]@]host:port/[group/]org.apache.dubbo.registry.RegistryService[:version].
  virtual std::string CacheKey(const URL& normalized_url) const;

  // Called by RegistryManager::DestroyAll(), from any thread: ends the CreateRegistry() calls in
  // progress promptly, with an error (one blocked on a server check, say), and fails later ones.
  // Default: nothing (for factories whose CreateRegistry() never blocks).
  virtual void Shutdown() {}
};

class DUBBO_REGISTRY_EXPORT RegistryManager {
 public:
  // `options` is passed to every factory; its pointers must outlive the manager.
  explicit RegistryManager(RegistryOptions options = {});
  // Destroys every registry it created.
  ~RegistryManager();

  RegistryManager(const RegistryManager&) = delete;
  RegistryManager& operator=(const RegistryManager&) = delete;

  // Adds a factory. kAlreadyExists when its protocol is taken; kInvalidArgument for a null factory or
  // an empty protocol. Protocol names compare case-insensitively.
  Status RegisterFactory(std::unique_ptr<RegistryFactory> factory);

  // The registry for `url`, created on first use. A call made while another creates the registry
  // of the same key waits for that creation and gets its outcome. kNotFound names the unknown
  // protocol and the known ones; kFailedPrecondition after DestroyAll() (also for a creation that
  // DestroyAll() overtook: its registry is destroyed); otherwise the factory's error.
  Result<std::shared_ptr<Registry>> GetRegistry(const URL& url);

  // The registries currently alive.
  std::vector<std::shared_ptr<Registry>> registries() const;

  // Refuses to create new registries, ends creations in progress (RegistryFactory::Shutdown()) and
  // destroys every registry. Idempotent.
  void DestroyAll();

  // The URL GetRegistry() hands to factories.
  static URL Normalize(const URL& url);

  // A process-wide manager, never destroyed, for programs that want one.
  static RegistryManager& Default();

 private:
  // A creation in progress; callers of the same key wait for `done`.
  struct DUBBO_REGISTRY_NO_EXPORT Creation {
    bool done = false;
    Result<std::shared_ptr<Registry>> result{std::shared_ptr<Registry>()};
  };

  RegistryOptions options_;
  mutable std::mutex mu_;
  std::condition_variable created_;  // A Creation is done.
  bool destroyed_ = false;
  std::map<std::string, std::unique_ptr<RegistryFactory>, std::less<>> factories_;
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> registries_;
  std::map<std::string, std::shared_ptr<Creation>, std::less<>> creating_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_REGISTRY_FACTORY_H_
