// GEMM (row-major, BLAS semantics) and the Linear op built on it.
//   C (M,N) = alpha * op(A) op(B) + beta * C, op(A) (M,K), op(B) (K,N); op = transpose when
//   trans_* is set. lda/ldb/ldc are the row strides of A, B, C as stored (row-major).
// CPU: cblas_sgemm / cblas_dgemm (OpenBLAS, which threads itself: never call it from inside an
// OpenMP parallel region). CUDA: cublasSgemm on ctx.cublas() with the operands swapped
// (row-major C = A B is column-major C^T = B^T A^T).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// Dispatches on ctx.device(); the pointers must live on that device.
void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);

// Linear: y = x W^T + b.  x (N, in), W (out, in), b (out) or null, y (N, out).
void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b);
// dx = dy W (overwritten), dW += dy^T x, db += sum over rows of dy. Any output may be null.
void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w);

namespace detail {
// Sizes non-negative and row-major leading dimensions covering a stored row (BLAS would only
// print a message). Used by the dispatcher and by the templated CPU GEMM.
void check_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, int64_t lda,
                int64_t ldb, int64_t ldc);
}  // namespace detail

namespace cpu {

// Limits OpenBLAS to one thread (once per process): the CPU ops that parallelise over the
// batch with OpenMP call it so BLAS threads and OpenMP threads do not compete for the cores.
void blas_single_threaded();
// float -> cblas_sgemm, double -> cblas_dgemm (gradient checks run in double).
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Raw-pointer Linear, templated on the scalar type. x (N,in), w (out,in), b (out), y (N,out).
template <typename T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t n, int64_t in, int64_t out);
template <typename T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t n,
                     int64_t in, int64_t out);

void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);
void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b);
void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc);
void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b);
void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w);
}  // namespace cuda
#endif

}  // namespace gbad
