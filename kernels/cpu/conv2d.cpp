// CPU convolution reference: im2col + GEMM, one image at a time (a (C*R*S, P*Q) column buffer
// per image keeps the scratch small; each GEMM is still large enough for OpenBLAS to run near
// its peak). OpenMP parallelises im2col/col2im; the GEMMs are called outside any parallel
// region because OpenBLAS threads itself. The dispatchers (argument checks) and the shape
// helpers are in kernels/conv2d.cpp.
#include "kernels/conv2d.h"
#include "core/check.h"

#include <omp.h>

#include <algorithm>
#include <sstream>

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

// The float path used by the layers parallelises over the images of the batch: each OpenMP
// thread runs im2col and a single-threaded GEMM on its own images (OpenBLAS is limited to one
// thread by blas_single_threaded()). The filter gradient is summed per fixed group of images
// (kDwGroups contiguous groups, whatever the thread count) into one partial buffer per group,
// and the partials are added in group order: the same bits for 1, 2 or 64 threads. (Per-thread
// partials made the weights, and so the demo's tables, depend on the machine's core count.)
// Small GEMMs (a width-reduced ResNet at 64-96 px) scale far better this way than through
// OpenBLAS's own threads, whose busy-waiting also competed with ours.
namespace {
constexpr int64_t kDwGroups = 8;

int batch_threads(const Conv2dShape& s) {
  int t = omp_get_max_threads();
  if (s.n < 2 || t < 2) return 1;
  return static_cast<int>(std::min<int64_t>(t, s.n));
}
}  // namespace

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);  // checked by the dispatcher
  const int nt = batch_threads(s);
  const int64_t col_elems = conv2d_col_elems(s);
  float* col =
      col_elems ? static_cast<float*>(ctx.workspace(size_t(col_elems) * size_t(nt) * sizeof(float)))
                : nullptr;
  if (nt == 1) {
    conv2d_forward<float>(y.f32(), x.f32(), w.f32(), bias ? bias->f32() : nullptr, s, col);
    return;
  }
  blas_single_threaded();
  const int64_t kpq = s.k * s.p * s.q, chw = s.c * s.h * s.w;
  Conv2dShape one = s;
  one.n = 1;
  float* yp = y.f32();
  const float* xp = x.f32();
  const float* wp = w.f32();
  const float* bp = bias ? bias->f32() : nullptr;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < s.n; ++n) {
    float* tcol = col ? col + col_elems * omp_get_thread_num() : nullptr;
    conv2d_forward<float>(yp + n * kpq, xp + n * chw, wp, bp, one, tcol);
  }
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);  // checked by the dispatcher
  const int64_t groups = std::min<int64_t>(s.n, kDwGroups);
  const int nt = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), groups));
  const int64_t col_elems = conv2d_col_elems(s);
  const int64_t wsz = s.k * s.c * s.r * s.s;
  if (groups <= 1) {
    float* col =
        col_elems ? static_cast<float*>(ctx.workspace(size_t(col_elems) * sizeof(float))) : nullptr;
    conv2d_backward<float>(dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr,
                           db ? db->f32() : nullptr, dy.f32(), x.f32(), w.f32(), s, col);
    return;
  }
  if (nt > 1) blas_single_threaded();
  // Workspace: per-thread im2col buffers, then per-group filter-gradient partials.
  float* ws = static_cast<float*>(ctx.workspace(
      (size_t(col_elems) * size_t(nt) + (dw ? size_t(wsz) * size_t(groups) : 0)) * sizeof(float)));
  float* partial = ws + size_t(col_elems) * size_t(nt);
  if (dw) std::fill(partial, partial + size_t(wsz) * size_t(groups), 0.f);
  const int64_t kpq = s.k * s.p * s.q, chw = s.c * s.h * s.w;
  Conv2dShape one = s;
  one.n = 1;
  float* dxp = dx ? dx->f32() : nullptr;
  const float* dyp = dy.f32();
  const float* xp = x.f32();
  const float* wp = w.f32();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t g = 0; g < groups; ++g) {
    float* tcol = col_elems ? ws + col_elems * omp_get_thread_num() : nullptr;
    for (int64_t n = g * s.n / groups; n < (g + 1) * s.n / groups; ++n)
      conv2d_backward<float>(dxp ? dxp + n * chw : nullptr, dw ? partial + wsz * g : nullptr,
                             nullptr, dyp + n * kpq, xp + n * chw, wp, one, tcol);
  }
  if (dw) {
    float* dwp = dw->f32();
    for (int64_t g = 0; g < groups; ++g) {
      const float* pg = partial + wsz * g;
      for (int64_t i = 0; i < wsz; ++i) dwp[i] += pg[i];
    }
  }
  if (db) conv2d_backward<float>(nullptr, nullptr, db->f32(), dyp, xp, wp, s, nullptr);
}

}  // namespace cpu

}  // namespace gbad
