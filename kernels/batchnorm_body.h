// Per-element / per-thread bodies of the eval-mode BatchNorm backward kernels, shared by
// kernels/cuda/batchnorm.cu and a CPU loop in the tests.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

// dx[i] = dy[i] gamma[c] / sqrt(running_var[c] + eps), c the channel of NCHW element i.
GBAD_HD void bn_eval_dx_body(int64_t i, float* dx, const float* dy, const float* gamma,
                             const float* running_var, float eps, int64_t c, int64_t hw) {
  const int64_t ch = (i / hw) % c;
  dx[i] = dy[i] * gamma[ch] / sqrtf(running_var[ch] + eps);
}

// Thread `t` of `nt` sums, for channel ch, dy and dy * xhat over its share of the N*HW
// elements (xhat from the running statistics). The caller reduces over the threads.
GBAD_HD void bn_eval_param_partial(int64_t ch, int64_t t, int64_t nt, const float* dy,
                                   const float* x, const float* running_mean,
                                   const float* running_var, float eps, int64_t n, int64_t c,
                                   int64_t hw, float* sum_dy, float* sum_dy_xhat) {
  const float mean = running_mean[ch], invstd = 1.f / sqrtf(running_var[ch] + eps);
  float a = 0.f, b = 0.f;
  for (int64_t j = t; j < n * hw; j += nt) {
    const int64_t idx = (j / hw * c + ch) * hw + j % hw;
    a += dy[idx];
    b += dy[idx] * (x[idx] - mean) * invstd;
  }
  *sum_dy = a;
  *sum_dy_xhat = b;
}

}  // namespace gbad
