#include "dubbo/registry/notify_listener.h"

#include <utility>

namespace dubbo::registry {
namespace {

class FunctionListener final : public NotifyListener {
 public:
  explicit FunctionListener(std::function<void(const std::vector<URL>&)> fn) : fn_(std::move(fn)) {}
  void Notify(const std::vector<URL>& urls) override {
    if (fn_) fn_(urls);
  }

 private:
  std::function<void(const std::vector<URL>&)> fn_;
};

}  // namespace

std::shared_ptr<NotifyListener> MakeNotifyListener(std::function<void(const std::vector<URL>&)> fn) {
  return std::make_shared<FunctionListener>(std::move(fn));
}

}  // namespace dubbo::registry
