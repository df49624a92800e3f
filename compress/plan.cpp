#include "compress/plan.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <regex>
#include <sstream>

#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/json_io.h"

namespace vdsr::compress {

using nlohmann::json;

Mode parse_mode(const std::string& name) {
  Mode mode{};
  if (!try_parse_enum(name, mode)) throw Error("unknown mode '" + name + "' (expected " + enum_choices<Mode>() + ")");
  return mode;
}

std::string mode_name(Mode mode) { return name_of(mode); }

int units_of(const LayerInfo& layer, Granularity granularity) {
  return granularity == Granularity::kWeight ? static_cast<int>(layer.weights) : layer.out;
}

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

const Range kRatio = Range::half_open(0.0, 1.0);                          // a sparsity: [0, 1)
const Range kMaxRatio{0.0, 1.0, /*max_open=*/false, /*min_open=*/true};  // a cap: (0, 1]

// ---- pass 1: parse ----

// What std::regex would mishandle in a layer-name pattern, or "". A quantifier after another one ("a**",
// "a+{2}"): Python's re, which NNI uses, rejects it as a "multiple repeat", while std::regex nests the
// repeats at exponential cost; a single '?' after a quantifier makes it lazy and is allowed, as in Python.
// Back-references and repeat counts over 1000: libstdc++ reads their digits into an int that can
// overflow, and layer names need neither.
std::string pattern_problem(const std::string& pattern) {
  const auto at = [](size_t i) { return " at position " + std::to_string(i); };
  bool after_quantifier = false, after_lazy = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool quantifier = c == '*' || c == '+' || c == '?' || c == '{';
    if (quantifier && (after_lazy || (after_quantifier && c != '?'))) return "multiple repeat" + at(i);
    if (c == '\\') {
      if (i + 1 < pattern.size() && pattern[i + 1] >= '1' && pattern[i + 1] <= '9')
        return "back-references are not supported" + at(i);
      ++i;
    } else if (c == '[') {  // a class: its characters are literal up to the closing ']'
      size_t j = i + 1;
      if (j < pattern.size() && pattern[j] == '^') ++j;
      if (j < pattern.size() && pattern[j] == ']') ++j;
      while (j < pattern.size() && pattern[j] != ']') j += pattern[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(' && i + 1 < pattern.size() && pattern[i + 1] == '?') {
      ++i;  // "(?:", "(?=", "(?!": that '?' is not a quantifier
    } else if (c == '{') {
      const size_t close = std::min(pattern.find('}', i), pattern.size());
      size_t digits = 0;
      for (size_t j = i + 1; j < close; ++j) {
        digits = std::isdigit(static_cast<unsigned char>(pattern[j])) ? digits + 1 : 0;
        if (digits > 3) return "repeat count over 999" + at(i);
      }
      i = close;
    }
    after_lazy = after_quantifier && c == '?';
    after_quantifier = quantifier && !after_lazy;
  }
  return "";
}

// A layer-name pattern as std::regex. libstdc++'s __polynomial flag matches with its breadth-first
// executor, whose time is polynomial in the name's length: a pattern such as "(a*)*b" from an outside
// config_list cannot stall the tool (it has no back-references, which layer names do not need).
std::regex layer_pattern(const std::string& pattern) {
#ifdef __GLIBCXX__
  return std::regex(pattern, std::regex::ECMAScript | std::regex_constants::__polynomial);
#else
  return std::regex(pattern);
#endif
}

std::vector<std::string> patterns(Fields& f, const char* key) {
  const auto values = f.optional<std::vector<std::string>>(key, {});
  for (const auto& pattern : values) {
    const std::string invalid = "invalid regular expression '" + pattern + "' (";
    if (const std::string problem = pattern_problem(pattern); !problem.empty()) f.fail(key, invalid + problem + ")");
    try {
      (void)layer_pattern(pattern);
    } catch (const std::regex_error& err) {
      f.fail(key, invalid + err.what() + ")");
    }
  }
  return values;
}

Selector read_selector(Fields& f) {
  using Names = std::vector<std::string>;
  Selector s;
  s.by_name = f.has("op_names") || f.has("op_partial_names") || f.has("op_names_re");
  if (!f.has("op_types") && !s.by_name) {
    f.fail("", "no layer selector (give op_types, op_names, op_partial_names or op_names_re)");
  }
  s.names = f.optional<Names>("op_names", {});
  s.partial_names = f.optional<Names>("op_partial_names", {});
  s.names_re = patterns(f, "op_names_re");
  s.types = f.maybe<Names>("op_types");
  s.exclude_names = f.optional<Names>("exclude_op_names", {});
  s.exclude_types = f.optional<Names>("exclude_op_types", {});
  s.exclude_names_re = patterns(f, "exclude_op_names_re");
  return s;
}

// max_sparsity_per_layer / max_sparse_ratio: one cap, or {"layer": cap}.
void read_caps(Fields& f, const char* key, GroupTarget& target) {
  if (!f.raw(key).is_object()) {
    target.max_per_layer = f.required<double>(key, kMaxRatio);
    return;
  }
  Fields caps = f.object(key);
  for (const auto& [name, cap] : f.raw(key).items()) {
    target.max_by_name[name] = caps.required<double>(name, Range::between(0, 1));
  }
}

GroupTarget read_group_target(Fields& f, const std::string& total_key, int index) {
  GroupTarget t;
  t.total_key = total_key;
  t.total = f.required<double>(total_key, kRatio);
  t.id = "config_list[" + std::to_string(index) + "]";
  if (f.has("global_group_id")) {
    const json& g = f.raw("global_group_id");
    if (!g.is_string() && !g.is_number_integer()) f.fail("global_group_id", "expected an integer or a string");
    t.id = "global_group_id " + (g.is_string() ? g.get<std::string>() : g.dump());
  }
  for (const char* key : {"max_sparsity_per_layer", "max_sparse_ratio"}) {
    if (f.has(key)) read_caps(f, key, t);
  }
  t.min_per_layer = f.maybe<double>("min_sparse_ratio", kRatio);
  return t;
}

// The sparsity keys a dict gives, as per-layer and as global targets. sparse_ratio is NNI 3.0's
// spelling of both: a global target with a global_group_id, else a per-layer one.
struct SparsityKeys {
  std::vector<std::string> per_layer, total;
};

SparsityKeys sparsity_keys(Fields& f) {
  if (f.has("sparsity") && f.has("sparsity_per_layer")) {
    f.fail("sparsity_per_layer", "give either sparsity or sparsity_per_layer (they are aliases), not both");
  }
  SparsityKeys keys;
  for (const char* k : {"sparsity", "sparsity_per_layer"}) {
    if (f.has(k)) keys.per_layer.push_back(k);
  }
  if (f.has("sparse_ratio")) {
    (f.has("global_group_id") ? keys.total : keys.per_layer).push_back("sparse_ratio");
  }
  if (f.has("total_sparsity")) keys.total.push_back("total_sparsity");
  if (keys.per_layer.size() + keys.total.size() > 1) {
    const std::string& second = keys.per_layer.size() > 1 ? keys.per_layer[1] : keys.total.back();
    f.fail(second, "more than one sparsity given in one dict");
  }
  return keys;
}

void read_target(Fields& f, ConfigEntry& e) {
  const SparsityKeys keys = sparsity_keys(f);
  if (e.exclude) {
    if (!keys.per_layer.empty() || !keys.total.empty()) {
      e.warnings.push_back(e.where + ": exclude dict's sparsity is ignored");
    }
  } else if (!keys.per_layer.empty()) {
    e.sparsity = f.required<double>(keys.per_layer[0], kRatio);
    for (const char* k : {"max_sparsity_per_layer", "max_sparse_ratio", "min_sparse_ratio"}) {
      if (f.has(k)) f.fail(k, "only applies with total_sparsity (or sparse_ratio with global_group_id)");
    }
  } else if (!keys.total.empty()) {
    e.target = read_group_target(f, keys.total[0], e.index);
  } else {
    f.fail("", "no sparsity (give sparsity, sparsity_per_layer, total_sparsity or sparse_ratio), and not an exclude dict");
  }
}

// NNI 3.0's target_names: which parts of each selected module are compressed. A filter pruner removes
// output filters of "weight" (with "bias" aligned to it, as NNI does; VDSR's convolutions have none).
// Activations (_input_*, _output_*) would need calibration data and an activation metric: not supported.
void check_targets(Fields& f, bool exclude) {
  const auto targets = f.maybe<std::vector<std::string>>("target_names");
  if (!targets) return;
  for (const std::string& t : *targets) {
    if (t == "weight" || t == "bias") continue;
    if (t.rfind("_input_", 0) == 0 || t.rfind("_output_", 0) == 0) {
      f.fail("target_names", "'" + t + "' is an activation; vdsr-prune prunes weights only (give [\"weight\"])");
    }
    f.fail("target_names", "'" + t + "' is not a part of a Conv2d here (expected weight or bias)");
  }
  if (!exclude && std::find(targets->begin(), targets->end(), "weight") == targets->end()) {
    f.fail("target_names", "must include \"weight\": the filters a pruner removes are the weight's");
  }
}

ConfigEntry parse_entry(const json& dict, int index, const std::string& where) {
  ConfigEntry e;
  e.index = index;
  e.where = where + ": config_list[" + std::to_string(index) + "]";
  if (!dict.is_object()) throw Error(e.where + ": expected a dict, got " + dict.dump());
  Fields f(dict, e.where);
  // Keys of NNI 2.x and their NNI 3.0 spellings; an unknown key is the first error, as in NNI.
  f.allow({"sparsity", "sparsity_per_layer", "total_sparsity", "max_sparsity_per_layer", "op_types", "op_names",
           "op_partial_names", "exclude", "sparse_ratio", "max_sparse_ratio", "min_sparse_ratio", "op_names_re",
           "exclude_op_names", "exclude_op_types", "exclude_op_names_re", "global_group_id", "target_names"});
  f.finish();
  e.exclude = f.optional<bool>("exclude", false);
  e.selector = read_selector(f);
  check_targets(f, e.exclude);
  read_target(f, e);
  return e;
}

// ---- pass 2: select ----

bool type_matches(const std::string& wanted, const LayerInfo& layer) {
  // NNI's "default" stands for the pruner's default layer types: Conv2d and Linear for filter pruners.
  return wanted == layer.type || (wanted == "default" && (layer.type == "Conv2d" || layer.type == "Linear"));
}
bool name_is(const std::string& name, const LayerInfo& layer) { return layer.name == name; }

bool any_matches(const std::vector<std::string>& values, const LayerInfo& layer,
                 bool (*matches)(const std::string&, const LayerInfo&)) {
  return std::any_of(values.begin(), values.end(), [&](const std::string& v) { return matches(v, layer); });
}

// Each pattern compiled once per dict, not once per layer.
std::vector<std::regex> compile(const std::vector<std::string>& patterns) {
  std::vector<std::regex> compiled;
  for (const auto& pattern : patterns) compiled.push_back(layer_pattern(pattern));
  return compiled;
}

bool any_regex_matches(const std::vector<std::regex>& patterns, const LayerInfo& layer) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::regex& r) { return std::regex_match(layer.name, r); });
}

// Warnings that repeat (one per dict of a generated config_list) become one line per kind: how many,
// and the first few.
class WarningTally {
 public:
  void add(const std::string& kind, std::string text) {
    auto [it, added] = index_.emplace(kind, kinds_.size());
    if (added) kinds_.push_back({kind, 0, {}});
    Kind& k = kinds_[it->second];
    ++k.count;
    if (k.examples.size() < kExamples) k.examples.push_back(std::move(text));
  }
  // `suffix` of a kind is appended once to its line (e.g. the list of layers).
  std::vector<std::string> lines(const std::map<std::string, std::string>& suffix) const {
    std::vector<std::string> out;
    for (const Kind& k : kinds_) {
      const auto s = suffix.find(k.kind);
      const std::string end = s == suffix.end() ? "" : s->second;
      if (k.count == 1) {
        out.push_back(k.examples[0] + end);
        continue;
      }
      std::string line = std::to_string(k.count) + " times: " + k.kind + end + "; e.g. ";
      for (size_t i = 0; i < k.examples.size(); ++i) line += (i ? "; " : "") + k.examples[i];
      if (k.count > static_cast<long long>(k.examples.size())) line += "; ...";
      out.push_back(line);
    }
    return out;
  }

 private:
  static constexpr size_t kExamples = 3;
  struct Kind {
    std::string kind;
    long long count;
    std::vector<std::string> examples;
  };
  std::vector<Kind> kinds_;
  std::map<std::string, size_t> index_;
};

const char* const kNoMatch = "a selector entry matches no layer";
const char* const kIgnoredSparsity = "an exclude dict's sparsity is ignored";

std::string layer_names(const std::vector<LayerInfo>& layers) {
  std::string names;
  for (const auto& l : layers) names += (names.empty() ? "" : ", ") + l.name;
  return names;
}

// ---- pass 4: last match wins ----

int last_dict_selecting(int layer, const std::vector<Selection>& selections) {
  int dict = -1;
  for (int d = 0; d < static_cast<int>(selections.size()); ++d) {
    if (selections[d].layers.count(layer)) dict = d;
  }
  return dict;
}

int per_layer_removal(double sparsity, const LayerInfo& layer, const PlanOptions& options) {
  const int remove = filters_to_remove(sparsity, units_of(layer, options.granularity));
  const bool balance = options.mode == Mode::Balance && options.granularity == Granularity::kFilter;
  return balance ? balanced_removal(remove, layer.out, options.round_to) : remove;
}

LayerPlan decide_layer(const LayerInfo& layer, int dict, const std::vector<ConfigEntry>& entries,
                       const Grouping& grouping, const PlanOptions& options) {
  LayerPlan lp;
  lp.layer = layer;
  lp.dict = dict;
  const bool filters = options.granularity == Granularity::kFilter;
  if (dict < 0) {
    lp.note = "not selected";
  } else if (entries[dict].exclude) {
    lp.note = "excluded by config_list[" + std::to_string(dict) + "]";
  } else if (filters && layer.feeds_residual_add && options.mode == Mode::DependencyAware) {
    lp.note = "coupled with the network input by the residual add: its filter is never removed";
  } else if (filters && layer.out <= 1) {
    lp.note = "a single filter: nothing to remove";
  } else if (grouping.group_of[dict] >= 0) {
    lp.pruned = true;
    lp.group = grouping.group_of[dict];
    lp.note = "ranked globally in " + grouping.groups[lp.group].id;
  } else {
    lp.sparsity = *entries[dict].sparsity;
    lp.remove = per_layer_removal(lp.sparsity, layer, options);
    lp.pruned = lp.remove > 0;
    lp.note = "config_list[" + std::to_string(dict) + "]";
  }
  return lp;
}

}  // namespace

std::vector<ConfigEntry> parse_config_list(const json& config_list, const std::string& where) {
  if (!config_list.is_array()) {
    throw Error(where + ": config_list must be a JSON array of dicts, got " + std::string(config_list.type_name()));
  }
  if (config_list.empty()) throw Error(where + ": config_list is empty");
  std::vector<ConfigEntry> entries;
  for (int i = 0; i < static_cast<int>(config_list.size()); ++i) {
    entries.push_back(parse_entry(config_list[i], i, where));
  }
  return entries;
}

Selection select_layers(const ConfigEntry& entry, const std::vector<LayerInfo>& layers) {
  const Selector& s = entry.selector;
  const std::vector<std::regex> names_re = compile(s.names_re), exclude_re = compile(s.exclude_names_re);
  Selection out;
  std::set<int> named;
  auto unite = [&](const char* key, const std::vector<std::string>& values, const auto& matches) {
    for (size_t v = 0; v < values.size(); ++v) {
      bool found = false;
      for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
        if (matches(v, layers[l])) named.insert(l), found = true;
      }
      if (!found) out.warnings.push_back(entry.where + "." + key + " entry '" + values[v] + "' matches no layer");
    }
  };
  unite("op_names", s.names, [&](size_t v, const LayerInfo& l) { return l.name == s.names[v]; });
  unite("op_partial_names", s.partial_names,
        [&](size_t v, const LayerInfo& l) { return l.name.find(s.partial_names[v]) != std::string::npos; });
  unite("op_names_re", s.names_re, [&](size_t v, const LayerInfo& l) { return std::regex_match(l.name, names_re[v]); });
  for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
    const bool by_name = !s.by_name || named.count(l);
    const bool by_type = !s.types || any_matches(*s.types, layers[l], type_matches);
    const bool excluded = any_matches(s.exclude_names, layers[l], name_is) ||
                          any_matches(s.exclude_types, layers[l], type_matches) ||
                          any_regex_matches(exclude_re, layers[l]);
    if (by_name && by_type && !excluded) out.layers.insert(l);
  }
  return out;
}

Grouping resolve_groups(const std::vector<ConfigEntry>& entries) {
  Grouping grouping;
  std::map<std::string, int> by_id;
  for (const ConfigEntry& e : entries) {
    if (!e.target) {
      grouping.group_of.push_back(-1);
      continue;
    }
    const GroupTarget& t = *e.target;
    const auto [found, added] = by_id.emplace(t.id, static_cast<int>(grouping.groups.size()));
    if (added) {
      GlobalGroup group;
      group.id = t.id;
      group.total = t.total;
      grouping.groups.push_back(group);
    } else if (std::abs(grouping.groups[found->second].total - t.total) > 1e-12) {
      throw Error(e.where + "." + t.total_key + ": differs from the other dicts of " + t.id);
    }
    GlobalGroup& group = grouping.groups[found->second];
    if (t.max_per_layer) group.max_per_layer = *t.max_per_layer;
    if (t.min_per_layer) group.min_per_layer = *t.min_per_layer;
    for (const auto& [name, cap] : t.max_by_name) group.max_by_name[name] = cap;
    grouping.group_of.push_back(found->second);
  }
  return grouping;
}

std::vector<LayerPlan> last_match_wins(const std::vector<LayerInfo>& layers, const std::vector<ConfigEntry>& entries,
                                       const std::vector<Selection>& selections, Grouping& grouping,
                                       const PlanOptions& options) {
  std::vector<LayerPlan> plans;
  for (int l = 0; l < static_cast<int>(layers.size()); ++l) {
    plans.push_back(decide_layer(layers[l], last_dict_selecting(l, selections), entries, grouping, options));
    if (plans.back().group >= 0) grouping.groups[plans.back().group].layers.push_back(l);
  }
  return plans;
}

Plan make_plan(const json& config_list, const std::vector<LayerInfo>& layers, const PlanOptions& options,
               const std::string& where) {
  const std::vector<ConfigEntry> entries = parse_config_list(config_list, where);
  Plan plan;
  std::vector<Selection> selections;
  WarningTally warnings;
  for (const ConfigEntry& e : entries) {
    selections.push_back(select_layers(e, layers));
    for (auto& w : selections.back().warnings) warnings.add(kNoMatch, std::move(w));  // its names, then its own
    selections.back().warnings.clear();
    for (const auto& w : e.warnings) warnings.add(kIgnoredSparsity, w);
  }
  plan.warnings = warnings.lines({{kNoMatch, " (layers: " + layer_names(layers) + ")"}});
  Grouping grouping = resolve_groups(entries);
  plan.layers = last_match_wins(layers, entries, selections, grouping, options);
  plan.groups = std::move(grouping.groups);
  const bool any = std::any_of(plan.layers.begin(), plan.layers.end(),
                               [&](const LayerPlan& lp) { return lp.dict >= 0 && !entries[lp.dict].exclude; });
  if (!any) throw Error(where + ": config_list selects no layer (layers: " + layer_names(layers) + ")");
  return plan;
}

Plan make_plan_from_text(std::string_view config_list, const std::vector<LayerInfo>& layers,
                         const PlanOptions& options, const std::string& where) {
  return make_plan(parse_json(config_list, where), layers, options, where);
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
