#pragma once
// experiments/<name>/pipeline_state.json: per stage, how its last attempt went. Written atomically when a
// stage starts and when it ends, so a crash at any point loses no finished stage.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "vdsr/util/enum_names.h"

namespace vdsr::pipeline {

enum class StageStatus { kRunning, kDone, kFailed, kInterrupted };
VDSR_ENUM_NAMES(StageStatus, {{StageStatus::kRunning, "running"},
                              {StageStatus::kDone, "done"},
                              {StageStatus::kFailed, "failed"},
                              {StageStatus::kInterrupted, "interrupted"}})

struct StageState {
  StageStatus status = StageStatus::kRunning;
  std::string fingerprint;
  std::string started, finished;  // ISO 8601; finished only when done
  double seconds = 0;             // these two once it has ended
  int exit_code = 0;
};

class StateFile {
 public:
  // Reads `path` if it exists; an unreadable file is a warning, and every stage runs.
  explicit StateFile(std::filesystem::path path);

  std::optional<StageState> get(const std::string& stage) const;
  // Records the stage's state and rewrites the file.
  void put(const std::string& stage, const StageState& state);

 private:
  std::filesystem::path path_;
  std::map<std::string, StageState> stages_;
};

}  // namespace vdsr::pipeline
