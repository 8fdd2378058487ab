// CPU convolution reference: im2col + GEMM, one image at a time (a (C*R*S, P*Q) column buffer
// per image keeps the scratch small; each GEMM is still large enough for OpenBLAS to run near
// its peak). OpenMP parallelises im2col/col2im; the GEMMs are called outside any parallel
// region because OpenBLAS threads itself. The dispatchers (argument checks) and the shape
// helpers are in kernels/conv2d.cpp.
#include "kernels/conv2d.h"
#include "core/check.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/gemm.h"

namespace gbad {

namespace cpu {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;

int64_t conv2d_col_elems(const Conv2dShape& s) {
  return s.is_pointwise() ? 0 : s.c * s.r * s.s * s.p * s.q;
}

// Output columns [lo, hi) whose input column ow*stride - pad + k lies inside [0, size): the
// inner loops then run without bounds tests (and vectorise for stride 1).
void valid_range(int64_t out, int64_t size, int stride, int pad, int64_t k, int64_t* lo,
                 int64_t* hi) {
  const int64_t first = pad - k;  // ow * stride >= first
  *lo = first <= 0 ? 0 : std::min(out, (first + stride - 1) / stride);
  const int64_t last = size - 1 + pad - k;  // ow * stride <= last
  *hi = last < 0 ? 0 : std::min(out, last / stride + 1);
  if (*hi < *lo) *hi = *lo;
}

template <typename T>
void im2col(T* col, const T* x, const Conv2dShape& s) {
  const int64_t rows = s.c * s.r * s.s, pq = s.p * s.q;
#pragma omp parallel for schedule(static) if (rows * pq >= kParallelMin)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t c = row / (s.r * s.s), kr = (row / s.s) % s.r, ks = row % s.s;
    int64_t lo, hi;
    valid_range(s.q, s.w, s.sw, s.pw, ks, &lo, &hi);
    const T* xc = x + c * s.h * s.w;
    T* dst = col + row * pq;
    for (int64_t oh = 0; oh < s.p; ++oh) {
      T* d = dst + oh * s.q;
      const int64_t ih = oh * s.sh - s.ph + kr;
      if (ih < 0 || ih >= s.h) {
        std::fill(d, d + s.q, T(0));
        continue;
      }
      const T* src = xc + ih * s.w + lo * s.sw - s.pw + ks;  // input of output column lo
      std::fill(d, d + lo, T(0));
      if (s.sw == 1) {
        std::copy(src, src + (hi - lo), d + lo);
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[(ow - lo) * s.sw];
      }
      std::fill(d + hi, d + s.q, T(0));
    }
  }
}

template <typename T>
void col2im(T* x, const T* col, const Conv2dShape& s) {
  const int64_t pq = s.p * s.q;
  // One channel plane per thread: no two threads write the same element.
#pragma omp parallel for schedule(static) if (s.c * s.r * s.s * pq >= kParallelMin)
  for (int64_t c = 0; c < s.c; ++c) {
    T* xc = x + c * s.h * s.w;
    std::fill(xc, xc + s.h * s.w, T(0));
    for (int64_t kr = 0; kr < s.r; ++kr) {
      for (int64_t ks = 0; ks < s.s; ++ks) {
        int64_t lo, hi;
        valid_range(s.q, s.w, s.sw, s.pw, ks, &lo, &hi);
        const T* src = col + ((c * s.r + kr) * s.s + ks) * pq;
        for (int64_t oh = 0; oh < s.p; ++oh) {
          const int64_t ih = oh * s.sh - s.ph + kr;
          if (ih < 0 || ih >= s.h) continue;
          T* xr = xc + ih * s.w + lo * s.sw - s.pw + ks;  // input of output column lo
          const T* d = src + oh * s.q;
          if (s.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow - lo] += d[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) xr[(ow - lo) * s.sw] += d[ow];
          }
        }
      }
    }
  }
}

template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s, T* col) {
  const int64_t crs = s.c * s.r * s.s, pq = s.p * s.q, chw = s.c * s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n) {
    T* yn = y + n * s.k * pq;
    if (bias) {
#pragma omp parallel for schedule(static) if (s.k * pq >= kParallelMin)
      for (int64_t k = 0; k < s.k; ++k) std::fill(yn + k * pq, yn + (k + 1) * pq, bias[k]);
    }
    const T* b = x + n * chw;
    if (!s.is_pointwise()) {
      im2col(col, b, s);
      b = col;
    }
    // y_n (K, PQ) = W (K, CRS) col (CRS, PQ) [+ bias]
    gemm<T>(false, false, s.k, pq, crs, T(1), w, crs, b, pq, bias ? T(1) : T(0), yn, pq);
  }
}

template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dShape& s,
                     T* col) {
  const int64_t crs = s.c * s.r * s.s, pq = s.p * s.q, chw = s.c * s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n) {
    const T* dyn = dy + n * s.k * pq;
    if (dw) {
      const T* b = x + n * chw;
      if (!s.is_pointwise()) {
        im2col(col, b, s);
        b = col;
      }
      // dW (K, CRS) += dy_n (K, PQ) col^T (PQ, CRS)
      gemm<T>(false, true, s.k, crs, pq, T(1), dyn, pq, b, pq, T(1), dw, crs);
    }
    if (dx) {
      T* dxn = dx + n * chw;
      // dcol (CRS, PQ) = W^T (CRS, K) dy_n (K, PQ); a pointwise conv writes dx directly.
      T* dcol = s.is_pointwise() ? dxn : col;
      gemm<T>(true, false, crs, pq, s.k, T(1), w, crs, dyn, pq, T(0), dcol, pq);
      if (!s.is_pointwise()) col2im(dxn, dcol, s);
    }
  }
  if (db) {
#pragma omp parallel for schedule(static) if (s.n * s.k * pq >= kParallelMin)
    for (int64_t k = 0; k < s.k; ++k) {
      T acc = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const T* p = dy + (n * s.k + k) * pq;
        for (int64_t i = 0; i < pq; ++i) acc += p[i];
      }
      db[k] += acc;
    }
  }
}

#define GBAD_INSTANTIATE_CONV(T)                                                                 \
  template void im2col<T>(T*, const T*, const Conv2dShape&);                                     \
  template void col2im<T>(T*, const T*, const Conv2dShape&);                                     \
  template void conv2d_forward<T>(T*, const T*, const T*, const T*, const Conv2dShape&, T*);     \
  template void conv2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const Conv2dShape&, \
                                   T*);
GBAD_INSTANTIATE_CONV(float)
GBAD_INSTANTIATE_CONV(double)
#undef GBAD_INSTANTIATE_CONV

// ---- Fast float path: what the layers call ---------------------------------------------------
// The same arithmetic as the reference above (im2col + SGEMM with fp32 accumulation), arranged
// for speed; tests FastPath.* check it against the double-precision reference.
// 1. Batch parallel: each OpenMP thread takes a contiguous range of images and calls
//    single-threaded SGEMM (blas_single_threaded()); OpenBLAS's own threads scaled poorly on
//    these small GEMMs and their busy-waiting competed with ours. Filter gradients are summed
//    from per-thread partials in thread order: deterministic for a given thread count.
// 2. Column groups: late layers are tiny per image (3x3 outputs at 96 px), and a GEMM with 9
//    columns is mostly OpenBLAS packing overhead. A thread therefore puts nb images side by
//    side in one column buffer (CRS, nb*PQ), so that one GEMM sees >= kGroupCols columns, and
//    copies the (K, nb*PQ) result back to NCHW; the epilogue (bias, folded BatchNorm, residual,
//    ReLU) is fused into that copy (or applied in place when nb = 1).
// 3. im2col/col2im with inline loops: rows are 3..48 floats at 96 px, where the memset/memcpy
//    calls of the reference cost more than the copies themselves.
namespace {

// Enough GEMM columns to amortise packing; one group's column buffer stays near L2 size.
constexpr int64_t kGroupCols = 512;
// Fixed image groups of the filter-gradient reduction (see conv2d_backward_fast).
constexpr int64_t kDwGroups = 8;

int batch_threads(const Conv2dShape& s) {
  int t = omp_get_max_threads();
  if (s.n < 2 || t < 2) return 1;
  return static_cast<int>(std::min<int64_t>(t, s.n));
}

// Images per GEMM for a thread that owns `per_thread` images.
int64_t group_images(const Conv2dShape& s, int64_t per_thread) {
  const int64_t pq = s.p * s.q;
  return std::max<int64_t>(1, std::min(per_thread, (kGroupCols + pq - 1) / pq));
}

// Keep GCC from turning the short copy/fill loops back into memcpy/memset calls.
#if defined(__GNUC__) && !defined(__clang__)
#define GBAD_INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define GBAD_INLINE_LOOPS
#endif

// Stride 1 with Q == W (the "same" width of a 3x3 pad-1 convolution): row (c, kr, ks) of the
// column matrix is the input plane shifted by (kr - ph) * W + (ks - pw), i.e. one long copy
// instead of P short ones. The long copy wraps around at the left/right edges and past the
// top/bottom rows; `clear_outside` zeroes exactly those entries.
bool flat_shift(const Conv2dShape& s) {
  return s.sh == 1 && s.sw == 1 && s.q == s.w;
}

GBAD_INLINE_LOOPS void clear_outside(float* d, const Conv2dShape& s, int64_t kr, int64_t ks) {
  // Output rows whose input row lies outside the image: [0, top) and [bottom, P).
  const int64_t top = std::min(s.p, std::max<int64_t>(0, s.ph - kr));
  const int64_t bottom = std::max(top, std::min(s.p, s.h + s.ph - kr));
  for (int64_t i = 0; i < top * s.q; ++i) d[i] = 0.f;
  for (int64_t i = bottom * s.q; i < s.p * s.q; ++i) d[i] = 0.f;
  // Output columns whose input column lies outside: [0, lo) and [hi, Q) of the other rows.
  int64_t lo, hi;
  valid_range(s.q, s.w, 1, s.pw, ks, &lo, &hi);
  if (lo == 0 && hi == s.q) return;
  for (int64_t oh = top; oh < bottom; ++oh) {
    float* r = d + oh * s.q;
    for (int64_t ow = 0; ow < lo; ++ow) r[ow] = 0.f;
    for (int64_t ow = hi; ow < s.q; ++ow) r[ow] = 0.f;
  }
}

// The flat range [a, b) of output positions i whose shifted input index i + shift lies in the
// plane.
void shift_range(const Conv2dShape& s, int64_t shift, int64_t* a, int64_t* b) {
  const int64_t pq = s.p * s.q, hw = s.h * s.w;
  *a = std::min(pq, std::max<int64_t>(0, -shift));
  *b = std::max(*a, std::min(pq, hw - shift));
}

// im2col of one image into columns [0, P*Q) of a buffer with row stride `ld`.
GBAD_INLINE_LOOPS void im2col_fast(float* col, int64_t ld, const float* x, const Conv2dShape& s) {
  const int64_t rows = s.c * s.r * s.s, pq = s.p * s.q;
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t c = row / (s.r * s.s), kr = (row / s.s) % s.r, ks = row % s.s;
    const float* xc = x + c * s.h * s.w;
    float* dst = col + row * ld;
    if (flat_shift(s)) {
      const int64_t shift = (kr - s.ph) * s.w + (ks - s.pw);
      int64_t a, b;
      shift_range(s, shift, &a, &b);
      for (int64_t i = 0; i < a; ++i) dst[i] = 0.f;
      for (int64_t i = a; i < b; ++i) dst[i] = xc[i + shift];
      for (int64_t i = b; i < pq; ++i) dst[i] = 0.f;
      clear_outside(dst, s, kr, ks);
      continue;
    }
    int64_t lo, hi;
    valid_range(s.q, s.w, s.sw, s.pw, ks, &lo, &hi);
    for (int64_t oh = 0; oh < s.p; ++oh) {
      float* d = dst + oh * s.q;
      const int64_t ih = oh * s.sh - s.ph + kr;
      if (ih < 0 || ih >= s.h) {
        for (int64_t ow = 0; ow < s.q; ++ow) d[ow] = 0.f;
        continue;
      }
      const float* src = xc + ih * s.w - s.pw + ks;  // input of output column 0
      for (int64_t ow = 0; ow < lo; ++ow) d[ow] = 0.f;
      if (s.sw == 1) {
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow];
      } else if (s.sw == 2) {
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[2 * ow];
      } else {
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * s.sw];
      }
      for (int64_t ow = hi; ow < s.q; ++ow) d[ow] = 0.f;
    }
  }
}

// col2im of columns [0, P*Q) of a buffer with row stride `ld` into one image (overwritten).
// `col` is scratch: the flat-shift case zeroes its entries that fall outside the image.
GBAD_INLINE_LOOPS void col2im_fast(float* x, float* col, int64_t ld, const Conv2dShape& s) {
  for (int64_t c = 0; c < s.c; ++c) {
    float* xc = x + c * s.h * s.w;
    for (int64_t i = 0; i < s.h * s.w; ++i) xc[i] = 0.f;
    for (int64_t kr = 0; kr < s.r; ++kr) {
      for (int64_t ks = 0; ks < s.s; ++ks) {
        float* src = col + ((c * s.r + kr) * s.s + ks) * ld;
        if (flat_shift(s)) {
          const int64_t shift = (kr - s.ph) * s.w + (ks - s.pw);
          int64_t a, b;
          shift_range(s, shift, &a, &b);
          clear_outside(src, s, kr, ks);
          for (int64_t i = a; i < b; ++i) xc[i + shift] += src[i];
          continue;
        }
        int64_t lo, hi;
        valid_range(s.q, s.w, s.sw, s.pw, ks, &lo, &hi);
        for (int64_t oh = 0; oh < s.p; ++oh) {
          const int64_t ih = oh * s.sh - s.ph + kr;
          if (ih < 0 || ih >= s.h) continue;
          float* xr = xc + ih * s.w - s.pw + ks;  // input of output column 0
          const float* d = src + oh * s.q;
          if (s.sw == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow] += d[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) xr[ow * s.sw] += d[ow];
          }
        }
      }
    }
  }
}

// (nb, C, L) image-major <-> (C, nb*L) channel-major; `ld` is the channel-major row stride.
void gather_channels(float* dst, int64_t ld, const float* src, int64_t nb, int64_t c, int64_t l) {
  for (int64_t j = 0; j < nb; ++j)
    for (int64_t ch = 0; ch < c; ++ch)
      std::copy(src + (j * c + ch) * l, src + (j * c + ch + 1) * l, dst + ch * ld + j * l);
}

// y (nb, K, PQ) = epilogue(acc (K, nb*PQ) with row stride ld); acc may alias y when nb = 1.
void store_epilogue(float* y, const float* acc, int64_t ld, int64_t nb, int64_t k, int64_t pq,
                    const ConvEpilogue& e, const float* residual) {
  for (int64_t j = 0; j < nb; ++j) {
    for (int64_t ch = 0; ch < k; ++ch) {
      const float* a = acc + ch * ld + j * pq;
      float* o = y + (j * k + ch) * pq;
      const float sc = e.scale ? e.scale[ch] : 1.f, sh = e.shift ? e.shift[ch] : 0.f;
      const float* r = residual ? residual + (j * k + ch) * pq : nullptr;
      if (r && e.relu) {
        for (int64_t i = 0; i < pq; ++i) o[i] = std::max(a[i] * sc + sh + r[i], 0.f);
      } else if (r) {
        for (int64_t i = 0; i < pq; ++i) o[i] = a[i] * sc + sh + r[i];
      } else if (e.relu) {
        for (int64_t i = 0; i < pq; ++i) o[i] = std::max(a[i] * sc + sh, 0.f);
      } else {
        for (int64_t i = 0; i < pq; ++i) o[i] = a[i] * sc + sh;
      }
    }
  }
}

// db[k] += sum of dy over (n, p, q): 16 interleaved partial sums per plane (vectorised without
// reassociation), added in a fixed order; one output channel per thread.
void bias_grad_fast(float* db, const float* dy, const Conv2dShape& s) {
  const int64_t pq = s.p * s.q;
#pragma omp parallel for schedule(static) if (s.n * s.k * pq >= kParallelMin)
  for (int64_t k = 0; k < s.k; ++k) {
    float part[16] = {};
    float tail = 0.f;
    for (int64_t n = 0; n < s.n; ++n) {
      const float* p = dy + (n * s.k + k) * pq;
      int64_t i = 0;
      for (; i + 16 <= pq; i += 16)
        for (int l = 0; l < 16; ++l) part[l] += p[i + l];
      for (; i < pq; ++i) tail += p[i];
    }
    float acc = tail;
    for (int l = 0; l < 16; ++l) acc += part[l];
    db[k] += acc;
  }
}

}  // namespace

void conv2d_forward_fast(Context& ctx, float* y, const float* x, const float* w,
                         const Conv2dShape& s, const ConvEpilogue& e) {
  // Winograd (kernels/cpu/conv2d_winograd.cpp) for the 3x3 stride-1 shapes where it pays, else
  // the direct kernel (kernels/cpu/conv2d_direct.cpp) when it handles the shape.
  if (conv2d_winograd_forward(ctx, y, x, w, s, e)) return;
  if (conv2d_direct_forward(ctx, y, x, w, s, e)) return;
  const int nt = batch_threads(s);
  // Chunks of nb images, fixed by the shape alone (as if two threads shared the batch), so every
  // GEMM has the same shape whatever the thread count: the same bits for 1, 2 or 64 threads.
  const int64_t nb = group_images(s, (s.n + 1) / 2);
  const int64_t chunks = (s.n + nb - 1) / nb;
  const int64_t crs = s.c * s.r * s.s, pq = s.p * s.q, chw = s.c * s.h * s.w, kpq = s.k * pq;
  const bool pointwise = s.is_pointwise();
  // Per thread: columns (CRS, nb*PQ) unless a 1x1 conv reads x directly, and the GEMM output
  // (K, nb*PQ) unless it goes straight into y (nb = 1).
  const int64_t col_elems = pointwise && nb == 1 ? 0 : crs * nb * pq;
  const int64_t acc_elems = nb == 1 ? 0 : s.k * nb * pq;
  const int64_t per = col_elems + acc_elems;
  float* ws =
      per ? static_cast<float*>(ctx.workspace(size_t(per) * size_t(nt) * sizeof(float))) : nullptr;
  const bool epilogue = e.scale || e.shift || e.residual || e.relu;
  if (nt > 1) blas_single_threaded();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    float* col = ws ? ws + per * t : nullptr;
    float* acc = col ? col + col_elems : nullptr;
    const int64_t n0 = chunk * nb;
    const int64_t m = std::min(nb, s.n - n0), cols = m * pq;
    const float* b = x + n0 * chw;
    if (!pointwise) {
      for (int64_t j = 0; j < m; ++j) im2col_fast(col + j * pq, cols, x + (n0 + j) * chw, s);
      b = col;
    } else if (nb > 1) {
      gather_channels(col, cols, x + n0 * chw, m, s.c, pq);
      b = col;
    }
    float* yn = y + n0 * kpq;
    float* out = nb == 1 ? yn : acc;
    gemm<float>(false, false, s.k, cols, crs, 1.f, w, crs, b, cols, 0.f, out, cols);
    if (nb > 1 || epilogue)
      store_epilogue(yn, out, cols, m, s.k, pq, e, e.residual ? e.residual + n0 * kpq : nullptr);
  }
}

void conv2d_backward_fast(Context& ctx, float* dx, float* dw, float* db, const float* dy,
                          const float* x, const float* w, const Conv2dShape& s) {
  // Winograd (3x3 stride 1) for the data and filter gradients where it pays; then both
  // remaining gradients by the direct kernel sharing dy's channels-last copy, or either alone;
  // the rest below.
  if (dx && conv2d_winograd_backward_data(ctx, dx, dy, w, s)) dx = nullptr;
  if (dw && conv2d_winograd_backward_filter(ctx, dw, dy, x, s)) dw = nullptr;
  if (dx && dw && conv2d_direct_backward(ctx, dx, dw, dy, x, w, s)) dx = dw = nullptr;
  if (dx && conv2d_direct_backward_data(ctx, dx, dy, w, s)) dx = nullptr;
  if (dw && conv2d_direct_backward_filter(ctx, dw, dy, x, s)) dw = nullptr;
  if (!dx && !dw) {
    if (db) bias_grad_fast(db, dy, s);
    return;
  }
  // The images are split into a fixed number of contiguous groups (kDwGroups, whatever the
  // thread count); each group's filter gradient goes into its own partial, and the partials are
  // added in group order. So the bits of dW do not depend on the number of threads (per-thread
  // partials made the weights, and the demo's tables, depend on the machine's core count).
  const int64_t groups = std::min<int64_t>(s.n, kDwGroups);
  const int nt = static_cast<int>(std::min<int64_t>(batch_threads(s), groups));
  const int64_t per_group = (s.n + groups - 1) / groups;
  const int64_t nb = group_images(s, per_group);
  const int64_t crs = s.c * s.r * s.s, pq = s.p * s.q, chw = s.c * s.h * s.w, kpq = s.k * pq;
  const int64_t wsz = s.k * crs;
  const bool pointwise = s.is_pointwise();
  // Per thread: columns (CRS, nb*PQ) (a 1x1 conv with nb = 1 uses x and dx directly) and dy
  // gathered to (K, nb*PQ) when nb > 1; per group: a filter-gradient partial (K, CRS).
  const int64_t col_elems = pointwise && nb == 1 ? 0 : crs * nb * pq;
  const int64_t dyg_elems = nb == 1 ? 0 : s.k * nb * pq;
  const int64_t per = col_elems + dyg_elems;
  const int64_t part_elems = dw ? wsz * groups : 0;
  const int64_t total = per * nt + part_elems;
  float* ws = total ? static_cast<float*>(ctx.workspace(size_t(total) * sizeof(float))) : nullptr;
  float* partials = ws ? ws + per * nt : nullptr;
  if (dw) std::fill(partials, partials + part_elems, 0.f);
  if (nt > 1) blas_single_threaded();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t grp = 0; grp < groups; ++grp) {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    float* col = ws ? ws + per * t : nullptr;
    float* dyg = col ? col + col_elems : nullptr;
    float* partial = dw ? partials + wsz * grp : nullptr;
    const int64_t lo = grp * s.n / groups, hi = (grp + 1) * s.n / groups;
    for (int64_t n0 = lo; n0 < hi; n0 += nb) {
      const int64_t m = std::min(nb, hi - n0), cols = m * pq;
      const float* g = dy + n0 * kpq;
      if (nb > 1) {
        gather_channels(dyg, cols, g, m, s.k, pq);
        g = dyg;
      }
      if (dw) {
        const float* b = x + n0 * chw;
        if (!pointwise) {
          for (int64_t j = 0; j < m; ++j) im2col_fast(col + j * pq, cols, x + (n0 + j) * chw, s);
          b = col;
        } else if (nb > 1) {
          gather_channels(col, cols, x + n0 * chw, m, s.c, pq);
          b = col;
        }
        // dW (K, CRS) += dy (K, cols) col^T (cols, CRS)
        gemm<float>(false, true, s.k, crs, cols, 1.f, g, cols, b, cols, 1.f, partial, crs);
      }
      if (dx) {
        float* dxn = dx + n0 * chw;
        // dcol (CRS, cols) = W^T (CRS, K) dy (K, cols); a 1x1 conv with nb = 1 writes dx.
        float* dcol = pointwise && nb == 1 ? dxn : col;
        gemm<float>(true, false, crs, cols, s.k, 1.f, w, crs, g, cols, 0.f, dcol, cols);
        if (!pointwise) {
          for (int64_t j = 0; j < m; ++j) col2im_fast(dxn + j * chw, dcol + j * pq, cols, s);
        } else if (nb > 1) {
          store_epilogue(dxn, dcol, cols, m, s.c, pq, ConvEpilogue{}, nullptr);
        }
      }
    }
  }
  // Sum the partials in group order (each element independently, so any thread split agrees).
  if (dw) {
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t i = 0; i < wsz; ++i) {
      float v = dw[i];
      for (int64_t grp = 0; grp < groups; ++grp) v += partials[wsz * grp + i];
      dw[i] = v;
    }
  }
  if (db) bias_grad_fast(db, dy, s);
}

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);  // checked by the dispatcher
  if (s.n == 1 && conv_kernel() == ConvKernel::Gemm) {
    // One image: the reference, with OpenBLAS threading the GEMM.
    const int64_t ce = conv2d_col_elems(s);
    float* col = ce ? static_cast<float*>(ctx.workspace(size_t(ce) * sizeof(float))) : nullptr;
    conv2d_forward<float>(y.f32(), x.f32(), w.f32(), bias ? bias->f32() : nullptr, s, col);
    return;
  }
  ConvEpilogue e;
  e.shift = bias ? bias->f32() : nullptr;
  conv2d_forward_fast(ctx, y.f32(), x.f32(), w.f32(), s, e);
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);  // checked by the dispatcher
  if (s.n == 1 && conv_kernel() == ConvKernel::Gemm) {
    const int64_t ce = conv2d_col_elems(s);
    float* col = ce ? static_cast<float*>(ctx.workspace(size_t(ce) * sizeof(float))) : nullptr;
    conv2d_backward<float>(dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr,
                           db ? db->f32() : nullptr, dy.f32(), x.f32(), w.f32(), s, col);
    return;
  }
  conv2d_backward_fast(ctx, dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr,
                       db ? db->f32() : nullptr, dy.f32(), x.f32(), w.f32(), s);
}

// BatchNorm (eval) folded into the epilogue: scale = gamma / sqrt(var + eps) and shift =
// beta - mean * scale, computed in double as the reference BatchNorm does.
void conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                            const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, float eps, const Tensor* residual, bool relu,
                            const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);  // checked by the dispatcher
  std::vector<float> scale(size_t(s.k)), shift(size_t(s.k));
  const float *g = gamma.f32(), *b = beta.f32(), *rm = running_mean.f32(), *rv = running_var.f32();
  for (int64_t k = 0; k < s.k; ++k) {
    const double sc = double(g[k]) / std::sqrt(double(rv[k]) + double(eps));
    scale[size_t(k)] = float(sc);
    shift[size_t(k)] = float(double(b[k]) - double(rm[k]) * sc);
  }
  ConvEpilogue e;
  e.scale = scale.data();
  e.shift = shift.data();
  e.residual = residual ? residual->f32() : nullptr;
  e.relu = relu;
  conv2d_forward_fast(ctx, y.f32(), x.f32(), w.f32(), s, e);
}

}  // namespace cpu

}  // namespace gbad
