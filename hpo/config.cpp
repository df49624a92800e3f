#include "hpo/config.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "hpo/assessor.h"
#include "hpo/tuner.h"
#include "vdsr/util/error.h"

namespace vdsr::hpo {

namespace {

int positive_int(const json& v, const std::string& where) {
  if (!v.is_number_integer() || v.get<int64_t>() < 1)
    throw Error(where + ": expected an integer >= 1, got " + v.dump());
  return v.get<int>();
}

std::string string_field(const json& j, const char* key, const std::string& where) {
  if (!j[key].is_string() || j[key].get<std::string>().empty())
    throw Error(where + ": " + key + ": expected a non-empty string, got " + j[key].dump());
  return j[key].get<std::string>();
}

std::string format_seconds(double s) {
  std::ostringstream o;
  o << s << "s";
  return o.str();
}

}  // namespace

double parse_duration(const json& v, const std::string& where) {
  double s = NAN;
  if (v.is_number()) {
    s = v.get<double>();
  } else if (v.is_string()) {
    const std::string t = v.get<std::string>();
    size_t used = 0;
    double x = NAN;
    try {
      x = std::stod(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    const std::string unit = used ? t.substr(used) : "?";
    const double mult = unit == "" || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : NAN;
    s = x * mult;
  }
  if (!std::isfinite(s) || s <= 0)
    throw Error(where + ": expected a duration > 0 such as \"1h\", \"30m\", \"45s\" or seconds, got " + v.dump());
  return s;
}

ExperimentConfig parse_config(const json& j, const std::string& where, const fs::path& base_dir) {
  if (!j.is_object()) throw Error(where + ": expected a JSON object");
  static const std::set<std::string> known = {
      "experimentName", "searchSpace", "searchSpaceFile", "trialCommand", "trialCodeDirectory",
      "trialConcurrency", "maxTrialNumber", "maxExperimentDuration", "maxTrialDuration", "tuner",
      "assessor", "trainingService"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      throw Error(where + ": unknown field '" + it.key() + "'; expected one of " + list);
    }
  ExperimentConfig c;
  c.name = j.contains("experimentName") ? string_field(j, "experimentName", where) : "experiment";

  if (j.contains("searchSpace") == j.contains("searchSpaceFile"))
    throw Error(where + ": give exactly one of searchSpace (inline) and searchSpaceFile (a path)");
  if (j.contains("searchSpace")) {
    c.search_space = j["searchSpace"];
    SearchSpace::parse(c.search_space, where + ": searchSpace");
  } else {
    fs::path p = string_field(j, "searchSpaceFile", where);
    if (p.is_relative()) p = base_dir / p;
    c.search_space = SearchSpace::load(p.string()).source();
  }

  if (!j.contains("trialCommand")) throw Error(where + ": trialCommand is missing");
  c.trial_command = string_field(j, "trialCommand", where);
  c.code_dir = j.contains("trialCodeDirectory") ? fs::path(string_field(j, "trialCodeDirectory", where)) : ".";
  if (c.code_dir.is_relative()) c.code_dir = base_dir / c.code_dir;
  c.code_dir = fs::weakly_canonical(fs::absolute(c.code_dir));
  if (!fs::is_directory(c.code_dir))
    throw Error(where + ": trialCodeDirectory: '" + c.code_dir.string() + "' is not a directory");

  if (!j.contains("trialConcurrency")) throw Error(where + ": trialConcurrency is missing");
  c.concurrency = positive_int(j["trialConcurrency"], where + ": trialConcurrency");
  if (j.contains("maxTrialNumber")) c.max_trials = positive_int(j["maxTrialNumber"], where + ": maxTrialNumber");
  if (j.contains("maxExperimentDuration"))
    c.max_duration_s = parse_duration(j["maxExperimentDuration"], where + ": maxExperimentDuration");
  if (j.contains("maxTrialDuration"))
    c.max_trial_duration_s = parse_duration(j["maxTrialDuration"], where + ": maxTrialDuration");

  if (j.contains("trainingService")) {
    const json& ts = j["trainingService"];
    if (!ts.is_object() || ts.size() != 1 || !ts.contains("platform") || ts["platform"] != "local")
      throw Error(where + ": trainingService: expected {\"platform\": \"local\"} (the only one), got " + ts.dump());
  }

  if (!j.contains("tuner")) throw Error(where + ": tuner is missing; e.g. {\"name\": \"TPE\"}");
  c.tuner = j["tuner"];
  if (c.tuner.is_object()) {
    // A seed is part of the effective config, so a resumed experiment continues the same streams.
    const std::string name = c.tuner.value("name", "");
    if ((name == "TPE" || name == "Random")) {
      if (!c.tuner.contains("classArgs")) c.tuner["classArgs"] = json::object();
      if (c.tuner["classArgs"].is_object() && !c.tuner["classArgs"].contains("seed"))
        c.tuner["classArgs"]["seed"] = std::random_device{}() & 0x7fffffff;
    }
  }
  make_tuner(c.tuner, SearchSpace::parse(c.search_space, where), where + ": tuner");

  if (j.contains("assessor")) {
    c.assessor = j["assessor"];
    MedianStop::from_config(c.assessor, where + ": assessor");
  }
  return c;
}

ExperimentConfig load_config(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read experiment config '" + path.string() + "'");
  json j;
  try {
    in >> j;
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON (" + std::string(e.what()) + ")");
  }
  return parse_config(j, path.string(), fs::absolute(path).parent_path());
}

json ExperimentConfig::to_json() const {
  json j = {{"experimentName", name},
            {"searchSpace", search_space},
            {"trialCommand", trial_command},
            {"trialCodeDirectory", code_dir.string()},
            {"trialConcurrency", concurrency},
            {"tuner", tuner},
            {"trainingService", {{"platform", "local"}}}};
  if (max_trials) j["maxTrialNumber"] = *max_trials;
  if (std::isfinite(max_duration_s)) j["maxExperimentDuration"] = format_seconds(max_duration_s);
  if (std::isfinite(max_trial_duration_s)) j["maxTrialDuration"] = format_seconds(max_trial_duration_s);
  if (!assessor.is_null()) j["assessor"] = assessor;
  return j;
}

void check_trial_command(const ExperimentConfig& cfg, const std::string& where) {
  // The first word that is not a VAR=value assignment is the program.
  std::istringstream words(cfg.trial_command);
  std::string prog;
  while (words >> prog && prog.find('=') != std::string::npos && prog.find('/') == std::string::npos) {
  }
  static const std::set<std::string> shell_words = {
      "exec", "cd", "if", "for", "while", "case", "{", "(", "true", "false", ":", "test", "[", "echo",
      "printf", "export", "set", "eval", ".", "exit", "sleep"};
  if (prog.empty()) throw Error(where + ": trialCommand is empty");
  if (!prog.empty() && (prog.front() == '"' || prog.front() == '\'')) prog = prog.substr(1);
  if (!prog.empty() && (prog.back() == '"' || prog.back() == '\'')) prog.pop_back();
  if (shell_words.count(prog) || prog.find('$') != std::string::npos) return;
  auto runnable = [](const fs::path& p) { return fs::is_regular_file(p) && ::access(p.c_str(), X_OK) == 0; };
  if (prog.find('/') != std::string::npos) {
    fs::path p = prog;
    if (p.is_relative()) p = cfg.code_dir / p;
    if (runnable(p)) return;
    throw Error(where + ": trialCommand: program '" + prog + "' not found (looked for " + p.string() +
                ", relative to trialCodeDirectory)");
  }
  const char* path_env = std::getenv("PATH");
  std::istringstream dirs(path_env ? path_env : "/usr/bin:/bin");
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (!d.empty() && runnable(fs::path(d) / prog)) return;
  throw Error(where + ": trialCommand: program '" + prog + "' not found on PATH");
}

}  // namespace vdsr::hpo
