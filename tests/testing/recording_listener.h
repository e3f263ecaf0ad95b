// Test helper: a NotifyListener that records every call, and checks that calls never overlap.
//
// Thread-safety: all methods are thread-safe.
#ifndef DUBBO_TESTS_TESTING_RECORDING_LISTENER_H_
#define DUBBO_TESTS_TESTING_RECORDING_LISTENER_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

#include "dubbo/registry/notify_listener.h"

namespace dubbo::registry::testing {

class RecordingListener : public NotifyListener {
 public:
  void Notify(const std::vector<URL>& urls) override {
    if (in_call_.fetch_add(1) != 0) overlapped_.store(true);
    std::function<void(const std::vector<URL>&)> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      calls_.push_back(urls);
      hook = hook_;
    }
    if (hook) hook(urls);
    in_call_.fetch_sub(1);
  }

  // Runs `hook` inside each later Notify() call (after recording it).
  void SetHook(std::function<void(const std::vector<URL>&)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    hook_ = std::move(hook);
  }

  std::vector<std::vector<URL>> calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  size_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }
  std::vector<URL> last() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.empty() ? std::vector<URL>() : calls_.back();
  }
  // True if two calls ever ran at the same time.
  bool overlapped() const { return overlapped_.load(); }

 private:
  mutable std::mutex mu_;
  std::vector<std::vector<URL>> calls_;
  std::function<void(const std::vector<URL>&)> hook_;
  std::atomic<int> in_call_{0};
  std::atomic<bool> overlapped_{false};
};

}  // namespace dubbo::registry::testing

#endif  // DUBBO_TESTS_TESTING_RECORDING_LISTENER_H_
