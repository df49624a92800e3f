// vdsr-demo: upscale one picture with VDSR. From a ground-truth image it makes the bicubic input
// itself and scores both; with --lr-input it upscales a low-resolution photo as it is.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

#include "vdsr/checkpoint.h"
#include "tools/cli/common.h"
#include "tools/cli/device_flags.h"
#include "tools/cli/inference_flags.h"
#include "vdsr/evaluation.h"
#include "vdsr/inference.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"

using namespace vdsr;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  CLI::App app{"Upscale an image with VDSR. By default --image is a ground-truth picture: it is shrunk by\n"
               "--scale (MATLAB bicubic), upscaled again by bicubic and by VDSR, and both are scored.\n"
               "With --lr-input, --image is a low-resolution photo that is enlarged by --scale."};
  std::string model = (assets_dir() / "models" / "vdsr_x234_state_dict.pt").string();
  std::string image, out, compare;
  int scale = 4;
  bool lr_input = false;
  app.add_option("--model", model, "checkpoint or PyTorch state dict (.pt)")->capture_default_str();
  app.add_option("--image", image, "input image (PNG, BMP, JPEG)")->required();
  app.add_option("--scale", scale, "upscaling factor")->capture_default_str()->check(CLI::Range(2, 8));
  app.add_option("--out", out, "upscaled colour PNG (default: <image>_x<scale>_vdsr.png beside the input)");
  app.add_option("--compare", compare,
                 "side-by-side PNG: ground truth | bicubic | VDSR (default: <out>_compare.png; "
                 "bicubic | VDSR with --lr-input)");
  app.add_flag("--lr-input", lr_input, "--image is a low-resolution photo to enlarge, not a ground truth");
  cli::DeviceFlags device_flags;
  device_flags.add_to(app);
  cli::InferenceFlags inference;
  inference.add_to(app);

  return cli::run(app, argc, argv, [&] {
    const fs::path input(image);
    if (out.empty()) out = (input.parent_path() / (input.stem().string() + "_x" + std::to_string(scale) + "_vdsr.png")).string();
    if (compare.empty()) compare = (fs::path(out).parent_path() / (fs::path(out).stem().string() + "_compare.png")).string();
    check_image_output(out);  // before the work, not after it
    check_image_output(compare);
    const Device device = device_flags.device();
    device_flags.apply_threads();
    const Image rgb = read_image(input);
    const Checkpoint checkpoint = load_checkpoint(model);
    const Upscaler upscaler(checkpoint, device, inference.options());

    Image ground_truth, bicubic_ycc;
    if (lr_input) {
      bicubic_ycc = imresize(rgb2ycbcr(rgb), rgb.height * scale, rgb.width * scale);
    } else {
      ScaledPair pair = make_scaled_pair(rgb, scale, input.string());  // validates the size
      ground_truth = modcrop(rgb, scale);
      const Image ycc = rgb2ycbcr(ground_truth);
      bicubic_ycc = imresize(imresize(ycc, 1.0 / scale), ycc.height, ycc.width);
    }
    const auto start = std::chrono::steady_clock::now();
    const Image y = upscaler.run_y(bicubic_ycc.channel(0));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const Image vdsr_rgb = ycbcr2rgb(Image::merge({y, bicubic_ycc.channel(1), bicubic_ycc.channel(2)}));
    const Image bicubic_rgb = ycbcr2rgb(bicubic_ycc);

    std::printf("Scale: %d\n", scale);
    if (!lr_input) {
      const Image gt_y = rgb2ycbcr(ground_truth).channel(0);
      std::printf("PSNR_bicubic: %.3f dB\nPSNR_predicted: %.3f dB\n", psnr(bicubic_ycc.channel(0), gt_y, scale),
                  psnr(y, gt_y, scale));
    }
    std::printf("It takes %.3fs for processing (%dx%d output)\n", seconds, y.width, y.height);
    write_image(out, vdsr_rgb);
    write_image(compare, lr_input ? hconcat({bicubic_rgb, vdsr_rgb}, 4) : hconcat({ground_truth, bicubic_rgb, vdsr_rgb}, 4));
    std::printf("wrote %s and %s\n", out.c_str(), compare.c_str());
    return 0;
  });
}
