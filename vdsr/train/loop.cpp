#include "vdsr/train/loop.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cmath>
#include <stdexcept>

#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"

namespace vdsr::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Puts the model on the device with its weights in `format`: oneDNN (and cuDNN) run convolutions fastest
// in NHWC, and keeping the weights there avoids reorders per step.
std::vector<at::Tensor> prepared_weights(VDSR& model, at::Device device, at::MemoryFormat format) {
  model->to(device);
  std::vector<at::Tensor> params = model->weights();
  torch::NoGradGuard no_grad;
  for (auto& p : params) p.set_data(p.data().contiguous(format));
  return params;
}

// The epoch's batches from the position on; the last incomplete batch is kept, as the reference's DataLoader.
data::StreamOptions stream_options(const TrainingState& s, int batch_size) {
  data::StreamOptions options;
  options.batch_size = batch_size;
  options.seed = s.seed;
  options.epoch = s.epoch;
  options.drop_last = false;
  options.start_batch = s.batch;
  return options;
}

torch::optim::SGDOptions sgd_options(const HyperParams& p) {
  return torch::optim::SGDOptions(p.lr).momentum(p.momentum).weight_decay(p.weight_decay);
}

// clip_grad_norm_ as PyTorch computes it, without reading the norm back to the host.
void clip_grad_norm(std::vector<at::Tensor>& params, double clip) {
  std::vector<at::Tensor> norms;
  norms.reserve(params.size());
  for (const auto& p : params) norms.push_back(p.grad().norm(2));
  const at::Tensor coef = (clip / (at::stack(norms).norm(2) + 1e-6)).clamp_max(1.0);
  for (auto& p : params) p.mutable_grad().mul_(coef);
}

void clip_grad_value(std::vector<at::Tensor>& params, double bound) {
  for (auto& p : params) p.mutable_grad().clamp_(-bound, bound);
}

Precision effective_precision(const TrainOptions& o) {
  std::string warning;
  const Precision p = training_precision(o.precision, o.device.cuda, o.device.cuda ? "" : onednn_isa(), &warning);
  if (!warning.empty()) spdlog::warn("{}", warning);
  return p;
}

// bf16 autocast on one device type while it lives: ops autocast lists (convolutions) run in bf16 on
// bf16 copies of the fp32 weights, which the cache drops at the end so each step casts updated weights.
class Bf16Autocast {
 public:
  Bf16Autocast(at::DeviceType type, bool on) : type_(type), on_(on) {
    if (on_) enable(true);
  }
  ~Bf16Autocast() {
    if (!on_) return;
    enable(false);
    at::autocast::clear_cache();
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
  void enable(bool enabled) const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, enabled);
#else
    if (type_ == at::kCUDA) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(enabled);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(enabled);
    }
#endif
  }
  at::DeviceType type_;
  bool on_;
};

}  // namespace

StepLog::StepLog(int log_every, long long steps_in_run)
    : progress_("train", static_cast<long>(steps_in_run), "steps"), log_every_(log_every) {}

bool StepLog::due(long long batch) {
  ++steps_;
  log_line_ = log_every_ > 0 && batch % log_every_ == 0;
  draw_ = progress_.due();
  return log_line_ || draw_;
}

void StepLog::show(int epoch, long long batch, long long batches, double lr, double mse, double patches_per_s) {
  if (log_line_) {
    spdlog::info("epoch {} step {}/{}: loss {:.6f} lr {:g} {:.1f} patches/s", epoch, batch, batches, mse, lr,
                 patches_per_s);
  }
  if (draw_) {
    progress_.update(static_cast<long>(steps_), fmt::format("epoch {} step {}/{} loss {:.6f} lr {:g} {:.1f} patches/s",
                                                            epoch, batch, batches, mse, lr, patches_per_s));
  }
}

Trainer::Trainer(const TrainOptions& o, const data::PatchFile& file, VDSR model, TrainingState from,
                 long long max_steps)
    : o_(o), file_(file), max_steps_(max_steps), device_(o.device.cuda ? at::kCUDA : at::kCPU),
      format_(o.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous),
      patch_(file.patch_size()), precision_(effective_precision(o)), model_(std::move(model)), params_(prepared_weights(model_, device_, format_)),
      names_(model_->architecture().layer_names()), sgd_(params_, sgd_options(o.params)) {
  restore(from);
  if (!o.teacher.empty()) {
    teacher_.emplace(o.teacher, device_);
    spdlog::info("distilling from {} (teacher in {}), weight {}", o.teacher.string(),
                 precision_name(teacher_->precision()), distill_weight(o));
  }
  lr_ = {s_.lr_schedule, o.params.lr, o.step, s_.lr_horizon};
}

// Momentum and generator always; the partial epoch's counters only when continuing inside an epoch.
void Trainer::restore(const TrainingState& from) {
  s_ = from;
  restore_momentum(sgd_, params_, names_, from.momentum, format_);
  if (from.rng.defined()) restore_cpu_rng(from.rng);
  s_.momentum.clear();
  s_.rng = at::Tensor();
  s_.loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device_));
  if (s_.batch > 0 && from.loss_sum.defined()) s_.loss_sum.copy_(from.loss_sum);
  if (s_.batch == 0) {
    s_.epoch_steps = s_.epoch_patches = 0;
    s_.epoch_seconds = 0;
  }
}

at::Tensor Trainer::step(const at::Tensor& input, const at::Tensor& label, double lr) {
  sgd_.zero_grad();
  const at::Tensor loss = objective(input, label);
  if (!device_.is_cuda()) require_finite(loss.item<double>());
  loss.backward();
  clip_gradients(lr);
  sgd_.step();
  return loss;
}

at::Tensor Trainer::objective(const at::Tensor& input, const at::Tensor& label) {
  at::Tensor output;
  {
    const Bf16Autocast autocast(device_.type(), precision_ == Precision::bf16);
    output = model_->forward(input);
  }
  output = output.to(at::kFloat);  // the loss in fp32
  const at::Tensor loss = at::mse_loss(output, label, at::Reduction::Sum);
  if (!teacher_) return loss;
  const double a = distill_weight(o_);
  return (1 - a) * loss + a * at::mse_loss(output, (*teacher_)(input), at::Reduction::Sum);
}

void Trainer::clip_gradients(double lr) {
  torch::NoGradGuard no_grad;
  if (o_.clip_mode == ClipMode::norm) {
    clip_grad_norm(params_, o_.params.clip);
  } else {
    clip_grad_value(params_, o_.params.clip / lr);
  }
}

EpochEnd Trainer::run_epoch(StepLog& log) {
  data::BatchStream stream(file_, stream_options(s_, o_.params.batch_size));
  batches_ = stream.batches_per_epoch();
  const auto started = Clock::now();
  EpochEnd end = EpochEnd::complete;
  while (s_.batch < batches_) {
    end = cut_short();
    if (end != EpochEnd::complete) break;
    const double lr = lr_.at(s_.epoch, s_.global_step);
    set_lr(lr);
    const at::Tensor loss = train_batch(stream, lr);
    if (log.due(s_.batch)) show_step(log, loss, lr, s_.epoch_seconds + seconds_since(started));
  }
  if (device_.is_cuda()) s_.loss_sum.cpu();  // waits for the queued steps, so the epoch's time is honest
  s_.epoch_seconds += seconds_since(started);
  return end;
}

void Trainer::require_finite(double loss) const {
  if (std::isfinite(loss)) return;
  throw Error(fmt::format("training stopped at epoch {} step {}: the loss is {} (NaN or infinity in the patches of "
                          "{} or in the starting weights, or a diverging run: try a lower --lr or --clip); no "
                          "checkpoint is written from it",
                          s_.epoch, s_.batch + 1, loss, o_.data.string()));
}

void Trainer::require_finite_loss() const { require_finite(s_.loss_sum.item<double>()); }

void Trainer::show_step(StepLog& log, const at::Tensor& loss, double lr, double epoch_seconds) const {
  const double mse = loss.item<double>() / (batch_.count * double(patch_) * patch_);
  require_finite(mse);
  const double rate = epoch_seconds > 0 ? s_.epoch_patches / epoch_seconds : 0.0;
  log.show(s_.epoch, s_.batch, batches_, lr, mse, rate);
}

EpochEnd Trainer::cut_short() const {
  if (o_.stop && o_.stop->load()) return EpochEnd::stop_requested;
  if (max_steps_ > 0 && s_.global_step >= max_steps_) return EpochEnd::budget_reached;
  return EpochEnd::complete;
}

at::Tensor Trainer::train_batch(data::BatchStream& stream, double lr) {
  if (!stream.next(batch_)) throw std::runtime_error(o_.data.string() + ": the patch stream ended early");
  const at::Tensor input = on_device(batch_.data), label = on_device(batch_.label);
  const at::Tensor loss = step(input, label, lr);
  s_.loss_sum.add_(loss.detach());
  if (o_.record_step_losses) step_losses_.push_back(loss.detach());
  ++s_.batch;
  ++s_.epoch_steps;
  ++s_.global_step;
  s_.epoch_patches += batch_.count;
  return loss;
}

// The file's one-channel patches are NHWC as they lie, so they are wrapped without a copy.
at::Tensor Trainer::on_device(std::vector<float>& patches) const {
  const std::vector<int64_t> nhwc = {patch_ * patch_, 1, patch_, 1};
  return at::from_blob(patches.data(), {batch_.count, 1, patch_, patch_}, nhwc, at::kFloat)
      .to(device_, /*non_blocking=*/false);
}

EpochRecord Trainer::record() const {
  EpochRecord r;
  r.epoch = s_.epoch;
  r.lr = lr_.at(s_.epoch, s_.epoch_steps > 0 ? s_.global_step - 1 : s_.global_step);  // the last step's
  r.steps = s_.epoch_steps;
  const double pixels = double(s_.epoch_patches) * patch_ * patch_;
  r.loss = s_.epoch_patches > 0 ? s_.loss_sum.item<double>() / pixels : 0.0;
  require_finite(r.loss);
  r.seconds = s_.epoch_seconds;
  r.patches_per_s = s_.epoch_seconds > 0 ? s_.epoch_patches / s_.epoch_seconds : 0.0;
  r.complete = s_.batch >= batches_;
  return r;
}

void Trainer::next_epoch(const EpochRecord& finished) {
  s_.history.push_back(finished);
  ++s_.epoch;
  s_.batch = 0;
  s_.epoch_steps = s_.epoch_patches = 0;
  s_.epoch_seconds = 0;
  s_.loss_sum.zero_();
}

TrainingState Trainer::state() const {
  TrainingState s = s_;
  s.batch_size = o_.params.batch_size;
  s.params = o_.params;
  s.clip_mode = o_.clip_mode;
  s.momentum = momentum_buffers(sgd_, params_, names_);
  if (s.global_step > 0 && s.momentum.empty() && o_.params.momentum > 0) {
    throw std::logic_error("optimizer state not found for the model's parameters");
  }
  s.rng = cpu_rng_state();
  s.loss_sum = s_.loss_sum.cpu();
  return s;
}

long long Trainer::steps_left(int last_epoch) const {
  const long long per_epoch = (file_.size() + o_.params.batch_size - 1) / o_.params.batch_size;
  long long steps = s_.epoch <= last_epoch ? per_epoch * (last_epoch - s_.epoch + 1) - s_.batch : 0;
  if (max_steps_ > 0) steps = std::min(steps, std::max(0LL, max_steps_ - s_.global_step));
  return steps;
}

std::vector<double> Trainer::step_losses() const {
  std::vector<double> losses;
  for (const auto& l : step_losses_) losses.push_back(l.item<double>());
  return losses;
}

// step: the reference's adjust_learning_rate; cosine: half a cosine from the base lr to 0 over the horizon.
double LrPlan::at(int epoch, long long t) const {
  if (schedule == LrSchedule::step) return base * std::pow(0.1, (epoch - 1) / step_epochs);
  const double progress = horizon > 0 ? std::min(1.0, static_cast<double>(t) / static_cast<double>(horizon)) : 0.0;
  return base * 0.5 * (1.0 + std::cos(M_PI * progress));
}

void Trainer::set_lr(double lr) {
  for (auto& group : sgd_.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

}  // namespace vdsr::train
