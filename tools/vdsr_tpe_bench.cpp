// Benchmark driver for scripts/bench/tpe (not a test): runs a tuner on a standard test function and
// prints the objective of every trial, one JSON line per seed; or times suggestions on a long history.
//   vdsr-tpe-bench run FUNCTION TUNER_JSON TRIALS FIRST_SEED SEEDS
//   vdsr-tpe-bench timing FINISHED_TRIALS SUGGESTIONS
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>

#include "hpo/search_space.h"
#include "hpo/tpe.h"
#include "hpo/tuner_registry.h"
#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

using namespace vdsr::hpo;

namespace {

json space_of(const std::string& f) {
  if (f == "branin")
    return json::parse(R"({"x1": {"_type": "uniform", "_value": [-5, 10]},
                           "x2": {"_type": "uniform", "_value": [0, 15]}})");
  if (f == "hartmann6") {
    json s;
    for (int i = 1; i <= 6; ++i) s["x" + std::to_string(i)] = {{"_type", "uniform"}, {"_value", {0, 1}}};
    return s;
  }
  if (f == "seedlike")
    return json::parse(R"({"weight_decay": {"_type": "choice", "_value": [0.0001, 0.00001]},
                           "lr": {"_type": "loguniform", "_value": [0.05, 1]},
                           "momentum": {"_type": "uniform", "_value": [0, 1]},
                           "batchSize": {"_type": "choice", "_value": [64, 128, 256, 512]},
                           "clip": {"_type": "uniform", "_value": [0, 1]}})");
  throw vdsr::Error("unknown function '" + f + "'; expected branin, hartmann6 or seedlike");
}

// The same formulas are in scripts/bench/tpe/functions.py for Optuna and random search.
double objective(const std::string& f, const json& p) {
  if (f == "branin") {
    const double x1 = p["x1"], x2 = p["x2"];
    const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
    return std::pow(x2 - b * x1 * x1 + c * x1 - 6, 2) + 10 * (1 - t) * std::cos(x1) + 10;
  }
  if (f == "hartmann6") {
    static const double A[4][6] = {{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14},
                                   {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}};
    static const double P[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                   {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                   {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                   {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
    static const double alpha[4] = {1.0, 1.2, 3.0, 3.2};
    double sum = 0;
    for (int i = 0; i < 4; ++i) {
      double inner = 0;
      for (int j = 0; j < 6; ++j) {
        const double x = p["x" + std::to_string(j + 1)];
        inner += A[i][j] * (x - P[i][j]) * (x - P[i][j]);
      }
      sum += alpha[i] * std::exp(-inner);
    }
    return -sum;
  }
  // seedlike: a positive-definite quadratic in (log10 lr, momentum) plus clip and categorical terms;
  // minimum 0 at lr 0.2, momentum 0.9, clip 0.4, batchSize 256, weight_decay 1e-5.
  const double u = std::log10(p["lr"].get<double>()) - std::log10(0.2);
  const double v = p["momentum"].get<double>() - 0.9;
  const double w = p["clip"].get<double>() - 0.4;
  const int bs = p["batchSize"];
  const double bs_pen = bs == 64 ? 0.3 : bs == 128 ? 0.1 : bs == 256 ? 0.0 : 0.2;
  const double wd_pen = p["weight_decay"].get<double>() > 5e-5 ? 0.05 : 0.0;
  return 4 * u * u + 2 * u * v + 2 * v * v + w * w + bs_pen + wd_pen;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "run" && argc == 7) {
      const std::string f = argv[2];
      const json tuner_cfg = vdsr::parse_json(argv[3], "the tuner config argument");
      const int trials = std::stoi(argv[4]), first = std::stoi(argv[5]), seeds = std::stoi(argv[6]);
      const SearchSpace space = SearchSpace::parse(space_of(f), f);
      for (int s = first; s < first + seeds; ++s) {
        json cfg = tuner_cfg;
        const TunerKind* kind = find_tuner(cfg.value("name", ""));
        if (kind && kind->seeded) cfg["classArgs"]["seed"] = s;
        auto tuner = make_tuner(cfg, space, "tuner", trials);  // the budget, as vdsr-tune passes maxTrialNumber
        json values = json::array();
        for (int id = 1; id <= trials; ++id) {
          std::optional<Point> p = tuner->suggest(id);
          if (!p) break;
          const double y = objective(f, space.to_params(*p));
          tuner->observe(id, *p, y);
          values.push_back(y);
        }
        std::cout << json{{"seed", s}, {"values", values}}.dump() << "\n" << std::flush;
      }
      return 0;
    }
    if (mode == "timing" && argc == 4) {
      const int finished = std::stoi(argv[2]), n = std::stoi(argv[3]);
      const SearchSpace space = SearchSpace::parse(space_of("seedlike"), "seedlike");
      TpeTuner tuner(space, OptimizeMode::Minimize, 1, TpeArgs{});
      for (int id = 1; id <= finished; ++id) {
        Point p = *tuner.suggest(id);
        tuner.observe(id, p, objective("seedlike", space.to_params(p)));
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        const int id = finished + 1 + i;
        Point p = *tuner.suggest(id);
        // Keep the history at `finished` trials plus the ones being timed, as in a long experiment.
        tuner.observe(id, p, objective("seedlike", space.to_params(p)));
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::cout << json{{"finished", finished}, {"suggestions", n}, {"ms_per_suggestion", ms / n}}.dump() << "\n";
      return 0;
    }
    std::cerr << "usage: vdsr-tpe-bench run FUNCTION TUNER_JSON TRIALS FIRST_SEED SEEDS\n"
                 "       vdsr-tpe-bench timing FINISHED_TRIALS SUGGESTIONS\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
