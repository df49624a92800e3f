#pragma once
// The tunable hyper-parameters under the search space's names (configs/search_space.json), and the one
// mapping between them and JSON that every tool uses: vdsr-train --params and trial parameters, the
// trainer's checkpoints and reports, vdsr-prune's finetune block.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vdsr {
class Fields;
}

namespace vdsr::train {

struct HyperParams {
  double lr = 0.1;
  double momentum = 0.9;
  int batch_size = 128;
  double clip = 0.4;
  double weight_decay = 1e-4;
};

// {"lr", "momentum", "batchSize", "clip", "weight_decay"}: every field.
void to_json(nlohmann::json& j, const HyperParams& p);

// Any subset of the keys over the defaults; unknown keys and bad values are errors.
void from_json(const nlohmann::json& j, HyperParams& p);

// Reads the keys of HyperParams that `fields` holds (any subset) over `params`, each checked for type and
// range (lr > 0, momentum in [0, 1], batchSize an integer >= 1, clip >= 0, weight_decay >= 0); returns the
// keys it read. Other keys are the caller's: its Fields::finish() rejects the unknown ones.
std::vector<std::string> read_hyper_params(Fields& fields, HyperParams& params);

// A parameters file (a tuner's best.json, a trial's params.json): an object of hyper-parameters only.
// Returns the keys found and fills them into `params`; errors name the file and the key.
std::vector<std::string> read_params_file(const std::filesystem::path& path, HyperParams& params);

// Checks the ranges above for values that did not come from JSON (command-line flags).
void validate(const HyperParams& params);

}  // namespace vdsr::train
