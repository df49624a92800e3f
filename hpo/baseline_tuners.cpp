#include "hpo/baseline_tuners.h"

namespace vdsr::hpo {

std::optional<Point> RandomTuner::suggest(int trial_id) {
  Rng rng(stream_seed(seed_, static_cast<uint64_t>(trial_id)));
  std::optional<Point> p = dedup(space_.sample(rng), rng);
  if (p) remember(trial_id, *p);
  return p;
}

GridSearchTuner::GridSearchTuner(const SearchSpace& space, OptimizeMode mode, int points)
    : Tuner(space, mode), grid_(space.enumerate(points)) {}

std::optional<Point> GridSearchTuner::suggest(int trial_id) {
  while (next_ < grid_.size() && seen(grid_[next_])) ++next_;
  if (next_ >= grid_.size()) return std::nullopt;
  remember(trial_id, grid_[next_]);
  return grid_[next_++];
}

namespace {

struct NoArgs {};

NoArgs read_no_args(Fields&) { return {}; }

std::unique_ptr<Tuner> make_random(const TunerBase& base, const NoArgs&) {
  return std::make_unique<RandomTuner>(base.space, base.mode, base.seed);
}

GridSearchArgs read_grid_search_args(Fields& f) {
  GridSearchArgs a;
  a.points = f.optional("points", a.points, Range::at_least(1));
  return a;
}

std::unique_ptr<Tuner> make_grid_search(const TunerBase& base, const GridSearchArgs& args) {
  return std::make_unique<GridSearchTuner>(base.space, base.mode, args.points);
}

}  // namespace

TunerKind random_tuner_kind() { return tuner_kind(true, read_no_args, make_random); }

TunerKind grid_search_tuner_kind() { return tuner_kind(false, read_grid_search_args, make_grid_search); }

}  // namespace vdsr::hpo
