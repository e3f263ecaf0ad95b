// Internal: NamingService, the few naming-client operations NacosRegistry needs, behind an
// interface so that the registry can be tested without a server. Production code wraps a
// NamingClient (naming_client_adapter.h); tests use tests/nacos-registry/fake_naming_service.h.
//
// The contract is NamingClient's (dubbo/registry/nacos/naming_client.h), restated where the
// registry relies on it:
//   * a listener is called with the *full* instance list of its service after every change, never
//     while the service holds a lock, and may call back into the service;
//   * when Unsubscribe() returns, that subscription's listener is not running (unless Unsubscribe
//   is
//     called from it) and is never called again.
//
// Thread-safety: implementations must allow every method to be called from any thread,
// concurrently.
#ifndef DUBBO_NACOS_REGISTRY_SRC_NAMING_SERVICE_H_
#define DUBBO_NACOS_REGISTRY_SRC_NAMING_SERVICE_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "dubbo/registry/nacos/naming_client.h"
#include "dubbo/registry/nacos/naming_types.h"
#include "dubbo/registry/result.h"
#include "dubbo/registry/status.h"

namespace dubbo::registry::nacos::internal {

class NamingService {
 public:
  virtual ~NamingService() = default;

  // NamingClient::RegisterInstance / DeregisterInstance.
  virtual Status RegisterInstance(std::string_view service_name, std::string_view group_name,
                                  const Instance& instance) = 0;
  virtual Status DeregisterInstance(std::string_view service_name, std::string_view group_name,
                                    const Instance& instance) = 0;

  // NamingClient::GetAllInstances over all clusters: healthy and unhealthy, enabled or not.
  virtual Result<std::vector<Instance>> GetAllInstances(std::string_view service_name,
                                                        std::string_view group_name,
                                                        bool subscribe) = 0;

  // NamingClient::Subscribe over all clusters, and Unsubscribe.
  virtual Result<SubscriptionId> Subscribe(std::string_view service_name,
                                           std::string_view group_name,
                                           NamingListener listener) = 0;
  virtual Status Unsubscribe(SubscriptionId id) = 0;

  // NamingClient::GetServices: one page (from 1) of the group's service names.
  virtual Result<ServiceList> GetServices(int page_no, int page_size,
                                          std::string_view group_name) = 0;

  // "UP" or "DOWN". May block for about one request timeout per server.
  virtual std::string GetServerStatus() = 0;

  // NamingClient::Shutdown: stops beats and threads, deregisters what is left. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace dubbo::registry::nacos::internal

#endif  // DUBBO_NACOS_REGISTRY_SRC_NAMING_SERVICE_H_
