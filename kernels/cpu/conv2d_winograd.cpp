// Winograd F(4x4, 3x3) convolution for the float fast path (3x3 filters, stride 1).
//
// Why: the direct kernel (conv2d_direct.cpp) already runs near the core's FMA peak, so the
// only way to be faster on the 3x3 layers that dominate ResNet/FPN is fewer multiplications.
// F(4x4, 3x3) computes a 4x4 output tile from a 6x6 input patch d with 36 multiplications per
// (input channel, output channel) instead of 144 (4x fewer; 3.1x at 7x7 outputs, where the
// 2x2 tiles cover 8x8):
//   Y = A^T [ (G g G^T) (.) (B^T d B) ] A        ((.) = elementwise, 6x6)
// with (Lavin & Gray 2016, points 0, +-1, +-2, infinity)
//   B^T = | 4  0 -5  0  1  0 |    G = |  1/4     0     0  |    A^T = | 1  1  1  1  1  0 |
//         | 0 -4 -4  1  1  0 |        | -1/6  -1/6  -1/6  |          | 0  1 -1  2 -2  0 |
//         | 0  4 -4 -1  1  0 |        | -1/6   1/6  -1/6  |          | 0  1  1  4  4  0 |
//         | 0 -2 -1  2  1  0 |        |  1/24  1/12  1/6  |          | 0  1 -1  8 -8  1 |
//         | 0  2 -1 -2  1  0 |        |  1/24 -1/12  1/6  |
//         | 0  4  0 -5  0  1 |        |  0     0     1    |
// Summed over input channels, the 36 elementwise products become 36 independent matrix
// products: M[xi] (K x T) = U[xi] (K x C) V[xi] (C x T), xi = one of the 6x6 positions, T the
// tiles. So: (1) U = G g G^T for every (k, c), stored (36, K, C); (2) per block of tiles,
// V = B^T d B stored (36, C, T_b); (3) 36 single-threaded SGEMMs (OpenBLAS) into M (36, K, T_b);
// (4) Y = A^T m A per (k, tile) with the epilogue (scale, shift, residual, ReLU; ConvEpilogue)
// applied as the rows are stored to NCHW.
// Layout and blocking: tiles are numbered over (image, tile row, tile column); a block is a
// run of whole tile rows (so each tile row's TW tiles are contiguous and the transforms run as
// vectors over them) of about kBlockTiles tiles, so that a block's V and M stay in the 2 MiB L2
// between the transform that writes them and the GEMM/transform that reads them. Blocks are
// the OpenMP work items; the blocking depends on the shape alone and each output is computed
// by one block with a single-threaded SGEMM, so results do not depend on the thread count.
// The input transform pads one input row at a time and splits it into its four column phases
// (4j + m), so that every tile's six columns are contiguous vectors over the tile column.
// Accuracy: the transforms' large coefficients (up to 8 in A, 5 in B) make fp32 errors about
// 10-30x those of the direct kernel (tests/kernels/test_conv_winograd.cpp measures them);
// still far below what training needs, but it is why ConvWinograd::Off exists for A/B runs.
// The data gradient of a stride-1 convolution is the same convolution of dy with the filters
// rotated by 180 degrees and K/C swapped (padding 2 - p), transformed in step (1).
// The double-precision reference in kernels/cpu/conv2d.cpp remains the specification.
#include "kernels/cpu/conv2d_winograd.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "kernels/cpu/conv2d_direct.h"
#include "kernels/gemm.h"

namespace gbad::cpu {

namespace {

constexpr int kAlpha = 6;  // input tile size: 4 + 3 - 1

struct WinoArgs {
  const float* x = nullptr;  // input (N, C, H, W)
  float* y = nullptr;        // output (N, K, P, Q)
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* residual = nullptr;
  bool relu = false;
  bool rotated = false;  // filters are the data gradient's (see filter_transform)
  int64_t n = 0, c = 0, k = 0, h = 0, w = 0, p = 0, q = 0, ph = 0, pw = 0;
  int64_t th = 0, tw = 0;  // tile rows / columns per image
};

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
#define GBAD_WINO_X86 1
#endif

#ifdef GBAD_WINO_X86
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#endif
namespace wino_avx512 {
namespace {
#include "kernels/cpu/conv2d_winograd_kernel.inc"
}  // namespace
void filters(const WinoArgs& a, const float* w, float* u, int64_t k0, int64_t k1, float* tmp) {
  filter_transform(a, w, u, k0, k1, tmp);
}
void inputs(const WinoArgs& a, int64_t g0, int64_t rows, float* v, int64_t ldv, float* buf) {
  input_transform(a, g0, rows, v, ldv, buf);
}
void outputs(const WinoArgs& a, int64_t g0, int64_t rows, const float* m, int64_t ldm, float* buf) {
  output_transform(a, g0, rows, m, ldm, buf);
}
}  // namespace wino_avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace wino_avx2 {
namespace {
#include "kernels/cpu/conv2d_winograd_kernel.inc"
}  // namespace
void filters(const WinoArgs& a, const float* w, float* u, int64_t k0, int64_t k1, float* tmp) {
  filter_transform(a, w, u, k0, k1, tmp);
}
void inputs(const WinoArgs& a, int64_t g0, int64_t rows, float* v, int64_t ldv, float* buf) {
  input_transform(a, g0, rows, v, ldv, buf);
}
void outputs(const WinoArgs& a, int64_t g0, int64_t rows, const float* m, int64_t ldm, float* buf) {
  output_transform(a, g0, rows, m, ldm, buf);
}
}  // namespace wino_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // GBAD_WINO_X86

namespace wino_portable {
namespace {
#include "kernels/cpu/conv2d_winograd_kernel.inc"
}  // namespace
void filters(const WinoArgs& a, const float* w, float* u, int64_t k0, int64_t k1, float* tmp) {
  filter_transform(a, w, u, k0, k1, tmp);
}
void inputs(const WinoArgs& a, int64_t g0, int64_t rows, float* v, int64_t ldv, float* buf) {
  input_transform(a, g0, rows, v, ldv, buf);
}
void outputs(const WinoArgs& a, int64_t g0, int64_t rows, const float* m, int64_t ldm, float* buf) {
  output_transform(a, g0, rows, m, ldm, buf);
}
}  // namespace wino_portable

namespace {

ConvWinograd g_mode = ConvWinograd::Auto;
bool g_mode_set = false;

// Tiles per block: V and M of a block, 36 * (C + K) * T_b floats, near L2 size at C = K = 64
// and large enough for efficient SGEMMs at C = K = 512 (bench/RESULTS.md, issue 20).
int64_t block_tiles(const Conv2dShape& s) {
  if (const char* env = std::getenv("GBAD_WINO_TILES")) return std::max(1, std::atoi(env));
  (void)s;
  return 96;
}

float* align64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// Below this many direct multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMacs = 1 << 18;

// The shapes Winograd can compute: 3x3, stride 1, padding <= 2 (so every output tile reads
// inside the padded input), not the Gemm kernel.
bool applies(const Conv2dShape& s) {
  return conv_kernel() != ConvKernel::Gemm && s.r == 3 && s.s == 3 && s.sh == 1 && s.sw == 1 &&
         s.ph <= 2 && s.pw <= 2 && s.n * s.p * s.q > 0 && s.c > 0 && s.k > 0;
}

bool selected(const Conv2dShape& s) {
  const ConvWinograd m = conv_winograd();
  if (m == ConvWinograd::Off || !applies(s)) return false;
  return m == ConvWinograd::On || conv2d_winograd_pays(s);
}

void run(Context& ctx, const WinoArgs& a0, const float* w) {
  WinoArgs a = a0;
  a.th = (a.p + 3) / 4;
  a.tw = (a.q + 3) / 4;
  auto filters = wino_portable::filters;
  auto inputs = wino_portable::inputs;
  auto outputs = wino_portable::outputs;
#ifdef GBAD_WINO_X86
  if (conv_kernel() == ConvKernel::Avx512) {
    filters = wino_avx512::filters, inputs = wino_avx512::inputs, outputs = wino_avx512::outputs;
  } else if (conv_kernel() == ConvKernel::Avx2) {
    filters = wino_avx2::filters, inputs = wino_avx2::inputs, outputs = wino_avx2::outputs;
  }
#endif
  Conv2dShape s;
  s.c = a.c, s.k = a.k;
  const int64_t rows_total = a.n * a.th;
  const int64_t rb = std::max<int64_t>(1, std::min(rows_total, block_tiles(s) / a.tw));
  const int64_t tb = rb * a.tw, blocks = (rows_total + rb - 1) / rb;
  const int64_t macs = a.n * a.p * a.q * a.c * a.k * 9;
  const int nt = macs >= kParallelMacs
                     ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), blocks))
                     : 1;
  const int64_t u_elems = kAlpha * kAlpha * a.k * a.c;
  const int64_t l4 = 4 * (a.tw + 1);
  const int64_t buf_elems = std::max({9 * a.c, 7 * l4 + 6 * l4, 40 * a.tw});
  const int64_t per = kAlpha * kAlpha * (a.c + a.k) * tb + buf_elems + 32;
  float* ws = static_cast<float*>(ctx.workspace(size_t(u_elems + 16 + per * nt) * sizeof(float)));
  float* u = align64(ws);
  float* thr = u + u_elems;
  if (nt > 1) blas_single_threaded();
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    float* v = align64(thr + per * t);
    float* m = align64(v + kAlpha * kAlpha * a.c * tb);
    float* buf = m + kAlpha * kAlpha * a.k * tb;
    {
      const int64_t k0 = a.k * t / nt, k1 = a.k * (t + 1) / nt;
      filters(a, w, u, k0, k1, buf);
    }
#pragma omp barrier
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t g0 = b * rb, rows = std::min(rb, rows_total - g0), cols = rows * a.tw;
      inputs(a, g0, rows, v, cols, buf);
      for (int xi = 0; xi < kAlpha * kAlpha; ++xi)
        gemm<float>(false, false, a.k, cols, a.c, 1.f, u + xi * a.k * a.c, a.c, v + xi * a.c * cols,
                    cols, 0.f, m + xi * a.k * cols, cols);
      outputs(a, g0, rows, m, cols, buf);
    }
  }
}

}  // namespace

void set_conv_winograd(ConvWinograd m) {
  g_mode = m;
  g_mode_set = true;
}

ConvWinograd conv_winograd() {
  if (g_mode_set) return g_mode;
  if (const char* env = std::getenv("GBAD_CONV_WINOGRAD")) {
    const std::string v(env);
    if (v == "0" || v == "off") return ConvWinograd::Off;
    if (v == "1" || v == "on") return ConvWinograd::On;
  }
  return ConvWinograd::Auto;
}

bool conv2d_winograd_pays(const Conv2dShape& s) {
  return s.c >= 32 && s.k >= 32;
}

bool conv2d_winograd_forward(Context& ctx, float* y, const float* x, const float* w,
                             const Conv2dShape& s, const ConvEpilogue& e) {
  if (!selected(s)) return false;
  WinoArgs a;
  a.x = x, a.y = y;
  a.scale = e.scale, a.shift = e.shift, a.residual = e.residual, a.relu = e.relu;
  a.n = s.n, a.c = s.c, a.k = s.k, a.h = s.h, a.w = s.w, a.p = s.p, a.q = s.q;
  a.ph = s.ph, a.pw = s.pw;
  run(ctx, a, w);
  return true;
}

bool conv2d_winograd_backward_data(Context& ctx, float* dx, const float* dy, const float* w,
                                   const Conv2dShape& s) {
  if (!selected(s)) return false;
  // dx[n, c, ih, iw] = sum_{k, r, s} dy[n, k, ih + ph - r, iw + pw - s] w[k, c, r, s]: a
  // stride-1 convolution of dy (padding 2 - ph, 2 - pw) with w'[c, k, r, s] = w[k, c, 2-r, 2-s].
  const int64_t ph = 2 - s.ph, pw = 2 - s.pw;
  if (s.p + 2 * ph - 2 != s.h || s.q + 2 * pw - 2 != s.w) return false;
  WinoArgs a;
  a.x = dy, a.y = dx, a.rotated = true;
  a.n = s.n, a.c = s.k, a.k = s.c, a.h = s.p, a.w = s.q, a.p = s.h, a.q = s.w;
  a.ph = ph, a.pw = pw;
  run(ctx, a, w);
  return true;
}

}  // namespace gbad::cpu
