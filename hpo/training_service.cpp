#include "hpo/training_service.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "hpo/slurm_service.h"
#include "vdsr/util/process.h"

namespace vdsr::hpo {

namespace {

std::string describe_wait(int wstatus) {
  if (WIFEXITED(wstatus)) return "exit code " + std::to_string(WEXITSTATUS(wstatus));
  if (WIFSIGNALED(wstatus)) return std::string("killed by signal ") + strsignal(WTERMSIG(wstatus));
  return "ended abnormally";
}

// Trials as processes of this machine, each in a process group of its own under a supervisor that ends
// the group when the tuner dies (vdsr/util/process.h).
class LocalService final : public TrainingService {
 public:
  LocalService(Store& store, double poll_s, double grace_s) : store_(store), poll_s_(poll_s), grace_s_(grace_s) {}

  double poll_interval() const override { return poll_s_; }

  void start(Job& job, const TrialLaunch& launch) override {
    ShellCommand c;
    c.command = launch.command;
    c.cwd = launch.code_dir;
    c.environment = current_environment({"VDSR_TRIAL_"});
    for (const std::string& v : trial_environment(job)) c.environment.push_back(v);
    c.stdout_path = job.dir / "stdout.log";
    c.stderr_path = job.dir / "stderr.log";
    job.pid = spawn_shell(c);
    if (const auto t = process_start_time(job.pid)) store_.set_trial_process(job.trial_id, {job.trial_id, job.pid, *t});
  }

  std::map<int, JobEnd> poll(std::vector<Job*>& jobs) override {
    std::map<int, JobEnd> ends;
    const double now = now_seconds();
    for (Job* j : jobs) {
      if (j->cancel_sent && !j->forced && now - j->cancel_time > grace_s_) {
        kill(-j->pid, SIGKILL);
        j->forced = true;
      }
      int ws = 0;
      const pid_t got = waitpid(j->pid, &ws, WNOHANG);
      if (got == 0) continue;
      kill(-j->pid, SIGKILL);  // the shell is gone; nothing it started may keep running in the group
      JobEnd e;
      if (got < 0) {
        e.kind = JobEnd::Kind::kFailed;
        e.message = "lost track of the process";
      } else if (WIFEXITED(ws)) {
        e.exit_code = WEXITSTATUS(ws);
      } else {
        e.kind = JobEnd::Kind::kFailed;
        e.message = describe_wait(ws);
      }
      ends[j->trial_id] = e;
    }
    return ends;
  }

  void cancel(Job& job) override {
    job.cancel_sent = true;
    job.cancel_time = now_seconds();
    kill(-job.pid, SIGTERM);
  }

  void stop_all(std::vector<Job*>& jobs) override {
    for (Job* j : jobs) kill(-j->pid, SIGTERM);
    const double deadline = now_seconds() + grace_s_;
    for (Job* j : jobs) {
      int ws = 0;
      while (waitpid(j->pid, &ws, WNOHANG) == 0) {
        if (now_seconds() > deadline) kill(-j->pid, SIGKILL);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      kill(-j->pid, SIGKILL);
    }
  }

  // A trial still RUNNING in the store was left by a tuner that died. Its supervisor normally ends the
  // trial's process group with it; should the group still live (the supervisor was killed too), end it
  // now, provided its leader is still the process recorded, not a later one that got the same pid.
  std::vector<Job> adopt(const std::vector<TrialRecord>&) override {
    for (const TrialProcess& p : store_.running_processes())
      if (kill_group_if_started_at(p.pgid, p.start_time))
        spdlog::warn("trial {}: ended its process group {}, left running by a tuner that stopped", p.trial_id,
                     p.pgid);
    return {};
  }

 private:
  Store& store_;
  double poll_s_, grace_s_;
};

}  // namespace

fs::path metrics_file(const Job& job) {
  return job.dir / (job.attempt > 1 ? "metrics.attempt" + std::to_string(job.attempt) + ".jsonl" : "metrics.jsonl");
}

std::vector<std::string> trial_environment(const Job& job) {
  return {"VDSR_TRIAL_ID=" + std::to_string(job.trial_id), "VDSR_TRIAL_DIR=" + job.dir.string(),
          "VDSR_TRIAL_PARAMS=" + (job.dir / "params.json").string(),
          "VDSR_TRIAL_METRICS=" + metrics_file(job).string()};
}

void check_training_service(const ExperimentConfig& cfg, const fs::path& dir, const std::string& where) {
  if (cfg.service.is_slurm()) check_slurm(cfg.service.slurm, dir, where);
}

std::unique_ptr<TrainingService> make_local_service(Store& store, double poll_s, double kill_grace_s) {
  return std::make_unique<LocalService>(store, poll_s, kill_grace_s);
}

std::unique_ptr<TrainingService> make_training_service(const ExperimentConfig& cfg, const fs::path& dir, Store& store,
                                                       double poll_s, double kill_grace_s) {
  if (cfg.service.is_slurm()) return make_slurm_service(cfg.service.slurm, dir, store);
  return make_local_service(store, poll_s, kill_grace_s);
}

}  // namespace vdsr::hpo
