#pragma once
// vdsr-prune's job: a pruning config (an NNI config_list and its settings) → a narrower checkpoint, its
// masks and a report with params, MACs, latency and PSNR before and after, optionally fine-tuned.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "compress/pruner.h"
#include "compress/reconstruct.h"
#include "vdsr/inference.h"
#include "vdsr/train/trainer.h"

namespace vdsr::compress {

// Least-squares reconstruction after pruning (compress/reconstruct.h), on calibration patches of a vdsr-data file.
struct ReconstructSettings {
  std::string data;      // HDF5 patches (vdsr-data); their bicubic inputs calibrate
  int64_t patches = 64;   // calibration patches, spread evenly over the file
  ReconstructOptions options;
};

struct PruneSettings {
  nlohmann::json config_list;
  std::string pruner = "l1", mode = "normal";
  int round_to = 8;
  std::vector<int64_t> dummy_input{1, 1, 256, 256};  // latency input [N, 1, H, W]
  std::string model, output;                          // empty: chosen by the tool
  std::string dataset = "Set5";                       // eval
  std::vector<int> scales{2, 3, 4};
  std::optional<ReconstructSettings> reconstruction;  // absent: plain pruning
  nlohmann::json finetune;                            // as given, for the report; null when absent
  std::optional<train::TrainOptions> train;           // read from it; the job sets paths and device
};

// A bare config_list array, or an object {pruner, config_list, mode, round_to, dummy_input, model, output,
// reconstruction {data, patches, samples, ridge, seed}, eval {dataset, scales}, finetune {data, steps | epochs,
// the hyper-parameters, ...}}.
PruneSettings read_prune_settings(const std::filesystem::path& path);
// The same from the config's text (vdsr/util/json_io.h limits) or its parsed JSON; `where` names it in errors.
// The config_list itself is checked by make_plan (compress/plan.h), against the model's layers.
PruneSettings parse_prune_settings(std::string_view text, const std::string& where);
PruneSettings prune_settings_from_json(const nlohmann::json& j, const std::string& where);

// --sparsity: the sparsity keys of every entry that is not an exclude entry set to `sparsity` (in [0, 1)).
void override_sparsity(nlohmann::json& config_list, double sparsity);

struct JobOptions {
  Device device;
  int threads = 1;        // as configured, for the report
  int latency_runs = 5;   // timed runs per model
  bool eval = true;       // PSNR before and after
  std::string config_path;  // names the config in errors
};

class PruneJob {
 public:
  // Everything that can be wrong with the input (pruner, mode, plan, dataset, fine-tune data) is checked
  // here, before anything is written.
  PruneJob(PruneSettings settings, JobOptions options);

  // "Pruning plan (<pruner>, mode <mode>) for <model>" and the plan's table.
  std::string describe_plan() const;
  const PruneSettings& settings() const { return settings_; }
  std::filesystem::path out_dir() const { return settings_.output; }

  // Measures latency and quality, then writes <out>/pruned.ckpt, masks.json (finetuned.ckpt) and the report
  // to `report_file`, and returns the report. A failure removes what the run wrote (and the output folder
  // when the run created it).
  nlohmann::json run(const std::filesystem::path& report_file);

 private:
  void check_reconstruction() const;
  bool filter_pruning() const;
  nlohmann::json reconstruct_pruned(PruneResult& result) const;
  std::filesystem::path save_pruned(PruneResult& result) const;
  nlohmann::json prune_report(const PruneResult& result, const std::filesystem::path& pruned_path) const;
  void add_latency(const Checkpoint& pruned, nlohmann::json& report) const;
  std::filesystem::path add_finetuned(nlohmann::json& report) const;

  PruneSettings settings_;
  JobOptions options_;
  Pruner pruner_;
  PlanOptions plan_options_;
  Checkpoint original_;
  Plan plan_;
  std::vector<std::filesystem::path> images_;
};

}  // namespace vdsr::compress
