#pragma once
// Tuners in NNI's spirit: suggest parameters for a trial id, observe a trial's result. Every tuner
// keeps the history of what it suggested, so duplicates in discrete spaces can be avoided and a
// finished discrete space ends the experiment cleanly (suggest returns nullopt). Tuners are built from
// the experiment config through hpo/tuner_registry.h.
#include <map>
#include <optional>
#include <set>
#include <string>

#include "hpo/search_space.h"
#include "vdsr/util/enum_names.h"

namespace vdsr::hpo {

enum class OptimizeMode { Minimize, Maximize };
VDSR_ENUM_NAMES(OptimizeMode, {{OptimizeMode::Minimize, "minimize"}, {OptimizeMode::Maximize, "maximize"}})

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
  // One line on how the tuner will search, printed when an experiment starts (empty: nothing to say).
  virtual std::string plan() const { return {}; }

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

}  // namespace vdsr::hpo
