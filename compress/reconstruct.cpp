#include "compress/reconstruct.h"

#include <ATen/ATen.h>

#include <cmath>

#include "vdsr/data/patch_file.h"
#include "vdsr/util/error.h"
#include "vdsr/util/gemm.h"
#include "vdsr/util/random.h"

namespace vdsr::compress {

namespace {

// Output positions (n, y, x) drawn uniformly from the calibration maps.
struct Positions {
  at::Tensor n, y, x;
};

Positions sample_positions(const at::IntArrayRef shape, int64_t count, std::uint64_t seed) {
  Rng rng(seed);
  const auto n = static_cast<std::uint64_t>(shape[0]), h = static_cast<std::uint64_t>(shape[2]),
             w = static_cast<std::uint64_t>(shape[3]);
  std::vector<int64_t> pn(count), py(count), px(count);
  for (int64_t i = 0; i < count; ++i) {
    pn[i] = static_cast<int64_t>(rng.below(n));
    py[i] = static_cast<int64_t>(rng.below(h));
    px[i] = static_cast<int64_t>(rng.below(w));
  }
  return {at::tensor(pn), at::tensor(py), at::tensor(px)};
}

// The channel vectors of a contiguous [N, H, W, C] tensor at the positions shifted by (dy, dx): [S, C].
at::Tensor rows_at(const at::Tensor& nhwc, const Positions& p, int64_t dy, int64_t dx) {
  const at::Tensor flat = (p.n * nhwc.size(1) + p.y + dy) * nhwc.size(2) + p.x + dx;
  return nhwc.reshape({-1, nhwc.size(3)}).index_select(0, flat);
}

// The 3x3 neighbourhoods of `a` [N, C, H, W] (zero-padded as the convolutions are) at the positions: rows
// [S, C * 9] in the (channel, ky, kx) order of a flattened [out, C, 3, 3] weight.
at::Tensor neighbourhoods(const at::Tensor& a, const Positions& p) {
  const at::Tensor padded = at::zeros({a.size(0), a.size(2) + 2, a.size(3) + 2, a.size(1)}, a.options());  // NHWC
  padded.narrow(1, 1, a.size(2)).narrow(2, 1, a.size(3)).copy_(a.permute({0, 2, 3, 1}));
  std::vector<at::Tensor> taps;
  for (int ky = 0; ky < 3; ++ky) {
    for (int kx = 0; kx < 3; ++kx) taps.push_back(rows_at(padded, p, ky, kx));
  }
  return at::stack(taps, 2).reshape({p.n.size(0), -1});
}

// Values of `a` [N, C, H, W] at the positions: [S, C].
at::Tensor at_positions(const at::Tensor& a, const Positions& p) {
  return rows_at(a.permute({0, 2, 3, 1}).contiguous(), p, 0, 0);
}

// op(a) op(b) in float32 through oneDNN (vdsr/util/gemm.h): aᵀ with `transpose_a`, bᵀ with `transpose_b`.
at::Tensor product(const at::Tensor& a, bool transpose_a, const at::Tensor& b, bool transpose_b) {
  const at::Tensor ca = a.to(at::kFloat).contiguous(), cb = b.to(at::kFloat).contiguous();
  const int64_t m = transpose_a ? a.size(1) : a.size(0), k = transpose_a ? a.size(0) : a.size(1);
  const int64_t n = transpose_b ? b.size(0) : b.size(1);
  at::Tensor c = at::empty({m, n}, at::kFloat);
  gemm(transpose_a, transpose_b, m, n, k, ca.data_ptr<float>(), cb.data_ptr<float>(), c.data_ptr<float>());
  return c;
}

double relative_error(const at::Tensor& x, const at::Tensor& w, const at::Tensor& y) {
  const at::Tensor predicted = product(x, false, w.reshape({w.size(0), -1}), true);
  return (predicted - y).pow(2).sum().item<double>() / std::max(y.pow(2).sum().item<double>(), 1e-30);
}

// Solves G B' = B in place for a symmetric positive definite G [k, k] (Cholesky), B [k, m]; doubles.
void cholesky_solve(std::vector<double>& g, std::vector<double>& b, int64_t k, int64_t m) {
  for (int64_t j = 0; j < k; ++j) {
    double d = g[j * k + j];
    for (int64_t t = 0; t < j; ++t) d -= g[j * k + t] * g[j * k + t];
    if (!(d > 0)) throw Error("reconstruction: the least-squares system is not positive definite");
    const double l = std::sqrt(d);
    g[j * k + j] = l;
    for (int64_t i = j + 1; i < k; ++i) {
      double s = g[i * k + j];
      for (int64_t t = 0; t < j; ++t) s -= g[i * k + t] * g[j * k + t];
      g[i * k + j] = s / l;
    }
  }
  for (int64_t c = 0; c < m; ++c) {  // L z = b, then Lᵀ x = z
    for (int64_t i = 0; i < k; ++i) {
      double s = b[i * m + c];
      for (int64_t t = 0; t < i; ++t) s -= g[i * k + t] * b[t * m + c];
      b[i * m + c] = s / g[i * k + i];
    }
    for (int64_t i = k - 1; i >= 0; --i) {
      double s = b[i * m + c];
      for (int64_t t = i + 1; t < k; ++t) s -= g[t * k + i] * b[t * m + c];
      b[i * m + c] = s / g[i * k + i];
    }
  }
}


std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

// Replaces `w` by the least-squares fit where that is better at the samples. A layer whose plain weights
// already reproduce the original to rounding (nothing before it was pruned) is left as it is: a fit to
// rounding noise could only move it.
LayerFit refit_layer(const std::string& name, const at::Tensor& x, const at::Tensor& y, double ridge, at::Tensor& w) {
  LayerFit fit{name, relative_error(x, w, y), 0};
  fit.error_refitted = fit.error_pruned;
  if (fit.error_pruned < 1e-10) return fit;
  const at::Tensor refitted = least_squares_weights(x, y, ridge).reshape(w.sizes());
  const double error = relative_error(x, refitted, y);
  if (error < fit.error_pruned) {
    w = refitted;
    fit.error_refitted = error;
  }
  return fit;
}

at::Tensor least_squares_weights(const at::Tensor& x, const at::Tensor& y, double ridge) {
  const int64_t k = x.size(1), m = y.size(1);
  at::Tensor gram = product(x, true, x, false).to(at::kDouble);
  const double lambda = ridge * gram.diagonal().mean().item<double>();
  gram.diagonal().add_(lambda > 0 ? lambda : 1e-12);
  std::vector<double> g = to_vector(gram), b = to_vector(product(x, true, y, false));
  cholesky_solve(g, b, k, m);
  return at::from_blob(b.data(), {k, m}, at::kDouble).t().to(at::kFloat).contiguous();
}

Reconstruction reconstruct(const Checkpoint& original, const Checkpoint& pruned,
                           const std::vector<std::vector<int64_t>>& kept, const at::Tensor& inputs,
                           const ReconstructOptions& options) {
  const size_t layers = original.weights.size();
  if (pruned.weights.size() != layers || kept.size() != layers) {
    throw Error("reconstruction: the pruned model does not match the original's layers");
  }
  at::NoGradGuard no_grad;
  Reconstruction r{pruned, {}};
  // Channels-last: LibTorch runs these convolutions through oneDNN, not im2col on its generic BLAS.
  const auto nhwc = at::MemoryFormat::ChannelsLast;
  at::Tensor a_original = inputs.to(at::kFloat).contiguous(nhwc), a_pruned = a_original;
  for (size_t l = 0; l < layers; ++l) {
    const at::Tensor w_original = original.weights[l].second.contiguous(nhwc);
    at::Tensor& w = r.model.weights[l].second;
    const bool last = l + 1 == layers;
    const at::Tensor next_original = at::conv2d(a_original, w_original, {}, 1, 1);
    const at::Tensor target = next_original.index_select(1, at::tensor(kept[l], at::kLong));
    if (l > 0) {
      const Positions p = sample_positions(a_pruned.sizes(), options.samples, mix64(options.seed, l));
      const at::Tensor x = neighbourhoods(a_pruned, p), y = at_positions(target, p);
      const std::string& name = original.weights[l].first;  // "output.weight" -> "output", as the plan names layers
      r.layers.push_back(refit_layer(name.substr(0, name.rfind(".weight")), x, y, options.ridge, w));
    }
    const at::Tensor next_pruned = at::conv2d(a_pruned, w.contiguous(nhwc), {}, 1, 1);
    a_original = last ? next_original : at::relu(next_original);
    a_pruned = last ? next_pruned : at::relu(next_pruned);
  }
  return r;
}

at::Tensor calibration_patches(const std::string& path, int64_t count) {
  const data::PatchFile file(path);
  const int64_t n = std::min<int64_t>(count, file.size());
  if (n < 1) throw Error(path + ": no patches for the reconstruction's calibration");
  const int p = file.patch_size();
  at::Tensor patches = at::empty({n, 1, p, p}, at::kFloat);
  std::vector<float> label(static_cast<size_t>(p) * p);
  for (int64_t i = 0; i < n; ++i) {
    file.read(i * file.size() / n, 1, patches[i].data_ptr<float>(), label.data());
  }
  return patches;
}

}  // namespace vdsr::compress
