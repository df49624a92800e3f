#include "vdsr/model.h"

#include <cmath>
#include <torch/nn/init.h>
#include <torch/nn/functional/activation.h>

#include "vdsr/util/error.h"

namespace vdsr {

namespace {
torch::nn::Conv2d conv3x3(int in, int out) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(1).padding(1).bias(false));
}
}  // namespace

std::vector<std::string> Architecture::layer_names() const {
  std::vector<std::string> names{"input.weight"};
  for (int i = 0; i + 1 < static_cast<int>(widths.size()); ++i) {
    names.push_back("residual_layer." + std::to_string(i) + ".conv.weight");
  }
  names.push_back("output.weight");
  return names;
}

std::vector<std::vector<int64_t>> Architecture::weight_shapes() const {
  std::vector<std::vector<int64_t>> shapes;
  int in = 1;
  for (int w : widths) {
    shapes.push_back({w, in, 3, 3});
    in = w;
  }
  shapes.push_back({1, in, 3, 3});
  return shapes;
}

int64_t Architecture::params() const {
  int64_t total = 0;
  for (const auto& s : weight_shapes()) total += s[0] * s[1] * s[2] * s[3];
  return total;
}

int64_t Architecture::macs_per_pixel() const { return params(); }  // stride 1, same padding: one MAC per weight

void Architecture::validate() const {
  if (widths.empty()) throw Error("architecture: depth must be at least 2 (got no hidden layers)");
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] < 1) {
      throw Error("architecture: width of layer " + std::to_string(i) + " must be >= 1, got " +
                  std::to_string(widths[i]));
    }
  }
}

ConvReLUImpl::ConvReLUImpl(int in, int out) : conv(register_module("conv", conv3x3(in, out))) {}

torch::Tensor ConvReLUImpl::forward(const torch::Tensor& x) { return torch::relu(conv(x)); }

VDSRImpl::VDSRImpl(Architecture architecture) : architecture_(std::move(architecture)) {
  architecture_.validate();
  const auto& w = architecture_.widths;
  input = register_module("input", conv3x3(1, w.front()));
  residual_layer = torch::nn::Sequential();
  for (std::size_t i = 0; i + 1 < w.size(); ++i) residual_layer->push_back(ConvReLU(w[i], w[i + 1]));
  register_module("residual_layer", residual_layer);
  output = register_module("output", conv3x3(w.back(), 1));
  reset_parameters();
}

torch::Tensor VDSRImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = torch::relu(input(x));
  h = residual_layer->forward(h);
  return output(h) + x;
}

std::vector<torch::Tensor> VDSRImpl::weights() const {
  std::vector<torch::Tensor> out{input->weight};
  for (const auto& child : residual_layer->children()) out.push_back(child->as<ConvReLUImpl>()->conv->weight);
  out.push_back(output->weight);
  return out;
}

void VDSRImpl::reset_parameters() {
  torch::NoGradGuard no_grad;
  for (auto& w : weights()) {
    const double n = static_cast<double>(w.size(0) * w.size(2) * w.size(3));
    w.normal_(0.0, std::sqrt(2.0 / n));
  }
}

}  // namespace vdsr
