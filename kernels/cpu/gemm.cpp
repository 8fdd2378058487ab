// CPU GEMM (OpenBLAS) and the Linear op reference. The dispatchers (argument checks) are in
// kernels/gemm.cpp.
#include "kernels/gemm.h"

#include "core/check.h"

#include <cblas.h>

#include <mutex>

#include <algorithm>
#include <climits>

namespace gbad {

using detail::check_gemm;

namespace {

CBLAS_TRANSPOSE tr(bool t) {
  return t ? CblasTrans : CblasNoTrans;
}

blasint bi(int64_t v) {
  GBAD_CHECK(v >= 0 && v <= INT_MAX, "gemm: size ", v, " exceeds the BLAS integer range");
  return static_cast<blasint>(v);
}

}  // namespace

namespace cpu {

void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

template <>
void gemm<float>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc) {
  check_gemm(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  cblas_sgemm(CblasRowMajor, tr(trans_a), tr(trans_b), bi(M), bi(N), bi(K), alpha, A, bi(lda), B,
              bi(ldb), beta, C, bi(ldc));
}

template <>
void gemm<double>(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                  const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                  double* C, int64_t ldc) {
  check_gemm(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  if (M == 0 || N == 0) return;
  cblas_dgemm(CblasRowMajor, tr(trans_a), tr(trans_b), bi(M), bi(N), bi(K), alpha, A, bi(lda), B,
              bi(ldb), beta, C, bi(ldc));
}

template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t n, int64_t in, int64_t out) {
  if (b) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) y[i * out + j] = b[j];
  }
  // y (n,out) = x (n,in) W^T (in,out) [+ y]
  gemm<T>(false, true, n, out, in, T(1), x, in, w, in, b ? T(1) : T(0), y, out);
}

template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t n,
                     int64_t in, int64_t out) {
  if (dx) gemm<T>(false, false, n, in, out, T(1), dy, out, w, in, T(0), dx, in);  // dy W
  if (dw) gemm<T>(true, false, out, in, n, T(1), dy, out, x, in, T(1), dw, in);   // dy^T x
  if (db) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < out; ++j) db[j] += dy[i * out + j];
  }
}

template void linear_forward<float>(float*, const float*, const float*, const float*, int64_t,
                                    int64_t, int64_t);
template void linear_forward<double>(double*, const double*, const double*, const double*, int64_t,
                                     int64_t, int64_t);
template void linear_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int64_t, int64_t, int64_t);
template void linear_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int64_t, int64_t, int64_t);

void gemm(Context&, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc) {
  gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Shapes were checked by the dispatcher: x (n, in), w (out, in).
void linear_forward(Context&, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  linear_forward<float>(y.f32(), x.f32(), w.f32(), b ? b->f32() : nullptr, n, in, out);
}

void linear_backward(Context&, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w) {
  const int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  linear_backward<float>(dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr,
                         db ? db->f32() : nullptr, dy.f32(), x.f32(), w.f32(), n, in, out);
}

}  // namespace cpu

}  // namespace gbad
