// vdsr-train: (fine-)training with the reference train.py's flags, checkpoints that resume exactly, and
// the trial protocol of docs/trial-protocol.md.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>

#include "report/report.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "tools/cli/device_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/machine.h"
#include "vdsr/train/patch_score.h"
#include "vdsr/train/trainer.h"
#include "vdsr/train/trial.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_sigterm(int) { g_stop.store(true); }

// What the command line gives beyond TrainOptions itself.
struct Flags {
  train::TrainOptions o;
  cli::DeviceFlags device;
  std::string clip_mode = "norm", lr_schedule = "step", precision = "fp32", engine = "auto", params_file, report;
  std::vector<std::string> scales;
  int depth = 20, width = 64, start_epoch = 1;
  long long eval_patches = -1;
  double distill_weight = 0.5;
};

// The reference train.py's flags and the hyper-parameters.
void add_training_flags(CLI::App& app, Flags& f) {
  train::TrainOptions& o = f.o;
  std::vector<std::string> clip_modes;
  for (const auto& [mode, name] : enum_names(train::ClipMode{})) clip_modes.push_back(name);
  std::vector<std::string> schedules;
  for (const auto& [schedule, name] : enum_names(train::LrSchedule{})) schedules.push_back(name);
  app.add_option("--data", o.data, "training patches: HDF5 with data/label [N,1,P,P] float32 (vdsr-data)");
  app.add_option("--batchSize", o.params.batch_size, "training batch size")->capture_default_str();
  app.add_option("--nEpochs", o.epochs, "number of epochs to train for")->capture_default_str();
  app.add_option("--lr", o.params.lr, "learning rate")->capture_default_str();
  app.add_option("--step", o.step, "divide the learning rate by 10 every n epochs")->capture_default_str();
  app.add_option("--lr-schedule", f.lr_schedule, "step: lr x0.1 every --step epochs (the reference); cosine: "
                                                 "lr * (1 + cos(pi t / T)) / 2 per step t over the run's T steps "
                                                 "(--max-steps / --max-patches, else all epochs)")
      ->check(CLI::IsMember(schedules))
      ->capture_default_str();
  f.device.add_to(app, "train on the GPU");
  app.add_option("--resume", o.resume, "continue a run from its checkpoint (weights, momentum, epoch, step)");
  app.add_option("--start-epoch", f.start_epoch, "epoch to start at (default 1, or the resumed checkpoint's)");
  app.add_option("--clip", o.params.clip, "gradient clipping threshold")->capture_default_str();
  app.add_option("--clip-mode", f.clip_mode, "norm: clip_grad_norm_(clip) as the reference; adjustable: each gradient "
                                             "element in [-clip/lr, clip/lr] as the paper")
      ->check(CLI::IsMember(clip_modes))
      ->capture_default_str();
  app.add_option("--momentum", o.params.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay,--wd", o.params.weight_decay, "weight decay")->capture_default_str();
  app.add_option("--pretrained", o.pretrained, "start from this model (checkpoint or PyTorch state dict; a pruned "
                                               "model keeps its widths)");
  app.add_option("--teacher", o.teacher, "distil from this model (checkpoint or PyTorch state dict, e.g. the unpruned "
                                         "original): the loss blends MSE to the labels with MSE to its output");
  app.add_option("--distill-weight", f.distill_weight, "weight a of the teacher term in [0, 1]: loss = (1 - a) MSE(label) "
                                                       "+ a MSE(teacher); needs --teacher")
      ->capture_default_str();
  app.add_option("--params", f.params_file, "JSON parameters (lr, momentum, batchSize, clip, weight_decay), e.g. the "
                                            "tuner's best.json; explicit flags win");
}

// Validation, output, budgets, the model trained from scratch, and the patch check.
void add_run_flags(CLI::App& app, Flags& f) {
  train::TrainOptions& o = f.o;
  app.add_option("--val", o.val, "validation dataset for PSNR per epoch (folder, or Set5/Set14 under $VDSR_ASSETS)");
  app.add_option("--val-scale", o.val_scale, "scale of the validation PSNR")->capture_default_str();
  cli::add_engine_flag(app, f.engine);  // the validation's inference engine
  app.add_option("--out", o.out, "checkpoint folder: model_epoch_N.ckpt and latest.ckpt (default: checkpoint, or "
                                 "$VDSR_TRIAL_DIR/checkpoints in a trial)");
  app.add_option("--seed", o.seed, "seed of initialisation and data order")->capture_default_str();
  app.add_option("--max-steps", o.max_steps, "stop after this many optimizer steps in total (0: no limit); "
                                             "resumable")
      ->capture_default_str()
      ->check(cli::integer_at_least(0));
  app.add_option("--max-patches", o.max_patches, "stop after this many patches seen, i.e. ceil(N / batchSize) "
                                                 "steps, so runs with different batch sizes cost the same "
                                                 "compute (0: no limit; with --max-steps the tighter wins)")
      ->capture_default_str()
      ->check(cli::integer_at_least(0));
  app.add_option("--depth", f.depth, "layers of a model trained from scratch")->capture_default_str();
  app.add_option("--width", f.width, "channels of a model trained from scratch")->capture_default_str();
  app.add_option("--scales", f.scales, "scales the model is trained for (metadata; default: inherited or 2,3,4)");
  app.add_option("--channels-last", o.channels_last, "keep weights and batches in NHWC (true/false)")
      ->capture_default_str();
  app.add_option("--precision", f.precision, "fp32, or bf16: the forward pass under bf16 autocast (fp32 master "
                                             "weights, optimizer and loss) where the CPU has AVX512-BF16 or AMX, "
                                             "or on CUDA; elsewhere a warning and fp32")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
  app.add_option("--log-every", o.log_every, "steps between log lines")->capture_default_str();
  app.add_option("--report", f.report, "write a JSON report (schema vdsr-report/1, stage train)");
  app.add_option("--eval-patches", f.eval_patches, "instead of training: pooled PSNR of --pretrained (default: the "
                                                   "reference model) on the first N patches of --data (0: all)");
}

// Fills the hyper-parameters that were not given on the command line from a parameters file.
void apply_params(const fs::path& path, const CLI::App& app, train::HyperParams& p) {
  train::HyperParams from_file = p;
  const auto keys = train::read_params_file(path, from_file);
  nlohmann::json file = from_file, merged = p;
  for (const auto& key : keys) {
    const std::string flag = key == "weight_decay" ? "--weight-decay" : "--" + key;
    if (app.count(flag) > 0) {
      spdlog::warn("{} on the command line wins over {}={} from {}", flag, key, file[key].dump(), path.string());
      continue;
    }
    merged[key] = file[key];
  }
  p = merged.get<train::HyperParams>();
}

// The options as the run takes them: parameter sources, weakest first: defaults, --params, the trial's
// parameters; explicit flags win. In a trial, metrics go to its file and checkpoints into its folder.
void settle_options(const CLI::App& app, Flags& f) {
  train::TrainOptions& o = f.o;
  const auto trial = train::TrialEnvironment::from_env();
  if (!f.params_file.empty()) apply_params(f.params_file, app, o.params);
  if (!trial.params.empty()) apply_params(trial.params, app, o.params);
  train::validate(o.params);
  o.metrics = trial.metrics;
  if (app.count("--out") == 0 && !trial.dir.empty()) o.out = trial.dir / "checkpoints";
  o.clip_mode = parse_enum<train::ClipMode>(f.clip_mode);
  o.lr_schedule = parse_enum<train::LrSchedule>(f.lr_schedule);
  o.precision = parse_precision(f.precision);
  if (app.count("--start-epoch") > 0) o.start_epoch = f.start_epoch;
  if (app.count("--distill-weight") > 0) o.distill_weight = f.distill_weight;
  if (f.depth < 2 || f.width < 1) throw Error("--depth must be >= 2 and --width >= 1");
  o.architecture = Architecture::uniform(f.depth, f.width);
  if (!f.scales.empty()) o.scales = cli::parse_int_list(f.scales, "--scales", 2, 8);
}

int eval_patches(const Flags& f) {
  const fs::path model = f.o.pretrained.empty() ? assets_dir() / "models" / "vdsr_x234_state_dict.pt" : f.o.pretrained;
  const auto s = train::evaluate_patches(model, f.o.data, f.eval_patches, f.o.device);
  std::printf("%s on %lld patches of %s: bicubic input %.3f dB, model output %.3f dB, gain %+.3f dB\n",
              model.string().c_str(), s.patches, f.o.data.string().c_str(), s.input_psnr, s.output_psnr,
              s.output_psnr - s.input_psnr);
  return 0;
}

void write_report(const Flags& f, const train::TrainResult& r, int threads) {
  nlohmann::json report = report::create("train", "vdsr-train");
  report["machine"].update(machine_json(threads, f.o.device.cuda));
  report["model"] = r.model;
  report["config"] = train::config_json(f.o, r);
  report["config"]["threads"] = threads;
  report["train"] = train::train_json(r);
  report::write(f.report, report);
  spdlog::info("report written to {}", f.report);
}

int run_training(Flags& f, int threads) {
  f.o.stop = &g_stop;
  std::signal(SIGTERM, on_sigterm);
  std::signal(SIGINT, on_sigterm);
  const train::TrainResult r = train::train(f.o);
  if (r.stopped) {
    std::fprintf(stderr, "stopped by a signal; resume with --resume %s\n", r.last_checkpoint.string().c_str());
    return 128 + SIGTERM;
  }
  if (!f.report.empty()) write_report(f, r, threads);
  if (!r.last_checkpoint.empty()) std::printf("%s\n", r.last_checkpoint.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train or fine-tune a VDSR on HDF5 patches (vdsr-data) as the reference train.py: SGD with momentum\n"
               "and weight decay, MSE summed over the batch, lr x0.1 every --step epochs, gradient clipping.\n"
               "With VDSR_TRIAL_PARAMS/VDSR_TRIAL_METRICS set it runs as a tuning trial (docs/trial-protocol.md)."};
  Flags f;
  f.o.out = "checkpoint";
  add_training_flags(app, f);
  add_run_flags(app, f);
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);
  return cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    if (f.o.data.empty()) throw Error("--data is required (an HDF5 file from vdsr-data)");
    cli::apply_engine_flag(f.engine);
    f.o.device = f.device.device();
    const int threads = f.device.apply_threads();
    if (f.eval_patches >= 0) return eval_patches(f);
    settle_options(app, f);
    return run_training(f, threads);
  });
}
