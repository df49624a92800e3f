#include "vdsr/onednn_engine.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>

#include "vdsr/util/error.h"

namespace vdsr {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Plans for this many input sizes are kept (evaluation sees a few image sizes, tiling one or two).
constexpr size_t kCachedPlans = 4;

dt body_type(Precision p) { return p == Precision::bf16 ? dt::bf16 : dt::f32; }

// A byte buffer aligned for oneDNN's vector loads.
struct Buffer {
  explicit Buffer(size_t bytes) : storage((bytes + 127) / 64 + 1) {}
  void* data() { return storage.data(); }
  struct alignas(64) Line {
    unsigned char b[64];
  };
  std::vector<Line> storage;
};

}  // namespace

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw Error("--precision: expected fp32 or bf16, got '" + name + "'");
}

std::string precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

bool cpu_has_bf16(std::string* why_not) {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const bool yes = (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
  if (!yes && why_not) *why_not = "this CPU has neither AVX512-BF16 nor AMX";
  return yes;
}

// One forward pass for one input size: the primitives, their arguments and the memory they use.
struct Plan {
  int h = 0, w = 0;
  std::vector<dnnl::primitive> steps;
  std::vector<std::unordered_map<int, dnnl::memory>> args;
  std::vector<Buffer> buffers;  // two ping-pong activation buffers, the scratchpad, the weights
  dnnl::memory x, y;            // user memory; handles set on every run
};

struct OnednnVdsr::Impl {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  Precision precision = Precision::fp32;
  bool winograd = true;
  std::vector<std::vector<float>> weights;
  std::vector<std::vector<int64_t>> shapes;

  std::mutex mutex;
  std::list<Plan> plans;  // most recently used first

  Plan& plan(int h, int w);
  void build(Plan& p);
  std::string fastest_body_kernel(int64_t in, int64_t out);
};

namespace {

dnnl::primitive_attr relu_attr() {
  dnnl::post_ops ops;
  ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
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

}  // namespace

// Which kernel wins depends on the CPU and the width: on this project's AVX-512 machine Winograd F(4x4, 3x3)
// beats direct convolution at 32 and 64 channels, F(2x2, 3x3) only at 64. So oneDNN's first direct kernel and
// every Winograd kernel it offers are timed once on a 256x256 proxy (smaller proxies misrank them) and the
// fastest is kept for every plan with that layer shape, in the manner of cuDNN's benchmark mode. The choice
// is made once per process, so every model run in it computes with the same kernels, and a kernel must beat
// the best so far by 10 % to replace it, so near ties do not flip from one run to the next.
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
  for (auto alg : {dnnl::algorithm::convolution_direct, dnnl::algorithm::convolution_winograd}) {
    const dnnl::memory::desc src({1, in, side, side}, dt::f32, tag::any), dst({1, out, side, side}, dt::f32, tag::any);
    const dnnl::memory::desc wei({out, in, 3, 3}, dt::f32, tag::any);
    try {
      // oneDNN's candidate iterator reads the op descriptor and the attributes on every next_impl(): both
      // must outlive the walk (temporaries here cut the list short after the first candidate).
      const dnnl::convolution_forward::desc op(dnnl::prop_kind::forward_inference, alg, src, wei, dst, {1, 1},
                                               {1, 1}, {1, 1});
      const dnnl::primitive_attr attr = relu_attr();
      dnnl::convolution_forward::primitive_desc pd(op, attr, engine);
      do {
        const std::string name = pd.impl_info_str();
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
        if (best.empty() || ms < 0.9 * best_ms) {
          best = name;
          best_ms = ms;
        }
      } while (alg == dnnl::algorithm::convolution_winograd && pd.next_impl());
    } catch (const dnnl::error&) {
      // no implementation of this algorithm for this shape
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
  return p;
}

void OnednnVdsr::Impl::build(Plan& p) {
  const auto n_layers = shapes.size();
  const dnnl::memory::dims plane{1, 1, p.h, p.w};
  // With one channel nchw and nhwc are the same bytes; the descriptor only steers oneDNN's choice of
  // kernel: nchw suits the first convolution, nhwc the last (nchw sends it to a slow gemm).
  const dnnl::memory::desc in_md(plane, dt::f32, tag::nchw), out_md(plane, dt::f32, tag::nhwc);

  // The convolution primitive of layer i with the given source and destination descriptors.
  auto convolution = [&](size_t i, const dnnl::memory::desc& src, const dnnl::memory::desc& dst) {
    const bool first = i == 0, last = i + 1 == n_layers;
    // The first and last convolutions stay fp32: they see the image itself and make the residual.
    const dt type = (first || last) ? dt::f32 : body_type(precision);
    const dnnl::memory::desc wei({shapes[i][0], shapes[i][1], 3, 3}, type, tag::any);
    dnnl::primitive_attr attr = relu_attr();
    if (last) {
      dnnl::post_ops ops;
      ops.append_sum(1.f);  // y holds x before the run: the residual add
      attr.set_post_ops(ops);
    }
    // The kernel timed fastest for this layer shape, found by walking oneDNN's candidates (the op
    // descriptor must outlive the walk); where it is not offered, oneDNN's first choice.
    const bool tuned = !first && !last && precision == Precision::fp32 && winograd;
    const std::string kernel = tuned ? fastest_body_kernel(shapes[i][1], shapes[i][0]) : "";
    const auto alg = kernel.find("wino") != std::string::npos ? dnnl::algorithm::convolution_winograd
                                                              : dnnl::algorithm::convolution_direct;
    std::optional<dnnl::convolution_forward::desc> op;
    std::optional<dnnl::convolution_forward::primitive_desc> chosen;
    try {
      op.emplace(dnnl::prop_kind::forward_inference, alg, src, wei, dst, dnnl::memory::dims{1, 1},
                 dnnl::memory::dims{1, 1}, dnnl::memory::dims{1, 1});
      chosen.emplace(*op, attr, engine);
    } catch (const dnnl::error&) {
      if (alg == dnnl::algorithm::convolution_direct) throw;
      op.emplace(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src, wei, dst,
                 dnnl::memory::dims{1, 1}, dnnl::memory::dims{1, 1}, dnnl::memory::dims{1, 1});
      chosen.emplace(*op, attr, engine);
    }
    dnnl::convolution_forward::primitive_desc pd = *chosen;
    if (!kernel.empty()) {
      dnnl::convolution_forward::primitive_desc walker = *chosen;
      do {
        if (walker.impl_info_str() == kernel) {
          pd = walker;
          break;
        }
      } while (walker.next_impl());
    }
    // A reference (unoptimised) implementation is orders of magnitude slower: a layout oneDNN has no
    // kernel for; refuse it so the caller picks another.
    if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0) {
      throw dnnl::error(dnnl_unimplemented, "only a reference implementation");
    }
    return pd;
  };
  auto any = [&](size_t i, int64_t channels) {
    const bool first = i == 0, last = i + 1 == n_layers;
    return dnnl::memory::desc({1, channels, p.h, p.w}, (first || last) ? dt::f32 : body_type(precision), tag::any);
  };

  // First pass: each convolution with the layouts oneDNN prefers for it.
  std::vector<dnnl::convolution_forward::primitive_desc> preferred;
  for (size_t i = 0; i < n_layers; ++i) {
    preferred.push_back(
        convolution(i, i == 0 ? in_md : any(i, shapes[i][1]), i + 1 == n_layers ? out_md : any(i, shapes[i][0])));
  }
  // Second pass: each convolution writes straight into the layout (and type) the next one reads, where
  // oneDNN can; otherwise a reorder step converts (fp32 <-> bf16 at the ends of the body, for one).
  struct Step {
    bool reorder = false;
    dnnl::memory::desc dst;
    dnnl::convolution_forward::primitive_desc conv;
    size_t layer = 0;
  };
  std::vector<Step> chain;
  dnnl::memory::desc current = in_md;
  size_t scratch_bytes = 0;
  for (size_t i = 0; i < n_layers; ++i) {
    const bool last = i + 1 == n_layers;
    const dnnl::memory::desc next = last ? out_md : preferred[i + 1].src_desc();
    const dnnl::memory::desc src_any = i == 0 ? in_md : any(i, shapes[i][1]);
    const dnnl::memory::desc dst_any = last ? out_md : any(i, shapes[i][0]);
    // Reading what the previous step wrote and writing what the next one reads is best; then either.
    dnnl::convolution_forward::primitive_desc conv = preferred[i];
    for (const auto& [src, dst] : {std::pair{current, next}, {src_any, next}, {current, dst_any}}) {
      try {
        conv = convolution(i, src, dst);
        break;
      } catch (const dnnl::error&) {
      }
    }
    if (conv.src_desc() != current) chain.push_back(Step{true, conv.src_desc(), {}, i});
    chain.push_back(Step{false, conv.dst_desc(), conv, i});
    scratch_bytes = std::max(scratch_bytes, conv.scratchpad_desc().get_size());
    current = conv.dst_desc();
  }

  size_t activation = 0;
  for (const auto& s : chain) activation = std::max(activation, s.dst.get_size());
  p.buffers.reserve(3 + n_layers);
  p.buffers.emplace_back(activation);
  p.buffers.emplace_back(activation);
  p.buffers.emplace_back(std::max<size_t>(scratch_bytes, 64));
  const dnnl::memory scratch(dnnl::memory::desc({static_cast<int64_t>(scratch_bytes)}, dt::u8, tag::x), engine,
                             p.buffers[2].data());

  p.x = dnnl::memory(in_md, engine, DNNL_MEMORY_NONE);
  p.y = dnnl::memory(out_md, engine, DNNL_MEMORY_NONE);
  dnnl::stream stream(engine);
  dnnl::memory previous = p.x;
  for (size_t k = 0; k < chain.size(); ++k) {
    const Step& s = chain[k];
    const bool writes_y = k + 1 == chain.size();
    dnnl::memory dst = writes_y ? p.y : dnnl::memory(s.dst, engine, p.buffers[k % 2].data());
    if (s.reorder) {
      p.steps.emplace_back(dnnl::reorder(previous, dst));
      p.args.push_back({{DNNL_ARG_FROM, previous}, {DNNL_ARG_TO, dst}});
    } else {
      // The weights, reordered (and converted to bf16 where the layer runs in bf16) once per plan.
      const auto& shape = shapes[s.layer];
      dnnl::memory user_weights({{shape[0], shape[1], 3, 3}, dt::f32, tag::oihw}, engine,
                                const_cast<float*>(weights[s.layer].data()));
      p.buffers.emplace_back(s.conv.weights_desc().get_size());
      dnnl::memory packed(s.conv.weights_desc(), engine, p.buffers.back().data());
      dnnl::reorder(user_weights, packed).execute(stream, user_weights, packed);
      p.steps.emplace_back(dnnl::convolution_forward(s.conv));
      p.args.push_back({{DNNL_ARG_SRC, previous},
                        {DNNL_ARG_WEIGHTS, packed},
                        {DNNL_ARG_DST, dst},
                        {DNNL_ARG_SCRATCHPAD, scratch}});
    }
    previous = dst;
  }
  stream.wait();
}

OnednnVdsr::OnednnVdsr(const std::vector<std::vector<float>>& weights,
                       const std::vector<std::vector<int64_t>>& shapes, Precision precision, bool winograd)
    : impl_(std::make_unique<Impl>()) {
  impl_->winograd = winograd;
  impl_->weights = weights;
  impl_->shapes = shapes;
  impl_->precision = precision;
}

OnednnVdsr::~OnednnVdsr() = default;
OnednnVdsr::OnednnVdsr(OnednnVdsr&&) noexcept = default;

Precision OnednnVdsr::precision() const { return impl_->precision; }

void OnednnVdsr::run(const float* x, float* y, int h, int w) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Plan& p = impl_->plan(h, w);
  std::memcpy(y, x, sizeof(float) * static_cast<size_t>(h) * static_cast<size_t>(w));
  p.x.set_data_handle(const_cast<float*>(x));
  p.y.set_data_handle(y);
  dnnl::stream stream(impl_->engine);
  for (size_t k = 0; k < p.steps.size(); ++k) p.steps[k].execute(stream, p.args[k]);
  stream.wait();
}

int64_t OnednnVdsr::activation_bytes(const std::vector<std::vector<int64_t>>& shapes, int64_t h, int64_t w) {
  int64_t widest = 1;
  for (const auto& s : shapes) widest = std::max(widest, s[0]);
  // Two buffers of the widest layer, counted as fp32 (the fp32 ends of a bf16 chain need fp32 too).
  return 2 * widest * h * w * static_cast<int64_t>(sizeof(float));
}

}  // namespace vdsr
