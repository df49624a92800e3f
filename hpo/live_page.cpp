#include "hpo/live_page.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <sstream>

#include <spdlog/spdlog.h>

#include "hpo/results.h"
#include "report/render.h"
#include "vdsr/util/files.h"

namespace vdsr::hpo {

void write_experiment_page(const fs::path& dir, const TrialStorage& store, const std::string& state, double elapsed) {
  const std::vector<TrialRecord> trials = store.trials();
  report::ExperimentStatus status;
  status.state = state;
  status.elapsed_s = elapsed;
  const double now = now_seconds();
  for (const auto& t : trials)
    if (t.status == TrialState::kRunning) status.running_seconds[t.id] = std::max(0.0, now - t.started);
  write_file_atomically(dir / "report.html", report::experiment_page(make_report(store.config(), trials), status));
}

void LivePage::operator()(const ExperimentEvent& e) {
  const double now = now_seconds();
  if (e.kind == EventKind::Intermediate && now - last_write_ < min_seconds_) return;
  const char* state = e.kind == EventKind::Finished      ? "done"
                      : e.kind == EventKind::Interrupted ? "interrupted"
                                                         : "running";
  // The page is a view: failing to write it (a full disk, a read-only folder) never stops the experiment.
  try {
    write_experiment_page(dir_, e.store, state, e.elapsed);
  } catch (const std::exception& error) {
    if (!warned_) spdlog::warn("the live page {} was not written: {}", (dir_ / "report.html").string(), error.what());
    warned_ = true;
  }
  last_write_ = now;
}

bool experiment_in_use(const fs::path& dir) {
  const int fd = ::open((dir / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool held = flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

std::string experiment_summary(const fs::path& dir) {
  const Store store = Store::open_read_only(dir);
  const json config = store.config();
  const std::vector<TrialRecord> trials = store.trials();
  const OptimizeMode mode = experiment_mode(config);
  int done = 0, running = 0, failed = 0;
  for (const auto& t : trials) {
    done += t.counts_as_done();
    running += t.status == TrialState::kRunning;
    failed += t.status == TrialState::kFailed;
  }
  const bool in_use = experiment_in_use(dir);
  std::ostringstream o;
  char elapsed[32];
  std::snprintf(elapsed, sizeof elapsed, "%.0f s", store.elapsed());
  o << "experiment '" << config.value("experimentName", std::string("experiment")) << "' in " << dir.string() << ": "
    << (in_use ? "running" : "not running") << ", " << elapsed << " elapsed\n"
    << "trials: " << done << " done";
  if (config.contains("maxTrialNumber")) o << " of " << config["maxTrialNumber"].dump();
  // RUNNING rows in a folder no tuner drives are left by one that stopped; --resume reruns them.
  o << ", " << running << (in_use || running == 0 ? " running" : " left running (vdsr-tune --resume continues them)")
    << ", " << failed << " failed\n";
  if (auto best = best_trial(trials, mode))
    o << "best: " << *best->final << " (trial " << best->id << ", " << name_of(mode) << ") " << best->params.dump()
      << "\n";
  else
    o << "best: none yet\n";
  o << "\n" << results_table(trials, mode);
  if (fs::exists(dir / "report.html")) o << "\npage: " << (dir / "report.html").string() << "\n";
  return o.str();
}

}  // namespace vdsr::hpo
