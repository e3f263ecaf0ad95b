// Provider (URL parameters read once), warm-up weights and ProviderStats.
//
// Thread-safety: see provider.h.
#include "dubbo/cluster/provider.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <memory>
#include <utility>

namespace dubbo::cluster {
namespace {

int64_t Nanos(registry::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

int32_t WarmupWeight(int32_t weight, int64_t timestamp_ms, int64_t warmup_ms, int64_t now_ms) {
  if (weight > 0 && timestamp_ms > 0) {
    const int64_t uptime = now_ms - timestamp_ms;
    if (uptime < 0) return 1;
    // As Dubbo 3.x AbstractLoadBalance.getWeight: an uptime of exactly 0 keeps the full weight, and
    // the division is done in float.
    if (uptime > 0 && uptime < warmup_ms) {
      const float step = static_cast<float>(warmup_ms) / static_cast<float>(weight);
      const int64_t warm = static_cast<int64_t>(static_cast<float>(uptime) / step);
      return static_cast<int32_t>(std::clamp<int64_t>(warm, 1, weight));
    }
  }
  return std::max(weight, 0);
}

void ProviderStats::EndCall(registry::Duration elapsed, bool succeeded, registry::TimePoint now) {
  active_.fetch_sub(1, std::memory_order_relaxed);
  elapsed_total_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count(),
                              std::memory_order_relaxed);
  if (!succeeded) {
    failed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  succeeded_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now_ns = Nanos(now);
  int64_t start = window_start_ns_.load(std::memory_order_relaxed);
  if (start == INT64_MIN || now_ns - start >= window_ns_) {
    if (window_start_ns_.compare_exchange_strong(start, now_ns, std::memory_order_relaxed)) {
      window_succeeded_.store(0, std::memory_order_relaxed);
      window_elapsed_ns_.store(0, std::memory_order_relaxed);
    }
  }
  window_elapsed_ns_.fetch_add(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count(),
      std::memory_order_relaxed);
  window_succeeded_.fetch_add(1, std::memory_order_relaxed);
}

int64_t ProviderStats::WindowMeanNanos() const {
  const uint64_t count = window_succeeded_.load(std::memory_order_relaxed);
  if (count == 0) return 0;
  return std::max<int64_t>(window_elapsed_ns_.load(std::memory_order_relaxed), 0) /
         static_cast<int64_t>(count);
}

Provider::Provider(registry::URL url, std::shared_ptr<ProviderState> state)
    : url_(std::move(url)),
      address_(url_.Address()),
      weight_(static_cast<int32_t>(
          std::clamp<int64_t>(url_.GetInt(registry::keys::kWeight, kDefaultWeight), 0, INT32_MAX))),
      timestamp_ms_(url_.GetInt(registry::keys::kTimestamp, 0)),
      warmup_ms_(url_.GetInt(registry::keys::kWarmup, kDefaultWarmupMillis)),
      state_(state ? std::move(state)
                   : std::make_shared<ProviderState>(CircuitBreakerOptions{},
                                                     std::chrono::seconds(30))) {}

}  // namespace dubbo::cluster
