#include "pipeline/pipeline.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <spdlog/spdlog.h>

#include "report/report.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/process.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// Files up to this size are fingerprinted by content; bigger ones (patch files) by size and mtime, since
// hashing hundreds of MB on every rerun would cost more than some stages.
constexpr std::uintmax_t kHashLimit = 64ull << 20;
// A stopped stage gets this long to save its work (vdsr-train finishes its step) before SIGKILL.
constexpr double kStopGraceSeconds = 30;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string pretty_seconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof buf, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
  }
  return buf;
}

// Throws vdsr::Error when `object` has a key outside `allowed`: a typo in a config must not be ignored.
void check_keys(const json& object, const std::set<std::string>& allowed, const std::string& where) {
  if (!object.is_object()) throw Error(where + ": expected an object");
  for (const auto& [key, value] : object.items()) {
    if (!allowed.count(key)) throw Error(where + ": unknown key \"" + key + "\"");
  }
}

std::string scalar_string(const json& v, const std::string& where) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number() || v.is_boolean()) return v.dump();
  throw Error(where + ": expected a string or a number, got " + v.dump());
}

std::vector<std::string> string_list(const json& object, const std::string& key, const std::string& where) {
  std::vector<std::string> out;
  if (!object.contains(key)) return out;
  const json& v = object.at(key);
  if (!v.is_array()) throw Error(where + "." + key + ": expected an array of strings");
  for (const auto& s : v) {
    if (!s.is_string()) throw Error(where + "." + key + ": expected an array of strings, got " + s.dump());
    out.push_back(s.get<std::string>());
  }
  return out;
}

// ${name} substitution. Values may refer to other variables; an unknown name is an error (a typo would
// otherwise run a wrong command). Shell variables in commands are written $name, without braces.
class Vars {
 public:
  void set(const std::string& name, const std::string& value) { values_[name] = value; }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string expand(const std::string& text, const std::string& where, int depth = 0) const {
    if (depth > 16) throw Error(where + ": variables refer to each other in a loop");
    std::string out;
    size_t pos = 0;
    while (true) {
      const size_t start = text.find("${", pos);
      if (start == std::string::npos) break;
      const size_t end = text.find('}', start);
      if (end == std::string::npos) throw Error(where + ": unterminated ${ in \"" + text + "\"");
      const std::string name = text.substr(start + 2, end - start - 2);
      const auto it = values_.find(name);
      if (it == values_.end()) throw Error(where + ": unknown variable ${" + name + "}");
      out += text.substr(pos, start - pos) + expand(it->second, where + " (in ${" + name + "})", depth + 1);
      pos = end + 1;
    }
    return out + text.substr(pos);
  }
  json resolved() const {
    json out = json::object();
    for (const auto& [k, v] : values_) out[k] = expand(v, "variable " + k);
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

// A path list entry may expand to several paths ("${eval_datasets}"): split on whitespace.
std::vector<std::string> expand_paths(const Vars& vars, const std::vector<std::string>& items, const std::string& where) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::istringstream in(vars.expand(item, where));
    for (std::string p; in >> p;) out.push_back(p);
  }
  return out;
}

struct WriteJson {
  std::string path, from;
  json set;
};

struct Stage {
  std::string name, description;
  std::vector<std::string> modes;  // empty: every mode
  std::string command, resume_command;
  std::vector<std::string> inputs, outputs, clean, programs;
  std::vector<WriteJson> write_json;
  bool optional = false;  // a missing program skips the stage instead of failing it
  json raw;
};

struct Requirement {
  std::string path, what;
  int min_files = 0;
  bool optional = false;
  json else_vars = json::object();
};

int count_images(const fs::path& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".png" || ext == ".bmp" || ext == ".jpg" || ext == ".jpeg") ++n;
  }
  return n;
}

// The fingerprint of an input that no stage produces: content for small files, size and mtime for big
// ones and for every file of a folder (recursively, sorted).
std::string input_token(const fs::path& p) {
  std::error_code ec;
  auto stamp = [](const fs::path& f) {
    struct stat st {};
    if (::stat(f.c_str(), &st) != 0) return std::string("?");
    return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
           std::to_string(st.st_mtim.tv_nsec);
  };
  if (fs::is_directory(p, ec)) {
    std::vector<std::string> entries;
    for (auto it = fs::recursive_directory_iterator(p, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (it->is_regular_file()) entries.push_back(fs::relative(it->path(), p).string() + " " + stamp(it->path()));
    }
    std::sort(entries.begin(), entries.end());
    std::string all;
    for (const auto& e : entries) all += e + "\n";
    return "dir:" + sha256_hex(all.data(), all.size());
  }
  const auto size = fs::file_size(p, ec);
  if (!ec && size <= kHashLimit) return "sha256:" + sha256_file(p);
  return "stat:" + stamp(p);
}

bool is_under(const std::string& path, const std::string& dir) {
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

class Runner {
 public:
  explicit Runner(const Options& o) : o_(o) {}

  int run() {
    load_config();
    setup_vars();
    check_requirements();
    expand_stages();
    check_inputs();
    load_state();
    return execute();
  }

 private:
  // ---- config -------------------------------------------------------------------------------------
  void load_config() {
    const std::string where = o_.config.string();
    if (!fs::is_regular_file(o_.config)) throw Error(where + ": no such file (--config)");
    try {
      cfg_ = json::parse(std::ifstream(o_.config));
    } catch (const json::parse_error& e) {
      throw Error(where + ": not valid JSON (" + std::string(e.what()) + ")");
    }
    check_keys(cfg_, {"description", "vars", "profiles", "modes", "requires", "stages", "summary"}, where);
    if (!cfg_.contains("profiles") || !cfg_["profiles"].contains(o_.profile)) {
      throw Error(where + ": no profile \"" + o_.profile + "\" under \"profiles\"");
    }
    if (!cfg_.contains("stages") || !cfg_["stages"].is_array() || cfg_["stages"].empty()) {
      throw Error(where + ".stages: expected a non-empty array");
    }
    std::set<std::string> names;
    for (size_t i = 0; i < cfg_["stages"].size(); ++i) {
      const json& s = cfg_["stages"][i];
      const std::string w = where + ".stages[" + std::to_string(i) + "]";
      check_keys(s, {"name", "description", "modes", "command", "resume_command", "inputs", "outputs", "clean",
                     "write_json", "programs", "optional"},
                 w);
      Stage st;
      st.raw = s;
      if (!s.contains("name") || !s["name"].is_string()) throw Error(w + ".name: required string");
      st.name = s["name"];
      if (!names.insert(st.name).second) throw Error(w + ".name: duplicate stage \"" + st.name + "\"");
      if (!s.contains("command") || !s["command"].is_string()) throw Error(w + ".command: required string");
      st.description = s.value("description", "");
      st.modes = string_list(s, "modes", w);
      st.optional = s.value("optional", false);
      all_stages_.push_back(st);
    }
    mode_ = o_.bootstrap.empty() ? "reference" : "bootstrap";
  }

  void setup_vars() {
    const std::string where = o_.config.string();
    auto add_all = [&](const json& object, const std::string& w) {
      if (object.is_null()) return;
      if (!object.is_object()) throw Error(w + ": expected an object of variables");
      for (const auto& [k, v] : object.items()) vars_.set(k, scalar_string(v, w + "." + k));
    };
    // Weakest first: the config's vars, the profile, the mode; built-ins cannot be overridden.
    add_all(cfg_.value("vars", json::object()), where + ".vars");
    add_all(cfg_["profiles"][o_.profile], where + ".profiles." + o_.profile);
    if (cfg_.contains("modes") && cfg_["modes"].contains(mode_)) {
      check_keys(cfg_["modes"][mode_], {"vars", "description"}, where + ".modes." + mode_);
      add_all(cfg_["modes"][mode_].value("vars", json::object()), where + ".modes." + mode_ + ".vars");
    }
    name_ = o_.name.empty() ? (vars_.has("name") ? vars_.expand("${name}", "name") : "pipeline") : o_.name;
    if (!std::regex_match(name_, std::regex("[A-Za-z0-9._-]+"))) {
      throw Error("--name: expected letters, digits, '.', '_' or '-', got '" + name_ + "'");
    }
    exp_ = o_.root / "experiments" / name_;
    const int threads = o_.threads > 0 ? o_.threads : std::max(1u, std::thread::hardware_concurrency());
    vars_.set("root", o_.root.string());
    vars_.set("exp", exp_.string());
    vars_.set("name", name_);
    vars_.set("bin", o_.bin.string());
    vars_.set("assets", o_.assets.string());
    vars_.set("threads", std::to_string(threads));
    vars_.set("profile", o_.profile);
    vars_.set("mode", mode_);
    vars_.set("config_dir", fs::absolute(o_.config).parent_path().string());
    vars_.set("bootstrap_images", o_.bootstrap.empty() ? "" : fs::absolute(o_.bootstrap).lexically_normal().string());
  }

  // Checks the mode's assets before anything runs; the message lists every missing item and how to get it.
  void check_requirements() {
    const std::string where = o_.config.string() + ".requires." + mode_;
    if (!cfg_.contains("requires") || !cfg_["requires"].contains(mode_)) return;
    std::vector<std::string> missing, optional_missing;
    for (const auto& r : cfg_["requires"][mode_]) {
      check_keys(r, {"path", "what", "min_files", "optional", "else_vars"}, where);
      const fs::path p = vars_.expand(r.at("path").get<std::string>(), where);
      const int min_files = r.value("min_files", 0);
      bool ok = fs::exists(p);
      if (ok && min_files > 0) ok = count_images(p) >= min_files;
      if (ok) continue;
      const std::string count = min_files > 1   ? " (at least " + std::to_string(min_files) + " images)"
                                : min_files == 1 ? " (image files)"
                                                 : "";
      const std::string line = "  " + p.string() + count + ": " + r.value("what", "");
      if (r.value("optional", false)) {
        optional_missing.push_back(line);
        const json else_vars = r.value("else_vars", json::object());  // items() must not outlive it
        for (const auto& [k, v] : else_vars.items()) vars_.set(k, scalar_string(v, where));
      } else {
        missing.push_back(line);
      }
    }
    if (missing.empty()) {
      for (const auto& l : optional_missing) spdlog::warn("optional asset missing, going on without it:\n{}", l);
      return;
    }
    std::string msg;
    if (mode_ == "bootstrap") {
      msg = "--bootstrap: the images to bootstrap from are missing:\n";
      for (const auto& l : missing) msg += l + "\n";
      msg += "Point --bootstrap at a folder of .png/.bmp/.jpg pictures.";
    } else {
      msg = "the pipeline needs assets that are not there (VDSR_ASSETS=" + o_.assets.string() + "):\n";
      for (const auto& l : missing) msg += l + "\n";
      for (const auto& l : optional_missing) msg += l + " (optional)\n";
      msg += "Get them with `scripts/get-assets.sh " + o_.assets.string() +
             "` where a network is available, set VDSR_ASSETS to a folder holding them, or run without "
             "them: `vdsr-pipeline --bootstrap DIR` trains a small model from your own images in DIR.";
    }
    throw Error(msg);
  }

  void expand_stages() {
    for (auto& s : all_stages_) {
      if (!s.modes.empty() && std::find(s.modes.begin(), s.modes.end(), mode_) == s.modes.end()) continue;
      const std::string w = "stage " + s.name;
      const json& r = s.raw;
      s.command = vars_.expand(r["command"].get<std::string>(), w + ".command");
      s.description = vars_.expand(s.description, w + ".description");
      if (r.contains("resume_command")) s.resume_command = vars_.expand(r["resume_command"].get<std::string>(), w);
      s.inputs = expand_paths(vars_, string_list(r, "inputs", w), w + ".inputs");
      s.outputs = expand_paths(vars_, string_list(r, "outputs", w), w + ".outputs");
      s.clean = expand_paths(vars_, string_list(r, "clean", w), w + ".clean");
      s.programs = expand_paths(vars_, string_list(r, "programs", w), w + ".programs");
      for (auto& p : s.inputs) p = absolute(p);
      for (auto& p : s.outputs) p = absolute(p);
      for (auto& p : s.clean) {
        p = absolute(p);
        if (!is_under(p, exp_.string())) throw Error(w + ".clean: '" + p + "' is outside " + exp_.string());
      }
      const json write_json = r.value("write_json", json::array());
      for (const auto& wj : write_json) {
        check_keys(wj, {"path", "from", "set"}, w + ".write_json");
        WriteJson out;
        out.path = absolute(vars_.expand(wj.at("path").get<std::string>(), w + ".write_json.path"));
        out.from = absolute(vars_.expand(wj.at("from").get<std::string>(), w + ".write_json.from"));
        out.set = json::object();
        const json set = wj.value("set", json::object());  // items() must not outlive it
        for (const auto& [k, v] : set.items()) {
          out.set[k] = v.is_string() ? json(vars_.expand(v.get<std::string>(), w + ".write_json.set." + k)) : v;
        }
        s.inputs.push_back(out.from);
        s.write_json.push_back(out);
      }
      stages_.push_back(s);
    }
    auto index_of = [&](const std::string& name, const char* flag) {
      for (size_t i = 0; i < stages_.size(); ++i)
        if (stages_[i].name == name) return static_cast<int>(i);
      std::string known;
      for (const auto& s : stages_) known += " " + s.name;
      throw Error(std::string(flag) + ": no stage \"" + name + "\" in mode " + mode_ + " (stages:" + known + ")");
    };
    if (!o_.from.empty()) from_ = index_of(o_.from, "--from");
    if (!o_.only.empty()) only_ = index_of(o_.only, "--only");
  }

  std::string absolute(const std::string& p) const {
    const fs::path path(p);
    return (path.is_absolute() ? path : o_.root / path).lexically_normal().string();
  }

  // The stage (by index) whose outputs hold `path`, looking only at stages before `before`.
  std::optional<size_t> producer(const std::string& path, size_t before) const {
    for (size_t i = before; i-- > 0;) {
      for (const auto& out : stages_[i].outputs)
        if (is_under(path, out)) return i;
    }
    return std::nullopt;
  }

  // Inputs that no earlier stage produces must exist before anything runs (exit 2 otherwise).
  void check_inputs() const {
    std::vector<std::string> missing;
    for (size_t i = 0; i < stages_.size(); ++i) {
      if (only_ >= 0 && static_cast<int>(i) != only_) continue;
      for (const auto& in : stages_[i].inputs) {
        if ((only_ < 0 && producer(in, i)) || fs::exists(in)) continue;
        missing.push_back("  stage " + stages_[i].name + ": " + in);
      }
    }
    if (missing.empty()) return;
    std::string msg = "inputs are missing:\n";
    for (const auto& m : missing) msg += m + "\n";
    if (only_ >= 0) msg += "(--only runs one stage; run the stages that produce them first)";
    throw Error(msg);
  }

  // ---- state ---------------------------------------------------------------------------------------
  fs::path state_path() const { return exp_ / "pipeline_state.json"; }
  void load_state() {
    state_ = {{"stages", json::object()}};
    if (!fs::exists(state_path())) return;
    try {
      state_ = json::parse(std::ifstream(state_path()));
      if (!state_.contains("stages")) state_["stages"] = json::object();
    } catch (const std::exception& e) {
      spdlog::warn("{}: unreadable ({}); every stage runs", state_path().string(), e.what());
      state_ = {{"stages", json::object()}};
    }
  }
  void save_state() {
    if (o_.dry_run) return;
    fs::create_directories(exp_);
    write_file_atomically(state_path(), state_.dump(2) + "\n");
  }
  json stage_state(const std::string& name) const {
    return state_["stages"].contains(name) ? state_["stages"][name] : json::object();
  }

  std::string fingerprint(size_t i) const {
    const Stage& s = stages_[i];
    json inputs = json::array();
    for (const auto& in : s.inputs) {
      std::string token;
      if (const auto p = producer(in, i)) {
        // A produced file is as new as the run of the stage that produced it: when that stage reruns,
        // everything downstream of it reruns too. (Also cheap for multi-GB patch files.)
        const json st = stage_state(stages_[*p].name);
        token = "stage:" + stages_[*p].name + ":" + st.value("fingerprint", "") + ":" + st.value("finished", "");
        if (pending_.count(*p)) token += ":pending";
      } else {
        token = fs::exists(in) ? input_token(in) : "missing";
      }
      inputs.push_back({in, token});
    }
    json wj = json::array();
    for (const auto& w : s.write_json) wj.push_back({w.path, w.from, w.set});
    const json all = {{"command", s.command}, {"resume_command", s.resume_command}, {"inputs", inputs},
                      {"outputs", s.outputs}, {"clean", s.clean}, {"write_json", wj}};
    const std::string text = all.dump();
    return sha256_hex(text.data(), text.size());
  }

  // ---- running -------------------------------------------------------------------------------------
  int execute() {
    const auto started = Clock::now();
    const size_t n = stages_.size();
    spdlog::info("pipeline {} (profile {}, mode {}): {} stages into {}", name_, o_.profile, mode_, n, exp_.string());
    if (!o_.dry_run) fs::create_directories(exp_ / "logs");
    json records = json::array();
    int code = 0;
    for (size_t i = 0; i < n; ++i) {
      const Stage& s = stages_[i];
      const std::string tag = "[" + std::to_string(i + 1) + "/" + std::to_string(n) + "] " + s.name;
      json rec = {{"name", s.name}, {"skipped", false}, {"seconds", 0.0}, {"commands", json::array()}};
      if (code != 0 || (only_ >= 0 && static_cast<int>(i) != only_)) {
        rec["status"] = code != 0 ? "not-run" : "not-selected";
        records.push_back(rec);
        continue;
      }
      std::string missing_program;
      for (const auto& p : s.programs)
        if (access(p.c_str(), X_OK) != 0 && missing_program.empty()) missing_program = p;
      if (!missing_program.empty() && s.optional) {
        spdlog::info("{}: skipped, {} is not there", tag, missing_program);
        rec["status"] = "unavailable";
        rec["skipped"] = true;
        records.push_back(rec);
        continue;
      }
      const bool forced = (from_ >= 0 && static_cast<int>(i) >= from_) || static_cast<int>(i) == only_;
      const std::string fp = fingerprint(i);
      const json prev = stage_state(s.name);
      const bool outputs_exist =
          std::all_of(s.outputs.begin(), s.outputs.end(), [](const std::string& p) { return fs::exists(p); });
      const std::string prev_status = prev.value("status", "");
      rec["fingerprint"] = fp;
      if (!forced && prev_status == "done" && prev.value("fingerprint", "") == fp && outputs_exist) {
        spdlog::info("{}: skipped (unchanged since {})", tag, prev.value("finished", "?"));
        rec["status"] = "skipped";
        rec["skipped"] = true;
        // The run that made the outputs, so a rerun's report still says what each stage cost.
        rec["finished"] = prev.value("finished", "");
        rec["seconds_when_run"] = prev.value("seconds", 0.0);
        records.push_back(rec);
        continue;
      }
      const bool resume = !forced && !s.resume_command.empty() && prev.value("fingerprint", "") == fp &&
                          (prev_status == "running" || prev_status == "interrupted" || prev_status == "failed");
      const std::string command = resume ? s.resume_command : s.command;
      rec["commands"].push_back(command);
      if (o_.dry_run) {
        pending_.insert(i);
        std::printf("%s: would %s\n  %s\n", tag.c_str(), resume ? "resume" : "run", command.c_str());
        rec["status"] = "planned";
        records.push_back(rec);
        continue;
      }
      if (!missing_program.empty()) {
        spdlog::error("{}: needs {}, which is not there (build it, or point --bin at the folder holding it)", tag,
                      missing_program);
        rec["status"] = "failed";
        records.push_back(rec);
        code = 1;
        continue;
      }
      rec = run_stage(i, tag, command, resume, fp, rec);
      records.push_back(rec);
      if (rec["status"] == "interrupted") {
        code = 130;
      } else if (rec["status"] != "done") {
        code = 1;
      }
    }
    if (!o_.dry_run) write_report(records, code, seconds_since(started));
    if (code == 0 && !o_.dry_run) {
      spdlog::info("pipeline {} finished in {}; results in {}", name_, pretty_seconds(seconds_since(started)),
                   exp_.string());
      print_summary();
    }
    return code;
  }

  json run_stage(size_t i, const std::string& tag, const std::string& command, bool resume, const std::string& fp,
                 json rec) {
    const Stage& s = stages_[i];
    if (!resume) {
      for (const auto& c : s.clean) fs::remove_all(c);
    }
    for (const auto& out : s.outputs) fs::create_directories(fs::path(out).parent_path());
    for (const auto& w : s.write_json) {
      json doc;
      try {
        doc = json::parse(std::ifstream(w.from));
      } catch (const json::parse_error& e) {
        throw Error(w.from + ": not valid JSON (" + std::string(e.what()) + ")");
      }
      for (const auto& [k, v] : w.set.items()) doc[k] = v;
      fs::create_directories(fs::path(w.path).parent_path());
      write_file_atomically(w.path, doc.dump(2) + "\n");
    }
    const fs::path log = exp_ / "logs" / (s.name + ".log");
    {
      std::ofstream l(log, std::ios::app);
      l << "=== " << report::now_iso8601() << (resume ? " resume: " : " run: ") << command << "\n";
    }
    state_["stages"][s.name] = {{"status", "running"}, {"fingerprint", fp}, {"started", report::now_iso8601()}};
    save_state();
    spdlog::info("{}: {}{} (log {})", tag, resume ? "resuming" : "running",
                 s.description.empty() ? "" : " - " + s.description, log.string());

    ShellCommand c;
    c.command = command;
    c.cwd = o_.root;
    c.environment = current_environment({"VDSR_ASSETS="});
    c.environment.push_back("VDSR_ASSETS=" + o_.assets.string());
    c.stdout_path = c.stderr_path = log;
    c.append = true;
    const auto started = Clock::now();
    const pid_t pid = spawn_shell(c);
    int ws = 0;
    bool stopping = false;
    Clock::time_point stop_sent;
    double last_beat = 0;
    while (true) {
      const pid_t got = waitpid(pid, &ws, WNOHANG);
      if (got == pid || got < 0) break;
      if (!stopping && o_.stop && o_.stop->load()) {
        stopping = true;
        stop_sent = Clock::now();
        clear_line();
        spdlog::warn("{}: stopping (SIGTERM)...", tag);
        signal_group(pid, SIGTERM);
      }
      if (stopping && seconds_since(stop_sent) > kStopGraceSeconds) signal_group(pid, SIGKILL);
      const double elapsed = seconds_since(started);
      if (o_.status_line) {
        draw_line(tag + " " + pretty_seconds(elapsed) + "  " + last_line(log));
      } else if (elapsed - last_beat >= 300) {  // a heartbeat in logs that are not a terminal
        last_beat = elapsed;
        spdlog::info("{}: still running ({})", tag, pretty_seconds(elapsed));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    signal_group(pid, SIGKILL);  // nothing the stage started outlives it
    clear_line();
    const double seconds = seconds_since(started);
    const int exit_code = exit_code_of(ws);
    rec["seconds"] = seconds;
    json& st = state_["stages"][s.name];
    st["seconds"] = seconds;
    st["exit_code"] = exit_code;
    if (stopping) {
      st["status"] = "interrupted";
      rec["status"] = "interrupted";
      save_state();
      spdlog::warn("{}: interrupted after {}; run the same command again to continue", tag, pretty_seconds(seconds));
      return rec;
    }
    std::string problem;
    if (exit_code != 0) {
      problem = "exit code " + std::to_string(exit_code);
    } else {
      for (const auto& out : s.outputs)
        if (!fs::exists(out) && problem.empty()) problem = "it did not write " + out;
    }
    if (!problem.empty()) {
      st["status"] = "failed";
      rec["status"] = "failed";
      save_state();
      std::cerr << "error: stage " << s.name << " failed after " << pretty_seconds(seconds) << " (" << problem
                << "); the last lines of " << log.string() << ":\n"
                << tail(log, 25) << "Fix it and run the same command again: finished stages are kept.\n";
      return rec;
    }
    st["status"] = "done";
    st["finished"] = report::now_iso8601();
    rec["status"] = "done";
    save_state();
    spdlog::info("{}: done in {}", tag, pretty_seconds(seconds));
    return rec;
  }

  static std::string tail(const fs::path& path, size_t lines) {
    std::ifstream in(path);
    std::deque<std::string> last;
    for (std::string line; std::getline(in, line);) {
      last.push_back(line);
      if (last.size() > lines) last.pop_front();
    }
    std::string out;
    for (const auto& l : last) out += "  | " + l + "\n";
    return out;
  }

  // The log's last non-empty line (progress lines end in \r on terminals; logs here are plain).
  static std::string last_line(const fs::path& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    const std::streamoff size = in.tellg();
    if (size <= 0) return "";
    const std::streamoff from = std::max<std::streamoff>(0, size - 400);
    in.seekg(from);
    std::string chunk(static_cast<size_t>(size - from), '\0');
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    while (!chunk.empty() && (chunk.back() == '\n' || chunk.back() == '\r')) chunk.pop_back();
    const size_t nl = chunk.find_last_of("\r\n");
    std::string line = nl == std::string::npos ? chunk : chunk.substr(nl + 1);
    if (line.size() > 90) line = line.substr(0, 87) + "...";
    return line;
  }

  void draw_line(const std::string& text) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    line_drawn_ = true;
  }
  void clear_line() {
    if (!line_drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    line_drawn_ = false;
  }

  void write_report(const json& records, int code, double seconds) {
    json report = report::create("pipeline", "vdsr-pipeline");
    report["config"] = {{"config", fs::absolute(o_.config).string()},
                        {"profile", o_.profile},
                        {"mode", mode_},
                        {"name", name_},
                        {"from", o_.from},
                        {"only", o_.only},
                        {"vars", vars_.resolved()}};
    report["pipeline"] = {{"status", code == 0 ? "done" : code == 130 ? "interrupted" : "failed"},
                          {"seconds", seconds},
                          {"stages", records},
                          {"bootstrap", mode_ == "bootstrap"}};
    if (mode_ == "bootstrap") {
      report["pipeline"]["note"] = "no reference model: the original is a small VDSR trained from scratch on " +
                                   o_.bootstrap.string() + " (--bootstrap), evaluated on held-out images of it";
    }
    report::write(exp_ / "report.json", report);
  }

  void print_summary() {
    if (!cfg_.contains("summary")) return;
    const fs::path p = absolute(vars_.expand(cfg_["summary"].get<std::string>(), "summary"));
    std::ifstream in(p);
    if (!in) return;
    std::cout << "\n" << in.rdbuf() << std::flush;
  }

  const Options& o_;
  json cfg_, state_;
  std::string mode_, name_;
  fs::path exp_;
  Vars vars_;
  std::vector<Stage> all_stages_, stages_;
  int from_ = -1, only_ = -1;
  std::set<size_t> pending_;  // dry run: stages that would run (their outputs would change)
  bool line_drawn_ = false;
};

}  // namespace

int run(const Options& options) { return Runner(options).run(); }

}  // namespace vdsr::pipeline
