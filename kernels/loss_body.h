// Per-element bodies of the loss CUDA kernels, host-callable so a CPU test can drive them and
// compare with the double-precision reference in kernels/cpu/loss.cpp.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

struct LossTerm {
  float loss;
  float grad;  // d loss / d input, before dividing by the element count
};

// BCE with logits for one element, pos_weight pw (1 = none). Only exp of non-positive
// arguments, so logits of any size give finite values.
GBAD_HD LossTerm bce_term(float z, float t, float pw) {
  const float e = expf(-fabsf(z));
  const float softplus_neg = log1pf(e) + fmaxf(-z, 0.f);  // log(1 + exp(-z))
  const float lw = 1.f + (pw - 1.f) * t;
  const float sig = z >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
  LossTerm r;
  r.loss = (1.f - t) * z + lw * softplus_neg;
  r.grad = (1.f - t) + lw * (sig - 1.f);  // = sigmoid(z) - t when pw = 1
  return r;
}

GBAD_HD float l1_grad_body(float a, float b, float inv_n) {
  const float d = a - b;
  return d > 0.f ? inv_n : (d < 0.f ? -inv_n : 0.f);
}

GBAD_HD float l2_grad_body(float a, float b, float inv_n) {
  return 2.f * (a - b) * inv_n;
}

// Row sums over d elements, in double.
GBAD_HD double l1_row_body(const float* a, const float* b, int64_t d) {
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) s += fabs(static_cast<double>(a[j]) - b[j]);
  return s;
}
GBAD_HD double l2_row_sq_body(const float* a, const float* b, int64_t d) {
  double s = 0.0;
  for (int64_t j = 0; j < d; ++j) {
    const double t = static_cast<double>(a[j]) - b[j];
    s += t * t;
  }
  return s;
}

// Gradient of ||a-b||_2 for one element, 0 when the row's norm is 0.
GBAD_HD float l2_per_sample_bwd_body(float dout, float a, float b, float norm) {
  return norm > 0.f ? dout * (a - b) / norm : 0.f;
}

}  // namespace gbad
