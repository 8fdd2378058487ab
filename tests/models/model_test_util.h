// Helpers and tolerances shared by the model tests (in one place).
#pragma once

#include <string>
#include <vector>

#include "common/test_util.h"
#include "nn/param_store.h"

namespace gbad::test {

struct ModelTol {
  // Whole-model finite differences through float32 code (BN in training mode, ReLU/max-pool
  // kinks): step and tolerance, the latter scaled by max(|analytic|, |numeric|, 1).
  static constexpr double kFdStep = 5e-3;
  static constexpr double kFdTol = 1e-2;
  // PyTorch fixtures: different summation order in float32 through ~20-100 layers.
  static constexpr double kTorchRel = 2e-3;
  static constexpr double kTorchAbs = 2e-4;
  static constexpr double kTorchGradAbs = 5e-4;  // gradients, relative to their max |value|
  // Whole model, CUDA vs CPU (cuDNN algorithms, TF32 off).
  static constexpr double kCudaRel = 2e-3;
  static constexpr double kCudaAbs = 2e-4;
};

// sum_i a[i] * b[i] in double.
inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * double(b[i]);
  return s;
}

// FD-checks up to `per_tensor` random entries of every trainable entry of `ps` against its
// gradient buffer (which must hold dL/dparam for the current values). `loss` re-evaluates.
template <typename F>
void check_all_params(ParamStore& ps, F&& loss, int64_t per_tensor, const std::string& what) {
  std::vector<float> grads = ps.grads().to_vector();
  float* values = ps.params().f32();
  int64_t checked = 0;
  for (const auto& e : ps.entries()) {
    if (!e.trainable) continue;
    SCOPED_TRACE(what + ": " + e.name);
    checked += check_gradient(loss, values + e.offset, e.numel, grads.data() + e.offset,
                              ModelTol::kFdStep, ModelTol::kFdTol, per_tensor,
                              static_cast<uint64_t>(e.offset + 1));
  }
  EXPECT_GT(checked, 0);
}

}  // namespace gbad::test
