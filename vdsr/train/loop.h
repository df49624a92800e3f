#pragma once
// The training loop's moving parts: the Trainer (the model, its SGD optimizer and where the run stands;
// one step, one epoch) and the StepLog (what a step shows). train() (trainer.cpp) decides what happens
// between epochs.
#include <ATen/core/Tensor.h>
#include <torch/optim/sgd.h>

#include <chrono>
#include <optional>
#include <vector>

#include "vdsr/data/patch_file.h"
#include "vdsr/model.h"
#include "vdsr/train/teacher.h"
#include "vdsr/train/training_state.h"
#include "vdsr/util/progress.h"

namespace vdsr::train {

// How an epoch's run ended: all its batches done, or cut short.
enum class EpochEnd { complete, budget_reached, stop_requested };

// Log lines every `log_every` batches, and the progress line (vdsr/util/progress.h) when it is due.
class StepLog {
 public:
  StepLog(int log_every, long long steps_in_run);
  // Counts a step; true when it shows (reading its loss back waits for the device, so only then).
  bool due(long long batch);
  void show(int epoch, long long batch, long long batches, double lr, double mse, double patches_per_s);

 private:
  Progress progress_;
  int log_every_;
  long long steps_ = 0;
  bool log_line_ = false, draw_ = false;
};

class Trainer {
 public:
  // Trains `model` in place: on the options' device, weights in their memory format, SGD with their
  // hyper-parameters. It continues from `from` (momentum, generator, position); a default TrainingState
  // with the options' seed starts at the beginning.
  Trainer(const TrainOptions& options, const data::PatchFile& file, VDSR model, TrainingState from,
          long long max_steps);

  // One SGD step as the reference: zero_grad, summed MSE (with a teacher, blended with the MSE to its
  // output), backward, clipping, update. Returns the loss (on the device).
  at::Tensor step(const at::Tensor& input, const at::Tensor& label, double lr);
  // Steps through the current epoch from its current batch until it ends, the step budget is spent or a
  // stop is requested.
  EpochEnd run_epoch(StepLog& log);
  // The current epoch so far (complete when all its batches are done).
  EpochRecord record() const;
  // Keeps `finished` in the history and moves to the start of the next epoch.
  void next_epoch(const EpochRecord& finished);
  // Everything a checkpoint needs to continue from here.
  TrainingState state() const;
  // Throws a vdsr::Error when the epoch's loss so far is not finite (NaN or infinity in the patches or the
  // weights, or a diverging run), so that no checkpoint is written from such weights. On the CPU every
  // step is checked before its update; on CUDA, to keep the steps queued, at log lines and checkpoints.
  void require_finite_loss() const;

  // Optimizer steps from here to the end of `last_epoch`, within the budget.
  long long steps_left(int last_epoch) const;
  int epoch() const { return s_.epoch; }
  long long batch() const { return s_.batch; }
  long long global_step() const { return s_.global_step; }
  const std::vector<EpochRecord>& history() const { return s_.history; }
  std::vector<double> step_losses() const;
  VDSR& model() { return model_; }
  Precision precision() const { return precision_; }  // the forward pass's

 private:
  void set_lr(double lr);
  at::Tensor objective(const at::Tensor& input, const at::Tensor& label);
  EpochEnd cut_short() const;
  at::Tensor train_batch(data::BatchStream& stream, double lr);
  void show_step(StepLog& log, const at::Tensor& loss, double lr, double epoch_seconds) const;
  at::Tensor on_device(std::vector<float>& patches) const;
  void clip_gradients(double lr);
  void restore(const TrainingState& from);
  void require_finite(double loss) const;

  const TrainOptions& o_;
  const data::PatchFile& file_;
  const long long max_steps_;
  const at::Device device_;
  const at::MemoryFormat format_;
  const int patch_;
  const Precision precision_;
  VDSR model_;
  std::vector<at::Tensor> params_;
  std::vector<std::string> names_;
  torch::optim::SGD sgd_;
  std::optional<Teacher> teacher_;
  TrainingState s_;        // position and counters; loss_sum lives on the device
  LrPlan lr_;
  long long batches_ = 0;  // in the current epoch
  data::Batch batch_;
  std::vector<at::Tensor> step_losses_;
};

}  // namespace vdsr::train
