#include "export/qdq.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <sstream>

#include "vdsr/inference.h"
#include "vdsr/util/error.h"

namespace vdsr::exporter {

namespace {

bool positive_finite(float v) { return std::isfinite(v) && v > 0; }

std::string number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// One convolution's float32 weights, contiguous on the CPU.
at::Tensor cpu_float(const at::Tensor& w) { return w.to(at::kCPU, at::kFloat).contiguous(); }

class QdqReference : public runtime::Runner {
 public:
  QdqReference(const Checkpoint& ck, const Int8Scales& scales) : layers_(scales.layers) {
    for (size_t i = 0; i < ck.weights.size(); ++i) {
      const at::Tensor w = cpu_float(ck.weights[i].second);
      weights_.push_back(layers_[i].int8 ? dequantize_weights(quantize_weights(w, layers_[i].weight_scales),
                                                              layers_[i].weight_scales)
                                         : w);
    }
  }
  std::string name() const override { return "libtorch"; }

  runtime::Batch forward(const runtime::Batch& b) override {
    at::NoGradGuard no_grad;
    const at::Tensor input = at::from_blob(const_cast<float*>(b.data.data()), {b.n, 1, b.h, b.w}, at::kFloat);
    at::Tensor x = input;
    for (size_t i = 0; i < weights_.size(); ++i) {
      const Int8Layer& layer = layers_[i];
      if (layer.int8) {
        // QuantizeLinear (x / scale in float32, round half to even, saturate), then DequantizeLinear.
        const auto [lo, hi] = activation_range(layer);
        const at::Tensor scale = at::scalar_tensor(layer.input_scale, at::kFloat);
        x = at::clamp(at::round(x / scale), lo, hi) * scale;
      }
      x = at::conv2d(x, weights_[i], {}, 1, 1);
      if (i + 1 < weights_.size()) x = at::relu(x);
    }
    x = (x + input).contiguous();
    runtime::Batch out{b.n, b.h, b.w, std::vector<float>(b.data.size())};
    std::memcpy(out.data.data(), x.data_ptr<float>(), out.data.size() * sizeof(float));
    return out;
  }

 private:
  std::vector<Int8Layer> layers_;
  std::vector<at::Tensor> weights_;
};

}  // namespace

std::vector<std::string> conv_layer_names(const Checkpoint& checkpoint) {
  std::vector<std::string> names;
  const std::string suffix = ".weight";
  for (const auto& [name, w] : checkpoint.weights) {
    const bool has_suffix = name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    names.push_back(has_suffix ? name.substr(0, name.size() - suffix.size()) : name);
  }
  return names;
}

void check_scales_fit(const Int8Scales& scales, const Checkpoint& checkpoint, const std::string& where) {
  // Count, names and one weight scale per filter: the int8 engine's own check, so both refuse alike.
  InferenceOptions engine;
  engine.int8_scales = std::make_shared<const Int8Scales>(scales);
  engine.int8_scales_path = where;
  check_int8_scales(checkpoint, engine);
  // read_int8_scales guarantees these for a file; scales made in memory are checked here, since
  // QuantizeLinear divides by them.
  for (size_t i = 0; i < scales.layers.size(); ++i) {
    const Int8Layer& layer = scales.layers[i];
    if (!layer.int8) continue;
    const std::string key = where + ": layers[" + std::to_string(i) + "]";
    if (!positive_finite(layer.input_scale)) {
      throw Error(key + ".input_scale: expected a positive finite number for int8 layer '" + layer.name + "', found " +
                  number(layer.input_scale));
    }
    for (size_t oc = 0; oc < layer.weight_scales.size(); ++oc) {
      if (!positive_finite(layer.weight_scales[oc])) {
        throw Error(key + ".weight_scales[" + std::to_string(oc) + "]: expected a positive finite number, found " +
                    number(layer.weight_scales[oc]));
      }
    }
  }
}

at::Tensor quantize_weights(const at::Tensor& w, const std::vector<float>& scales) {
  const at::Tensor f = cpu_float(w);
  if (f.dim() < 1 || f.size(0) != static_cast<int64_t>(scales.size())) {
    throw Error("quantize_weights: " + std::to_string(scales.size()) + " scales for a tensor of " +
                std::to_string(f.dim() ? f.size(0) : 0) + " output channels");
  }
  at::Tensor q = at::empty(f.sizes(), at::kChar);
  const int64_t per_channel = f.numel() / std::max<int64_t>(f.size(0), 1);
  const float* src = f.data_ptr<float>();
  int8_t* dst = q.data_ptr<int8_t>();
  for (int64_t i = 0; i < f.numel(); ++i) dst[i] = quantize_weight(src[i], scales[i / per_channel]);
  return q;
}

at::Tensor dequantize_weights(const at::Tensor& q, const std::vector<float>& scales) {
  const at::Tensor s = at::from_blob(const_cast<float*>(scales.data()), {static_cast<int64_t>(scales.size())}, at::kFloat);
  std::vector<int64_t> shape(q.dim(), 1);
  shape[0] = -1;
  return (q.to(at::kFloat) * s.view(shape)).contiguous();
}

std::pair<float, float> activation_range(const Int8Layer& layer) {
  return layer.input_unsigned ? std::pair{0.0f, 255.0f} : std::pair{-128.0f, 127.0f};
}

std::unique_ptr<runtime::Runner> make_qdq_reference(const Checkpoint& checkpoint, const Int8Scales& scales) {
  check_scales_fit(scales, checkpoint, "int8 scales");
  return std::make_unique<QdqReference>(checkpoint, scales);
}

}  // namespace vdsr::exporter
