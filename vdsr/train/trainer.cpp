#include "vdsr/train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "vdsr/checkpoint.h"
#include "vdsr/data/patch_file.h"
#include "vdsr/evaluation.h"
#include "vdsr/metrics.h"
#include "vdsr/train/loop.h"
#include "vdsr/train/trial.h"
#include "vdsr/util/error.h"
#include "vdsr/util/fields.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/files.h"
#include "vdsr/util/json_io.h"

namespace vdsr::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

void check(const TrainOptions& o) {
  validate(o.params);
  if (o.epochs < 1) throw Error("--nEpochs must be at least 1, got " + std::to_string(o.epochs));
  if (o.step < 1) throw Error("--step must be at least 1, got " + std::to_string(o.step));
  if (o.max_steps < 0) throw Error("--max-steps must be >= 0, got " + std::to_string(o.max_steps));
  if (o.max_patches < 0) throw Error("--max-patches must be >= 0, got " + std::to_string(o.max_patches));
  if (o.start_epoch && *o.start_epoch < 1) throw Error("--start-epoch must be at least 1");
  if (!o.resume.empty() && !o.pretrained.empty()) throw Error("use either --resume or --pretrained, not both");
  if (o.distill_weight && o.teacher.empty()) throw Error("--distill-weight needs --teacher (the model to distill from)");
  if (o.distill_weight && !(*o.distill_weight >= 0 && *o.distill_weight <= 1)) {
    throw Error("--distill-weight must be in [0, 1], got " + std::to_string(*o.distill_weight));
  }
  if (!o.out.empty()) check_output_folder(o.out, "output folder " + o.out.string());
}

// One step budget from both limits; a patch budget counts whole batches (the last one may overshoot).
long long step_budget(const TrainOptions& o) {
  if (o.max_patches == 0) return o.max_steps;
  const long long from_patches = (o.max_patches + o.params.batch_size - 1) / o.params.batch_size;
  return o.max_steps > 0 ? std::min(o.max_steps, from_patches) : from_patches;
}

// Set5-style validation: PSNR on Y with a border shave, as vdsr-eval, without SSIM (it is per epoch).
class Validator {
 public:
  Validator(const std::string& dataset, int scale) : scale_(scale) {
    for (const auto& path : dataset_images(dataset)) {
      pairs_.push_back(make_scaled_pair(read_image(path), scale, path.string()));
    }
  }
  double psnr_of(VDSR& model, const Device& device) const {
    const Upscaler upscaler(checkpoint_from_model(model), device);
    double sum = 0;
    for (const auto& p : pairs_) sum += psnr(upscaler.run_y(p.bicubic), p.ground_truth, scale_);
    return sum / static_cast<double>(pairs_.size());
  }

 private:
  int scale_;
  std::vector<ScaledPair> pairs_;
};

// Where a run starts: a fresh model, a pretrained one (new training on its weights) or a resumed run.
struct Start {
  std::optional<Checkpoint> source;  // the model to start from; none: from scratch
  fs::path from;                     // its file
  TrainingState state;               // the position, momentum and generator to continue from
  std::vector<int> scales;           // the checkpoints' metadata
};

void resume_from(const TrainOptions& o, Start& s) {
  s.source = load_checkpoint(o.resume);
  s.from = o.resume;
  s.state = decode(*s.source, o.resume);
  if (s.state.batch > 0 && s.state.batch_size != o.params.batch_size) {
    throw Error(o.resume.string() + ": stopped inside epoch " + std::to_string(s.state.epoch) + " with batch size " +
                std::to_string(s.state.batch_size) + "; resume it with the same --batchSize");
  }
  if (s.state.seed != o.seed) spdlog::info("resuming with the checkpoint's seed {} (data order)", s.state.seed);
}

// The lr schedule the run follows: a fresh run's cosine horizon is its step budget, else the steps of all
// its epochs; a resumed run keeps its checkpoint's schedule and horizon.
void fix_schedule(const TrainOptions& o, const data::PatchFile& file, long long budget, TrainingState& s) {
  if (!o.resume.empty() && s.lr_schedule != o.lr_schedule) {
    throw Error(o.resume.string() + ": a run with the " + name_of(s.lr_schedule) +
                " lr schedule; resume it with --lr-schedule " + name_of(s.lr_schedule));
  }
  if (!o.resume.empty() && s.lr_horizon > 0) return;
  const long long per_epoch = (file.size() + o.params.batch_size - 1) / o.params.batch_size;
  const long long all_epochs = std::max(0, o.epochs - s.epoch + 1) * per_epoch - s.batch + s.global_step;
  s.lr_schedule = o.lr_schedule;
  s.lr_horizon = o.lr_schedule == LrSchedule::cosine ? (budget > 0 ? budget : all_epochs) : 0;
}

Start starting_point(const TrainOptions& o, const data::PatchFile& file, long long budget) {
  Start s;
  s.state.seed = o.seed;
  if (!o.resume.empty()) resume_from(o, s);
  if (!o.pretrained.empty()) {
    s.source = load_checkpoint(o.pretrained);
    s.from = o.pretrained;
  }
  s.scales = o.scales;
  if (s.scales.empty() && s.source && s.source->meta.contains("scales")) {
    s.scales = s.source->meta["scales"].get<std::vector<int>>();
  }
  if (s.scales.empty()) s.scales = {2, 3, 4};
  if (o.start_epoch && *o.start_epoch != s.state.epoch) {
    s.state.epoch = *o.start_epoch;
    s.state.batch = 0;
  }
  fix_schedule(o, file, budget, s.state);
  return s;
}

// The seed fixes a fresh model's initialisation.
VDSR initial_model(const TrainOptions& o, const Start& start) {
  torch::manual_seed(start.state.seed);
  return start.source ? model_from_checkpoint(*start.source) : VDSR(o.architecture);
}

nlohmann::json provenance(const TrainOptions& o, const Start& start) {
  nlohmann::json p = {{"tool", "vdsr-train"}, {"data", o.data.string()}, {"from", start.from.string()}};
  p.update(distillation_json(o));
  return p;
}

// Writes the run's checkpoints into the options' folder (none without one) and remembers the last.
class CheckpointWriter {
 public:
  CheckpointWriter(const TrainOptions& o, const Start& start)
      : o_(o), meta_({{"scales", start.scales},
                      {"provenance", provenance(o, start)}}) {}

  // model_epoch_N.ckpt for the epoch just finished, and latest.ckpt.
  void after_epoch(Trainer& trainer, int finished) {
    write(trainer, {o_.out / ("model_epoch_" + std::to_string(finished) + ".ckpt"), o_.out / "latest.ckpt"});
  }
  // latest.ckpt at the exact position, to resume from.
  void latest(Trainer& trainer) { write(trainer, {o_.out / "latest.ckpt"}); }

  fs::path last;
  nlohmann::json model = nlohmann::json::object();  // the report's model block of `last`

 private:
  void write(Trainer& trainer, const std::vector<fs::path>& paths) {
    if (o_.out.empty()) return;
    trainer.require_finite_loss();
    Checkpoint ck = checkpoint_from_model(trainer.model());
    for (auto& [name, w] : ck.weights) w = w.contiguous();
    ck.meta = meta_;
    encode(trainer.state(), ck);
    for (const auto& path : paths) save_checkpoint(path, ck);
    last = paths.back();
    model = model_json(last, ck);
  }

  const TrainOptions& o_;
  const nlohmann::json meta_;
};

std::string schedule_text(const TrainOptions& o, long long horizon) {
  if (o.lr_schedule == LrSchedule::step) return fmt::format("x0.1 every {} epochs", o.step);
  return fmt::format("cosine to 0 over {} steps", horizon);
}

// Model selection by validation: <out>/best.ckpt is a copy of the checkpoint with the highest validation
// PSNR so far and <out>/best.json ({psnr, epoch, step}) says where it came from, so a resumed run keeps
// competing with it.
class BestCheckpoint {
 public:
  explicit BestCheckpoint(const TrainOptions& o) : dir_(o.out) {
    if (o.resume.empty() || !fs::exists(dir_ / "best.json")) return;
    record_ = read_json_file(dir_ / "best.json");
    if (!record_.is_object() || !record_.contains("psnr") || !record_["psnr"].is_number())
      throw Error((dir_ / "best.json").string() + ": expected an object with a numeric \"psnr\"");
  }

  // Keeps `checkpoint`, the model after `step` (in `epoch`), when its `psnr` beats the best so far.
  void offer(const std::optional<double>& psnr, const fs::path& checkpoint, int epoch, long long step) {
    if (dir_.empty() || !psnr || !std::isfinite(*psnr) || checkpoint.empty()) return;
    if (!record_.is_null() && *psnr <= record_["psnr"].get<double>()) return;
    write_atomically(dir_ / "best.ckpt", [&](const fs::path& temp) {
      fs::copy_file(checkpoint, temp, fs::copy_options::overwrite_existing);
    });
    record_ = {{"psnr", *psnr}, {"epoch", epoch}, {"step", step}};
    write_file_atomically(dir_ / "best.json", dump_json(record_, 2) + "\n");
  }
  // {checkpoint, psnr, epoch, step}; null before any validated checkpoint.
  nlohmann::json report() const {
    if (record_.is_null()) return record_;
    nlohmann::json out = record_;
    out["checkpoint"] = (dir_ / "best.ckpt").string();
    return out;
  }

 private:
  fs::path dir_;
  nlohmann::json record_;
};

void announce(const TrainOptions& o, const Start& start, Trainer& trainer, const data::PatchFile& file) {
  const int patch = file.patch_size();
  spdlog::info("training {} ({} params) on {}: {} patches of {}x{}, batch {}, epochs {}..{}, lr {} ({}), "
               "momentum {}, weight decay {}, clip {} ({}), {} steps in this run",
               start.source ? start.from.string() : "from scratch", trainer.model()->architecture().params(),
               o.device.describe(), file.size(), patch, patch, o.params.batch_size, trainer.epoch(), o.epochs,
               o.params.lr, schedule_text(o, start.state.lr_horizon), o.params.momentum, o.params.weight_decay, o.params.clip,
               o.clip_mode == ClipMode::norm ? "gradient norm" : "adjustable", trainer.steps_left(o.epochs));
}

void log_epoch(const TrainOptions& o, const EpochRecord& r) {
  spdlog::info("epoch {} done: loss {:.6f} (MSE per pixel), lr {:g}, {:.1f} s, {:.1f} patches/s{}", r.epoch, r.loss,
               r.lr, r.seconds, r.patches_per_s,
               r.psnr ? fmt::format(", {} x{} PSNR {:.3f} dB", o.val, o.val_scale, *r.psnr) : std::string());
}

// The whole history, this run's steps and how the run ended.
void collect(Trainer& trainer, EpochEnd end, const CheckpointWriter& checkpoints, TrainResult& result) {
  result.epochs = trainer.history();
  const EpochRecord partial = trainer.record();
  if (end != EpochEnd::complete && partial.steps > 0) result.epochs.push_back(partial);
  result.step_losses = trainer.step_losses();
  result.global_step = trainer.global_step();
  result.stopped = end == EpochEnd::stop_requested;
  result.budget_reached = end == EpochEnd::budget_reached;
  result.last_checkpoint = checkpoints.last;
  result.model = checkpoints.model;
  if (result.stopped) {
    spdlog::warn("stop requested: saved {} at epoch {} step {}", checkpoints.last.string(), trainer.epoch(),
                 trainer.batch());
  } else if (result.budget_reached) {
    spdlog::info("step budget of {} reached at epoch {} step {}", result.max_steps, trainer.epoch(), trainer.batch());
  }
}

// The final model's validation PSNR (measured at the last finished epoch, or now after a budget stop), the
// partial epoch's and the final trial metrics, and the model block when no checkpoint was written.
void finish(TrainResult& result, const TrialMetrics& metrics, const std::function<std::optional<double>()>& psnr_now,
            VDSR& model) {
  EpochRecord* last = result.epochs.empty() ? nullptr : &result.epochs.back();
  result.final_psnr = last && last->psnr ? last->psnr : psnr_now();
  if (last) last->psnr = result.final_psnr;
  if (last && !last->complete) metrics.intermediate(*last);
  metrics.final_result(last ? last->loss : 0.0, result.final_psnr);
  if (result.model.empty()) {
    const Architecture& a = model->architecture();
    result.model = {{"widths", a.widths}, {"depth", a.depth()}, {"params", a.params()},
                    {"macs_per_pixel", a.macs_per_pixel()}};
  }
}

}  // namespace

TrainResult train(const TrainOptions& o) {
  const auto started = Clock::now();
  check(o);
  TrainResult result;
  result.max_steps = step_budget(o);
  const data::PatchFile file(o.data);
  std::optional<Validator> validator;
  if (!o.val.empty()) validator.emplace(o.val, o.val_scale);
  const Start start = starting_point(o, file, result.max_steps);
  result.first_model = start.from;
  result.lr_horizon = start.state.lr_horizon;
  Trainer trainer(o, file, initial_model(o, start), start.state, result.max_steps);
  result.precision = trainer.precision();
  auto psnr_now = [&]() -> std::optional<double> {
    if (!validator) return std::nullopt;
    return validator->psnr_of(trainer.model(), o.device);
  };
  if (start.source) result.initial_psnr = psnr_now();
  if (result.initial_psnr) spdlog::info("{} x{} PSNR before training: {:.3f} dB", o.val, o.val_scale, *result.initial_psnr);
  OutputFolder out(o.out);
  out.create();  // only now that every input has been read; removed again if the run fails before writing
  announce(o, start, trainer, file);
  StepLog log(o.log_every, trainer.steps_left(o.epochs));
  CheckpointWriter checkpoints(o, start);
  BestCheckpoint best(o);
  const TrialMetrics metrics(o.metrics);
  EpochEnd end = EpochEnd::complete;
  while (trainer.epoch() <= o.epochs) {
    end = trainer.run_epoch(log);
    if (end != EpochEnd::complete) break;
    EpochRecord r = trainer.record();
    r.psnr = psnr_now();
    log_epoch(o, r);
    metrics.intermediate(r);
    trainer.next_epoch(r);  // a checkpoint records the next position: the start of the following epoch
    checkpoints.after_epoch(trainer, r.epoch);
    best.offer(r.psnr, checkpoints.last, r.epoch, trainer.global_step());
  }
  if (end != EpochEnd::complete) checkpoints.latest(trainer);
  collect(trainer, end, checkpoints, result);
  if (!result.stopped) {
    finish(result, metrics, psnr_now, trainer.model());
    if (!result.epochs.empty()) best.offer(result.final_psnr, checkpoints.last, result.epochs.back().epoch, result.global_step);
  }
  result.best = best.report();
  result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return result;
}

void to_json(nlohmann::json& j, const EpochRecord& r) {
  j = {{"epoch", r.epoch},     {"lr", r.lr},   {"loss", r.loss},           {"psnr", nullptr},
       {"seconds", r.seconds}, {"steps", r.steps}, {"patches_per_s", r.patches_per_s}, {"complete", r.complete}};
  if (r.psnr) j["psnr"] = *r.psnr;
}

void from_json(const nlohmann::json& j, EpochRecord& r) {
  Fields f(j, "epoch record");
  r.epoch = f.required<int>("epoch");
  r.lr = f.required<double>("lr");
  r.loss = f.required<double>("loss");
  if (!f.raw("psnr").is_null()) r.psnr = f.required<double>("psnr");
  r.seconds = f.required<double>("seconds");
  r.patches_per_s = f.required<double>("patches_per_s");
  r.steps = f.required<long long>("steps");
  r.complete = f.optional<bool>("complete", true);
}

nlohmann::json config_json(const TrainOptions& o, const TrainResult& r) {
  nlohmann::json config = o.params;
  config.update({{"data", o.data.string()},     {"nEpochs", o.epochs},       {"step", o.step},
                 {"clip_mode", o.clip_mode},     {"lr_schedule", o.lr_schedule}, {"lr_horizon", r.lr_horizon},
                 {"seed", o.seed},            {"max_steps", o.max_steps},
                 {"max_patches", o.max_patches}, {"step_budget", r.max_steps}, {"pretrained", o.pretrained.string()},
                 {"resume", o.resume.string()},  {"out", o.out.string()},      {"val", o.val},
                 {"val_scale", o.val_scale},     {"device", o.device.describe()}});
  config.update({{"precision", precision_name(o.precision)}, {"effective_precision", precision_name(r.precision)}});
  config.update(distillation_json(o));
  return config;
}

Precision training_precision(Precision requested, bool cuda, const std::string& isa, std::string* warning) {
  if (requested == Precision::fp32 || cuda) return requested;
  if (isa.find("bf16") != std::string::npos || isa.find("amx") != std::string::npos) return Precision::bf16;
  if (warning) *warning = "bf16 training needs AVX512-BF16 or AMX; this CPU's oneDNN ISA is " + isa + ": training in fp32";
  return Precision::fp32;
}

double distill_weight(const TrainOptions& o) { return o.teacher.empty() ? 0.0 : o.distill_weight.value_or(0.5); }

nlohmann::json distillation_json(const TrainOptions& o) {
  if (o.teacher.empty()) return nlohmann::json::object();
  return {{"teacher", o.teacher.string()}, {"teacher_sha256", sha256_file(o.teacher)}, {"distill_weight", distill_weight(o)}};
}

nlohmann::json train_json(const TrainResult& r) {
  auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); };
  return {{"epochs", r.epochs},
          {"global_step", r.global_step},
          {"budget_reached", r.budget_reached},
          {"initial_psnr", optional(r.initial_psnr)},
          {"final_psnr", optional(r.final_psnr)},
          {"checkpoint", r.last_checkpoint.string()},
          {"best", r.best},
          {"seconds", r.seconds}};
}

}  // namespace vdsr::train
