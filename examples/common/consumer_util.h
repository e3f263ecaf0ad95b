// consumer_util.h: what both example consumers need: a NotifyListener that feeds a
// ProviderDirectory and lets the caller wait for providers (the consumers start before or with
// their providers), and the mapping of an echo call's outcome to the Status codes the cluster's
// failover rules read.
//
// Thread-safety: DirectoryFeed::Notify() from the registry's thread, WaitForProviders() from any
// thread; ToStatus() is a pure function.
#ifndef DUBBO_REGISTRY_EXAMPLES_CONSUMER_UTIL_H_
#define DUBBO_REGISTRY_EXAMPLES_CONSUMER_UTIL_H_

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "echo_net.h"
#include "dubbo/cluster/provider_directory.h"
#include "dubbo/registry/notify_listener.h"
#include "dubbo/registry/status.h"
#include "dubbo/registry/url.h"

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
