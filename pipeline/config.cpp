#include "pipeline/config.h"

#include <fstream>
#include <set>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/json_io.h"

namespace vdsr::pipeline {

namespace {

using json = nlohmann::json;

nlohmann::json parse_file(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) throw Error(path.string() + ": is a folder, expected a file (--config)");
  if (!std::filesystem::is_regular_file(path)) throw Error(path.string() + ": no such file (--config)");
  return read_json_file(path);
}

// Variables are free-form: any name, a string, a number or a boolean each.
VarTable read_vars(const json& object, const Fields& parent, const std::string& key) {
  VarTable vars;
  if (object.is_null()) return vars;
  if (!object.is_object()) parent.fail(key, "expected an object of variables, got " + object.dump());
  for (const auto& [name, v] : object.items()) {
    if (v.is_string()) {
      vars[name] = v.get<std::string>();
    } else if (v.is_number_integer()) {
      vars[name] = std::to_string(v.get<long long>());
    } else if (v.is_number() || v.is_boolean()) {
      vars[name] = v.dump();
    } else {
      parent.fail(key + "." + name, "expected a string, a number or true/false, got " + v.dump());
    }
  }
  return vars;
}

// Each element of the array `key` as an object with its own Fields, e.g. "pipeline.json: stages[2]".
template <class Read>
auto read_array(Fields& f, const std::string& key, Read read_one) {
  std::vector<decltype(read_one(std::declval<Fields&>()))> out;
  const json& array = f.raw(key);
  if (array.is_null()) return out;
  if (!array.is_array()) f.fail(key, "expected a list of objects, got " + array.dump());
  for (size_t i = 0; i < array.size(); ++i) {
    Fields item(array[i], f.path(key) + "[" + std::to_string(i) + "]");
    out.push_back(read_one(item));
    item.finish();
  }
  return out;
}

// "command": "one command" or ["several", "commands"], run in order.
std::vector<std::string> read_commands(Fields& f, const std::string& key) {
  if (f.has(key) && f.raw(key).is_string()) return {f.required<std::string>(key)};
  return f.optional<std::vector<std::string>>(key, {});
}

Requirement read_requirement(Fields& f) {
  Requirement r;
  r.path = f.required<std::string>("path");
  r.what = f.optional<std::string>("what", "");
  r.min_files = f.optional<int>("min_files", 0, Range::at_least(0));
  r.optional = f.optional<bool>("optional", false);
  r.else_vars = read_vars(f.raw("else_vars"), f, "else_vars");
  return r;
}

Mode read_mode(Fields& f) {
  Mode m;
  m.description = f.optional<std::string>("description", "");
  m.vars = read_vars(f.raw("vars"), f, "vars");
  m.requirements = read_array(f, "requires", read_requirement);
  m.missing_title = f.optional<std::string>("missing_title", "the pipeline needs files that are not there:");
  m.missing_hint = f.optional<std::string>("missing_hint", "");
  m.report_note = f.optional<std::string>("report_note", "");
  return m;
}

WriteJson read_write_json(Fields& f) {
  WriteJson w;
  w.path = f.required<std::string>("path");
  w.from = f.required<std::string>("from");
  w.set = f.raw("set");
  if (w.set.is_null()) w.set = json::object();
  if (!w.set.is_object()) f.fail("set", "expected an object of keys to replace, got " + w.set.dump());
  return w;
}

// A misspelt key is reported before the keys it leaves missing: "comand: unknown key", not "command: missing".
StageSpec read_stage(Fields& f) {
  StageSpec s;
  const auto name = f.maybe<std::string>("name");
  s.description = f.optional<std::string>("description", "");
  s.modes = f.optional<std::vector<std::string>>("modes", {});
  s.commands = read_commands(f, "command");
  s.resume_commands = read_commands(f, "resume_command");
  s.inputs = f.optional<std::vector<std::string>>("inputs", {});
  s.outputs = f.optional<std::vector<std::string>>("outputs", {});
  s.clean = f.optional<std::vector<std::string>>("clean", {});
  s.programs = f.optional<std::vector<std::string>>("programs", {});
  s.write_json = read_array(f, "write_json", read_write_json);
  s.optional = f.optional<bool>("optional", false);
  f.finish();
  if (!name) f.fail("name", "missing (expected a string)");
  if (s.commands.empty()) f.fail("command", "missing (expected a command or a list of commands)");
  s.name = *name;
  return s;
}

std::map<std::string, VarTable> read_profiles(Fields& f) {
  std::map<std::string, VarTable> profiles;
  const Fields each = f.object("profiles");
  for (const auto& [name, table] : f.raw("profiles").items()) profiles[name] = read_vars(table, each, name);
  return profiles;
}

std::map<std::string, Mode> read_modes(Fields& f) {
  std::map<std::string, Mode> modes;
  Fields each = f.object("modes");
  for (const auto& [name, object] : f.raw("modes").items()) {
    Fields mode = each.object(name);
    modes[name] = read_mode(mode);
    mode.finish();
  }
  return modes;
}

void check_stage_names(const Fields& f, const std::vector<StageSpec>& stages) {
  if (stages.empty()) f.fail("stages", "expected a non-empty list of stages");
  std::set<std::string> names;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (!names.insert(stages[i].name).second)
      f.fail("stages[" + std::to_string(i) + "].name", "duplicate stage \"" + stages[i].name + "\"");
  }
}

}  // namespace

Config read_config(const std::filesystem::path& path) { return parse_config(parse_file(path), path); }

Config parse_config_text(std::string_view text, const std::filesystem::path& path) {
  return parse_config(parse_json(text, path.string()), path);
}

Config parse_config(const nlohmann::json& j, const std::filesystem::path& path) {
  Fields f(j, path.string());
  Config c;
  c.path = path;
  f.allow({"description"});
  c.vars = read_vars(f.raw("vars"), f, "vars");
  c.profiles = read_profiles(f);
  c.modes = read_modes(f);
  c.summary = f.optional<std::string>("summary", "");
  c.stages = read_array(f, "stages", read_stage);
  check_stage_names(f, c.stages);
  f.finish();
  return c;
}

}  // namespace vdsr::pipeline
