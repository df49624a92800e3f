#pragma once
// VDSR (Kim et al., CVPR 2016): 3x3 convolutions without bias, ReLU between them, and a global residual
// add. Depth and per-layer widths are data, so a pruned model is the same class with narrower layers.
// Parameter names are the reference PyTorch model's: input.weight, residual_layer.N.conv.weight,
// output.weight.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <string>
#include <vector>

#include "vdsr/architecture.h"

namespace vdsr {

class ConvReLUImpl : public torch::nn::Module {
 public:
  ConvReLUImpl(int in, int out);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(ConvReLU);

class VDSRImpl : public torch::nn::Module {
 public:
  explicit VDSRImpl(Architecture architecture);
  torch::Tensor forward(const torch::Tensor& x);

  const Architecture& architecture() const { return architecture_; }
  // The convolution weights in forward order (the same order as Architecture::layer_names()).
  std::vector<torch::Tensor> weights() const;
  // He-normal initialisation as the reference: N(0, sqrt(2 / (k * k * out_channels))).
  void reset_parameters();

  torch::nn::Conv2d input{nullptr};
  torch::nn::Sequential residual_layer{nullptr};
  torch::nn::Conv2d output{nullptr};

 private:
  Architecture architecture_;
};
TORCH_MODULE(VDSR);

}  // namespace vdsr
