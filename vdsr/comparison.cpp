#include "vdsr/comparison.h"

#include <algorithm>
#include <memory>

#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"
#include "vdsr/metrics.h"
#include "vdsr/util/error.h"

namespace vdsr {

std::pair<int, int> busiest_window(const Image& score, int size, int step) {
  const int h = score.height, w = score.width;
  // Summed-area table: the sum of any window in four lookups.
  std::vector<double> sat(static_cast<size_t>(h + 1) * (w + 1), 0.0);
  auto at = [&](int y, int x) -> double& { return sat[static_cast<size_t>(y) * (w + 1) + x]; };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) at(y + 1, x + 1) = score.at(0, y, x) + at(y, x + 1) + at(y + 1, x) - at(y, x);
  std::pair<int, int> best{0, 0};
  double best_sum = -1;
  for (int top = 0; top + size <= h; top += step)
    for (int left = 0; left + size <= w; left += step) {
      const double s = at(top + size, left + size) - at(top, left + size) - at(top + size, left) + at(top, left);
      if (s > best_sum) best_sum = s, best = {left, top};
    }
  return best;
}

namespace {

// Where the models disagree: the variance of their outputs per pixel; with one model, how much it changes
// the bicubic image.
Image disagreement(const std::vector<Image>& outputs, const Image& bicubic) {
  Image score(bicubic.height, bicubic.width, 1);
  const size_t n = outputs.size();
  for (size_t i = 0; i < score.data.size(); ++i) {
    if (n == 1) {
      const double d = outputs[0].data[i] - bicubic.data[i];
      score.data[i] = d * d;
      continue;
    }
    double mean = 0, sq = 0;
    for (const auto& o : outputs) mean += o.data[i];
    mean /= static_cast<double>(n);
    for (const auto& o : outputs) sq += (o.data[i] - mean) * (o.data[i] - mean);
    score.data[i] = sq / static_cast<double>(n);
  }
  return score;
}

}  // namespace

CropComparison compare_crop(const std::filesystem::path& image, const std::vector<ComparedModel>& models,
                            const CropOptions& o) {
  const int min_side = std::max(o.scale, 2 * o.scale + 11);  // as make_scaled_pair needs
  if (o.size < min_side || o.size % o.scale != 0)
    throw Error("--crop-size: expected a multiple of the scale " + std::to_string(o.scale) + " of at least " +
                std::to_string(min_side) + ", got " + std::to_string(o.size));
  if (o.left.has_value() != o.top.has_value()) throw Error("--crop: expected both X and Y");
  const Image rgb = modcrop(read_image(image), o.scale);
  if (rgb.width < o.size || rgb.height < o.size)
    throw Error(image.string() + ": image is " + std::to_string(rgb.width) + "x" + std::to_string(rgb.height) +
                ", smaller than the crop (" + std::to_string(o.size) + ")");
  std::vector<std::unique_ptr<Upscaler>> upscalers;
  for (const auto& m : models)
    upscalers.push_back(std::make_unique<Upscaler>(load_checkpoint(m.checkpoint), o.device, o.inference));

  CropComparison c;
  c.image = image.filename().string();
  c.size = o.size;
  c.scale = o.scale;
  if (o.left) {
    if (*o.left < 0 || *o.top < 0 || *o.left + o.size > rgb.width || *o.top + o.size > rgb.height)
      throw Error("--crop: " + std::to_string(*o.left) + "," + std::to_string(*o.top) + " with --crop-size " +
                  std::to_string(o.size) + " does not fit in " + image.string() + " (" + std::to_string(rgb.width) +
                  "x" + std::to_string(rgb.height) + ")");
    c.left = *o.left, c.top = *o.top;
  } else {
    const ScaledPair full = make_scaled_pair(rgb, o.scale, image.string());
    std::vector<Image> outputs;
    for (const auto& u : upscalers) outputs.push_back(u->run_y(full.bicubic));
    std::tie(c.left, c.top) = busiest_window(disagreement(outputs, full.bicubic), o.size, o.scale);
    c.automatic = true;
  }

  // The crop as an image of its own, evaluated as vdsr-eval evaluates a file.
  const Image truth = rgb.crop(c.top, c.left, o.size, o.size);
  const ScaledPair pair = make_scaled_pair(truth, o.scale, image.string());
  const Image ycc = rgb2ycbcr(truth);
  const Image small = imresize(ycc, 1.0 / o.scale);
  const Image cb = imresize(small.channel(1), o.size, o.size), cr = imresize(small.channel(2), o.size, o.size);
  auto colour = [&](const Image& y) { return clip(ycbcr2rgb(Image::merge({y, cb, cr}))); };
  c.pictures.push_back({"ground truth", std::nullopt, truth});
  c.pictures.push_back({"bicubic", psnr(pair.bicubic, pair.ground_truth, o.scale), colour(pair.bicubic)});
  for (size_t i = 0; i < models.size(); ++i) {
    const Image y = upscalers[i]->run_y(pair.bicubic);
    c.pictures.push_back({models[i].name, psnr(y, pair.ground_truth, o.scale), colour(y)});
  }
  return c;
}

}  // namespace vdsr
