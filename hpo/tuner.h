#pragma once
// Tuners in NNI's spirit: suggest parameters for a trial id, observe a trial's result. Every tuner
// keeps the history of what it suggested, so duplicates in discrete spaces can be avoided and a
// finished discrete space ends the experiment cleanly (suggest returns nullopt).
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "hpo/search_space.h"

namespace vdsr::hpo {

enum class OptimizeMode { Minimize, Maximize };
OptimizeMode parse_optimize_mode(const json& v, const std::string& where);

class Tuner {
 public:
  explicit Tuner(const SearchSpace& space, OptimizeMode mode) : space_(space), mode_(mode) {}
  virtual ~Tuner() = default;

  // Parameters for a new trial, or nullopt when a discrete space has no unseen point left. The
  // suggestion counts as running until observed.
  virtual std::optional<Point> suggest(int trial_id) = 0;
  // Declares a trial in progress with given parameters (a rerun after resume).
  void running(int trial_id, const Point& p);
  // A trial's result as reported (nullopt: it failed and gave no usable value).
  void observe(int trial_id, const Point& p, std::optional<double> value);

  const SearchSpace& space() const { return space_; }
  OptimizeMode mode() const { return mode_; }

 protected:
  struct Entry {
    Point point;
    bool done = false;
    std::optional<double> loss;  // the value turned into "lower is better"
  };
  double to_loss(double value) const { return mode_ == OptimizeMode::Maximize ? -value : value; }
  bool seen(const Point& p) const { return seen_.count(SearchSpace::key(p)) > 0; }
  void remember(int trial_id, const Point& p);
  // For discrete spaces: `p` when unseen, else a few fresh prior draws, else a random unseen grid point;
  // nullopt when every point was tried. Continuous spaces return `p` unchanged.
  std::optional<Point> dedup(const Point& p, Rng& rng);

  const SearchSpace& space_;
  OptimizeMode mode_;
  std::map<int, Entry> history_;  // ordered by trial id, which is also trial age

 private:
  std::set<std::string> seen_;
};

class RandomTuner : public Tuner {
 public:
  RandomTuner(const SearchSpace& space, OptimizeMode mode, uint64_t seed)
      : Tuner(space, mode), seed_(seed) {}
  std::optional<Point> suggest(int trial_id) override;

 private:
  uint64_t seed_;
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

// Builds a tuner from NNI's `tuner: {name, classArgs}`; `where` prefixes error messages.
std::unique_ptr<Tuner> make_tuner(const json& tuner_config, const SearchSpace& space, const std::string& where);

}  // namespace vdsr::hpo
