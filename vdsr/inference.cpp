#include "vdsr/inference.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <thread>

#include "vdsr/checkpoint.h"
#include "vdsr/util/error.h"

namespace vdsr {

Device select_device(bool cuda, const std::string& gpus) {
  if (!gpus.empty()) setenv("CUDA_VISIBLE_DEVICES", gpus.c_str(), 1);
  if (cuda && !torch::cuda::is_available()) {
    throw Error("No GPU found, please run without --cuda (this build or machine has no CUDA device)");
  }
  return Device{cuda};
}

std::string torch_version() { return TORCH_VERSION; }

int configure_threads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

struct Upscaler::Impl {
  std::vector<at::Tensor> weights;
  at::Device device{at::kCPU};
};

Upscaler::Upscaler(const Checkpoint& checkpoint, Device device) : impl_(std::make_unique<Impl>()) {
  impl_->device = device.cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  // Channels-last keeps oneDNN's convolutions in one layout along the whole chain.
  for (const auto& [name, w] : checkpoint.weights) {
    impl_->weights.push_back(w.to(impl_->device, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast));
  }
}

Upscaler::~Upscaler() = default;
Upscaler::Upscaler(Upscaler&&) noexcept = default;

Image Upscaler::run_y(const Image& y) const {
  c10::InferenceMode guard;
  at::Tensor x = at::from_blob(const_cast<double*>(y.data.data()), {1, 1, y.height, y.width}, at::kDouble)
                     .to(at::kFloat)
                     .div_(255.0)
                     .to(impl_->device)
                     .contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor h = x;
  const auto& w = impl_->weights;
  for (size_t i = 0; i + 1 < w.size(); ++i) h = at::conv2d(h, w[i], {}, 1, 1).relu_();
  at::Tensor out = at::conv2d(h, w.back(), {}, 1, 1).add_(x).mul_(255.0).clamp_(0.0, 255.0);
  out = out.to(at::kCPU, at::kDouble).contiguous();
  Image result(y.height, y.width, 1);
  std::memcpy(result.data.data(), out.data_ptr<double>(), result.data.size() * sizeof(double));
  return result;
}

}  // namespace vdsr
