// RandomSource::Default (per-thread xoshiro256**) and SeededRandom (SplitMix64).
//
// Thread-safety: Default() keeps one state per thread; SeededRandom advances one atomic counter.
#include "dubbo/cluster/random.h"

#include <cstdint>
#include <functional>
#include <random>
#include <thread>

namespace dubbo::cluster {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Constant-initialised, so access needs no guard.
struct ThreadState {
  uint64_t s[4];
  bool seeded;
};
thread_local ThreadState t_state = {{0, 0, 0, 0}, false};

void SeedThisThread() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device() ^
                  std::hash<std::thread::id>()(std::this_thread::get_id());
  for (uint64_t& word : t_state.s) {
    seed += kGolden;
    word = Mix(seed);
  }
  t_state.seeded = true;
}

class ThreadLocalRandom final : public RandomSource {
 public:
  uint64_t Next() override {
    if (__builtin_expect(!t_state.seeded, 0)) SeedThisThread();
    uint64_t* s = t_state.s;
    const uint64_t result = Rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = Rotl(s[3], 45);
    return result;
  }
};

}  // namespace

RandomSource* RandomSource::Default() {
  static RandomSource* const source = new ThreadLocalRandom();  // Never deleted.
  return source;
}

uint64_t SeededRandom::Next() {
  return Mix(state_.fetch_add(kGolden, std::memory_order_relaxed) + kGolden);
}

}  // namespace dubbo::cluster
