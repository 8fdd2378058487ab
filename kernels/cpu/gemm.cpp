// CPU GEMM (OpenBLAS) and the Linear op reference; also the dispatchers of kernels/gemm.h.
#include "kernels/gemm.h"
#include "kernels/op_checks.h"

#include <cblas.h>

#include <mutex>

#include <algorithm>
#include <climits>

namespace gbad {

using detail::check_named_devices;

namespace {

void check_linear(const Tensor& x, const Tensor& w, int64_t* n, int64_t* in, int64_t* out) {
  GBAD_CHECK(x.ndim() == 2 && w.ndim() == 2, "linear: x ", x.str(), " and W ", w.str(),
             " must be 2-D (N, in) and (out, in)");
  GBAD_CHECK(x.size(1) == w.size(1), "linear: x ", x.str(), " does not match W ", w.str());
  *n = x.size(0);
  *in = x.size(1);
  *out = w.size(0);
}

void check_linear_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b,
                          int64_t* n, int64_t* in, int64_t* out) {
  check_linear(x, w, n, in, out);
  GBAD_CHECK(y.shape() == Shape({*n, *out}), "linear_forward: y is ", y.str(), ", expected ",
             shape_str({*n, *out}));
  GBAD_CHECK(!b || b->numel() == *out, "linear_forward: bias ", b->str(), " needs ", *out,
             " values");
}

void check_linear_backward(const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor& dy,
                           const Tensor& x, const Tensor& w, int64_t* n, int64_t* in,
                           int64_t* out) {
  check_linear(x, w, n, in, out);
  GBAD_CHECK(dy.shape() == Shape({*n, *out}), "linear_backward: dy is ", dy.str(), ", expected ",
             shape_str({*n, *out}));
  GBAD_CHECK(!dx || dx->shape() == x.shape(), "linear_backward: dx ", dx->str(), " vs x ", x.str());
  GBAD_CHECK(!dw || dw->shape() == w.shape(), "linear_backward: dW ", dw->str(), " vs W ", w.str());
  GBAD_CHECK(!db || db->numel() == *out, "linear_backward: db ", db->str(), " needs ", *out,
             " values");
}

// Row-major leading dimensions must cover a stored row (BLAS would only print a message).
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                int64_t ldc) {
  GBAD_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M ", M, " N ", N, " K ", K);
  GBAD_CHECK(lda >= std::max<int64_t>(1, ta ? M : K) && ldb >= std::max<int64_t>(1, tb ? K : N) &&
                 ldc >= std::max<int64_t>(1, N),
             "gemm: leading dimensions lda ", lda, " ldb ", ldb, " ldc ", ldc, " too small for M ",
             M, " N ", N, " K ", K, " trans_a ", ta, " trans_b ", tb);
}

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

void linear_forward(Context&, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  int64_t n, in, out;
  check_linear_forward(y, x, w, b, &n, &in, &out);
  linear_forward<float>(y.f32(), x.f32(), w.f32(), b ? b->f32() : nullptr, n, in, out);
}

void linear_backward(Context&, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w) {
  int64_t n, in, out;
  check_linear_backward(dx, dw, db, dy, x, w, &n, &in, &out);
  linear_backward<float>(dx ? dx->f32() : nullptr, dw ? dw->f32() : nullptr,
                         db ? db->f32() : nullptr, dy.f32(), x.f32(), w.f32(), n, in, out);
}

}  // namespace cpu

// ---- dispatchers ---------------------------------------------------------------------------

void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc) {
  if (ctx.is_cuda()) {
#ifdef GBAD_WITH_CUDA
    check_gemm(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    cuda::gemm(ctx, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
#else
    GBAD_FAIL("gemm: CUDA context in a build without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
  cpu::gemm<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  check_named_devices(ctx, "linear_forward", {{"y", &y}, {"x", &x}, {"W", &w}, {"b", b}});
  if (ctx.is_cuda()) {
#ifdef GBAD_WITH_CUDA
    int64_t n, in, out;
    check_linear_forward(y, x, w, b, &n, &in, &out);
    cuda::linear_forward(ctx, y, x, w, b);
    return;
#else
    GBAD_FAIL("linear_forward: CUDA tensors in a build without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
  cpu::linear_forward(ctx, y, x, w, b);
}

void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w) {
  check_named_devices(ctx, "linear_backward",
                      {{"dx", dx}, {"dW", dw}, {"db", db}, {"dy", &dy}, {"x", &x}, {"W", &w}});
  if (ctx.is_cuda()) {
#ifdef GBAD_WITH_CUDA
    int64_t n, in, out;
    check_linear_backward(dx, dw, db, dy, x, w, &n, &in, &out);
    cuda::linear_backward(ctx, dx, dw, db, dy, x, w);
    return;
#else
    GBAD_FAIL("linear_backward: CUDA tensors in a build without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
  cpu::linear_backward(ctx, dx, dw, db, dy, x, w);
}

}  // namespace gbad
