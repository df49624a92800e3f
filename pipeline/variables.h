#pragma once
// ${name} substitution, and the variables of one run. A value may use other variables; an unknown name is
// an error, since a typo would otherwise run a wrong command.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/pipeline.h"

namespace vdsr::pipeline {

class Variables {
 public:
  void set(const std::string& name, const std::string& value) { values_[name] = value; }
  void set_all(const VarTable& table);
  bool has(const std::string& name) const { return values_.count(name) > 0; }

  // `text` with every ${name} replaced; `where` starts the error message.
  std::string expand(const std::string& text, const std::string& where) const;
  // Each item expanded, then split on whitespace: "${eval_datasets}" may hold several paths.
  std::vector<std::string> expand_list(const std::vector<std::string>& items, const std::string& where) const;
  // Every variable with its value expanded, for the report.
  nlohmann::json resolved() const;

 private:
  std::string expand(const std::string& text, const std::string& where, int depth) const;

  VarTable values_;
};

// What a run knows before it looks at the stages.
struct RunContext {
  std::string mode;           // "reference", or "bootstrap" with --bootstrap
  std::string name;           // the experiment: results go to root/experiments/<name>
  std::filesystem::path exp;
  Variables vars;
};

// The mode, the name and the variables, weakest first: the config's vars, the profile's, the mode's; then
// the built-ins (root, exp, name, bin, assets, threads, profile, mode, config_dir, bootstrap_images), which
// nothing overrides. Throws vdsr::Error for an unknown profile or a bad name.
RunContext make_context(const Config& config, const Options& options);

}  // namespace vdsr::pipeline
