#include "runtime/runners.h"

#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <random>

#include "runtime/timing.h"
#include "vdsr/inference.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"
#include "vdsr/util/progress.h"

namespace vdsr::runtime {

namespace fs = std::filesystem;

namespace {
// Scaled and clipped in float32, as Upscaler does, so every runtime's PSNR uses the same arithmetic.
double to_pixel(float v) { return static_cast<double>(std::clamp(v * 255.0f, 0.0f, 255.0f)); }
}  // namespace

Image Runner::run_y(const Image& y) {
  const Batch out = forward(image_batch(y));
  Image result(y.height, y.width, 1);
  for (size_t i = 0; i < result.data.size(); ++i) {
    result.data[i] = to_pixel(out.data[i]);
  }
  return result;
}

Batch random_batch(int n, int h, int w, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  Batch b{n, h, w, std::vector<float>(static_cast<size_t>(n) * h * w)};
  for (float& v : b.data) v = u(rng);
  return b;
}

Batch image_batch(const Image& y) {
  Batch b{1, y.height, y.width, std::vector<float>(y.plane_size())};
  // Same rounding as Upscaler: to float first, then divide in float.
  for (size_t i = 0; i < b.data.size(); ++i) b.data[i] = static_cast<float>(y.data[i]) / 255.0f;
  return b;
}

double max_abs_diff(const Batch& a, const Batch& b) {
  if (a.data.size() != b.data.size()) throw Error("outputs differ in size");
  double m = 0;
  for (size_t i = 0; i < a.data.size(); ++i) m = std::max(m, std::abs(static_cast<double>(a.data[i]) - b.data[i]));
  return m;
}

namespace {
ImageScore score_one(const ScaledPair& pair, const Image& out, const std::string& name, int scale) {
  ImageScore s;
  s.name = name;
  s.bicubic_psnr = psnr(pair.bicubic, pair.ground_truth, scale);
  s.psnr = psnr(out, pair.ground_truth, scale);
  s.bicubic_ssim = ssim(pair.bicubic, pair.ground_truth, scale);
  s.ssim = ssim(out, pair.ground_truth, scale);
  return s;
}
}  // namespace

ScaleScore evaluate_scale_with(Runner& runner, const std::vector<fs::path>& images, int scale) {
  ScaleScore score;
  score.scale = scale;
  Progress progress(runner.name() + " x" + std::to_string(scale), static_cast<long>(images.size()), "images");
  for (const auto& path : images) {
    const ScaledPair pair = make_scaled_pair(read_image(path), scale, path.string());
    Image out;
    const double ms = time_ms([&] { out = runner.run_y(pair.bicubic); });
    score.images.push_back(score_one(pair, out, path.stem().string(), scale));
    score.images.back().seconds = ms / 1000.0;
    progress.update(static_cast<long>(score.images.size()));
  }
  return score;
}

ScaleScore score_outputs(const std::vector<ScaledPair>& pairs, const std::vector<std::string>& names,
                         const std::vector<Batch>& outputs, int scale) {
  ScaleScore score;
  score.scale = scale;
  for (size_t k = 0; k < pairs.size(); ++k) {
    const Image& gt = pairs[k].ground_truth;
    Image out(gt.height, gt.width, 1);
    if (outputs[k].data.size() != out.data.size()) throw Error(names[k] + ": output has the wrong size");
    for (size_t i = 0; i < out.data.size(); ++i) {
      out.data[i] = to_pixel(outputs[k].data[i]);
    }
    score.images.push_back(score_one(pairs[k], out, names[k], scale));
  }
  return score;
}

int set_threads(int threads) {
  const int n = configure_threads(threads);
  cv::setNumThreads(n);
  return n;
}

}  // namespace vdsr::runtime
