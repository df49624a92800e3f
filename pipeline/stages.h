#pragma once
// The stages of one run: the config's stages for the mode, with variables substituted and paths absolute.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/config.h"
#include "pipeline/variables.h"

namespace vdsr::pipeline {

struct Stage {
  std::string name, description;
  std::vector<std::string> commands, resume_commands;
  std::vector<std::string> inputs;  // write_json's `from` files included
  std::vector<std::string> outputs, clean, programs;
  std::vector<WriteJson> write_json;
  bool optional = false;
};

// --from and --only as stage indices.
struct Selection {
  std::optional<size_t> from, only;

  bool selected(size_t i) const { return !only || *only == i; }
  bool forced(size_t i) const { return (from && i >= *from) || (only && *only == i); }
};

// The stages of `mode` in config order. Throws vdsr::Error for an unknown variable or a clean path outside
// the experiment folder.
std::vector<Stage> expand_stages(const Config& config, const RunContext& context, const std::filesystem::path& root);

// --from / --only by name; an unknown name is a vdsr::Error that lists the stages.
Selection select_stages(const std::vector<Stage>& stages, const Options& options, const std::string& mode);

// The last stage before `before` whose outputs hold `path`.
std::optional<size_t> producer(const std::vector<Stage>& stages, const std::string& path, size_t before);

// Inputs that no earlier stage produces must exist (with --only, every input of the stage): throws
// vdsr::Error listing the missing ones.
void check_inputs(const std::vector<Stage>& stages, const Selection& selection);

}  // namespace vdsr::pipeline
