#include "vdsr/train/teacher.h"

#include <ATen/ATen.h>

#include "vdsr/checkpoint.h"

namespace vdsr::train {

namespace {

Precision fastest_precision(at::Device device) { return device.is_cuda() || cpu_has_bf16() ? Precision::bf16 : Precision::fp32; }

}  // namespace

// The first and last convolutions (one input or output channel) stay fp32: oneDNN has no fast bf16 kernels
// for them, and they hold the input's and the residual's precision.
Teacher::Teacher(const std::filesystem::path& path, at::Device device) : precision_(fastest_precision(device)) {
  const Checkpoint checkpoint = load_checkpoint(path);
  const size_t n = checkpoint.weights.size();
  for (size_t i = 0; i < n; ++i) {
    const bool body = i != 0 && i + 1 != n;
    const auto type = body && precision_ == Precision::bf16 ? at::kBFloat16 : at::kFloat;
    weights_.push_back(checkpoint.weights[i].second.to(device, type).contiguous(at::MemoryFormat::ChannelsLast));
  }
}

at::Tensor Teacher::operator()(const at::Tensor& input) const {
  at::NoGradGuard no_grad;
  const at::Tensor in = input.contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor a = in;
  for (size_t i = 0; i + 1 < weights_.size(); ++i) {
    if (a.scalar_type() != weights_[i].scalar_type()) a = a.to(weights_[i].scalar_type());
    a = at::conv2d(a, weights_[i], {}, 1, 1).relu_();
  }
  return at::conv2d(a.to(at::kFloat), weights_.back(), {}, 1, 1).add_(in);
}

}  // namespace vdsr::train
