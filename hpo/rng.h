#pragma once
// A seeded generator with distributions written out here, so a seed gives the same draws with every
// standard library (std::normal_distribution and friends are implementation-defined).
#include <cmath>
#include <cstdint>
#include <random>

namespace vdsr::hpo {

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(gen_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n); n > 0. Rejection keeps it unbiased.
  uint64_t below(uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = gen_(); while (x >= limit);
    return x % n;
  }
  // Standard normal by Box-Muller (one value per call keeps the stream simple to reason about).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  double normal(double mu, double sigma) { return mu + sigma * normal(); }

 private:
  std::mt19937_64 gen_;
};

// Mixes a seed with a trial id so each suggestion has its own stream: suggestions then depend only on
// (seed, trial id, history), which keeps a resumed experiment on the same path as an uninterrupted one.
inline uint64_t mix_seed(uint64_t seed, uint64_t id) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (id + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace vdsr::hpo
