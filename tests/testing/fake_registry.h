// Test helper: FakeRegistry, a FailbackRegistry over an in-memory "server" whose calls can be made to
// fail on demand. DoSubscribe() delivers the server's matching URLs (or empty://), like a real
// registry's first notification; Push() re-delivers to every subscription, like a server push.
//
// Thread-safety: all methods are thread-safe.
#ifndef DUBBO_TESTS_TESTING_FAKE_REGISTRY_H_
#define DUBBO_TESTS_TESTING_FAKE_REGISTRY_H_

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "dubbo/registry/failback_registry.h"

namespace dubbo::registry::testing {

enum class Op { kRegister, kUnregister, kSubscribe, kUnsubscribe };

class FakeRegistry : public FailbackRegistry {
 public:
  FakeRegistry(URL url, RegistryOptions options) : FailbackRegistry(std::move(url), options) {}
  ~FakeRegistry() override { Destroy(); }

  // The next `n` calls of `op` fail with `status`.
  void FailNext(Op op, int n, Status status = UnavailableError("fake registry is down")) {
    std::lock_guard<std::mutex> lock(mu_);
    failures_[op] = {n, std::move(status)};
  }
  int calls(Op op) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(op);
    return it == calls_.end() ? 0 : it->second;
  }
  // What the "server" holds.
  std::vector<URL> server_urls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return server_;
  }
  // Forgets everything server-side, as a restarted server would.
  void ResetServer() {
    std::lock_guard<std::mutex> lock(mu_);
    server_.clear();
    server_subscriptions_.clear();
  }
  // Adds a URL server-side without going through Register() (another process registering).
  void AddServerUrl(const URL& url) {
    std::lock_guard<std::mutex> lock(mu_);
    server_.push_back(url);
  }
  void RemoveServerUrl(const URL& url) {
    std::lock_guard<std::mutex> lock(mu_);
    server_.erase(std::remove(server_.begin(), server_.end(), url), server_.end());
  }
  // Re-delivers the server's URLs to every server-side subscription.
  void Push() {
    std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> subs;
    {
      std::lock_guard<std::mutex> lock(mu_);
      subs = server_subscriptions_;
    }
    for (const auto& [url, listener] : subs) Notify(url, listener, CurrentUrls(url));
  }
  size_t server_subscription_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return server_subscriptions_.size();
  }

  void set_available(bool available) { available_.store(available); }
  bool IsAvailable() const override { return available_.load(); }

  // Exposed for tests of the notification rules.
  using AbstractRegistry::Notify;

 protected:
  Status DoRegister(const URL& url) override {
    DUBBO_RETURN_IF_ERROR(Call(Op::kRegister));
    std::lock_guard<std::mutex> lock(mu_);
    if (std::find(server_.begin(), server_.end(), url) == server_.end()) server_.push_back(url);
    return Status::Ok();
  }
  Status DoUnregister(const URL& url) override {
    DUBBO_RETURN_IF_ERROR(Call(Op::kUnregister));
    std::lock_guard<std::mutex> lock(mu_);
    server_.erase(std::remove(server_.begin(), server_.end(), url), server_.end());
    return Status::Ok();
  }
  Status DoSubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override {
    DUBBO_RETURN_IF_ERROR(Call(Op::kSubscribe));
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto same = [&](const auto& s) { return s.first == url && s.second == listener; };
      if (std::none_of(server_subscriptions_.begin(), server_subscriptions_.end(), same)) {
        server_subscriptions_.emplace_back(url, listener);
      }
    }
    Notify(url, listener, CurrentUrls(url));
    return Status::Ok();
  }
  Status DoUnsubscribe(const URL& url, const std::shared_ptr<NotifyListener>& listener) override {
    DUBBO_RETURN_IF_ERROR(Call(Op::kUnsubscribe));
    std::lock_guard<std::mutex> lock(mu_);
    auto same = [&](const auto& s) { return s.first == url && s.second == listener; };
    server_subscriptions_.erase(
        std::remove_if(server_subscriptions_.begin(), server_subscriptions_.end(), same),
        server_subscriptions_.end());
    return Status::Ok();
  }

 private:
  Status Call(Op op) {
    std::lock_guard<std::mutex> lock(mu_);
    ++calls_[op];
    auto it = failures_.find(op);
    if (it != failures_.end() && it->second.first > 0) {
      --it->second.first;
      return it->second.second;
    }
    return Status::Ok();
  }

  // The server's URLs matching `url`, per category, with empty:// for an empty providers category.
  std::vector<URL> CurrentUrls(const URL& url) {
    std::vector<URL> out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const URL& u : server_) {
        if (IsMatch(url, u)) out.push_back(u);
      }
    }
    if (out.empty()) {
      out.push_back(url.WithProtocol(keys::kEmptyProtocol)
                        .WithParameter(keys::kCategory, keys::kProvidersCategory));
    }
    return out;
  }

  mutable std::mutex mu_;
  std::map<Op, int> calls_;
  std::map<Op, std::pair<int, Status>> failures_;
  std::vector<URL> server_;
  std::vector<std::pair<URL, std::shared_ptr<NotifyListener>>> server_subscriptions_;
  std::atomic<bool> available_{true};
};

}  // namespace dubbo::registry::testing

#endif  // DUBBO_TESTS_TESTING_FAKE_REGISTRY_H_
