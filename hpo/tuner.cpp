#include "hpo/tuner.h"

#include <cmath>

#include "hpo/tpe.h"
#include "vdsr/util/error.h"

namespace vdsr::hpo {

namespace {

// Above this many points the exhaustive fallback of dedup() is not built; random redraws still run.
constexpr double kMaxEnumerate = 2e6;

void check_keys(const json& obj, const std::set<std::string>& allowed, const std::string& where) {
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& k : allowed) list += (list.empty() ? "" : ", ") + k;
      throw Error(where + ": unknown key '" + it.key() + "'; expected one of " + list);
    }
}

int get_int(const json& obj, const char* key, int fallback, int min, const std::string& where) {
  if (!obj.contains(key)) return fallback;
  const json& v = obj[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min)
    throw Error(where + "." + key + ": expected an integer >= " + std::to_string(min) + ", got " + v.dump());
  return v.get<int>();
}

uint64_t get_seed(const json& args, const std::string& where) {
  if (!args.contains("seed")) throw Error(where + ".seed: missing (the experiment fills one in)");
  const json& v = args["seed"];
  if (!v.is_number_integer() || v.get<int64_t>() < 0)
    throw Error(where + ".seed: expected a non-negative integer, got " + v.dump());
  return v.get<uint64_t>();
}

}  // namespace

OptimizeMode parse_optimize_mode(const json& v, const std::string& where) {
  if (v.is_string() && v == "minimize") return OptimizeMode::Minimize;
  if (v.is_string() && v == "maximize") return OptimizeMode::Maximize;
  throw Error(where + ": expected \"minimize\" or \"maximize\", got " + v.dump());
}

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

std::unique_ptr<Tuner> make_tuner(const json& cfg, const SearchSpace& space, const std::string& where) {
  if (!cfg.is_object()) throw Error(where + ": expected an object {\"name\": .., \"classArgs\": {..}}");
  check_keys(cfg, {"name", "classArgs"}, where);
  if (!cfg.contains("name") || !cfg["name"].is_string())
    throw Error(where + ".name: missing; expected \"TPE\", \"Random\" or \"GridSearch\"");
  const std::string name = cfg["name"];
  const json args = cfg.value("classArgs", json::object());
  const std::string at = where + ".classArgs";
  if (!args.is_object()) throw Error(at + ": expected an object");
  OptimizeMode mode = args.contains("optimize_mode")
                          ? parse_optimize_mode(args["optimize_mode"], at + ".optimize_mode")
                          : OptimizeMode::Minimize;
  if (name == "TPE") {
    check_keys(args, {"optimize_mode", "seed", "tpe_args"}, at);
    TpeArgs t;
    if (args.contains("tpe_args")) {
      const json& ta = args["tpe_args"];
      const std::string tat = at + ".tpe_args";
      if (!ta.is_object()) throw Error(tat + ": expected an object");
      check_keys(ta, {"constant_liar_type", "n_startup_jobs", "n_ei_candidates", "linear_forgetting",
                      "prior_weight", "gamma", "gamma_mode", "multivariate"},
                 tat);
      if (ta.contains("constant_liar_type")) {
        const json& v = ta["constant_liar_type"];
        if (!v.is_string() || (v != "best" && v != "worst" && v != "mean" && v != "none"))
          throw Error(tat + ".constant_liar_type: expected \"best\", \"worst\", \"mean\" or \"none\", got " +
                      v.dump());
        t.constant_liar_type = v.get<std::string>();
      }
      t.n_startup_jobs = get_int(ta, "n_startup_jobs", t.n_startup_jobs, 0, tat);
      t.n_ei_candidates = get_int(ta, "n_ei_candidates", t.n_ei_candidates, 1, tat);
      t.linear_forgetting = get_int(ta, "linear_forgetting", t.linear_forgetting, 1, tat);
      if (ta.contains("prior_weight")) {
        const json& v = ta["prior_weight"];
        if (!v.is_number() || !(v.get<double>() > 0))
          throw Error(tat + ".prior_weight: expected a number > 0, got " + v.dump());
        t.prior_weight = v.get<double>();
      }
      if (ta.contains("gamma")) {
        const json& v = ta["gamma"];
        if (!v.is_number() || !(v.get<double>() > 0) || v.get<double>() > 1)
          throw Error(tat + ".gamma: expected a number in (0, 1], got " + v.dump());
        t.gamma = v.get<double>();
      }
      if (ta.contains("gamma_mode")) {
        const json& v = ta["gamma_mode"];
        if (!v.is_string() || (v != "sqrt" && v != "linear"))
          throw Error(tat + ".gamma_mode: expected \"sqrt\" or \"linear\", got " + v.dump());
        t.gamma_mode = v.get<std::string>();
      }
      if (ta.contains("multivariate")) {
        const json& v = ta["multivariate"];
        if (!v.is_boolean()) throw Error(tat + ".multivariate: expected true or false, got " + v.dump());
        t.multivariate = v.get<bool>();
      }
    }
    return std::make_unique<TpeTuner>(space, mode, get_seed(args, at), t);
  }
  if (name == "Random") {
    check_keys(args, {"optimize_mode", "seed"}, at);
    return std::make_unique<RandomTuner>(space, mode, get_seed(args, at));
  }
  if (name == "GridSearch") {
    check_keys(args, {"optimize_mode", "points"}, at);
    return std::make_unique<GridSearchTuner>(space, mode, get_int(args, "points", 5, 1, at));
  }
  throw Error(where + ".name: unknown tuner '" + name + "'; expected \"TPE\", \"Random\" or \"GridSearch\"");
}

}  // namespace vdsr::hpo
