// File: dubbo/registry/registry_factory.h
//
// RegistryFactory: the extension point that creates registries for one URL protocol ("nacos").
// RegistryManager: the explicit, start-up-time table of factories and the cache of live registries.
//
//   RegistryManager manager;
//   manager.RegisterFactory(std::make_unique<NacosRegistryFactory>());   // at start-up
//   Result<std::shared_ptr<Registry>> r = manager.GetRegistry(*URL::Parse("nacos://127.0.0.1:8848"));
//
// Factories are registered explicitly (no static self-registration: a linker drops such objects from
// static libraries, and their order is undefined). GetRegistry() returns the same registry for the
// same address and namespace key (spec §3): the URL is normalised (path and `interface` become
// org.apache.dubbo.registry.RegistryService; `export`, `refer` and `timestamp` are dropped) and keyed by
// the factory's CacheKey(). A registry that has been destroyed is replaced by a fresh one.
//
// Thread-safety: RegistryManager's methods may be called concurrently from any thread.
#ifndef DUBBO_REGISTRY_REGISTRY_FACTORY_H_
#define DUBBO_REGISTRY_REGISTRY_FACTORY_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/registry.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry {

inline constexpr std::string_view kRegistryServiceInterface = "org.apache.dubbo.registry.RegistryService";

class RegistryFactory {
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
};

class RegistryManager {
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

  // The registry for `url`, created on first use. kNotFound names the unknown protocol and the known
  // ones; kFailedPrecondition after DestroyAll(); otherwise the factory's error.
  Result<std::shared_ptr<Registry>> GetRegistry(const URL& url);

  // The registries currently alive.
  std::vector<std::shared_ptr<Registry>> registries() const;

  // Destroys every registry and refuses to create new ones. Idempotent.
  void DestroyAll();

  // The URL GetRegistry() hands to factories.
  static URL Normalize(const URL& url);

  // A process-wide manager, never destroyed, for programs that want one.
  static RegistryManager& Default();

 private:
  RegistryOptions options_;
  mutable std::mutex mu_;
  bool destroyed_ = false;
  std::map<std::string, std::unique_ptr<RegistryFactory>, std::less<>> factories_;
  std::map<std::string, std::shared_ptr<Registry>, std::less<>> registries_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_REGISTRY_FACTORY_H_
