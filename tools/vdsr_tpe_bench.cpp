// Benchmark driver for scripts/bench/tpe (not a test): runs a tuner on a standard test function and
// prints every trial's parameters and objective, one JSON line per seed; or times suggestions on a long
// history.
//   vdsr-tpe-bench run FUNCTION TUNER_JSON TRIALS FIRST_SEED SEEDS [CONCURRENCY]
//   vdsr-tpe-bench timing FINISHED_TRIALS SUGGESTIONS
//   vdsr-tpe-bench space FUNCTION        (the function's search space, NNI format)
// With CONCURRENCY c > 1, c trials are always running and the oldest finishes first, as in an
// experiment with trialConcurrency c whose trials take equally long.
#include <chrono>
#include <cmath>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "hpo/search_space.h"
#include "hpo/tpe.h"
#include "hpo/tuner_registry.h"
#include "vdsr/util/error.h"
#include "vdsr/util/json_io.h"

using namespace vdsr::hpo;

namespace {

// The same spaces and formulas are in scripts/bench/tpe/functions.py (Optuna and the cross-check).
struct Function {
  const char* space;
  std::function<double(const json&)> f;
};

double sq(double x) { return x * x; }

double branin(const json& p) {
  const double x1 = p["x1"], x2 = p["x2"];
  const double b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, t = 1 / (8 * M_PI);
  return sq(x2 - b * x1 * x1 + c * x1 - 6) + 10 * (1 - t) * std::cos(x1) + 10;
}

double hartmann6(const json& p) {
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
    for (int j = 0; j < 6; ++j) inner += A[i][j] * sq(p["x" + std::to_string(j + 1)].get<double>() - P[i][j]);
    sum += alpha[i] * std::exp(-inner);
  }
  return -sum;
}

double ellipsoid5(const json& p) {
  static const double shift[5] = {1.2, -2.3, 0.7, 3.1, -0.4};
  double s = 0;
  for (int i = 0; i < 5; ++i) s += (i + 1) * sq(p["x" + std::to_string(i + 1)].get<double>() - shift[i]);
  return s;
}

double styblinski4(const json& p) {
  double s = 0;
  for (int i = 1; i <= 4; ++i) {
    const double x = p["x" + std::to_string(i)];
    s += x * x * x * x - 16 * x * x + 5 * x;
  }
  return 0.5 * s;
}

double levy3(const json& p) {
  double w[3];
  for (int i = 0; i < 3; ++i) w[i] = 1 + (p["x" + std::to_string(i + 1)].get<double>() - 1) / 4;
  double s = sq(std::sin(M_PI * w[0]));
  for (int i = 0; i < 2; ++i) s += sq(w[i] - 1) * (1 + 10 * sq(std::sin(M_PI * w[i] + 1)));
  return s + sq(w[2] - 1) * (1 + sq(std::sin(2 * M_PI * w[2])));
}

double logscale3(const json& p) {
  const double u = std::log10(p["lr"].get<double>()) + 2.5, v = std::log10(p["wd"].get<double>()) + 4,
               w = std::log10(p["eps"].get<double>()) + 8;
  return u * u + 0.5 * v * v + 0.2 * w * w + 0.5 * u * v;
}

double intquant4(const json& p) {
  const double layers = p["layers"], width = p["width"], dropout = p["dropout"], batch = p["batch"];
  return sq((layers - 11) / 6) + 0.5 * sq(std::log2(width) - std::log2(192.0)) + sq((dropout - 0.35) / 0.2) +
         0.3 * (1 - std::cos(2 * M_PI * (batch - 40) / 64));
}

double categorical5(const json& p) {
  static const std::map<std::string, double> opt_pen = {{"sgd", 0.3}, {"momentum", 0.1}, {"adam", 0.05},
                                                        {"adamw", 0.0}, {"rmsprop", 0.2}, {"adagrad", 0.4}};
  static const std::map<std::string, double> opt_lr = {{"sgd", -1}, {"momentum", -1.5}, {"adam", -3},
                                                       {"adamw", -3}, {"rmsprop", -2.5}, {"adagrad", -1.5}};
  static const std::map<std::string, double> act_pen = {{"relu", 0.1}, {"gelu", 0.0}, {"tanh", 0.3},
                                                        {"sigmoid", 0.6}, {"elu", 0.15}, {"silu", 0.05}};
  static const std::map<std::string, double> norm_pen = {{"none", 0.4}, {"batch", 0.0}, {"layer", 0.1},
                                                         {"group", 0.2}};
  const std::string opt = p["optimizer"], act = p["activation"], norm = p["norm"], init = p["init"];
  const bool rectifier = act == "relu" || act == "elu" || act == "silu" || act == "gelu";
  const double init_pen = init == "xavier" ? 0.1 : init == "kaiming" ? (rectifier ? 0.0 : 0.2) : 0.05;
  const double plain_sgd = norm == "none" && (opt == "sgd" || opt == "momentum") ? 0.3 : 0.0;
  return opt_pen.at(opt) + act_pen.at(act) + norm_pen.at(norm) + init_pen + plain_sgd +
         0.5 * sq(std::log10(p["lr"].get<double>()) - opt_lr.at(opt));
}

double nested(const json& p) {
  const json& m = p["model"];
  const std::string name = m["_name"];
  double f = sq(p["scale"].get<double>() - 0.6);
  if (name == "linear")
    return f + 0.5 + 0.3 * sq(std::log10(m["lr"].get<double>()) + 2) + 0.1 * sq(std::log10(m["l2"].get<double>()) + 3);
  if (name == "tree")
    return f + 0.2 + 0.5 * sq((m["depth"].get<double>() - 6) / 3) + 0.2 * sq((m["eta"].get<double>() - 0.3) / 0.2);
  static const std::map<int, double> width_pen = {{32, 0.3}, {64, 0.1}, {128, 0.0}, {256, 0.05}};
  return f + 0.3 * sq((m["layers"].get<double>() - 4) / 2) + width_pen.at(m["width"].get<int>()) +
         0.2 * sq((m["dropout"].get<double>() - 0.2) / 0.3);
}

double mixed5(const json& p) {
  static const std::map<std::string, double> act_lr = {{"relu", -2}, {"tanh", -1}, {"gelu", -2.5}};
  static const std::map<std::string, double> act_pen = {{"relu", 0.05}, {"tanh", 0.2}, {"gelu", 0.0}};
  const std::string act = p["act"];
  return 0.5 * sq(std::log10(p["lr"].get<double>()) - act_lr.at(act)) + act_pen.at(act) +
         0.05 * sq(std::log2(p["units"].get<double>()) - 7) + 2 * sq(p["drop"].get<double>() - 0.3) +
         0.03 * sq(p["layers"].get<double>() - 3);
}

double seedlike(const json& p) {
  // A positive-definite quadratic in (log10 lr, momentum) plus clip and categorical terms; minimum 0 at
  // lr 0.2, momentum 0.9, clip 0.4, batchSize 256, weight_decay 1e-5.
  const double u = std::log10(p["lr"].get<double>()) - std::log10(0.2);
  const double v = p["momentum"].get<double>() - 0.9;
  const double w = p["clip"].get<double>() - 0.4;
  const int bs = p["batchSize"];
  const double bs_pen = bs == 64 ? 0.3 : bs == 128 ? 0.1 : bs == 256 ? 0.0 : 0.2;
  const double wd_pen = p["weight_decay"].get<double>() > 5e-5 ? 0.05 : 0.0;
  return 4 * u * u + 2 * u * v + 2 * v * v + w * w + bs_pen + wd_pen;
}

const std::map<std::string, Function>& functions() {
  static const std::map<std::string, Function> fs = {
      {"ellipsoid5", {R"({"x1": {"_type": "uniform", "_value": [-5, 5]}, "x2": {"_type": "uniform", "_value": [-5, 5]},
                          "x3": {"_type": "uniform", "_value": [-5, 5]}, "x4": {"_type": "uniform", "_value": [-5, 5]},
                          "x5": {"_type": "uniform", "_value": [-5, 5]}})", ellipsoid5}},
      {"branin", {R"({"x1": {"_type": "uniform", "_value": [-5, 10]}, "x2": {"_type": "uniform", "_value": [0, 15]}})",
                  branin}},
      {"hartmann6", {R"({"x1": {"_type": "uniform", "_value": [0, 1]}, "x2": {"_type": "uniform", "_value": [0, 1]},
                         "x3": {"_type": "uniform", "_value": [0, 1]}, "x4": {"_type": "uniform", "_value": [0, 1]},
                         "x5": {"_type": "uniform", "_value": [0, 1]}, "x6": {"_type": "uniform", "_value": [0, 1]}})",
                     hartmann6}},
      {"styblinski4", {R"({"x1": {"_type": "uniform", "_value": [-5, 5]}, "x2": {"_type": "uniform", "_value": [-5, 5]},
                           "x3": {"_type": "uniform", "_value": [-5, 5]}, "x4": {"_type": "uniform", "_value": [-5, 5]}})",
                       styblinski4}},
      {"levy3", {R"({"x1": {"_type": "uniform", "_value": [-10, 10]}, "x2": {"_type": "uniform", "_value": [-10, 10]},
                     "x3": {"_type": "uniform", "_value": [-10, 10]}})", levy3}},
      {"logscale3", {R"({"lr": {"_type": "loguniform", "_value": [1e-5, 1]},
                         "wd": {"_type": "loguniform", "_value": [1e-7, 0.1]},
                         "eps": {"_type": "loguniform", "_value": [1e-10, 0.001]}})", logscale3}},
      {"intquant4", {R"({"layers": {"_type": "randint", "_value": [1, 33]},
                         "width": {"_type": "qloguniform", "_value": [16, 1024, 16]},
                         "dropout": {"_type": "quniform", "_value": [0, 0.8, 0.05]},
                         "batch": {"_type": "quniform", "_value": [8, 256, 8]}})", intquant4}},
      {"categorical5", {R"({"optimizer": {"_type": "choice", "_value": ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad"]},
                            "activation": {"_type": "choice", "_value": ["relu", "gelu", "tanh", "sigmoid", "elu", "silu"]},
                            "norm": {"_type": "choice", "_value": ["none", "batch", "layer", "group"]},
                            "init": {"_type": "choice", "_value": ["xavier", "kaiming", "orthogonal"]},
                            "lr": {"_type": "loguniform", "_value": [0.0001, 1]}})", categorical5}},
      {"nested", {R"({"model": {"_type": "choice", "_value": [
                         {"_name": "linear", "lr": {"_type": "loguniform", "_value": [0.0001, 1]},
                                             "l2": {"_type": "loguniform", "_value": [1e-6, 1]}},
                         {"_name": "tree", "depth": {"_type": "randint", "_value": [1, 16]},
                                           "eta": {"_type": "uniform", "_value": [0.01, 1]}},
                         {"_name": "net", "layers": {"_type": "randint", "_value": [1, 9]},
                                          "width": {"_type": "choice", "_value": [32, 64, 128, 256]},
                                          "dropout": {"_type": "uniform", "_value": [0, 0.7]}}]},
                      "scale": {"_type": "uniform", "_value": [0, 1]}})", nested}},
      {"mixed5", {R"({"lr": {"_type": "loguniform", "_value": [0.0001, 1]},
                      "units": {"_type": "choice", "_value": [16, 32, 64, 128, 256, 512]},
                      "drop": {"_type": "quniform", "_value": [0, 0.9, 0.1]},
                      "layers": {"_type": "randint", "_value": [1, 9]},
                      "act": {"_type": "choice", "_value": ["relu", "tanh", "gelu"]}})", mixed5}},
      {"seedlike", {R"({"weight_decay": {"_type": "choice", "_value": [0.0001, 0.00001]},
                        "lr": {"_type": "loguniform", "_value": [0.05, 1]},
                        "momentum": {"_type": "uniform", "_value": [0, 1]},
                        "batchSize": {"_type": "choice", "_value": [64, 128, 256, 512]},
                        "clip": {"_type": "uniform", "_value": [0, 1]}})", seedlike}},
  };
  return fs;
}

const Function& function(const std::string& name) {
  auto it = functions().find(name);
  if (it != functions().end()) return it->second;
  std::string names;
  for (const auto& [n, f] : functions()) names += (names.empty() ? "" : ", ") + n;
  throw vdsr::Error("unknown function '" + name + "'; expected one of " + names);
}

// One experiment: `concurrency` trials running at a time, the oldest finishing first.
json run_one(const SearchSpace& space, const Function& fn, Tuner& tuner, int trials, int concurrency) {
  json values = json::array(), params = json::array();
  std::deque<std::pair<int, Point>> running;
  int next = 1;
  while (static_cast<int>(values.size()) < trials) {
    while (next <= trials && static_cast<int>(running.size()) < concurrency) {
      std::optional<Point> p = tuner.suggest(next);
      if (!p) break;
      running.emplace_back(next++, *p);
    }
    if (running.empty()) break;
    const auto [id, p] = running.front();
    running.pop_front();
    const json ps = space.to_params(p);
    const double y = fn.f(ps);
    tuner.observe(id, p, y);
    values.push_back(y);
    params.push_back(ps);
  }
  return {{"values", values}, {"params", params}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "run" && (argc == 7 || argc == 8)) {
      const Function& fn = function(argv[2]);
      const json tuner_cfg = vdsr::parse_json(argv[3], "the tuner config argument");
      const int trials = std::stoi(argv[4]), first = std::stoi(argv[5]), seeds = std::stoi(argv[6]);
      const int concurrency = argc == 8 ? std::stoi(argv[7]) : 1;
      if (trials < 1 || seeds < 0 || concurrency < 1) throw vdsr::Error("TRIALS and CONCURRENCY must be >= 1, SEEDS >= 0");
      const SearchSpace space = SearchSpace::parse(json::parse(fn.space), argv[2]);
      for (int s = first; s < first + seeds; ++s) {
        json cfg = tuner_cfg;
        const TunerKind* kind = find_tuner(cfg.value("name", ""));
        if (kind && kind->seeded) cfg["classArgs"]["seed"] = s;
        // The budget, as vdsr-tune passes maxTrialNumber.
        auto tuner = make_tuner(cfg, space, "tuner", trials);
        json out = run_one(space, fn, *tuner, trials, concurrency);
        out["seed"] = s;
        std::cout << out.dump() << "\n" << std::flush;
      }
      return 0;
    }
    if (mode == "timing" && argc == 4) {
      const int finished = std::stoi(argv[2]), n = std::stoi(argv[3]);
      const Function& fn = function("seedlike");
      const SearchSpace space = SearchSpace::parse(json::parse(fn.space), "seedlike");
      TpeTuner tuner(space, OptimizeMode::Minimize, 1, TpeArgs{});
      for (int id = 1; id <= finished; ++id) {
        Point p = *tuner.suggest(id);
        tuner.observe(id, p, fn.f(space.to_params(p)));
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        const int id = finished + 1 + i;
        Point p = *tuner.suggest(id);
        // Keep the history at `finished` trials plus the ones being timed, as in a long experiment.
        tuner.observe(id, p, fn.f(space.to_params(p)));
      }
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::cout << json{{"finished", finished}, {"suggestions", n}, {"ms_per_suggestion", ms / n}}.dump() << "\n";
      return 0;
    }
    if (mode == "space" && argc == 3) {
      std::cout << json::parse(function(argv[2]).space).dump() << "\n";
      return 0;
    }
    std::cerr << "usage: vdsr-tpe-bench run FUNCTION TUNER_JSON TRIALS FIRST_SEED SEEDS [CONCURRENCY]\n"
                 "       vdsr-tpe-bench timing FINISHED_TRIALS SUGGESTIONS\n"
                 "       vdsr-tpe-bench space FUNCTION\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
}
