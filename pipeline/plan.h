#pragma once
// The plan: each stage's fingerprint and what to do with it (run, resume, skip, ...), decided from facts
// gathered beforehand. Nothing here starts a process; only file_token reads files.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/stages.h"
#include "pipeline/state.h"

namespace vdsr::pipeline {

enum class Action {
  kRun,             // from scratch: clean, then the stage's commands
  kResume,          // its resume commands, keeping what the last attempt left
  kSkip,            // finished with the same fingerprint, outputs still there
  kNotSelected,     // --only names another stage
  kNotRun,          // an earlier stage failed or was interrupted
  kUnavailable,     // an optional stage whose program is missing
  kMissingProgram,  // a required program is missing: the stage fails
};

// What the decision for one stage looks at.
struct StageFacts {
  bool earlier_failed = false;
  bool selected = true;  // not excluded by --only
  bool forced = false;   // --from or --only
  bool dry_run = false;  // a dry run plans a stage even when its program is missing
  bool optional = false;
  bool program_missing = false;
  bool can_resume = false;  // the stage has resume commands
  bool outputs_exist = false;
  std::string fingerprint;
  std::optional<StageState> previous;  // from pipeline_state.json
};

Action decide(const StageFacts& facts);

// SHA-256 over the stage's commands, clean list, outputs, derived files and one token per input.
std::string fingerprint(const Stage& stage, const std::vector<std::string>& input_tokens);

// The token of an input an earlier stage produces: that stage's fingerprint and the time it finished, so
// a stage that reruns makes everything downstream rerun. `pending`: it would run in this dry run.
std::string produced_token(const std::string& producer, const std::optional<StageState>& state, bool pending);

// The token of an input no stage produces: content for files up to 64 MiB, size and mtime for bigger ones
// and for each file of a folder; "missing" when it is not there.
std::string file_token(const std::filesystem::path& path);

}  // namespace vdsr::pipeline
