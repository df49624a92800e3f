#pragma once
// Pruning a VDSR checkpoint: a criterion (compress/criteria.h) ranks the units of each layer at a
// granularity (whole filters, or single weights), masks follow the plan, and speedup makes a
// physically narrower VDSR.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/criteria.h"
#include "compress/plan.h"
#include "vdsr/checkpoint.h"

namespace vdsr::compress {

// A criterion applied at a granularity. Every criterion ranks filters; "level" (NNI's LevelPruner)
// ranks single weights by l1, i.e. by their magnitude.
struct Pruner {
  std::string criterion = "l1";  // a name in criteria()
  Granularity granularity = Granularity::kFilter;
};

// A criterion's name or "level", case-insensitive; throws vdsr::Error listing them otherwise.
Pruner parse_pruner(const std::string& name);
std::string pruner_name(const Pruner& pruner);

// The model's convolutions as the plan sees them (names without ".weight").
std::vector<LayerInfo> layers_of(const Architecture& architecture);

// Importance of each unit of a [out, in, k, k] weight at the pruner's granularity (each output filter,
// or each weight): higher is kept. Per-layer rankings use it as is; global rankings compare layers, so
// with `per_weight` it is normalised per weight (mean |w|, RMS, mean distance) to be independent of a
// layer's fan-in.
at::Tensor importance(const at::Tensor& weight, const Pruner& pruner, bool per_weight);

struct PruneResult {
  Plan plan;                                 // global groups resolved: every layer's `remove` is final
  std::vector<std::vector<int64_t>> kept;    // per layer: kept output filters, ascending
  std::vector<nlohmann::json> norms;         // per layer: L1-norm statistics of kept and removed filters
  Checkpoint masked;                         // the original widths with pruned filters/weights zeroed
  Checkpoint pruned;                         // physically narrower (filter pruners); equals masked for level
  bool shrinks = true;                       // false for level: masks cannot make the model smaller
};

// `options` must have the pruner's granularity (the plan was made with it).
PruneResult prune(const Checkpoint& checkpoint, Plan plan, const Pruner& pruner, const PlanOptions& options);

// Channel surgery: output filters of layer i and the matching input channels of layer i+1.
Checkpoint speedup(const Checkpoint& checkpoint, const std::vector<std::vector<int64_t>>& kept);

}  // namespace vdsr::compress
