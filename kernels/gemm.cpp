// Dispatchers for kernels/gemm.h: check devices and shapes, call the backend.
#include "kernels/gemm.h"

#include <algorithm>

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_named_devices;

namespace detail {

// Row-major leading dimensions must cover a stored row (BLAS would only print a message).
void check_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb,
                int64_t ldc) {
  GBAD_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M ", M, " N ", N, " K ", K);
  GBAD_CHECK(lda >= std::max<int64_t>(1, ta ? M : K) && ldb >= std::max<int64_t>(1, tb ? K : N) &&
                 ldc >= std::max<int64_t>(1, N),
             "gemm: leading dimensions lda ", lda, " ldb ", ldb, " ldc ", ldc, " too small for M ",
             M, " N ", N, " K ", K, " trans_a ", ta, " trans_b ", tb);
}

}  // namespace detail

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

}  // namespace

void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc) {
  detail::check_gemm(trans_a, trans_b, M, N, K, lda, ldb, ldc);
  GBAD_DISPATCH(ctx, gemm, ctx, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  check_named_devices(ctx, "linear_forward", {{"y", &y}, {"x", &x}, {"W", &w}, {"b", b}});
  int64_t n, in, out;
  check_linear_forward(y, x, w, b, &n, &in, &out);
  GBAD_DISPATCH(ctx, linear_forward, ctx, y, x, w, b);
}

void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w) {
  check_named_devices(ctx, "linear_backward",
                      {{"dx", dx}, {"dW", dw}, {"db", db}, {"dy", &dy}, {"x", &x}, {"W", &w}});
  int64_t n, in, out;
  check_linear_backward(dx, dw, db, dy, x, w, &n, &in, &out);
  GBAD_DISPATCH(ctx, linear_backward, ctx, dx, dw, db, dy, x, w);
}

}  // namespace gbad
