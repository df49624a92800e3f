// vdsr-data: training patches from an image folder, as the reference VDSR's generate_train.m makes them,
// written as a shuffled HDF5 file (`data`, `label`: float32 [N,1,P,P]).
#include <spdlog/spdlog.h>

#include <atomic>
#include <csignal>

#include "report/report.h"
#include "tools/cli/common.h"
#include "tools/cli/progress_flags.h"
#include "vdsr/data/patches.h"
#include "vdsr/util/error.h"

using namespace vdsr;

namespace {

std::atomic<bool> g_cancel{false};

extern "C" void on_signal(int) { g_cancel.store(true); }

std::vector<double> parse_downsizes(const std::vector<std::string>& values) {
  std::vector<double> out;
  for (const auto& item : cli::split_list(values)) {
    std::size_t used = 0;
    double v = 0.0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !(v > 0.0 && v <= 1.0)) {
      throw Error("--downsizes: expected factors in (0, 1], got '" + item + "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw Error("--downsizes: expected at least one factor");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Make VDSR training patches from an image folder, as the reference's MATLAB generate_train.m:\n"
      "for each image x flip x rotation x scale x downsize, the Y channel (uint8 steps as MATLAB), label = Y\n"
      "cropped to a multiple of the scale, input = bicubic down and up again; PxP patches at a stride,\n"
      "shuffled, written to HDF5 as float32 `data` (input) and `label`, shape [N,1,P,P], values in [0,1].\n"
      "Memory stays bounded: patches go through temporary bucket files next to the output.\n\n"
      "Example: vdsr-data --images train291 --out train.h5 --scales 2,3,4"};
  data::GenerateOptions options;
  std::string images, out = "train.h5", report_path;
  std::vector<std::string> scales_arg{"2,3,4"}, downsizes_arg{"1,0.7,0.5"}, flips_arg{"vertical,horizontal,none"},
      rotations_arg{"0,90,180,270"};
  app.add_option("--images", images, "folder of training images (.png, .bmp, .jpg), read in sorted order")
      ->required();
  app.add_option("--out", out, "output HDF5 file (written to a temp name, renamed when complete)")
      ->capture_default_str();
  app.add_option("--scales", scales_arg, "scale factors, e.g. 2,3,4")->capture_default_str();
  app.add_option("--downsizes", downsizes_arg, "downsizing factors in (0,1] applied to the uint8 image first")
      ->capture_default_str();
  app.add_option("--flips", flips_arg, "flips among vertical (rows), horizontal (columns), none")
      ->capture_default_str();
  app.add_option("--rotations", rotations_arg, "counter-clockwise rotations among 0,90,180,270")
      ->capture_default_str();
  app.add_option("--patch-size", options.patch_size, "patch side P in pixels")->capture_default_str();
  app.add_option("--stride", options.stride, "distance between patch origins")->capture_default_str();
  app.add_option("--seed", options.seed, "seed of the shuffle (same seed, same file)")->capture_default_str();
  app.add_option("--limit", options.limit, "stop after this many patches, in generation order (0: all)")
      ->capture_default_str()
      ->check(cli::integer_at_least(0));
  app.add_option("--threads", options.threads, "image workers (default: all cores)")
      ->check(cli::integer_at_least(1));
  app.add_option("--bucket-patches", options.bucket_patches,
                 "patches per in-memory shuffle bucket; bounds memory at about 2 x 13.5 KB x this for P=41")
      ->capture_default_str();
  app.add_option("--report", report_path, "write a JSON report (schema vdsr-report/1, stage data)");
  cli::ProgressFlags progress_flags;
  progress_flags.add_to(app);

  return cli::run(app, argc, argv, [&] {
    progress_flags.apply();
    options.images = images;
    options.out = out;
    options.scales = cli::parse_int_list(scales_arg, "--scales", 1, 16);
    options.downsizes = parse_downsizes(downsizes_arg);
    options.flips.clear();
    for (const auto& f : cli::split_list(flips_arg)) options.flips.push_back(data::parse_flip(f));
    options.rotations = cli::parse_int_list(rotations_arg, "--rotations", 0, 270);
    options.cancel = &g_cancel;
    data::validate(options);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);

    const data::GenerateResult result = data::generate(options);
    const auto bytes = std::filesystem::file_size(options.out);
    spdlog::info("{}: {} patches from {} of {} images, {:.1f} MB, {:.1f} s ({:.0f} patches/s)", out, result.patches,
                 result.images_used, result.images, bytes / 1e6, result.seconds, result.patches / result.seconds);

    if (!report_path.empty()) {
      nlohmann::json report = report::create("data", "vdsr-data");
      std::vector<std::string> flips;
      for (auto f : options.flips) flips.push_back(data::flip_name(f));
      report["config"] = {{"images", images},         {"out", out},
                          {"scales", options.scales}, {"downsizes", options.downsizes},
                          {"flips", flips},           {"rotations", options.rotations},
                          {"patch_size", options.patch_size}, {"stride", options.stride},
                          {"seed", options.seed},     {"limit", options.limit},
                          {"bucket_patches", options.bucket_patches}};
      report["files"]["data"] = report::file_entry(options.out);  // hashed in a streaming pass
      report["data"] = {{"patches", result.patches},
                        {"images", result.images},
                        {"images_used", result.images_used},
                        {"used_images", result.used_names},
                        {"shape", {result.patches, 1, options.patch_size, options.patch_size}},
                        {"buckets", result.buckets},
                        {"seconds", result.seconds}};
      report::write(report_path, report);
      spdlog::info("report written to {}", report_path);
    }
    return 0;
  });
}
