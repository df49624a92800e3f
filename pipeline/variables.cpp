#include "pipeline/variables.h"

#include <algorithm>
#include <regex>
#include <sstream>
#include <thread>

#include "vdsr/util/error.h"

namespace vdsr::pipeline {

namespace fs = std::filesystem;

void Variables::set_all(const VarTable& table) {
  for (const auto& [name, value] : table) set(name, value);
}

std::string Variables::expand(const std::string& text, const std::string& where) const {
  return expand(text, where, 0);
}

std::string Variables::expand(const std::string& text, const std::string& where, int depth) const {
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

std::vector<std::string> Variables::expand_list(const std::vector<std::string>& items, const std::string& where) const {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::istringstream words(expand(item, where));
    for (std::string word; words >> word;) out.push_back(word);
  }
  return out;
}

nlohmann::json Variables::resolved() const {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, value] : values_) out[name] = expand(value, "variable " + name);
  return out;
}

namespace {

const VarTable& profile_of(const Config& config, const std::string& profile) {
  const auto it = config.profiles.find(profile);
  if (it != config.profiles.end()) return it->second;
  std::string known;
  for (const auto& [name, table] : config.profiles) known += (known.empty() ? "" : ", ") + name;
  throw Error(config.path.string() + ": no profile \"" + profile + "\" under \"profiles\" (profiles: " + known + ")");
}

std::string experiment_name(const Options& options, const Variables& vars) {
  const std::string name = !options.name.empty() ? options.name
                           : vars.has("name")    ? vars.expand("${name}", "name")
                                                 : "pipeline";
  if (!std::regex_match(name, std::regex("[A-Za-z0-9._-]+")))
    throw Error("--name: expected letters, digits, '.', '_' or '-', got '" + name + "'");
  return name;
}

void set_builtins(RunContext& c, const Config& config, const Options& o) {
  const unsigned threads = o.threads > 0 ? unsigned(o.threads) : std::max(1u, std::thread::hardware_concurrency());
  c.vars.set("root", o.root.string());
  c.vars.set("exp", c.exp.string());
  c.vars.set("name", c.name);
  c.vars.set("bin", o.bin.string());
  c.vars.set("assets", o.assets.string());
  c.vars.set("threads", std::to_string(threads));
  c.vars.set("profile", o.profile);
  c.vars.set("mode", c.mode);
  c.vars.set("config_dir", fs::absolute(config.path).parent_path().string());
  c.vars.set("bootstrap_images", o.bootstrap.empty() ? "" : fs::absolute(o.bootstrap).lexically_normal().string());
}

}  // namespace

RunContext make_context(const Config& config, const Options& options) {
  RunContext c;
  c.mode = options.bootstrap.empty() ? "reference" : "bootstrap";
  c.vars.set_all(config.vars);
  c.vars.set_all(profile_of(config, options.profile));
  if (const auto mode = config.modes.find(c.mode); mode != config.modes.end()) c.vars.set_all(mode->second.vars);
  c.name = experiment_name(options, c.vars);
  c.exp = options.root / "experiments" / c.name;
  set_builtins(c, config, options);
  return c;
}

}  // namespace vdsr::pipeline
