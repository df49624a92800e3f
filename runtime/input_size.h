#pragma once
// An input size as the tools take it on the command line: "256" (a square) or "HxW".
#include <string>
#include <utility>

namespace vdsr::runtime {

struct InputSize {
  int h = 0, w = 0;
  bool operator==(const InputSize& o) const { return h == o.h && w == o.w; }
  bool operator<(const InputSize& o) const { return std::pair{h, w} < std::pair{o.h, o.w}; }
  std::string text() const { return std::to_string(h) + "x" + std::to_string(w); }
};

constexpr int kMaxSide = 16384;

// "N" or "HxW" (x or X), each side 1..kMaxSide; otherwise a vdsr::Error starting with `flag`.
InputSize parse_size(const std::string& text, const std::string& flag);

}  // namespace vdsr::runtime
