// Layout conversions of the half-precision GPU path (docs/mixed-precision.md), as host/device
// per-element bodies so CPU tests pin the index maths the CUDA kernels run.
//
// Both conversions permute (N, C, HW) <-> (N, HW, C): NCHW <-> NHWC for activations with N the
// batch and HW = H*W, and KCRS <-> KRSC for filters with N = K output channels and HW = R*S.
// Into half: one pass reads fp32 in the reference layout, optionally multiplies by a per-outer
// (per-filter) factor (a folded BatchNorm's scale) and writes 16-bit NHWC, rounding to nearest
// even (core/half.h). Out of half: exact conversion back to fp32 NCHW with an optional
// per-channel shift (a bias), residual, ReLU, and either overwrite or accumulate (+=, the
// weight gradients). The CUDA kernels (kernels/cuda/half_path.cuh) move 32x32 tiles through
// shared memory so that both sides are read and written contiguously, and call the same
// per-value functions (to_half_scaled, store_nchw) as the per-element bodies here.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/half.h"

namespace gbad {

// Offset of element (n, c, hw) in an NHWC (n, hw, c) array.
GBAD_HD int64_t nhwc_offset(int64_t n, int64_t c, int64_t hw, int64_t C, int64_t HW) {
  return (n * HW + hw) * C + c;
}
// Offset of element (n, c, hw) in an NCHW (n, c, hw) array.
GBAD_HD int64_t nchw_offset(int64_t n, int64_t c, int64_t hw, int64_t C, int64_t HW) {
  return (n * C + c) * HW + hw;
}

GBAD_HD uint16_t float_to_half_bits(float f, bool fp16) {
  return fp16 ? float_to_f16_bits(f) : float_to_bf16_bits(f);
}
GBAD_HD float half_bits_to_float(uint16_t h, bool fp16) {
  return fp16 ? f16_bits_to_float(h) : bf16_bits_to_float(h);
}

// One value into half on the way in: v [* scale[n]], rounded to nearest even.
GBAD_HD uint16_t to_half_scaled(float v, const float* scale, int64_t n, bool fp16) {
  if (scale) v *= scale[n];
  return float_to_half_bits(v, fp16);
}

// i runs over the NHWC destination: dst[i] = half(src[NCHW of i] * (scale ? scale[n] : 1)).
GBAD_HD void nchw_to_nhwc_half_body(int64_t i, uint16_t* dst, const float* src, int64_t C,
                                    int64_t HW, const float* scale, bool fp16) {
  const int64_t c = i % C, hw = (i / C) % HW, n = i / (C * HW);
  dst[i] = to_half_scaled(src[nchw_offset(n, c, hw, C, HW)], scale, n, fp16);
}

// What a half NHWC result is turned into on the fp32 NCHW side.
struct FromNhwcEpilogue {
  const float* shift = nullptr;     // (C) added per channel, or null
  const float* residual = nullptr;  // NCHW like dst, added, or null
  bool relu = false;
  bool accumulate = false;  // dst += value instead of dst = value
};

// Stores the value v of NCHW element i (channel c) with the epilogue.
GBAD_HD void store_nchw(float* dst, int64_t i, int64_t c, float v, const FromNhwcEpilogue& e) {
  if (e.shift) v += e.shift[c];
  if (e.residual) v += e.residual[i];
  if (e.relu && !(v > 0.f)) v = 0.f;
  dst[i] = e.accumulate ? dst[i] + v : v;
}

// i runs over the NCHW destination.
GBAD_HD void nhwc_half_to_nchw_body(int64_t i, float* dst, const uint16_t* src, int64_t C,
                                    int64_t HW, FromNhwcEpilogue e, bool fp16) {
  const int64_t hw = i % HW, c = (i / HW) % C, n = i / (C * HW);
  store_nchw(dst, i, c, half_bits_to_float(src[nhwc_offset(n, c, hw, C, HW)], fp16), e);
}

// BatchNorm folded into a convolution (eval): scale[k] = gamma / sqrt(var + eps),
// shift[k] = beta - mean * scale[k]; conv(x, w * scale) + shift == BN_eval(conv(x, w)).
GBAD_HD void fold_bn_body(int64_t k, float* scale, float* shift, const float* gamma,
                          const float* beta, const float* mean, const float* var, float eps) {
  const float s = gamma[k] / sqrtf(var[k] + eps);
  scale[k] = s;
  shift[k] = beta[k] - mean[k] * s;
}

// fp32 -> half, same layout (the GEMM operands).
GBAD_HD void to_half_body(int64_t i, uint16_t* dst, const float* src, bool fp16) {
  dst[i] = float_to_half_bits(src[i], fp16);
}

}  // namespace gbad
