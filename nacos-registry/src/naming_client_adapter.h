// Internal: the production NamingService, a thin forwarding wrapper over NamingClient.
//
// Thread-safety: as NamingClient: every method may be called from any thread.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NAMING_CLIENT_ADAPTER_H_
#define DUBBO_NACOS_REGISTRY_SRC_NAMING_CLIENT_ADAPTER_H_

#include <memory>

#include "dubbo/registry/nacos/naming_client.h"
#include "naming_service.h"

namespace dubbo::registry::nacos::internal {

// Wraps `client` (non-null), which the adapter owns; destroying the adapter destroys the client.
std::unique_ptr<NamingService> NewNamingClientAdapter(std::unique_ptr<NamingClient> client);

}  // namespace dubbo::registry::nacos::internal

#endif  // DUBBO_NACOS_REGISTRY_SRC_NAMING_CLIENT_ADAPTER_H_
