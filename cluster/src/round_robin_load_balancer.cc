// `roundrobin`: smooth weighted round robin (nginx, Dubbo). One period of the sequence is simulated
// once per snapshot (Dubbo's exact algorithm: add each weight to its `current`, pick the first
// strict maximum, subtract the total from it) and a pick is one atomic increment plus a table
// lookup. Periods too long to precompute fall back to running that algorithm per pick under a
// per-snapshot mutex.
//
// Thread-safety: the position is an atomic counter; the fallback state has its own mutex, never the
// directory's.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string_view>
#include <vector>

#include "internal/load_balancers.h"
#include "internal/mutex.h"

namespace dubbo::cluster::internal {
namespace {

using registry::internal::Mutex;
using registry::internal::MutexLock;

constexpr uint64_t kMaxPeriod = 1 << 16;
constexpr uint64_t kMaxBuildSteps = 1 << 22;

// x mod d for 32-bit x without a division (Lemire, "Faster remainder by direct computation").
struct FastMod {
  explicit FastMod(uint32_t d) : divisor(d), magic(~uint64_t{0} / d + 1) {}
  uint32_t operator()(uint32_t x) const {
    const uint64_t low = magic * x;
    return static_cast<uint32_t>((static_cast<unsigned __int128>(low) * divisor) >> 64);
  }
  uint32_t divisor;
  uint64_t magic;
};

struct Schedule {
  enum class Mode { kUniform, kTable, kPerPick };
  explicit Schedule(uint32_t period) : mod(period) {}

  Mode mode = Mode::kUniform;
  FastMod mod;                  // period: providers (kUniform) or the table's length (kTable)
  std::vector<uint32_t> order;  // kTable: one period of the sequence
  mutable Mutex mu;             // kPerPick
  mutable std::vector<int64_t> current DUBBO_GUARDED_BY(mu);
};

std::shared_ptr<const Schedule> BuildSchedule(const ProviderSnapshot& snapshot) {
  const size_t n = snapshot.size();
  if (snapshot.same_weight() || snapshot.total_weight() <= 0) {
    return std::make_shared<Schedule>(static_cast<uint32_t>(n));
  }
  int64_t gcd = 0;
  size_t positive = 0;
  for (int32_t w : snapshot.weights()) {
    if (w > 0) {
      gcd = std::gcd<int64_t, int64_t>(gcd, w);
      ++positive;
    }
  }
  const uint64_t period = static_cast<uint64_t>(snapshot.total_weight() / gcd);
  if (period > kMaxPeriod || period * positive > kMaxBuildSteps) {
    auto schedule = std::make_shared<Schedule>(1);
    schedule->mode = Schedule::Mode::kPerPick;
    MutexLock lock(&schedule->mu);
    schedule->current.assign(n, 0);
    return schedule;
  }
  auto schedule = std::make_shared<Schedule>(static_cast<uint32_t>(period));
  schedule->mode = Schedule::Mode::kTable;
  schedule->order.reserve(period);
  std::vector<uint32_t> members;
  std::vector<int64_t> scaled;
  for (size_t i = 0; i < n; ++i) {
    if (snapshot.weight(i) > 0) {
      members.push_back(static_cast<uint32_t>(i));
      scaled.push_back(snapshot.weight(i) / gcd);
    }
  }
  std::vector<int64_t> current(members.size(), 0);
  for (uint64_t step = 0; step < period; ++step) {
    size_t best = 0;
    for (size_t k = 0; k < members.size(); ++k) {
      current[k] += scaled[k];
      if (current[k] > current[best]) best = k;
    }
    current[best] -= static_cast<int64_t>(period);
    schedule->order.push_back(members[best]);
  }
  return schedule;
}

class RoundRobinLoadBalancer final : public LoadBalancer {
 public:
  explicit RoundRobinLoadBalancer(RandomSource* random) : random_(random) {}

  std::string_view name() const override { return "roundrobin"; }

  const Provider* Select(const ProviderSnapshot& snapshot, const Invocation& /*invocation*/,
                         const ProviderFilter* filter) const override {
    if (snapshot.empty()) return nullptr;
    const Schedule& schedule =
        snapshot.GetOrBuild<Schedule>(ProviderSnapshot::Scope::kWeights, kRoundRobinScheduleKey,
                                      [&snapshot] { return BuildSchedule(snapshot); });
    if (schedule.mode == Schedule::Mode::kPerPick) return SelectPerPick(snapshot, schedule, filter);
    // Wraps every 2^32 picks (one discontinuity in the sequence; harmless).
    const uint32_t position =
        static_cast<uint32_t>(position_.fetch_add(1, std::memory_order_relaxed));
    const uint32_t slot = schedule.mod(position);
    const size_t index = schedule.mode == Schedule::Mode::kTable ? schedule.order[slot] : slot;
    if (filter == nullptr || filter->Allowed(index, snapshot[index])) return &snapshot[index];

    // Take the next positions of the shared sequence until an allowed provider comes up, so the
    // skipped provider's turns are spread over the others as the sequence spreads them.
    const uint64_t limit = std::min<uint64_t>(schedule.mod.divisor, 4 * snapshot.size() + 16);
    for (uint64_t k = 1; k < limit; ++k) {
      const uint32_t s =
          schedule.mod(static_cast<uint32_t>(position_.fetch_add(1, std::memory_order_relaxed)));
      const size_t i = schedule.mode == Schedule::Mode::kTable ? schedule.order[s] : s;
      if (filter->Allowed(i, snapshot[i])) return &snapshot[i];
    }
    return PickWeightedAmongAllowed(snapshot, *filter, random_);
  }

 private:
  static const Provider* SelectPerPick(const ProviderSnapshot& snapshot, const Schedule& schedule,
                                       const ProviderFilter* filter) {
    MutexLock lock(&schedule.mu);
    int64_t total = 0;
    size_t best = snapshot.size();
    for (size_t i = 0; i < snapshot.size(); ++i) {
      if (filter != nullptr && !filter->Allowed(i, snapshot[i])) continue;
      schedule.current[i] += snapshot.weight(i);
      total += snapshot.weight(i);
      if (best == snapshot.size() || schedule.current[i] > schedule.current[best]) best = i;
    }
    if (best == snapshot.size()) return nullptr;
    schedule.current[best] -= total;
    return &snapshot[best];
  }

  RandomSource* const random_;
  mutable std::atomic<uint64_t> position_{0};
};

}  // namespace

std::unique_ptr<LoadBalancer> NewRoundRobinLoadBalancer(RandomSource* random) {
  return std::make_unique<RoundRobinLoadBalancer>(random);
}

}  // namespace dubbo::cluster::internal
