#pragma once
// Training a VDSR on HDF5 patches the way the reference train.py does: SGD with momentum and weight
// decay, MSE summed over the batch, lr divided by 10 every `step` epochs, gradient clipping. Checkpoints
// carry the optimizer's momentum buffers and the position in the data, so a resumed run continues
// exactly where the stopped one left off (docs/training.md).
//
// The parts: training_state.h (what a checkpoint holds besides the weights), loop.h (the Trainer: one
// step, one epoch), trial.h (the trial protocol: its environment and metrics file), and train() here,
// which joins them.
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vdsr/architecture.h"
#include "vdsr/inference.h"
#include "vdsr/train/hyperparams.h"
#include "vdsr/util/enum_names.h"

namespace vdsr::train {

// norm: clip_grad_norm_(clip), the reference code; adjustable: each gradient element within clip / lr,
// the paper's adjustable gradient clipping.
enum class ClipMode { norm, adjustable };
VDSR_ENUM_NAMES(ClipMode, {{ClipMode::norm, "norm"}, {ClipMode::adjustable, "adjustable"}})

// step: the reference's lr x0.1 every `step` epochs; cosine: lr * (1 + cos(pi * t / T)) / 2 at optimizer
// step t, over the run's horizon of T steps (fixed when the run starts; a resumed run keeps it).
enum class LrSchedule { step, cosine };
VDSR_ENUM_NAMES(LrSchedule, {{LrSchedule::step, "step"}, {LrSchedule::cosine, "cosine"}})

// The learning rate of every step of a run.
struct LrPlan {
  LrSchedule schedule = LrSchedule::step;
  double base = 0.1;
  int step_epochs = 10;      // step: the decay period
  long long horizon = 0;     // cosine: T
  // The lr of global step t (0-based) in epoch `epoch` (1-based).
  double at(int epoch, long long t) const;
};

struct TrainOptions {
  std::filesystem::path data;          // HDF5 with data/label [N,1,P,P]
  HyperParams params;
  ClipMode clip_mode = ClipMode::norm;
  int epochs = 50;                     // last epoch (1-based, inclusive)
  int step = 10;                       // lr decay period in epochs
  LrSchedule lr_schedule = LrSchedule::step;
  std::optional<int> start_epoch;      // overrides the epoch to start at (default 1, or the resumed one)
  std::uint64_t seed = 1;              // initialisation and data order
  long long max_steps = 0;             // total optimizer steps of the run, counted from its start; 0: no limit
  // Budget in patches seen, for runs with different batch sizes to cost the same compute: becomes
  // ceil(max_patches / batchSize) steps (the tighter of the two when max_steps is also set); 0: none.
  long long max_patches = 0;
  Device device;
  std::filesystem::path out;           // checkpoint folder; empty: no checkpoints
  std::filesystem::path resume;        // a checkpoint written by this trainer
  std::filesystem::path pretrained;    // any checkpoint or PyTorch state dict; its architecture is kept
  // Distillation: the loss is (1 - a) * MSE(output, label) + a * MSE(output, teacher(input)), both summed.
  std::filesystem::path teacher;       // any checkpoint or PyTorch state dict; empty: no distillation
  std::optional<double> distill_weight;  // a in [0, 1]; 0.5 when not given (only with a teacher)
  Architecture architecture = Architecture::reference();  // from-scratch architecture
  std::vector<int> scales;             // metadata stored in checkpoints; empty: inherited or {2, 3, 4}
  std::string val;                     // dataset for PSNR per epoch; empty: none
  int val_scale = 2;
  bool channels_last = true;
  // bf16: the forward pass under bf16 autocast (weights, optimizer and loss stay fp32), where the device
  // has bf16 (training_precision()); fp32 elsewhere.
  Precision precision = Precision::fp32;
  int log_every = 100;                 // steps between log lines (the reference prints every 100)
  std::filesystem::path metrics;       // trial protocol JSON-lines file; empty: none
  const std::atomic<bool>* stop = nullptr;  // set asynchronously (SIGTERM): save and return
  // Tests: keep every step's loss (sum over the batch), read back once at the end of the run.
  bool record_step_losses = false;
};

struct EpochRecord {
  int epoch = 0;
  double lr = 0;
  double loss = 0;  // mean squared error per pixel over the epoch's batches
  std::optional<double> psnr;
  double seconds = 0;
  double patches_per_s = 0;
  long long steps = 0;
  bool complete = true;  // false for an epoch cut short by --max-steps or a stop request
};

// {epoch, lr, loss, psnr (null without validation), seconds, patches_per_s, steps, complete}: the same
// record in checkpoints' history and in reports.
void to_json(nlohmann::json& j, const EpochRecord& r);
void from_json(const nlohmann::json& j, EpochRecord& r);

struct TrainResult {
  std::vector<EpochRecord> epochs;      // the whole history, including epochs of the resumed run
  std::vector<double> step_losses;      // this run's steps, when record_step_losses
  std::filesystem::path last_checkpoint;
  std::filesystem::path first_model;    // where the model came from (pretrained/resume), if any
  nlohmann::json model;                 // the report's model block of the last checkpoint (or the model)
  bool stopped = false;                 // stop request
  bool budget_reached = false;          // --max-steps / --max-patches
  long long max_steps = 0;              // the step budget in effect (from both), 0: none
  long long lr_horizon = 0;             // the cosine schedule's T (0 for the step schedule)
  Precision precision = Precision::fp32;  // the one in effect (training_precision())
  std::optional<double> initial_psnr;  // validation PSNR of a pretrained or resumed model before training
  std::optional<double> final_psnr;
  long long global_step = 0;
  double seconds = 0;                   // this run's wall time
  // With --val and --out: {checkpoint: <out>/best.ckpt, psnr, epoch, step} of the best validated model.
  nlohmann::json best;
};

TrainResult train(const TrainOptions& options);

// The precision training runs in: bf16 on CUDA, or on a CPU whose oneDNN ISA (vdsr::onednn_isa(), after
// ONEDNN_MAX_CPU_ISA) has bf16 kernels (AVX512-BF16, AMX); else fp32, and `warning` says why.
Precision training_precision(Precision requested, bool cuda, const std::string& isa, std::string* warning = nullptr);

// The distillation weight a in effect: the given one, else 0.5; 0 without a teacher.
double distill_weight(const TrainOptions& options);
// {teacher, teacher_sha256, distill_weight} for checkpoints' provenance and the report's config; an empty
// object without a teacher.
nlohmann::json distillation_json(const TrainOptions& options);

// The report's blocks (docs/training.md): `config`, the effective settings (hyper-parameters after files
// and flags; the caller adds what only it knows, e.g. threads), and `train`, the outcome.
nlohmann::json config_json(const TrainOptions& options, const TrainResult& result);
nlohmann::json train_json(const TrainResult& result);

}  // namespace vdsr::train
