#pragma once
// A trial's side of the trial protocol (docs/trial-protocol.md): the environment the tuner sets, and the
// JSON-lines metrics file the tuner reads while the trial runs.
#include <filesystem>
#include <optional>

#include "vdsr/train/trainer.h"

namespace vdsr::train {

// Empty paths outside a trial.
struct TrialEnvironment {
  std::filesystem::path dir;      // VDSR_TRIAL_DIR: the trial's folder
  std::filesystem::path params;   // VDSR_TRIAL_PARAMS: its parameters (JSON)
  std::filesystem::path metrics;  // VDSR_TRIAL_METRICS: where its results go (JSON lines)

  static TrialEnvironment from_env();
};

class TrialMetrics {
 public:
  // An empty path: not a trial, nothing is written.
  explicit TrialMetrics(std::filesystem::path path) : path_(std::move(path)) {}

  // {"type": "intermediate", "step": <epoch>, "value": {...}} for a finished or cut-short epoch.
  void intermediate(const EpochRecord& epoch) const;
  // {"type": "final", "value": {...}}: the run's last loss (0 without any epoch) and PSNR.
  void final_result(double loss, const std::optional<double>& psnr) const;

 private:
  void append(const nlohmann::json& line) const;

  std::filesystem::path path_;
};

// {"default": psnr, "loss": loss, "psnr": psnr} with validation (the tuner maximizes the held-out PSNR);
// {"default": loss, "loss": loss} without (the tuner minimizes the training loss).
nlohmann::json metric_value(double loss, const std::optional<double>& psnr);

}  // namespace vdsr::train
