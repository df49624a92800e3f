#include "compress/pruner.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "vdsr/util/error.h"

namespace vdsr::compress {

Pruner parse_pruner(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "l1") return Pruner::L1;
  if (n == "l2") return Pruner::L2;
  if (n == "fpgm") return Pruner::FPGM;
  if (n == "level") return Pruner::Level;
  throw Error("unknown pruner '" + name + "' (expected l1, l2, fpgm or level)");
}

std::string pruner_name(Pruner p) {
  switch (p) {
    case Pruner::L1: return "l1";
    case Pruner::L2: return "l2";
    case Pruner::FPGM: return "fpgm";
    case Pruner::Level: return "level";
  }
  return "?";
}

Mode parse_mode(const std::string& name) {
  if (name == "normal") return Mode::Normal;
  if (name == "dependency_aware") return Mode::DependencyAware;
  if (name == "balance") return Mode::Balance;
  throw Error("unknown mode '" + name + "' (expected normal, dependency_aware or balance)");
}

std::string mode_name(Mode m) {
  return m == Mode::Normal ? "normal" : m == Mode::DependencyAware ? "dependency_aware" : "balance";
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

at::Tensor filter_importance(const at::Tensor& weight, Pruner pruner, bool per_weight) {
  const at::Tensor w = weight.to(at::kDouble).reshape({weight.size(0), -1});
  const double fan = static_cast<double>(w.size(1));
  switch (pruner) {
    case Pruner::L1: return per_weight ? w.abs().sum(1) / fan : w.abs().sum(1);
    case Pruner::L2: return per_weight ? (w.pow(2).sum(1) / fan).sqrt() : w.pow(2).sum(1).sqrt();
    case Pruner::FPGM: {
      // FPGM (He et al., CVPR 2019): filters near the geometric median are the most replaceable; the
      // sum of distances to all other filters is small for them.
      const at::Tensor diff = w.unsqueeze(1) - w.unsqueeze(0);  // no matrix product: exact and small
      const at::Tensor total = diff.pow(2).sum(2).sqrt().sum(1);
      return per_weight ? total / (std::sqrt(fan) * std::max<int64_t>(1, w.size(0) - 1)) : total;
    }
    case Pruner::Level: return w.abs().sum(1);  // only used for the norm statistics
  }
  return {};
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

// Global ranking of a total_sparsity group over filters (or, for Level, over weights): remove the least
// important until the group's removed weights reach `total` of its weights, within each layer's bounds.
void resolve_group(Plan& plan, const GlobalGroup& group, const std::vector<at::Tensor>& weights, Pruner pruner,
                   const PlanOptions& options) {
  struct Candidate {
    double score;
    int layer;
    int64_t weights;
  };
  long long group_weights = 0;
  std::vector<Candidate> candidates;
  std::vector<int> cap(plan.layers.size(), 0), floor_min(plan.layers.size(), 0);
  for (int l : group.layers) {
    const LayerInfo& info = plan.layers[l].layer;
    group_weights += info.weights;
    auto named = group.max_by_name.find(info.name);
    const double max_s = named != group.max_by_name.end() ? named->second : group.max_per_layer;
    const int unit = pruner == Pruner::Level ? static_cast<int>(info.weights) : info.out;
    cap[l] = std::min(static_cast<int>(std::floor(max_s * unit + 1e-9)), unit - 1);
    floor_min[l] = std::min(filters_to_remove(group.min_per_layer, unit), cap[l]);
    const at::Tensor scores = pruner == Pruner::Level ? weights[l].abs().reshape({-1}).to(at::kDouble)
                                                      : filter_importance(weights[l], pruner, true);
    const int64_t per = pruner == Pruner::Level ? 1 : info.weights / info.out;
    const at::Tensor s = scores.contiguous();
    for (int64_t f = 0; f < s.numel(); ++f) candidates.push_back({s.data_ptr<double>()[f], l, per});
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
  const long long target = static_cast<long long>(std::floor(group.total * group_weights + 1e-9));
  std::vector<int> removed(plan.layers.size(), 0);
  long long removed_weights = 0;
  for (int l : group.layers) {  // min_sparse_ratio first
    removed[l] = floor_min[l];
    removed_weights += static_cast<long long>(floor_min[l]) * (pruner == Pruner::Level ? 1 : plan.layers[l].layer.weights / plan.layers[l].layer.out);
  }
  // Candidates are taken in global order; the lowest ones of each layer are the ones removed, so a
  // layer's count is all that needs tracking (min_sparse_ratio's pre-removals are its lowest too).
  std::vector<int> seen(plan.layers.size(), 0);
  for (const auto& c : candidates) {
    if (removed_weights >= target) break;
    if (seen[c.layer]++ < floor_min[c.layer]) continue;  // already removed by the minimum
    if (removed[c.layer] >= cap[c.layer]) continue;
    ++removed[c.layer];
    removed_weights += c.weights;
  }
  for (int l : group.layers) {
    LayerPlan& lp = plan.layers[l];
    const int unit = pruner == Pruner::Level ? static_cast<int>(lp.layer.weights) : lp.layer.out;
    lp.remove = removed[l];
    if (options.mode == Mode::Balance && pruner != Pruner::Level) {
      lp.remove = balanced_removal(lp.remove, unit, options.round_to);
    }
    lp.sparsity = static_cast<double>(lp.remove) / unit;
    lp.pruned = lp.remove > 0;
  }
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

PruneResult prune(const Checkpoint& ck, Plan plan, Pruner pruner, const PlanOptions& options) {
  std::vector<at::Tensor> weights;
  for (const auto& [name, w] : ck.weights) weights.push_back(w);
  if (plan.layers.size() != weights.size()) throw Error("prune: the plan does not match the model's layers");
  if ((pruner == Pruner::Level) != options.unstructured) {
    throw Error("prune: plan options must set unstructured exactly for the Level pruner");
  }
  for (const auto& group : plan.groups) resolve_group(plan, group, weights, pruner, options);

  PruneResult result;
  result.shrinks = pruner != Pruner::Level;
  result.masked = ck;
  for (size_t l = 0; l < weights.size(); ++l) {
    const LayerPlan& lp = plan.layers[l];
    const int64_t n = weights[l].size(0);
    std::vector<int64_t> kept(static_cast<size_t>(n));
    std::iota(kept.begin(), kept.end(), 0);
    at::Tensor masked = weights[l].clone();
    if (lp.remove > 0 && pruner == Pruner::Level) {
      const std::vector<int64_t> order = ascending_order(weights[l].abs().reshape({-1}));
      at::Tensor flat = masked.view({-1});
      for (int i = 0; i < lp.remove; ++i) flat[order[i]] = 0.0;
    } else if (lp.remove > 0) {
      const std::vector<int64_t> order = ascending_order(filter_importance(weights[l], pruner, false));
      std::vector<int64_t> removed(order.begin(), order.begin() + lp.remove);
      std::sort(removed.begin(), removed.end());
      kept.clear();
      for (int64_t f = 0; f < n; ++f) {
        if (!std::binary_search(removed.begin(), removed.end(), f)) kept.push_back(f);
      }
      for (int64_t f : removed) masked[f].zero_();
    }
    result.masked.weights[l].second = masked;
    result.norms.push_back(norm_stats(weights[l], kept));
    result.kept.push_back(std::move(kept));
  }
  result.pruned = result.shrinks ? speedup(ck, result.kept) : result.masked;
  result.plan = std::move(plan);
  return result;
}

}  // namespace vdsr::compress
