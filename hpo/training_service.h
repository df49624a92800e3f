#pragma once
// Where trials run: as local processes (platform "local") or as Slurm jobs (platform "slurm"). The
// scheduler keeps the trial protocol (folders, parameters, metrics) and decides outcomes; a service starts
// a trial's command, says whether and how it ended, and stops it on request. Both record the trial's
// handle (process group, or job ID and attempt) in the store before start() returns, so that a resumed
// experiment finds every trial that was started.
#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hpo/config.h"
#include "hpo/store.h"

namespace vdsr::hpo {

// One run (attempt) of a trial, as the service tracks it.
struct Job {
  int trial_id = 0;
  fs::path dir;             // the trial folder
  int attempt = 1;          // 2, 3, ... for the retries of a Slurm trial
  pid_t pid = -1;           // local: the supervisor, also the process group
  std::string job_id;       // slurm: the job
  bool cancel_sent = false; // the tuner asked it to stop
  double cancel_time = 0;
  bool forced = false;      // local: SIGKILL sent after the grace period
  double waiting_since = 0; // slurm: first seen pending for a reason that may never clear
  std::string retry_reason; // slurm: requeued or preempted; cancelled, to be resubmitted once gone
};

// How a job ended.
struct JobEnd {
  enum class Kind {
    kExited,  // the command ran to its end: exit_code says how
    kFailed,  // the job failed around the command (killed, timeout, memory, never started): message says why
    kRetry,   // lost to the cluster (requeue, preemption, node failure, vanished): run the same trial again
  };
  Kind kind = Kind::kExited;
  std::optional<int> exit_code;
  std::string message;
  std::optional<double> ended_at;  // when it ended, if known (seconds since the epoch); else when seen

  static JobEnd exited(int code, std::optional<double> at = std::nullopt) { return {Kind::kExited, code, "", at}; }
  static JobEnd failed(std::string why) { return {Kind::kFailed, std::nullopt, std::move(why), std::nullopt}; }
  static JobEnd retry(std::string why) { return {Kind::kRetry, std::nullopt, std::move(why), std::nullopt}; }
};

// What the scheduler passes to start a trial.
struct TrialLaunch {
  std::string command;  // trialCommand, run with /bin/sh -c
  fs::path code_dir;    // its working directory
};

class TrainingService {
 public:
  virtual ~TrainingService() = default;
  // Seconds between two looks at the running jobs.
  virtual double poll_interval() const = 0;
  // Starts the job (its trial folder is ready); its handle is in the store when this returns. Throws
  // vdsr::Error when it cannot be started; the trial then fails with that message.
  virtual void start(Job& job, const TrialLaunch& launch) = 0;
  // One look at all the jobs (one squeue call for Slurm): the ends of those that have ended, by trial id.
  virtual std::map<int, JobEnd> poll(std::vector<Job*>& jobs) = 0;
  // Asks the job to stop (SIGTERM, or scancel); poll() reports its end.
  virtual void cancel(Job& job) = 0;
  // Stops every job and returns once they are all gone (Ctrl-C).
  virtual void stop_all(std::vector<Job*>& jobs) = 0;
  // For --resume: the jobs of trials left RUNNING that this service can keep watching (Slurm jobs run on
  // without the tuner); the others are ended here and rerun.
  virtual std::vector<Job> adopt(const std::vector<TrialRecord>& running) = 0;
};

// Checks what can be checked before an experiment starts (Slurm: the commands answer, the partition
// exists, `dir` is inside sharedDir); throws vdsr::Error naming the config (`where`) and the key.
void check_training_service(const ExperimentConfig& cfg, const fs::path& dir, const std::string& where);

// `dir` is the experiment folder; `poll_s` and `kill_grace_s` (SIGTERM, then SIGKILL this much later) are
// for local trials (Slurm polls every trainingService.pollInterval and kills after its KillWait).
std::unique_ptr<TrainingService> make_training_service(const ExperimentConfig& cfg, const fs::path& dir, Store& store,
                                                       double poll_s, double kill_grace_s);

// Where an attempt reports its results: `metrics.jsonl`, and `metrics.attempt<N>.jsonl` for a retry, so that
// a lost attempt whose process outlived its job cannot write into the results of the one that replaced it.
fs::path metrics_file(const Job& job);

// The protocol's environment variables for a trial (docs/trial-protocol.md), "KEY=value" each.
std::vector<std::string> trial_environment(const Job& job);

}  // namespace vdsr::hpo
