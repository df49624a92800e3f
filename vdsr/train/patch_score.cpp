#include "vdsr/train/patch_score.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cmath>

#include "vdsr/checkpoint.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/util/progress.h"

namespace vdsr::train {

namespace fs = std::filesystem;

PatchScore evaluate_patches(const fs::path& model_path, const fs::path& data_path, long long count, Device device,
                            int batch_size) {
  const Checkpoint ck = load_checkpoint(model_path);
  const data::PatchFile file(data_path);
  const long long n = count > 0 ? std::min(count, file.size()) : file.size();
  const at::Device dev = device.cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  std::vector<at::Tensor> weights;
  for (const auto& [name, w] : ck.weights) {
    weights.push_back(w.to(dev, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast));
  }
  const int patch = file.patch_size();
  const std::vector<int64_t> strides = {patch * patch, 1, patch, 1};
  std::vector<float> data(static_cast<std::size_t>(batch_size) * patch * patch), label(data.size());
  c10::InferenceMode guard;
  at::Tensor in_err = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(dev));
  at::Tensor out_err = in_err.clone();
  Progress progress("patches", static_cast<long>(n), "patches");
  for (long long first = 0; first < n; first += batch_size) {
    const long long m = std::min<long long>(batch_size, n - first);
    file.read(first, m, data.data(), label.data());
    const at::Tensor x = at::from_blob(data.data(), {m, 1, patch, patch}, strides, at::kFloat).to(dev);
    const at::Tensor y = at::from_blob(label.data(), {m, 1, patch, patch}, strides, at::kFloat).to(dev);
    at::Tensor h = x;
    for (std::size_t i = 0; i + 1 < weights.size(); ++i) h = at::conv2d(h, weights[i], {}, 1, 1).relu_();
    const at::Tensor out = at::conv2d(h, weights.back(), {}, 1, 1).add_(x).clamp_(0.0, 1.0);
    in_err.add_((x.clamp(0.0, 1.0) - y).pow(2).sum(), 1);
    out_err.add_((out - y).pow(2).sum(), 1);
    progress.update(static_cast<long>(first + m));
  }
  const double pixels = static_cast<double>(n) * patch * patch;
  auto to_psnr = [&](const at::Tensor& e) { return 10.0 * std::log10(1.0 / (e.item<double>() / pixels)); };
  return PatchScore{n, to_psnr(in_err), to_psnr(out_err)};
}

}  // namespace vdsr::train
