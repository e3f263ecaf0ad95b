// Test helper: FakeNamingService, an in-memory Nacos naming "server + client" behind the
// NamingService seam. Changes are delivered to subscribers synchronously, on the thread that makes
// them (RegisterInstance, AddInstance, SetEnabled, ...), with the full instance list, as the real
// client's dispatcher would deliver them later. Calls can be made to fail on demand.
//
// Thread-safety: all methods are thread-safe; listeners are called without the fake's lock held.
#ifndef DUBBO_TESTS_NACOS_REGISTRY_FAKE_NAMING_SERVICE_H_
#define DUBBO_TESTS_NACOS_REGISTRY_FAKE_NAMING_SERVICE_H_

#include <algorithm>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "naming_service.h"

namespace dubbo::registry::nacos::testing {

enum class NamingOp {
  kRegister,
  kDeregister,
  kGetAllInstances,
  kSubscribe,
  kUnsubscribe,
  kGetServices,
  kGetServerStatus,
  kShutdown,
};

class FakeNamingService : public internal::NamingService {
 public:
  // --- Test controls
  // ------------------------------------------------------------------------------- The next `n`
  // calls of `op` fail with `status`.
  void FailNext(NamingOp op, int n, Status status = UnavailableError("fake nacos is down")) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[op] = {n, std::move(status)};
  }
  int calls(NamingOp op) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }
  void set_status(std::string status) {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(status);
  }
  // When false, changes are not pushed until Push() is called.
  void set_auto_push(bool on) {
    std::lock_guard<std::mutex> lock(mu_);
    auto_push_ = on;
  }

  // The instances of a service (what the "server" holds).
  std::vector<Instance> instances(const std::string& service,
                                  const std::string& group = "DEFAULT_GROUP") const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = services_.find({group, service});
    if (it == services_.end()) return {};
    std::vector<Instance> out;
    for (const auto& [address, instance] : it->second) out.push_back(instance);
    return out;
  }
  // Every "group@@service" that has ever been created.
  std::vector<std::string> service_keys() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [key, unused] : services_) out.push_back(key.first + "@@" + key.second);
    return out;
  }
  // Live subscriptions to a service.
  int subscriber_count(const std::string& service,
                       const std::string& group = "DEFAULT_GROUP") const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, sub] : subscriptions_) n += sub.service == service && sub.group == group;
    return n;
  }
  int total_subscriptions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(subscriptions_.size());
  }
  bool shut_down() const {
    std::lock_guard<std::mutex> lock(mu_);
    return shut_down_;
  }

  // Another process registering, changing, or removing an instance.
  void AddInstance(const std::string& service, const Instance& instance,
                   const std::string& group = "DEFAULT_GROUP") {
    {
      std::lock_guard<std::mutex> lock(mu_);
      services_[{group, service}][instance.Address()] = instance;
    }
    MaybePush(service, group);
  }
  void RemoveInstance(const std::string& service, const std::string& address,
                      const std::string& group = "DEFAULT_GROUP") {
    {
      std::lock_guard<std::mutex> lock(mu_);
      services_[{group, service}].erase(address);
    }
    MaybePush(service, group);
  }
  void SetEnabled(const std::string& service, const std::string& address, bool enabled,
                  const std::string& group = "DEFAULT_GROUP") {
    Mutate(service, address, group, [enabled](Instance& i) { i.enabled = enabled; });
  }
  void SetHealthy(const std::string& service, const std::string& address, bool healthy,
                  const std::string& group = "DEFAULT_GROUP") {
    Mutate(service, address, group, [healthy](Instance& i) { i.healthy = healthy; });
  }
  // Delivers the current list of a service to its subscribers.
  void Push(const std::string& service, const std::string& group = "DEFAULT_GROUP") {
    std::vector<NamingListener> listeners;
    ServiceChangeEvent event;
    {
      std::lock_guard<std::mutex> lock(mu_);
      event.service_name = group + "@@" + service;
      auto it = services_.find({group, service});
      if (it != services_.end()) {
        for (const auto& [address, instance] : it->second) event.instances.push_back(instance);
      }
      for (const auto& [id, sub] : subscriptions_) {
        if (sub.service == service && sub.group == group) listeners.push_back(sub.listener);
      }
    }
    for (const NamingListener& listener : listeners) listener(event);
  }

  // --- NamingService
  // -------------------------------------------------------------------------------
  Status RegisterInstance(std::string_view service_name, std::string_view group_name,
                          const Instance& instance) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kRegister));
    AddInstance(std::string(service_name), instance, Group(group_name));
    std::lock_guard<std::mutex> lock(mu_);
    registered_[{Group(group_name), std::string(service_name)}][instance.Address()] = instance;
    return Status::Ok();
  }
  Status DeregisterInstance(std::string_view service_name, std::string_view group_name,
                            const Instance& instance) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kDeregister));
    RemoveInstance(std::string(service_name), instance.Address(), Group(group_name));
    std::lock_guard<std::mutex> lock(mu_);
    registered_[{Group(group_name), std::string(service_name)}].erase(instance.Address());
    return Status::Ok();
  }
  Result<std::vector<Instance>> GetAllInstances(std::string_view service_name,
                                                std::string_view group_name, bool) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kGetAllInstances));
    return instances(std::string(service_name), Group(group_name));
  }
  Result<SubscriptionId> Subscribe(std::string_view service_name, std::string_view group_name,
                                   NamingListener listener) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kSubscribe));
    std::lock_guard<std::mutex> lock(mu_);
    const SubscriptionId id = next_id_++;
    subscriptions_[id] = {std::string(service_name), Group(group_name), std::move(listener)};
    return id;
  }
  Status Unsubscribe(SubscriptionId id) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kUnsubscribe));
    std::lock_guard<std::mutex> lock(mu_);
    if (subscriptions_.erase(id) == 0)
      return NotFoundError("no subscription " + std::to_string(id));
    return Status::Ok();
  }
  Result<ServiceList> GetServices(int page_no, int page_size,
                                  std::string_view group_name) override {
    DUBBO_RETURN_IF_ERROR(Call(NamingOp::kGetServices));
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> names;
    for (const auto& [key, unused] : services_) {
      if (key.first == Group(group_name)) names.push_back(key.second);
    }
    ServiceList page;
    page.count = static_cast<int64_t>(names.size());
    const size_t begin = static_cast<size_t>(std::max(0, (page_no - 1) * page_size));
    for (size_t i = begin; i < names.size() && i < begin + static_cast<size_t>(page_size); ++i) {
      page.names.push_back(names[i]);
    }
    return page;
  }
  std::string GetServerStatus() override {
    if (!Call(NamingOp::kGetServerStatus).ok()) return "DOWN";
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  // As the real client's: deregisters the ephemeral instances registered through this service.
  void Shutdown() override {
    Call(NamingOp::kShutdown).IgnoreError();
    std::map<std::pair<std::string, std::string>, std::map<std::string, Instance>> registered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (shut_down_) return;
      shut_down_ = true;
      subscriptions_.clear();
      registered.swap(registered_);
    }
    for (const auto& [key, instances] : registered) {
      for (const auto& [address, instance] : instances) {
        if (instance.ephemeral) RemoveInstance(key.second, address, key.first);
      }
    }
  }

 private:
  struct Sub {
    std::string service;
    std::string group;
    NamingListener listener;
  };

  static std::string Group(std::string_view group) {
    return group.empty() ? std::string(kDefaultGroup) : std::string(group);
  }

  Status Call(NamingOp op) {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_[op];
    if (shut_down_ && op != NamingOp::kShutdown)
      return FailedPreconditionError("fake naming shut down");
    auto it = failures_.find(op);
    if (it != failures_.end() && it->second.first > 0) {
      --it->second.first;
      return it->second.second;
    }
    return Status::Ok();
  }

  template <typename Fn>
  void Mutate(const std::string& service, const std::string& address, const std::string& group,
              Fn fn) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = services_.find({group, service});
      if (it == services_.end()) return;
      auto instance = it->second.find(address);
      if (instance == it->second.end()) return;
      fn(instance->second);
    }
    MaybePush(service, group);
  }

  void MaybePush(const std::string& service, const std::string& group) {
    bool push = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      push = auto_push_;
    }
    if (push) Push(service, group);
  }

  mutable std::mutex mu_;
  std::map<NamingOp, int> calls_;
  std::map<NamingOp, std::pair<int, Status>> failures_;
  // (group, service) -> address -> instance.
  std::map<std::pair<std::string, std::string>, std::map<std::string, Instance>> services_;
  std::map<SubscriptionId, Sub> subscriptions_;
  // What RegisterInstance() registered and DeregisterInstance() did not remove, for Shutdown().
  std::map<std::pair<std::string, std::string>, std::map<std::string, Instance>> registered_;
  SubscriptionId next_id_ = 1;
  std::string status_ = "UP";
  bool auto_push_ = true;
  bool shut_down_ = false;
};

}  // namespace dubbo::registry::nacos::testing

#endif  // DUBBO_TESTS_NACOS_REGISTRY_FAKE_NAMING_SERVICE_H_
