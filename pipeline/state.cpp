#include "pipeline/state.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include <spdlog/spdlog.h>

#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::pipeline {

namespace {

using json = nlohmann::json;

json state_json(const StageState& s) {
  json j = {{"status", s.status}, {"fingerprint", s.fingerprint}, {"started", s.started}};
  if (s.status == StageStatus::kRunning) return j;
  j["seconds"] = s.seconds;
  j["exit_code"] = s.exit_code;
  if (!s.finished.empty()) j["finished"] = s.finished;
  return j;
}

StageState state_of(const json& j) {
  StageState s;
  s.status = j.at("status").get<StageStatus>();
  s.fingerprint = j.value("fingerprint", "");
  s.started = j.value("started", "");
  s.finished = j.value("finished", "");
  s.seconds = j.value("seconds", 0.0);
  s.exit_code = j.value("exit_code", 0);
  return s;
}

}  // namespace

StateFile::StateFile(std::filesystem::path path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  try {
    const json j = read_json_file(path_);
    for (const auto& [name, stage] : j.at("stages").items()) stages_[name] = state_of(stage);
  } catch (const std::exception& e) {
    spdlog::warn("{}: unreadable ({}); every stage runs", path_.string(), e.what());
    stages_.clear();
  }
}

std::optional<StageState> StateFile::get(const std::string& stage) const {
  const auto it = stages_.find(stage);
  if (it == stages_.end()) return std::nullopt;
  return it->second;
}

void StateFile::put(const std::string& stage, const StageState& state) {
  stages_[stage] = state;
  json all = {{"stages", json::object()}};
  for (const auto& [name, s] : stages_) all["stages"][name] = state_json(s);
  std::filesystem::create_directories(path_.parent_path());
  write_file_atomically(path_, dump_json(all, 2) + "\n");
}

}  // namespace vdsr::pipeline
