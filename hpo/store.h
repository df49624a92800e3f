#pragma once
// The experiment store: the effective config, every trial (parameters, status, times, final result) and
// every reported metric, kept so that an experiment survives a crash and can be resumed, exported and
// reported from its folder alone.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "vdsr/util/enum_names.h"

struct sqlite3;

namespace vdsr::hpo {

namespace fs = std::filesystem;
using json = nlohmann::json;

// NNI's trial statuses, plus INTERRUPTED for trials cut short by a crash or Ctrl-C.
enum class TrialState { kRunning, kSucceeded, kFailed, kEarlyStopped, kInterrupted };
VDSR_ENUM_NAMES(TrialState, {{TrialState::kRunning, "RUNNING"},
                             {TrialState::kSucceeded, "SUCCEEDED"},
                             {TrialState::kFailed, "FAILED"},
                             {TrialState::kEarlyStopped, "EARLY_STOPPED"},
                             {TrialState::kInterrupted, "INTERRUPTED"}})

// What a trial reports: results along the way, and its one final result.
enum class MetricType { kIntermediate, kFinal };
VDSR_ENUM_NAMES(MetricType, {{MetricType::kIntermediate, "intermediate"}, {MetricType::kFinal, "final"}})

struct Metric {
  MetricType type = MetricType::kIntermediate;
  int step = 0;
  double value = 0;  // the "default" number
  json payload;      // the whole reported value (number or object)
};

struct TrialRecord {
  int id = 0;
  json params;
  TrialState status = TrialState::kRunning;
  double started = 0, ended = 0;  // seconds since the epoch; ended 0 while running
  std::optional<double> final;
  json final_payload;
  std::optional<int> exit_code;
  std::string message;
  std::optional<int> rerun_of;
  std::string job_id;  // the Slurm job of its latest attempt (empty for local trials)
  int attempt = 0;     // 1 for the first submission, 2 for the first retry, ... (0: local trial)
  std::vector<Metric> intermediate;
  double seconds() const { return ended > started ? ended - started : 0; }
  bool counts_as_done() const;  // SUCCEEDED, FAILED or EARLY_STOPPED
};

// The process group a trial runs in, and its leader's start time (which tells a reused id apart).
struct TrialProcess {
  int trial_id = 0;
  int pgid = 0;
  std::uint64_t start_time = 0;  // clock ticks after boot, as in /proc/<pid>/stat
};

// Where an experiment keeps its config, trials and metrics, as Optuna's BaseStorage. What the scheduler,
// the results and a resumed run rely on:
// - config() is the effective config last set (create or set_config);
// - add_trial records a new trial RUNNING under an id the caller picks (new ids grow);
// - finish_trial ends a RUNNING trial once, with its end state; final values only for SUCCEEDED;
// - add_metric appends; trials() lists trials by id, each with its intermediate metrics in report order;
// - mark_interrupted turns the trials left RUNNING by a process that stopped into INTERRUPTED;
// - elapsed() is the experiment time over all runs, as last set;
// - whatever a call wrote is kept when the process dies right after it returns.
class TrialStorage {
 public:
  virtual ~TrialStorage() = default;

  virtual json config() const = 0;
  virtual void set_config(const json& config) = 0;
  virtual double elapsed() const = 0;  // experiment seconds spent over all runs
  virtual void set_elapsed(double seconds) = 0;

  virtual void add_trial(int id, const json& params, double started, std::optional<int> rerun_of) = 0;
  virtual void finish_trial(int id, TrialState status, double ended, std::optional<double> final,
                            const json& final_payload, std::optional<int> exit_code,
                            const std::string& message) = 0;
  virtual void add_metric(int trial_id, const Metric& m) = 0;
  // Returns how many trials it marked.
  virtual int mark_interrupted(double now) = 0;
  virtual std::vector<TrialRecord> trials() const = 0;
};

// The storage of an experiment folder: one SQLite database (WAL journal) in it.
class Store final : public TrialStorage {
 public:
  static constexpr const char* kFileName = "experiment.db";
  // Creates a new store; throws vdsr::Error when `dir` already holds one.
  static Store create(const fs::path& dir, const json& config);
  // Opens an existing store to continue it; never creates one. Throws vdsr::Error naming the file when
  // `dir` holds none, or a file that is empty, damaged or not an experiment database.
  static Store open(const fs::path& dir);
  // Opens an existing store only to read it, as open() checks it; writes nothing, so it works in a
  // read-only folder. The writing calls then fail.
  static Store open_read_only(const fs::path& dir);

  Store(Store&& other) noexcept;
  Store& operator=(Store&&) = delete;
  ~Store() override;

  json config() const override;
  void set_config(const json& config) override;
  double elapsed() const override;
  void set_elapsed(double seconds) override;

  void add_trial(int id, const json& params, double started, std::optional<int> rerun_of) override;
  void finish_trial(int id, TrialState status, double ended, std::optional<double> final,
                    const json& final_payload, std::optional<int> exit_code, const std::string& message) override;
  void add_metric(int trial_id, const Metric& m) override;
  int mark_interrupted(double now) override;
  std::vector<TrialRecord> trials() const override;

  // Records the process group a RUNNING trial runs in, for a later run to end it if the tuner dies.
  void set_trial_process(int id, const TrialProcess& p);
  // The recorded process groups of the trials still RUNNING (left so by a tuner that stopped).
  std::vector<TrialProcess> running_processes() const;

  // Records the Slurm job that runs a trial's attempt.
  void set_trial_job(int id, const std::string& job_id, int attempt);
  // Turns the RUNNING trials that are not in `keep` into INTERRUPTED (a resumed Slurm experiment keeps
  // the trials whose jobs it adopts); returns how many it marked.
  int mark_interrupted_except(double now, const std::vector<int>& keep);
  // Drops a trial's metrics: a retried attempt, or an adopted trial whose metrics file is read again.
  void clear_metrics(int id);

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  void exec(const std::string& sql) const;
  sqlite3* db_ = nullptr;
};

double now_seconds();

}  // namespace vdsr::hpo
