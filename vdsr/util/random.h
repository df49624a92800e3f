#pragma once
// Deterministic randomness: a seed gives the same draws with every standard library. std::mt19937_64 is
// specified exactly; std::shuffle and the std distributions are not, so the ones used are written out here.
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace vdsr {

// SplitMix64 finaliser: turns structured seeds (seed, epoch, index) into independent-looking streams.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b) { return mix64(mix64(a) ^ (b + 0x632be59bd9b4e019ULL)); }

// The seed of stream `id` of a seeded source: SplitMix64's id-th output. Tuners give each trial its own
// stream, so a suggestion depends only on (seed, trial id, history) and a resumed experiment follows the
// same path as an uninterrupted one.
inline std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t id) { return mix64(seed + 0x9e3779b97f4a7c15ULL * id); }

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }

  // Uniform in [0, n), n > 0, without modulo bias (rejection of the short top range).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t v;
    do {
      v = engine_();
    } while (v >= limit);
    return v % n;
  }

  // Standard normal by Box-Muller (one value per call keeps the stream simple to reason about).
  double normal() {
    double u1 = uniform();
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
  double normal(double mu, double sigma) { return mu + sigma * normal(); }

  // Fisher-Yates: every permutation equally likely.
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) {
      std::swap(items[i - 1], items[below(i)]);
    }
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace vdsr
