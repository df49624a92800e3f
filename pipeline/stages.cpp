#include "pipeline/stages.h"

#include <algorithm>

#include "vdsr/util/error.h"

namespace vdsr::pipeline {

namespace {

namespace fs = std::filesystem;

bool is_under(const std::string& path, const std::string& dir) {
  return path == dir ||
         (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

bool in_mode(const StageSpec& s, const std::string& mode) {
  return s.modes.empty() || std::find(s.modes.begin(), s.modes.end(), mode) != s.modes.end();
}

// Expands a stage's strings; relative paths are relative to ${root}.
class StageExpander {
 public:
  StageExpander(const RunContext& context, const fs::path& root) : vars_(context.vars), exp_(context.exp), root_(root) {}

  Stage expand(const StageSpec& spec) const {
    const std::string w = "stage " + spec.name;
    Stage s;
    s.name = spec.name;
    s.description = vars_.expand(spec.description, w + ".description");
    s.commands = strings(spec.commands, w + ".command");
    s.resume_commands = strings(spec.resume_commands, w + ".resume_command");
    s.inputs = paths(spec.inputs, w + ".inputs");
    s.outputs = paths(spec.outputs, w + ".outputs");
    s.clean = paths(spec.clean, w + ".clean");
    s.programs = paths(spec.programs, w + ".programs");
    s.optional = spec.optional;
    for (const auto& c : s.clean)
      if (!is_under(c, exp_.string())) throw Error(w + ".clean: '" + c + "' is outside " + exp_.string());
    for (const auto& wj : spec.write_json) {
      s.write_json.push_back(write_json(wj, w + ".write_json"));
      s.inputs.push_back(s.write_json.back().from);
    }
    return s;
  }

 private:
  std::vector<std::string> strings(const std::vector<std::string>& items, const std::string& where) const {
    std::vector<std::string> out;
    for (const auto& item : items) out.push_back(vars_.expand(item, where));
    return out;
  }

  std::vector<std::string> paths(const std::vector<std::string>& items, const std::string& where) const {
    std::vector<std::string> out = vars_.expand_list(items, where);
    for (auto& p : out) p = absolute(p);
    return out;
  }

  std::string absolute(const std::string& p) const {
    const fs::path path(p);
    return (path.is_absolute() ? path : root_ / path).lexically_normal().string();
  }

  WriteJson write_json(const WriteJson& spec, const std::string& where) const {
    WriteJson out;
    out.path = absolute(vars_.expand(spec.path, where + ".path"));
    out.from = absolute(vars_.expand(spec.from, where + ".from"));
    out.set = nlohmann::json::object();
    for (const auto& [key, value] : spec.set.items())
      out.set[key] = value.is_string() ? nlohmann::json(vars_.expand(value, where + ".set." + key)) : value;
    return out;
  }

  const Variables& vars_;
  fs::path exp_, root_;
};

size_t index_of(const std::vector<Stage>& stages, const std::string& name, const char* flag, const std::string& mode) {
  for (size_t i = 0; i < stages.size(); ++i)
    if (stages[i].name == name) return i;
  std::string known;
  for (const auto& s : stages) known += " " + s.name;
  throw Error(std::string(flag) + ": no stage \"" + name + "\" in mode " + mode + " (stages:" + known + ")");
}

}  // namespace

std::vector<Stage> expand_stages(const Config& config, const RunContext& context, const fs::path& root) {
  const StageExpander expander(context, root);
  std::vector<Stage> stages;
  for (const auto& spec : config.stages)
    if (in_mode(spec, context.mode)) stages.push_back(expander.expand(spec));
  return stages;
}

Selection select_stages(const std::vector<Stage>& stages, const Options& options, const std::string& mode) {
  Selection s;
  if (!options.from.empty()) s.from = index_of(stages, options.from, "--from", mode);
  if (!options.only.empty()) s.only = index_of(stages, options.only, "--only", mode);
  return s;
}

std::optional<size_t> producer(const std::vector<Stage>& stages, const std::string& path, size_t before) {
  for (size_t i = before; i-- > 0;) {
    for (const auto& out : stages[i].outputs)
      if (is_under(path, out)) return i;
  }
  return std::nullopt;
}

void check_inputs(const std::vector<Stage>& stages, const Selection& selection) {
  std::string missing;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (!selection.selected(i)) continue;
    for (const auto& in : stages[i].inputs) {
      if ((!selection.only && producer(stages, in, i)) || fs::exists(in)) continue;
      missing += "  stage " + stages[i].name + ": " + in + "\n";
    }
  }
  if (missing.empty()) return;
  throw Error("inputs are missing:\n" + missing +
              (selection.only ? "(--only runs one stage; run the stages that produce them first)" : ""));
}

}  // namespace vdsr::pipeline
