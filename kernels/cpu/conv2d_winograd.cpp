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
// tiles. So: (1) U = G g G^T for every (k, c), stored per xi in blocks of KR output channels
// [xi][K/KR][C][KR] (the products' layout: KR consecutive filters per channel); (2) per block
// of tiles, V = B^T d B stored [xi][C][T_b] (tiles contiguous); (3) the products by a register
// tile of KR output channels x 2 vectors of tiles (AVX-512: 14 x 32, 28 accumulators), filter
// values broadcast, tile values loaded as vectors, into M [xi][K][T_b]; (4) Y = A^T m A per
// (k, tile) with the epilogue (scale, shift, residual, ReLU; ConvEpilogue) applied as the
// rows are stored to NCHW. OpenBLAS SGEMM for (3) was tried first: its packing of U for every
// block of tiles cost more than the products at these sizes (bench/RESULTS.md, issue 20).
// Layout and blocking: tiles are numbered over (image, tile row, tile column); a block is a
// run of whole tile rows (so each tile row's TW tiles are contiguous and the transforms run as
// vectors over them) of about kBlockTiles = 96 tiles (V and M of a block near the 2 MiB L2 at
// 64 channels; 64..160 measured within a few %). With enough blocks each thread takes whole
// blocks; otherwise all threads share each block phase by phase (channels, (xi, channel
// block) items, output channels). Each M element is one fixed chain of FMAs over C whatever
// the blocking or thread split, so results do not depend on the thread count.
// The input transform pads one input row at a time and splits it into its four column phases
// (4j + m), so that every tile's six columns are contiguous vectors over the tile column.
// Accuracy: the transforms' coefficients (up to 8 in A, 5 in B) make fp32 errors 3-7x those
// of the direct kernel (tests/kernels/test_conv_winograd.cpp measures them: about 1e-6 of the
// output's norm); the products sum runs of 64 channels and then the runs, which kept C = 512
// as accurate as C = 64. conv2d_winograd_pays decides where it is used.
// The data gradient of a stride-1 convolution is the same convolution of dy with the filters
// rotated by 180 degrees and K/C swapped (padding 2 - p), transformed in step (1).
// The filter gradient: y = A^T [(G g G^T) (.) V] A per tile gives
// dL/dg = G^T [ sum over tiles of V (.) (A dy A^T) ] G, so per block of tiles V as above and
// A dy A^T of the output gradient's 4x4 tiles, then per xi a GEMM over the block's tiles into a
// (36, K, C) partial (OpenBLAS: here the reduction runs over tiles, where its packing pays),
// one partial per fixed group of blocks (2), added in order, then G^T Z G into dw.
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

struct WinoArgs {
  const float* x = nullptr;  // input (N, C, H, W)
  float* y = nullptr;        // output (N, K, P, Q)
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* residual = nullptr;
  bool relu = false;
  bool rotated = false;       // filters are the data gradient's (see filter_transform)
  const float* dy = nullptr;  // filter gradient: output gradient (N, K, P, Q)
  int64_t n = 0, c = 0, k = 0, h = 0, w = 0, p = 0, q = 0, ph = 0, pw = 0;
  int64_t th = 0, tw = 0;  // tile rows / columns per image
};

// Keep GCC from turning the transforms' short row copies and fills into memcpy/memset calls.
#if defined(__GNUC__) && !defined(__clang__)
#define GBAD_WINO_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define GBAD_WINO_INLINE_LOOPS
#endif
// The transforms' loops read and write distinct rows of one scratch buffer: no dependences.
#if defined(__clang__)
#define GBAD_WINO_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define GBAD_WINO_IVDEP _Pragma("GCC ivdep")
#else
#define GBAD_WINO_IVDEP
#endif

// The per-instruction-set code (conv2d_winograd_kernel.inc), one table per variant.
struct WinoKernels {
  int kr;     // output channels per block of the packed U
  int strip;  // tile columns per product strip (NV vectors)
  void (*filters)(const WinoArgs&, const float*, float*, int64_t, int64_t);
  void (*inputs)(const WinoArgs&, int64_t, int64_t, int64_t, int64_t, float*, int64_t, float*);
  void (*product)(const float*, const float*, int64_t, int64_t, float*, int64_t, int);
  void (*outputs)(const WinoArgs&, int64_t, int64_t, int64_t, int64_t, const float*, int64_t,
                  float*);
  void (*dys)(const WinoArgs&, int64_t, int64_t, int64_t, int64_t, float*, int64_t, float*);
};

}  // namespace

#if defined(__x86_64__) || defined(__i386__)
#define GBAD_WINO_X86 1
#include <immintrin.h>
#endif

#ifdef GBAD_WINO_X86
// AVX-512: 32 registers, 14 x 2 accumulators.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace wino_avx512 {
namespace {
constexpr int VW = 16, KR = 14, NV = 2, kStrip = NV * VW;
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
#define GBAD_WINO_FMA(a, b, c) ((vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define GBAD_WINO_BCAST(x) ((vf)_mm512_set1_ps(x))
#include "kernels/cpu/conv2d_winograd_kernel.inc"
#undef GBAD_WINO_FMA
#undef GBAD_WINO_BCAST
}  // namespace
const WinoKernels kernels = {
    KR, kStrip, filter_transform, input_transform, product_strip, output_transform, dy_transform};
}  // namespace wino_avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

// AVX2 + FMA: 16 registers, 6 x 2 accumulators.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace wino_avx2 {
namespace {
constexpr int VW = 8, KR = 6, NV = 2, kStrip = NV * VW;
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
#define GBAD_WINO_FMA(a, b, c) ((vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define GBAD_WINO_BCAST(x) ((vf)_mm256_set1_ps(x))
#include "kernels/cpu/conv2d_winograd_kernel.inc"
#undef GBAD_WINO_FMA
#undef GBAD_WINO_BCAST
}  // namespace
const WinoKernels kernels = {
    KR, kStrip, filter_transform, input_transform, product_strip, output_transform, dy_transform};
}  // namespace wino_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // GBAD_WINO_X86

// Portable: 4-lane GCC vectors (SSE2 on x86-64), multiply then add; 6 x 2 accumulators.
namespace wino_portable {
namespace {
constexpr int VW = 4, KR = 6, NV = 2, kStrip = NV * VW;
typedef float vf __attribute__((vector_size(VW * sizeof(float))));
#define GBAD_WINO_FMA(a, b, c) ((a) * (b) + (c))
#define GBAD_WINO_BCAST(x) (vf{x, x, x, x})
#include "kernels/cpu/conv2d_winograd_kernel.inc"
#undef GBAD_WINO_FMA
#undef GBAD_WINO_BCAST
}  // namespace
const WinoKernels kernels = {
    KR, kStrip, filter_transform, input_transform, product_strip, output_transform, dy_transform};
}  // namespace wino_portable

namespace {

ConvWinograd g_mode = ConvWinograd::Auto;
bool g_mode_set = false;

// Tiles per block (see the top of this file).
constexpr int64_t kBlockTiles = 96;

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
  const WinoKernels* kn = &wino_portable::kernels;
#ifdef GBAD_WINO_X86
  if (conv_kernel() == ConvKernel::Avx512) kn = &wino_avx512::kernels;
  if (conv_kernel() == ConvKernel::Avx2) kn = &wino_avx2::kernels;
#endif
  const int64_t kr = kn->kr, strip = kn->strip, nkb = (a.k + kr - 1) / kr;
  const int64_t rows_total = a.n * a.th;
  const int64_t rb = std::max<int64_t>(1, std::min(rows_total, kBlockTiles / a.tw));
  const int64_t blocks = (rows_total + rb - 1) / rb;
  const int64_t ldv_max = (rb * a.tw + strip - 1) / strip * strip;
  const int64_t macs = a.n * a.p * a.q * a.c * a.k * 9;
  const int nt = macs >= kParallelMacs ? omp_get_max_threads() : 1;
  // Enough blocks: each thread takes whole blocks (V and M stay in its L2). Else the threads
  // share each block, phase by phase. The products are the same either way.
  const bool own_blocks = nt == 1 || blocks >= 2 * nt;
  const int64_t u_elems = 36 * nkb * kr * a.c;
  const int64_t vm_elems = 36 * (a.c + a.k) * ldv_max + 16;
  const int64_t buf_elems = 4 * (a.tw + 1) + 72 * rb * a.tw + 16;
  const int64_t nvm = own_blocks ? nt : 1;
  float* ws = static_cast<float*>(
      ctx.workspace(size_t(u_elems + 16 + vm_elems * nvm + buf_elems * nt) * sizeof(float)));
  float* u = align64(ws);
  float* vm = u + u_elems;
  float* bufs = vm + vm_elems * nvm;
  // The products of a block with ldv columns: items (xi, kb), strips of `strip` columns.
  auto products = [&](const float* v, float* m, int64_t ldv, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t xi = i / nkb, kb = i - xi * nkb;
      const int rows = static_cast<int>(std::min(kr, a.k - kb * kr));
      const float* ub = u + (xi * nkb + kb) * a.c * kr;
      for (int64_t t = 0; t < ldv; t += strip)
        kn->product(ub, v + xi * a.c * ldv + t, ldv, a.c, m + (xi * a.k + kb * kr) * ldv + t, ldv,
                    rows);
    }
  };
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num();
    float* buf = align64(bufs + buf_elems * t);
#pragma omp for schedule(static)
    for (int64_t kb = 0; kb < nkb; ++kb) kn->filters(a, w, u, kb, kb + 1);
    if (own_blocks) {
      float* v = align64(vm + vm_elems * t);
      float* m = align64(v + 36 * a.c * ldv_max);
#pragma omp for schedule(dynamic, 1)
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t g0 = b * rb, rows = std::min(rb, rows_total - g0);
        const int64_t ldv = (rows * a.tw + strip - 1) / strip * strip;
        kn->inputs(a, g0, rows, 0, a.c, v, ldv, buf);
        products(v, m, ldv, 0, 36 * nkb);
        kn->outputs(a, g0, rows, 0, a.k, m, ldv, buf);
      }
    } else {
      float* v = align64(vm);
      float* m = align64(v + 36 * a.c * ldv_max);
      for (int64_t b = 0; b < blocks; ++b) {
        const int64_t g0 = b * rb, rows = std::min(rb, rows_total - g0);
        const int64_t ldv = (rows * a.tw + strip - 1) / strip * strip;
#pragma omp for schedule(static)
        for (int64_t c = 0; c < a.c; ++c) kn->inputs(a, g0, rows, c, c + 1, v, ldv, buf);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < 36 * nkb; ++i) products(v, m, ldv, i, i + 1);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < a.k; ++k) kn->outputs(a, g0, rows, k, k + 1, m, ldv, buf);
      }
    }
  }
}

// dw += the filter gradient by F(4x4, 3x3): with y = A^T [(G g G^T) (.) V] A per tile,
// dL/dg = G^T [ sum over tiles of V (.) (A dy A^T) ] G. The sum over tiles is, per xi, a GEMM
// Z[xi] (K x C) += DY[xi] (K x T_b) V[xi]^T (T_b x C) per block of tiles (OpenBLAS, reduction
// over the block's tiles; single-threaded inside the OpenMP loop). The blocks are split into
// kDwGroups fixed groups, one Z partial each, added in group order: the same bits for any
// thread count.
constexpr int64_t kDwGroups = 2;

void run_filter_grad(Context& ctx, const WinoArgs& a0, float* dw) {
  WinoArgs a = a0;
  a.th = (a.p + 3) / 4;
  a.tw = (a.q + 3) / 4;
  const WinoKernels* kn = &wino_portable::kernels;
#ifdef GBAD_WINO_X86
  if (conv_kernel() == ConvKernel::Avx512) kn = &wino_avx512::kernels;
  if (conv_kernel() == ConvKernel::Avx2) kn = &wino_avx2::kernels;
#endif
  const int64_t rows_total = a.n * a.th;
  const int64_t rb = std::max<int64_t>(1, std::min(rows_total, kBlockTiles / a.tw));
  const int64_t blocks = (rows_total + rb - 1) / rb, tb = rb * a.tw;
  const int64_t groups = std::min(blocks, kDwGroups);
  const int64_t kc = a.k * a.c, z_elems = 36 * kc;
  const int nt = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), groups));
  const int64_t per = 36 * (a.c + a.k) * tb + 4 * (a.tw + 1) + 72 * tb + 48;
  float* ws =
      static_cast<float*>(ctx.workspace(size_t(z_elems * groups + 16 + per * nt) * sizeof(float)));
  float* z = align64(ws);
  float* thr = z + z_elems * groups;
  if (nt > 1) blas_single_threaded();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t grp = 0; grp < groups; ++grp) {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    float* v = align64(thr + per * t);
    float* dyt = align64(v + 36 * a.c * tb);
    float* buf = align64(dyt + 36 * a.k * tb);
    float* zg = z + z_elems * grp;
    std::fill(zg, zg + z_elems, 0.f);
    for (int64_t b = blocks * grp / groups; b < blocks * (grp + 1) / groups; ++b) {
      const int64_t g0 = b * rb, rows = std::min(rb, rows_total - g0), cols = rows * a.tw;
      kn->inputs(a, g0, rows, 0, a.c, v, cols, buf);
      kn->dys(a, g0, rows, 0, a.k, dyt, cols, buf);
      for (int xi = 0; xi < 36; ++xi)
        gemm<float>(false, true, a.k, a.c, cols, 1.f, dyt + xi * a.k * cols, cols,
                    v + xi * a.c * cols, cols, 1.f, zg + xi * kc, a.c);
    }
  }
  // dw[k][c] += G^T Z G (6x6 -> 3x3), Z summed over the groups in order; vectors over c.
  const float gm[6][3] = {
      {1.f / 4, 0.f, 0.f},           {-1.f / 6, -1.f / 6, -1.f / 6}, {-1.f / 6, 1.f / 6, -1.f / 6},
      {1.f / 24, 1.f / 12, 1.f / 6}, {1.f / 24, -1.f / 12, 1.f / 6}, {0.f, 0.f, 1.f}};
#pragma omp parallel for schedule(static) if (kc >= 4096)
  for (int64_t k = 0; k < a.k; ++k) {
    for (int64_t c = 0; c < a.c; ++c) {
      float zz[36];
      for (int xi = 0; xi < 36; ++xi) {
        float acc = z[xi * kc + k * a.c + c];
        for (int64_t grp = 1; grp < groups; ++grp) acc += z[z_elems * grp + xi * kc + k * a.c + c];
        zz[xi] = acc;
      }
      float tg[3][6];  // G^T Z
      for (int r = 0; r < 3; ++r)
        for (int j = 0; j < 6; ++j) {
          float acc = 0.f;
          for (int i = 0; i < 6; ++i) acc += gm[i][r] * zz[i * 6 + j];
          tg[r][j] = acc;
        }
      float* d = dw + (k * a.c + c) * 9;
      for (int r = 0; r < 3; ++r)
        for (int q = 0; q < 3; ++q) {
          float acc = 0.f;
          for (int j = 0; j < 6; ++j) acc += tg[r][j] * gm[j][q];
          d[r * 3 + q] += acc;
        }
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
  // Measured per layer, one thread (bench/RESULTS.md, issue 20): 1.3-2.3x faster than the direct
  // kernel from 64 channels at >= 14x14 outputs (ResNet-34 layers 1-3, the FPN's 3x3 at
  // 56/28/14 px, the demo FPN's 3x3 at 24 px). Slower with fewer channels (the transforms cost
  // per tile what 16-32 channels of products do: 0.6-0.7x at 16-32 channels) and on small
  // outputs (6x6 and 3x3 padded to 8x8 and 4x4 tiles: 0.4-0.55x); break-even around 12x12 and
  // 7x7 (1.0-1.07x, within the spread; at 7x7 with C = K = 512 the per-call transform of 2.4M
  // filter taps left the forward 0.95-1.0x and the data gradient 1.1x).
  return s.c >= 64 && s.k >= 64 && s.p * s.q >= 14 * 14;
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

bool conv2d_winograd_filter_grad_pays(const Conv2dShape& s) {
  // Measured per layer, one thread (bench/RESULTS.md, issue 20): 1.1-2.2x faster than the
  // direct kernel at >= 24x24 outputs with >= 64 channels (ResNet-34 layers 1-2, the FPN's 3x3
  // at 56 and 28 px, the demo FPN's at 24 px); about even at 14x14 (few tiles per GEMM against
  // a 36 x K x C partial), slower below.
  return s.c >= 64 && s.k >= 64 && s.p * s.q >= 24 * 24;
}

bool conv2d_winograd_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                                     const Conv2dShape& s) {
  const ConvWinograd m = conv_winograd();
  if (m == ConvWinograd::Off || !applies(s) ||
      (m == ConvWinograd::Auto && !conv2d_winograd_filter_grad_pays(s)))
    return false;
  WinoArgs a;
  a.x = x, a.dy = dy;
  a.n = s.n, a.c = s.c, a.k = s.k, a.h = s.h, a.w = s.w, a.p = s.p, a.q = s.q;
  a.ph = s.ph, a.pw = s.pw;
  run_filter_grad(ctx, a, dw);
  return true;
}

}  // namespace gbad::cpu
