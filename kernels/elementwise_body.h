// Per-element bodies of the elementwise CUDA kernels, host-callable so a CPU test can drive
// them and compare with the plain-loop reference in kernels/cpu/elementwise.cpp.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

GBAD_HD float relu_fwd_body(float x) {
  return x > 0.f ? x : 0.f;
}
GBAD_HD float relu_bwd_body(float dy, float y) {
  return y > 0.f ? dy : 0.f;
}
GBAD_HD float leaky_fwd_body(float x, float slope) {
  return x > 0.f ? x : slope * x;
}
GBAD_HD float leaky_bwd_body(float dy, float x, float slope) {
  return x > 0.f ? dy : slope * dy;
}
// Stable for large |x|: exp of a non-positive number only.
GBAD_HD float sigmoid_fwd_body(float x) {
  float e = expf(-fabsf(x));
  return x >= 0.f ? 1.f / (1.f + e) : e / (1.f + e);
}
GBAD_HD float sigmoid_bwd_body(float dy, float y) {
  return dy * y * (1.f - y);
}
GBAD_HD float tanh_fwd_body(float x) {
  return tanhf(x);
}
GBAD_HD float tanh_bwd_body(float dy, float y) {
  return dy * (1.f - y * y);
}

// Element i of y (N, ca+cb, inner) comes from a (N, ca, inner) or b (N, cb, inner): returns
// true for a, with the source index in *src.
GBAD_HD bool concat1_source(int64_t i, int64_t ca, int64_t cb, int64_t inner, int64_t* src) {
  int64_t c_all = ca + cb;
  int64_t n = i / (c_all * inner);
  int64_t rem = i - n * c_all * inner;
  int64_t c = rem / inner;
  int64_t k = rem - c * inner;
  if (c < ca) {
    *src = (n * ca + c) * inner + k;
    return true;
  }
  *src = (n * cb + (c - ca)) * inner + k;
  return false;
}

// Inverted-dropout mask value of element i: 0 or 1/(1-p).
GBAD_HD float dropout_mask_body(uint64_t seed, uint64_t offset, int64_t i, float p) {
  return rng_uniform(seed, offset, static_cast<uint64_t>(i)) >= p ? 1.f / (1.f - p) : 0.f;
}

}  // namespace gbad
