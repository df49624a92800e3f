#pragma once
// The CPU inference engine: a VDSR run as a chain of oneDNN convolution primitives (the oneDNN that
// LibTorch itself uses). What it does that at::conv2d per layer cannot:
//  - activations stay in the layout oneDNN prefers (e.g. blocked nChw16c in fp32) along the whole chain,
//    with no conversion between layers;
//  - weights are reordered into that layout once per input size, not on every call;
//  - ReLU is fused into each convolution, and the residual add into the last one (a sum post-op);
//  - two activation buffers are reused across layers;
//  - the fastest kernel per layer shape (direct or Winograd, oneDNN's or the AVX2 one in
//    winograd_avx2.h), timed once;
//  - bf16: the body convolutions in bf16 (AMX / AVX512-BF16), the first and last ones in fp32;
//  - int8: the layers an Int8Scales file marks run u8 x s8 (VNNI / AMX-INT8 / AVX2 by oneDNN's dispatch),
//    with the output scales and the ReLU fused and the result requantised straight to u8 for the next
//    int8 layer; the others, and the residual add, in fp32.
// It never fails where a working path exists: each layer takes the first of a fallback chain that oneDNN
// has an optimised kernel for (fused; the residual add done separately; another layout), and a layer with
// none is computed by the caller's fallback (at::conv2d). kernels() says what each layer got.
// No oneDNN or LibTorch types appear here, so callers do not pay for their headers.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vdsr/int8_scales.h"

namespace vdsr {

enum class Precision { fp32, bf16, int8 };
Precision parse_precision(const std::string& name);  // "fp32" | "bf16" | "int8"; vdsr::Error otherwise
std::string precision_name(Precision p);

// Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX); `why_not` says why not.
bool cpu_has_bf16(std::string* why_not = nullptr);

// Computes layer `layer`'s convolution alone (no ReLU, no residual) on plain NCHW fp32 buffers:
// src [in, h, w] -> dst [out, h, w].
using LayerFallback = std::function<void(size_t layer, const float* src, float* dst, int h, int w)>;

struct EngineOptions {
  Precision precision = Precision::fp32;
  // fp32 body convolutions may use oneDNN's Winograd kernels where they time faster than direct
  // convolution (results differ by float rounding only).
  bool winograd = true;
  // The last resort for a layer oneDNN has only its reference kernel for. Without one, the reference
  // kernel serves that layer (orders of magnitude slower) and kernels() says so.
  LayerFallback fallback;
  std::string fallback_name = "at::conv2d";  // what the fallback is, for kernels()
  // The kernel of every fp32 body layer that has it, by name (e.g. "vdsr_wino_4x3:avx2"); empty: the fastest
  // as timed. For tests and experiments.
  std::string body_kernel;
  // Which oneDNN kernels may serve a layer (by oneDNN's implementation name); empty: every one but the
  // reference ("ref:...") kernels. Tests narrow it to walk the fallback chain.
  std::function<bool(const std::string& kernel)> accept;
  // For Precision::int8 (required there): which layers run int8, and their scales. An int8 layer that
  // oneDNN has no accepted int8 kernel for runs in fp32 (and then takes the fp32 fallback chain).
  std::shared_ptr<const Int8Scales> int8;
};

class OnednnVdsr {
 public:
  // `weights[i]` holds a [out, in, 3, 3] float32 kernel (contiguous, OIHW), in forward order.
  OnednnVdsr(const std::vector<std::vector<float>>& weights, const std::vector<std::vector<int64_t>>& shapes,
             EngineOptions options = {});
  ~OnednnVdsr();
  OnednnVdsr(OnednnVdsr&&) noexcept;

  // x: one plane [h, w] on the 0..1 scale; y: [h, w], the network output with the residual added
  // (not clipped). x and y may not overlap.
  void run(const float* x, float* y, int h, int w) const;

  Precision precision() const;
  // What computes each layer in the most recently run input size, one entry per layer: oneDNN's kernel
  // name (e.g. "jit:avx2", "jit_wino_4x3:avx512_core"), the fallback's name (at::conv2d), with a note where
  // the residual add is not fused or a reference kernel had to serve; in int8 "int8 " before the kernels
  // of the layers that run int8. Empty before the first run.
  std::vector<std::string> kernels() const;
  // Bytes of activation memory a forward pass of an h x w input needs (the two ping-pong buffers).
  static int64_t activation_bytes(const std::vector<std::vector<int64_t>>& shapes, int64_t h, int64_t w);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdsr
