#pragma once
// Winograd F(4x4, 3x3) fp32 convolution for AVX2+FMA CPUs (Lavin & Gray, "Fast Algorithms for Convolutional
// Neural Networks", CVPR 2016), used by the oneDNN engine where it times faster than oneDNN's own kernels.
// oneDNN 2.x has Winograd kernels for AVX-512 only; on an AVX2-only CPU its direct kernel is 1.07-1.10x
// onnxruntime's latency (docs/inference.md), and this kernel does a quarter of the multiplications.
//
// A 6x6 input tile gives a 4x4 output tile: V = B^T d B per tile and input channel, then 36 independent
// matrix products M(xi) = U(xi) V(xi) over the channels (U = G g G^T, the weights, transformed once),
// then Y = A^T M A, with the ReLU fused. Activations are in oneDNN's nChw8c layout ([C/8][H][W][8]), the
// layout oneDNN's AVX2 kernels use, so the chain needs no conversion between this kernel and theirs.
//
// This file's code runs only where avx2_usable() is true; winograd_avx2.cpp is compiled with -mavx2 -mfma.
#include <cstdint>
#include <memory>
#include <vector>

namespace vdsr {

class WinogradAvx2 {
 public:
  // Whether the kernel handles a layer of this shape: input channels a multiple of 8, output of 16.
  static bool handles(int64_t in, int64_t out) { return in % 8 == 0 && out % 16 == 0 && in > 0 && out > 0; }

  // `oihw`: the [out, in, 3, 3] float32 weights. Call only where the CPU has AVX2 and FMA.
  WinogradAvx2(const float* oihw, int64_t out, int64_t in);
  ~WinogradAvx2();

  // src [in/8][h][w][8] -> dst [out/8][h][w][8], zero padding 1, ReLU applied. Threads: OpenMP's count.
  void run(const float* src, float* dst, int h, int w) const;

 private:
  int64_t out_, in_;
  std::vector<float> u_;  // [xi][out/16][in][16]
};

}  // namespace vdsr
