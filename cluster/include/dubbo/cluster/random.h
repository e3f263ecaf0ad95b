// File: dubbo/cluster/random.h
//
// RandomSource: where the load balancers get their randomness. Injected so that tests can fix the
// sequence (SeededRandom) while production uses a fast per-thread generator
// (RandomSource::Default()).
//
//   dubbo::cluster::SeededRandom rng(42);
//   LoadBalancerOptions options;
//   options.random = &rng;   // must outlive the load balancer
//
// Thread-safety: every RandomSource must be safe to call from any number of threads at once.
#ifndef DUBBO_CLUSTER_RANDOM_H_
#define DUBBO_CLUSTER_RANDOM_H_

#include <atomic>
#include <cstdint>

#include "dubbo/registry/export.h"

namespace dubbo::cluster {

class DUBBO_REGISTRY_EXPORT RandomSource {
 public:
  virtual ~RandomSource() = default;

  // 64 uniformly distributed bits.
  virtual uint64_t Next() = 0;

  // The process-wide default: one xoshiro256** state per thread, seeded from std::random_device and
  // the thread's identity; no shared state, so threads never contend. Never deleted.
  static RandomSource* Default();
};

// A deterministic source: SplitMix64 over an atomic counter. One thread calling Next() always sees
// the same sequence for the same seed; concurrent callers share (and split) that sequence.
class DUBBO_REGISTRY_EXPORT SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  uint64_t Next() override;

 private:
  std::atomic<uint64_t> state_;
};

// A value uniformly distributed in [0, bound) from 64 random bits (Lemire's multiply-shift; the
// bias is below bound / 2^64). REQUIRES: bound > 0.
inline uint64_t UniformIndex(uint64_t random, uint64_t bound) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(random) * bound) >> 64);
}

}  // namespace dubbo::cluster

#endif  // DUBBO_CLUSTER_RANDOM_H_
