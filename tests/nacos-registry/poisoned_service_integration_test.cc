// A poisoning attempt end to end: our in-process naming-server (loopback, port 0) refuses an
// instance whose metadata is not UTF-8 (400), so a real NamingClient consumer gets only the good
// ones, from a list answer and from a UDP push, with nothing to drop. How the client drops a
// poisoned host that another server does serve is in hostile_server_test.cc.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "dubbo/registry/nacos/naming_client.h"
#include "testing/http_client.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using naming_server::NamingServer;
using naming_server::NamingServerOptions;

// A persistent instance 127.0.0.1:`port` of DEFAULT_GROUP@@demo (no beats needed), registered with
// raw HTTP so that its metadata reaches the server byte for byte (our client would write U+FFFD).
int AddPersistent(uint16_t server_port, int port, const std::string& encoded_metadata) {
  return registry::testing::HttpRequest(
             server_port, "POST",
             "/nacos/v1/ns/instance?serviceName=DEFAULT_GROUP%40%40demo&ip=127.0.0.1&port=" +
                 std::to_string(port) + "&ephemeral=false&metadata=" + encoded_metadata)
      .status;
}

std::vector<int> Ports(const std::vector<Instance>& instances) {
  std::vector<int> ports;
  for (const Instance& i : instances) ports.push_back(i.port);
  return ports;
}

TEST(PoisonedServiceIntegrationTest, ConsumersGetTheGoodInstancesByListAndByPush) {
  NamingServerOptions server_options;
  server_options.port = 0;
  auto server = NamingServer::Start(server_options);
  ASSERT_TRUE(server.ok()) << server.status();
  const uint16_t port = (*server)->port();
  ASSERT_EQ(AddPersistent(port, 9, "%7B%22v%22%3A%221.0%22%7D"), 200);
  // {"v":"1.<0xFF>"}: invalid UTF-8 in a metadata value, refused.
  ASSERT_EQ(AddPersistent(port, 10, "%7B%22v%22%3A%221.%FF%22%7D"), 400);

  registry::testing::TempDir cache;
  NacosOptions options;
  options.server_addresses = {(*server)->address()};
  options.cache_dir = cache.path();
  options.client_ip = "127.0.0.1";
  // The push checked below is the v1 UDP one.
  options.naming_protocol = NacosOptions::NamingProtocol::kHttp;
  auto consumer = NamingClient::Create(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();

  // A list answer.
  Result<std::vector<Instance>> once =
      (*consumer)->GetAllInstances("demo", "DEFAULT_GROUP", "", /*subscribe=*/false);
  ASSERT_TRUE(once.ok()) << once.status();
  EXPECT_EQ(Ports(*once), std::vector<int>{9});
  EXPECT_EQ((*consumer)->GetStats().dropped_hosts, 0u);

  // A push: a new good instance appears.
  std::mutex mu;
  std::promise<std::vector<int>> pushed;
  bool delivered = false;
  Result<SubscriptionId> id =
      (*consumer)->Subscribe("demo", "DEFAULT_GROUP", "", [&](const ServiceChangeEvent& event) {
        std::lock_guard<std::mutex> lock(mu);
        if (delivered || event.added.empty() || event.added[0].port != 11) return;
        delivered = true;
        pushed.set_value(Ports(event.instances));
      });
  ASSERT_TRUE(id.ok()) << id.status();
  const uint64_t pushes_before = (*consumer)->GetStats().pushes;
  ASSERT_EQ(AddPersistent(port, 11, "%7B%7D"), 200);
  std::future<std::vector<int>> instances = pushed.get_future();
  // A liveness bound only (the push comes at once, the poll after 10 s).
  ASSERT_EQ(instances.wait_for(std::chrono::seconds(60)), std::future_status::ready);
  EXPECT_EQ(instances.get(), (std::vector<int>{9, 11}));
  const NamingClientStats stats = (*consumer)->GetStats();
  EXPECT_GT(stats.pushes, pushes_before) << "the new list came by push";
  EXPECT_EQ(stats.malformed_datagrams, 0u);
  EXPECT_EQ(stats.dropped_hosts, 0u);
  (*consumer)->Shutdown();
}

}  // namespace
}  // namespace dubbo::registry::nacos
