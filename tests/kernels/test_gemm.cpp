#include <gtest/gtest.h>

#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/gemm.h"
#include "kernels/gemm_body.h"

namespace gbad {
namespace {

using test::Tol;

// C (M,N) = alpha op(A) op(B) + beta C, naive, row-major with leading dimensions.
template <typename T>
std::vector<double> naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha,
                               const std::vector<T>& A, int64_t lda, const std::vector<T>& B,
                               int64_t ldb, double beta, const std::vector<T>& C, int64_t ldc) {
  std::vector<double> out(C.begin(), C.end());
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        double b = tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        acc += a * b;
      }
      out[size_t(i * ldc + j)] = alpha * acc + beta * double(C[size_t(i * ldc + j)]);
    }
  return out;
}

struct GemmCase {
  bool ta, tb;
};

TEST(Gemm, AllTransposeCombosMatchNaiveFloat) {
  const int64_t M = 5, N = 7, K = 3;
  for (GemmCase g : {GemmCase{false, false}, {false, true}, {true, false}, {true, true}}) {
    // Stored shapes, with one padding column each so the leading dimensions matter.
    int64_t a_rows = g.ta ? K : M, a_cols = g.ta ? M : K;
    int64_t b_rows = g.tb ? N : K, b_cols = g.tb ? K : N;
    int64_t lda = a_cols + 1, ldb = b_cols + 2, ldc = N + 1;
    std::vector<float> A = test::random_vector(a_rows * lda, 1);
    std::vector<float> B = test::random_vector(b_rows * ldb, 2);
    std::vector<float> C = test::random_vector(M * ldc, 3);
    auto want = naive_gemm(g.ta, g.tb, M, N, K, 0.5, A, lda, B, ldb, -2.0, C, ldc);
    cpu::gemm<float>(g.ta, g.tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, -2.f, C.data(), ldc);
    Context ctx;  // and through the dispatcher
    std::vector<float> C2 = test::random_vector(M * ldc, 3);
    gemm(ctx, g.ta, g.tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, -2.f, C2.data(), ldc);
    for (size_t i = 0; i < C.size(); ++i) {
      EXPECT_NEAR(C[i], want[i], 1e-5) << "ta " << g.ta << " tb " << g.tb << " at " << i;
      EXPECT_NEAR(C2[i], want[i], 1e-5) << "dispatcher, ta " << g.ta << " tb " << g.tb;
    }
  }
}

TEST(Gemm, AllTransposeCombosMatchNaiveDouble) {
  const int64_t M = 4, N = 6, K = 5;
  for (GemmCase g : {GemmCase{false, false}, {false, true}, {true, false}, {true, true}}) {
    int64_t lda = g.ta ? M : K, ldb = g.tb ? K : N, ldc = N;
    std::vector<double> A = test::random_doubles(M * K, 4), B = test::random_doubles(K * N, 5);
    std::vector<double> C = test::random_doubles(M * N, 6);
    auto want = naive_gemm(g.ta, g.tb, M, N, K, 1.5, A, lda, B, ldb, 1.0, C, ldc);
    cpu::gemm<double>(g.ta, g.tb, M, N, K, 1.5, A.data(), lda, B.data(), ldb, 1.0, C.data(), ldc);
    for (size_t i = 0; i < C.size(); ++i)
      EXPECT_NEAR(C[i], want[i], 1e-12) << "ta " << g.ta << " tb " << g.tb << " at " << i;
  }
}

TEST(Gemm, BadLeadingDimensionThrows) {
  std::vector<float> A(12), B(12), C(12);
  // A is 3x4 (lda 4 needed), B 4x3, C 3x3.
  EXPECT_NO_THROW(
      cpu::gemm<float>(false, false, 3, 3, 4, 1.f, A.data(), 4, B.data(), 3, 0.f, C.data(), 3));
  EXPECT_THROW(
      cpu::gemm<float>(false, false, 3, 3, 4, 1.f, A.data(), 3, B.data(), 3, 0.f, C.data(), 3),
      Error);
  EXPECT_THROW(
      cpu::gemm<float>(false, true, 3, 3, 4, 1.f, A.data(), 4, B.data(), 3, 0.f, C.data(), 3),
      Error);
}

// The per-element bodies of the CUDA Linear helpers, driven through a CPU loop, against plain
// loops.
TEST(LinearBodies, AddRowBiasAndSumRowsMatchPlainLoops) {
  const int64_t rows = 3, cols = 5;
  std::vector<float> y = test::random_vector(rows * cols, 7), b = test::random_vector(cols, 8);
  std::vector<float> want = y;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[size_t(r * cols + c)] += b[size_t(c)];
  for (int64_t i = 0; i < rows * cols; ++i) add_row_bias_body(i, y.data(), b.data(), cols);
  test::expect_close(y, want, 0, 1e-7, "add_row_bias_body");

  std::vector<float> db(size_t(cols), 1.f), want_db(size_t(cols), 1.f);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want_db[size_t(c)] += y[size_t(r * cols + c)];
  for (int64_t j = 0; j < cols; ++j) sum_rows_body(j, db.data(), y.data(), rows, cols);
  test::expect_close(db, want_db, 0, 1e-6, "sum_rows_body");
}

TEST(CudaVsCpu, Gemm) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  const int64_t M = 37, N = 53, K = 29;
  for (GemmCase g : {GemmCase{false, false}, {false, true}, {true, false}, {true, true}}) {
    int64_t lda = g.ta ? M : K, ldb = g.tb ? K : N;
    Tensor A = test::random_tensor({M * K}, 11), B = test::random_tensor({K * N}, 12);
    Tensor C = test::random_tensor({M * N}, 13);
    Tensor dA = A.to(Device::CUDA), dB = B.to(Device::CUDA), dC = C.to(Device::CUDA);
    gemm(cpu_ctx, g.ta, g.tb, M, N, K, 0.7f, A.f32(), lda, B.f32(), ldb, 0.3f, C.f32(), N);
    gemm(gpu_ctx, g.ta, g.tb, M, N, K, 0.7f, dA.f32(), lda, dB.f32(), ldb, 0.3f, dC.f32(), N);
    test::expect_close(dC.to(Device::CPU), C, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "gemm");
  }
}

}  // namespace
}  // namespace gbad
