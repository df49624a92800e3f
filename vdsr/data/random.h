#pragma once
// Deterministic randomness for the data module: the same seed gives the same order on every platform
// (std::shuffle and the std distributions are implementation-defined, std::mt19937_64 is not).
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace vdsr::data {

// SplitMix64 finaliser: turns structured seeds (seed, epoch, index) into independent-looking streams.
inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline std::uint64_t mix64(std::uint64_t a, std::uint64_t b) { return mix64(mix64(a) ^ (b + 0x632be59bd9b4e019ULL)); }

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  // Uniform in [0, n) without modulo bias (rejection of the short top range).
  std::uint64_t below(std::uint64_t n) {
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t v;
    do {
      v = engine_();
    } while (v >= limit);
    return v % n;
  }

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

}  // namespace vdsr::data
