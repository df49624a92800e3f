#pragma once
// Trials as Slurm jobs: one `sbatch --parsable` job per attempt, watched with one squeue call per poll
// (sacct, where accounting is on, for jobs squeue has forgotten), and an exit record that the job script
// writes into the trial folder. The state map is documented in docs/tuning.md.
#include <memory>
#include <optional>
#include <string>

#include "hpo/training_service.h"

namespace vdsr::hpo {

// Throws vdsr::Error naming the config (`where`) and the trainingService key when Slurm's commands cannot be run, the partition
// does not exist, or `dir` is not inside sharedDir.
void check_slurm(const SlurmConfig& c, const fs::path& dir, const std::string& where);

std::unique_ptr<TrainingService> make_slurm_service(const SlurmConfig& c, const fs::path& dir, Store& store);

// What squeue or sacct says about a job.
struct SlurmJobState {
  std::string state;   // PENDING, RUNNING, COMPLETED, TIMEOUT, ... (squeue -O State)
  std::string reason;  // why it waits or ended (squeue -O Reason)
  int restarts = 0;    // times Slurm requeued it (squeue -O RestartCnt)
};

// The state map for one job: empty while it is queued or running normally; else how it ended. A job
// waiting for a reason that may never clear fails once it has waited `waited_s` > pendingTimeout;
// `exit_code` is the trial command's code from the exit record, when there is one.
std::optional<JobEnd> slurm_job_end(const SlurmJobState& s, std::optional<int> exit_code, double waited_s,
                                    const SlurmConfig& c);

// Whether a pending job's reason may never clear without an administrator (such a job is failed after
// pendingTimeout rather than left waiting).
bool pending_may_never_clear(const std::string& reason);

// The job name prefix of the experiment in `dir` ("vdsr-<hash of the folder>-"); a trial's job is named
// prefix + trial id.
std::string slurm_job_prefix(const fs::path& dir);

// Cancels every queued or running job of the experiment in `dir` (found by job name, so also one submitted
// just before a crash) and waits up to `wait_s` until none is left; returns how many it cancelled.
int cancel_experiment_jobs(const fs::path& dir, double wait_s);

}  // namespace vdsr::hpo
