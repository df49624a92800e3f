#pragma once
// A VDSR's shape without LibTorch: depth and per-layer widths, so that options and reports can name a
// model's architecture without pulling in the model itself (vdsr/model.h).
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

struct Architecture {
  // Output channels of every convolution but the last: `input` then each residual layer.
  // The reference is 19 x 64 (depth 20); the output convolution always has one filter.
  std::vector<int> widths;

  static Architecture reference() { return Architecture{std::vector<int>(19, 64)}; }
  static Architecture uniform(int depth, int width) { return Architecture{std::vector<int>(depth - 1, width)}; }

  int depth() const { return static_cast<int>(widths.size()) + 1; }
  // Parameter names in forward order, and the [out, in, 3, 3] shape of each.
  std::vector<std::string> layer_names() const;
  std::vector<std::vector<int64_t>> weight_shapes() const;
  int64_t params() const;          // weights only: VDSR has no bias
  int64_t macs_per_pixel() const;  // multiply-accumulates per output pixel
  void validate() const;           // throws vdsr::Error on depth < 2 or widths < 1
};

}  // namespace vdsr
