#pragma once
// Reconstruction after filter pruning: each layer of the pruned model is refitted by least squares so
// that, fed with the pruned network's own activations, it reproduces the original layer's output at the
// filters it keeps. Layers are refitted from input to output, so every fit sees the inputs the final
// network will see and errors do not accumulate. This is channel pruning by feature reconstruction (He,
// Zhang and Sun, "Channel Pruning for Accelerating Very Deep Neural Networks", ICCV 2017; Luo, Wu and Lin,
// "ThiNet", ICCV 2017), applied after any filter criterion. Without it a VDSR pruned to half width
// loses its residual branch and falls to bicubic PSNR.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "vdsr/checkpoint.h"

namespace vdsr::compress {

struct ReconstructOptions {
  int64_t samples = 32768;  // output positions per layer in each least-squares fit
  double ridge = 1e-4;      // Tikhonov term, relative to the mean diagonal of XᵀX
  std::uint64_t seed = 1;   // which positions are sampled
};

// W [out, k] minimising |X Wᵀ - Y|² + λ|W|², λ = ridge · mean(diag XᵀX), for rows X [s, k] and targets
// Y [s, out]; solved in double precision.
at::Tensor least_squares_weights(const at::Tensor& x, const at::Tensor& y, double ridge);

// A layer's relative output error |ŷ - y|² / |y|² at the sampled positions, with the plainly pruned
// weights and with the refitted ones.
struct LayerFit {
  std::string name;
  double error_pruned = 0, error_refitted = 0;  // error_refitted: of the weights kept
};

// Refits one layer: `x` [s, in * 9] the pruned network's inputs at the sampled positions, `y` [s, out] the
// original's outputs there, `w` the plainly pruned weights, replaced where the fit is better.
LayerFit refit_layer(const std::string& name, const at::Tensor& x, const at::Tensor& y, double ridge, at::Tensor& w);

struct Reconstruction {
  Checkpoint model;              // `pruned` with refitted weights
  std::vector<LayerFit> layers;  // every layer after the first
};

// Refits every layer of `pruned` after the first (whose input, the image, pruning does not change).
// `kept[l]` are the original filters layer l keeps (PruneResult::kept); `inputs` [N, 1, H, W] are
// calibration patches (bicubic-upscaled, 0..1).
Reconstruction reconstruct(const Checkpoint& original, const Checkpoint& pruned,
                           const std::vector<std::vector<int64_t>>& kept, const at::Tensor& inputs,
                           const ReconstructOptions& options);

// `count` patches spread evenly over a vdsr-data HDF5 file, as [count, 1, P, P] (fewer if it holds fewer).
at::Tensor calibration_patches(const std::string& path, int64_t count);

}  // namespace vdsr::compress
