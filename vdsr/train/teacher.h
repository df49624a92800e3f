#pragma once
// The distillation teacher: a fixed model (typically the unpruned original) whose raw output, residual
// added and not clipped, the student is pulled towards besides the labels. It runs without gradients on
// the fastest path measured for training batches (docs/training.md): the whole batch through at::conv2d
// in channels-last with the body convolutions' weights in bf16 where the CPU has AVX512-BF16 or AMX (and
// on CUDA), fp32 otherwise.
#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>
#include <vector>

#include "vdsr/onednn_engine.h"

namespace vdsr::train {

class Teacher {
 public:
  // Any checkpoint or PyTorch state dict; errors name the file.
  Teacher(const std::filesystem::path& path, at::Device device);

  // The teacher's output for a batch [B, 1, P, P] of float inputs on its device: float, same shape, no
  // gradient.
  at::Tensor operator()(const at::Tensor& input) const;
  Precision precision() const { return precision_; }

 private:
  Precision precision_;
  std::vector<at::Tensor> weights_;  // in forward order, channels-last; the body's in bf16 with bf16
};

}  // namespace vdsr::train
