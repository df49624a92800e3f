#include "pipeline/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include <spdlog/spdlog.h>

#include "pipeline/config.h"
#include "pipeline/executor.h"
#include "pipeline/plan.h"
#include "pipeline/requirements.h"
#include "pipeline/stages.h"
#include "pipeline/state.h"
#include "pipeline/variables.h"
#include "report/report.h"
#include "vdsr/util/progress.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A stage's line in the report (docs/pipeline.md: "pipeline.stages").
enum class Outcome { kDone, kSkipped, kFailed, kInterrupted, kUnavailable, kNotRun, kNotSelected, kPlanned };
VDSR_ENUM_NAMES(Outcome, {{Outcome::kDone, "done"},
                          {Outcome::kSkipped, "skipped"},
                          {Outcome::kFailed, "failed"},
                          {Outcome::kInterrupted, "interrupted"},
                          {Outcome::kUnavailable, "unavailable"},
                          {Outcome::kNotRun, "not-run"},
                          {Outcome::kNotSelected, "not-selected"},
                          {Outcome::kPlanned, "planned"}})

struct StageRecord {
  std::string name;
  Outcome outcome = Outcome::kNotRun;
  double seconds = 0;
  std::vector<std::string> commands;
  std::string fingerprint;
  std::optional<StageState> previous_run;  // a skipped stage: the run that made its outputs

  json to_json() const {
    const bool skipped = outcome == Outcome::kSkipped || outcome == Outcome::kUnavailable;
    json j = {{"name", name}, {"status", outcome}, {"skipped", skipped}, {"seconds", seconds}, {"commands", commands}};
    if (!fingerprint.empty()) j["fingerprint"] = fingerprint;
    if (previous_run) {
      j["finished"] = previous_run->finished;
      j["seconds_when_run"] = previous_run->seconds;
    }
    return j;
  }
};

int exit_code_of(const std::vector<StageRecord>& records) {
  for (const auto& r : records) {
    if (r.outcome == Outcome::kInterrupted) return 130;
    if (r.outcome == Outcome::kFailed) return 1;
  }
  return 0;
}

bool all_exist(const std::vector<std::string>& paths) {
  return std::all_of(paths.begin(), paths.end(), [](const std::string& p) { return fs::exists(p); });
}

std::string first_missing_program(const Stage& s) {
  for (const auto& p : s.programs)
    if (access(p.c_str(), X_OK) != 0) return p;
  return "";
}

// Why a stage that ran counts as failed: its exit code or a missing output; empty when it did not fail.
std::string failure_of(const Stage& s, const Execution& e) {
  if (e.exit_code != 0) return "exit code " + std::to_string(e.exit_code);
  for (const auto& out : s.outputs)
    if (!fs::exists(out)) return "it did not write " + out;
  return "";
}

// One run of the pipeline: walks the stages in order, decides each (plan.h) and carries the decision out.
class StageWalk {
 public:
  StageWalk(const Options& o, const Config& config, const RunContext& context, std::vector<Stage> stages,
            Selection selection)
      : o_(o), config_(config), context_(context), stages_(std::move(stages)), selection_(selection),
        state_(context.exp / "pipeline_state.json"), status_(o.progress),
        executor_(o.root, o.assets, o.stop, status_) {}

  int run() {
    const auto started = Clock::now();
    spdlog::info("pipeline {} (profile {}, mode {}): {} stages into {}", context_.name, o_.profile, context_.mode,
                 stages_.size(), context_.exp.string());
    if (!o_.dry_run) fs::create_directories(context_.exp / "logs");
    for (size_t i = 0; i < stages_.size(); ++i) records_.push_back(step(i));
    const int code = exit_code_of(records_);
    if (o_.dry_run) return code;
    write_report(code, seconds_since(started));
    if (code == 0) {
      spdlog::info("pipeline {} finished in {}; results in {}", context_.name, pretty_seconds(seconds_since(started)),
                   context_.exp.string());
      print_summary();
    }
    return code;
  }

 private:
  std::string tag(size_t i) const {
    return "[" + std::to_string(i + 1) + "/" + std::to_string(stages_.size()) + "] " + stages_[i].name;
  }

  StageFacts facts(size_t i) const {
    const Stage& s = stages_[i];
    StageFacts f;
    f.earlier_failed = exit_code_of(records_) != 0;
    f.selected = selection_.selected(i);
    f.forced = selection_.forced(i);
    f.dry_run = o_.dry_run;
    f.optional = s.optional;
    f.program_missing = !first_missing_program(s).empty();
    f.can_resume = !s.resume_commands.empty();
    if (f.earlier_failed || !f.selected || (f.program_missing && f.optional)) return f;  // no need to look further
    f.outputs_exist = all_exist(s.outputs);
    f.fingerprint = fingerprint(s, input_tokens(i));
    f.previous = state_.get(s.name);
    return f;
  }

  std::vector<std::string> input_tokens(size_t i) const {
    std::vector<std::string> tokens;
    for (const auto& in : stages_[i].inputs) {
      const auto p = producer(stages_, in, i);
      tokens.push_back(p ? produced_token(stages_[*p].name, state_.get(stages_[*p].name), pending_.count(*p) > 0)
                         : file_token(in));
    }
    return tokens;
  }

  StageRecord step(size_t i) {
    const StageFacts f = facts(i);
    const Action action = decide(f);
    StageRecord rec;
    rec.name = stages_[i].name;
    rec.fingerprint = f.fingerprint;  // empty when the decision did not need it
    if (action != Action::kRun && action != Action::kResume) return without_running(i, action, f, rec);
    const bool resume = action == Action::kResume;
    rec.commands = resume ? stages_[i].resume_commands : stages_[i].commands;
    return o_.dry_run ? plan(i, resume, rec) : run_stage(i, resume, rec);
  }

  // The record, and the log line, of a stage that does not run.
  StageRecord without_running(size_t i, Action action, const StageFacts& f, StageRecord rec) const {
    switch (action) {
      case Action::kSkip:
        spdlog::info("{}: skipped (unchanged since {})", tag(i), f.previous->finished);
        rec.outcome = Outcome::kSkipped;
        rec.previous_run = f.previous;
        break;
      case Action::kUnavailable:
        spdlog::info("{}: skipped, {} is not there", tag(i), first_missing_program(stages_[i]));
        rec.outcome = Outcome::kUnavailable;
        break;
      case Action::kMissingProgram:
        spdlog::error("{}: needs {}, which is not there (build it, or point --bin at the folder holding it)", tag(i),
                      first_missing_program(stages_[i]));
        rec.outcome = Outcome::kFailed;
        rec.commands = stages_[i].commands;
        break;
      case Action::kNotSelected:
        rec.outcome = Outcome::kNotSelected;
        break;
      default:
        rec.outcome = Outcome::kNotRun;
    }
    return rec;
  }

  StageRecord plan(size_t i, bool resume, StageRecord rec) {
    pending_.insert(i);  // its outputs would change: what consumes them would run too
    std::printf("%s: would %s\n", tag(i).c_str(), resume ? "resume" : "run");
    for (const auto& c : rec.commands) std::printf("  %s\n", c.c_str());
    rec.outcome = Outcome::kPlanned;
    return rec;
  }

  StageRecord run_stage(size_t i, bool resume, StageRecord rec) {
    const Stage& s = stages_[i];
    prepare_stage(s, resume);
    const fs::path log = context_.exp / "logs" / (s.name + ".log");
    StageState st;
    st.fingerprint = rec.fingerprint;
    st.started = report::now_iso8601();
    state_.put(s.name, st);
    spdlog::info("{}: {}{} (log {})", tag(i), resume ? "resuming" : "running",
                 s.description.empty() ? "" : " - " + s.description, log.string());
    const Execution e = executor_.run(rec.commands, log, tag(i), resume);
    rec.seconds = st.seconds = e.seconds;
    st.exit_code = e.exit_code;
    rec.outcome = e.interrupted ? Outcome::kInterrupted : failure_of(s, e).empty() ? Outcome::kDone : Outcome::kFailed;
    st.status = rec.outcome == Outcome::kDone ? StageStatus::kDone
                : e.interrupted               ? StageStatus::kInterrupted
                                              : StageStatus::kFailed;
    if (st.status == StageStatus::kDone) st.finished = report::now_iso8601();
    state_.put(s.name, st);
    tell_outcome(i, e, log);
    return rec;
  }

  void tell_outcome(size_t i, const Execution& e, const fs::path& log) const {
    const std::string problem = failure_of(stages_[i], e);
    if (e.interrupted) {
      spdlog::warn("{}: interrupted after {}; run the same command again to continue", tag(i), pretty_seconds(e.seconds));
    } else if (!problem.empty()) {
      std::cerr << "error: stage " << stages_[i].name << " failed after " << pretty_seconds(e.seconds) << " ("
                << problem << "); the last lines of " << log.string() << ":\n"
                << log_tail(log, 25) << "Fix it and run the same command again: finished stages are kept.\n";
    } else {
      spdlog::info("{}: done in {}", tag(i), pretty_seconds(e.seconds));
    }
  }

  void write_report(int code, double seconds) const {
    json stages = json::array();
    for (const auto& r : records_) stages.push_back(r.to_json());
    json report = report::create("pipeline", "vdsr-pipeline");
    report["config"] = {{"config", fs::absolute(o_.config).string()}, {"profile", o_.profile},
                        {"mode", context_.mode},                      {"name", context_.name},
                        {"from", o_.from},                            {"only", o_.only},
                        {"vars", context_.vars.resolved()}};
    report["pipeline"] = {{"status", code == 0 ? "done" : code == 130 ? "interrupted" : "failed"},
                          {"seconds", seconds},
                          {"stages", stages},
                          {"bootstrap", context_.mode == "bootstrap"}};
    const auto mode = config_.modes.find(context_.mode);
    if (mode != config_.modes.end() && !mode->second.report_note.empty())
      report["pipeline"]["note"] = context_.vars.expand(mode->second.report_note, "report_note");
    report::write(context_.exp / "report.json", report);
  }

  void print_summary() const {
    if (config_.summary.empty()) return;
    std::ifstream in(o_.root / context_.vars.expand(config_.summary, "summary"));
    if (in) std::cout << "\n" << in.rdbuf() << std::flush;
  }

  const Options& o_;
  const Config& config_;
  const RunContext& context_;
  const std::vector<Stage> stages_;
  const Selection selection_;
  StateFile state_;
  StatusLine status_;
  Executor executor_;
  std::vector<StageRecord> records_;
  std::set<size_t> pending_;  // dry run: stages that would run
};

const Mode& mode_of(const Config& config, const std::string& mode) {
  static const Mode none;
  const auto it = config.modes.find(mode);
  return it == config.modes.end() ? none : it->second;
}

}  // namespace

int run(const Options& options) {
  const Config config = read_config(options.config);
  RunContext context = make_context(config, options);
  check_requirements(mode_of(config, context.mode), context.vars, config.path.string() + ": modes." + context.mode);
  std::vector<Stage> stages = expand_stages(config, context, options.root);
  const Selection selection = select_stages(stages, options, context.mode);
  check_inputs(stages, selection);
  return StageWalk(options, config, context, std::move(stages), selection).run();
}

}  // namespace vdsr::pipeline
