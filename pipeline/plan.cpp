#include "pipeline/plan.h"

#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Bigger files (patch files) are fingerprinted by size and mtime: hashing hundreds of MB on every rerun
// would cost more than some stages.
constexpr std::uintmax_t kHashLimit = 64ull << 20;

bool unchanged_since_done(const StageFacts& f) {
  return f.previous && f.previous->status == StageStatus::kDone && f.previous->fingerprint == f.fingerprint &&
         f.outputs_exist;
}

// A stage that was running, interrupted or failed with the same fingerprint continues where it stopped.
bool resumable(const StageFacts& f) {
  return f.can_resume && f.previous && f.previous->status != StageStatus::kDone &&
         f.previous->fingerprint == f.fingerprint;
}

// One command hashes as a plain string, several as a list.
json commands_json(const std::vector<std::string>& commands) {
  if (commands.empty()) return "";
  if (commands.size() == 1) return commands[0];
  return commands;
}

std::string stat_token(const fs::path& f) {
  struct stat st {};
  if (::stat(f.c_str(), &st) != 0) return "?";
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

std::string folder_token(const fs::path& dir) {
  std::error_code ec;
  std::vector<std::string> entries;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) entries.push_back(fs::relative(it->path(), dir).string() + " " + stat_token(it->path()));
  }
  std::sort(entries.begin(), entries.end());
  std::string all;
  for (const auto& e : entries) all += e + "\n";
  return "dir:" + sha256_hex(all.data(), all.size());
}

}  // namespace

Action decide(const StageFacts& f) {
  if (f.earlier_failed) return Action::kNotRun;
  if (!f.selected) return Action::kNotSelected;
  if (f.program_missing && f.optional) return Action::kUnavailable;
  if (!f.forced && unchanged_since_done(f)) return Action::kSkip;
  if (f.program_missing && !f.dry_run) return Action::kMissingProgram;
  return !f.forced && resumable(f) ? Action::kResume : Action::kRun;
}

std::string fingerprint(const Stage& stage, const std::vector<std::string>& input_tokens) {
  json inputs = json::array();
  for (size_t i = 0; i < stage.inputs.size(); ++i) inputs.push_back({stage.inputs[i], input_tokens.at(i)});
  json write_json = json::array();
  for (const auto& w : stage.write_json) write_json.push_back({w.path, w.from, w.set});
  const json all = {{"command", commands_json(stage.commands)},
                    {"resume_command", commands_json(stage.resume_commands)},
                    {"inputs", inputs},
                    {"outputs", stage.outputs},
                    {"clean", stage.clean},
                    {"write_json", write_json}};
  const std::string text = dump_json(all);  // commands hold paths, which may be any bytes
  return sha256_hex(text.data(), text.size());
}

std::string produced_token(const std::string& producer, const std::optional<StageState>& state, bool pending) {
  const std::string token = "stage:" + producer + ":" + (state ? state->fingerprint + ":" + state->finished : ":");
  return pending ? token + ":pending" : token;
}

std::string file_token(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return "missing";
  if (fs::is_directory(path, ec)) return folder_token(path);
  const auto size = fs::file_size(path, ec);
  if (!ec && size <= kHashLimit) return "sha256:" + sha256_file(path);
  return "stat:" + stat_token(path);
}

}  // namespace vdsr::pipeline
