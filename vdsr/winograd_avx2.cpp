// Compiled with -mavx2 -mfma: nothing here may run before the engine has checked the CPU.
#include "vdsr/winograd_avx2.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>

namespace vdsr {

namespace {

constexpr int kTiles = 18;  // tiles per group: a group's transformed inputs and products stay in L2
constexpr int kSub = 6;     // tiles per matrix-product kernel call (6 x 16 accumulators: 12 of 16 registers)

// The filter transform G (6x3) of F(4x4, 3x3); the data transforms below are written out by hand.
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};

// B^T applied to six values (one column or row of a 6x6 input tile).
inline void input_1d(__m256 d0, __m256 d1, __m256 d2, __m256 d3, __m256 d4, __m256 d5, __m256* r) {
  const __m256 four = _mm256_set1_ps(4.f), minus_four = _mm256_set1_ps(-4.f), two = _mm256_set1_ps(2.f),
               minus_five = _mm256_set1_ps(-5.f);
  r[0] = _mm256_fmadd_ps(four, d0, _mm256_fmadd_ps(minus_five, d2, d4));
  r[1] = _mm256_fmadd_ps(minus_four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
  r[2] = _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
  r[3] = _mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), _mm256_sub_ps(d4, d2));
  r[4] = _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), _mm256_sub_ps(d4, d2));
  r[5] = _mm256_fmadd_ps(four, d1, _mm256_fmadd_ps(minus_five, d3, d5));
}

// A^T applied to six values: four outputs.
inline void output_1d(__m256 m0, __m256 m1, __m256 m2, __m256 m3, __m256 m4, __m256 m5, __m256* o) {
  const __m256 a = _mm256_add_ps(m1, m2), b = _mm256_sub_ps(m1, m2), c = _mm256_add_ps(m3, m4),
               d = _mm256_sub_ps(m3, m4);
  o[0] = _mm256_add_ps(_mm256_add_ps(m0, a), c);
  o[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.f), d, b);
  o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.f), c, a);
  o[3] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8.f), d, b), m5);
}

// M(xi)[t][k0..k0+16) = sum_c V(xi)[t][c] U(xi)[c][k0..k0+16) for NT tiles: the 16 output channels in two
// registers, each tile's input value broadcast.
template <int NT>
void product(const float* v, int64_t channels, const float* u, float* m, int64_t m_stride) {
  __m256 acc[NT][2];
  for (int t = 0; t < NT; ++t) acc[t][0] = acc[t][1] = _mm256_setzero_ps();
  for (int64_t c = 0; c < channels; ++c) {
    const __m256 u0 = _mm256_loadu_ps(u + c * 16), u1 = _mm256_loadu_ps(u + c * 16 + 8);
    for (int t = 0; t < NT; ++t) {
      const __m256 b = _mm256_broadcast_ss(v + t * channels + c);
      acc[t][0] = _mm256_fmadd_ps(b, u0, acc[t][0]);
      acc[t][1] = _mm256_fmadd_ps(b, u1, acc[t][1]);
    }
  }
  for (int t = 0; t < NT; ++t) {
    _mm256_storeu_ps(m + t * m_stride, acc[t][0]);
    _mm256_storeu_ps(m + t * m_stride + 8, acc[t][1]);
  }
}

void product_n(int nt, const float* v, int64_t channels, const float* u, float* m, int64_t m_stride) {
  switch (nt) {
    case 6: return product<6>(v, channels, u, m, m_stride);
    case 5: return product<5>(v, channels, u, m, m_stride);
    case 4: return product<4>(v, channels, u, m, m_stride);
    case 3: return product<3>(v, channels, u, m, m_stride);
    case 2: return product<2>(v, channels, u, m, m_stride);
    default: return product<1>(v, channels, u, m, m_stride);
  }
}

}  // namespace

WinogradAvx2::WinogradAvx2(const float* oihw, int64_t out, int64_t in) : out_(out), in_(in), u_(36 * out * in) {
  for (int64_t k = 0; k < out; ++k) {
    for (int64_t c = 0; c < in; ++c) {
      const float* g = oihw + (k * in + c) * 9;
      double gg[6][3];  // G g
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 3; ++j) gg[i][j] = kG[i][0] * g[j] + kG[i][1] * g[3 + j] + kG[i][2] * g[6 + j];
      for (int i = 0; i < 6; ++i) {
        for (int j = 0; j < 6; ++j) {
          const double value = gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2];  // (G g) G^T
          const int64_t xi = i * 6 + j;
          u_[((xi * (out / 16) + k / 16) * in + c) * 16 + k % 16] = static_cast<float>(value);
        }
      }
    }
  }
}

WinogradAvx2::~WinogradAvx2() = default;

void WinogradAvx2::run(const float* src, float* dst, int h, int w) const {
  const int64_t C = in_, K = out_;
  const int tiles_y = (h + 3) / 4, tiles_x = (w + 3) / 4;
  const int64_t tiles = static_cast<int64_t>(tiles_y) * tiles_x;
  const int64_t groups = (tiles + kTiles - 1) / kTiles;
  const int64_t plane = static_cast<int64_t>(h) * w;

#pragma omp parallel
  {
    // Per thread: the group's transformed inputs V[xi][t][c] and products M[t][xi][k].
    thread_local std::vector<float> v_buffer, m_buffer;
    v_buffer.resize(36 * kTiles * C);
    m_buffer.resize(36 * kTiles * K);
    float* V = v_buffer.data();
    float* M = m_buffer.data();

#pragma omp for schedule(static)
    for (int64_t g = 0; g < groups; ++g) {
      const int64_t first = g * kTiles;
      const int nt = static_cast<int>(std::min<int64_t>(kTiles, tiles - first));

      // 1. Input transform, eight channels at a time; outside the image is zero padding.
      for (int t = 0; t < nt; ++t) {
        const int ty = static_cast<int>((first + t) / tiles_x), tx = static_cast<int>((first + t) % tiles_x);
        const int y0 = ty * 4 - 1, x0 = tx * 4 - 1;
        const bool interior = y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w;
        for (int64_t cb = 0; cb < C / 8; ++cb) {
          const float* base = src + cb * plane * 8;
          __m256 d[6][6];
          for (int i = 0; i < 6; ++i) {
            for (int j = 0; j < 6; ++j) {
              const int y = y0 + i, x = x0 + j;
              d[i][j] = interior || (y >= 0 && y < h && x >= 0 && x < w)
                            ? _mm256_loadu_ps(base + (static_cast<int64_t>(y) * w + x) * 8)
                            : _mm256_setzero_ps();
            }
          }
          __m256 col[6][6], r[6];
          for (int j = 0; j < 6; ++j) {
            input_1d(d[0][j], d[1][j], d[2][j], d[3][j], d[4][j], d[5][j], r);
            for (int i = 0; i < 6; ++i) col[i][j] = r[i];
          }
          for (int i = 0; i < 6; ++i) {
            input_1d(col[i][0], col[i][1], col[i][2], col[i][3], col[i][4], col[i][5], r);
            for (int j = 0; j < 6; ++j) _mm256_storeu_ps(V + ((i * 6 + j) * kTiles + t) * C + cb * 8, r[j]);
          }
        }
      }

      // 2. The 36 matrix products, 16 output channels and up to six tiles per kernel call.
      for (int xi = 0; xi < 36; ++xi) {
        for (int64_t kb = 0; kb < K / 16; ++kb) {
          const float* u = u_.data() + (xi * (K / 16) + kb) * C * 16;
          for (int t0 = 0; t0 < nt; t0 += kSub) {
            product_n(std::min(kSub, nt - t0), V + (xi * kTiles + t0) * C, C, u, M + (t0 * 36 + xi) * K + kb * 16,
                      36 * K);
          }
        }
      }

      // 3. Output transform with the ReLU, eight channels at a time; only pixels inside the image are written.
      const __m256 zero = _mm256_setzero_ps();
      for (int t = 0; t < nt; ++t) {
        const int ty = static_cast<int>((first + t) / tiles_x), tx = static_cast<int>((first + t) % tiles_x);
        for (int64_t kb = 0; kb < K / 8; ++kb) {
          const float* m = M + t * 36 * K + kb * 8;
          __m256 rows[4][6], o[4];
          for (int j = 0; j < 6; ++j) {
            output_1d(_mm256_loadu_ps(m + (0 * 6 + j) * K), _mm256_loadu_ps(m + (1 * 6 + j) * K),
                      _mm256_loadu_ps(m + (2 * 6 + j) * K), _mm256_loadu_ps(m + (3 * 6 + j) * K),
                      _mm256_loadu_ps(m + (4 * 6 + j) * K), _mm256_loadu_ps(m + (5 * 6 + j) * K), o);
            for (int i = 0; i < 4; ++i) rows[i][j] = o[i];
          }
          float* base = dst + kb * plane * 8;
          for (int i = 0; i < 4; ++i) {
            const int y = ty * 4 + i;
            if (y >= h) break;
            output_1d(rows[i][0], rows[i][1], rows[i][2], rows[i][3], rows[i][4], rows[i][5], o);
            for (int j = 0; j < 4; ++j) {
              const int x = tx * 4 + j;
              if (x >= w) break;
              _mm256_storeu_ps(base + (static_cast<int64_t>(y) * w + x) * 8, _mm256_max_ps(o[j], zero));
            }
          }
        }
      }
    }
  }
}

}  // namespace vdsr
