#include "vdsr/inference.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "vdsr/checkpoint.h"
#include "vdsr/util/enum_names.h"
#include "vdsr/util/error.h"

namespace vdsr {

Device select_device(bool cuda, const std::string& gpus) {
  if (!gpus.empty()) setenv("CUDA_VISIBLE_DEVICES", gpus.c_str(), 1);
  if (cuda && !torch::cuda::is_available()) {
    throw Error("No GPU found, please run without --cuda (this build or machine has no CUDA device)");
  }
  return Device{cuda};
}

std::string torch_version() { return TORCH_VERSION; }

int configure_threads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  return n;
}

VDSR_ENUM_NAMES(InferenceOptions::Engine, {{InferenceOptions::Engine::automatic, "auto"},
                                           {InferenceOptions::Engine::onednn, "onednn"},
                                           {InferenceOptions::Engine::aten, "aten"}})

InferenceOptions::Engine parse_engine(const std::string& name, const std::string& where) {
  InferenceOptions::Engine e{};
  if (!try_parse_enum(name, e))
    throw Error(where + ": expected " + enum_choices<InferenceOptions::Engine>() + ", got '" + name + "'");
  return e;
}

std::string engine_option_name(InferenceOptions::Engine engine) { return name_of(engine); }

namespace {
InferenceOptions::Engine& process_engine() {
  static InferenceOptions::Engine engine = [] {
    const char* env = std::getenv("VDSR_ENGINE");
    return env && *env ? parse_engine(env, "environment variable VDSR_ENGINE") : InferenceOptions::Engine::automatic;
  }();
  return engine;
}
}  // namespace

InferenceOptions::Engine default_engine() { return process_engine(); }

void set_default_engine(InferenceOptions::Engine engine) {
  process_engine() = engine;
  setenv("VDSR_ENGINE", engine_option_name(engine).c_str(), 1);
}

LayerFallback aten_layer_fallback(const Checkpoint& checkpoint) {
  std::vector<at::Tensor> fp32;
  for (const auto& [name, w] : checkpoint.weights) fp32.push_back(w.to(at::kCPU, at::kFloat).contiguous());
  return [fp32](size_t layer, const float* src, float* dst, int h, int w) {
    c10::InferenceMode guard;
    const at::Tensor& weight = fp32[layer];
    const at::Tensor in = at::from_blob(const_cast<float*>(src), {1, weight.size(1), h, w}, at::kFloat);
    const at::Tensor out = at::conv2d(in, weight, {}, 1, 1).contiguous();
    std::memcpy(dst, out.data_ptr<float>(), sizeof(float) * static_cast<size_t>(out.numel()));
  };
}

void check_int8_scales(const Checkpoint& checkpoint, const InferenceOptions& options) {
  if (!options.int8_scales) throw Error("--precision int8 needs --int8-scales FILE (vdsr-quantize writes it)");
  const Int8Scales& s = *options.int8_scales;
  const std::string& where = options.int8_scales_path.empty() ? std::string("the int8 scales") : options.int8_scales_path;
  if (s.layers.size() != checkpoint.weights.size()) {
    throw Error(where + ": layers: " + std::to_string(s.layers.size()) + " layers, but the model has " +
                std::to_string(checkpoint.weights.size()) + " (scales of another model?)");
  }
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const std::string name = checkpoint.weights[i].first.substr(0, checkpoint.weights[i].first.rfind(".weight"));
    const auto filters = checkpoint.weights[i].second.size(0);
    const std::string at = where + ": layers[" + std::to_string(i) + "]";
    if (s.layers[i].name != name) throw Error(at + ".name: expected '" + name + "', got '" + s.layers[i].name + "'");
    if (static_cast<int64_t>(s.layers[i].weight_scales.size()) != filters) {
      throw Error(at + ".weight_scales: expected " + std::to_string(filters) + " (one per filter), got " +
                  std::to_string(s.layers[i].weight_scales.size()));
    }
  }
  if (!s.model_sha256.empty() && s.model_sha256 != weights_sha256(checkpoint.weights)) {
    std::fprintf(stderr, "warning: %s: model_sha256: calibrated for other weights than this model's\n", where.c_str());
  }
}

struct Upscaler::Impl {
  InferenceOptions options;
  Precision precision = Precision::fp32;
  std::vector<std::vector<int64_t>> shapes;
  std::unique_ptr<OnednnVdsr> onednn;  // the CPU engine, when used
  std::vector<at::Tensor> weights;     // the aten path's weights
  at::Device device{at::kCPU};

  void run_untiled(const float* x, float* y, int h, int w) const;
  void run_aten(const float* x, float* y, int h, int w) const;
};

Upscaler::Upscaler(const Checkpoint& checkpoint, Device device, InferenceOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.options = options;
  // A tile computes from a window with `halo` pixels of context on every side: below twice the halo most
  // of the work is context (a 1-pixel tile on 20 layers costs 41 x 41 pixels per pixel).
  const int halo = static_cast<int>(checkpoint.weights.size());
  if (options.tile > 0 && options.tile <= 2 * halo) {
    throw Error("--tile " + std::to_string(options.tile) + ": too small for this " + std::to_string(halo) +
                "-layer model, whose tiles carry " + std::to_string(halo) +
                " pixels of context on every side; expected -1 (never tile), 0 (automatic) or at least " +
                std::to_string(2 * halo + 1));
  }
  m.device = device.cuda ? at::Device(at::kCUDA) : at::Device(at::kCPU);
  m.precision = options.precision;
  if (m.precision == Precision::bf16 && !device.cuda) {
    std::string why;
    if (!cpu_has_bf16(&why)) {
      std::fprintf(stderr, "warning: --precision bf16: %s; running fp32 instead\n", why.c_str());
      m.precision = Precision::fp32;
    }
  }
  for (const auto& [name, w] : checkpoint.weights) m.shapes.push_back(w.sizes().vec());
  const auto engine = options.engine == InferenceOptions::Engine::automatic ? default_engine() : options.engine;
  const bool use_onednn = !device.cuda && engine != InferenceOptions::Engine::aten;
  if (m.precision == Precision::int8) {
    check_int8_scales(checkpoint, options);
    if (!use_onednn) {
      std::fprintf(stderr, "warning: --precision int8 runs on the oneDNN engine (CPU) only; running fp32 instead\n");
      m.precision = Precision::fp32;
    }
  }
  if (engine == InferenceOptions::Engine::onednn && device.cuda) {
    throw Error("the oneDNN engine runs on the CPU only; drop --cuda or choose the aten engine");
  }
  if (use_onednn) {
    std::vector<std::vector<float>> host;
    for (const auto& [name, w] : checkpoint.weights) {
      const at::Tensor t = w.to(at::kCPU, at::kFloat).contiguous();
      host.emplace_back(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    }
    EngineOptions engine_options;
    engine_options.precision = m.precision;
    engine_options.winograd = options.winograd;
    engine_options.fallback = aten_layer_fallback(checkpoint);
    if (m.precision == Precision::int8) engine_options.int8 = options.int8_scales;
    m.onednn = std::make_unique<OnednnVdsr>(host, m.shapes, std::move(engine_options));
    return;
  }
  // Channels-last keeps the convolutions in one layout along the whole chain; in bf16 the body
  // convolutions (all but the first and last) run in bf16.
  const size_t n = checkpoint.weights.size();
  size_t i = 0;
  for (const auto& [name, w] : checkpoint.weights) {
    const bool body = i != 0 && i + 1 != n;
    const auto type = body && m.precision == Precision::bf16 ? at::kBFloat16 : at::kFloat;
    m.weights.push_back(w.to(m.device, type).contiguous(at::MemoryFormat::ChannelsLast));
    ++i;
  }
}

Upscaler::~Upscaler() = default;
Upscaler::Upscaler(Upscaler&&) noexcept = default;

Precision Upscaler::precision() const { return impl_->precision; }

std::string Upscaler::engine_name() const {
  if (impl_->onednn) return "onednn";
  return impl_->device.is_cuda() ? "aten-cuda" : "aten";
}

std::vector<std::string> Upscaler::kernels() const {
  if (impl_->onednn) return impl_->onednn->kernels();
  return std::vector<std::string>(impl_->shapes.size(), "at::conv2d");
}

int Upscaler::halo() const { return static_cast<int>(impl_->shapes.size()); }

int Upscaler::tile_for(int h, int w) const {
  const auto& o = impl_->options;
  if (o.tile < 0) return 0;
  const int r = halo();
  if (o.tile > 0) return o.tile >= std::max(h, w) ? 0 : o.tile;
  const int64_t budget = o.memory_budget_mb * (int64_t{1} << 20);
  if (OnednnVdsr::activation_bytes(impl_->shapes, h, w) <= budget) return 0;
  // The largest multiple of 64 whose window (tile + halo on both sides) fits the budget.
  int tile = 64;
  while (OnednnVdsr::activation_bytes(impl_->shapes, tile + 64 + 2 * r, tile + 64 + 2 * r) <= budget) tile += 64;
  return tile;
}

void Upscaler::Impl::run_aten(const float* x, float* y, int h, int w) const {
  at::Tensor in = at::from_blob(const_cast<float*>(x), {1, 1, h, w}, at::kFloat)
                      .to(device)
                      .contiguous(at::MemoryFormat::ChannelsLast);
  at::Tensor a = in;
  for (size_t i = 0; i + 1 < weights.size(); ++i) {
    if (a.scalar_type() != weights[i].scalar_type()) a = a.to(weights[i].scalar_type());
    a = at::conv2d(a, weights[i], {}, 1, 1).relu_();
  }
  at::Tensor out = at::conv2d(a.to(at::kFloat), weights.back(), {}, 1, 1).add_(in).to(at::kCPU).contiguous();
  std::memcpy(y, out.data_ptr<float>(), sizeof(float) * static_cast<size_t>(h) * static_cast<size_t>(w));
}

void Upscaler::Impl::run_untiled(const float* x, float* y, int h, int w) const {
  if (onednn) {
    onednn->run(x, y, h, w);
  } else {
    run_aten(x, y, h, w);
  }
}

void Upscaler::forward(const float* x, float* y, int h, int w) const {
  c10::InferenceMode guard;
  const int tile = tile_for(h, w);
  if (tile == 0) return impl_->run_untiled(x, y, h, w);
  // Tiles of at most `tile` pixels, balanced so the last row and column are not slivers (a sliver costs a
  // whole window). Each tile is computed from a fixed-size window holding it and `halo` pixels of context
  // on every side, shifted inwards at the image border, where the zero padding is the same as untiled.
  // Output pixels therefore see exactly the inputs they see untiled, and one window size means one plan.
  const int r = halo();
  auto balanced = [tile](int side) {  // ceil(side / count) for count = ceil(side / tile) tiles
    const int count = (side + tile - 1) / tile;
    return (side + count - 1) / count;
  };
  const int th = balanced(h), tw = balanced(w);
  const int wh = std::min(h, th + 2 * r), ww = std::min(w, tw + 2 * r);
  std::vector<float> in(static_cast<size_t>(wh) * ww), out(in.size());
  for (int ty = 0; ty < h; ty += th) {
    for (int tx = 0; tx < w; tx += tw) {
      const int y0 = std::clamp(ty - r, 0, h - wh), x0 = std::clamp(tx - r, 0, w - ww);
      for (int i = 0; i < wh; ++i) {
        std::memcpy(&in[static_cast<size_t>(i) * ww], x + static_cast<size_t>(y0 + i) * w + x0, sizeof(float) * ww);
      }
      impl_->run_untiled(in.data(), out.data(), wh, ww);
      const int rows = std::min(th, h - ty), cols = std::min(tw, w - tx);
      for (int i = 0; i < rows; ++i) {
        std::memcpy(y + static_cast<size_t>(ty + i) * w + tx,
                    &out[static_cast<size_t>(ty + i - y0) * ww + (tx - x0)], sizeof(float) * cols);
      }
    }
  }
}

Image Upscaler::run_y(const Image& y) const {
  // The protocol's arithmetic in float32: Y / 255, the network, x 255, clipped.
  std::vector<float> x(y.data.size()), out(y.data.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(y.data[i]) / 255.0f;
  forward(x.data(), out.data(), y.height, y.width);
  Image result(y.height, y.width, 1);
  for (size_t i = 0; i < out.size(); ++i) result.data[i] = std::clamp(out[i] * 255.0f, 0.0f, 255.0f);
  return result;
}

}  // namespace vdsr
