// vdsr-prune: NNI config_list → plan → masks → a physically narrower VDSR, with FLOPs/params, PSNR and
// latency before and after, and optional fine-tuning with vdsr-train's trainer.
#include <cstdio>

#include "compress/criteria.h"
#include "compress/prune_job.h"
#include "report/report.h"
#include "tools/cli/common.h"
#include "tools/cli/device_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/machine.h"
#include "vdsr/checkpoint.h"
#include "vdsr/util/cpu.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
using namespace vdsr::compress;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

double psnr_of(const json& quality, const std::string& dataset, int scale) {
  return quality.at(fs::path(dataset).filename().string()).at("x" + std::to_string(scale)).at("psnr").get<double>();
}

void print_row(const char* what, double before, double after) {
  std::printf("| %s | %lld | %lld | %.3f |\n", what, static_cast<long long>(before), static_cast<long long>(after),
              after / before);
}

// Before and after: params (non-zero ones for masks), MACs, latency, PSNR (and after fine-tuning).
void print_summary(const json& report, const PruneSettings& s, int threads) {
  const json& pr = report["prune"];
  const json& totals = pr["totals"];
  const double params_after = pr["shrinks"].get<bool>() ? totals["params_after"].get<double>()
                                                         : totals["nonzero_params_after"].get<double>();
  std::printf("\n%s\n| | before | after | ratio |\n|---|---:|---:|---:|\n", machine_line(threads).c_str());
  print_row("params", totals["params_before"].get<double>(), params_after);
  print_row("MACs/pixel", totals["macs_per_pixel_before"].get<double>(), totals["macs_per_pixel_after"].get<double>());
  std::printf("| latency %lldx%lld (ms, median) | %.1f | %.1f | %.3f |\n", static_cast<long long>(s.dummy_input[2]),
              static_cast<long long>(s.dummy_input[3]),
              pr["baseline"]["speed"]["libtorch"]["latency_ms"]["median"].get<double>(),
              report["speed"]["libtorch"]["latency_ms"]["median"].get<double>(), totals["latency_ratio"].get<double>());
  if (!pr["baseline"].contains("quality")) return;
  const bool tuned = pr.contains("quality_pruned");
  const json& pruned = tuned ? pr["quality_pruned"] : report["quality"];
  for (int scale : s.scales) {
    const double before = psnr_of(pr["baseline"]["quality"], s.dataset, scale);
    const double after = psnr_of(pruned, s.dataset, scale);
    if (pr.contains("quality_without_reconstruction")) {
      const double plain = psnr_of(pr["quality_without_reconstruction"], s.dataset, scale);
      std::printf("| %s x%d PSNR, pruned without reconstruction | %.3f | %.3f | %+.3f dB |\n", s.dataset.c_str(),
                  scale, before, plain, plain - before);
    }
    std::printf("| %s x%d PSNR | %.3f | %.3f | %+.3f dB |\n", s.dataset.c_str(), scale, before, after, after - before);
    if (tuned) {
      const double t = psnr_of(report["quality"], s.dataset, scale);
      std::printf("| %s x%d PSNR fine-tuned | %.3f | %.3f | %+.3f dB |\n", s.dataset.c_str(), scale, before, t,
                  t - before);
    }
  }
}

// Least-squares reconstruction from the command line, over the config's `reconstruction` key.
struct ReconstructionFlags {
  std::string data;
  int64_t patches = 0;
  bool off = false;

  void add_to(CLI::App& app) {
    app.add_option("--reconstruct", data, "after pruning, refit each layer by least squares to the original's "
                                          "outputs on calibration patches of this vdsr-data HDF5 file "
                                          "(the config's reconstruction key; docs/config-list.md)");
    app.add_option("--calibration-patches", patches, "calibration patches for --reconstruct (default 64)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    app.add_flag("--no-reconstruct", off, "plain pruning, even where the config asks for reconstruction");
  }

  void apply(PruneSettings& s) const {
    if (off) {
      s.reconstruction.reset();
      return;
    }
    if (!data.empty()) {
      if (!s.reconstruction) s.reconstruction.emplace();
      s.reconstruction->data = data;
    }
    if (patches > 0) {
      if (!s.reconstruction) throw Error("--calibration-patches needs --reconstruct DATA.h5 or a reconstruction key");
      s.reconstruction->patches = patches;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Prune a VDSR with an NNI config_list (docs/config-list.md): L1/L2/FPGM filter pruning into a\n"
               "physically narrower model, or Level (unstructured) masks. Writes <out>/pruned.ckpt, masks.json and\n"
               "report.json, with params, MACs, Set5 PSNR and latency before and after."};
  std::string config_path = "configs/prune.json", model, out, pruner, mode, report_path;
  double sparsity = -1.0;
  int latency_runs = 5;
  bool no_eval = false;
  cli::DeviceFlags device;
  app.add_option("--config", config_path, "config_list array, or {pruner, config_list, mode, ...}")->capture_default_str();
  app.add_option("--model", model, "model to prune (default: the config's model, else the reference model)");
  app.add_option("--out", out, "output folder (default: the config's output, else experiments/prune-<pruner>-<sparsity>)");
  app.add_option("--sparsity", sparsity, "override the sparsity of every non-exclude config_list entry")
      ->check(cli::number_in_half_open(0.0, 1.0));
  app.add_option("--pruner", pruner, compress::criterion_names() + " or level (overrides the config)");
  app.add_option("--mode", mode, "normal, dependency_aware or balance (overrides the config)");
  app.add_option("--report", report_path, "report path (default: <out>/report.json)");
  app.add_option("--latency-runs", latency_runs, "timed runs per model for the latency comparison")
      ->capture_default_str()->check(CLI::Range(1, 1000));
  app.add_flag("--no-eval", no_eval, "skip the PSNR evaluation (faster)");
  ReconstructionFlags reconstruction;
  reconstruction.add_to(app);
  device.add_to(app, "run evaluation, latency and fine-tuning on the GPU");
  std::string engine = "auto";
  cli::add_engine_flag(app, engine);

  return cli::run(app, argc, argv, [&] {
    cli::apply_engine_flag(engine);
    PruneSettings s = read_prune_settings(config_path);
    if (!pruner.empty()) s.pruner = pruner;
    if (!mode.empty()) s.mode = mode;
    if (!model.empty()) s.model = model;
    if (!out.empty()) s.output = out;
    if (s.model.empty()) s.model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
    if (app.count("--sparsity") > 0) override_sparsity(s.config_list, sparsity);
    reconstruction.apply(s);
    JobOptions options;
    options.device = device.device();
    options.threads = device.apply_threads();
    options.latency_runs = latency_runs;
    options.eval = !no_eval;
    options.config_path = config_path;
    PruneJob job(std::move(s), options);

    const fs::path report_file = report_path.empty() ? job.out_dir() / "report.json" : fs::path(report_path);
    if (!report_path.empty()) check_output_folder(report_file.parent_path(), "--report " + report_path);
    std::printf("%s\n", job.describe_plan().c_str());
    const json report = job.run(report_file);
    print_summary(report, job.settings(), options.threads);
    std::printf("\nwrote %s, %s, %s\n", (job.out_dir() / "pruned.ckpt").string().c_str(),
                (job.out_dir() / "masks.json").string().c_str(), report_file.string().c_str());
    return 0;
  });
}
