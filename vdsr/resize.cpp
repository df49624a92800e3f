// MATLAB-compatible bicubic imresize. The algorithm follows MATLAB's documented behaviour (and the
// widely used re-implementations of it): per output pixel, a window of source taps weighted by the
// cubic kernel, widened by 1/scale when shrinking (antialiasing), indices mirrored at the borders.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "vdsr/image.h"
#include "vdsr/util/error.h"

namespace vdsr {
namespace {

double cubic(double x) {
  const double ax = std::abs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1.0) return 1.5 * ax3 - 2.5 * ax2 + 1.0;
  if (ax <= 2.0) return -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0;
  return 0.0;
}

// The taps of one output position: `count` consecutive entries of `index`/`weight`.
struct Contributions {
  int taps = 0;
  std::vector<int> index;      // out_length * taps, 0-based source indices (already mirrored)
  std::vector<double> weight;  // out_length * taps, each row sums to 1
};

Contributions contributions(int in_length, int out_length, double scale) {
  const double kernel_width = scale < 1.0 ? 4.0 / scale : 4.0;
  const int taps = static_cast<int>(std::ceil(kernel_width)) + 2;
  Contributions c;
  c.taps = taps;
  c.index.resize(static_cast<std::size_t>(out_length) * taps);
  c.weight.resize(c.index.size());
  for (int i = 0; i < out_length; ++i) {
    // 1-based coordinates as MATLAB: output pixel x maps to u in the input.
    const double x = i + 1;
    const double u = x / scale + 0.5 * (1.0 - 1.0 / scale);
    const double left = std::floor(u - kernel_width / 2.0);
    double sum = 0.0;
    for (int t = 0; t < taps; ++t) {
      const double source = left + t;
      const double w = scale < 1.0 ? scale * cubic(scale * (u - source)) : cubic(u - source);
      // Symmetric padding: the sequence 1..n, n..1 repeats.
      long long k = static_cast<long long>(source) - 1;
      const long long period = 2LL * in_length;
      k = ((k % period) + period) % period;
      if (k >= in_length) k = period - 1 - k;
      c.index[static_cast<std::size_t>(i) * taps + t] = static_cast<int>(k);
      c.weight[static_cast<std::size_t>(i) * taps + t] = w;
      sum += w;
    }
    for (int t = 0; t < taps; ++t) c.weight[static_cast<std::size_t>(i) * taps + t] /= sum;
  }
  return c;
}

// Resizes along rows (dim 0) or columns (dim 1) of every channel; `to_uint8` rounds and clips the result
// as MATLAB's pass over a uint8 image does.
Image resize_dim(const Image& in, int dim, int out_length, double scale, bool to_uint8 = false) {
  const int in_length = dim == 0 ? in.height : in.width;
  const Contributions c = contributions(in_length, out_length, scale);
  Image out(dim == 0 ? out_length : in.height, dim == 0 ? in.width : out_length, in.channels);
  for (int ch = 0; ch < in.channels; ++ch) {
    for (int i = 0; i < out_length; ++i) {
      const int* idx = &c.index[static_cast<std::size_t>(i) * c.taps];
      const double* w = &c.weight[static_cast<std::size_t>(i) * c.taps];
      if (dim == 0) {
        for (int x = 0; x < in.width; ++x) {
          double acc = 0.0;
          for (int t = 0; t < c.taps; ++t) acc += w[t] * in.at(ch, idx[t], x);
          out.at(ch, i, x) = to_uint8 ? std::clamp(std::round(acc), 0.0, 255.0) : acc;
        }
      } else {
        for (int y = 0; y < in.height; ++y) {
          double acc = 0.0;
          for (int t = 0; t < c.taps; ++t) acc += w[t] * in.at(ch, y, idx[t]);
          out.at(ch, y, i) = to_uint8 ? std::clamp(std::round(acc), 0.0, 255.0) : acc;
        }
      }
    }
  }
  return out;
}

Image resize(const Image& image, double scale_h, double scale_w, int out_h, int out_w) {
  if (image.height < 1 || image.width < 1) throw Error("imresize: empty image");
  if (out_h < 1 || out_w < 1) throw Error("imresize: output size must be at least 1x1");
  // MATLAB resizes the dimension with the smaller scale factor first.
  if (scale_h <= scale_w) {
    return resize_dim(resize_dim(image, 0, out_h, scale_h), 1, out_w, scale_w);
  }
  return resize_dim(resize_dim(image, 1, out_w, scale_w), 0, out_h, scale_h);
}

}  // namespace

int imresize_length(int n, double scale) {
  if (!(scale > 0.0)) throw Error("imresize: scale must be positive");
  return static_cast<int>(std::ceil(n * scale - 1e-9));
}

Image imresize(const Image& image, double scale) {
  return resize(image, scale, scale, imresize_length(image.height, scale), imresize_length(image.width, scale));
}

Image imresize_uint8(const Image& image, double scale) {
  const int out_h = imresize_length(image.height, scale), out_w = imresize_length(image.width, scale);
  if (scale == 1.0) return image;  // the cubic kernel at integer offsets is (0, 1, 0)
  return resize_dim(resize_dim(image, 0, out_h, scale, true), 1, out_w, scale, true);
}

Image imresize(const Image& image, int out_height, int out_width) {
  return resize(image, static_cast<double>(out_height) / image.height,
                static_cast<double>(out_width) / image.width, out_height, out_width);
}

}  // namespace vdsr
