// vdsr-train: (fine-)training with the reference train.py's flags, checkpoints that resume exactly, and
// the trial protocol of docs/trial-protocol.md.
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "report/report.h"
#include "tools/cli/common.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/inference.h"
#include "vdsr/machine.h"
#include "vdsr/train/trainer.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_sigterm(int) { g_stop.store(true); }

// Fills the hyper-parameters that were not given on the command line from a parameters file.
void apply_params(const fs::path& path, const CLI::App& app, train::HyperParams& p) {
  train::HyperParams from_file = p;
  const auto keys = train::read_params_file(path, from_file);
  nlohmann::json given = p, file = from_file, merged = p;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train or fine-tune a VDSR on HDF5 patches (vdsr-data) as the reference train.py: SGD with momentum\n"
               "and weight decay, MSE summed over the batch, lr x0.1 every --step epochs, gradient clipping.\n"
               "With VDSR_TRIAL_PARAMS/VDSR_TRIAL_METRICS set it runs as a tuning trial (docs/trial-protocol.md)."};
  train::TrainOptions o;
  std::string data, out = "checkpoint", resume, pretrained, val, report_path, params_file, gpus, clip_mode = "norm";
  std::vector<std::string> scales_arg;
  bool cuda = false;
  int threads = 0, depth = 20, width = 64, start_epoch = 1;
  long long eval_patches = -1;
  app.add_option("--data", data, "training patches: HDF5 with data/label [N,1,P,P] float32 (vdsr-data)");
  app.add_option("--batchSize", o.params.batch_size, "training batch size")->capture_default_str();
  app.add_option("--nEpochs", o.epochs, "number of epochs to train for")->capture_default_str();
  app.add_option("--lr", o.params.lr, "learning rate")->capture_default_str();
  app.add_option("--step", o.step, "divide the learning rate by 10 every n epochs")->capture_default_str();
  app.add_flag("--cuda", cuda, "train on the GPU (needs a CUDA build of LibTorch)");
  app.add_option("--gpus", gpus, "GPU ids to use (sets CUDA_VISIBLE_DEVICES)");
  app.add_option("--resume", resume, "continue a run from its checkpoint (weights, momentum, epoch, step)");
  app.add_option("--start-epoch", start_epoch, "epoch to start at (default 1, or the resumed checkpoint's)");
  app.add_option("--clip", o.params.clip, "gradient clipping threshold")->capture_default_str();
  app.add_option("--clip-mode", clip_mode, "norm: clip_grad_norm_(clip) as the reference; adjustable: each gradient "
                                           "element in [-clip/lr, clip/lr] as the paper")
      ->check(CLI::IsMember({"norm", "adjustable"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "CPU threads (default: all cores)");
  app.add_option("--momentum", o.params.momentum, "SGD momentum")->capture_default_str();
  app.add_option("--weight-decay,--wd", o.params.weight_decay, "weight decay")->capture_default_str();
  app.add_option("--pretrained", pretrained, "start from this model (checkpoint or PyTorch state dict; a pruned "
                                             "model keeps its widths)");
  app.add_option("--params", params_file, "JSON parameters (lr, momentum, batchSize, clip, weight_decay), e.g. the "
                                          "tuner's best.json; explicit flags win");
  app.add_option("--val", val, "validation dataset for PSNR per epoch (folder, or Set5/Set14 under $VDSR_ASSETS)");
  app.add_option("--val-scale", o.val_scale, "scale of the validation PSNR")->capture_default_str();
  std::string engine = "auto";
  cli::add_engine_flag(app, engine);  // the validation's inference engine
  app.add_option("--out", out, "checkpoint folder: model_epoch_N.ckpt and latest.ckpt (default: checkpoint, or "
                               "$VDSR_TRIAL_DIR/checkpoints in a trial)");
  app.add_option("--seed", o.seed, "seed of initialisation and data order")->capture_default_str();
  app.add_option("--max-steps", o.max_steps, "stop after this many optimizer steps in total (0: no limit); "
                                             "resumable")->capture_default_str();
  app.add_option("--max-patches", o.max_patches, "stop after this many patches seen, i.e. ceil(N / batchSize) "
                                                 "steps, so runs with different batch sizes cost the same "
                                                 "compute (0: no limit; with --max-steps the tighter wins)")
      ->capture_default_str();
  app.add_option("--depth", depth, "layers of a model trained from scratch")->capture_default_str();
  app.add_option("--width", width, "channels of a model trained from scratch")->capture_default_str();
  app.add_option("--scales", scales_arg, "scales the model is trained for (metadata; default: inherited or 2,3,4)");
  app.add_option("--channels-last", o.channels_last, "keep weights and batches in NHWC (true/false)")
      ->capture_default_str();
  app.add_option("--log-every", o.log_every, "steps between log lines")->capture_default_str();
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1, stage train)");
  app.add_option("--eval-patches", eval_patches, "instead of training: pooled PSNR of --pretrained (default: the "
                                                 "reference model) on the first N patches of --data (0: all)");

  return cli::run(app, argc, argv, [&] {
    if (data.empty()) throw Error("--data is required (an HDF5 file from vdsr-data)");
    cli::apply_engine_flag(engine);
    o.device = select_device(cuda, gpus);
    const int threads_used = configure_threads(threads);
    o.data = data;
    if (eval_patches >= 0) {
      const fs::path model =
          pretrained.empty() ? assets_dir() / "models" / "vdsr_x234_state_dict.pt" : fs::path(pretrained);
      const auto s = train::evaluate_patches(model, data, eval_patches, o.device);
      std::printf("%s on %lld patches of %s: bicubic input %.3f dB, model output %.3f dB, gain %+.3f dB\n",
                  model.string().c_str(), s.patches, data.c_str(), s.input_psnr, s.output_psnr,
                  s.output_psnr - s.input_psnr);
      return 0;
    }

    // Parameter sources, weakest first: defaults, --params, the trial's parameters; explicit flags win.
    if (!params_file.empty()) apply_params(params_file, app, o.params);
    const char* trial_params = std::getenv("VDSR_TRIAL_PARAMS");
    if (trial_params && *trial_params) apply_params(trial_params, app, o.params);
    const char* trial_metrics = std::getenv("VDSR_TRIAL_METRICS");
    if (trial_metrics && *trial_metrics) o.metrics = trial_metrics;
    const char* trial_dir = std::getenv("VDSR_TRIAL_DIR");
    if (app.count("--out") == 0 && trial_dir && *trial_dir) out = (fs::path(trial_dir) / "checkpoints").string();
    train::validate(o.params);

    o.clip_mode = clip_mode == "norm" ? train::ClipMode::norm : train::ClipMode::adjustable;
    if (app.count("--start-epoch") > 0) o.start_epoch = start_epoch;
    if (depth < 2 || width < 1) throw Error("--depth must be >= 2 and --width >= 1");
    o.architecture = Architecture::uniform(depth, width);
    if (!scales_arg.empty()) o.scales = cli::parse_int_list(scales_arg, "--scales", 2, 8);
    o.out = out;
    o.resume = resume;
    o.pretrained = pretrained;
    o.val = val;
    o.stop = &g_stop;
    std::signal(SIGTERM, on_sigterm);
    std::signal(SIGINT, on_sigterm);

    const auto started = std::chrono::steady_clock::now();
    const train::TrainResult r = train::train(o);
    if (r.stopped) {
      std::fprintf(stderr, "stopped by a signal; resume with --resume %s\n", r.last_checkpoint.string().c_str());
      return 128 + SIGTERM;
    }
    if (!report_path.empty()) {
      nlohmann::json report = report::create("train", "vdsr-train");
      report["machine"].update(machine_json(threads_used, o.device.cuda));
      report["model"] = r.model;
      report["config"] = {{"data", data},
                          {"batchSize", o.params.batch_size},
                          {"nEpochs", o.epochs},
                          {"lr", o.params.lr},
                          {"step", o.step},
                          {"momentum", o.params.momentum},
                          {"weight_decay", o.params.weight_decay},
                          {"clip", o.params.clip},
                          {"clip_mode", clip_mode},
                          {"seed", o.seed},
                          {"max_steps", o.max_steps},
                          {"max_patches", o.max_patches},
                          {"step_budget", r.max_steps},
                          {"pretrained", pretrained},
                          {"resume", resume},
                          {"out", out},
                          {"val", val},
                          {"val_scale", o.val_scale},
                          {"threads", threads_used},
                          {"device", o.device.describe()}};
      nlohmann::json epochs = nlohmann::json::array();
      for (const auto& e : r.epochs) {
        epochs.push_back({{"epoch", e.epoch},
                          {"lr", e.lr},
                          {"loss", e.loss},
                          {"psnr", e.psnr ? nlohmann::json(*e.psnr) : nlohmann::json(nullptr)},
                          {"seconds", e.seconds},
                          {"patches_per_s", e.patches_per_s},
                          {"steps", e.steps},
                          {"complete", e.complete}});
      }
      report["train"] = {{"epochs", epochs},
                         {"global_step", r.global_step},
                         {"budget_reached", r.budget_reached},
                         {"initial_psnr", r.initial_psnr ? nlohmann::json(*r.initial_psnr) : nlohmann::json(nullptr)},
                         {"final_psnr", r.final_psnr ? nlohmann::json(*r.final_psnr) : nlohmann::json(nullptr)},
                         {"checkpoint", r.last_checkpoint.string()},
                         {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()}};
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    if (!r.last_checkpoint.empty()) std::printf("%s\n", r.last_checkpoint.string().c_str());
    return 0;
  });
}
