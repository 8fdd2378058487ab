// Direct convolution for the float fast path: no im2col. Why: at the demo model's sizes the
// im2col + SGEMM path spent about 30% of a step copying columns (each input value copied R*S
// times) and its GEMMs were small and oddly shaped. Here the input is transposed once into a
// zero-padded channels-last image (N, H + 2ph, W + 2pw, C) (one pass), the filters are repacked
// to [K/KB][r][s][c][KB], and a register-blocked micro-kernel accumulates a tile of KB output
// channels x PX output pixels over the taps and input channels: per input channel it loads KB
// filter values as vectors and broadcasts one input value per pixel (one FMA per vector).
// The tile's pixels are consecutive flat output positions over (n, oh, ow), so the 3x3 and
// 6x6 outputs of late layers fill tiles from several images. The epilogue (scale, shift,
// residual, ReLU; see ConvEpilogue) is applied while the tile is written back to NCHW.
// Every output element is one fixed sequence of FMAs whatever the thread split, so results do
// not depend on the thread count (they do depend on the instruction set: FMA vs multiply-add).
// Variants: AVX-512 (16 lanes), AVX2 + FMA (8 lanes), portable GCC vectors (4 lanes, no FMA),
// chosen at run time (__builtin_cpu_supports); no -m flags in the build, the wide variants are
// compiled with target pragmas around internal-linkage code only.
// The readable specification stays the templated reference in kernels/cpu/conv2d.cpp; tests
// FastPath.Direct* compare each variant with its double-precision instance.
#include "kernels/cpu/conv2d_direct.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#define GBAD_DIRECT_X86 1
#include <immintrin.h>
#endif

namespace gbad::cpu {

namespace {

// Everything the micro-kernel reads, one struct so the per-ISA code has one signature.
struct DirectArgs {
  const float* xh = nullptr;   // padded channels-last input (N, hp, wp, C)
  const float* wpk = nullptr;  // packed filters [K/KB][R][S][C][KB]
  float* y = nullptr;          // output (N, K, P, Q)
  const float* scale = nullptr;
  const float* shift = nullptr;
  const float* residual = nullptr;
  bool relu = false;
  int64_t n = 0, c = 0, k = 0, r = 0, s = 0, p = 0, q = 0;
  int64_t hp = 0, wp = 0, row = 0;  // row = wp * C
  int64_t sh = 1, sw = 1;
  int kv = 1, px = 1;  // tile: kv vectors of output channels x px pixels (or px (s, c) pairs)
  // Filter gradient only: dy channels-last (N*P*Q, kp), kp = K rounded up to the channel
  // block; the items' accumulator tiles.
  const float* dyh = nullptr;
  int64_t kp = 0;
  float* acc = nullptr;
};

// Output pixels per block of the filter-gradient kernel.
constexpr int64_t kDwBlock = 128;

}  // namespace

#ifdef GBAD_DIRECT_X86
// ---- AVX-512: 32 vector registers; up to 4 x 6 accumulators ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,fma")
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which -Wmaybe-uninitialized
// reports once inlined here (a false positive: every lane is written).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace direct_avx512 {
namespace {
constexpr int VW = 16;
#define GBAD_DIRECT_FMA(a, b, c) ((vf)_mm512_fmadd_ps((__m512)(a), (__m512)(b), (__m512)(c)))
#define GBAD_DIRECT_BCAST(x) ((vf)_mm512_set1_ps(x))
#define GBAD_DIRECT_AVX512_EPILOGUE 1
#define GBAD_DIRECT_CONFIGS(X) X(1, 12) X(1, 16) X(2, 12) X(4, 6)
#include "kernels/cpu/conv2d_direct_kernel.inc"
#undef GBAD_DIRECT_CONFIGS
#undef GBAD_DIRECT_FMA
#undef GBAD_DIRECT_BCAST
#undef GBAD_DIRECT_AVX512_EPILOGUE
}  // namespace
void forward_tiles(const DirectArgs& a, int64_t kb, int64_t t0, int64_t t1) {
  direct_forward_tiles(a, kb, t0, t1);
}
void dw_items(const DirectArgs& a, int64_t i0, int64_t i1) {
  direct_dw_items(a, i0, i1);
}
void pack(float* dst, const float* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
          int64_t wp, int64_t ldc) {
  pack_image(dst, x, C, H, W, ph, pw, wp, ldc);
}
}  // namespace direct_avx512
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

// ---- AVX2 + FMA: 16 vector registers; up to 2 x 6 accumulators ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
namespace direct_avx2 {
namespace {
constexpr int VW = 8;
#define GBAD_DIRECT_FMA(a, b, c) ((vf)_mm256_fmadd_ps((__m256)(a), (__m256)(b), (__m256)(c)))
#define GBAD_DIRECT_BCAST(x) ((vf)_mm256_set1_ps(x))
#define GBAD_DIRECT_CONFIGS(X) X(1, 12) X(2, 6)
#include "kernels/cpu/conv2d_direct_kernel.inc"
#undef GBAD_DIRECT_CONFIGS
#undef GBAD_DIRECT_FMA
#undef GBAD_DIRECT_BCAST
}  // namespace
void forward_tiles(const DirectArgs& a, int64_t kb, int64_t t0, int64_t t1) {
  direct_forward_tiles(a, kb, t0, t1);
}
void dw_items(const DirectArgs& a, int64_t i0, int64_t i1) {
  direct_dw_items(a, i0, i1);
}
void pack(float* dst, const float* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
          int64_t wp, int64_t ldc) {
  pack_image(dst, x, C, H, W, ph, pw, wp, ldc);
}
}  // namespace direct_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // GBAD_DIRECT_X86

// ---- Portable: 4-lane GCC vectors (SSE2 on x86-64), multiply then add ----
namespace direct_portable {
namespace {
constexpr int VW = 4;
#define GBAD_DIRECT_FMA(a, b, c) ((a) * (b) + (c))
#define GBAD_DIRECT_BCAST(x) (vf{x, x, x, x})
#define GBAD_DIRECT_CONFIGS(X) X(1, 8) X(2, 4)
#include "kernels/cpu/conv2d_direct_kernel.inc"
#undef GBAD_DIRECT_CONFIGS
#undef GBAD_DIRECT_FMA
#undef GBAD_DIRECT_BCAST
}  // namespace
void forward_tiles(const DirectArgs& a, int64_t kb, int64_t t0, int64_t t1) {
  direct_forward_tiles(a, kb, t0, t1);
}
void dw_items(const DirectArgs& a, int64_t i0, int64_t i1) {
  direct_dw_items(a, i0, i1);
}
void pack(float* dst, const float* x, int64_t C, int64_t H, int64_t W, int64_t ph, int64_t pw,
          int64_t wp, int64_t ldc) {
  pack_image(dst, x, C, H, W, ph, pw, wp, ldc);
}
}  // namespace direct_portable

namespace {

ConvKernel g_kernel = ConvKernel::Auto;
ConvKernel g_resolved = ConvKernel::Auto;

ConvKernel resolve_auto() {
  // GBAD_CONV_KERNEL=gemm|avx512|avx2|portable overrides the choice (A/B benchmarks); an
  // unsupported or unknown value falls back to the automatic choice.
  if (const char* env = std::getenv("GBAD_CONV_KERNEL")) {
    const std::string v(env);
    for (ConvKernel k :
         {ConvKernel::Gemm, ConvKernel::Avx512, ConvKernel::Avx2, ConvKernel::Portable})
      if (v == conv_kernel_name(k) && conv_kernel_supported(k)) return k;
  }
  if (conv_kernel_supported(ConvKernel::Avx512)) return ConvKernel::Avx512;
  if (conv_kernel_supported(ConvKernel::Avx2)) return ConvKernel::Avx2;
  return ConvKernel::Portable;
}

int vector_width(ConvKernel k) {
  return k == ConvKernel::Avx512 ? 16 : k == ConvKernel::Avx2 ? 8 : 4;
}

// Tile shape (vectors of output channels x pixels) for K output channels; the pairs must be
// among that variant's GBAD_DIRECT_CONFIGS (AVX-512's 1 x 12 serves the filter gradient).
void pick_tile(ConvKernel kern, int64_t k, int* kv, int* px) {
  const int vw = vector_width(kern);
  const int64_t nv = (k + vw - 1) / vw;
  if (kern == ConvKernel::Avx512) {
    if (nv >= 4) {
      *kv = 4, *px = 6;
    } else if (nv >= 2) {
      *kv = 2, *px = 12;
    } else {
      *kv = 1, *px = 16;  // 16 x 16: transposed in registers for the NCHW store
    }
  } else if (kern == ConvKernel::Avx2) {
    if (nv >= 2) {
      *kv = 2, *px = 6;
    } else {
      *kv = 1, *px = 12;
    }
  } else {
    if (nv >= 2) {
      *kv = 2, *px = 4;
    } else {
      *kv = 1, *px = 8;
    }
  }
}

void forward_tiles(ConvKernel kern, const DirectArgs& a, int64_t kb, int64_t t0, int64_t t1) {
  switch (kern) {
#ifdef GBAD_DIRECT_X86
    case ConvKernel::Avx512:
      direct_avx512::forward_tiles(a, kb, t0, t1);
      return;
    case ConvKernel::Avx2:
      direct_avx2::forward_tiles(a, kb, t0, t1);
      return;
#endif
    default:
      direct_portable::forward_tiles(a, kb, t0, t1);
      return;
  }
}

void dw_items(ConvKernel kern, const DirectArgs& a, int64_t i0, int64_t i1) {
  switch (kern) {
#ifdef GBAD_DIRECT_X86
    case ConvKernel::Avx512:
      direct_avx512::dw_items(a, i0, i1);
      return;
    case ConvKernel::Avx2:
      direct_avx2::dw_items(a, i0, i1);
      return;
#endif
    default:
      direct_portable::dw_items(a, i0, i1);
      return;
  }
}

// One image (C, H, W) -> channels-last, pixel (h, w) at dst + ((h + ph) * wp + w + pw) * ldc.
void pack(ConvKernel kern, float* dst, const float* x, int64_t C, int64_t H, int64_t W, int64_t ph,
          int64_t pw, int64_t wp, int64_t ldc) {
  switch (kern) {
#ifdef GBAD_DIRECT_X86
    case ConvKernel::Avx512:
      direct_avx512::pack(dst, x, C, H, W, ph, pw, wp, ldc);
      return;
    case ConvKernel::Avx2:
      direct_avx2::pack(dst, x, C, H, W, ph, pw, wp, ldc);
      return;
#endif
    default:
      direct_portable::pack(dst, x, C, H, W, ph, pw, wp, ldc);
      return;
  }
}

}  // namespace

void set_conv_kernel(ConvKernel k) {
  g_kernel = k;
  g_resolved = ConvKernel::Auto;
}

ConvKernel conv_kernel() {
  if (g_kernel != ConvKernel::Auto && conv_kernel_supported(g_kernel)) return g_kernel;
  if (g_resolved == ConvKernel::Auto) g_resolved = resolve_auto();
  return g_resolved;
}

bool conv_kernel_supported(ConvKernel k) {
  switch (k) {
#ifdef GBAD_DIRECT_X86
    case ConvKernel::Avx512:
      return __builtin_cpu_supports("avx512f");
    case ConvKernel::Avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    case ConvKernel::Portable:
    case ConvKernel::Gemm:
    case ConvKernel::Auto:
      return true;
    default:
      return false;
  }
}

const char* conv_kernel_name(ConvKernel k) {
  switch (k) {
    case ConvKernel::Auto:
      return "auto";
    case ConvKernel::Avx512:
      return "avx512";
    case ConvKernel::Avx2:
      return "avx2";
    case ConvKernel::Portable:
      return "portable";
    case ConvKernel::Gemm:
      return "gemm";
  }
  return "?";
}

namespace {
// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelMacs = 1 << 18;
// Where the direct kernel stops paying (bench/RESULTS.md, "direct convolution", ResNet-34
// layers): a tile streams all R*S*C filter taps of its channel block, which fall out of L2 past
// about 3x3x256 (ResNet-34's layer4, C = 512, ran 0.8x of im2col + SGEMM); the filter gradient's
// per-call tiles and reduction grow with C*K (256 x 512 ran 0.73x; at C = K = 256 the layer ran
// 0.96x but the resnet34-fpn training step, whose FPN 3x3 has 256 channels at 56x56, was 3%
// faster with it).
constexpr int64_t kMaxDirectTaps = 9 * 256;
constexpr int64_t kMaxDirectFilterGradCK = 256 * 256;

float* align64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// NCHW -> zero-padded channels-last (N, hp, wp, C).
void pack_input(float* xh, const float* x, const Conv2dShape& s, const DirectArgs& a, bool par) {
  const int64_t img = a.hp * a.row;
  const ConvKernel kern = conv_kernel();
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < s.n; ++n) {
    float* d = xh + n * img;
    std::fill(d, d + s.ph * a.row, 0.f);
    std::fill(d + (s.ph + s.h) * a.row, d + img, 0.f);
    for (int64_t h = 0; h < s.h; ++h) {
      float* dr = d + (h + s.ph) * a.row;
      std::fill(dr, dr + s.pw * s.c, 0.f);
      std::fill(dr + (s.pw + s.w) * s.c, dr + a.row, 0.f);
    }
    pack(kern, d, x + n * s.c * s.h * s.w, s.c, s.h, s.w, s.ph, s.pw, a.wp, s.c);
  }
}

void set_geometry(DirectArgs& a, const Conv2dShape& s) {
  a.n = s.n, a.c = s.c, a.k = s.k, a.r = s.r, a.s = s.s, a.p = s.p, a.q = s.q;
  a.sh = s.sh, a.sw = s.sw;
  a.hp = s.h + 2 * s.ph, a.wp = s.w + 2 * s.pw, a.row = a.wp * s.c;
}
}  // namespace

namespace {

// The forward convolution of shape s. rotated: w holds the filters of the convolution whose
// data gradient this is, (s.c, s.k, R, S), used as w'[k, c, r, q] = w[c, k, R-1-r, S-1-q].
bool direct_forward(Context& ctx, float* y, const float* x, const float* w, const Conv2dShape& s,
                    const ConvEpilogue& e, bool rotated) {
  const ConvKernel kern = conv_kernel();
  // A 1x1 convolution is a plain GEMM per image in NCHW (no im2col): OpenBLAS was faster there
  // (no transposes), so it stays on the GEMM path.
  if (kern == ConvKernel::Gemm || s.n * s.p * s.q == 0 || s.r * s.s == 1 ||
      s.r * s.s * s.c > kMaxDirectTaps)
    return false;
  DirectArgs a;
  pick_tile(kern, s.k, &a.kv, &a.px);
  const int64_t kb_w = int64_t(a.kv) * vector_width(kern);
  const int64_t nkb = (s.k + kb_w - 1) / kb_w;
  set_geometry(a, s);
  a.y = y, a.scale = e.scale, a.shift = e.shift, a.residual = e.residual, a.relu = e.relu;
  const int64_t img = a.hp * a.wp * s.c, xh_elems = s.n * img;
  const int64_t wpk_elems = nkb * s.r * s.s * s.c * kb_w;
  // 16 floats of slack per buffer to align each to 64 bytes.
  float* ws = static_cast<float*>(ctx.workspace(size_t(xh_elems + wpk_elems + 32) * sizeof(float)));
  float* xh = align64(ws);
  float* wpk = align64(xh + xh_elems);
  a.xh = xh, a.wpk = wpk;
  const int64_t macs = s.n * s.k * s.c * s.r * s.s * s.p * s.q;
  const bool par = macs >= kParallelMacs && omp_get_max_threads() > 1;

  pack_input(xh, x, s, a, par);
  // Filters: (K, C, R, S) -> [K/KB][R][S][C][KB], zero beyond K.
  const int64_t rs = s.r * s.s;
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t kb = 0; kb < nkb; ++kb)
    for (int64_t r = 0; r < s.r; ++r)
      for (int64_t ss = 0; ss < s.s; ++ss)
        for (int64_t c = 0; c < s.c; ++c) {
          float* d = wpk + (((kb * s.r + r) * s.s + ss) * s.c + c) * kb_w;
          const int64_t kn = std::min(kb_w, s.k - kb * kb_w);
          if (rotated) {
            const float* src =
                w + (c * s.k + kb * kb_w) * rs + (s.r - 1 - r) * s.s + (s.s - 1 - ss);
            for (int64_t j = 0; j < kn; ++j) d[j] = src[j * rs];
          } else {
            const float* src = w + ((kb * kb_w) * s.c + c) * rs + r * s.s + ss;
            for (int64_t j = 0; j < kn; ++j) d[j] = src[j * s.c * rs];
          }
          for (int64_t j = kn; j < kb_w; ++j) d[j] = 0.f;
        }

  const int64_t tiles = (s.n * s.p * s.q + a.px - 1) / a.px, total = nkb * tiles;
#pragma omp parallel if (par)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    // A contiguous range of (channel block, tile) items per thread, channel-block major.
    int64_t i = total * t / nt;
    const int64_t hi = total * (t + 1) / nt;
    while (i < hi) {
      const int64_t kb = i / tiles, t0 = i - kb * tiles;
      const int64_t t1 = std::min(tiles, t0 + (hi - i));
      forward_tiles(kern, a, kb, t0, t1);
      i += t1 - t0;
    }
  }
  return true;
}

}  // namespace

bool conv2d_direct_forward(Context& ctx, float* y, const float* x, const float* w,
                           const Conv2dShape& s, const ConvEpilogue& e) {
  return direct_forward(ctx, y, x, w, s, e, false);
}

bool conv2d_direct_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                                   const Conv2dShape& s) {
  const ConvKernel kern = conv_kernel();
  if (kern == ConvKernel::Gemm || s.n * s.p * s.q == 0 || s.r * s.s == 1 ||
      s.r * s.s * s.c > kMaxDirectTaps || s.c * s.k > kMaxDirectFilterGradCK)
    return false;
  DirectArgs a;
  pick_tile(kern, s.k, &a.kv, &a.px);
  // Runs of 12 instead of 16 (s, c) pairs where that wastes fewer slots (the stem's 7 x 3 = 21:
  // 24 instead of 32; 20% faster).
  const int64_t run = s.s * s.c;
  if (kern == ConvKernel::Avx512 && a.kv == 1 && (run + 11) / 12 * 12 < (run + 15) / 16 * 16)
    a.px = 12;
  set_geometry(a, s);
  const int64_t ct = a.px, kb_w = int64_t(a.kv) * vector_width(kern);
  const int64_t nkb = (s.k + kb_w - 1) / kb_w, njb = (s.s * s.c + ct - 1) / ct;
  const int64_t items = s.r * nkb * njb, npq = s.n * s.p * s.q, pq = s.p * s.q;
  a.kp = nkb * kb_w;
  // The last column block reads up to ct - 1 values past a row's end: slack after the image.
  const int64_t img = a.hp * a.row, xh_elems = s.n * img + ct;
  const int64_t dyh_elems = npq * a.kp, acc_elems = items * ct * kb_w;
  float* ws = static_cast<float*>(
      ctx.workspace(size_t(xh_elems + dyh_elems + acc_elems + 48) * sizeof(float)));
  float* xh = align64(ws);
  float* dyh = align64(xh + xh_elems);
  float* acc = align64(dyh + dyh_elems);
  a.xh = xh, a.dyh = dyh, a.acc = acc;
  const bool par = npq * s.k * s.c * s.r * s.s >= kParallelMacs && omp_get_max_threads() > 1;
  pack_input(xh, x, s, a, par);
  std::fill(xh + s.n * img, xh + xh_elems, 0.f);
  // dy: NCHW -> (N*P*Q, kp), zero beyond K.
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < s.n; ++n) {
    float* d = dyh + n * pq * a.kp;
    if (a.kp > s.k)
      for (int64_t i = 0; i < pq; ++i) std::fill(d + i * a.kp + s.k, d + (i + 1) * a.kp, 0.f);
    pack(kern, d, dy + n * s.k * pq, s.k, s.p, s.q, 0, 0, s.q, a.kp);
  }
  std::fill(acc, acc + acc_elems, 0.f);
#pragma omp parallel if (par)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    dw_items(kern, a, items * t / nt, items * (t + 1) / nt);
  }
  // dw[k, c, r, q] += the tile entry of (r, j = q * C + c, k); each thread its own k.
#pragma omp parallel for schedule(static) if (par)
  for (int64_t k = 0; k < s.k; ++k) {
    const int64_t kb = k / kb_w, l = k - kb * kb_w;
    float* d = dw + k * s.c * s.r * s.s;
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t r = 0; r < s.r; ++r)
        for (int64_t q = 0; q < s.s; ++q) {
          const int64_t j = q * s.c + c, jb = j / ct;
          const int64_t item = (r * nkb + kb) * njb + jb;
          *d++ += acc[(item * ct + (j - jb * ct)) * kb_w + l];
        }
  }
  return true;
}

bool conv2d_direct_backward_data(Context& ctx, float* dx, const float* dy, const float* w,
                                 const Conv2dShape& s) {
  if (conv_kernel() == ConvKernel::Gemm || s.sh != 1 || s.sw != 1 || s.ph > s.r - 1 ||
      s.pw > s.s - 1)
    return false;
  // dx[n, c, ih, iw] = sum_{k, r, s} dy[n, k, ih + ph - r, iw + pw - s] w[k, c, r, s]: a
  // stride-1 convolution of dy (padding R-1-ph, S-1-pw) with w'[c, k, r, s] =
  // w[k, c, R-1-r, S-1-s].
  Conv2dShape t;
  t.n = s.n, t.c = s.k, t.h = s.p, t.w = s.q;
  t.k = s.c, t.r = s.r, t.s = s.s;
  t.sh = t.sw = 1;
  t.ph = int(s.r - 1 - s.ph), t.pw = int(s.s - 1 - s.pw);
  t.p = t.h + 2 * t.ph - t.r + 1, t.q = t.w + 2 * t.pw - t.s + 1;
  if (t.p != s.h || t.q != s.w) return false;  // rows/columns no output tap reaches
  return direct_forward(ctx, dx, dy, w, t, ConvEpilogue{}, true);
}

}  // namespace gbad::cpu
