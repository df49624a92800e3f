#pragma once
// The tuners TPE is measured against: random search and grid search.
#include <cstdint>
#include <vector>

#include "hpo/tuner_registry.h"

namespace vdsr::hpo {

class RandomTuner : public Tuner {
 public:
  RandomTuner(const SearchSpace& space, OptimizeMode mode, uint64_t seed) : Tuner(space, mode), seed_(seed) {}
  std::optional<Point> suggest(int trial_id) override;

 private:
  uint64_t seed_;
};

// GridSearch's classArgs.
struct GridSearchArgs {
  int points = 5;  // evenly spread values per continuous parameter (discrete ones take all their values)
};

// Visits the grid in order: every value of discrete dims and `points` evenly spread values of each
// continuous dim (NNI's grid search refines continuous ranges progressively instead).
class GridSearchTuner : public Tuner {
 public:
  GridSearchTuner(const SearchSpace& space, OptimizeMode mode, int points);
  std::optional<Point> suggest(int trial_id) override;

 private:
  std::vector<Point> grid_;
  size_t next_ = 0;
};

TunerKind random_tuner_kind();       // "Random": classArgs optimize_mode, seed
TunerKind grid_search_tuner_kind();  // "GridSearch": classArgs optimize_mode, points

}  // namespace vdsr::hpo
