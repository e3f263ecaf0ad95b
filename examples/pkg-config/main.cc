// registry-roundtrip: built with a plain Makefile and pkg-config, no CMake. It starts an embedded
// Nacos-compatible server on a free loopback port, registers a provider through NacosRegistry,
// subscribes to it and prints the provider URL the registry notifies. Exits 0 once the provider
// came back, 1 on any error (or after 30 s without it).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/nacos/nacos_registry.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/provider_url_builder.h"
#include "dubbo/registry/registry_factory.h"
#include "dubbo/registry/version.h"

namespace {

// Remembers the latest provider list and wakes the waiter.
class Listener final : public dubbo::registry::NotifyListener {
 public:
  void Notify(const std::vector<dubbo::registry::URL>& urls) override {
    std::lock_guard<std::mutex> lock(mu_);
    urls_ = urls;
    cv_.notify_all();
  }
  std::vector<dubbo::registry::URL> WaitForOne(std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !urls_.empty(); });
    return urls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<dubbo::registry::URL> urls_;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "registry-roundtrip: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main() {
  std::printf("registry-roundtrip: headers %s, library %s\n", DUBBO_REGISTRY_VERSION,
              dubbo::registry::LibraryVersion());
  dubbo::naming_server::NamingServerOptions server_options;
  server_options.port = 0;  // any free port, on 127.0.0.1
  auto server = dubbo::naming_server::NamingServer::Start(server_options);
  if (!server.ok()) return Fail("naming server: " + server.status().ToString());

  dubbo::registry::RegistryManager manager;
  dubbo::registry::nacos::RegisterNacosRegistry(manager).IgnoreError();
  auto registry_url = dubbo::registry::URL::Parse("nacos://" + (*server)->address());
  if (!registry_url.ok()) return Fail("registry URL: " + registry_url.status().ToString());
  auto registry = manager.GetRegistry(*registry_url);
  if (!registry.ok()) return Fail("registry: " + registry.status().ToString());

  auto provider = dubbo::registry::ProviderUrlBuilder("tri", "127.0.0.1", 50051, "example.Greeter")
                      .Application("registry-roundtrip")
                      .Version("1.0.0")
                      .Methods({"greet"})
                      .Build();
  if (!provider.ok()) return Fail("provider URL: " + provider.status().ToString());
  dubbo::registry::Status status = (*registry)->Register(*provider);
  if (!status.ok()) return Fail("register: " + status.ToString());

  auto consumer = dubbo::registry::URL::Parse(
      "consumer://127.0.0.1/example.Greeter?interface=example.Greeter&version=1.0.0"
      "&category=providers&side=consumer");
  if (!consumer.ok()) return Fail("consumer URL: " + consumer.status().ToString());
  auto listener = std::make_shared<Listener>();
  status = (*registry)->Subscribe(*consumer, listener);
  if (!status.ok()) return Fail("subscribe: " + status.ToString());
  const std::vector<dubbo::registry::URL> urls = listener->WaitForOne(std::chrono::seconds(30));
  if (urls.empty()) return Fail("the provider was not notified within 30 s");
  for (const auto& url : urls)
    std::printf("registry-roundtrip: notified %s\n", url.ToString().c_str());
  manager.DestroyAll();
  return 0;
}
