#pragma once
// Runs an experiment: asks the tuner for parameters, runs trials (trialConcurrency at a time) under the
// protocol in docs/trial-protocol.md through the configured training service (local processes or Slurm
// jobs), records everything in the store, applies Medianstop and the time limits, and resumes an
// interrupted experiment from its store (adopting Slurm jobs that still run).
#include <atomic>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

#include "hpo/store.h"
#include "vdsr/util/progress.h"

namespace vdsr::hpo {

// What one line of a trial's metrics file may hold (docs/trial-protocol.md): the value is stored and
// exported, so it is bounded before anything keeps it.
constexpr std::size_t kMaxMetricLineBytes = 4096;
constexpr int kMaxMetricDepth = 8;

// One line of a trial's metrics file (any bytes). Throws vdsr::Error describing the problem; the message
// is valid UTF-8 whatever the line holds.
Metric parse_metric_line(const std::string& line);

// What happened in an experiment, for whoever follows it (the live page): the store already holds it.
enum class EventKind { RunStarted, TrialStarted, Intermediate, TrialEnded, Finished, Interrupted };

struct ExperimentEvent {
  EventKind kind;
  int trial_id = 0;                // the trial's events only
  const TrialStorage& store;
  double elapsed = 0;              // experiment seconds over all runs
};

struct RunOptions {
  ProgressMode progress = ProgressMode::off;  // the live status line (vdsr/util/progress.h)
  const std::atomic<bool>* stop = nullptr;  // set by a signal handler: kill trials, mark them, return
  double poll_seconds = 0.05;
  double kill_grace_seconds = 2.0;   // SIGTERM, then SIGKILL after this long
  std::function<void(const ExperimentEvent&)> on_event;  // called after each event is stored
};

enum class RunEnd { Finished, Interrupted };

// Runs (or continues) the experiment whose store is in `dir`; the store must exist. Interrupted trials
// from an earlier run are marked INTERRUPTED and run again with the same parameters.
RunEnd run_experiment(const std::filesystem::path& dir, const RunOptions& options);

}  // namespace vdsr::hpo
