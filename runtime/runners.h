#pragma once
// The same network run by different runtimes behind one interface, so that parity, PSNR and latency are
// measured the same way for each: LibTorch (the weights), OpenCV DNN (the ONNX bytes) and onnxruntime
// (the ONNX file, through scripts/ort_check.mjs; see ort.h). Runners are made by name: registry.h.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vdsr/checkpoint.h"
#include "vdsr/evaluation.h"
#include "vdsr/image.h"
#include "vdsr/inference.h"

namespace vdsr::runtime {

// A float32 batch [n, 1, h, w] on the network's 0..1 scale.
struct Batch {
  int n = 1, h = 0, w = 0;
  std::vector<float> data;
  std::vector<int64_t> shape() const { return {n, 1, h, w}; }
};

inline InferenceOptions untiled_fp32() {
  InferenceOptions o;
  o.tile = -1;
  return o;
}

class Runner {
 public:
  virtual ~Runner() = default;
  virtual std::string name() const = 0;  // report key: libtorch | opencv-dnn | onnxruntime
  // The raw network output (residual added, not clipped), same shape as the input.
  virtual Batch forward(const Batch& x) = 0;
  // The evaluation protocol's step, as vdsr::Upscaler::run_y: Y (0..255) scaled to 0..1, the network,
  // back to 0..255, clipped.
  Image run_y(const Image& y);
  // What computes each layer, where the runtime tells (the project's engine does, after a run).
  virtual std::vector<std::string> kernels() const { return {}; }

  // A runtime in another process times itself there, so that its start-up is not counted as a forward
  // pass: `runs` timed passes of `x` after a warm-up, and that process's peak memory. In-process runtimes
  // return nothing and are timed by runtime/timing.h.
  struct OwnTiming {
    std::vector<double> ms;
    double peak_rss_mb = 0;
  };
  virtual bool in_process() const { return true; }
  virtual std::optional<OwnTiming> time_itself(const Batch& /*x*/, int /*runs*/, int /*threads*/) {
    return std::nullopt;
  }
};

// Deterministic uniform 0..1 inputs.
Batch random_batch(int n, int h, int w, unsigned seed);
Batch image_batch(const Image& y);  // one Y plane / 255

double max_abs_diff(const Batch& a, const Batch& b);

// evaluate_scale's protocol with any runner: modcrop, Y, MATLAB bicubic, network, PSNR/SSIM with shave.
ScaleScore evaluate_scale_with(Runner& runner, const std::vector<std::filesystem::path>& images, int scale);
// The same, with the network outputs given (as onnxruntime returns them), in image order.
ScaleScore score_outputs(const std::vector<ScaledPair>& pairs, const std::vector<std::string>& names,
                         const std::vector<Batch>& outputs, int scale);

// Sets the intra-op threads of LibTorch and OpenCV together.
int set_threads(int threads);

}  // namespace vdsr::runtime
