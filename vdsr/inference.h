#pragma once
// Running a VDSR on an image plane. The LibTorch details stay in inference.cpp.
#include <memory>
#include <string>
#include <vector>

#include "vdsr/image.h"
#include "vdsr/onednn_engine.h"

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

// How a model runs: precision, tiling and which engine.
struct InferenceOptions {
  Precision precision = Precision::fp32;
  // Tile side in output pixels. 0: tile only when the untiled activations would exceed the memory budget;
  // negative: never tile.
  int tile = 0;
  int64_t memory_budget_mb = 1024;
  // oneDNN engine, fp32: allow Winograd body convolutions where they time faster (float rounding only).
  bool winograd = true;
  // onednn: the fused oneDNN chain (CPU; the default where built); aten: at::conv2d per layer
  // (channels-last), the path CUDA and builds without oneDNN headers take; automatic: the process default
  // (default_engine()).
  enum class Engine { automatic, onednn, aten } engine = Engine::automatic;
  // Precision::int8: vdsr-quantize's scales (read_int8_scales) and the file they came from, for errors.
  // int8 runs on the oneDNN engine; elsewhere (aten, CUDA) the model runs fp32 with a warning.
  std::shared_ptr<const Int8Scales> int8_scales;
  std::string int8_scales_path;
};

// "auto" | "onednn" | "aten"; a vdsr::Error naming `where` otherwise.
InferenceOptions::Engine parse_engine(const std::string& name, const std::string& where = "--engine");
std::string engine_option_name(InferenceOptions::Engine engine);
// The engine InferenceOptions::Engine::automatic stands for in this process: the environment variable
// VDSR_ENGINE (auto, onednn or aten; read once) unless set_default_engine() said otherwise. Child
// processes (tuning trials, pipeline stages) inherit VDSR_ENGINE, so one setting reaches every tool.
InferenceOptions::Engine default_engine();
// Sets the process default and VDSR_ENGINE for child processes (the tools' --engine flag).
void set_default_engine(InferenceOptions::Engine engine);

// The oneDNN engine's last resort for a layer it has no optimised kernel for: at::conv2d on that layer alone
// (LibTorch finds a working path on any CPU). Upscaler gives it to the engine.
LayerFallback aten_layer_fallback(const Checkpoint& checkpoint);

// Checks that int8 scales fit the model: present, one layer per convolution with its name and one weight
// scale per filter; vdsr::Error naming the file and the key otherwise. Warns when they were calibrated for
// other weights.
void check_int8_scales(const Checkpoint& checkpoint, const InferenceOptions& options);

class Upscaler {
 public:
  Upscaler(const Checkpoint& checkpoint, Device device, InferenceOptions options = {});
  ~Upscaler();
  Upscaler(Upscaler&&) noexcept;

  // Runs the network on a bicubic-upscaled Y plane (0..255 scale, one channel); the output is
  // clipped to 0..255 as the evaluation protocol requires.
  Image run_y(const Image& y) const;

  // The raw network on a 0..1 plane [h, w]: residual added, not clipped; tiled as the options say.
  void forward(const float* x, float* y, int h, int w) const;

  // What actually runs, for reports: {engine, precision, tile} (precision is fp32 after a bf16 or int8
  // fallback; in int8, kernels() says which layers run int8).
  std::string engine_name() const;
  // What computes each layer, one entry per layer (OnednnVdsr::kernels(), or "at::conv2d"); the oneDNN
  // engine's list is known once it has run.
  std::vector<std::string> kernels() const;
  Precision precision() const;
  // The largest tile side forward() uses for an h x w input (0: untiled); tiles are balanced below it.
  int tile_for(int h, int w) const;
  // The halo each tile carries on every side: the receptive-field radius (one pixel per 3x3 layer).
  int halo() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdsr
