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
  // Filter gradient only: dy channels-last, pixel (n, oh, ow) at ((n * dy_hp + oh + dy_pt) *
  // dy_wp + ow + dy_pl) * kp: its own (N*P*Q, kp) copy (kp = K rounded up to the channel block,
  // zero beyond K) or the data gradient's padded image (kp = K; lanes past K are read but
  // unused); the items' accumulator tiles.
  const float* dyh = nullptr;
  int64_t kp = 0, dy_hp = 0, dy_wp = 0, dy_pt = 0, dy_pl = 0;
  float* acc = nullptr;
  // Output geometry: element (n, k, oh, ow) at y + n * y_img + k * y_plane + oh * y_row + ow *
  // y_col (NCHW of (N, K, P, Q) unless a data gradient's stride phase writes every sh-th row and
  // sw-th column of dx; then no residual or ReLU).
  int64_t y_img = 0, y_plane = 0, y_row = 0, y_col = 1;
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
// Those limits were measured at n = 2 (98 output pixels at layer4), where they still hold
// (9 x 512 taps direct: 0.59-0.95x). With >= kWideMinPixels output pixels per call the packing
// and the tiles' accumulator traffic amortise and layer4 (C = K = 512) ran faster direct at
// n = 8 (392 pixels; filter gradient 1.35x, data gradient 1.19x, forward 1.01x) and n = 32
// (1.14-1.21x): bench/RESULTS.md, 2026-11-30 (night).
constexpr int64_t kWideMinPixels = 256;
constexpr int64_t kMaxDirectTapsWide = 9 * 512;
constexpr int64_t kMaxDirectFilterGradCKWide = 512 * 512;

// Filter taps (R*S*C) within the direct kernel's limit for a call with `pixels` output pixels.
bool taps_ok(int64_t taps, int64_t pixels) {
  return taps <= (pixels >= kWideMinPixels ? kMaxDirectTapsWide : kMaxDirectTaps);
}

float* align64(float* p) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// NCHW (N, C, H, W) -> zero-padded channels-last (N, hp, wp, C), pt rows on top and pl columns
// on the left (hp, wp include the bottom/right padding).
void pack_padded(float* xh, const float* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t pt,
                 int64_t pl, int64_t hp, int64_t wp, bool par) {
  const int64_t row = wp * C, img = hp * row;
  const ConvKernel kern = conv_kernel();
#pragma omp parallel for schedule(static) if (par)
  for (int64_t n = 0; n < N; ++n) {
    float* d = xh + n * img;
    std::fill(d, d + pt * row, 0.f);
    std::fill(d + (pt + H) * row, d + img, 0.f);
    for (int64_t h = 0; h < H; ++h) {
      float* dr = d + (h + pt) * row;
      std::fill(dr, dr + pl * C, 0.f);
      std::fill(dr + (pl + W) * C, dr + row, 0.f);
    }
    pack(kern, d, x + n * C * H * W, C, H, W, pt, pl, wp, C);
  }
}

// NCHW -> zero-padded channels-last (N, hp, wp, C) with the convolution's padding.
void pack_input(float* xh, const float* x, const Conv2dShape& s, const DirectArgs& a, bool par) {
  pack_padded(xh, x, s.n, s.c, s.h, s.w, s.ph, s.pw, a.hp, a.wp, par);
}

void set_geometry(DirectArgs& a, const Conv2dShape& s) {
  a.n = s.n, a.c = s.c, a.k = s.k, a.r = s.r, a.s = s.s, a.p = s.p, a.q = s.q;
  a.sh = s.sh, a.sw = s.sw;
  a.hp = s.h + 2 * s.ph, a.wp = s.w + 2 * s.pw, a.row = a.wp * s.c;
  a.y_img = s.k * s.p * s.q, a.y_plane = s.p * s.q, a.y_row = s.q, a.y_col = 1;
}
}  // namespace

namespace {

// Where filter value w'[k][c][r][q] of the convolution being computed lives: w[off + k * sk +
// c * sc + r * sr + q * sq] (plain, rotated by 180 degrees with K/C swapped for a data
// gradient, or one stride phase's sub-filter of it).
struct FilterMap {
  const float* w;
  int64_t off, sk, sc, sr, sq;
};

// A data gradient's packed dy (zero-padded channels-last (N, hp, wp, K), pt rows on top, pl
// columns on the left) handed to the filter gradient of the same backward call, which needs
// `reserve` floats at the workspace's front (the packed dy lives after them).
struct DyShare {
  int64_t reserve = 0;
  const float* dyh = nullptr;
  int64_t hp = 0, wp = 0, pt = 0, pl = 0;
};

FilterMap plain_filters(const float* w, const Conv2dShape& s) {
  return FilterMap{w, 0, s.c * s.r * s.s, s.r * s.s, s.s, 1};
}

// Filters -> [K/KB][R][S][C][KB] (shape s: the convolution being computed), zero beyond K.
void pack_filters(float* wpk, const FilterMap& f, const Conv2dShape& s, int64_t kb_w, int64_t nkb,
                  bool par) {
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t kb = 0; kb < nkb; ++kb)
    for (int64_t r = 0; r < s.r; ++r)
      for (int64_t ss = 0; ss < s.s; ++ss)
        for (int64_t c = 0; c < s.c; ++c) {
          float* d = wpk + (((kb * s.r + r) * s.s + ss) * s.c + c) * kb_w;
          const int64_t kn = std::min(kb_w, s.k - kb * kb_w);
          const float* src = f.w + f.off + (kb * kb_w) * f.sk + c * f.sc + r * f.sr + ss * f.sq;
          for (int64_t j = 0; j < kn; ++j) d[j] = src[j * f.sk];
          for (int64_t j = kn; j < kb_w; ++j) d[j] = 0.f;
        }
}

// All (channel block, tile) items of a prepared DirectArgs: a contiguous range per thread,
// channel-block major.
void run_tiles(ConvKernel kern, const DirectArgs& a, int64_t nkb, bool par) {
  const int64_t tiles = (a.n * a.p * a.q + a.px - 1) / a.px, total = nkb * tiles;
#pragma omp parallel if (par)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t i = total * t / nt;
    const int64_t hi = total * (t + 1) / nt;
    while (i < hi) {
      const int64_t kb = i / tiles, t0 = i - kb * tiles;
      const int64_t t1 = std::min(tiles, t0 + (hi - i));
      forward_tiles(kern, a, kb, t0, t1);
      i += t1 - t0;
    }
  }
}

bool direct_applies(ConvKernel kern, const Conv2dShape& s) {
  // A 1x1 convolution is a plain GEMM per image in NCHW (no im2col): OpenBLAS was faster there
  // (no transposes), so it stays on the GEMM path.
  return kern != ConvKernel::Gemm && s.n * s.p * s.q > 0 && s.r * s.s > 1 &&
         taps_ok(s.r * s.s * s.c, s.n * s.p * s.q);
}

// The forward convolution of shape s with filters f.
bool direct_forward(Context& ctx, float* y, const float* x, const FilterMap& f,
                    const Conv2dShape& s, const ConvEpilogue& e, DyShare* share = nullptr) {
  const ConvKernel kern = conv_kernel();
  if (!direct_applies(kern, s)) return false;
  DirectArgs a;
  pick_tile(kern, s.k, &a.kv, &a.px);
  const int64_t kb_w = int64_t(a.kv) * vector_width(kern);
  const int64_t nkb = (s.k + kb_w - 1) / kb_w;
  set_geometry(a, s);
  a.y = y, a.scale = e.scale, a.shift = e.shift, a.residual = e.residual, a.relu = e.relu;
  const int64_t img = a.hp * a.wp * s.c, xh_elems = s.n * img;
  const int64_t wpk_elems = nkb * s.r * s.s * s.c * kb_w;
  // 16 floats of slack per buffer to align each to 64 bytes.
  const int64_t front = share ? share->reserve : 0;
  float* ws =
      static_cast<float*>(ctx.workspace(size_t(front + xh_elems + wpk_elems + 32) * sizeof(float)));
  float* xh = align64(ws + front);
  float* wpk = align64(xh + xh_elems);
  a.xh = xh, a.wpk = wpk;
  if (share) *share = DyShare{front, xh, a.hp, a.wp, s.ph, s.pw};
  const int64_t macs = s.n * s.k * s.c * s.r * s.s * s.p * s.q;
  const bool par = macs >= kParallelMacs && omp_get_max_threads() > 1;
  pack_input(xh, x, s, a, par);
  pack_filters(wpk, f, s, kb_w, nkb, par);
  run_tiles(kern, a, nkb, par);
  return true;
}

// One stride phase of a strided convolution's data gradient, along one axis: the input rows
// ih = stride * i + phase, i < out, take the filter taps r = r0 + stride * t, t < taps, from dy
// row i - pad + (taps - 1 - t) (a stride-1 correlation of dy with the reversed sub-filter).
struct Phase {
  int64_t out = 0, r0 = 0, taps = 0, pad = 0;
};

Phase stride_phase(int64_t size, int64_t stride, int64_t pad, int64_t filter, int64_t phase) {
  Phase f;
  f.out = phase < size ? (size - phase + stride - 1) / stride : 0;
  f.r0 = (phase + pad) % stride;
  f.taps = f.r0 < filter ? (filter - f.r0 + stride - 1) / stride : 0;
  const int64_t d = (phase + pad - f.r0) / stride;  // dy row of tap t = 0 is i + d
  f.pad = f.taps - 1 - d;
  return f;
}

// dx of a strided convolution: per stride phase (a, b), dx[:, :, sh*i + a, sw*j + b] is a
// stride-1 direct convolution of dy with a sub-filter of the rotated filters. dy is packed once
// (padded for every phase) and each phase's tiles are stored straight into their rows and
// columns of dx (scattered when sw > 1); no column matrix, no col2im. Returns false when a phase is
// past the direct kernel's limits.
bool direct_backward_data_strided(Context& ctx, float* dx, const float* dy, const float* w,
                                  const Conv2dShape& s, DyShare* share) {
  const ConvKernel kern = conv_kernel();
  if (kern == ConvKernel::Gemm || s.r * s.s == 1 || s.n * s.p * s.q == 0) return false;
  std::vector<Phase> ph(size_t(s.sh)), pw(size_t(s.sw));
  int64_t pt = 0, pb = 0, pl = 0, pr = 0, max_taps = 0;
  for (int64_t a = 0; a < s.sh; ++a) {
    Phase& f = ph[size_t(a)];
    f = stride_phase(s.h, s.sh, s.ph, s.r, a);
    if (f.taps == 0 || f.out == 0) continue;
    pt = std::max(pt, f.pad);
    pb = std::max(pb, f.out - 1 - f.pad + f.taps - 1 - (s.p - 1));
  }
  for (int64_t b = 0; b < s.sw; ++b) {
    Phase& f = pw[size_t(b)];
    f = stride_phase(s.w, s.sw, s.pw, s.s, b);
    if (f.taps == 0 || f.out == 0) continue;
    pl = std::max(pl, f.pad);
    pr = std::max(pr, f.out - 1 - f.pad + f.taps - 1 - (s.q - 1));
  }
  int64_t sum_taps = 0;
  for (const Phase& a : ph)
    for (const Phase& b : pw) {
      max_taps = std::max(max_taps, a.taps * b.taps);
      sum_taps += a.taps * b.taps;
    }
  if (!taps_ok(max_taps * s.k, s.n * (s.h / s.sh) * (s.w / s.sw))) return false;
  // Tiles over the phase's output channels (= the convolution's input channels C).
  DirectArgs a;
  pick_tile(kern, s.c, &a.kv, &a.px);
  // The scattered stores cost about as much per tile as a 1-tap phase's FMAs: AVX-512's 2 x 12
  // tile stores half as many channel vectors per FMA as its 4 x 6.
  if (kern == ConvKernel::Avx512 && a.kv == 4) a.kv = 2, a.px = 12;
  const int64_t kb_w = int64_t(a.kv) * vector_width(kern);
  const int64_t nkb = (s.c + kb_w - 1) / kb_w;
  const int64_t hp = s.p + pt + pb, wp = s.q + pl + pr;
  const int64_t xh_elems = s.n * hp * wp * s.k, wpk_elems = nkb * sum_taps * s.k * kb_w;
  const int64_t front = share ? share->reserve : 0;
  float* ws =
      static_cast<float*>(ctx.workspace(size_t(front + xh_elems + wpk_elems + 32) * sizeof(float)));
  float* xh = align64(ws + front);
  float* wpk = align64(xh + xh_elems);
  const int64_t macs = s.n * s.k * s.c * s.r * s.s * s.p * s.q;
  const bool par = macs >= kParallelMacs && omp_get_max_threads() > 1;
  pack_padded(xh, dy, s.n, s.k, s.p, s.q, pt, pl, hp, wp, par);
  if (share) *share = DyShare{front, xh, hp, wp, pt, pl};
  const int64_t hw = s.h * s.w;
  // Every phase's arguments and packed sub-filters.
  std::vector<DirectArgs> phases;
  float* wnext = wpk;
  for (int64_t pa = 0; pa < s.sh; ++pa) {
    for (int64_t pbi = 0; pbi < s.sw; ++pbi) {
      const Phase& fh = ph[size_t(pa)];
      const Phase& fw = pw[size_t(pbi)];
      const int64_t oh = fh.out, ow = fw.out;
      if (oh == 0 || ow == 0) continue;
      float* y0 = dx + pa * s.w + pbi;  // the phase's first element of image 0, channel 0
      if (fh.taps == 0 || fw.taps == 0) {
        // No filter tap reaches these rows/columns: zero gradient.
#pragma omp parallel for schedule(static) if (par)
        for (int64_t nc = 0; nc < s.n * s.c; ++nc)
          for (int64_t i = 0; i < oh; ++i)
            for (int64_t j = 0; j < ow; ++j) y0[nc * hw + i * s.sh * s.w + j * s.sw] = 0.f;
        continue;
      }
      Conv2dShape t;  // the phase's stride-1 convolution of dy
      t.n = s.n, t.c = s.k, t.h = s.p, t.w = s.q, t.k = s.c;
      t.r = fh.taps, t.s = fw.taps, t.sh = t.sw = 1, t.p = oh, t.q = ow;
      // w'[c][k][t'][u'] = w[k][c][r0 + sh (taps-1-t')][s0 + sw (taps-1-u')]
      const FilterMap f{
          w,           (fh.r0 + s.sh * (fh.taps - 1)) * s.s + fw.r0 + s.sw * (fw.taps - 1),
          s.r * s.s,   s.c * s.r * s.s,
          -s.sh * s.s, -s.sw};
      pack_filters(wnext, f, t, kb_w, nkb, par);
      DirectArgs pa_args = a;
      set_geometry(pa_args, t);
      pa_args.hp = hp, pa_args.wp = wp, pa_args.row = wp * s.k;
      pa_args.xh = xh + ((pt - fh.pad) * wp + (pl - fw.pad)) * s.k;
      pa_args.wpk = wnext;
      pa_args.y = y0;
      pa_args.y_img = s.c * hw, pa_args.y_plane = hw, pa_args.y_row = s.sh * s.w;
      pa_args.y_col = s.sw;
      phases.push_back(pa_args);
      wnext += nkb * t.r * t.s * s.k * kb_w;
    }
  }
  if (phases.empty()) return true;
  // Items (channel block, chunk of tiles): a chunk covers the same stretch of (n, row) in every
  // phase, so the phases' interleaved stores meet in cache instead of each phase streaming all
  // of dx. A contiguous range of items per thread; each element is still one fixed FMA chain.
  std::vector<int64_t> tiles(phases.size());
  int64_t max_tiles = 0;
  for (size_t i = 0; i < phases.size(); ++i) {
    tiles[i] = (phases[i].n * phases[i].p * phases[i].q + a.px - 1) / a.px;
    max_tiles = std::max(max_tiles, tiles[i]);
  }
  constexpr int64_t kChunkTiles = 16;
  const int64_t chunks = (max_tiles + kChunkTiles - 1) / kChunkTiles, total = nkb * chunks;
#pragma omp parallel if (par)
  {
    const int64_t nt = omp_get_num_threads(), th = omp_get_thread_num();
    for (int64_t i = total * th / nt; i < total * (th + 1) / nt; ++i) {
      const int64_t kb = i / chunks, ch = i - kb * chunks;
      const int64_t c0 = ch * kChunkTiles, c1 = std::min(max_tiles, c0 + kChunkTiles);
      for (size_t q = 0; q < phases.size(); ++q) {
        const int64_t t0 = c0 * tiles[q] / max_tiles, t1 = c1 * tiles[q] / max_tiles;
        if (t1 > t0) forward_tiles(kern, phases[q], kb, t0, t1);
      }
    }
  }
  return true;
}

}  // namespace

bool conv2d_direct_forward(Context& ctx, float* y, const float* x, const float* w,
                           const Conv2dShape& s, const ConvEpilogue& e) {
  return direct_forward(ctx, y, x, plain_filters(w, s), s, e);
}

namespace {

// The filter gradient's tiles and workspace for shape s.
struct DwPlan {
  DirectArgs a;
  int64_t ct = 0, kb_w = 0, nkb = 0, njb = 0, items = 0, img = 0, xh_elems = 0, acc_elems = 0;
  // Floats of workspace besides dy's channels-last copy (16 of slack per buffer for alignment).
  int64_t front() const { return xh_elems + acc_elems + 32; }
};

bool dw_plan(const Conv2dShape& s, DwPlan* pl) {
  const ConvKernel kern = conv_kernel();
  if (kern == ConvKernel::Gemm || s.n * s.p * s.q == 0 || s.r * s.s == 1 ||
      !taps_ok(s.r * s.s * s.c, s.n * s.p * s.q) ||
      s.c * s.k >
          (s.n * s.p * s.q >= kWideMinPixels ? kMaxDirectFilterGradCKWide : kMaxDirectFilterGradCK))
    return false;
  DirectArgs& a = pl->a;
  pick_tile(kern, s.k, &a.kv, &a.px);
  // Runs of 12 instead of 16 (s, c) pairs where that wastes fewer slots (the stem's 7 x 3 = 21:
  // 24 instead of 32; 20% faster).
  const int64_t run = s.s * s.c;
  if (kern == ConvKernel::Avx512 && a.kv == 1 && (run + 11) / 12 * 12 < (run + 15) / 16 * 16)
    a.px = 12;
  set_geometry(a, s);
  pl->ct = a.px, pl->kb_w = int64_t(a.kv) * vector_width(kern);
  pl->nkb = (s.k + pl->kb_w - 1) / pl->kb_w, pl->njb = (s.s * s.c + pl->ct - 1) / pl->ct;
  pl->items = s.r * pl->nkb * pl->njb;
  // The last column block reads up to ct - 1 values past a row's end: slack after the image.
  pl->img = a.hp * a.row, pl->xh_elems = s.n * pl->img + pl->ct;
  pl->acc_elems = pl->items * pl->ct * pl->kb_w;
  return true;
}

// dw += the filter gradient; dy packed here, or taken from the data gradient's share.
void direct_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                            const Conv2dShape& s, DwPlan& pl, const DyShare* share) {
  const ConvKernel kern = conv_kernel();
  DirectArgs& a = pl.a;
  const int64_t ct = pl.ct, kb_w = pl.kb_w, nkb = pl.nkb, njb = pl.njb, items = pl.items;
  const int64_t npq = s.n * s.p * s.q, pq = s.p * s.q;
  const int64_t kp = nkb * kb_w, dyh_elems = share ? 0 : npq * kp;
  // With a share the workspace is already larger than pl.front(): the same buffer comes back.
  float* ws = static_cast<float*>(
      ctx.workspace(size_t(share ? share->reserve : pl.front() + dyh_elems + 16) * sizeof(float)));
  float* xh = align64(ws);
  float* acc = align64(xh + pl.xh_elems);
  a.xh = xh, a.acc = acc;
  const bool par = npq * s.k * s.c * s.r * s.s >= kParallelMacs && omp_get_max_threads() > 1;
  pack_input(xh, x, s, a, par);
  std::fill(xh + s.n * pl.img, xh + pl.xh_elems, 0.f);
  if (share) {
    a.dyh = share->dyh, a.kp = s.k;
    a.dy_hp = share->hp, a.dy_wp = share->wp, a.dy_pt = share->pt, a.dy_pl = share->pl;
  } else {
    float* dyh = align64(acc + pl.acc_elems);
    a.dyh = dyh, a.kp = kp, a.dy_hp = s.p, a.dy_wp = s.q, a.dy_pt = 0, a.dy_pl = 0;
    // dy: NCHW -> (N*P*Q, kp), zero beyond K.
#pragma omp parallel for schedule(static) if (par)
    for (int64_t n = 0; n < s.n; ++n) {
      float* d = dyh + n * pq * kp;
      if (kp > s.k)
        for (int64_t i = 0; i < pq; ++i) std::fill(d + i * kp + s.k, d + (i + 1) * kp, 0.f);
      pack(kern, d, dy + n * s.k * pq, s.k, s.p, s.q, 0, 0, s.q, kp);
    }
  }
  std::fill(acc, acc + pl.acc_elems, 0.f);
#pragma omp parallel if (par)
  {
    const int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
    dw_items(kern, a, items * t / nt, items * (t + 1) / nt);
  }
  // dw[k, c, r, q] += the tile entry of (r, j = q * C + c, k), per (channel block, input
  // channel): the R*S accumulator rows are read once and each filter's R*S taps written together.
  // Each element is written by one thread.
  const int64_t rs = s.r * s.s;
#pragma omp parallel for collapse(2) schedule(static) if (par)
  for (int64_t kb = 0; kb < nkb; ++kb)
    for (int64_t c = 0; c < s.c; ++c) {
      const int64_t kn = std::min(kb_w, s.k - kb * kb_w);
      const float* rows[64];  // R*S <= 49 taps handled here (7x7); larger filters loop below
      const int64_t nr = std::min<int64_t>(rs, 64);
      for (int64_t t = 0; t < nr; ++t) {
        const int64_t r = t / s.s, q = t - r * s.s;
        const int64_t j = q * s.c + c, jb = j / ct;
        const int64_t item = (r * nkb + kb) * njb + jb;
        rows[t] = acc + (item * ct + (j - jb * ct)) * kb_w;
      }
      for (int64_t l = 0; l < kn; ++l) {
        float* d = dw + ((kb * kb_w + l) * s.c + c) * rs;
        for (int64_t t = 0; t < nr; ++t) d[t] += rows[t][l];
        for (int64_t t = nr; t < rs; ++t) {
          const int64_t r = t / s.s, q = t - r * s.s;
          const int64_t j = q * s.c + c, jb = j / ct;
          const int64_t item = (r * nkb + kb) * njb + jb;
          d[t] += acc[(item * ct + (j - jb * ct)) * kb_w + l];
        }
      }
    }
}

bool backward_data(Context& ctx, float* dx, const float* dy, const float* w, const Conv2dShape& s,
                   DyShare* share) {
  if (conv_kernel() == ConvKernel::Gemm) return false;
  if (s.sh != 1 || s.sw != 1) return direct_backward_data_strided(ctx, dx, dy, w, s, share);
  if (s.ph > s.r - 1 || s.pw > s.s - 1) return false;
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
  const FilterMap rotated{w, (s.r - 1) * s.s + (s.s - 1), s.r * s.s, s.c * s.r * s.s, -s.s, -1};
  return direct_forward(ctx, dx, dy, rotated, t, ConvEpilogue{}, share);
}

}  // namespace

bool conv2d_direct_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                                   const Conv2dShape& s) {
  DwPlan pl;
  if (!dw_plan(s, &pl)) return false;
  direct_backward_filter(ctx, dw, dy, x, s, pl, nullptr);
  return true;
}

bool conv2d_direct_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x,
                            const float* w, const Conv2dShape& s) {
  DwPlan pl;
  if (!dw_plan(s, &pl)) return false;
  DyShare share;
  share.reserve = pl.front();
  if (!backward_data(ctx, dx, dy, w, s, &share)) return false;
  direct_backward_filter(ctx, dw, dy, x, s, pl, &share);
  return true;
}

bool conv2d_direct_backward_data(Context& ctx, float* dx, const float* dy, const float* w,
                                 const Conv2dShape& s) {
  return backward_data(ctx, dx, dy, w, s, nullptr);
}

}  // namespace gbad::cpu
