#include "hpo/assessor.h"

#include <algorithm>

#include "vdsr/util/fields.h"

namespace vdsr::hpo {

MedianStop MedianStop::from_config(const json& cfg, const std::string& where) {
  Fields f(cfg, where);
  const std::string name = f.required<std::string>("name");
  if (name != "Medianstop") f.fail("name", "expected \"Medianstop\" (the only assessor), got \"" + name + "\"");
  Fields args = f.object("classArgs");
  f.finish();
  const OptimizeMode mode = args.optional("optimize_mode", OptimizeMode::Maximize);  // NNI Medianstop's default
  const int start_step = args.optional("start_step", 0, Range::at_least(0));
  args.finish();
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
