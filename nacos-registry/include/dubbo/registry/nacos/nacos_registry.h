// File: dubbo/registry/nacos/nacos_registry.h
//
// NacosRegistry: a Dubbo interface-level registry (a FailbackRegistry) stored in Nacos naming, as
// Dubbo's and dubbo-go's NacosRegistry store it, so their tools and consumers read our entries and
// ours read theirs (details and the differences from Dubbo in docs/nacos-registry.md).
// NacosRegistryFactory creates it for `nacos://` registry URLs.
//
//   RegistryManager manager;
//   RegisterNacosRegistry(manager).IgnoreError();
//   auto registry = manager.GetRegistry(*URL::Parse("nacos://10.0.0.7:8848?namespace=dev"));
//
// Registry URL: nacos://[user:pass@]host:port[?backup=host2:port2,...][&param=value...]. A comma
// list of servers (nacos://h1:8848,h2:8848) is not valid URL syntax; ParseNacosRegistryAddress()
// turns one into the first server plus `backup`. Every Nacos client setting (namespace, username,
// password, endpoint, contextPath, clusterName, namingLoadCacheAtStart, namingPushEmptyProtection,
// namingProtocol (default auto: gRPC on the server's port + 1000, v1 HTTP when only that answers),
// ...; see nacos_options.h) passes through as a parameter. Registry parameters read here, each with
// its default. As for every URL parameter, a bad value does not fail creation: a malformed one gives
// the default and one out of range the bound named below, each logged once as a WARNING naming the
// key, the value and the value used.
//   group                             Nacos group of every service. Default DEFAULT_GROUP. (The
//   Dubbo
//                                     service group is part of the service name instead.)
//   check                             Factory: require server status UP at creation. Default true.
//   enable-empty-protection           See "Empty lists" below. Default true (anything but
//                                     true/false, any case, is true).
//   register-consumer-url             Also register consumer URLs (side=consumer or consumer://).
//                                     Default false (Dubbo 3.x; Dubbo 2.7 registered them).
//   nacos.subscribe.legacy-name       Also listen to Dubbo <= 2.7.3 names (providers:iface:ver:grp
//                                     without empty segments). Default false (Dubbo 3.x: true).
//   nacos.healthy-only                Drop unhealthy instances, unless none is healthy. Default
//                                     false: as Dubbo, only `enabled` is checked.
//   nacos.service.names.lookup.interval  Seconds between re-listings for pattern subscriptions.
//                                     Default 30; in [1, 86400] (a day): <= 0 gives 30, more than
//                                     a day gives a day.
//   nacos.service.names.pagination.size  Page size of those listings. Default 100; in [1, 2^20]:
//                                     <= 0 gives 100, more gives 2^20.
//   nacos.available.ttl               Milliseconds IsAvailable() trusts its last status check.
//                                     Default 5000; in [0, 86400000]: negative gives 0, more than
//                                     a day gives a day.
//   ephemeral                         Instance ephemeral flag (also read from each registered URL,
//                                     which wins). Default true.
//   preserved.*                       Nacos instance settings copied into every instance's metadata
//                                     (preserved.heart.beat.interval, ...), as Dubbo 2.7 does.
//
// Mapping
//   * A URL is registered as one instance of service `<category>:<interface>:<version>:<group>`
//     (empty segments kept, '$' written "___"): ip/port from the URL, weight = the URL's `weight`
//     (default 100), metadata = every URL parameter plus `category`, `protocol` and `path`. The
//     reverse mapping rebuilds the URL exactly (only `category` is made explicit).
//   * A subscription listens to one name per category it asks for (providers, consumers); one Nacos
//     subscription per name is shared by every subscription that needs it. A subscription whose
//     interface, version or group is `*` or a comma list (admin tools: interface=*) lists the
//     group's services at once and every `nacos.service.names.lookup.interval` seconds on the
//     registry's scheduler, and listens to every name that matches.
//   * Every change delivers the complete list of each category: instances with enabled=false are
//     dropped, the rest converted and filtered with IsMatch().
//
// Empty lists (enable-empty-protection, default true)
//   With protection on, a category that had providers keeps its last list when an update holds
//   none; a subscription that has never seen an instance gets one empty:// URL
//   (category=<category>). With it off, every empty category is sent as empty://, as Dubbo 3.2+
//   does. The naming client's namingPushEmptyProtection follows this setting unless the registry
//   URL sets it explicitly, so one switch decides. Default on (Dubbo 3.0/3.1's default; 3.2 turned
//   it off): a registry that restarts answers with nothing until the providers re-register them
//   (at their next beat over v1 HTTP, once reconnected over gRPC), and with protection off every consumer drops every provider for those seconds (our
//   end-to-end test saw thousands of failed calls). The cost Dubbo 3.2 avoided, calling providers
//   that are gone, is small here: a provider that refuses connections leaves the rotation at once
//   through the cluster's circuit breaker. Errors are not lists: FailbackRegistry serves its cache.
//
// Availability: IsAvailable() never blocks. It returns the last GetServerStatus() answer ("UP"),
// refreshed on the registry's scheduler when older than `nacos.available.ttl`.
//
// Destroy() unregisters every dynamic URL, cancels every Nacos subscription and the re-listing
// timer, and shuts the naming client down when the registry created it (which stops the beats, or
// closes its gRPC connection).
// With a client of its own, the ephemeral instances are deregistered by that client's Shutdown(),
// in parallel and best effort, so Destroy() returns within the client's `shutdownTimeout` (default
// 1000 ms) whatever the server does, and ends calls blocked in the registry on any thread (they
// fail); only persistent instances (ephemeral=false) are deregistered one by one.
//
// Threads: listener calls come from the caller of Subscribe(), from the naming client's dispatcher
// thread (changes) or from the scheduler thread (re-listings and retries), one at a time per
// registry (AbstractRegistry's serial notifier). Without RegistryOptions::scheduler each registry
// runs its own scheduler thread (AbstractRegistry's default).
//
// Thread-safety: every public method may be called concurrently from any thread, and from a
// listener.
#ifndef DUBBO_REGISTRY_NACOS_NACOS_REGISTRY_H_
#define DUBBO_REGISTRY_NACOS_NACOS_REGISTRY_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dubbo/registry/export.h"
#include "dubbo/registry/failback_registry.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry::nacos {

namespace internal {
class NamingService;
}  // namespace internal

class NacosRegistryFactory;

class DUBBO_REGISTRY_EXPORT NacosRegistry final : public FailbackRegistry {
 public:
  // Creates a naming client from NacosOptions::FromUrl(registry_url) and a registry that owns it.
  // Does not check the server (the factory does, per `check`). kInvalidArgument for a URL the
  // client cannot use; the client's errors otherwise. `options`' pointers must outlive the
  // registry.
  static Result<std::shared_ptr<NacosRegistry>> Create(const URL& registry_url,
                                                       const RegistryOptions& options);

  // Internal, for tests and the factory: a registry over `naming` (non-null, shared), which it
  // shuts down in Destroy() when `owns_naming` is true.
  NacosRegistry(URL registry_url, RegistryOptions options,
                std::shared_ptr<internal::NamingService> naming, bool owns_naming);

  // Destroy().
  ~NacosRegistry() override;

  bool IsAvailable() const override;

  // The Nacos group of every call (registry URL `group`, default DEFAULT_GROUP).
  const std::string& nacos_group() const;

 protected:
  Status DoRegister(const URL& url) override;
  Status DoUnregister(const URL& url) override;
  Status DoSubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override;
  Status DoUnsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override;
  Result<std::vector<URL>> DoLookup(const URL& url) override;
  void OnDestroy(
      const std::vector<URL>& dynamic_registered,
      const std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>>& subscriptions) override;

 private:
  friend class NacosRegistryFactory;
  struct DUBBO_REGISTRY_NO_EXPORT State;

  // Registering `url` is skipped (a consumer URL without register-consumer-url).
  bool SkipsRegistration(const URL& url) const;
  // Every service name of the group, all pages.
  Result<std::vector<std::string>> ListServiceNames();
  // The names of `all` that the pattern subscription `url` listens to.
  std::vector<std::string> MatchingNames(const URL& url, const std::vector<std::string>& all) const;
  // Makes subscription `sid` listen to `names`: shares or starts their Nacos subscriptions and
  // fetches the instances of names without data yet.
  Status AttachNames(uint64_t sid, const std::vector<std::string>& names);
  // Starts the Nacos subscription of `name` for its watch of `generation`.
  Status StartWatch(const std::string& name, uint64_t generation);
  // Drops subscription `sid` and every Nacos subscription no other subscription needs.
  void DetachSubscription(uint64_t sid);
  // Called by the naming service with the full instance list of `name` after a change. A
  // listener may outlive the registry (a bounded Shutdown() detaches a listener still running),
  // so this touches only `state`, which the listener owns, and reaches `self` only while `state`
  // is not closing: OnDestroy() sets closing, then waits for every delivery already running.
  static void OnNamingEvent(const std::shared_ptr<State>& state, NacosRegistry* self,
                            const std::string& name, uint64_t generation,
                            const std::vector<Instance>& instances);
  // Queues a delivery of `sid`'s current lists on the serial delivery queue (at most one
  // unforced delivery per subscription is queued at a time). `force`: send even if unchanged.
  // The same lifetime rule as OnNamingEvent() applies.
  static void QueueDelivery(const std::shared_ptr<State>& state, NacosRegistry* self, uint64_t sid,
                            bool force);
  // Builds and delivers `sid`'s lists; unchanged lists are not sent again unless forced.
  void Deliver(uint64_t sid);
  // Converts and filters instances for `subscription`: enabled only (healthy only with
  // nacos.healthy-only), Dubbo instances only, IsMatch(), no duplicates.
  std::vector<URL> BuildUrls(const URL& subscription,
                             const std::vector<const Instance*>& instances) const;
  // Schedules the next re-listing if pattern subscriptions exist and none is scheduled.
  void ScheduleScan();
  void RunScan();
  void RefreshStatus() const;
  // Seeds the status cache (the factory's creation check).
  void SeedAvailability(bool available);

  const std::shared_ptr<internal::NamingService> naming_;
  const bool owns_naming_;
  // Shared with the naming listeners, which may run after the registry is gone.
  const std::shared_ptr<State> state_;
};

// A NamingService for a registry URL: the production one builds a NamingClient.
using NamingServiceMaker =
    std::function<Result<std::shared_ptr<internal::NamingService>>(const URL& registry_url)>;

// Creates NacosRegistry instances for the `nacos` protocol. Registries are shared per address,
// group and namespace: CacheKey() adds `namespace` to the default key, since one address
// serves many namespaces.
//
// Thread-safety: CreateRegistry() may be called from any thread.
class DUBBO_REGISTRY_EXPORT NacosRegistryFactory final : public RegistryFactory {
 public:
  // Production: NamingClients built from the registry URL.
  NacosRegistryFactory();
  // Internal, for tests: naming services from `maker`; the registries own (and shut down) them.
  explicit NacosRegistryFactory(NamingServiceMaker maker);

  std::string protocol() const override { return "nacos"; }
  // With check=true (the default) the server must report UP, else kUnavailable.
  Result<std::shared_ptr<Registry>> CreateRegistry(const URL& url,
                                                   const RegistryOptions& options) override;
  std::string CacheKey(const URL& normalized_url) const override;
  // Shuts down the naming services of the creations in progress (their check then fails at once)
  // and makes later CreateRegistry() calls fail with kFailedPrecondition.
  void Shutdown() override;

 private:
  NamingServiceMaker maker_;
  std::mutex mu_;
  bool shut_down_ = false;                                       // Guarded by mu_.
  std::set<std::shared_ptr<internal::NamingService>> checking_;  // Guarded by mu_.
};

// Registers a production NacosRegistryFactory with `manager` (kAlreadyExists when `nacos` is
// taken).
DUBBO_REGISTRY_EXPORT Status RegisterNacosRegistry(RegistryManager& manager);

// Parses a registry address that may list several servers, Dubbo style:
// "nacos://h1:8848,h2:8848?namespace=dev" becomes nacos://h1:8848?namespace=dev&backup=h2:8848 (an
// existing `backup` is appended to). Anything else is URL::Parse()d unchanged.
DUBBO_REGISTRY_EXPORT Result<URL> ParseNacosRegistryAddress(std::string_view address);

}  // namespace dubbo::registry::nacos

#endif  // DUBBO_REGISTRY_NACOS_NACOS_REGISTRY_H_
