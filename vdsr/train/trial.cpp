#include "vdsr/train/trial.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace vdsr::train {

namespace {

std::filesystem::path env_path(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

TrialEnvironment TrialEnvironment::from_env() {
  return {env_path("VDSR_TRIAL_DIR"), env_path("VDSR_TRIAL_PARAMS"), env_path("VDSR_TRIAL_METRICS")};
}

nlohmann::json metric_value(double loss, const std::optional<double>& psnr) {
  nlohmann::json v = {{"default", psnr ? *psnr : loss}, {"loss", loss}};
  if (psnr) v["psnr"] = *psnr;
  return v;
}

void TrialMetrics::intermediate(const EpochRecord& epoch) const {
  append({{"type", "intermediate"}, {"step", epoch.epoch}, {"value", metric_value(epoch.loss, epoch.psnr)}});
}

void TrialMetrics::final_result(double loss, const std::optional<double>& psnr) const {
  append({{"type", "final"}, {"value", metric_value(loss, psnr)}});
}

// Flushed line by line: the tuner reads the file while the trial runs.
void TrialMetrics::append(const nlohmann::json& line) const {
  if (path_.empty()) return;
  std::ofstream out(path_, std::ios::app);
  out << line.dump() << "\n";
  out.flush();
  if (!out) throw std::runtime_error(path_.string() + ": cannot append the trial metrics");
}

}  // namespace vdsr::train
