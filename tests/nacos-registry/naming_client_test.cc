// NamingClient against an in-process naming-server on port 0: the end-to-end behaviour of the
// public API (registration and beats, subscription and push, shutdown).
#include "dubbo/registry/nacos/naming_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "dubbo/naming_server/naming_server.h"
#include "testing/temp_dir.h"

namespace dubbo::registry::nacos {
namespace {

using naming_server::NamingServer;
using testing::TempDir;
using naming_server::NamingServerOptions;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Collects events; Wait() blocks (with a generous bound) until a predicate over them holds.
class EventLog {
 public:
  NamingListener Listener() {
    return [this](const ServiceChangeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  template <typename Pred>
  bool Wait(Pred pred, std::chrono::milliseconds bound = seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return pred(events_); });
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ServiceChangeEvent> events_;
};

class NamingClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    NamingServerOptions options;
    options.port = 0;
    auto server = NamingServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  NacosOptions Options() {
    NacosOptions options;
    options.server_addresses = {"127.0.0.1:" + std::to_string(server_->port())};
    options.cache_dir = cache_.path();
    options.request_timeout_ms = 2000;
    return options;
  }

  static Instance MakeInstance(int port, double weight = 1.0) {
    Instance instance;
    instance.ip = "127.0.0.1";
    instance.port = port;
    instance.weight = weight;
    instance.metadata = {{"version", "1.0"}};
    return instance;
  }

  TempDir cache_;
  std::unique_ptr<NamingServer> server_;
};

TEST_F(NamingClientTest, RegisteredInstanceIsListed) {
  auto client = NamingClient::Create(Options());
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE((*client)->RegisterInstance("demo", "", MakeInstance(20880)).ok());
  auto all = (*client)->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].port, 20880);
  EXPECT_EQ((*all)[0].metadata.at("version"), "1.0");
}

TEST_F(NamingClientTest, SubscriberSeesARegistrationThroughPush) {
  auto consumer = NamingClient::Create(Options());
  auto provider = NamingClient::Create(Options());
  ASSERT_TRUE(consumer.ok() && provider.ok());
  EventLog log;
  auto id = (*consumer)->Subscribe("demo", "", "", log.Listener());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE((*provider)->RegisterInstance("demo", "", MakeInstance(20881)).ok());
  EXPECT_TRUE(log.Wait([](const std::vector<ServiceChangeEvent>& events) {
    return !events.empty() && events.back().instances.size() == 1 &&
           events.back().added.size() == 1;
  }));
}

TEST_F(NamingClientTest, ShutdownDeregisters) {
  auto provider = NamingClient::Create(Options());
  auto observer = NamingClient::Create(Options());
  ASSERT_TRUE(provider.ok() && observer.ok());
  ASSERT_TRUE((*provider)->RegisterInstance("demo", "", MakeInstance(20882)).ok());
  (*provider)->Shutdown();
  auto all = (*observer)->GetAllInstances("demo", "", "", /*subscribe=*/false);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_TRUE(all->empty());
  EXPECT_EQ((*provider)->RegisterInstance("demo", "", MakeInstance(20883)).code(),
            StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dubbo::registry::nacos
