// Shared test helpers: tolerances in one place, GPU skip, random tensors, comparisons.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad::test {

// Tolerances, in one place.
struct Tol {
  static constexpr double kCudaVsCpuRel = 1e-4;  // CUDA op vs CPU twin, fp32, relative
  static constexpr double kCudaVsCpuAbs = 1e-5;
  static constexpr double kGradDouble = 1e-6;  // finite differences in double precision
  static constexpr double kGradFloat = 2e-2;   // finite differences through float32 code
                                               // (both relative to the gradient's norm)
  static constexpr double kHand = 1e-6;        // against hand-computed values
};

// Skips the current test, with the reason, when no CUDA device is usable (machines without
// GPU or driver, a driver older than the runtime, a mismatched cuDNN). With GBAD_REQUIRE_GPU=1
// in the environment the same situation is a failure instead: a GPU run can never pass by
// skipping. Every GPU test starts with it (also usable in void helpers called from a TEST).
bool gpu_required();  // GBAD_REQUIRE_GPU set and not "0"
#define GBAD_REQUIRE_CUDA()                                                   \
  do {                                                                        \
    if (!::gbad::cuda_available()) {                                          \
      if (::gbad::test::gpu_required())                                       \
        FAIL() << "GBAD_REQUIRE_GPU=1 but no GPU is usable: "                 \
               << ::gbad::cuda_unavailable_reason();                          \
      GTEST_SKIP() << "no usable GPU: " << ::gbad::cuda_unavailable_reason(); \
    }                                                                         \
  } while (0)

// Uniform [lo, hi) values from a fixed seed.
std::vector<float> random_vector(int64_t n, uint64_t seed, float lo = -1.f, float hi = 1.f);
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f,
                     Device device = Device::CPU);

// EXPECTs every element close: |a - b| <= abs + rel * max(|a|, |b|). Reports the worst index.
void expect_close(const std::vector<float>& a, const std::vector<float>& b, double rel, double abs,
                  const char* what = "");
void expect_close(const Tensor& a, const Tensor& b, double rel, double abs, const char* what = "");

// Central finite-difference gradient check (Caffe's GradientChecker idea).
//   f():      evaluates the scalar loss at the current contents of x (accumulate in double)
//   x, n:     the input being checked (perturbed in place and restored)
//   analytic: dL/dx computed by the backward pass, n values
//   step:     finite-difference step
//   tol:      tolerance on |analytic - numeric|_2 / max(|analytic|_2, |numeric|_2) over the
//             checked entries (vectors, so small gradients are held to the same relative
//             standard as large ones); the analytic gradient's norm over all n entries must
//             be > 0
//   max_points: check at most this many entries (a seeded random sample when n is larger)
//   kink(i):  optional, true where x[i] sits on a non-differentiable point (skip it)
// Returns the number of entries checked; EXPECTs the relative error and the norms.
template <typename T, typename F>
int64_t check_gradient(F&& f, T* x, int64_t n, const T* analytic, double step, double tol,
                       int64_t max_points = 200, uint64_t seed = 1,
                       const std::function<bool(int64_t)>& kink = nullptr);

// Bit-for-bit equality, reporting the first difference.
inline void expect_bitwise_equal(const std::vector<float>& a, const std::vector<float>& b,
                                 const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      ADD_FAILURE() << what << ": first difference at " << i << " (" << a[i] << " vs " << b[i]
                    << ")";
      return;
    }
}

}  // namespace gbad::test

#include "common/gradcheck_impl.h"
