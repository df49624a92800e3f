#pragma once
// configs/pipeline.json as typed structs (docs/pipeline.md, "The config"). Strings keep their ${variables}:
// they are substituted once the profile and the mode are known (variables.h, stages.h).
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace vdsr::pipeline {

// Variable name → value as written (a value may use other ${variables}).
using VarTable = std::map<std::string, std::string>;

// Something a mode needs before any stage runs.
struct Requirement {
  std::string path;
  std::string what;       // what it is and where it comes from, for the message
  int min_files = 0;      // a folder: at least this many images in it
  bool optional = false;  // when missing: a warning, and else_vars replace variables
  VarTable else_vars;
};

// A way to run the study: with the reference assets, or bootstrapped from the user's images.
struct Mode {
  std::string description;
  VarTable vars;                          // override the config's vars and the profile's
  std::vector<Requirement> requirements;
  std::string missing_title;              // the error's first line when a requirement is missing
  std::string missing_hint;               // its last line: how to get what is missing
  std::string report_note;                // goes into the pipeline report when this mode ran
};

// A JSON file written before a stage runs: the file `from` with the keys of `set` replaced.
struct WriteJson {
  std::string path, from;
  nlohmann::json set;
};

// A stage as written in the config.
struct StageSpec {
  std::string name, description;
  std::vector<std::string> modes;     // empty: every mode
  std::vector<std::string> commands;  // "command": one command, or a list run in order
  std::vector<std::string> resume_commands;
  std::vector<std::string> inputs, outputs, clean, programs;
  std::vector<WriteJson> write_json;
  bool optional = false;              // a missing program skips the stage instead of failing it
};

struct Config {
  std::filesystem::path path;
  VarTable vars;
  std::map<std::string, VarTable> profiles;
  std::map<std::string, Mode> modes;  // a mode not listed has no requirements and no variables
  std::string summary;                // a file printed at the end of a successful run
  std::vector<StageSpec> stages;
};

// Reads the config; throws vdsr::Error naming the file, the key and what was expected (an unknown key is an
// error too: a typo must not be ignored).
Config read_config(const std::filesystem::path& path);
// The same from the config's text (vdsr/util/json_io.h limits) or its parsed JSON; `path` names it in errors.
Config parse_config_text(std::string_view text, const std::filesystem::path& path);
Config parse_config(const nlohmann::json& j, const std::filesystem::path& path);

}  // namespace vdsr::pipeline
