#pragma once
// The experiment store: one SQLite database (WAL journal) per experiment folder holding the effective
// config, every trial (parameters, status, times, final result) and every reported metric, so an
// experiment survives a crash and can be resumed, exported and reported from the folder alone.
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
  std::vector<Metric> intermediate;
  double seconds() const { return ended > started ? ended - started : 0; }
  bool counts_as_done() const;  // SUCCEEDED, FAILED or EARLY_STOPPED
};

class Store {
 public:
  static constexpr const char* kFileName = "experiment.db";
  // Creates a new store; throws vdsr::Error when `dir` already holds one.
  static Store create(const fs::path& dir, const json& config);
  // Opens an existing store; throws vdsr::Error when `dir` holds none.
  static Store open(const fs::path& dir);

  Store(Store&& other) noexcept;
  Store& operator=(Store&&) = delete;
  ~Store();

  json config() const;
  double elapsed() const;             // experiment seconds spent over all runs
  void set_elapsed(double seconds);
  void set_config(const json& config);

  void add_trial(int id, const json& params, double started, std::optional<int> rerun_of);
  void finish_trial(int id, TrialState status, double ended, std::optional<double> final,
                    const json& final_payload, std::optional<int> exit_code, const std::string& message);
  void add_metric(int trial_id, const Metric& m);
  // Marks trials left RUNNING by an earlier process as INTERRUPTED; returns how many.
  int mark_interrupted(double now);
  std::vector<TrialRecord> trials() const;

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  void exec(const std::string& sql) const;
  sqlite3* db_ = nullptr;
};

double now_seconds();

}  // namespace vdsr::hpo
