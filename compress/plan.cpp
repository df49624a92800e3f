#include "compress/plan.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <regex>
#include <set>
#include <sstream>

#include "vdsr/util/error.h"

namespace vdsr::compress {

using nlohmann::json;

int filters_to_remove(double sparsity, int n) {
  const int remove = static_cast<int>(std::floor(sparsity * n + 1e-9));
  return std::clamp(remove, 0, n - 1);
}

int balanced_removal(int remove, int n, int round_to) {
  if (remove == 0 || round_to <= 1) return remove;
  const int kept = n - remove;
  int rounded = static_cast<int>(std::floor(static_cast<double>(kept) / round_to + 0.5)) * round_to;
  rounded = std::clamp(rounded, round_to, n);
  return n - rounded;
}

namespace {

// Keys of NNI 2.x and their NNI 3.0 spellings.
const std::vector<std::string> kValidKeys = {
    "sparsity",          "sparsity_per_layer", "total_sparsity",   "max_sparsity_per_layer", "op_types",
    "op_names",          "op_partial_names",   "exclude",          "sparse_ratio",           "max_sparse_ratio",
    "min_sparse_ratio",  "op_names_re",        "exclude_op_names", "exclude_op_types",       "exclude_op_names_re",
    "global_group_id"};

struct Entry {
  int index = 0;
  bool exclude = false;
  std::set<int> matches;   // layer indices
  double sparsity = -1.0;  // per-layer target, or -1
  int group = -1;          // global group, or -1
};

class EntryParser {
 public:
  EntryParser(const std::string& where, int index, const json& dict) : where_(where), index_(index), dict_(dict) {}

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw Error(where_ + ": config_list[" + std::to_string(index_) + "]" + (key.empty() ? "" : "." + key) + ": " + what);
  }
  bool has(const std::string& key) const { return dict_.contains(key); }

  double ratio(const std::string& key) const {
    const json& v = dict_.at(key);
    if (!v.is_number()) fail(key, "expected a number in [0, 1), got " + v.dump());
    const double s = v.get<double>();
    if (!(s >= 0.0 && s < 1.0)) fail(key, "expected a number in [0, 1), got " + v.dump());
    return s;
  }
  std::vector<std::string> strings(const std::string& key) const {
    const json& v = dict_.at(key);
    if (!v.is_array()) fail(key, "expected a list of strings, got " + v.dump());
    std::vector<std::string> out;
    for (const auto& s : v) {
      if (!s.is_string()) fail(key, "expected a list of strings, got " + v.dump());
      out.push_back(s.get<std::string>());
    }
    return out;
  }

 private:
  std::string where_;
  int index_;
  const json& dict_;
};

bool type_matches(const std::string& wanted, const LayerInfo& layer) {
  // NNI's "default" stands for the pruner's default layer types: Conv2d and Linear for filter pruners.
  return wanted == layer.type || (wanted == "default" && (layer.type == "Conv2d" || layer.type == "Linear"));
}

std::string layer_names(const std::vector<LayerInfo>& layers) {
  std::string names;
  for (const auto& l : layers) names += (names.empty() ? "" : ", ") + l.name;
  return names;
}

}  // namespace

Plan make_plan(const json& config_list, const std::vector<LayerInfo>& layers, const PlanOptions& options,
               const std::string& where) {
  if (!config_list.is_array()) {
    throw Error(where + ": config_list must be a JSON array of dicts, got " + std::string(config_list.type_name()));
  }
  if (config_list.empty()) throw Error(where + ": config_list is empty");
  Plan plan;
  std::vector<Entry> entries;
  std::map<std::string, int> group_by_id;

  for (int i = 0; i < static_cast<int>(config_list.size()); ++i) {
    const json& dict = config_list[i];
    EntryParser p(where, i, dict);
    if (!dict.is_object()) p.fail("", "expected a dict, got " + dict.dump());
    for (const auto& [key, value] : dict.items()) {
      if (std::find(kValidKeys.begin(), kValidKeys.end(), key) == kValidKeys.end()) {
        std::string valid;
        for (const auto& k : kValidKeys) valid += (valid.empty() ? "" : ", ") + k;
        p.fail(key, "unknown key (valid keys: " + valid + ")");
      }
    }
    Entry e;
    e.index = i;
    if (p.has("exclude")) {
      if (!dict["exclude"].is_boolean()) p.fail("exclude", "expected true or false, got " + dict["exclude"].dump());
      e.exclude = dict["exclude"].get<bool>();
    }

    // Selection: name selectors unite, op_types intersects, exclude_op_* remove (NNI semantics).
    const bool by_type = p.has("op_types");
    const bool by_name = p.has("op_names") || p.has("op_partial_names") || p.has("op_names_re");
    if (!by_type && !by_name) p.fail("", "no layer selector (give op_types, op_names, op_partial_names or op_names_re)");
    std::set<int> named;
    auto warn_unmatched = [&](const std::string& key, const std::string& value) {
      plan.warnings.push_back(where + ": config_list[" + std::to_string(i) + "]." + key + " entry '" + value +
                              "' matches no layer (layers: " + layer_names(layers) + ")");
    };
    if (p.has("op_names")) {
      for (const auto& name : p.strings("op_names")) {
        bool found = false;
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (layers[l].name == name) named.insert(l), found = true;
        }
        if (!found) warn_unmatched("op_names", name);
      }
    }
    if (p.has("op_partial_names")) {
      for (const auto& part : p.strings("op_partial_names")) {
        bool found = false;
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (layers[l].name.find(part) != std::string::npos) named.insert(l), found = true;
        }
        if (!found) warn_unmatched("op_partial_names", part);
      }
    }
    auto regex_of = [&](const std::string& key, const std::string& pattern) {
      try {
        return std::regex(pattern);
      } catch (const std::regex_error& err) {
        p.fail(key, "invalid regular expression '" + pattern + "' (" + err.what() + ")");
      }
    };
    if (p.has("op_names_re")) {
      for (const auto& pattern : p.strings("op_names_re")) {
        const std::regex re = regex_of("op_names_re", pattern);
        bool found = false;
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (std::regex_match(layers[l].name, re)) named.insert(l), found = true;
        }
        if (!found) warn_unmatched("op_names_re", pattern);
      }
    }
    const std::vector<std::string> types = by_type ? p.strings("op_types") : std::vector<std::string>{};
    for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
      if (by_name && !named.count(l)) continue;
      if (by_type && std::none_of(types.begin(), types.end(), [&](const auto& t) { return type_matches(t, layers[l]); })) {
        continue;
      }
      e.matches.insert(l);
    }
    if (p.has("exclude_op_names")) {
      for (const auto& name : p.strings("exclude_op_names")) {
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (layers[l].name == name) e.matches.erase(l);
        }
      }
    }
    if (p.has("exclude_op_types")) {
      for (const auto& type : p.strings("exclude_op_types")) {
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (type_matches(type, layers[l])) e.matches.erase(l);
        }
      }
    }
    if (p.has("exclude_op_names_re")) {
      for (const auto& pattern : p.strings("exclude_op_names_re")) {
        const std::regex re = regex_of("exclude_op_names_re", pattern);
        for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
          if (std::regex_match(layers[l].name, re)) e.matches.erase(l);
        }
      }
    }

    // Target: one per-layer sparsity, or one global (total) sparsity.
    if (p.has("sparsity") && p.has("sparsity_per_layer")) {
      p.fail("sparsity_per_layer", "give either sparsity or sparsity_per_layer (they are aliases), not both");
    }
    const bool global_3 = p.has("global_group_id");
    std::vector<std::string> per_layer_keys, total_keys;
    for (const char* k : {"sparsity", "sparsity_per_layer"}) if (p.has(k)) per_layer_keys.push_back(k);
    if (p.has("sparse_ratio")) (global_3 ? total_keys : per_layer_keys).push_back("sparse_ratio");
    if (p.has("total_sparsity")) total_keys.push_back("total_sparsity");
    if (per_layer_keys.size() + total_keys.size() > 1) {
      const auto& second = per_layer_keys.size() > 1 ? per_layer_keys[1] : total_keys.back();
      p.fail(second, "more than one sparsity given in one dict");
    }
    if (e.exclude) {
      if (!per_layer_keys.empty() || !total_keys.empty()) {
        plan.warnings.push_back(where + ": config_list[" + std::to_string(i) + "]: exclude dict's sparsity is ignored");
      }
    } else if (!per_layer_keys.empty()) {
      e.sparsity = p.ratio(per_layer_keys[0]);
      for (const char* k : {"max_sparsity_per_layer", "max_sparse_ratio", "min_sparse_ratio"}) {
        if (p.has(k)) p.fail(k, "only applies with total_sparsity (or sparse_ratio with global_group_id)");
      }
    } else if (!total_keys.empty()) {
      const double total = p.ratio(total_keys[0]);
      std::string id = "config_list[" + std::to_string(i) + "]";
      if (global_3) {
        const json& g = dict["global_group_id"];
        if (!g.is_string() && !g.is_number_integer()) p.fail("global_group_id", "expected an integer or a string");
        id = "global_group_id " + (g.is_string() ? g.get<std::string>() : g.dump());
      }
      auto found = group_by_id.find(id);
      if (found == group_by_id.end()) {
        GlobalGroup group;
        group.id = id;
        group.total = total;
        found = group_by_id.emplace(id, static_cast<int>(plan.groups.size())).first;
        plan.groups.push_back(group);
      } else if (std::abs(plan.groups[found->second].total - total) > 1e-12) {
        p.fail(total_keys[0], "differs from the other dicts of " + id);
      }
      GlobalGroup& group = plan.groups[found->second];
      for (const char* k : {"max_sparsity_per_layer", "max_sparse_ratio"}) {
        if (!p.has(k)) continue;
        if (dict[k].is_object()) {
          for (const auto& [name, cap] : dict[k].items()) {
            if (!cap.is_number() || cap.get<double>() < 0 || cap.get<double>() > 1) {
              p.fail(k, "expected numbers in [0, 1] for each layer, got " + cap.dump() + " for " + name);
            }
            group.max_by_name[name] = cap.get<double>();
          }
        } else {
          if (!dict[k].is_number() || dict[k].get<double>() <= 0 || dict[k].get<double>() > 1) {
            p.fail(k, "expected a number in (0, 1], got " + dict[k].dump());
          }
          group.max_per_layer = dict[k].get<double>();
        }
      }
      if (p.has("min_sparse_ratio")) group.min_per_layer = p.ratio("min_sparse_ratio");
      e.group = found->second;
    } else {
      p.fail("", "no sparsity (give sparsity, sparsity_per_layer, total_sparsity or sparse_ratio), and not an exclude dict");
    }
    entries.push_back(std::move(e));
  }

  // The last dict that matches a layer decides it; an exclude dict removes what came before.
  for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
    LayerPlan lp;
    lp.layer = layers[l];
    for (const auto& e : entries) {
      if (e.matches.count(l)) lp.dict = e.index;
    }
    if (lp.dict < 0) {
      lp.note = "not selected";
    } else if (entries[lp.dict].exclude) {
      lp.note = "excluded by config_list[" + std::to_string(lp.dict) + "]";
    } else if (!options.unstructured && lp.layer.feeds_residual_add && options.mode == Mode::DependencyAware) {
      lp.note = "coupled with the network input by the residual add: its filter is never removed";
    } else if (!options.unstructured && lp.layer.out <= 1) {
      lp.note = "a single filter: nothing to remove";
    } else if (entries[lp.dict].group >= 0) {
      lp.pruned = true;
      lp.group = entries[lp.dict].group;
      plan.groups[lp.group].layers.push_back(l);
      lp.note = "ranked globally in " + plan.groups[lp.group].id;
    } else {
      lp.sparsity = entries[lp.dict].sparsity;
      lp.remove = filters_to_remove(lp.sparsity, options.unstructured ? static_cast<int>(lp.layer.weights) : lp.layer.out);
      if (options.mode == Mode::Balance && !options.unstructured) {
        lp.remove = balanced_removal(lp.remove, lp.layer.out, options.round_to);
      }
      lp.pruned = lp.remove > 0;
      lp.note = "config_list[" + std::to_string(lp.dict) + "]";
    }
    plan.layers.push_back(lp);
  }
  const bool any = std::any_of(plan.layers.begin(), plan.layers.end(),
                               [&](const LayerPlan& lp) { return lp.dict >= 0 && !entries[lp.dict].exclude; });
  if (!any) throw Error(where + ": config_list selects no layer (layers: " + layer_names(layers) + ")");
  return plan;
}

json Plan::to_json() const {
  json out = {{"layers", json::array()}, {"groups", json::array()}, {"warnings", warnings}};
  for (const auto& lp : layers) {
    out["layers"].push_back({{"name", lp.layer.name},
                             {"type", lp.layer.type},
                             {"in", lp.layer.in},
                             {"out", lp.layer.out},
                             {"dict", lp.dict < 0 ? json() : json(lp.dict)},
                             {"pruned", lp.pruned},
                             {"sparsity", lp.sparsity},
                             {"remove", lp.remove},
                             {"group", lp.group < 0 ? json() : json(groups[lp.group].id)},
                             {"note", lp.note}});
  }
  for (const auto& g : groups) {
    out["groups"].push_back({{"id", g.id}, {"total", g.total}, {"max_per_layer", g.max_per_layer},
                             {"min_per_layer", g.min_per_layer}, {"max_by_name", g.max_by_name},
                             {"layers", g.layers.size()}});
  }
  return out;
}

std::string Plan::table() const {
  std::ostringstream out;
  out << "| layer | filters | sparsity | remove | decided by |\n|---|---:|---:|---:|---|\n";
  for (const auto& lp : layers) {
    out << "| " << lp.layer.name << " | " << lp.layer.out << " | " << std::fixed << std::setprecision(3)
        << lp.sparsity << " | " << lp.remove << " | " << lp.note << " |\n";
  }
  for (const auto& w : warnings) out << "warning: " << w << "\n";
  return out.str();
}

}  // namespace vdsr::compress
