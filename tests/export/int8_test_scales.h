#pragma once
// Int8 scales for a test model without vdsr-quantize: min-max activation scales from one float32 pass over
// a batch, weight scales as the contract defines them (vdsr::weight_scale), body layers int8.
#include <ATen/ATen.h>

#include <algorithm>

#include "export/qdq.h"
#include "runtime/runners.h"
#include "vdsr/checkpoint.h"
#include "vdsr/int8_scales.h"

namespace vdsr::test {

inline Int8Scales minmax_scales(const Checkpoint& ck, const runtime::Batch& batch) {
  at::NoGradGuard no_grad;
  Int8Scales s;
  s.method = "minmax";
  s.patches = batch.n;
  const auto names = exporter::conv_layer_names(ck);
  at::Tensor x = at::from_blob(const_cast<float*>(batch.data.data()), {batch.n, 1, batch.h, batch.w}, at::kFloat);
  for (size_t i = 0; i < ck.weights.size(); ++i) {
    const bool body = i > 0 && i + 1 < ck.weights.size();
    Int8Layer layer;
    layer.name = names[i];
    layer.int8 = body;
    layer.input_unsigned = i > 0;  // after a ReLU
    const float max_abs = std::max(x.abs().max().item<float>(), 1e-6f);
    layer.input_scale = max_abs / (layer.input_unsigned ? 255.0f : 127.0f);
    const at::Tensor w = ck.weights[i].second.to(at::kFloat).contiguous();
    const int64_t per_channel = w.numel() / w.size(0);
    for (int64_t oc = 0; oc < w.size(0); ++oc) {
      layer.weight_scales.push_back(weight_scale(w.data_ptr<float>() + oc * per_channel, per_channel));
    }
    s.layers.push_back(layer);
    x = at::conv2d(x, w, {}, 1, 1);
    if (i + 1 < ck.weights.size()) x = at::relu(x);
  }
  return s;
}

}  // namespace vdsr::test
