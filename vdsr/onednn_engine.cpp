#include "vdsr/onednn_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <list>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <set>
#include <unordered_map>

#include "vdsr/util/cpu.h"
#include "vdsr/util/enum_names.h"
#include "vdsr/util/error.h"
#include "vdsr/winograd_avx2.h"

namespace vdsr {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using conv_pd = dnnl::convolution_forward::primitive_desc;

// Plans for this many input sizes are kept (evaluation sees a few image sizes, tiling one or two).
constexpr size_t kCachedPlans = 4;

dt body_type(Precision p) { return p == Precision::bf16 ? dt::bf16 : dt::f32; }

// A byte buffer aligned for oneDNN's vector loads.
struct Buffer {
  explicit Buffer(size_t bytes) : storage((bytes + 127) / 64 + 1) {}
  float* data() { return reinterpret_cast<float*>(storage.data()); }
  struct alignas(64) Line {
    unsigned char b[64];
  };
  std::vector<Line> storage;
};

bool is_reference(const std::string& kernel) { return kernel.rfind("ref", 0) == 0; }

// The project's own Winograd kernel for AVX2 CPUs (winograd_avx2.h), named as oneDNN names its kernels.
const std::string kOwnWinograd = "vdsr_wino_4x3:avx2";

// Whether the AVX2 Winograd kernel may run: the CPU has AVX2 and FMA, and oneDNN is allowed AVX2 (so
// ONEDNN_MAX_CPU_ISA=SSE41 restricts the whole engine alike).
bool own_winograd_usable() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         (isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2;
}

}  // namespace

VDSR_ENUM_NAMES(Precision, {{Precision::fp32, "fp32"}, {Precision::bf16, "bf16"}, {Precision::int8, "int8"}})

Precision parse_precision(const std::string& name) {
  Precision p{};
  if (!try_parse_enum(name, p)) throw Error("--precision: expected " + enum_choices<Precision>() + ", got '" + name + "'");
  return p;
}

std::string precision_name(Precision p) { return name_of(p); }

bool cpu_has_bf16(std::string* why_not) {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const bool yes = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
  if (!yes && why_not) *why_not = "this CPU (as oneDNN uses it: " + onednn_isa() + ") has neither AVX512-BF16 nor AMX";
  return yes;
}

// One forward pass for one input size: the steps, their memory and what computes each layer.
struct Plan {
  int h = 0, w = 0;
  std::vector<std::function<void(dnnl::stream&)>> steps;
  std::vector<Buffer> buffers;  // ping-pong activations, the scratchpad, plain buffers, the weights
  // Views of the caller's x and y in the descriptors the steps need; handles set on every run.
  std::vector<dnnl::memory> x_views, y_views;
  std::vector<std::string> kernels;  // one per layer
};

namespace {

// How a plan computes one layer: a oneDNN convolution, the AVX2 Winograd kernel (fp32 only) or, with
// neither, the caller's fallback on plain fp32 buffers.
struct LayerPlan {
  std::optional<conv_pd> conv;
  std::shared_ptr<WinogradAvx2> own;
  bool residual_fused = false;  // the last layer: the residual add is the convolution's sum post-op
  std::string kernel;
  bool on_fallback() const { return !conv && !own; }
};

// Layouts to try for one side of a layer, each with the channels converting to it costs.
using Layouts = std::vector<std::pair<dnnl::memory::desc, int64_t>>;

// One way to compute a layer with oneDNN: its source and destination layouts, whether the residual add is
// fused, and the cost: the channels it converts, plus one plane for a separate residual add.
struct Candidate {
  dnnl::memory::desc src, dst;
  bool residual_fused = false;
  int64_t cost = 0;
};

// Every source with every destination, cheapest first (ties keep the order given). On the last layer the
// residual add is tried fused first; a fused one needs x in the destination's layout, which only the plain
// ones (cost 0) hold.
std::vector<Candidate> candidates_of(const Layouts& srcs, const Layouts& dsts, bool last) {
  std::vector<Candidate> candidates;
  for (bool fused : last ? std::vector<bool>{true, false} : std::vector<bool>{false}) {
    for (const auto& [dst, dst_cost] : dsts) {
      if (fused && dst_cost > 0) continue;
      for (const auto& [src, src_cost] : srcs) {
        candidates.push_back(Candidate{src, dst, fused, src_cost + dst_cost + (last && !fused ? 1 : 0)});
      }
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.cost < b.cost; });
  return candidates;
}

// The memory of a plan, the same for every precision: two ping-pong activation buffers, each as large as
// the widest layer in fp32 (which covers bf16, u8 and s8) and as any layout oneDNN chose; the scratchpad; and
// two plain fp32 buffers where a layer runs on the fallback. It hands out the memories the steps use.
class PlanMemory {
 public:
  PlanMemory(Plan& p, const dnnl::engine& engine, const std::vector<std::vector<int64_t>>& shapes,
             const std::vector<LayerPlan>& layers)
      : p_(p), engine_(engine) {
    size_t activation = 0, scratch_bytes = 64, plain = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      const LayerPlan& l = layers[i];
      const size_t widest = static_cast<size_t>(std::max(shapes[i][0], shapes[i][1]));
      activation = std::max(activation, widest * p.h * p.w * sizeof(float));
      if (l.conv) {
        activation = std::max({activation, l.conv->src_desc().get_size(), l.conv->dst_desc().get_size()});
        scratch_bytes = std::max(scratch_bytes, l.conv->scratchpad_desc().get_size());
      } else if (l.on_fallback()) {
        plain = std::max(plain, widest * p.h * p.w * sizeof(float));
      }
    }
    p.buffers.reserve(5 + layers.size());
    p.buffers.emplace_back(activation);
    p.buffers.emplace_back(activation);
    p.buffers.emplace_back(scratch_bytes);
    if (plain > 0) {
      plain_in = p.buffers.emplace_back(plain).data();
      plain_out = p.buffers.emplace_back(plain).data();
    }
    scratch = dnnl::memory(dnnl::memory::desc({static_cast<int64_t>(scratch_bytes)}, dt::u8, tag::x), engine,
                           p.buffers[2].data());
  }

  dnnl::memory scratch;
  float* plain_in = nullptr;  // null when no layer runs on the fallback
  float* plain_out = nullptr;
  // The plain buffer that `used` is not over: a fallback layer's output beside its input.
  float* other_plain(const dnnl::memory& used) const {
    return used.get_data_handle() == plain_out ? plain_in : plain_out;
  }

  // `md` over the ping-pong buffer the step before did not write.
  dnnl::memory activation(const dnnl::memory::desc& md) {
    dnnl::memory m(md, engine_, p_.buffers[next_].data());
    next_ ^= 1;
    return m;
  }
  // Views of the caller's x and y; run() sets their handles.
  dnnl::memory x_view(const dnnl::memory::desc& md) {
    p_.x_views.push_back(dnnl::memory(md, engine_, DNNL_MEMORY_NONE));
    return p_.x_views.back();
  }
  dnnl::memory y_view(const dnnl::memory::desc& md) {
    p_.y_views.push_back(dnnl::memory(md, engine_, DNNL_MEMORY_NONE));
    return p_.y_views.back();
  }

 private:
  Plan& p_;
  dnnl::engine engine_;
  int next_ = 0;
};

// A step y += x over the plane: the residual add where the last convolution could not fuse it.
void add_residual(Plan& p, const dnnl::memory& x, const dnnl::memory& y) {
  p.steps.emplace_back([x, y, n = static_cast<size_t>(p.h) * p.w](dnnl::stream& s) {
    s.wait();
    const float* a = static_cast<const float*>(x.get_data_handle());
    float* b = static_cast<float*>(y.get_data_handle());
    for (size_t k = 0; k < n; ++k) b[k] += a[k];
  });
}

// A step to = from * scale in to's layout (rounded and saturated when `to` is u8 or s8).
void add_reorder(Plan& p, const dnnl::memory& from, const dnnl::memory& to, float scale = 1.0f) {
  dnnl::primitive_attr a;
  if (scale != 1.0f) a.set_output_scales(0, {scale});
  const dnnl::reorder r(dnnl::reorder::primitive_desc(from, to, a));
  p.steps.emplace_back([r, f = from, t = to](dnnl::stream& s) mutable { r.execute(s, f, t); });
}

}  // namespace

struct OnednnVdsr::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  EngineOptions options;
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<int64_t>> shapes;

  mutable std::mutex mutex;
  std::list<Plan> plans;  // most recently used first
  std::vector<std::shared_ptr<WinogradAvx2>> own_winograd;  // per layer, made when a plan first needs it

  Plan& plan(int h, int w);
  void build(Plan& p);
  void build_int8(Plan& p);
  // Layer i on the caller's fallback (see add_fallback below); returns its output.
  dnnl::memory add_fallback(Plan& p, PlanMemory& memory, size_t i, const dnnl::memory& previous, float scale,
                            const dnnl::memory::desc& y_md);
  // Layer i: the first candidate `convolution` finds an accepted kernel for, else the fallback.
  LayerPlan choose(size_t i, const std::vector<Candidate>& candidates,
                   const std::function<std::optional<conv_pd>(const Candidate&, bool allow_reference)>& convolution,
                   const std::string& kernel_prefix) const;
  bool accepts(const std::string& kernel) const {
    return options.accept ? options.accept(kernel) : !is_reference(kernel);
  }
  std::string fastest_body_kernel(int64_t in, int64_t out);
};

namespace {

dnnl::primitive_attr conv_attr(bool relu, bool sum) {
  dnnl::post_ops ops;
  if (sum) ops.append_sum(1.f);  // the destination holds x before the run: the residual add
  if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// The implementation oneDNN offers for a convolution that `accept` takes: `wanted` when it is among the
// candidates, else the first accepted one; none when no candidate is accepted or oneDNN has none.
std::optional<conv_pd> find_kernel(const dnnl::engine& engine, dnnl::algorithm alg, const dnnl::memory::desc& src,
                                   const dnnl::memory::desc& wei, const dnnl::memory::desc& dst,
                                   const dnnl::primitive_attr& attr,
                                   const std::function<bool(const std::string&)>& accept,
                                   const std::string& wanted = "") {
  try {
    // oneDNN's candidate iterator reads the op descriptor and the attributes on every next_impl(): both
    // must outlive the walk (temporaries here cut the list short after the first candidate).
    const dnnl::convolution_forward::desc op(dnnl::prop_kind::forward_inference, alg, src, wei, dst, {1, 1}, {1, 1},
                                             {1, 1});
    conv_pd pd(op, attr, engine);
    std::optional<conv_pd> first;
    do {
      const std::string name = pd.impl_info_str();
      if (!accept(name)) continue;
      if (name == wanted) return pd;
      if (!first) first = pd;
      if (wanted.empty()) break;
    } while (pd.next_impl());
    return first;
  } catch (const dnnl::error&) {
    return std::nullopt;  // no implementation of this algorithm for these descriptors
  }
}

double median_ms(const std::function<void()>& run, int runs) {
  run();  // warm-up
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// "layer 1 jit:avx2; layers 2-19 jit:avx2; layer 20 x64:gemm:jit": runs of equal kernels joined.
std::string summarize(const std::vector<std::string>& kernels) {
  std::string out;
  for (size_t i = 0; i < kernels.size();) {
    size_t j = i;
    while (j + 1 < kernels.size() && kernels[j + 1] == kernels[i]) ++j;
    if (!out.empty()) out += "; ";
    out += i == j ? "layer " + std::to_string(i + 1) : "layers " + std::to_string(i + 1) + "-" + std::to_string(j + 1);
    out += " " + kernels[i];
    i = j + 1;
  }
  return out;
}

}  // namespace

// Which kernel wins depends on the CPU and the width: on this project's AVX-512 machine Winograd F(4x4, 3x3)
// beats direct convolution at 32 and 64 channels, F(2x2, 3x3) only at 64. So oneDNN's first direct kernel and
// every Winograd kernel it offers are timed once on a 256x256 proxy (smaller proxies misrank them) and the
// fastest is kept for every plan with that layer shape, in the manner of cuDNN's benchmark mode. The choice
// is made once per process, so every model run in it computes with the same kernels, and a kernel must beat
// the best so far by 10 % to replace it, so near ties do not flip from one run to the next. oneDNN's
// Winograd kernels are AVX-512 only: elsewhere the direct kernel is the only candidate.
std::string OnednnVdsr::Impl::fastest_body_kernel(int64_t in, int64_t out) {
  static std::mutex chosen_mutex;
  static std::map<std::pair<int64_t, int64_t>, std::string> chosen;
  std::lock_guard<std::mutex> lock(chosen_mutex);
  auto found = chosen.find({in, out});
  if (found != chosen.end()) return found->second;
  const int64_t side = 256;
  dnnl::stream stream(engine);
  std::string best;
  double best_ms = 0;
  const dnnl::memory::desc src({1, in, side, side}, dt::f32, tag::any), dst({1, out, side, side}, dt::f32, tag::any);
  const dnnl::memory::desc wei({out, in, 3, 3}, dt::f32, tag::any);
  const dnnl::primitive_attr attr = conv_attr(true, false);
  auto time = [&](const conv_pd& pd) {
    dnnl::memory a(pd.src_desc(), engine), b(pd.dst_desc(), engine), w(pd.weights_desc(), engine),
        scratch(pd.scratchpad_desc(), engine);
    std::memset(a.get_data_handle(), 0, pd.src_desc().get_size());
    std::memset(w.get_data_handle(), 0, pd.weights_desc().get_size());
    dnnl::convolution_forward conv(pd);
    const double ms = median_ms(
        [&] {
          conv.execute(stream, {{DNNL_ARG_SRC, a},
                                {DNNL_ARG_WEIGHTS, w},
                                {DNNL_ARG_DST, b},
                                {DNNL_ARG_SCRATCHPAD, scratch}});
          stream.wait();
        },
        5);
    const std::string name = pd.impl_info_str();
    if (best.empty() || ms < 0.9 * best_ms) {
      best = name;
      best_ms = ms;
    }
  };
  auto accept = [this](const std::string& k) { return accepts(k); };
  if (auto direct = find_kernel(engine, dnnl::algorithm::convolution_direct, src, wei, dst, attr, accept)) {
    time(*direct);
  }
  try {
    const dnnl::convolution_forward::desc op(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                             src, wei, dst, {1, 1}, {1, 1}, {1, 1});
    conv_pd pd(op, attr, engine);
    do {
      if (accepts(pd.impl_info_str())) time(pd);
    } while (pd.next_impl());
  } catch (const dnnl::error&) {
    // no Winograd kernel on this CPU or for this shape
  }
  if (own_winograd_usable() && WinogradAvx2::handles(in, out) && accepts(kOwnWinograd)) {
    const std::vector<float> weights(static_cast<size_t>(out * in * 9), 0.f);
    const WinogradAvx2 own(weights.data(), out, in);
    std::vector<float> a(static_cast<size_t>(in * side * side), 0.f), b(static_cast<size_t>(out * side * side));
    const double ms = median_ms([&] { own.run(a.data(), b.data(), side, side); }, 5);
    if (best.empty() || ms < 0.9 * best_ms) {
      best = kOwnWinograd;
      best_ms = ms;
    }
  }
  return chosen[{in, out}] = best;
}

Plan& OnednnVdsr::Impl::plan(int h, int w) {
  for (auto it = plans.begin(); it != plans.end(); ++it) {
    if (it->h == h && it->w == w) {
      plans.splice(plans.begin(), plans, it);
      return plans.front();
    }
  }
  if (plans.size() >= kCachedPlans) plans.pop_back();
  plans.emplace_front();
  Plan& p = plans.front();
  p.h = h;
  p.w = w;
  try {
    build(p);
  } catch (const dnnl::error& e) {
    plans.pop_front();
    throw Error(std::string("oneDNN could not build the network for a ") + std::to_string(h) + "x" +
                std::to_string(w) + " input: " + e.what());
  }
  // Once per process for each distinct assignment: which kernel computes which layer.
  static std::mutex logged_mutex;
  static std::set<std::string> logged;
  const std::string line = summarize(p.kernels);
  std::lock_guard<std::mutex> lock(logged_mutex);
  if (logged.insert(line).second) {
    spdlog::info("oneDNN engine ({}, {}): {}", onednn_isa(), precision_name(options.precision), line);
  }
  return p;
}

LayerPlan OnednnVdsr::Impl::choose(
    size_t i, const std::vector<Candidate>& candidates,
    const std::function<std::optional<conv_pd>(const Candidate&, bool allow_reference)>& convolution,
    const std::string& kernel_prefix) const {
  const bool last = i + 1 == shapes.size();
  LayerPlan layer;
  for (bool allow_reference : {false, true}) {
    if (allow_reference && options.fallback) break;  // a reference kernel only where there is no fallback
    for (const Candidate& c : candidates) {
      if (auto pd = convolution(c, allow_reference)) {
        layer.conv = pd;
        layer.residual_fused = c.residual_fused;
        layer.kernel = kernel_prefix + pd->impl_info_str();
        if (is_reference(pd->impl_info_str())) layer.kernel += " (reference kernel: no other exists)";
        if (last && !c.residual_fused) layer.kernel += " + separate residual add";
        return layer;
      }
    }
  }
  if (!options.fallback) {
    throw Error("oneDNN has no kernel for layer " + std::to_string(i + 1) + " and no fallback was given");
  }
  layer.kernel = options.fallback_name;
  return layer;
}

// Each layer takes the first candidate, cheapest first, that oneDNN has an accepted kernel for:
//  1. the fused primitive (ReLU; on the last layer the residual add as a sum post-op), reading what the
//     previous step wrote and writing what the next one reads;
//  2. the same without the fused residual add (added after it);
//  3. other layouts, with reorders that convert between layers;
//  4. the caller's fallback (at::conv2d) for that layer alone.
// A candidate's cost is the number of channels it converts (a reorder of the input or output), plus one
// plane for a separate residual add; ties keep the order above.
// Layer i on the fallback, on plain fp32 buffers: convert the input (real = scale * stored), convolve, then
// the ReLU, or for the last layer write y (`y_md`) and add the residual.
dnnl::memory OnednnVdsr::Impl::add_fallback(Plan& p, PlanMemory& memory, size_t i, const dnnl::memory& previous,
                                            float scale, const dnnl::memory::desc& y_md) {
  const bool last = i + 1 == shapes.size();
  const dnnl::memory::desc in_md({1, shapes[i][1], p.h, p.w}, dt::f32, tag::nchw);
  dnnl::memory src = previous;
  if (previous.get_desc() != in_md) {
    src = dnnl::memory(in_md, engine, memory.plain_in);
    add_reorder(p, previous, src, scale);
  }
  const dnnl::memory dst = last ? memory.y_view(y_md)
                                : dnnl::memory(dnnl::memory::desc({1, shapes[i][0], p.h, p.w}, dt::f32, tag::nchw),
                                               engine, memory.other_plain(src));
  const size_t count = static_cast<size_t>(shapes[i][0]) * p.h * p.w;
  p.steps.emplace_back([this, i, src, dst, last, count, h = p.h, w = p.w](dnnl::stream& s) {
    s.wait();
    float* out = static_cast<float*>(dst.get_data_handle());
    options.fallback(i, static_cast<const float*>(src.get_data_handle()), out, h, w);
    if (!last) {
      for (size_t k = 0; k < count; ++k) out[k] = std::max(out[k], 0.0f);
    }
  });
  if (last) add_residual(p, p.x_views.front(), dst);
  return dst;
}

void OnednnVdsr::Impl::build(Plan& p) {
  if (options.precision == Precision::int8) return build_int8(p);
  const size_t n_layers = shapes.size();
  const Precision precision = options.precision;
  const dnnl::memory::dims plane{1, 1, p.h, p.w};
  // With one channel nchw and nhwc are the same bytes; the descriptor only steers oneDNN's choice of kernel.
  const dnnl::memory::desc x_nchw(plane, dt::f32, tag::nchw), x_nhwc(plane, dt::f32, tag::nhwc);
  auto layer_type = [&](size_t i) { return i == 0 || i + 1 == n_layers ? dt::f32 : body_type(precision); };
  auto any = [&](size_t i, int64_t channels) {
    return dnnl::memory::desc({1, channels, p.h, p.w}, layer_type(i), tag::any);
  };
  auto accept = [this](const std::string& k) { return accepts(k); };

  auto blocked8 = [&](int64_t channels) { return dnnl::memory::desc({1, channels, p.h, p.w}, dt::f32, tag::nChw8c); };
  // The body layers the AVX2 Winograd kernel computes: fp32, a shape it handles, and either forced by
  // options.body_kernel or timed fastest.
  std::vector<bool> own(n_layers, false);
  for (size_t i = 1; i + 1 < n_layers; ++i) {
    if (precision != Precision::fp32 || !options.winograd || !own_winograd_usable()) break;
    if (!WinogradAvx2::handles(shapes[i][1], shapes[i][0]) || !accepts(kOwnWinograd)) continue;
    const std::string kernel =
        options.body_kernel.empty() ? fastest_body_kernel(shapes[i][1], shapes[i][0]) : options.body_kernel;
    own[i] = kernel == kOwnWinograd;
    if (own[i] && !own_winograd[i]) {
      own_winograd[i] = std::make_shared<WinogradAvx2>(weights[i].data(), shapes[i][0], shapes[i][1]);
    }
  }

  // The convolution of layer i from `src` to `dst`, with the kernel timed fastest for a body layer shape.
  auto convolution = [&](size_t i, const Candidate& c, bool allow_reference) -> std::optional<conv_pd> {
    const bool first = i == 0, last = i + 1 == n_layers;
    const dnnl::memory::desc wei({shapes[i][0], shapes[i][1], 3, 3}, layer_type(i), tag::any);
    const dnnl::primitive_attr attr = conv_attr(!last, c.residual_fused);
    const bool tuned = !first && !last && precision == Precision::fp32 && options.winograd;
    const std::string wanted = !tuned                        ? ""
                               : !options.body_kernel.empty() ? options.body_kernel
                                                              : fastest_body_kernel(shapes[i][1], shapes[i][0]);
    auto accepted = allow_reference ? std::function<bool(const std::string&)>([](const std::string&) { return true; })
                                    : std::function<bool(const std::string&)>(accept);
    if (wanted.find("wino") != std::string::npos && wanted != kOwnWinograd) {
      auto pd = find_kernel(engine, dnnl::algorithm::convolution_winograd, c.src, wei, c.dst, attr, accepted, wanted);
      if (pd) return pd;
    }
    return find_kernel(engine, dnnl::algorithm::convolution_direct, c.src, wei, c.dst, attr, accepted, wanted);
  };

  // First pass: the source layout each layer prefers, so the layer before it can write that layout.
  std::vector<dnnl::memory::desc> preferred_src(n_layers);
  for (size_t i = 1; i < n_layers; ++i) {
    if (own[i]) {
      preferred_src[i] = blocked8(shapes[i][1]);
      continue;
    }
    const Candidate c{any(i, shapes[i][1]), any(i, shapes[i][0]), false, 0};
    auto pd = convolution(i, c, false);
    // Without an accepted kernel the fallback reads plain fp32.
    preferred_src[i] = pd ? pd->src_desc() : dnnl::memory::desc({1, shapes[i][1], p.h, p.w}, dt::f32, tag::nchw);
  }

  // Second pass: each layer's candidates, cheapest first.
  std::vector<LayerPlan> layers(n_layers);
  dnnl::memory::desc current = x_nchw;  // what the step before writes
  for (size_t i = 0; i < n_layers; ++i) {
    const bool first = i == 0, last = i + 1 == n_layers;
    const int64_t in = shapes[i][1], out = shapes[i][0];
    if (own[i]) {
      layers[i].own = own_winograd[i];
      layers[i].kernel = kOwnWinograd;
      p.kernels.push_back(kOwnWinograd);
      current = blocked8(out);
      continue;
    }
    const Layouts srcs = first ? Layouts{{x_nchw, 0}, {x_nhwc, 0}, {any(i, in), in}}
                               : Layouts{{current, 0}, {any(i, in), in}};
    const Layouts dsts = last ? Layouts{{x_nhwc, 0}, {x_nchw, 0}, {any(i, out), out}}
                              : Layouts{{preferred_src[i + 1], 0}, {any(i, out), out}};
    layers[i] = choose(
        i, candidates_of(srcs, dsts, last),
        [&](const Candidate& c, bool allow_reference) { return convolution(i, c, allow_reference); }, "");
    current = layers[i].conv ? layers[i].conv->dst_desc() : dnnl::memory::desc({1, out, p.h, p.w}, dt::f32, tag::nchw);
    p.kernels.push_back(layers[i].kernel);
  }

  PlanMemory memory(p, engine, shapes, layers);
  auto same_plane = [&](const dnnl::memory::desc& md) { return md == x_nchw || md == x_nhwc; };

  dnnl::stream stream(engine);
  dnnl::memory previous = memory.x_view(x_nchw);
  for (size_t i = 0; i < n_layers; ++i) {
    const bool last = i + 1 == n_layers;
    const LayerPlan& l = layers[i];
    if (l.own) {
      dnnl::memory src = previous;
      if (previous.get_desc() != blocked8(shapes[i][1])) {
        src = memory.activation(blocked8(shapes[i][1]));
        add_reorder(p, previous, src);
      }
      const dnnl::memory dst = memory.activation(blocked8(shapes[i][0]));
      p.steps.emplace_back([own = l.own, src, dst, h = p.h, w = p.w](dnnl::stream& s) {
        s.wait();
        own->run(static_cast<const float*>(src.get_data_handle()), static_cast<float*>(dst.get_data_handle()), h, w);
      });
      previous = dst;
      continue;
    }
    if (!l.conv) {
      previous = add_fallback(p, memory, i, previous, 1.0f, x_nchw);
      continue;
    }
    const conv_pd& pd = *l.conv;
    dnnl::memory src = previous;
    if (pd.src_desc() != previous.get_desc()) {
      if (i == 0 && same_plane(pd.src_desc())) {
        src = memory.x_view(pd.src_desc());
      } else {
        src = memory.activation(pd.src_desc());
        add_reorder(p, previous, src);
      }
    }
    // The last layer writes y itself where its layout is the plane's; otherwise a buffer, then a reorder.
    const bool direct_to_y = last && same_plane(pd.dst_desc());
    const dnnl::memory dst = direct_to_y ? memory.y_view(pd.dst_desc()) : memory.activation(pd.dst_desc());
    // The weights, reordered (and converted to bf16 where the layer runs in bf16) once per plan.
    dnnl::memory user_weights({{shapes[i][0], shapes[i][1], 3, 3}, dt::f32, tag::oihw}, engine,
                              const_cast<float*>(weights[i].data()));
    dnnl::memory packed(pd.weights_desc(), engine, p.buffers.emplace_back(pd.weights_desc().get_size()).data());
    dnnl::reorder(user_weights, packed).execute(stream, user_weights, packed);
    p.steps.emplace_back([conv = dnnl::convolution_forward(pd),
                          args = std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, src},
                                                                       {DNNL_ARG_WEIGHTS, packed},
                                                                       {DNNL_ARG_DST, dst},
                                                                       {DNNL_ARG_SCRATCHPAD, memory.scratch}}](
                             dnnl::stream& s) { conv.execute(s, args); });
    previous = dst;
    if (last) {
      if (!direct_to_y) {
        const dnnl::memory y = memory.y_view(x_nhwc);
        add_reorder(p, dst, y);
        previous = y;
      }
      if (!l.residual_fused) add_residual(p, p.x_views.front(), previous);
    }
  }
  stream.wait();
}

// int8: every memory holds either real values (f32) or real / scale (u8, s8), where the scale is the
// input scale of the int8 layer that reads it. An int8 layer reads u8/s8, multiplies by s8 weights into
// int32 and applies, per output channel, input_scale * weight_scale / next_input_scale as oneDNN's output
// scales, then the ReLU: the result is the next int8 layer's u8 input, with no conversion in between. Before
// an fp32 layer (and for the residual add) it writes f32 instead (next scale 1). Conversions that remain (the
// image into the first int8 layer, a layout change) are reorders that scale. The layer choice per candidate
// is as in build(): what the step before wrote, what the next step reads, other layouts, then the fallback.
void OnednnVdsr::Impl::build_int8(Plan& p) {
  const Int8Scales& q = *options.int8;
  const size_t n_layers = shapes.size();
  const dnnl::memory::dims plane{1, 1, p.h, p.w};
  const dnnl::memory::desc x_nchw(plane, dt::f32, tag::nchw), x_nhwc(plane, dt::f32, tag::nhwc);
  auto accept = [this](const std::string& k) { return accepts(k); };
  auto quantized_type = [&](size_t i) { return q.layers[i].input_unsigned ? dt::u8 : dt::s8; };

  // Which layers run int8: those the scales mark, where oneDNN has an accepted int8 kernel.
  std::vector<bool> int8(n_layers, false);
  auto src_type = [&](size_t i) { return int8[i] ? quantized_type(i) : dt::f32; };
  auto dst_type = [&](size_t i) { return int8[i] && i + 1 < n_layers && int8[i + 1] ? quantized_type(i + 1) : dt::f32; };
  auto src_scale = [&](size_t i) { return int8[i] ? q.layers[i].input_scale : 1.0f; };
  auto dst_scale = [&](size_t i) { return dst_type(i) == dt::f32 ? 1.0f : q.layers[i + 1].input_scale; };
  auto attr = [&](size_t i, bool sum) {
    dnnl::primitive_attr a = conv_attr(i + 1 < n_layers, sum);
    if (int8[i]) {
      std::vector<float> scales;
      for (float w : q.layers[i].weight_scales) scales.push_back(q.layers[i].input_scale * w / dst_scale(i));
      a.set_output_scales(1 << 1, scales);  // per output channel
    }
    return a;
  };
  auto any = [&](int64_t channels, dt type) { return dnnl::memory::desc({1, channels, p.h, p.w}, type, tag::any); };
  auto convolution = [&](size_t i, const dnnl::memory::desc& src, const dnnl::memory::desc& dst, bool sum,
                         bool allow_reference) {
    const dnnl::memory::desc wei({shapes[i][0], shapes[i][1], 3, 3}, int8[i] ? dt::s8 : dt::f32, tag::any);
    auto accepted = allow_reference ? std::function<bool(const std::string&)>([](const std::string&) { return true; })
                                    : std::function<bool(const std::string&)>(accept);
    return find_kernel(engine, dnnl::algorithm::convolution_direct, src, wei, dst, attr(i, sum), accepted);
  };
  for (size_t i = 0; i < n_layers; ++i) {
    if (!q.layers[i].int8) continue;
    int8[i] = true;  // as a candidate; the destination type assumes the next layer is int8 where marked
    const bool next_int8 = i + 1 < n_layers && q.layers[i + 1].int8;
    const dt dst = next_int8 ? quantized_type(i + 1) : dt::f32;
    if (next_int8) int8[i + 1] = true;
    int8[i] = convolution(i, any(shapes[i][1], quantized_type(i)), any(shapes[i][0], dst), false, false).has_value();
    if (next_int8) int8[i + 1] = false;
  }

  // The source layout each layer prefers, so the layer before it can write that layout.
  std::vector<dnnl::memory::desc> preferred_src(n_layers);
  for (size_t i = 1; i < n_layers; ++i) {
    auto pd = convolution(i, any(shapes[i][1], src_type(i)), any(shapes[i][0], dst_type(i)), false, false);
    preferred_src[i] = pd ? pd->src_desc() : dnnl::memory::desc({1, shapes[i][1], p.h, p.w}, dt::f32, tag::nchw);
  }

  std::vector<LayerPlan> layers(n_layers);  // no conv: the fallback computes that layer, in fp32
  dnnl::memory::desc current = x_nchw;  // what the step before writes
  for (size_t i = 0; i < n_layers; ++i) {
    const bool first = i == 0, last = i + 1 == n_layers;
    const int64_t in = shapes[i][1], out = shapes[i][0];
    Layouts srcs, dsts;
    if (first && src_type(i) == dt::f32) srcs = {{x_nchw, 0}, {x_nhwc, 0}};
    if (!first && current.data_type() == src_type(i) && dst_scale(i - 1) == src_scale(i)) srcs = {{current, 0}};
    srcs.push_back({any(in, src_type(i)), in});
    if (last) {
      dsts = {{x_nhwc, 0}, {x_nchw, 0}, {any(out, dt::f32), out}};
    } else {
      if (preferred_src[i + 1].data_type() == dst_type(i)) dsts.push_back({preferred_src[i + 1], 0});
      dsts.push_back({any(out, dst_type(i)), out});
    }
    layers[i] = choose(
        i, candidates_of(srcs, dsts, last),
        [&](const Candidate& c, bool allow_reference) {
          return convolution(i, c.src, c.dst, c.residual_fused, allow_reference);
        },
        int8[i] ? "int8 " : "");
    current = layers[i].conv ? layers[i].conv->dst_desc() : dnnl::memory::desc({1, out, p.h, p.w}, dt::f32, tag::nchw);
    p.kernels.push_back(layers[i].kernel);
  }

  PlanMemory memory(p, engine, shapes, layers);
  auto same_plane = [&](const dnnl::memory::desc& md) { return md == x_nchw || md == x_nhwc; };

  dnnl::stream stream(engine);
  dnnl::memory previous = memory.x_view(x_nchw);
  float previous_scale = 1.0f;  // real = previous_scale * stored
  for (size_t i = 0; i < n_layers; ++i) {
    const bool last = i + 1 == n_layers;
    const LayerPlan& l = layers[i];
    if (!l.conv) {
      previous = add_fallback(p, memory, i, previous, previous_scale, x_nchw);
      previous_scale = 1.0f;
      continue;
    }
    const conv_pd& pd = *l.conv;
    dnnl::memory src = previous;
    if (pd.src_desc() != previous.get_desc() || previous_scale != src_scale(i)) {
      if (i == 0 && same_plane(pd.src_desc())) {
        src = memory.x_view(pd.src_desc());
      } else {
        src = memory.activation(pd.src_desc());
        add_reorder(p, previous, src, previous_scale / src_scale(i));
      }
    }
    const bool direct_to_y = last && same_plane(pd.dst_desc());
    const dnnl::memory dst = direct_to_y ? memory.y_view(pd.dst_desc()) : memory.activation(pd.dst_desc());
    // The weights, quantized per output channel as the scales file defines it, reordered once per plan.
    dnnl::memory packed(pd.weights_desc(), engine, p.buffers.emplace_back(pd.weights_desc().get_size()).data());
    const dnnl::memory::dims oihw{shapes[i][0], shapes[i][1], 3, 3};
    if (int8[i]) {
      const size_t per_filter = static_cast<size_t>(shapes[i][1]) * 9;
      std::vector<int8_t> s8(weights[i].size());
      for (size_t k = 0; k < s8.size(); ++k) s8[k] = quantize_weight(weights[i][k], q.layers[i].weight_scales[k / per_filter]);
      dnnl::memory user({oihw, dt::s8, tag::oihw}, engine, s8.data());
      dnnl::reorder(user, packed).execute(stream, user, packed);
      stream.wait();  // s8 is freed at the end of this block
    } else {
      dnnl::memory user({oihw, dt::f32, tag::oihw}, engine, const_cast<float*>(weights[i].data()));
      dnnl::reorder(user, packed).execute(stream, user, packed);
    }
    p.steps.emplace_back([conv = dnnl::convolution_forward(pd),
                          args = std::unordered_map<int, dnnl::memory>{{DNNL_ARG_SRC, src},
                                                                       {DNNL_ARG_WEIGHTS, packed},
                                                                       {DNNL_ARG_DST, dst},
                                                                       {DNNL_ARG_SCRATCHPAD, memory.scratch}}](
                             dnnl::stream& s) { conv.execute(s, args); });
    previous = dst;
    previous_scale = dst_scale(i);
    if (last) {
      if (!direct_to_y) {
        const dnnl::memory y = memory.y_view(x_nhwc);
        add_reorder(p, dst, y);
        previous = y;
      }
      if (!l.residual_fused) add_residual(p, p.x_views.front(), previous);
    }
  }
  stream.wait();
}

OnednnVdsr::OnednnVdsr(const std::vector<std::vector<float>>& weights,
                       const std::vector<std::vector<int64_t>>& shapes, EngineOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.precision == Precision::int8) {
    if (!options.int8) throw Error("int8 inference needs the scales of vdsr-quantize (--int8-scales FILE)");
    if (options.int8->layers.size() != shapes.size()) {
      throw Error("the int8 scales have " + std::to_string(options.int8->layers.size()) + " layers, the model " +
                  std::to_string(shapes.size()));
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (static_cast<int64_t>(options.int8->layers[i].weight_scales.size()) != shapes[i][0]) {
        throw Error("the int8 scales of layer " + options.int8->layers[i].name + " have " +
                    std::to_string(options.int8->layers[i].weight_scales.size()) + " weight scales, the layer " +
                    std::to_string(shapes[i][0]) + " filters");
      }
    }
  }
  impl_->options = std::move(options);
  impl_->weights = weights;
  impl_->shapes = shapes;
  impl_->own_winograd.resize(shapes.size());
}

OnednnVdsr::~OnednnVdsr() = default;
OnednnVdsr::OnednnVdsr(OnednnVdsr&&) noexcept = default;

Precision OnednnVdsr::precision() const { return impl_->options.precision; }

std::vector<std::string> OnednnVdsr::kernels() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->plans.empty() ? std::vector<std::string>{} : impl_->plans.front().kernels;
}

void OnednnVdsr::run(const float* x, float* y, int h, int w) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Plan& p = impl_->plan(h, w);
  // y starts as x: a fused residual add (sum post-op) adds the last convolution to it.
  std::memcpy(y, x, sizeof(float) * static_cast<size_t>(h) * static_cast<size_t>(w));
  for (auto& v : p.x_views) v.set_data_handle(const_cast<float*>(x));
  for (auto& v : p.y_views) v.set_data_handle(y);
  dnnl::stream stream(impl_->engine);
  for (auto& step : p.steps) step(stream);
  stream.wait();
}

int64_t OnednnVdsr::activation_bytes(const std::vector<std::vector<int64_t>>& shapes, int64_t h, int64_t w) {
  int64_t widest = 1;
  for (const auto& s : shapes) widest = std::max(widest, s[0]);
  // Two buffers of the widest layer, counted as fp32 (the fp32 ends of a bf16 chain need fp32 too).
  return 2 * widest * h * w * static_cast<int64_t>(sizeof(float));
}

}  // namespace vdsr
