// Internal: how NacosRegistry maps Dubbo URLs onto Nacos, as Dubbo's NacosRegistry does: service
// names, URL <-> Instance, and which names a subscription listens to. Pure functions, no I/O;
// docs/nacos-registry.md explains the choices.
//
// Thread-safety: stateless; call from any thread.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NACOS_REGISTRY_MAPPING_H_
#define DUBBO_NACOS_REGISTRY_SRC_NACOS_REGISTRY_MAPPING_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/url.h"

namespace dubbo::registry::nacos::internal {

// Metadata keys the mapping adds to every instance besides the URL's parameters.
inline constexpr std::string_view kProtocolKey = "protocol";
inline constexpr std::string_view kPathKey = "path";
// Instance-level URL parameters (the registered URL's, else the registry URL's).
inline constexpr std::string_view kEphemeralKey = "ephemeral";
// The registry URL's empty-list switch (see nacos_registry.h). The naming client's
// namingPushEmptyProtection follows it unless the URL sets that itself.
inline constexpr std::string_view kEmptyProtectionKey = "enable-empty-protection";
inline constexpr bool kDefaultEmptyProtection = true;
// Nacos accepts instance weights in [0, 10000].
inline constexpr double kMaxNacosWeight = 10000;
// Dubbo's default provider weight, used for the instance weight when the URL has none.
inline constexpr double kDefaultDubboWeight = 100;

// True for `side=consumer` or the `consumer` protocol.
bool IsConsumerUrl(const URL& url);

// The category a URL is registered under: its `category` parameter, else `consumers` for a consumer
// URL, else `providers`.
std::string RegisteredCategory(const URL& url);

// `<category>:<interface>:<version>:<group>`, empty segments kept (Dubbo >= 2.7.4, dubbo-go), with
// every '$' replaced by "___" (Nacos 1.x rejects '$').
std::string ServiceName(std::string_view category, std::string_view interface,
                        std::string_view version, std::string_view group);
// The name `url` is registered under: ServiceName(RegisteredCategory(url), url.ServiceInterface(),
// url.Version(), url.Group()).
std::string RegisteredServiceName(const URL& url);
// Dubbo <= 2.7.3's name: `<category>[:<interface>][:<version>][:<group>]`, blank parts dropped.
std::string LegacyServiceName(std::string_view category, std::string_view interface,
                              std::string_view version, std::string_view group);

// A 4-segment name split back into its parts ("___" turned back into '$'); nullopt for any other
// name (legacy names, services that are not Dubbo's).
struct ServiceNameParts {
  std::string category;
  std::string interface;
  std::string version;
  std::string group;
};
std::optional<ServiceNameParts> ParseServiceName(std::string_view name);

// Dubbo's NacosServiceName.isConcrete: not `*` and not a comma list of two or more items.
bool IsConcrete(std::string_view value);

// What a subscription listens to.
struct SubscriptionPlan {
  // True when interface, version or group is not concrete: the names come from listing the group's
  // services and matching them (ServiceNameMatches), and are re-listed periodically.
  bool pattern = false;
  // The names to subscribe to when !pattern.
  std::vector<std::string> names;
  // The categories Nacos can hold (providers, consumers) that the subscription asks for; each gets
  // an empty:// URL when it has no instance.
  std::vector<std::string> categories;
};
// `legacy_names`: also listen to LegacyServiceName() for a concrete subscription.
SubscriptionPlan PlanSubscription(const URL& subscription, bool legacy_names);

// True when the 4-segment service `name` can hold URLs that `subscription` accepts: its category is
// one the subscription asks for and its interface, version and group pass IsMatch().
bool ServiceNameMatches(const URL& subscription, const ServiceNameParts& name);

// URL -> Instance: ip (brackets of an IPv6 literal removed) and port; weight = the
// URL's `weight` (default 100) clamped to [0, 10000]; ephemeral = the URL's `ephemeral`, else the
// registry URL's, default true; metadata = every URL parameter with a non-empty key, then the
// registry URL's `preserved.*` Nacos settings the URL does not set, then `category`
// (RegisteredCategory()), `protocol` and `path`. cluster_name is left empty (the client's
// clusterName applies).
Instance UrlToInstance(const URL& url, const URL& registry_url);

// Instance -> URL: protocol and path from metadata `protocol`/`path`, host/port from
// ip/port (an IPv6 ip gets brackets), parameters = the rest of the metadata. kInvalidArgument for
// an instance without `protocol` metadata (not registered by Dubbo). For every URL without user
// info and without `protocol`/`path` parameters, InstanceToUrl(UrlToInstance(u, r)) ==
// u.WithParameter("category", RegisteredCategory(u)) for a registry URL r without `preserved.*`.
Result<URL> InstanceToUrl(const Instance& instance);

}  // namespace dubbo::registry::nacos::internal

#endif  // DUBBO_NACOS_REGISTRY_SRC_NACOS_REGISTRY_MAPPING_H_
