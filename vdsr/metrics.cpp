#include "vdsr/metrics.h"

#include <cmath>
#include <limits>

#include "vdsr/util/error.h"

namespace vdsr {
namespace {

void check_pair(const Image& a, const Image& b, int shave, int min_size) {
  if (a.height != b.height || a.width != b.width) {
    throw Error("metrics: images differ in size (" + std::to_string(a.height) + "x" + std::to_string(a.width) +
                " vs " + std::to_string(b.height) + "x" + std::to_string(b.width) + ")");
  }
  if (a.height - 2 * shave < min_size || a.width - 2 * shave < min_size) {
    throw Error("metrics: image too small for a border shave of " + std::to_string(shave));
  }
}

// Separable 'valid' filtering of one plane with a normalised 1-D kernel.
std::vector<double> filter_valid(const std::vector<double>& plane, int h, int w, const std::vector<double>& k) {
  const int n = static_cast<int>(k.size());
  const int oh = h - n + 1, ow = w - n + 1;
  std::vector<double> rows(static_cast<std::size_t>(oh) * w), out(static_cast<std::size_t>(oh) * ow);
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < w; ++x) {
      double acc = 0.0;
      for (int t = 0; t < n; ++t) acc += k[t] * plane[static_cast<std::size_t>(y + t) * w + x];
      rows[static_cast<std::size_t>(y) * w + x] = acc;
    }
  for (int y = 0; y < oh; ++y)
    for (int x = 0; x < ow; ++x) {
      double acc = 0.0;
      for (int t = 0; t < n; ++t) acc += k[t] * rows[static_cast<std::size_t>(y) * w + x + t];
      out[static_cast<std::size_t>(y) * ow + x] = acc;
    }
  return out;
}

}  // namespace

double psnr(const Image& a, const Image& b, int shave) {
  check_pair(a, b, shave, 1);
  double sum = 0.0;
  const int h = a.height - 2 * shave, w = a.width - 2 * shave;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const double d = a.at(0, y + shave, x + shave) - b.at(0, y + shave, x + shave);
      sum += d * d;
    }
  const double mse = sum / (static_cast<double>(h) * w);
  if (mse == 0.0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const Image& a, const Image& b, int shave) {
  constexpr int kWindow = 11;
  constexpr double kSigma = 1.5;
  check_pair(a, b, shave, kWindow);
  std::vector<double> k(kWindow);
  double ksum = 0.0;
  for (int i = 0; i < kWindow; ++i) {
    const double d = i - (kWindow - 1) / 2.0;
    k[i] = std::exp(-d * d / (2.0 * kSigma * kSigma));
    ksum += k[i];
  }
  for (double& v : k) v /= ksum;  // the 2-D window (outer product) then sums to 1

  const int h = a.height - 2 * shave, w = a.width - 2 * shave;
  std::vector<double> x(static_cast<std::size_t>(h) * w), y(x.size()), xx(x.size()), yy(x.size()), xy(x.size());
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * w + c;
      x[i] = a.at(0, r + shave, c + shave);
      y[i] = b.at(0, r + shave, c + shave);
      xx[i] = x[i] * x[i];
      yy[i] = y[i] * y[i];
      xy[i] = x[i] * y[i];
    }
  const auto mx = filter_valid(x, h, w, k), my = filter_valid(y, h, w, k);
  const auto sxx = filter_valid(xx, h, w, k), syy = filter_valid(yy, h, w, k), sxy = filter_valid(xy, h, w, k);
  const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
  double total = 0.0;
  for (std::size_t i = 0; i < mx.size(); ++i) {
    const double vx = sxx[i] - mx[i] * mx[i], vy = syy[i] - my[i] * my[i], cov = sxy[i] - mx[i] * my[i];
    total += ((2 * mx[i] * my[i] + c1) * (2 * cov + c2)) /
             ((mx[i] * mx[i] + my[i] * my[i] + c1) * (vx + vy + c2));
  }
  return total / static_cast<double>(mx.size());
}

}  // namespace vdsr
