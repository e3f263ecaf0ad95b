#include "naming_client_adapter.h"

#include <utility>

namespace dubbo::registry::nacos::internal {
namespace {

class NamingClientAdapter final : public NamingService {
 public:
  explicit NamingClientAdapter(std::unique_ptr<NamingClient> client) : client_(std::move(client)) {}

  Status RegisterInstance(std::string_view service_name, std::string_view group_name,
                          const Instance& instance) override {
    return client_->RegisterInstance(service_name, group_name, instance);
  }
  Status DeregisterInstance(std::string_view service_name, std::string_view group_name,
                            const Instance& instance) override {
    return client_->DeregisterInstance(service_name, group_name, instance);
  }
  Result<std::vector<Instance>> GetAllInstances(std::string_view service_name,
                                                std::string_view group_name,
                                                bool subscribe) override {
    return client_->GetAllInstances(service_name, group_name, /*clusters=*/{}, subscribe);
  }
  Result<SubscriptionId> Subscribe(std::string_view service_name, std::string_view group_name,
                                   NamingListener listener) override {
    return client_->Subscribe(service_name, group_name, /*clusters=*/{}, std::move(listener));
  }
  Status Unsubscribe(SubscriptionId id) override { return client_->Unsubscribe(id); }
  Result<ServiceList> GetServices(int page_no, int page_size,
                                  std::string_view group_name) override {
    return client_->GetServices(page_no, page_size, group_name);
  }
  std::string GetServerStatus() override { return client_->GetServerStatus(); }
  void Shutdown() override { client_->Shutdown(); }

 private:
  const std::unique_ptr<NamingClient> client_;
};

}  // namespace

std::unique_ptr<NamingService> NewNamingClientAdapter(std::unique_ptr<NamingClient> client) {
  return std::make_unique<NamingClientAdapter>(std::move(client));
}

}  // namespace dubbo::registry::nacos::internal
