#pragma once
// What a vdsr-train checkpoint holds besides the weights (docs/checkpoint.md): the next position in the
// data, the partial epoch's counters and the finished epochs in meta.training; the SGD momentum buffers,
// LibTorch's CPU generator and the partial epoch's loss sum in `state`. Resuming from it continues the
// run exactly as if it had never stopped.
#include <ATen/core/Tensor.h>
#include <torch/optim/sgd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/train/trainer.h"

namespace vdsr::train {

struct TrainingState {
  // The next position: the epoch (1-based) and the batch within it, and the optimizer steps before it.
  int epoch = 1;
  long long batch = 0;
  long long global_step = 0;
  std::uint64_t seed = 1;  // the data order's; a resumed run keeps it
  // The run's settings, recorded for readers; a resumed run takes them from its options again, except
  // that a run stopped inside an epoch must keep its batch size.
  int batch_size = 0;
  HyperParams params;
  ClipMode clip_mode = ClipMode::norm;
  // The lr schedule and, for cosine, its horizon: fixed at the run's start, so a resumed run continues
  // on the same curve.
  LrSchedule lr_schedule = LrSchedule::step;
  long long lr_horizon = 0;
  // The partial epoch so far (all zero at an epoch's start).
  long long epoch_steps = 0;
  long long epoch_patches = 0;
  double epoch_seconds = 0;
  at::Tensor loss_sum;               // double scalar: the summed loss of the partial epoch's steps
  std::vector<EpochRecord> history;  // finished epochs
  NamedTensors momentum;             // layer name → SGD momentum buffer, in layer order
  at::Tensor rng;                    // LibTorch's CPU generator state
};

// Writes meta.training and the state tensors "momentum/<layer>", "rng/cpu" and "epoch/loss_sum".
void encode(const TrainingState& state, Checkpoint& checkpoint);

// Reads them back. A checkpoint without meta.training (a plain model) is an error naming `path`; a
// missing tensor stays undefined.
TrainingState decode(const Checkpoint& checkpoint, const std::filesystem::path& path);

// SGD keys its per-parameter state by the parameter's TensorImpl address, which no other process shares:
// momentum travels by layer name. `params` and `names` are in the same (layer) order.
NamedTensors momentum_buffers(const torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                              const std::vector<std::string>& names);
void restore_momentum(torch::optim::SGD& sgd, const std::vector<at::Tensor>& params,
                      const std::vector<std::string>& names, const NamedTensors& momentum, at::MemoryFormat format);

// LibTorch's global CPU generator.
at::Tensor cpu_rng_state();
void restore_cpu_rng(const at::Tensor& state);

}  // namespace vdsr::train
