// CPU transposed convolution over the conv2d templates of kernels/cpu/conv2d.cpp (see
// kernels/conv_transpose.h for the correspondence). The float path parallelises over the batch
// with single-threaded GEMMs, as conv2d does.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/conv_transpose.h"
#include "kernels/gemm.h"

namespace gbad::cpu {

namespace {
template <typename T>
void add_bias(T* y, const T* bias, const Conv2dShape& s) {
  const int64_t hw = s.h * s.w;
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c) {
      T* p = y + (n * s.c + c) * hw;
      for (int64_t i = 0; i < hw; ++i) p[i] += bias[c];
    }
}
}  // namespace

template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s,
                              T* col) {
  // y is the input gradient of the convolution (input y, output x): col2im(W^T x), overwritten.
  conv2d_backward<T>(y, nullptr, nullptr, x, nullptr, w, s, col);
  if (bias) add_bias(y, bias, s);
}

template <typename T>
void conv_transpose2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const Conv2dShape& s, T* col) {
  if (dx) conv2d_forward<T>(dx, dy, w, nullptr, s, col);               // dx = conv(dy, w)
  if (dw) conv2d_backward<T>(nullptr, dw, nullptr, x, dy, w, s, col);  // dw += x col(dy)^T
  if (db) {
    const int64_t hw = s.h * s.w;
    for (int64_t c = 0; c < s.c; ++c) {
      T acc = 0;
      for (int64_t n = 0; n < s.n; ++n) {
        const T* p = dy + (n * s.c + c) * hw;
        for (int64_t i = 0; i < hw; ++i) acc += p[i];
      }
      db[c] += acc;
    }
  }
}

template void conv_transpose2d_forward<float>(float*, const float*, const float*, const float*,
                                              const Conv2dShape&, float*);
template void conv_transpose2d_forward<double>(double*, const double*, const double*, const double*,
                                               const Conv2dShape&, double*);
template void conv_transpose2d_backward<float>(float*, float*, float*, const float*, const float*,
                                               const float*, const Conv2dShape&, float*);
template void conv_transpose2d_backward<double>(double*, double*, double*, const double*,
                                                const double*, const double*, const Conv2dShape&,
                                                double*);

namespace {
int batch_threads(const Conv2dShape& s) {
  const int t = omp_get_max_threads();
  if (s.n < 2 || t < 2) return 1;
  return static_cast<int>(std::min<int64_t>(t, s.n));
}
}  // namespace

void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p) {
  const Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  const int nt = batch_threads(s);
  const int64_t col_elems = conv2d_col_elems(s);
  float* col =
      col_elems ? static_cast<float*>(ctx.workspace(size_t(col_elems) * size_t(nt) * sizeof(float)))
                : nullptr;
  const float* bp = bias ? bias->f32() : nullptr;
  if (nt == 1) {
    conv_transpose2d_forward<float>(y.f32(), x.f32(), w.f32(), bp, s, col);
    return;
  }
  blas_single_threaded();
  Conv2dShape one = s;
  one.n = 1;
  const int64_t ysz = s.c * s.h * s.w, xsz = s.k * s.p * s.q;
  float* yp = y.f32();
  const float *xp = x.f32(), *wp = w.f32();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < s.n; ++n) {
    float* tcol = col ? col + col_elems * omp_get_thread_num() : nullptr;
    conv_transpose2d_forward<float>(yp + n * ysz, xp + n * xsz, wp, bp, one, tcol);
  }
}

void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  const int nt = batch_threads(s);
  const int64_t col_elems = conv2d_col_elems(s);
  const int64_t wsz = s.k * s.c * s.r * s.s;
  float* dbp = db ? db->f32() : nullptr;
  if (nt == 1) {
    float* col =
        col_elems ? static_cast<float*>(ctx.workspace(size_t(col_elems) * sizeof(float))) : nullptr;
    conv_transpose2d_backward<float>(dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr, dbp,
                                     dy.f32(), x.f32(), w.f32(), s, col);
    return;
  }
  blas_single_threaded();
  // Workspace: per-thread column buffers, then per-thread filter-gradient partials (summed in
  // thread order: deterministic for a given thread count).
  const size_t per_thread = size_t(col_elems) + (dw ? size_t(wsz) : 0);
  float* ws = static_cast<float*>(ctx.workspace(per_thread * size_t(nt) * sizeof(float)));
  float* partial = ws + size_t(col_elems) * size_t(nt);
  if (dw) std::fill(partial, partial + size_t(wsz) * size_t(nt), 0.f);
  Conv2dShape one = s;
  one.n = 1;
  const int64_t ysz = s.c * s.h * s.w, xsz = s.k * s.p * s.q;
  float* dxp = dx ? dx->f32() : nullptr;
  const float *dyp = dy.f32(), *xp = x.f32(), *wp = w.f32();
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t n = 0; n < s.n; ++n) {
    const int t = omp_get_thread_num();
    float* tcol = col_elems ? ws + col_elems * t : nullptr;
    conv_transpose2d_backward<float>(dxp ? dxp + n * xsz : nullptr,
                                     dw ? partial + wsz * t : nullptr, nullptr, dyp + n * ysz,
                                     xp + n * xsz, wp, one, tcol);
  }
  if (dw) {
    float* dwp = dw->f32();
    for (int t = 0; t < nt; ++t) {
      const float* pt = partial + wsz * t;
      for (int64_t i = 0; i < wsz; ++i) dwp[i] += pt[i];
    }
  }
  if (dbp) conv_transpose2d_backward<float>(nullptr, nullptr, dbp, dyp, xp, wp, s, nullptr);
}

}  // namespace gbad::cpu
