// The production wiring of NacosRegistry to a NamingClient. Kept apart from nacos_registry.cc so
// that code using only the NamingService seam (the unit tests) does not link the client.
#include <memory>
#include <utility>

#include "dubbo/registry/nacos/nacos_options.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "nacos_registry_mapping.h"
#include "naming_client_adapter.h"

namespace dubbo::registry::nacos {
namespace {

Result<std::shared_ptr<internal::NamingService>> MakeNamingClient(const URL& registry_url) {
  // One switch for empty lists: the client's namingPushEmptyProtection follows the registry's
  // enable-empty-protection (default true, see nacos_registry.h) unless the URL sets it itself.
  // The value copied is the one the registry reads (URL::GetBool: anything but true/false is the
  // default), so a bad enable-empty-protection never fails creation under another key's name; the
  // registry logs it.
  const bool empty_protection =
      registry_url.GetBool(internal::kEmptyProtectionKey, internal::kDefaultEmptyProtection);
  const URL url = registry_url.WithParameterIfAbsent("namingPushEmptyProtection",
                                                     empty_protection ? "true" : "false");
  Result<NacosOptions> options = NacosOptions::FromUrl(url);
  if (!options.ok()) return options.status();
  Result<std::unique_ptr<NamingClient>> client = NamingClient::Create(std::move(*options));
  if (!client.ok()) return client.status();
  return std::shared_ptr<internal::NamingService>(
      internal::NewNamingClientAdapter(std::move(*client)));
}

}  // namespace

Result<std::shared_ptr<NacosRegistry>> NacosRegistry::Create(const URL& registry_url,
                                                             const RegistryOptions& options) {
  Result<std::shared_ptr<internal::NamingService>> naming = MakeNamingClient(registry_url);
  if (!naming.ok()) return naming.status();
  return std::make_shared<NacosRegistry>(registry_url, options, std::move(*naming),
                                         /*owns_naming=*/true);
}

NacosRegistryFactory::NacosRegistryFactory() : maker_(MakeNamingClient) {}

Status RegisterNacosRegistry(RegistryManager& manager) {
  return manager.RegisterFactory(std::make_unique<NacosRegistryFactory>());
}

}  // namespace dubbo::registry::nacos
