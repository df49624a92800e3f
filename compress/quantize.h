#pragma once
// Post-training int8 quantization (docs/quantization.md): per-output-channel symmetric s8 weights and
// per-tensor activation scales calibrated on training patches, written as vdsr/int8_scales.h describes.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

namespace vdsr::compress {

struct QuantizeSettings {
  std::string data;                // vdsr-data HDF5 patches
  int64_t patches = 256;           // calibration patches, drawn without replacement
  uint64_t seed = 0;               // which patches
  std::string method = "minmax";   // minmax | percentile
  double percentile = 99.99;       // of |activation|, for percentile
  // Layers by module name ("input", "residual_layer.3.conv", "output"). Default: every layer int8 but the
  // first and the last; these lists override that, fp32 last.
  std::vector<std::string> int8_layers, fp32_layers;
  int batch = 16;                  // patches per forward pass (memory only; results do not depend on it)
};

// Which layers run int8: the default, then the lists. A name that matches no layer is a vdsr::Error
// listing the valid names.
std::vector<bool> int8_layers(const std::vector<std::string>& names, const QuantizeSettings& settings);

// The indices of `count` distinct patches out of `size`, drawn by `seed`, in increasing order (all when
// count >= size). Throws vdsr::Error when size is 0.
std::vector<int64_t> calibration_indices(int64_t size, int64_t count, uint64_t seed);

// Calibrates the scales of `model` on settings.data; `model_sha256` is recorded as given.
Int8Scales calibrate_int8(const Checkpoint& model, const std::string& model_sha256, const QuantizeSettings& settings);
// The same on inputs in memory, [N, 1, H, W] on the 0..1 scale (settings.data and seed are only recorded).
Int8Scales calibrate_int8(const Checkpoint& model, const std::string& model_sha256, const at::Tensor& inputs,
                          const QuantizeSettings& settings);

}  // namespace vdsr::compress
