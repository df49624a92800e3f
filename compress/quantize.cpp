#include "compress/quantize.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "compress/pruner.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/util/error.h"
#include "vdsr/util/random.h"

namespace vdsr::compress {

namespace {

// |x| statistics of one layer's input over the calibration set. The histogram bins a positive float by its
// top 16 bits (sign 0, exponent, 7 mantissa bits): 128 bins per octave, 0.8 % wide, over the whole float range,
// so one pass serves every percentile and the counts do not depend on the order the patches come in.
struct AbsStats {
  double max_abs = 0;
  bool negative = false;
  uint64_t count = 0;
  std::vector<uint64_t> bins = std::vector<uint64_t>(1 << 16, 0);

  void add(const float* x, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float a = std::fabs(x[i]);
      negative |= x[i] < 0;
      m = std::max(m, a);
      uint32_t bits;
      std::memcpy(&bits, &a, sizeof bits);
      ++bins[bits >> 16];
    }
    max_abs = std::max(max_abs, static_cast<double>(m));
    count += static_cast<uint64_t>(n);
  }

  // The smallest bin edge below which at least `p` percent of the values lie (never above the maximum).
  double percentile(double p) const {
    const auto target = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count)));
    uint64_t seen = 0;
    for (size_t b = 0; b < bins.size(); ++b) {
      seen += bins[b];
      if (seen >= target && seen > 0) {
        const uint32_t edge = static_cast<uint32_t>(b + 1) << 16;
        float upper;
        std::memcpy(&upper, &edge, sizeof upper);
        return std::min(static_cast<double>(upper), max_abs);
      }
    }
    return max_abs;
  }
};

}  // namespace

std::vector<bool> int8_layers(const std::vector<std::string>& names, const QuantizeSettings& settings) {
  std::vector<bool> int8(names.size(), true);
  if (!int8.empty()) int8.front() = int8.back() = false;
  auto set = [&](const std::vector<std::string>& list, const std::string& flag, bool value) {
    for (const std::string& name : list) {
      const auto it = std::find(names.begin(), names.end(), name);
      if (it == names.end()) {
        throw Error(flag + ": no layer is named '" + name + "' (layers: " + names.front() + ", " + names[1] +
                    ", ..., " + names.back() + ")");
      }
      int8[static_cast<size_t>(it - names.begin())] = value;
    }
  };
  set(settings.int8_layers, "--int8-layers", true);
  set(settings.fp32_layers, "--fp32-layers", false);
  return int8;
}

std::vector<int64_t> calibration_indices(int64_t size, int64_t count, uint64_t seed) {
  if (size < 1) throw Error("no calibration patches");
  std::vector<int64_t> all(static_cast<size_t>(size));
  for (int64_t i = 0; i < size; ++i) all[static_cast<size_t>(i)] = i;
  if (count >= size) return all;
  // A partial Fisher-Yates shuffle: the first `count` of a uniformly random permutation.
  Rng rng(seed);
  for (int64_t i = 0; i < count; ++i) {
    const auto j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(size - i)));
    std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
  }
  all.resize(static_cast<size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

namespace {

void check_settings(const QuantizeSettings& s) {
  if (s.method != "minmax" && s.method != "percentile") {
    throw Error("--method: expected minmax or percentile, got '" + s.method + "'");
  }
  if (s.method == "percentile" && !(s.percentile > 0 && s.percentile <= 100)) {
    throw Error("--percentile: expected a number in (0, 100], got " + std::to_string(s.percentile));
  }
  if (s.patches < 1) throw Error("--patches: expected at least 1");
}

// The fp32 forward pass of a batch [n, 1, P, P], adding each layer's input to its statistics.
void observe(const std::vector<at::Tensor>& weights, at::Tensor x, std::vector<AbsStats>& stats) {
  c10::InferenceMode guard;
  x = x.contiguous();
  for (size_t l = 0; l < weights.size(); ++l) {
    stats[l].add(x.data_ptr<float>(), x.numel());
    if (l + 1 < weights.size()) x = at::conv2d(x, weights[l], {}, 1, 1).relu_().contiguous();
  }
}

std::vector<at::Tensor> fp32_weights(const Checkpoint& model) {
  std::vector<at::Tensor> weights;
  for (const auto& [name, w] : model.weights) weights.push_back(w.to(at::kCPU, at::kFloat).contiguous());
  return weights;
}

Int8Scales scales_from(const Checkpoint& model, const std::string& model_sha256, const QuantizeSettings& s,
                       const std::vector<AbsStats>& stats, int64_t patches) {
  std::vector<std::string> names;
  for (const auto& layer : layers_of(model.architecture)) names.push_back(layer.name);
  const std::vector<bool> int8 = int8_layers(names, s);
  const std::vector<at::Tensor> weights = fp32_weights(model);
  Int8Scales out;
  out.method = s.method;
  out.percentile = s.method == "percentile" ? s.percentile : 0.0;
  out.patches = patches;
  out.seed = s.seed;
  out.calibration_data = s.data;
  out.model_sha256 = model_sha256;
  for (size_t l = 0; l < weights.size(); ++l) {
    Int8Layer layer;
    layer.name = names[l];
    layer.int8 = int8[l];
    // After a ReLU the input is never negative: u8 spends all 8 bits on it. The first layer's input (the
    // image, 0..1) is u8 too unless calibration saw a negative value.
    layer.input_unsigned = l > 0 || !stats[l].negative;
    const double range = s.method == "minmax" ? stats[l].max_abs : stats[l].percentile(s.percentile);
    layer.input_scale = range > 0 ? static_cast<float>(range / (layer.input_unsigned ? 255.0 : 127.0)) : 1.0f;
    const at::Tensor& w = weights[l];
    const int64_t per_channel = w.numel() / w.size(0);
    for (int64_t oc = 0; oc < w.size(0); ++oc) {
      layer.weight_scales.push_back(weight_scale(w.data_ptr<float>() + oc * per_channel, static_cast<size_t>(per_channel)));
    }
    out.layers.push_back(std::move(layer));
  }
  return out;
}

}  // namespace

Int8Scales calibrate_int8(const Checkpoint& model, const std::string& model_sha256, const QuantizeSettings& s) {
  check_settings(s);
  std::vector<std::string> names;
  for (const auto& layer : layers_of(model.architecture)) names.push_back(layer.name);
  int8_layers(names, s);  // a bad layer name fails before any work

  const data::PatchFile file(s.data);
  if (file.size() < 1) throw Error(s.data + ": holds no patches to calibrate on");
  const std::vector<int64_t> indices = calibration_indices(file.size(), s.patches, s.seed);
  const int p = file.patch_size();
  const std::vector<at::Tensor> weights = fp32_weights(model);
  std::vector<AbsStats> stats(weights.size());
  std::vector<float> label(static_cast<size_t>(p) * p);
  for (size_t first = 0; first < indices.size(); first += static_cast<size_t>(s.batch)) {
    const size_t n = std::min(indices.size() - first, static_cast<size_t>(s.batch));
    at::Tensor x = at::empty({static_cast<int64_t>(n), 1, p, p}, at::kFloat);
    for (size_t i = 0; i < n; ++i) file.read(indices[first + i], 1, x[static_cast<int64_t>(i)].data_ptr<float>(), label.data());
    observe(weights, x, stats);
  }
  return scales_from(model, model_sha256, s, stats, static_cast<int64_t>(indices.size()));
}

Int8Scales calibrate_int8(const Checkpoint& model, const std::string& model_sha256, const at::Tensor& inputs,
                          const QuantizeSettings& s) {
  check_settings(s);
  if (inputs.dim() != 4 || inputs.size(0) < 1 || inputs.size(1) != 1) {
    throw Error("calibration inputs: expected [N >= 1, 1, H, W]");
  }
  const std::vector<at::Tensor> weights = fp32_weights(model);
  std::vector<AbsStats> stats(weights.size());
  observe(weights, inputs.to(at::kCPU, at::kFloat), stats);
  return scales_from(model, model_sha256, s, stats, inputs.size(0));
}

}  // namespace vdsr::compress
