#include "vdsr/util/gemm.h"

#include <oneapi/dnnl/dnnl.h>

#include <string>

#include "vdsr/util/error.h"

namespace vdsr {

void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const float* a, const float* b,
          float* c) {
  const dnnl_status_t status = dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, 1.0f, a,
                                          transpose_a ? m : k, b, transpose_b ? k : n, 0.0f, c, n);
  if (status != dnnl_success) throw Error("oneDNN sgemm failed (status " + std::to_string(status) + ")");
}

}  // namespace vdsr
