// The real Clock: std::chrono::steady_clock for intervals, std::chrono::system_clock for wall time.
//
// Thread-safety: stateless, safe from any thread.
#include "dubbo/registry/clock.h"

#include <chrono>
#include <cstdint>

namespace dubbo::registry {
namespace {

class RealClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }

  int64_t WallMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Clock* Clock::Real() {
  static Clock* const clock = new RealClock();  // Never deleted: may be used during exit.
  return clock;
}

}  // namespace dubbo::registry
