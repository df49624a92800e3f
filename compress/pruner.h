#pragma once
// Filter pruning of a VDSR checkpoint: importance per filter (L1, L2, FPGM) or per weight (Level),
// masks from a plan, and speedup into a physically narrower VDSR.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/plan.h"
#include "vdsr/checkpoint.h"

namespace vdsr::compress {

enum class Pruner { L1, L2, FPGM, Level };

// "l1", "l2", "fpgm", "level" (case-insensitive); throws vdsr::Error listing them otherwise.
Pruner parse_pruner(const std::string& name);
std::string pruner_name(Pruner pruner);
Mode parse_mode(const std::string& name);
std::string mode_name(Mode mode);

// The model's convolutions as the plan sees them (names without ".weight").
std::vector<LayerInfo> layers_of(const Architecture& architecture);

// Importance of each output filter of a [out, in, k, k] weight: higher is kept. Per-layer rankings use
// it as is; global rankings compare layers, so it is normalised per weight (mean |w|, RMS, mean
// distance) to be independent of a layer's fan-in.
at::Tensor filter_importance(const at::Tensor& weight, Pruner pruner, bool per_weight);

struct PruneResult {
  Plan plan;                                 // global groups resolved: every layer's `remove` is final
  std::vector<std::vector<int64_t>> kept;    // per layer: kept output filters, ascending
  std::vector<nlohmann::json> norms;         // per layer: L1-norm statistics of kept and removed filters
  Checkpoint masked;                         // the original widths with pruned filters/weights zeroed
  Checkpoint pruned;                         // physically narrower (filter pruners); equals masked for Level
  bool shrinks = true;                       // false for Level: masks cannot make the model smaller
};

PruneResult prune(const Checkpoint& checkpoint, Plan plan, Pruner pruner, const PlanOptions& options);

// Channel surgery: output filters of layer i and the matching input channels of layer i+1.
Checkpoint speedup(const Checkpoint& checkpoint, const std::vector<std::vector<int64_t>>& kept);

}  // namespace vdsr::compress
