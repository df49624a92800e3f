#include "hpo/scheduler.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "hpo/assessor.h"
#include "hpo/config.h"
#include "hpo/results.h"
#include "hpo/training_service.h"
#include "hpo/tuner_registry.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"
#include "vdsr/util/process.h"
#include "vdsr/util/progress.h"

namespace vdsr::hpo {

namespace {

const char* const kParamsFile = "params.json";

double default_number(const json& v, const std::string& what) {
  if (v.is_number()) return v.get<double>();
  if (v.is_object() && v.contains("default") && v["default"].is_number()) return v["default"].get<double>();
  throw Error(what + ": expected a number or an object with a numeric \"default\", got " + v.dump());
}

// A running trial and what has been read back from it so far.
struct Running {
  int id = 0;
  Point point;
  Job job;
  double started = 0;
  fs::path dir;
  std::streamoff metrics_offset = 0;
  std::string partial_line;
  int line_no = 0;
  std::vector<double> values;  // intermediate "default" values in order
  std::optional<double> final;
  json final_payload;
  std::string protocol_error;
  std::string kill_reason;     // why the scheduler is stopping it, if it is
  TrialState kill_status = TrialState::kFailed;

  // Forgets what was read: the metrics file is read again from its start (a retried attempt, an adopted job).
  void restart_reading() {
    metrics_offset = 0;
    partial_line.clear();
    line_no = 0;
    values.clear();
    final.reset();
    final_payload = json();
    protocol_error.clear();
  }
};

}  // namespace

Metric parse_metric_line(const std::string& line) {
  if (line.size() > kMaxMetricLineBytes)
    throw Error("longer than " + std::to_string(kMaxMetricLineBytes) + " bytes (the limit for one line)");
  const json j = parse_json(line, "'" + printable(line, 100) + "'", {kMaxMetricLineBytes, kMaxMetricDepth});
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    throw Error("expected an object with a \"type\": " + enum_choices<MetricType>());
  Metric m;
  if (!try_parse_enum(j["type"].get<std::string>(), m.type))
    throw Error("unknown type " + j["type"].dump() + "; expected one of " + enum_choices<MetricType>());
  if (!j.contains("value")) throw Error("\"value\" is missing");
  m.payload = j["value"];
  m.value = default_number(m.payload, "value");
  if (!std::isfinite(m.value)) throw Error("value is not a finite number");
  if (j.contains("step")) {
    if (!j["step"].is_number_integer()) throw Error("\"step\" must be an integer, got " + j["step"].dump());
    const long long step = j["step"].get<long long>();
    if (step < 0 || step > std::numeric_limits<int>::max())
      throw Error("\"step\" must be an integer >= 0, got " + j["step"].dump());
    m.step = static_cast<int>(step);
  }
  return m;
}

namespace {

class Scheduler {
 public:
  Scheduler(const fs::path& dir, const RunOptions& opt)
      : dir_(fs::absolute(dir)), opt_(opt), store_(Store::open(dir)), status_(opt.progress) {
    const json cj = store_.config();
    cfg_ = parse_config(cj, (dir_ / Store::kFileName).string() + " (stored config)", dir_);
    space_ = std::make_unique<SearchSpace>(SearchSpace::parse(cfg_.search_space, "searchSpace"));
    tuner_ = make_tuner(cfg_.tuner, *space_, "tuner", cfg_.max_trials);
    if (!cfg_.assessor.is_null()) assessor_ = std::make_unique<MedianStop>(MedianStop::from_config(cfg_.assessor, "assessor"));
    mode_ = experiment_mode(cj);
    service_ = make_training_service(cfg_, dir_, store_, opt.poll_seconds, opt.kill_grace_seconds);
  }

  RunEnd run() {
    check_trial_command(cfg_, "trialCommand");
    check_training_service(cfg_, dir_, (dir_ / Store::kFileName).string() + " (stored config)");
    replay();
    session_start_ = now_seconds();
    elapsed_before_ = store_.elapsed();
    spdlog::info("experiment '{}' in {}: {} trial(s) done, concurrency {}, budget {}", cfg_.name, dir_.string(),
                 done_, cfg_.concurrency, cfg_.max_trials ? std::to_string(*cfg_.max_trials) + " trials" : "unlimited");
    if (const std::string plan = tuner_->plan(); !plan.empty()) spdlog::info("{}", plan);
    notify(EventKind::RunStarted);
    bool exhausted = false;
    while (true) {
      if (opt_.stop && opt_.stop->load()) return interrupt();
      const bool out_of_time = elapsed() >= cfg_.max_duration_s;
      while (!exhausted && !out_of_time && running_.size() < static_cast<size_t>(cfg_.concurrency) &&
             (!cfg_.max_trials || done_ + static_cast<int>(running_.size()) < *cfg_.max_trials)) {
        if (!launch_next()) {
          exhausted = true;
          spdlog::info("the search space is exhausted: every point has been tried");
        }
      }
      if (running_.empty()) {
        if (out_of_time) spdlog::info("maxExperimentDuration reached");
        break;
      }
      wait_for_next_poll();
      if (opt_.stop && opt_.stop->load()) return interrupt();
      poll_all();
      store_.set_elapsed(elapsed());
      draw_status();
    }
    store_.set_elapsed(elapsed());
    status_.clear();
    notify(EventKind::Finished);
    return RunEnd::Finished;
  }

 private:
  double elapsed() const { return elapsed_before_ + (now_seconds() - session_start_); }

  void wait_for_next_poll() {
    const double until = now_seconds() + service_->poll_interval();
    while (now_seconds() < until && !(opt_.stop && opt_.stop->load()))
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(0.05, service_->poll_interval())));
  }

  void notify(EventKind kind, int trial_id = 0) {
    if (opt_.on_event) opt_.on_event({kind, trial_id, store_, elapsed()});
  }

  // Feeds finished trials back to the tuner and assessor; adopts the jobs of trials left running that the
  // training service still knows (Slurm); queues the other interrupted ones for a rerun.
  void replay() {
    std::vector<TrialRecord> left_running;
    for (const auto& t : store_.trials())
      if (t.status == TrialState::kRunning) left_running.push_back(t);
    std::map<int, Job> adopted;
    for (Job& j : service_->adopt(left_running)) adopted[j.trial_id] = j;
    std::vector<int> keep;
    for (const auto& [id, job] : adopted) keep.push_back(id);
    store_.mark_interrupted_except(now_seconds(), keep);
    std::vector<TrialRecord> trials = store_.trials();
    std::set<int> rerun;
    for (const auto& t : trials)
      if (t.rerun_of) rerun.insert(*t.rerun_of);
    for (const auto& t : trials) {
      next_id_ = std::max(next_id_, t.id + 1);
      Point p = space_->from_params(t.params);
      if (t.status == TrialState::kSucceeded) {
        tuner_->observe(t.id, p, t.final);
        if (assessor_) assessor_->completed(t.id, values_of(t));
        note_result(t.id, *t.final);
      } else if (t.status == TrialState::kEarlyStopped) {
        tuner_->observe(t.id, p, t.intermediate.empty() ? std::nullopt : std::optional<double>(t.intermediate.back().value));
      } else if (t.status == TrialState::kFailed) {
        tuner_->observe(t.id, p, std::nullopt);
      } else if (t.status == TrialState::kInterrupted) {
        tuner_->observe(t.id, p, std::nullopt);
        if (!rerun.count(t.id)) reruns_.push_back({t.id, t.params});
      } else if (t.status == TrialState::kRunning && adopted.count(t.id)) {
        tuner_->running(t.id, p);
        Running r;
        r.id = t.id;
        r.point = p;
        r.job = adopted[t.id];
        r.started = t.started;
        r.dir = r.job.dir;
        store_.clear_metrics(t.id);  // the metrics file is the record; it is read again from its start
        running_.push_back(std::move(r));
      }
      if (t.counts_as_done()) {
        ++done_;
        failed_ += t.status == TrialState::kFailed ? 1 : 0;
        durations_ += t.seconds();
      }
    }
    if (!reruns_.empty()) spdlog::info("{} interrupted trial(s) will run again", reruns_.size());
    if (!adopted.empty()) spdlog::info("{} trial(s) still queued or running were adopted", adopted.size());
  }

  static std::vector<double> values_of(const TrialRecord& t) {
    std::vector<double> v;
    for (const auto& m : t.intermediate) v.push_back(m.value);
    return v;
  }

  void note_result(int id, double v) {
    if (!best_ || (mode_ == OptimizeMode::Maximize ? v > best_->second : v < best_->second)) best_ = {id, v};
  }

  // Starts one trial: a queued rerun first, else the tuner's suggestion. False when the space is exhausted.
  bool launch_next() {
    const int id = next_id_;
    Point p;
    std::optional<int> rerun_of;
    json params;
    if (!reruns_.empty()) {
      rerun_of = reruns_.front().first;
      params = reruns_.front().second;
      reruns_.pop_front();
      p = space_->from_params(params);
      tuner_->running(id, p);
    } else {
      std::optional<Point> s = tuner_->suggest(id);
      if (!s) return false;
      p = *s;
      params = space_->to_params(p);
    }
    ++next_id_;
    Running r;
    r.id = id;
    r.point = p;
    r.dir = dir_ / "trials" / std::to_string(id);
    fs::remove_all(r.dir);
    fs::create_directories(r.dir);
    write_file_atomically(r.dir / kParamsFile, params.dump(2) + "\n");
    r.started = now_seconds();
    store_.add_trial(id, params, r.started, rerun_of);
    r.job.trial_id = id;
    r.job.dir = r.dir;
    std::ofstream(metrics_file(r.job)).close();
    status_.clear();
    if (!start_job(r)) return true;
    spdlog::info("trial {} started{}: {}{}", id, rerun_of ? " (rerun of " + std::to_string(*rerun_of) + ")" : "",
                 params.dump(), r.job.job_id.empty() ? "" : " as Slurm job " + r.job.job_id);
    running_.push_back(std::move(r));
    notify(EventKind::TrialStarted, id);
    return true;
  }

  // Starts the trial's job; one that cannot be started (sbatch refused it) fails the trial at once.
  bool start_job(Running& r) {
    try {
      service_->start(r.job, {cfg_.trial_command, cfg_.code_dir});
      return true;
    } catch (const std::exception& e) {
      finish(r, JobEnd::failed(e.what()), now_seconds());
      return false;
    }
  }

  // One look at every running trial: new metrics, time limits, then the service's batched poll.
  void poll_all() {
    std::vector<Job*> jobs;
    for (auto& r : running_) {
      read_metrics(r);
      if (r.kill_reason.empty() && now_seconds() - r.started > cfg_.max_trial_duration_s)
        start_kill(r, "timed out after maxTrialDuration (" + std::to_string(cfg_.max_trial_duration_s) + " s)",
                   TrialState::kFailed);
      jobs.push_back(&r.job);
    }
    const std::map<int, JobEnd> ends = service_->poll(jobs);
    for (auto it = running_.begin(); it != running_.end();) {
      const auto e = ends.find(it->id);
      it = e != ends.end() && ended(*it, e->second) ? running_.erase(it) : std::next(it);
    }
  }

  // Handles a job's end; returns false when the trial goes on (resubmitted after Slurm lost its job).
  bool ended(Running& r, const JobEnd& e) {
    const int max_retries = cfg_.service.slurm.max_retries;
    if (e.kind == JobEnd::Kind::kRetry && r.kill_reason.empty() && r.job.attempt <= max_retries) {
      status_.clear();
      spdlog::warn("trial {}: {}; retry {} of {} with the same parameters", r.id, e.message, r.job.attempt,
                   max_retries);
      // The new attempt starts from nothing, in a metrics file of its own: what the lost one reported is
      // dropped, not counted twice, and what its process may still write goes to its own file.
      store_.clear_metrics(r.id);
      r.restart_reading();
      Job next;
      next.trial_id = r.id;
      next.dir = r.dir;
      next.attempt = r.job.attempt + 1;
      r.job = next;
      std::ofstream(metrics_file(r.job)).close();
      return !start_job(r);
    }
    read_metrics(r);
    if (!r.partial_line.empty() && r.protocol_error.empty()) {
      ++r.line_no;
      handle_line(r, r.partial_line);  // a last line without newline still counts
      r.partial_line.clear();
    }
    finish(r, e, std::max(r.started, e.ended_at.value_or(now_seconds())));
    return true;
  }

  // Reads what the trial appended, in bounded blocks, so that a trial writing without end costs neither
  // memory nor (once it has broken the protocol, which fails it) time.
  void read_metrics(Running& r) {
    if (!r.protocol_error.empty()) return;
    std::ifstream in(metrics_file(r.job), std::ios::binary);
    if (!in) return;
    in.seekg(r.metrics_offset);
    std::string block(64 * 1024, '\0');
    while (r.protocol_error.empty() && in.read(block.data(), static_cast<std::streamsize>(block.size())).gcount() > 0) {
      const auto got = in.gcount();
      r.metrics_offset += got;
      r.partial_line.append(block.data(), static_cast<size_t>(got));
      take_lines(r);
    }
  }

  // Handles the complete lines read so far; a bad line fails the trial, and nothing after it is read.
  void take_lines(Running& r) {
    size_t start = 0, nl;
    while (r.protocol_error.empty() && (nl = r.partial_line.find('\n', start)) != std::string::npos) {
      const std::string line = r.partial_line.substr(start, nl - start);
      start = nl + 1;
      ++r.line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      handle_line(r, line);
    }
    r.partial_line.erase(0, start);
    if (r.protocol_error.empty() && r.partial_line.size() > kMaxMetricLineBytes) {
      ++r.line_no;
      handle_line(r, r.partial_line);  // too long already: fails without waiting for the line's end
    }
    if (!r.protocol_error.empty()) r.partial_line.clear();
  }

  void handle_line(Running& r, const std::string& line) {
    Metric m;
    try {
      m = parse_metric_line(line);
    } catch (const Error& e) {
      if (r.protocol_error.empty())
        r.protocol_error =
            metrics_file(r.job).filename().string() + " line " + std::to_string(r.line_no) + ": " + e.what();
      spdlog::warn("trial {}: {}", r.id, r.protocol_error);
      return;
    }
    if (m.type == MetricType::kFinal) {
      if (r.final) {
        if (r.protocol_error.empty()) r.protocol_error = "more than one final result";
        return;
      }
      r.final = m.value;
      r.final_payload = m.payload;
      store_.add_metric(r.id, m);
      return;
    }
    if (m.step == 0) m.step = static_cast<int>(r.values.size()) + 1;
    r.values.push_back(m.value);
    store_.add_metric(r.id, m);
    notify(EventKind::Intermediate, r.id);
    if (assessor_ && r.kill_reason.empty() && assessor_->should_stop(r.values))
      start_kill(r, "stopped by Medianstop at step " + std::to_string(m.step), TrialState::kEarlyStopped);
  }

  void start_kill(Running& r, const std::string& reason, TrialState st) {
    r.kill_reason = reason;
    r.kill_status = st;
    service_->cancel(r.job);
  }

  void finish(Running& r, const JobEnd& e, double ended) {
    TrialState st = TrialState::kSucceeded;
    std::string message;
    const std::optional<int> code = e.exit_code;
    if (!r.kill_reason.empty()) {
      st = r.kill_status;
      message = r.kill_reason;
      if (st == TrialState::kFailed && code == 0 && r.final)
        spdlog::warn("trial {}: a result ({}) came after the trial was marked FAILED ({}); ignored", r.id, *r.final,
                     r.kill_reason);
    } else if (e.kind != JobEnd::Kind::kExited || code != 0) {
      st = TrialState::kFailed;
      message = e.kind == JobEnd::Kind::kExited ? "exit code " + std::to_string(code.value_or(-1)) : e.message;
      if (e.kind == JobEnd::Kind::kRetry)
        message += "; no retries left (maxRetries " + std::to_string(cfg_.service.slurm.max_retries) + ")";
      if (code == 127) message += " (command not found?)";
      message += "; see " + (r.dir / "stderr.log").string();
    } else if (!r.protocol_error.empty()) {
      st = TrialState::kFailed;
      message = "protocol error: " + r.protocol_error;
    } else if (!r.final) {
      st = TrialState::kFailed;
      message = "exited 0 but reported no final result to VDSR_TRIAL_METRICS";
      if (cfg_.service.is_slurm()) message += " (is the experiment folder on a filesystem that the nodes share?)";
    }
    const bool ok = st == TrialState::kSucceeded;
    store_.finish_trial(r.id, st, ended, ok ? r.final : std::nullopt, ok ? r.final_payload : json(), code, message);
    ++done_;
    durations_ += ended - r.started;
    if (ok) {
      tuner_->observe(r.id, r.point, r.final);
      if (assessor_) assessor_->completed(r.id, r.values);
      note_result(r.id, *r.final);
    } else if (st == TrialState::kEarlyStopped) {
      // NNI hands an early-stopped trial's last intermediate result to the tuner as its result.
      tuner_->observe(r.id, r.point, r.values.empty() ? std::nullopt : std::optional<double>(r.values.back()));
    } else {
      ++failed_;
      tuner_->observe(r.id, r.point, std::nullopt);
    }
    status_.clear();
    if (ok)
      spdlog::info("trial {} SUCCEEDED in {:.1f} s: {}", r.id, ended - r.started, *r.final);
    else
      spdlog::warn("trial {} {} after {:.1f} s: {}", r.id, name_of(st), ended - r.started, message);
    notify(EventKind::TrialEnded, r.id);
  }

  RunEnd interrupt() {
    status_.clear();
    spdlog::warn("interrupted: stopping {} running trial(s); continue with --resume {}", running_.size(),
                 dir_.string());
    std::vector<Job*> jobs;
    for (auto& r : running_) jobs.push_back(&r.job);
    service_->stop_all(jobs);
    running_.clear();
    store_.mark_interrupted(now_seconds());
    store_.set_elapsed(elapsed());
    notify(EventKind::Interrupted);
    return RunEnd::Interrupted;
  }

  void draw_status() {
    if (!status_.due()) return;
    std::string line = "trials: " + std::to_string(done_) + " done";
    if (cfg_.max_trials) line += "/" + std::to_string(*cfg_.max_trials);
    line += ", " + std::to_string(running_.size()) + " running, " + std::to_string(failed_) + " failed";
    char buf[96];
    if (best_) {
      std::snprintf(buf, sizeof buf, ", best %.6g (#%d)", best_->second, best_->first);
      line += buf;
    }
    if (cfg_.max_trials && done_ > 0) {
      const double left = *cfg_.max_trials - done_;
      const double eta = durations_ / done_ * left / cfg_.concurrency;
      std::snprintf(buf, sizeof buf, ", ETA %.0f s", eta);
      line += buf;
    }
    status_.show(line);
  }

  fs::path dir_;
  RunOptions opt_;
  Store store_;
  ExperimentConfig cfg_;
  std::unique_ptr<SearchSpace> space_;
  std::unique_ptr<Tuner> tuner_;
  std::unique_ptr<MedianStop> assessor_;
  std::unique_ptr<TrainingService> service_;
  OptimizeMode mode_ = OptimizeMode::Minimize;
  std::vector<Running> running_;
  std::deque<std::pair<int, json>> reruns_;
  int next_id_ = 1;
  int done_ = 0, failed_ = 0;
  double durations_ = 0;
  std::optional<std::pair<int, double>> best_;
  double session_start_ = 0, elapsed_before_ = 0;
  StatusLine status_;
};

}  // namespace

RunEnd run_experiment(const fs::path& dir, const RunOptions& options) {
  Scheduler s(dir, options);
  return s.run();
}

}  // namespace vdsr::hpo
