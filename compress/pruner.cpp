#include "compress/pruner.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vdsr/util/error.h"

namespace vdsr::compress {

namespace {

// NNI's LevelPruner: single weights, ranked by their magnitude.
constexpr const char* kLevel = "level";

// One row per unit: [out, in * k * k] for filters, [weights, 1] for single weights.
at::Tensor unit_rows(const at::Tensor& weight, Granularity granularity) {
  const at::Tensor w = weight.to(at::kDouble);
  return granularity == Granularity::kWeight ? w.reshape({-1, 1}) : w.reshape({weight.size(0), -1});
}

int64_t weights_per_unit(const LayerInfo& layer, Granularity granularity) {
  return granularity == Granularity::kWeight ? 1 : layer.weights / layer.out;
}

}  // namespace

Pruner parse_pruner(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == kLevel) return {"l1", Granularity::kWeight};
  for (const Criterion& c : criteria()) {
    if (c.name == n) return {c.name, Granularity::kFilter};
  }
  throw Error("unknown pruner '" + name + "' (expected " + criterion_names() + " or " + kLevel + ")");
}

std::string pruner_name(const Pruner& pruner) {
  return pruner.granularity == Granularity::kWeight ? kLevel : pruner.criterion;
}

std::vector<LayerInfo> layers_of(const Architecture& arch) {
  const auto names = arch.layer_names();
  const auto shapes = arch.weight_shapes();
  std::vector<LayerInfo> layers;
  for (size_t i = 0; i < names.size(); ++i) {
    LayerInfo l;
    l.name = names[i].substr(0, names[i].size() - std::string(".weight").size());
    l.out = static_cast<int>(shapes[i][0]);
    l.in = static_cast<int>(shapes[i][1]);
    l.weights = shapes[i][0] * shapes[i][1] * shapes[i][2] * shapes[i][3];
    l.feeds_residual_add = i + 1 == names.size();  // output(...) + x
    layers.push_back(l);
  }
  return layers;
}

at::Tensor importance(const at::Tensor& weight, const Pruner& pruner, bool per_weight) {
  return find_criterion(pruner.criterion).importance(unit_rows(weight, pruner.granularity), per_weight);
}

namespace {

std::vector<int64_t> ascending_order(const at::Tensor& scores) {
  const at::Tensor s = scores.to(at::kDouble).contiguous();
  const double* p = s.data_ptr<double>();
  std::vector<int64_t> order(static_cast<size_t>(s.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] < p[b]; });
  return order;
}

// ---- global ranking of a total_sparsity group ----

// How many units of each layer (indexed like Plan::layers) the ranking must and may remove.
struct Bounds {
  std::vector<int> min, max;
};

Bounds layer_bounds(const Plan& plan, const GlobalGroup& group, Granularity granularity) {
  Bounds b{std::vector<int>(plan.layers.size(), 0), std::vector<int>(plan.layers.size(), 0)};
  for (int l : group.layers) {
    const LayerInfo& info = plan.layers[l].layer;
    const auto named = group.max_by_name.find(info.name);
    const double max_share = named != group.max_by_name.end() ? named->second : group.max_per_layer;
    const int units = units_of(info, granularity);
    b.max[l] = std::min(static_cast<int>(std::floor(max_share * units + 1e-9)), units - 1);  // never all
    b.min[l] = std::min(filters_to_remove(group.min_per_layer, units), b.max[l]);
  }
  return b;
}

struct Candidate {
  double score;
  int layer;
  int64_t weights;
};

// Every unit of the group's layers, least important first; scores per weight, so layers compare.
std::vector<Candidate> ranked_units(const Plan& plan, const GlobalGroup& group, const std::vector<at::Tensor>& weights,
                                    const Pruner& pruner) {
  std::vector<Candidate> candidates;
  for (int l : group.layers) {
    const at::Tensor s = importance(weights[l], pruner, true).contiguous();
    const int64_t per = weights_per_unit(plan.layers[l].layer, pruner.granularity);
    for (int64_t u = 0; u < s.numel(); ++u) candidates.push_back({s.data_ptr<double>()[u], l, per});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
  return candidates;
}

// Units removed per layer: each layer's minimum first, then the least important units in global order
// until the removed weights reach the group's share of its weights. The lowest units of a layer are the
// ones removed, so a count per layer is all that needs tracking (the minimum's units are its lowest too).
std::vector<int> take_lowest(const Plan& plan, const GlobalGroup& group, const std::vector<Candidate>& ranked,
                             const Bounds& bounds, Granularity granularity) {
  long long group_weights = 0, removed_weights = 0;
  std::vector<int> removed(plan.layers.size(), 0), seen(plan.layers.size(), 0);
  for (int l : group.layers) {
    group_weights += plan.layers[l].layer.weights;
    removed[l] = bounds.min[l];
    removed_weights += static_cast<long long>(bounds.min[l]) * weights_per_unit(plan.layers[l].layer, granularity);
  }
  const long long target = static_cast<long long>(std::floor(group.total * group_weights + 1e-9));
  for (const auto& c : ranked) {
    if (removed_weights >= target) break;
    if (seen[c.layer]++ < bounds.min[c.layer]) continue;  // already removed by the minimum
    if (removed[c.layer] >= bounds.max[c.layer]) continue;
    ++removed[c.layer];
    removed_weights += c.weights;
  }
  return removed;
}

void resolve_group(Plan& plan, const GlobalGroup& group, const std::vector<at::Tensor>& weights, const Pruner& pruner,
                   const PlanOptions& options) {
  const Granularity granularity = pruner.granularity;
  const std::vector<int> removed = take_lowest(plan, group, ranked_units(plan, group, weights, pruner),
                                               layer_bounds(plan, group, granularity), granularity);
  for (int l : group.layers) {
    LayerPlan& lp = plan.layers[l];
    const int units = units_of(lp.layer, granularity);
    lp.remove = removed[l];
    if (options.mode == Mode::Balance && granularity == Granularity::kFilter) {
      lp.remove = balanced_removal(lp.remove, units, options.round_to);
    }
    lp.sparsity = static_cast<double>(lp.remove) / units;
    lp.pruned = lp.remove > 0;
  }
}

// ---- masks ----

struct LayerMask {
  at::Tensor masked;          // the weight with its removed units zeroed
  std::vector<int64_t> kept;  // output filters kept (all of them at weight granularity)
};

LayerMask mask_layer(const at::Tensor& weight, int remove, const Pruner& pruner) {
  LayerMask m{weight.clone(), std::vector<int64_t>(static_cast<size_t>(weight.size(0)))};
  std::iota(m.kept.begin(), m.kept.end(), 0);
  if (remove == 0) return m;
  const std::vector<int64_t> order = ascending_order(importance(weight, pruner, false));
  std::vector<int64_t> removed(order.begin(), order.begin() + remove);
  if (pruner.granularity == Granularity::kWeight) {
    m.masked.view({-1}).index_fill_(0, at::tensor(removed, at::kLong), 0.0);
    return m;
  }
  std::sort(removed.begin(), removed.end());
  m.kept.clear();
  for (int64_t f = 0; f < weight.size(0); ++f) {
    if (!std::binary_search(removed.begin(), removed.end(), f)) m.kept.push_back(f);
  }
  m.masked.index_fill_(0, at::tensor(removed, at::kLong), 0.0);
  return m;
}

nlohmann::json norm_stats(const at::Tensor& weight, const std::vector<int64_t>& kept) {
  const at::Tensor l1 = weight.to(at::kDouble).abs().reshape({weight.size(0), -1}).sum(1).contiguous();
  std::vector<double> k, r;
  for (int64_t f = 0; f < l1.numel(); ++f) {
    (std::binary_search(kept.begin(), kept.end(), f) ? k : r).push_back(l1.data_ptr<double>()[f]);
  }
  auto summary = [](const std::vector<double>& v) -> nlohmann::json {
    if (v.empty()) return nullptr;
    return {{"min", *std::min_element(v.begin(), v.end())},
            {"mean", std::accumulate(v.begin(), v.end(), 0.0) / v.size()},
            {"max", *std::max_element(v.begin(), v.end())}};
  };
  return {{"l1_kept", summary(k)}, {"l1_removed", summary(r)}};
}

}  // namespace

Checkpoint speedup(const Checkpoint& ck, const std::vector<std::vector<int64_t>>& kept) {
  Checkpoint out;
  out.meta = ck.meta;
  at::Tensor previous = at::zeros({1}, at::kLong);  // the image channel
  for (size_t i = 0; i < ck.weights.size(); ++i) {
    const at::Tensor keep = at::tensor(kept[i], at::kLong);
    at::Tensor w = ck.weights[i].second.index_select(0, keep).index_select(1, previous).contiguous();
    out.weights.emplace_back(ck.weights[i].first, w);
    if (i + 1 < ck.weights.size()) out.architecture.widths.push_back(static_cast<int>(kept[i].size()));
    previous = keep;
  }
  return out;
}

PruneResult prune(const Checkpoint& ck, Plan plan, const Pruner& pruner, const PlanOptions& options) {
  std::vector<at::Tensor> weights;
  for (const auto& [name, w] : ck.weights) weights.push_back(w);
  if (plan.layers.size() != weights.size()) throw Error("prune: the plan does not match the model's layers");
  if (options.granularity != pruner.granularity) {
    throw Error("prune: plan options must have the pruner's granularity (" + name_of(pruner.granularity) + ")");
  }
  for (const auto& group : plan.groups) resolve_group(plan, group, weights, pruner, options);

  PruneResult result;
  result.shrinks = pruner.granularity == Granularity::kFilter;
  result.masked = ck;
  for (size_t l = 0; l < weights.size(); ++l) {
    LayerMask m = mask_layer(weights[l], plan.layers[l].remove, pruner);
    result.masked.weights[l].second = m.masked;
    result.norms.push_back(norm_stats(weights[l], m.kept));
    result.kept.push_back(std::move(m.kept));
  }
  result.pruned = result.shrinks ? speedup(ck, result.kept) : result.masked;
  result.plan = std::move(plan);
  return result;
}

}  // namespace vdsr::compress
