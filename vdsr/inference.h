#pragma once
// Running a VDSR on an image plane. The LibTorch details stay in inference.cpp.
#include <memory>
#include <string>

#include "vdsr/image.h"

namespace vdsr {

struct Checkpoint;

struct Device {
  bool cuda = false;
  std::string describe() const { return cuda ? "cuda" : "cpu"; }
};

// Validates --cuda / --gpus: without a CUDA build or GPU, a vdsr::Error ("No GPU found ...").
// `gpus` (as the reference's --gpus) sets CUDA_VISIBLE_DEVICES before CUDA starts.
Device select_device(bool cuda, const std::string& gpus);

// LibTorch's version, for reports.
std::string torch_version();

// Sets LibTorch's intra-op threads: all cores when `threads` <= 0. Returns the count in use.
int configure_threads(int threads);

class Upscaler {
 public:
  Upscaler(const Checkpoint& checkpoint, Device device);
  ~Upscaler();
  Upscaler(Upscaler&&) noexcept;

  // Runs the network on a bicubic-upscaled Y plane (0..255 scale, one channel); the output is
  // clipped to 0..255 as the evaluation protocol requires.
  Image run_y(const Image& y) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdsr
