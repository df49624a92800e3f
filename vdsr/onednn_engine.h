#pragma once
// The CPU inference engine: a VDSR run as a chain of oneDNN convolution primitives (the oneDNN that
// LibTorch itself uses). What it does that at::conv2d per layer cannot:
//  - activations stay in the layout oneDNN prefers (e.g. blocked nChw16c in fp32) along the whole chain,
//    with no conversion between layers;
//  - weights are reordered into that layout once per input size, not on every call;
//  - ReLU is fused into each convolution, and the residual add into the last one (a sum post-op);
//  - two activation buffers are reused across layers;
//  - the fastest kernel per layer shape (direct or Winograd), timed once;
//  - bf16: the body convolutions in bf16 (AMX / AVX512-BF16), the first and last ones in fp32.
// No oneDNN or LibTorch types appear here, so callers do not pay for their headers.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace vdsr {

enum class Precision { fp32, bf16 };
Precision parse_precision(const std::string& name);  // "fp32" | "bf16"; vdsr::Error otherwise
std::string precision_name(Precision p);

// Whether this CPU runs bf16 convolutions natively (AVX512-BF16 or AMX); `why_not` says why not.
bool cpu_has_bf16(std::string* why_not = nullptr);

class OnednnVdsr {
 public:
  // `weights[i]` holds a [out, in, 3, 3] float32 kernel (contiguous, OIHW), in forward order.
  // `winograd`: the fp32 body convolutions may use oneDNN's Winograd kernels where they time faster than
  // direct convolution (results differ by float rounding only).
  OnednnVdsr(const std::vector<std::vector<float>>& weights, const std::vector<std::vector<int64_t>>& shapes,
             Precision precision, bool winograd = true);
  ~OnednnVdsr();
  OnednnVdsr(OnednnVdsr&&) noexcept;

  // x: one plane [h, w] on the 0..1 scale; y: [h, w], the network output with the residual added
  // (not clipped). x and y may not overlap.
  void run(const float* x, float* y, int h, int w) const;

  Precision precision() const;
  // Bytes of activation memory a forward pass of an h x w input needs (the two ping-pong buffers).
  static int64_t activation_bytes(const std::vector<std::vector<int64_t>>& shapes, int64_t h, int64_t w);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace vdsr
