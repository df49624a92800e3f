// vdsr-tune: hyper-parameter search over trial commands (NNI-style experiment configs).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <iostream>

#include <spdlog/spdlog.h>

#include "hpo/config.h"
#include "hpo/live_page.h"
#include "hpo/results.h"
#include "hpo/scheduler.h"
#include "hpo/slurm_service.h"
#include "hpo/store.h"
#include "hpo/training_service.h"
#include "hpo/tuner_registry.h"
#include "report/report.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"


using namespace vdsr;
using namespace vdsr::hpo;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }

// Holds an exclusive lock on DIR/.lock so two tuners never drive the same experiment. The file holds the
// holder's pid, for --stop.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    const fs::path p = dir / ".lock";
    fd_ = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // trials must not inherit it
    if (fd_ < 0) throw Error("cannot create lock file '" + p.string() + "'");
    if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error("experiment '" + dir.string() + "' is in use by another vdsr-tune process");
    }
    const std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
      spdlog::warn("cannot write the pid into {}", p.string());
  }
  ~DirLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

std::string default_dir(const std::string& name) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return "experiments/tune/" + name + "-" + buf;
}

void apply_overrides(json& config, int trials, int concurrency) {
  if (trials != -1) {
    if (trials < 1) throw Error("--trials: expected an integer >= 1, got " + std::to_string(trials));
    config["maxTrialNumber"] = trials;
  }
  if (concurrency != -1) {
    if (concurrency < 1) throw Error("--concurrency: expected an integer >= 1, got " + std::to_string(concurrency));
    config["trialConcurrency"] = concurrency;
  }
}

// Writes the table, best.json and the report once a run has ended; returns the exit code.
int conclude(const fs::path& dir, RunEnd end, const std::string& report_path) {
  Store store = Store::open(dir);
  const json config = store.config();
  const std::vector<TrialRecord> trials = store.trials();
  const OptimizeMode mode = experiment_mode(config);
  std::cout << results_table(trials, mode) << std::flush;
  const json report = make_report(config, trials);
  report::write(dir / "report.json", report);
  if (!report_path.empty()) report::write(report_path, report);
  if (end == RunEnd::Interrupted) return 130;
  std::optional<TrialRecord> best = best_trial(trials, mode);
  if (!best) {
    spdlog::error("no trial succeeded; see the trials' stderr.log files under {}", (dir / "trials").string());
    return 1;
  }
  // best.json has the trial parameter file's format, so `vdsr-train --params best.json` takes it.
  write_file_atomically(dir / "best.json", dump_json(best->params, 2) + "\n");
  spdlog::info("best: trial {} with {} -> {}", best->id, *best->final, (dir / "best.json").string());
  return 0;
}

// --stop DIR: ends the experiment's controller (as Ctrl-C would: it cancels its jobs and marks their
// trials INTERRUPTED) and then cancels whatever job of the experiment Slurm still has, so that nothing of
// it stays queued or running, also when the controller had died.
int stop(const fs::path& dir) {
  const ExperimentConfig cfg = parse_config(Store::open_read_only(dir).config(), dir.string() + " (stored config)", dir);
  const fs::path lock_path = dir / ".lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    const pid_t pid = n > 0 ? static_cast<pid_t>(std::atol(buf)) : 0;
    if (pid > 0 && kill(pid, SIGTERM) == 0) {
      spdlog::info("asked the controller (pid {}) to stop; waiting for it", pid);
      // Its stop ends with the lock freed; it waits up to two minutes for its jobs to end first.
      for (int waited_ms = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited_ms += 100) {
        if (waited_ms > 300 * 1000) {
          ::close(fd);
          throw Error("the controller (pid " + std::to_string(pid) + ") of " + dir.string() +
                      " did not stop within 300 s; its trials' jobs are left as they are");
        }
        usleep(100 * 1000);
      }
    }
  }
  if (fd >= 0) ::close(fd);
  if (cfg.service.is_slurm()) {
    const int n = cancel_experiment_jobs(dir, 120);
    if (n) spdlog::info("cancelled {} job(s) of the experiment that Slurm still had", n);
    DirLock lock(dir);
    Store store = Store::open(dir);
    if (const int marked = store.mark_interrupted(now_seconds()))
      spdlog::info("{} trial(s) marked INTERRUPTED; --resume {} runs them again", marked, dir.string());
  }
  spdlog::info("experiment {} stopped", dir.string());
  return 0;
}

int run(const fs::path& dir, const std::string& report_path) {
  DirLock lock(dir);
  RunOptions opt;
  opt.progress = default_progress_mode();
  opt.stop = &g_stop;
  opt.on_event = LivePage(dir);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  RunEnd end = run_experiment(dir, opt);
  return conclude(dir, end, report_path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "vdsr-tune: hyper-parameter search with NNI-style experiment configs (tuners: " + tuner_names() + ").\n"
      "Trials are processes speaking the protocol in docs/trial-protocol.md, run locally or as Slurm jobs\n"
      "(trainingService, docs/tuning.md); everything is kept in DIR/experiment.db, so an interrupted\n"
      "experiment continues with --resume DIR (queued and running Slurm jobs are adopted).\n"};
  std::string config_path, resume_dir, export_dir, dir, report_path, format = "csv", out_path;
  int trials = -1, concurrency = -1;
  auto* o_config = app.add_option("--config", config_path, "Experiment config (JSON, NNI field names)");
  auto* o_resume = app.add_option("--resume", resume_dir, "Continue the experiment in DIR after a crash or Ctrl-C");
  auto* o_export = app.add_option("--export", export_dir, "Export the trials of the experiment in DIR");
  std::string stop_dir;
  auto* o_stop = app.add_option("--stop", stop_dir,
                                "Stop the experiment in DIR: end its controller and cancel its Slurm jobs");
  o_config->excludes(o_resume)->excludes(o_export)->excludes(o_stop);
  o_resume->excludes(o_export)->excludes(o_stop);
  o_export->excludes(o_stop);
  app.add_option("--trials", trials, "Override maxTrialNumber (with --resume: the new total budget)")
      ->check(cli::integer_at_least(1));
  app.add_option("--concurrency", concurrency, "Override trialConcurrency")->check(cli::integer_at_least(1));
  app.add_option("--dir", dir, "Experiment folder for --config (default experiments/tune/<name>-<time>)");
  app.add_option("--report", report_path, "Also write the tune report (JSON) to this path");
  app.add_option("--format", format, "Export format: csv or json")->check(CLI::IsMember({"csv", "json"}));
  app.add_option("--out", out_path, "Export to this file instead of stdout");
  app.set_version_flag("--version", vdsr::report::version());
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);
  return cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    if (!export_dir.empty()) {
      const Store store = Store::open_read_only(export_dir);
      const std::vector<TrialRecord> t = store.trials();
      const std::string text = format == "json" ? dump_json(export_json(t), 2) + "\n" : export_csv(t);
      if (out_path.empty())
        std::cout << text;
      else
        write_file_atomically(out_path, text);
      return 0;
    }
    if (!stop_dir.empty()) return stop(stop_dir);
    if (!resume_dir.empty()) {
      {
        Store store = Store::open(resume_dir);
        DirLock lock(resume_dir);
        json config = store.config();
        apply_overrides(config, trials, concurrency);
        parse_config(config, resume_dir + " (stored config)", resume_dir);
        store.set_config(config);
      }
      return run(resume_dir, report_path);
    }
    if (config_path.empty()) throw Error("give --config FILE, --resume DIR, --export DIR or --stop DIR (see --help)");
    json raw;
    {
      // Overrides go into the JSON before validation, so they are checked like the file's own values.
      ExperimentConfig probe = load_config(config_path);
      raw = probe.to_json();
    }
    apply_overrides(raw, trials, concurrency);
    ExperimentConfig cfg = parse_config(raw, config_path, fs::current_path());
    check_trial_command(cfg, config_path);
    const fs::path d = dir.empty() ? default_dir(cfg.name) : dir;
    check_training_service(cfg, d, config_path);
    Store::create(d, cfg.to_json());
    spdlog::info("experiment folder: {}", d.string());
    return run(d, report_path);
  });
}
