#pragma once
// The one-command pipeline (docs/pipeline.md): a list of stages from a JSON config, each one or more
// commands with declared inputs and outputs, run in order into experiments/<name>/. A stage whose
// fingerprint (commands, derived files, inputs) is unchanged since it last finished, and whose outputs
// exist, is skipped, so a rerun after a crash or an edit redoes only what changed. The parts are listed
// in pipeline/CMakeLists.txt.
#include <atomic>
#include <filesystem>
#include <string>

#include "vdsr/util/progress.h"

namespace vdsr::pipeline {

struct Options {
  std::filesystem::path config;     // configs/pipeline.json
  std::string profile = "default";  // a key of the config's "profiles"
  std::string name;                 // experiment name (default: the profile's "name")
  std::string from;                 // force this stage and every later one
  std::string only;                 // run just this stage
  bool dry_run = false;             // print the plan, run nothing
  std::filesystem::path bootstrap;  // images to bootstrap an original model from (mode "bootstrap")
  int threads = 0;                  // ${threads} (0: all cores)
  std::filesystem::path bin;        // ${bin}: where the vdsr-* tools are
  std::filesystem::path root;       // ${root}: working directory of the stages; experiments/ lives here
  std::filesystem::path assets;     // ${assets}
  ProgressMode progress = ProgressMode::off;  // the live status of the running stage (vdsr/util/progress.h)
  const std::atomic<bool>* stop = nullptr;  // set by SIGINT/SIGTERM: stop the running stage, save state
};

// Runs the pipeline; returns the exit code: 0 done, 1 a stage failed, 130 interrupted. Throws
// vdsr::Error (exit 2) for a bad config, missing assets or a missing input.
int run(const Options& options);

}  // namespace vdsr::pipeline
