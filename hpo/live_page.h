#pragma once
// The experiment as a page and as text: DIR/report.html, rewritten while vdsr-tune runs (report/render.h's
// experiment_page), and the terminal summary of `vdsr-report show DIR`.
#include <filesystem>
#include <string>

#include "hpo/scheduler.h"
#include "hpo/store.h"

namespace vdsr::hpo {

// DIR/report.html from the store's trials, written atomically (temp file + rename). `state` is "running",
// "done" or "interrupted".
void write_experiment_page(const fs::path& dir, const TrialStorage& store, const std::string& state, double elapsed);

// The scheduler's on_event: rewrites the page after each trial event; intermediate results, which may come
// many a second, at most every `min_seconds`. A page that cannot be written is logged once, not thrown.
class LivePage {
 public:
  explicit LivePage(fs::path dir, double min_seconds = 1.0) : dir_(std::move(dir)), min_seconds_(min_seconds) {}
  void operator()(const ExperimentEvent& e);

 private:
  fs::path dir_;
  double min_seconds_;
  double last_write_ = 0;
  bool warned_ = false;
};

// True while a vdsr-tune process drives the experiment in `dir` (it holds DIR/.lock).
bool experiment_in_use(const fs::path& dir);

// What `vdsr-report show DIR` prints: state, counts, elapsed, the best trial and the trials table.
std::string experiment_summary(const fs::path& dir);

}  // namespace vdsr::hpo
