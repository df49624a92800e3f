#pragma once
// NNI config_list → a per-layer pruning plan (docs/config-list.md). No LibTorch: the plan only needs
// the layers' names, types and filter counts.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace vdsr::compress {

struct LayerInfo {
  std::string name;                // module name as PyTorch: input, residual_layer.N.conv, output
  std::string type = "Conv2d";
  int in = 0, out = 0;             // channels
  long long weights = 0;           // out * in * k * k
  bool feeds_residual_add = false; // its filters are coupled with the network input (never removable)
};

enum class Mode { Normal, DependencyAware, Balance };

struct PlanOptions {
  Mode mode = Mode::Normal;
  int round_to = 8;  // balance mode: pruned widths stay multiples of this
  bool unstructured = false;  // Level pruning: sparsity counts weights, not filters, and no channel couples
};

struct LayerPlan {
  LayerInfo layer;
  int dict = -1;          // the config_list entry that decides this layer; -1 when none matches
  bool pruned = false;    // false when unmatched, excluded, or nothing can be removed
  double sparsity = 0.0;  // per-layer target; for a global group, the share the ranking gave it
  int group = -1;         // index into Plan::groups for total_sparsity layers, else -1
  int remove = 0;         // filters to remove (global groups: filled in by the ranking)
  std::string note;       // why, in words
};

struct GlobalGroup {
  std::string id;               // "config_list[k]" or the NNI 3.0 global_group_id
  double total = 0.0;           // fraction of the group's weights to remove
  double max_per_layer = 0.99;  // cap on any one layer's sparsity (never all filters anyway)
  double min_per_layer = 0.0;
  std::map<std::string, double> max_by_name;  // per-layer caps from a max_sparsity_per_layer object
  std::vector<int> layers;      // indices into Plan::layers
};

struct Plan {
  std::vector<LayerPlan> layers;
  std::vector<GlobalGroup> groups;
  std::vector<std::string> warnings;  // e.g. an op_names entry that matches no layer

  nlohmann::json to_json() const;
  std::string table() const;  // human-readable plan
};

// floor(s * n) with float error guarded (0.29 * 100 gives 29), and never all n filters.
int filters_to_remove(double sparsity, int n);

// Balance mode: the removal adjusted so that the kept width is the nearest multiple of round_to
// (ties keep more), at least round_to, at most n.
int balanced_removal(int remove, int n, int round_to);

// Parses and canonicalises `config_list` (a JSON array; `where` names the file for errors) against the
// model's layers. Throws vdsr::Error naming the entry index and key for every invalid entry.
Plan make_plan(const nlohmann::json& config_list, const std::vector<LayerInfo>& layers, const PlanOptions& options,
               const std::string& where);

}  // namespace vdsr::compress
