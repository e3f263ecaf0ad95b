// consumer_util.h: what both example consumers need: an EchoConsumer (a subscription to
// example.Echo feeding a ProviderDirectory and a FailoverCluster, waiting for the providers, since
// the consumers start before or with them), and the mapping of an echo call's outcome to the Status
// codes the cluster's failover rules read.
//
// Thread-safety: Start() from one thread; DirectoryFeed::Notify() runs on the registry's thread;
// the cluster may then be used from any thread. ToStatus() is a pure function.
#ifndef DUBBO_REGISTRY_EXAMPLES_CONSUMER_UTIL_H_
#define DUBBO_REGISTRY_EXAMPLES_CONSUMER_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "dubbo/cluster/failover_cluster.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/registry.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"
#include "echo_net.h"

namespace example {

class DirectoryFeed final : public dubbo::registry::NotifyListener {
 public:
  explicit DirectoryFeed(std::shared_ptr<dubbo::cluster::ProviderDirectory> directory)
      : directory_(std::move(directory)) {}

  void Notify(const std::vector<dubbo::registry::URL>& urls) override {
    directory_->Notify(urls);
    std::lock_guard<std::mutex> lock(mu_);
    cv_.notify_all();
  }

  // True once the directory lists at least `count` providers; false if `timeout` passes first.
  bool WaitForProviders(size_t count, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return directory_->snapshot()->size() >= count; });
  }

 private:
  const std::shared_ptr<dubbo::cluster::ProviderDirectory> directory_;
  std::mutex mu_;
  std::condition_variable cv_;
};

// A subscription to example.Echo with failover over its providers.
class EchoConsumer {
 public:
  ~EchoConsumer() {
    if (registry_ != nullptr) registry_->Unsubscribe(url_, feed_).IgnoreError();
  }

  // Subscribes through `registry` with `loadbalance` and waits until `providers` providers are
  // listed (30 s at most).
  dubbo::registry::Status Start(std::shared_ptr<dubbo::registry::Registry> registry,
                                const std::string& loadbalance, size_t providers) {
    auto url = dubbo::registry::URL::Parse(
        "consumer://127.0.0.1/example.Echo?interface=example.Echo&category=providers"
        "&side=consumer&methods=echo&retries=2&timeout=2000&loadbalance=" +
        loadbalance);
    if (!url.ok()) return url.status();
    url_ = *url;
    dubbo::cluster::ProviderDirectoryOptions directory_options;
    directory_options.consumer_url = url_;
    auto directory = std::make_shared<dubbo::cluster::ProviderDirectory>(directory_options);
    auto cluster = dubbo::cluster::FailoverCluster::Create(directory, url_);
    if (!cluster.ok()) return cluster.status();
    cluster_ = std::move(*cluster);
    feed_ = std::make_shared<DirectoryFeed>(directory);
    dubbo::registry::Status subscribed = registry->Subscribe(url_, feed_);
    if (!subscribed.ok()) return subscribed;
    registry_ = std::move(registry);
    if (!feed_->WaitForProviders(providers, std::chrono::seconds(30))) {
      return dubbo::registry::UnavailableError("fewer than " + std::to_string(providers) +
                                               " providers of example.Echo after 30 s");
    }
    return dubbo::registry::Status();
  }

  const dubbo::cluster::FailoverCluster& cluster() const { return *cluster_; }

 private:
  std::shared_ptr<dubbo::registry::Registry> registry_;
  dubbo::registry::URL url_;
  std::shared_ptr<DirectoryFeed> feed_;
  std::unique_ptr<dubbo::cluster::FailoverCluster> cluster_;
};

// kUnavailable (refused: the breaker ejects the provider at once) and kDeadlineExceeded are
// retried on another provider and feed its breaker; kInternal is retried without touching it.
inline dubbo::registry::Status ToStatus(echo::CallResult result) {
  switch (result) {
    case echo::CallResult::kOk:
      return dubbo::registry::Status();
    case echo::CallResult::kRefused:
      return dubbo::registry::UnavailableError("connection refused");
    case echo::CallResult::kTimeout:
      return dubbo::registry::DeadlineExceededError("no answer in time");
    case echo::CallResult::kBroken:
      break;
  }
  return dubbo::registry::InternalError("connection broken");
}

}  // namespace example

#endif  // DUBBO_REGISTRY_EXAMPLES_CONSUMER_UTIL_H_
