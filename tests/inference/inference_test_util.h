#pragma once
// What the inference tests share: random models and planes, a forward pass, the largest difference.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/inference.h"

namespace vdsr::test {

using Engine = InferenceOptions::Engine;

// A randomly initialised model with these hidden widths (Architecture::widths).
inline Checkpoint random_model(const std::vector<int>& widths, int seed) {
  torch::manual_seed(seed);
  VDSR model(Architecture{widths});
  return checkpoint_from_model(model, {{"scales", {2}}});
}

inline std::vector<float> random_plane(int h, int w, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(h) * w);
  for (float& v : x) v = u(rng);
  return x;
}

inline std::vector<float> forward(const Upscaler& up, const std::vector<float>& x, int h, int w) {
  std::vector<float> y(x.size());
  up.forward(x.data(), y.data(), h, w);
  return y;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, static_cast<double>(std::abs(a[i] - b[i])));
  return d;
}

inline InferenceOptions options(Engine engine, int tile = -1, bool winograd = true) {
  InferenceOptions o;
  o.engine = engine;
  o.tile = tile;
  o.winograd = winograd;
  return o;
}

}  // namespace vdsr::test
