#include "vdsr/evaluation.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "vdsr/metrics.h"
#include "vdsr/util/error.h"
#include "vdsr/util/files.h"
#include "vdsr/util/progress.h"

namespace vdsr {

namespace fs = std::filesystem;

std::vector<fs::path> dataset_images(const std::string& dataset) {
  fs::path folder = dataset;
  if (!fs::is_directory(folder)) folder = assets_dir() / dataset;
  if (!fs::is_directory(folder)) {
    std::string known;
    if (fs::is_directory(assets_dir())) {
      for (const auto& e : fs::directory_iterator(assets_dir())) {
        if (e.is_directory() && e.path().filename() != "models") known += " " + e.path().filename().string();
      }
    }
    throw Error("unknown dataset '" + dataset + "': not a folder, and not a name under " + assets_dir().string() +
                (known.empty() ? " (set VDSR_ASSETS to the folder holding Set5/ and Set14/)" : " (known:" + known + ")"));
  }
  return list_images(folder);
}

ScaledPair make_scaled_pair(const Image& rgb, int scale, const std::string& name) {
  // The LR image needs at least one pixel, and PSNR/SSIM need an 11x11 window after the shave.
  const int min_side = std::max(scale, 2 * scale + 11);
  if (rgb.height < min_side || rgb.width < min_side) {
    throw Error(name + ": image is " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) +
                ", too small to evaluate at scale " + std::to_string(scale) + " (needs at least " +
                std::to_string(min_side) + "x" + std::to_string(min_side) + ")");
  }
  ScaledPair pair;
  pair.ground_truth = modcrop(rgb2ycbcr(rgb).channel(0), scale);
  const Image lr = imresize(pair.ground_truth, 1.0 / scale);
  pair.bicubic = imresize(lr, pair.ground_truth.height, pair.ground_truth.width);
  return pair;
}

ImageScore ScaleScore::mean() const {
  ImageScore m;
  m.name = "mean";
  for (const auto& s : images) {
    m.bicubic_psnr += s.bicubic_psnr;
    m.psnr += s.psnr;
    m.bicubic_ssim += s.bicubic_ssim;
    m.ssim += s.ssim;
    m.seconds += s.seconds;
  }
  const double n = images.empty() ? 1.0 : static_cast<double>(images.size());
  m.bicubic_psnr /= n;
  m.psnr /= n;
  m.bicubic_ssim /= n;
  m.ssim /= n;
  m.seconds /= n;
  return m;
}

ScaleScore evaluate_scale(const Upscaler& upscaler, const std::vector<fs::path>& images, int scale) {
  ScaleScore score;
  score.scale = scale;
  Progress progress("x" + std::to_string(scale), static_cast<long>(images.size()), "images");
  for (const auto& path : images) {
    const ScaledPair pair = make_scaled_pair(read_image(path), scale, path.string());
    const auto start = std::chrono::steady_clock::now();
    const Image out = upscaler.run_y(pair.bicubic);
    ImageScore s;
    s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    s.name = path.stem().string();
    s.bicubic_psnr = psnr(pair.bicubic, pair.ground_truth, scale);
    s.psnr = psnr(out, pair.ground_truth, scale);
    s.bicubic_ssim = ssim(pair.bicubic, pair.ground_truth, scale);
    s.ssim = ssim(out, pair.ground_truth, scale);
    if (std::isnan(s.psnr) || std::isnan(s.ssim)) {
      throw Error(path.string() + ": the model's output at scale " + std::to_string(scale) +
                  " is not a number (NaN): its weights overflow float32 on this image");
    }
    score.images.push_back(s);
    progress.update(static_cast<long>(score.images.size()));
  }
  return score;
}

nlohmann::json quality_json(const ScaleScore& score) {
  const ImageScore m = score.mean();
  nlohmann::json q = {{"psnr", m.psnr},
                      {"ssim", m.ssim},
                      {"bicubic_psnr", m.bicubic_psnr},
                      {"bicubic_ssim", m.bicubic_ssim},
                      {"seconds_per_image", m.seconds},
                      {"images", nlohmann::json::object()}};
  for (const auto& s : score.images) {
    q["images"][s.name] = {{"psnr", s.psnr}, {"ssim", s.ssim}, {"bicubic_psnr", s.bicubic_psnr},
                           {"bicubic_ssim", s.bicubic_ssim}, {"seconds", s.seconds}};
  }
  return q;
}

}  // namespace vdsr
