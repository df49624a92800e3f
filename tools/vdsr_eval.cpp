// vdsr-eval: PSNR/SSIM of a model on a dataset, per scale, as SR papers report them.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "report/report.h"
#include "vdsr/checkpoint.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "tools/cli/device_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/machine.h"
#include "vdsr/util/files.h"

using namespace vdsr;

namespace {

void print_table(const std::string& dataset, const ScaleScore& score) {
  std::printf("\n%s x%d\n", dataset.c_str(), score.scale);
  std::printf("| %-12s | %12s | %10s | %12s | %10s | %9s |\n", "image", "bicubic PSNR", "VDSR PSNR", "bicubic SSIM",
              "VDSR SSIM", "ms/image");
  std::printf("|--------------|-------------:|-----------:|-------------:|-----------:|----------:|\n");
  auto row = [](const ImageScore& s) {
    std::printf("| %-12s | %12.3f | %10.3f | %12.4f | %10.4f | %9.1f |\n", s.name.c_str(), s.bicubic_psnr, s.psnr,
                s.bicubic_ssim, s.ssim, s.seconds * 1000.0);
  };
  for (const auto& s : score.images) row(s);
  row(score.mean());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a VDSR model on a dataset: PSNR and SSIM on Y with a border shave, per scale,\n"
               "next to bicubic interpolation (the protocol of SR papers' Set5/Set14 tables)."};
  std::string model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
  std::string dataset = "Set5", report_path;
  std::vector<std::string> scales_arg{"2,3,4"};
  app.add_option("--model", model, "checkpoint or PyTorch state dict (.pt)")->capture_default_str();
  app.add_option("--dataset", dataset, "folder of images, or a name under $VDSR_ASSETS (Set5, Set14)")
      ->capture_default_str();
  app.add_option("--scale", scales_arg, "scale(s), e.g. 2,3,4 or --scale 2 --scale 4")->capture_default_str();
  cli::DeviceFlags device_flags;
  device_flags.add_to(app);
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1)");
  cli::InferenceFlags inference;
  inference.add_to(app);
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);

  return cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    const std::vector<int> scales = cli::parse_int_list(scales_arg, "--scale", 2, 8);
    const Device device = device_flags.device();
    const int threads_used = device_flags.apply_threads();
    const std::vector<std::filesystem::path> images = dataset_images(dataset);
    const Checkpoint checkpoint = load_checkpoint(model);
    const std::string dataset_name = std::filesystem::path(dataset).filename().string();
    spdlog::info("{}: depth {}, {} params; {} images of {}; {} thread(s) on {}", model,
                 checkpoint.architecture.depth(), checkpoint.architecture.params(), images.size(), dataset_name,
                 threads_used, device.describe());

    const Upscaler upscaler(checkpoint, device, inference.options());
    nlohmann::json report = report::create("eval", "vdsr-eval");
    report["machine"].update(machine_json(threads_used, device.cuda));
    report["model"] = model_json(model, checkpoint);
    report["config"] = {{"model", model}, {"dataset", dataset}, {"scales", scales}, {"threads", threads_used},
                        {"device", device.describe()}, {"inference", cli::inference_json(upscaler, inference)}};
    std::vector<ScaleScore> results;
    for (int s : scales) {
      results.push_back(evaluate_scale(upscaler, images, s));
      print_table(dataset_name, results.back());
      report["quality"][dataset_name]["x" + std::to_string(s)] = quality_json(results.back());
    }
    std::printf("\n%s summary\n| scale | bicubic PSNR | VDSR PSNR | gain (dB) | VDSR SSIM |\n"
                "|------:|-------------:|----------:|----------:|----------:|\n", dataset_name.c_str());
    for (const auto& r : results) {
      const ImageScore m = r.mean();
      std::printf("| x%-4d | %12.3f | %9.3f | %9.3f | %9.4f |\n", r.scale, m.bicubic_psnr, m.psnr,
                  m.psnr - m.bicubic_psnr, m.ssim);
    }
    if (!report_path.empty()) {
      report["config"]["inference"]["kernels"] = upscaler.kernels();  // known once the engine has run
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    return 0;
  });
}
