#include "hpo/tuner.h"

#include <cmath>

namespace vdsr::hpo {

namespace {

// Above this many points the exhaustive fallback of dedup() is not built; random redraws still run.
constexpr double kMaxEnumerate = 2e6;

}  // namespace

void Tuner::remember(int trial_id, const Point& p) {
  history_[trial_id] = Entry{p, false, std::nullopt};
  seen_.insert(SearchSpace::key(p));
}

void Tuner::running(int trial_id, const Point& p) { remember(trial_id, p); }

void Tuner::observe(int trial_id, const Point& p, std::optional<double> value) {
  Entry& e = history_[trial_id];
  e.point = p;
  e.done = true;
  e.loss = value && std::isfinite(*value) ? std::optional<double>(to_loss(*value)) : std::nullopt;
  seen_.insert(SearchSpace::key(p));
}

std::optional<Point> Tuner::dedup(const Point& p, Rng& rng) {
  if (!space_.is_discrete() || !seen(p)) return p;
  for (int attempt = 0; attempt < 32; ++attempt) {
    Point q = space_.sample(rng);
    if (!seen(q)) return q;
  }
  if (space_.grid_size(kMaxEnumerate) >= kMaxEnumerate) return std::nullopt;
  std::vector<Point> unseen;
  for (Point& q : space_.enumerate())
    if (!seen(q)) unseen.push_back(std::move(q));
  if (unseen.empty()) return std::nullopt;
  return unseen[rng.below(unseen.size())];
}

}  // namespace vdsr::hpo
