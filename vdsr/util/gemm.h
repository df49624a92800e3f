#pragma once
// Matrix products for the few places that need large ones (least-squares fits): oneDNN's JIT sgemm. The
// LibTorch build links a generic BLAS whose products run at a few GFLOP/s.
#include <cstdint>

namespace vdsr {

// C [m, n] = op(A) op(B), row-major, op(X) = Xᵀ where transposed: A is [m, k] (or [k, m] when
// `transpose_a`), B is [k, n] (or [n, k] when `transpose_b`); C is overwritten.
void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
          float* c);

}  // namespace vdsr
