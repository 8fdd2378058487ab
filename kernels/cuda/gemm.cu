// CUDA GEMM (cuBLAS, row-major through the operand swap) and the Linear op.
// At --precision fp16/bf16 (docs/mixed-precision.md) the Linear op's GEMMs run through
// cublasGemmEx with 16-bit A and B (CUDA_R_16F / CUDA_R_16BF, converted from the fp32 operands
// into scratch by one kernel each), fp32 C and CUBLAS_COMPUTE_32F: tensor cores with fp32
// accumulation, and the weight gradient accumulates (beta = 1) straight into the fp32 gradient.
#include <climits>

#include "core/cuda_check.h"
#include "kernels/cuda/half_path.cuh"
#include "kernels/gemm.h"
#include "kernels/gemm_body.h"

namespace gbad::cuda {

namespace {

int ci(int64_t v) {
  GBAD_CHECK(v >= 0 && v <= INT_MAX, "cuda gemm: size ", v, " exceeds the cuBLAS int range");
  return static_cast<int>(v);
}

int grid_for(int64_t n, int threads) {
  int64_t blocks = (n + threads - 1) / threads;
  return static_cast<int>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

__global__ void add_row_bias_kernel(float* y, const float* b, int64_t n, int64_t cols) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    add_row_bias_body(i, y, b, cols);
}

__global__ void sum_rows_kernel(float* db, const float* dy, int64_t rows, int64_t cols) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < cols;
       j += int64_t(blockDim.x) * gridDim.x)
    sum_rows_body(j, db, dy, rows, cols);
}

// Row-major C (M,N) fp32 = alpha op(A) op(B) + beta C with half A, B (same operand swap as
// gemm below).
void gemm_half(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               float alpha, const uint16_t* A, int64_t lda, const uint16_t* B, int64_t ldb,
               float beta, float* C, int64_t ldc, bool fp16) {
  if (M == 0 || N == 0) return;
  const cudaDataType_t t = fp16 ? CUDA_R_16F : CUDA_R_16BF;
  CUBLAS_CHECK(cublasGemmEx(ctx.cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, ci(N), ci(M), ci(K), &alpha, B, t,
                            ci(ldb), A, t, ci(lda), &beta, C, CUDA_R_32F, ci(ldc),
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// A half copy of t in the scratch slot `name`.
const uint16_t* half_copy(Context& ctx, const char* name, const Tensor& t, Precision p) {
  uint16_t* h = cuda_detail::scratch(ctx, name, t.numel(), cuda_detail::half_dtype(p)).u16();
  cuda_detail::to_half(ctx, h, t.f32(), t.numel(), p == Precision::Fp16);
  return h;
}

}  // namespace

void gemm(Context& ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
          const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
          int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Row-major C (M,N) is column-major C^T (N,M) = op(B)^T op(A)^T: swap the operands.
  CUBLAS_CHECK(cublasSgemm(ctx.cublas(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                           trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, ci(N), ci(M), ci(K), &alpha, B,
                           ci(ldb), A, ci(lda), &beta, C, ci(ldc)));
}

// Shapes were checked by the dispatcher (kernels/cpu/gemm.cpp).
void linear_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* b) {
  int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  const Precision prec = ctx.precision();
  if (stores_half(prec)) {
    const uint16_t* xh = half_copy(ctx, "gemm.x", x, prec);
    const uint16_t* wh = half_copy(ctx, "gemm.w", w, prec);
    gemm_half(ctx, false, true, n, out, in, 1.f, xh, in, wh, in, 0.f, y.f32(), out,
              prec == Precision::Fp16);
  } else {
    cuda::gemm(ctx, false, true, n, out, in, 1.f, x.f32(), in, w.f32(), in, 0.f, y.f32(), out);
  }
  if (b && n * out > 0) {
    add_row_bias_kernel<<<grid_for(n * out, 256), 256, 0, ctx.stream()>>>(y.f32(), b->f32(),
                                                                          n * out, out);
    CUDA_CHECK_LAUNCH();
  }
}

void linear_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w) {
  int64_t n = x.size(0), in = x.size(1), out = w.size(0);
  const Precision prec = ctx.precision();
  if (stores_half(prec) && (dx || dw)) {
    const bool fp16 = prec == Precision::Fp16;
    const uint16_t* dyh = half_copy(ctx, "gemm.dy", dy, prec);
    if (dx) {
      const uint16_t* wh = half_copy(ctx, "gemm.w", w, prec);
      gemm_half(ctx, false, false, n, in, out, 1.f, dyh, out, wh, in, 0.f, dx->f32(), in, fp16);
    }
    if (dw) {
      const uint16_t* xh = half_copy(ctx, "gemm.x", x, prec);
      gemm_half(ctx, true, false, out, in, n, 1.f, dyh, out, xh, in, 1.f, dw->f32(), in, fp16);
    }
  } else {
    if (dx)
      cuda::gemm(ctx, false, false, n, in, out, 1.f, dy.f32(), out, w.f32(), in, 0.f, dx->f32(),
                 in);
    if (dw)
      cuda::gemm(ctx, true, false, out, in, n, 1.f, dy.f32(), out, x.f32(), in, 1.f, dw->f32(), in);
  }
  if (db && out > 0) {
    sum_rows_kernel<<<grid_for(out, 128), 128, 0, ctx.stream()>>>(db->f32(), dy.f32(), n, out);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace gbad::cuda
