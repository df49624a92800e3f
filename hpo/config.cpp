#include "hpo/config.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "hpo/assessor.h"
#include "hpo/tuner_registry.h"
#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/json_io.h"

namespace vdsr::hpo {

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

namespace {

std::string non_empty_string(Fields& f, const std::string& key) {
  const std::string s = f.required<std::string>(key);
  if (s.empty()) f.fail(key, "expected a non-empty string, got \"\"");
  return s;
}

std::string format_seconds(double s) {
  std::ostringstream o;
  o << s << "s";
  return o.str();
}

// searchSpace inline or searchSpaceFile (relative to the config), checked and inlined.
json read_search_space(Fields& f, const fs::path& base_dir) {
  if (f.has("searchSpace") == f.has("searchSpaceFile"))
    f.fail("", "give exactly one of searchSpace (inline) and searchSpaceFile (a path)");
  if (f.has("searchSpace")) {
    const json& space = f.raw("searchSpace");
    SearchSpace::parse(space, f.path("searchSpace"));
    return space;
  }
  fs::path p = non_empty_string(f, "searchSpaceFile");
  if (p.is_relative()) p = base_dir / p;
  return SearchSpace::load(p.string()).source();
}

fs::path read_code_dir(Fields& f, const fs::path& base_dir) {
  fs::path dir = f.has("trialCodeDirectory") ? fs::path(non_empty_string(f, "trialCodeDirectory")) : ".";
  if (dir.is_relative()) dir = base_dir / dir;
  dir = fs::weakly_canonical(fs::absolute(dir));
  if (!fs::is_directory(dir)) f.fail("trialCodeDirectory", "'" + dir.string() + "' is not a directory");
  return dir;
}

void read_limits(Fields& f, ExperimentConfig& c) {
  c.concurrency = f.required<int>("trialConcurrency", Range::at_least(1));
  c.max_trials = f.maybe<int>("maxTrialNumber", Range::at_least(1));
  if (f.has("maxExperimentDuration"))
    c.max_duration_s = parse_duration(f.raw("maxExperimentDuration"), f.path("maxExperimentDuration"));
  if (f.has("maxTrialDuration"))
    c.max_trial_duration_s = parse_duration(f.raw("maxTrialDuration"), f.path("maxTrialDuration"));
}

// sbatch's --time: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED (checked by hand:
// a config is outside input, and std::regex recurses once per character).
bool is_slurm_time(const std::string& t) {
  if (t == "UNLIMITED" || t == "INFINITE") return true;
  const size_t dash = t.find('-');
  const std::string clock = dash == std::string::npos ? t : t.substr(dash + 1);
  auto digits = [](const std::string& s) { return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos; };
  if (dash != std::string::npos && !digits(t.substr(0, dash))) return false;
  size_t groups = 0, start = 0;
  for (size_t colon; ; start = colon + 1) {
    colon = clock.find(':', start);
    if (!digits(clock.substr(start, colon == std::string::npos ? std::string::npos : colon - start))) return false;
    ++groups;
    if (colon == std::string::npos) break;
  }
  return groups <= 3;
}

SlurmConfig read_slurm(Fields& s, const fs::path& base_dir) {
  SlurmConfig c;
  auto text = [&](const std::string& key) {
    if (!s.has(key)) return std::string();
    return non_empty_string(s, key);
  };
  c.partition = text("partition");
  c.account = text("account");
  c.qos = text("qos");
  c.time = text("time");
  if (!c.time.empty() && !is_slurm_time(c.time))
    s.fail("time", "expected sbatch's --time format (minutes, \"HH:MM:SS\", \"D-HH:MM\", ...), got \"" + c.time + "\"");
  c.cpus_per_task = s.maybe<int>("cpusPerTask", Range::at_least(1));
  c.memory = text("memory");
  c.gres = text("gres");
  c.sbatch_args = s.optional<std::vector<std::string>>("sbatchArgs", {});
  if (s.has("sharedDir")) {
    fs::path d = non_empty_string(s, "sharedDir");
    if (d.is_relative()) d = base_dir / d;
    d = fs::weakly_canonical(fs::absolute(d));
    if (!fs::is_directory(d)) s.fail("sharedDir", "'" + d.string() + "' is not a directory");
    c.shared_dir = d;
  }
  c.max_retries = s.optional<int>("maxRetries", 1, Range::at_least(0));
  if (s.has("pendingTimeout")) c.pending_timeout_s = parse_duration(s.raw("pendingTimeout"), s.path("pendingTimeout"));
  if (s.has("pollInterval")) c.poll_interval_s = parse_duration(s.raw("pollInterval"), s.path("pollInterval"));
  return c;
}

TrainingServiceConfig read_training_service(Fields& f, const fs::path& base_dir) {
  TrainingServiceConfig c;
  if (!f.has("trainingService")) return c;
  Fields service = f.object("trainingService");
  c.platform = service.required<std::string>("platform");
  if (c.platform == "slurm")
    c.slurm = read_slurm(service, base_dir);
  else if (c.platform != "local")
    service.fail("platform", "expected \"local\" or \"slurm\", got \"" + c.platform + "\"");
  service.finish();
  return c;
}

// The tuner config with its seed filled in, checked by building the tuner once.
json read_tuner(Fields& f, const json& search_space) {
  if (!f.has("tuner")) f.fail("tuner", "missing; e.g. {\"name\": \"TPE\"}");
  json tuner = with_seed(f.raw("tuner"));
  make_tuner(tuner, SearchSpace::parse(search_space, f.where()), f.path("tuner"));
  return tuner;
}

json read_assessor(Fields& f) {
  if (!f.has("assessor")) return json();
  const json& assessor = f.raw("assessor");
  MedianStop::from_config(assessor, f.path("assessor"));
  return assessor;
}

}  // namespace

ExperimentConfig parse_config(const json& j, const std::string& where, const fs::path& base_dir) {
  Fields f(j, where);
  ExperimentConfig c;
  c.name = f.has("experimentName") ? non_empty_string(f, "experimentName") : "experiment";
  c.search_space = read_search_space(f, base_dir);
  c.trial_command = non_empty_string(f, "trialCommand");
  c.code_dir = read_code_dir(f, base_dir);
  read_limits(f, c);
  c.service = read_training_service(f, base_dir);
  c.tuner = read_tuner(f, c.search_space);
  c.assessor = read_assessor(f);
  f.finish();
  return c;
}

ExperimentConfig parse_config_text(std::string_view text, const std::string& where, const fs::path& base_dir) {
  return parse_config(parse_json(text, where), where, base_dir);
}

ExperimentConfig load_config(const fs::path& path) {
  if (fs::is_directory(path)) throw Error(path.string() + ": is a folder, expected an experiment config file");
  return parse_config(read_json_file(path), path.string(), fs::absolute(path).parent_path());
}

json ExperimentConfig::to_json() const {
  json j = {{"experimentName", name},
            {"searchSpace", search_space},
            {"trialCommand", trial_command},
            {"trialCodeDirectory", code_dir.string()},
            {"trialConcurrency", concurrency},
            {"tuner", tuner},
            {"trainingService", service.to_json()}};
  if (max_trials) j["maxTrialNumber"] = *max_trials;
  if (std::isfinite(max_duration_s)) j["maxExperimentDuration"] = format_seconds(max_duration_s);
  if (std::isfinite(max_trial_duration_s)) j["maxTrialDuration"] = format_seconds(max_trial_duration_s);
  if (!assessor.is_null()) j["assessor"] = assessor;
  return j;
}

json TrainingServiceConfig::to_json() const {
  json j = {{"platform", platform}};
  if (!is_slurm()) return j;
  const SlurmConfig& s = slurm;
  for (const auto& [key, value] : {std::pair<const char*, const std::string&>{"partition", s.partition},
                                   {"account", s.account}, {"qos", s.qos}, {"time", s.time},
                                   {"memory", s.memory}, {"gres", s.gres}})
    if (!value.empty()) j[key] = value;
  if (s.cpus_per_task) j["cpusPerTask"] = *s.cpus_per_task;
  if (!s.sbatch_args.empty()) j["sbatchArgs"] = s.sbatch_args;
  if (!s.shared_dir.empty()) j["sharedDir"] = s.shared_dir.string();
  j["maxRetries"] = s.max_retries;
  j["pendingTimeout"] = format_seconds(s.pending_timeout_s);
  j["pollInterval"] = format_seconds(s.poll_interval_s);
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
  // A folder on PATH that this user may not read is skipped, as the shell skips it.
  auto runnable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
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
