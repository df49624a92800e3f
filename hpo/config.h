#pragma once
// The experiment configuration, with NNI's field names
// (https://nni.readthedocs.io/en/stable/reference/experiment_config.html); trials run as local processes
// or as Slurm jobs (trainingService, whose Slurm fields follow sbatch's own names).
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hpo/search_space.h"

namespace vdsr::hpo {

namespace fs = std::filesystem;

// trainingService {"platform": "slurm", ...}: one sbatch job per trial (docs/tuning.md).
struct SlurmConfig {
  std::string partition, account, qos;   // empty: the cluster's default
  std::string time;                      // per trial, in sbatch's --time format ("30", "1:00:00", "1-0")
  std::optional<int> cpus_per_task;
  std::string memory;                    // sbatch --mem, e.g. "4G"
  std::string gres;                      // e.g. "gpu:1"
  std::vector<std::string> sbatch_args;  // passed to sbatch as they are
  fs::path shared_dir;                   // absolute; the experiment folder must be inside it (empty: unchecked)
  int max_retries = 1;                   // resubmissions after a requeue, preemption or node failure
  double pending_timeout_s = 600;        // how long a job may wait for a node that is not available
  double poll_interval_s = 5;            // between two squeue calls
};

struct TrainingServiceConfig {
  std::string platform = "local";  // "local" or "slurm"
  SlurmConfig slurm;
  bool is_slurm() const { return platform == "slurm"; }
  json to_json() const;
};

struct ExperimentConfig {
  std::string name;
  json search_space;          // inlined even when the file named searchSpaceFile
  std::string trial_command;
  fs::path code_dir;          // absolute
  int concurrency = 1;
  std::optional<int> max_trials;  // unset: until the space or the time runs out
  double max_duration_s = std::numeric_limits<double>::infinity();
  double max_trial_duration_s = std::numeric_limits<double>::infinity();
  json tuner;                 // {name, classArgs} with the seed filled in
  json assessor;              // null when there is none
  TrainingServiceConfig service;

  // The effective configuration in NNI field names: what the store keeps and the report shows. It
  // parses back to the same config without needing the original file.
  json to_json() const;
};

// Parses and validates; `where` names the file; relative paths resolve against `base_dir`.
ExperimentConfig parse_config(const json& j, const std::string& where, const fs::path& base_dir);
ExperimentConfig load_config(const fs::path& path);
// The same from the file's text (vdsr/util/json_io.h limits); `where` names it in errors.
ExperimentConfig parse_config_text(std::string_view text, const std::string& where, const fs::path& base_dir);

// "1h", "30m", "45s", "2d", "1.5h" or a number of seconds; must be > 0.
double parse_duration(const json& v, const std::string& where);

// Throws vdsr::Error when the trial command's program can be neither found on PATH nor as a file
// (relative to the code directory). Shell builtins and keywords are accepted as they are.
void check_trial_command(const ExperimentConfig& cfg, const std::string& where);

}  // namespace vdsr::hpo
