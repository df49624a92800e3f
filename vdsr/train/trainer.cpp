#include "vdsr/train/trainer.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/InferenceMode.h>
#include <spdlog/spdlog.h>
#include <torch/optim/sgd.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>

#include "vdsr/checkpoint.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/evaluation.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/progress.h"

namespace vdsr::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

at::Device torch_device(const Device& d) { return d.cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU); }

// The optimizer keys its per-parameter state by the parameter's TensorImpl address.
std::string state_key(const at::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); }

nlohmann::json record_json(const EpochRecord& r) {
  nlohmann::json j = {{"epoch", r.epoch},   {"lr", r.lr},       {"loss", r.loss},
                      {"seconds", r.seconds}, {"patches_per_s", r.patches_per_s}, {"steps", r.steps},
                      {"complete", r.complete}};
  j["psnr"] = r.psnr ? nlohmann::json(*r.psnr) : nlohmann::json(nullptr);
  return j;
}

EpochRecord record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.lr = j.at("lr");
  r.loss = j.at("loss");
  if (j.contains("psnr") && j["psnr"].is_number()) r.psnr = j["psnr"].get<double>();
  r.seconds = j.at("seconds");
  r.patches_per_s = j.at("patches_per_s");
  r.steps = j.at("steps");
  r.complete = j.value("complete", true);
  return r;
}

// Set5-style validation: PSNR on Y with a border shave, as vdsr-eval, without SSIM (it is per epoch).
class Validator {
 public:
  Validator(const std::string& dataset, int scale) : scale_(scale) {
    for (const auto& path : dataset_images(dataset)) {
      pairs_.push_back(make_scaled_pair(read_image(path), scale, path.string()));
    }
  }
  double psnr_of(const Checkpoint& ck, const Device& device) const {
    const Upscaler upscaler(ck, device);
    double sum = 0;
    for (const auto& p : pairs_) sum += psnr(upscaler.run_y(p.bicubic), p.ground_truth, scale_);
    return sum / static_cast<double>(pairs_.size());
  }

 private:
  int scale_;
  std::vector<ScaledPair> pairs_;
};

// Appends one JSON line to the trial's metrics file (the tuner reads it while the trial runs).
void append_metric(const fs::path& path, const nlohmann::json& line) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << line.dump() << "\n";
  out.flush();
  if (!out) throw std::runtime_error(path.string() + ": cannot append the trial metrics");
}

nlohmann::json metric_value(double loss, const std::optional<double>& psnr) {
  nlohmann::json v = {{"default", loss}, {"loss", loss}};
  if (psnr) v["psnr"] = *psnr;
  return v;
}

}  // namespace

TrainResult train(const TrainOptions& o) {
  validate(o.params);
  if (o.epochs < 1) throw Error("--nEpochs must be at least 1, got " + std::to_string(o.epochs));
  if (o.step < 1) throw Error("--step must be at least 1, got " + std::to_string(o.step));
  if (o.max_steps < 0) throw Error("--max-steps must be >= 0, got " + std::to_string(o.max_steps));
  if (o.max_patches < 0) throw Error("--max-patches must be >= 0, got " + std::to_string(o.max_patches));
  // One step budget from both flags; a patch budget counts whole batches (the last one may overshoot).
  long long max_steps = o.max_steps;
  if (o.max_patches > 0) {
    const long long from_patches = (o.max_patches + o.params.batch_size - 1) / o.params.batch_size;
    max_steps = max_steps > 0 ? std::min(max_steps, from_patches) : from_patches;
  }
  if (!o.resume.empty() && !o.pretrained.empty()) throw Error("use either --resume or --pretrained, not both");

  const at::Device device = torch_device(o.device);
  const data::PatchFile file(o.data);
  std::optional<Validator> validator;
  if (!o.val.empty()) validator.emplace(o.val, o.val_scale);

  // Model and where training stands: fresh, pretrained (new training on its weights) or resumed.
  TrainResult result;
  result.max_steps = max_steps;
  std::uint64_t seed = o.seed;
  int epoch = 1;
  long long batch_index = 0;
  nlohmann::json training;  // the resumed checkpoint's progress block
  std::vector<int> scales = o.scales;
  std::optional<Checkpoint> source;
  if (!o.resume.empty()) {
    source = load_checkpoint(o.resume);
    if (!source->meta.contains("training")) {
      throw Error(o.resume.string() + ": not a vdsr-train checkpoint (no training state); use --pretrained");
    }
    training = source->meta["training"];
    seed = training.at("seed").get<std::uint64_t>();
    epoch = training.at("epoch");
    batch_index = training.at("batch");
    result.global_step = training.at("global_step");
    for (const auto& r : training.at("history")) result.epochs.push_back(record_from_json(r));
    if (batch_index > 0 && training.at("batch_size").get<int>() != o.params.batch_size) {
      throw Error(o.resume.string() + ": stopped inside epoch " + std::to_string(epoch) + " with batch size " +
                  training.at("batch_size").dump() + "; resume it with the same --batchSize");
    }
    if (seed != o.seed) spdlog::info("resuming with the checkpoint's seed {} (data order)", seed);
    result.first_model = o.resume;
  } else if (!o.pretrained.empty()) {
    source = load_checkpoint(o.pretrained);
    result.first_model = o.pretrained;
  }
  if (scales.empty() && source && source->meta.contains("scales")) scales = source->meta["scales"].get<std::vector<int>>();
  if (scales.empty()) scales = {2, 3, 4};
  if (o.start_epoch) {
    if (*o.start_epoch < 1) throw Error("--start-epoch must be at least 1");
    if (*o.start_epoch != epoch) batch_index = 0;
    epoch = *o.start_epoch;
  }

  torch::manual_seed(seed);
  VDSR model = source ? model_from_checkpoint(*source) : VDSR(o.architecture);
  model->to(device);
  const auto memory_format = o.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  std::vector<at::Tensor> params = model->weights();
  {
    // oneDNN (and cuDNN) run convolutions fastest in NHWC; keeping weights there avoids reorders per step.
    torch::NoGradGuard no_grad;
    for (auto& p : params) p.set_data(p.data().contiguous(memory_format));
  }
  const std::vector<std::string> names = model->architecture().layer_names();

  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(o.params.lr)
                                          .momentum(o.params.momentum)
                                          .weight_decay(o.params.weight_decay));
  // Epoch accumulators: kept on the device so no step waits for a loss value.
  at::Tensor loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
  long long epoch_steps = 0, epoch_patches = 0;
  double epoch_seconds = 0;
  if (source && !o.resume.empty()) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      for (const auto& [name, t] : source->state) {
        if (name != "momentum/" + names[i]) continue;
        auto state = std::make_unique<torch::optim::SGDParamState>();
        state->momentum_buffer(t.to(device).contiguous(memory_format));
        optimizer.state()[state_key(params[i])] = std::move(state);
      }
    }
    for (const auto& [name, t] : source->state) {
      if (name == "rng/cpu") {
        at::Generator generator = at::detail::getDefaultCPUGenerator();  // shares the global state
        generator.set_state(t.contiguous());
      }
      if (name == "epoch/loss_sum" && batch_index > 0) loss_sum.copy_(t);
    }
    if (batch_index > 0) {
      epoch_steps = training.at("epoch_steps");
      epoch_patches = training.at("epoch_patches");
      epoch_seconds = training.at("epoch_seconds");
    }
  }
  result.model = nlohmann::json::object();

  const int patch = file.patch_size();
  const double pixels_per_patch = static_cast<double>(patch) * patch;
  const double base_lr = o.params.lr;
  auto lr_of = [&](int e) { return base_lr * std::pow(0.1, (e - 1) / o.step); };

  auto save = [&](const std::vector<fs::path>& paths, bool mid_epoch) {
    Checkpoint ck = checkpoint_from_model(model);
    for (auto& [name, w] : ck.weights) w = w.contiguous();
    nlohmann::json history = nlohmann::json::array();
    for (const auto& r : result.epochs) {
      if (r.complete) history.push_back(record_json(r));
    }
    ck.meta = {{"scales", scales},
               {"provenance", {{"tool", "vdsr-train"}, {"data", o.data.string()},
                               {"from", result.first_model.string()}}},
               {"training",
                {{"epoch", epoch},
                 {"batch", mid_epoch ? batch_index : 0},
                 {"global_step", result.global_step},
                 {"seed", seed},
                 {"batch_size", o.params.batch_size},
                 {"epoch_steps", mid_epoch ? epoch_steps : 0},
                 {"epoch_patches", mid_epoch ? epoch_patches : 0},
                 {"epoch_seconds", mid_epoch ? epoch_seconds : 0.0},
                 {"params", o.params},
                 {"clip_mode", o.clip_mode == ClipMode::norm ? "norm" : "adjustable"},
                 {"history", history}}}};
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto it = optimizer.state().find(state_key(params[i]));
      if (it == optimizer.state().end()) continue;
      const auto& buf = static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
      if (buf.defined()) ck.state.emplace_back("momentum/" + names[i], buf.detach().cpu().contiguous());
    }
    if (result.global_step > 0 && ck.state.empty() && o.params.momentum > 0) {
      throw std::logic_error("optimizer state not found for the model's parameters");
    }
    ck.state.emplace_back("rng/cpu", at::detail::getDefaultCPUGenerator().get_state());
    ck.state.emplace_back("epoch/loss_sum", mid_epoch ? loss_sum.cpu() : at::zeros({}, at::kDouble));
    for (const auto& path : paths) save_checkpoint(path, ck);
    if (!paths.empty()) {
      result.last_checkpoint = paths.back();
      result.model = model_json(paths.back(), ck);
    }
  };
  auto current_psnr = [&]() -> std::optional<double> {
    if (!validator) return std::nullopt;
    Checkpoint ck = checkpoint_from_model(model);
    return validator->psnr_of(ck, o.device);
  };

  if (source) {
    result.initial_psnr = current_psnr();
    if (result.initial_psnr) spdlog::info("{} x{} PSNR before training: {:.3f} dB", o.val, o.val_scale, *result.initial_psnr);
  }

  // Only now that every input has been read: a bad one leaves no folder behind.
  if (!o.out.empty()) fs::create_directories(o.out);

  // Steps left in this run, for the progress line's ETA.
  long long total_steps = 0;
  {
    const long long per_epoch = (file.size() + o.params.batch_size - 1) / o.params.batch_size;
    if (epoch <= o.epochs) total_steps = per_epoch * (o.epochs - epoch + 1) - batch_index;
    if (max_steps > 0) total_steps = std::min(total_steps, std::max(0LL, max_steps - result.global_step));
  }
  spdlog::info("training {} ({} params) on {}: {} patches of {}x{}, batch {}, epochs {}..{}, lr {} (x0.1 every {}), "
               "momentum {}, weight decay {}, clip {} ({}), {} steps in this run",
               source ? result.first_model.string() : "from scratch", model->architecture().params(),
               o.device.describe(), file.size(), patch, patch, o.params.batch_size, epoch, o.epochs, base_lr, o.step,
               o.params.momentum, o.params.weight_decay, o.params.clip,
               o.clip_mode == ClipMode::norm ? "gradient norm" : "adjustable", total_steps);
  Progress progress("train", static_cast<long>(total_steps), "steps");
  const bool tty = isatty(fileno(stderr)) != 0;
  auto last_draw = Clock::now();
  long long run_steps = 0;
  std::vector<at::Tensor> step_losses;
  data::Batch batch;
  const std::vector<int64_t> strides = {patch * patch, 1, patch, 1};  // NHWC with one channel

  EpochRecord partial;
  bool interrupted = false;
  while (epoch <= o.epochs) {
    const double lr = lr_of(epoch);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
    data::StreamOptions so;
    so.batch_size = o.params.batch_size;
    so.seed = seed;
    so.epoch = epoch;
    so.drop_last = false;  // as the reference's DataLoader
    so.start_batch = batch_index;
    data::BatchStream stream(file, so);
    const long long batches = stream.batches_per_epoch();
    auto started = Clock::now();
    while (batch_index < batches) {
      if (o.stop && o.stop->load()) {
        result.stopped = true;
        break;
      }
      if (max_steps > 0 && result.global_step >= max_steps) {
        result.budget_reached = true;
        break;
      }
      if (!stream.next(batch)) throw std::runtime_error(o.data.string() + ": the patch stream ended early");
      const at::Tensor x = at::from_blob(batch.data.data(), {batch.count, 1, patch, patch}, strides, at::kFloat)
                               .to(device, /*non_blocking=*/false);
      const at::Tensor y = at::from_blob(batch.label.data(), {batch.count, 1, patch, patch}, strides, at::kFloat)
                               .to(device, false);
      optimizer.zero_grad();
      const at::Tensor loss = at::mse_loss(model->forward(x), y, at::Reduction::Sum);
      loss.backward();
      {
        torch::NoGradGuard no_grad;
        if (o.clip_mode == ClipMode::norm) {
          // clip_grad_norm_ as PyTorch computes it, without reading the norm back to the host.
          std::vector<at::Tensor> norms;
          norms.reserve(params.size());
          for (const auto& p : params) norms.push_back(p.grad().norm(2));
          const at::Tensor coef = (o.params.clip / (at::stack(norms).norm(2) + 1e-6)).clamp_max(1.0);
          for (auto& p : params) p.mutable_grad().mul_(coef);
        } else {
          const double bound = o.params.clip / lr;
          for (auto& p : params) p.mutable_grad().clamp_(-bound, bound);
        }
      }
      optimizer.step();
      loss_sum.add_(loss.detach());
      if (o.record_step_losses) step_losses.push_back(loss.detach());
      ++batch_index;
      ++epoch_steps;
      ++run_steps;
      ++result.global_step;
      epoch_patches += batch.count;

      const bool log_line = o.log_every > 0 && batch_index % o.log_every == 0;
      const bool draw = tty && Clock::now() - last_draw > std::chrono::milliseconds(500);
      if (log_line || draw) {
        const double mse = loss.item<double>() / (batch.count * pixels_per_patch);
        const double secs = epoch_seconds + std::chrono::duration<double>(Clock::now() - started).count();
        const double rate = secs > 0 ? epoch_patches / secs : 0.0;
        if (log_line) {
          spdlog::info("epoch {} step {}/{}: loss {:.6f} lr {:g} {:.1f} patches/s", epoch, batch_index, batches, mse,
                       lr, rate);
        }
        if (draw) {
          progress.update(static_cast<long>(run_steps),
                          fmt::format("epoch {} step {}/{} loss {:.6f} lr {:g} {:.1f} patches/s", epoch, batch_index,
                                      batches, mse, lr, rate));
          last_draw = Clock::now();
        }
      }
    }
    if (device.is_cuda()) loss_sum.cpu();  // waits for the queued steps, so the epoch's time is honest
    epoch_seconds += std::chrono::duration<double>(Clock::now() - started).count();

    EpochRecord r;
    r.epoch = epoch;
    r.lr = lr;
    r.steps = epoch_steps;
    r.loss = epoch_patches > 0 ? loss_sum.item<double>() / (epoch_patches * pixels_per_patch) : 0.0;
    r.seconds = epoch_seconds;
    r.patches_per_s = epoch_seconds > 0 ? epoch_patches / epoch_seconds : 0.0;
    r.complete = batch_index >= batches;
    if (!r.complete) {
      interrupted = true;
      if (epoch_steps > 0) partial = r;
      break;
    }
    r.psnr = current_psnr();
    result.epochs.push_back(r);
    spdlog::info("epoch {} done: loss {:.6f} (MSE per pixel), lr {:g}, {:.1f} s, {:.1f} patches/s{}", epoch, r.loss,
                 lr, r.seconds, r.patches_per_s,
                 r.psnr ? fmt::format(", {} x{} PSNR {:.3f} dB", o.val, o.val_scale, *r.psnr) : std::string());
    append_metric(o.metrics, {{"type", "intermediate"}, {"step", epoch}, {"value", metric_value(r.loss, r.psnr)}});
    // The checkpoint records the next position: the start of the following epoch.
    const int finished = epoch;
    ++epoch;
    batch_index = 0;
    epoch_steps = epoch_patches = 0;
    epoch_seconds = 0;
    loss_sum.zero_();
    if (!o.out.empty()) {
      save({o.out / ("model_epoch_" + std::to_string(finished) + ".ckpt"), o.out / "latest.ckpt"}, false);
    }
  }

  if (interrupted) {
    // Save where we stand (inside an epoch, or at its start) so --resume goes on from here.
    if (!o.out.empty()) save({o.out / "latest.ckpt"}, true);
    if (epoch_steps > 0) {
      result.epochs.push_back(partial);
    }
    if (result.stopped) {
      spdlog::warn("stop requested: saved {} at epoch {} step {}", result.last_checkpoint.string(), epoch, batch_index);
    } else {
      spdlog::info("step budget of {} reached at epoch {} step {}", max_steps, epoch, batch_index);
    }
  }
  if (o.record_step_losses) {
    for (const auto& l : step_losses) result.step_losses.push_back(l.item<double>());
  }
  if (result.stopped) return result;

  // The final model's validation PSNR: measured at the last finished epoch, or now after a budget stop.
  if (!result.epochs.empty() && result.epochs.back().psnr) {
    result.final_psnr = result.epochs.back().psnr;
  } else {
    result.final_psnr = current_psnr();
    if (!result.epochs.empty()) result.epochs.back().psnr = result.final_psnr;
  }
  if (!result.epochs.empty() && !result.epochs.back().complete) {
    const auto& r = result.epochs.back();
    append_metric(o.metrics, {{"type", "intermediate"}, {"step", r.epoch}, {"value", metric_value(r.loss, r.psnr)}});
  }
  const double final_loss = result.epochs.empty() ? 0.0 : result.epochs.back().loss;
  append_metric(o.metrics, {{"type", "final"}, {"value", metric_value(final_loss, result.final_psnr)}});
  if (result.model.empty()) {
    Checkpoint ck = checkpoint_from_model(model);
    result.model = {{"widths", ck.architecture.widths}, {"depth", ck.architecture.depth()},
                    {"params", ck.architecture.params()}, {"macs_per_pixel", ck.architecture.macs_per_pixel()}};
  }
  return result;
}

PatchScore evaluate_patches(const fs::path& model_path, const fs::path& data_path, long long count, Device device,
                            int batch_size) {
  const Checkpoint ck = load_checkpoint(model_path);
  const data::PatchFile file(data_path);
  const long long n = count > 0 ? std::min(count, file.size()) : file.size();
  const at::Device dev = torch_device(device);
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
