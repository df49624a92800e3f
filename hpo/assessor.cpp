#include "hpo/assessor.h"

#include <algorithm>

#include "vdsr/util/error.h"

namespace vdsr::hpo {

MedianStop MedianStop::from_config(const json& cfg, const std::string& where) {
  if (!cfg.is_object()) throw Error(where + ": expected an object {\"name\": \"Medianstop\", \"classArgs\": {..}}");
  for (auto it = cfg.begin(); it != cfg.end(); ++it)
    if (it.key() != "name" && it.key() != "classArgs")
      throw Error(where + ": unknown key '" + it.key() + "'; expected name, classArgs");
  if (!cfg.contains("name") || cfg["name"] != "Medianstop")
    throw Error(where + ".name: expected \"Medianstop\" (the only assessor), got " +
                (cfg.contains("name") ? cfg["name"].dump() : std::string("nothing")));
  const json args = cfg.value("classArgs", json::object());
  if (!args.is_object()) throw Error(where + ".classArgs: expected an object");
  OptimizeMode mode = OptimizeMode::Maximize;  // NNI Medianstop's default
  int start_step = 0;
  for (auto it = args.begin(); it != args.end(); ++it) {
    if (it.key() == "optimize_mode") {
      mode = parse_optimize_mode(it.value(), where + ".classArgs.optimize_mode");
    } else if (it.key() == "start_step") {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0)
        throw Error(where + ".classArgs.start_step: expected an integer >= 0, got " + it.value().dump());
      start_step = it.value().get<int>();
    } else {
      throw Error(where + ".classArgs: unknown key '" + it.key() + "'; expected optimize_mode, start_step");
    }
  }
  return MedianStop(mode, start_step);
}

void MedianStop::completed(int trial_id, const std::vector<double>& intermediate) {
  std::vector<double> avg;
  double sum = 0;
  for (size_t i = 0; i < intermediate.size(); ++i) {
    sum += intermediate[i];
    avg.push_back(sum / static_cast<double>(i + 1));
  }
  running_avg_[trial_id] = std::move(avg);
}

bool MedianStop::should_stop(const std::vector<double>& intermediate) const {
  const size_t step = intermediate.size();
  if (step == 0 || step < static_cast<size_t>(start_step_)) return false;
  std::vector<double> at_step;
  for (const auto& [id, avg] : running_avg_)
    if (avg.size() >= step) at_step.push_back(avg[step - 1]);
  if (at_step.empty()) return false;
  std::sort(at_step.begin(), at_step.end());
  const size_t n = at_step.size();
  const double median = n % 2 ? at_step[n / 2] : 0.5 * (at_step[n / 2 - 1] + at_step[n / 2]);
  if (mode_ == OptimizeMode::Maximize)
    return *std::max_element(intermediate.begin(), intermediate.end()) < median;
  return *std::min_element(intermediate.begin(), intermediate.end()) > median;
}

}  // namespace vdsr::hpo
