// lb-consumer: calls the echo-provider instances it discovers through Nacos, with failover, using
// a load balancer of its own registered by name (`loadbalance=lowest-address` on the consumer
// URL).
//
//   lb-consumer --registry nacos://127.0.0.1:8848 [--providers 2] [--calls 10]
//
// The balancer always picks the allowed provider with the smallest address, so every call goes to
// the same provider while it is up; a failover retry goes to the next one. Exits 0 when every call
// succeeded.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "../common/consumer_util.h"
#include "../common/echo_net.h"
#include "../common/example.h"
#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/load_balancer.h"
#include "dubbo/registry/registry_factory.h"

namespace {

using dubbo::cluster::Invocation;
using dubbo::cluster::LoadBalancer;
using dubbo::cluster::Provider;
using dubbo::cluster::ProviderFilter;
using dubbo::cluster::ProviderSnapshot;
using dubbo::registry::Status;

// Picks the allowed provider whose address sorts first. It honours the filter: the cluster uses it
// to skip providers already tried and providers whose circuit breaker is open.
class LowestAddressLoadBalancer final : public LoadBalancer {
 public:
  std::string_view name() const override { return "lowest-address"; }
  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    const Provider* best = nullptr;
    for (size_t i = 0; i < snapshot.size(); ++i) {
      const Provider& p = snapshot[i];
      if (filter != nullptr && !filter->Allowed(i, p)) continue;
      if (best == nullptr || p.address() < best->address()) best = &p;
    }
    return best;
  }
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "lb-consumer: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"--registry", "nacos://127.0.0.1:8848"}, {"--providers", "1"}, {"--calls", "10"}};
  if (!example::ParseFlags("lb-consumer", argc, argv, &flags)) return 2;
  const int calls = std::atoi(flags["--calls"].c_str());

  // Once per process, before any consumer URL names it.
  Status registered = dubbo::cluster::RegisterLoadBalancer(
      "lowest-address", [](const dubbo::cluster::LoadBalancerOptions&) {
        return dubbo::registry::Result<std::unique_ptr<LoadBalancer>>(
            std::make_unique<LowestAddressLoadBalancer>());
      });
  if (!registered.ok()) return Fail("load balancer: " + registered.ToString());

  dubbo::registry::RegistryManager manager;
  auto registry = example::OpenNacosRegistry(manager, flags["--registry"]);
  if (!registry.ok()) return Fail("registry: " + registry.status().ToString());
  example::EchoConsumer consumer;
  Status started = consumer.Start(*registry, "lowest-address",
                                  std::strtoul(flags["--providers"].c_str(), nullptr, 10));
  if (!started.ok()) return Fail(started.ToString());

  std::map<std::string, int> answered_by;
  for (int i = 0; i < calls; ++i) {
    Invocation invocation;
    invocation.method = "echo";
    std::string answer;
    Status status = consumer.cluster().Invoke(
        invocation, [&](const Provider& p, const dubbo::cluster::Attempt& attempt) {
          return example::ToStatus(echo::Call(
              p.address(), "call " + std::to_string(i),
              std::chrono::duration_cast<std::chrono::milliseconds>(attempt.timeout), &answer));
        });
    if (!status.ok()) return Fail("call " + std::to_string(i) + ": " + status.ToString());
    std::printf("lb-consumer: %s\n", answer.c_str());
    ++answered_by[answer.substr(0, answer.find(' '))];
  }
  for (const auto& [address, count] : answered_by)
    std::printf("lb-consumer: %d call(s) answered by %s\n", count, address.c_str());
  return 0;
}
