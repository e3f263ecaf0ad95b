// File: dubbo/registry/clock.h
//
// Clock: the only way this library reads time. Heartbeats, retries, expiry and warm-up read the time
// through an injected Clock so that tests drive time by hand (see ManualScheduler in
// manual_scheduler.h) instead of sleeping.
//
// Thread-safety: implementations must be safe to call from any thread.
#ifndef DUBBO_REGISTRY_CLOCK_H_
#define DUBBO_REGISTRY_CLOCK_H_

#include <chrono>
#include <cstdint>

#include "dubbo/registry/export.h"

namespace dubbo::registry {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

class DUBBO_REGISTRY_EXPORT Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic time, for intervals and deadlines.
  virtual TimePoint Now() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch, for timestamps exchanged with other
  // processes (Dubbo's `timestamp` parameter, Nacos's lastRefTime).
  virtual int64_t WallMillis() const = 0;

  // The process-wide real clock. Never deleted.
  static Clock* Real();
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_CLOCK_H_
