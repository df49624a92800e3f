#pragma once
// NNI config_list → a per-layer pruning plan (docs/config-list.md). No LibTorch: the plan only needs
// the layers' names, types and filter counts.
//
// make_plan canonicalises the config_list in small passes, as NNI does, each one testable alone:
//   parse_config_list   each dict read and checked on its own          → ConfigEntry
//   select_layers       the layers one dict selects                     → Selection
//   resolve_groups      total_sparsity dicts joined into global groups  → Grouping
//   last_match_wins     per layer, the last dict that selects it decides → LayerPlan
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "vdsr/util/enum_names.h"

namespace vdsr::compress {

struct LayerInfo {
  std::string name;                // module name as PyTorch: input, residual_layer.N.conv, output
  std::string type = "Conv2d";
  int in = 0, out = 0;             // channels
  long long weights = 0;           // out * in * k * k
  bool feeds_residual_add = false; // its filters are coupled with the network input (never removable)
};

enum class Mode { Normal, DependencyAware, Balance };
VDSR_ENUM_NAMES(Mode, {{Mode::Normal, "normal"},
                       {Mode::DependencyAware, "dependency_aware"},
                       {Mode::Balance, "balance"}})

// What one pruned unit is: a whole output filter (the model gets narrower) or a single weight (NNI's
// LevelPruner: masks only, the widths stay).
enum class Granularity { kFilter, kWeight };
VDSR_ENUM_NAMES(Granularity, {{Granularity::kFilter, "filter"}, {Granularity::kWeight, "weight"}})

// "normal", "dependency_aware", "balance"; throws vdsr::Error listing them otherwise.
Mode parse_mode(const std::string& name);
std::string mode_name(Mode mode);

struct PlanOptions {
  Mode mode = Mode::Normal;
  int round_to = 8;  // balance mode: pruned widths stay multiples of this
  Granularity granularity = Granularity::kFilter;  // kWeight: sparsity counts weights, and no channel couples
};

// A layer's prunable units at a granularity: its filters, or its weights.
int units_of(const LayerInfo& layer, Granularity granularity);

struct LayerPlan {
  LayerInfo layer;
  int dict = -1;          // the config_list entry that decides this layer; -1 when none matches
  bool pruned = false;    // false when unmatched, excluded, or nothing can be removed
  double sparsity = 0.0;  // per-layer target; for a global group, the share the ranking gave it
  int group = -1;         // index into Plan::groups for total_sparsity layers, else -1
  int remove = 0;         // units to remove (global groups: filled in by the ranking)
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
// The same from the text of a config_list (vdsr/util/json_io.h limits).
Plan make_plan_from_text(std::string_view config_list, const std::vector<LayerInfo>& layers,
                         const PlanOptions& options, const std::string& where);

// ---- the passes of make_plan ----

// Which layers a dict names. Name selectors unite, op_types intersects, exclude_op_* remove (NNI).
struct Selector {
  std::optional<std::vector<std::string>> types;            // op_types
  bool by_name = false;                                     // any name selector given
  std::vector<std::string> names, partial_names, names_re;  // op_names, op_partial_names, op_names_re
  std::vector<std::string> exclude_names, exclude_types, exclude_names_re;
};

// A total_sparsity dict's target: the group it joins and the caps it sets.
struct GroupTarget {
  std::string id;  // "config_list[k]", or "global_group_id <id>"
  double total = 0.0;
  std::string total_key;  // the key it was read from, for errors
  std::optional<double> max_per_layer, min_per_layer;
  std::map<std::string, double> max_by_name;
};

// One config_list dict, read and checked without the model.
struct ConfigEntry {
  int index = 0;
  std::string where;  // "prune.json: config_list[3]"
  bool exclude = false;
  Selector selector;
  std::optional<double> sparsity;     // a per-layer target
  std::optional<GroupTarget> target;  // a global target
  std::vector<std::string> warnings;  // e.g. an exclude dict's ignored sparsity
};

// Pass 1: every dict read with vdsr/util/fields.h; the first invalid one throws.
std::vector<ConfigEntry> parse_config_list(const nlohmann::json& config_list, const std::string& where);

// Pass 2: the layers (indices) one dict selects, and a warning for each name that matches none.
struct Selection {
  std::set<int> layers;
  std::vector<std::string> warnings;
};
Selection select_layers(const ConfigEntry& entry, const std::vector<LayerInfo>& layers);

// Pass 3: dicts with a global target joined into groups, one per dict or per global_group_id, in order
// of first appearance; the totals of one group must agree.
struct Grouping {
  std::vector<GlobalGroup> groups;  // without their layers yet
  std::vector<int> group_of;        // per entry: its group, or -1
};
Grouping resolve_groups(const std::vector<ConfigEntry>& entries);

// Pass 4: for each layer, the last dict that selects it decides (an exclude dict keeps it whole), and
// the groups get their layers.
std::vector<LayerPlan> last_match_wins(const std::vector<LayerInfo>& layers, const std::vector<ConfigEntry>& entries,
                                       const std::vector<Selection>& selections, Grouping& grouping,
                                       const PlanOptions& options);

}  // namespace vdsr::compress
