// Per-element bodies of the half NHWC ops (kernels/nhwc.h) that our own CUDA kernels run, as
// host/device functions so that CPU tests pin them (Precision.NhwcHalfBodies*). Elements are
// indexed in NHWC memory order: i = ((n * H + h) * W + w) * C + c. Half values are raw 16-bit
// patterns of fp16 or bf16 (fp16 picks), widened exactly to fp32, computed in fp32 and rounded
// to nearest even once per stored value (core/half.h).
#pragma once

#include <cstdint>

#include "kernels/layout_body.h"
#include "kernels/pooling_body.h"

namespace gbad {

// y = half(a + b): the emulation's fp32 add of two half values, then its storage rounding.
GBAD_HD void half_add_body(int64_t i, uint16_t* y, const uint16_t* a, const uint16_t* b,
                           bool fp16) {
  y[i] = float_to_half_bits(half_bits_to_float(a[i], fp16) + half_bits_to_float(b[i], fp16), fp16);
}

// A convolution's epilogue on half NHWC data: y = half(act(conv + shift[c] [+ residual])).
// conv and y may alias.
GBAD_HD void half_epilogue_body(int64_t i, uint16_t* y, const uint16_t* conv, const float* shift,
                                const uint16_t* residual, bool relu, int64_t C, bool fp16) {
  float v = half_bits_to_float(conv[i], fp16);
  if (shift) v += shift[i % C];
  if (residual) v += half_bits_to_float(residual[i], fp16);
  if (relu && !(v > 0.f)) v = 0.f;
  y[i] = float_to_half_bits(v, fp16);
}

// dz = dy where the ReLU's output y is positive, else 0 (exact: no rounding).
GBAD_HD void relu_mask_half_body(int64_t i, uint16_t* dz, const uint16_t* dy, const uint16_t* y,
                                 bool fp16) {
  dz[i] = half_bits_to_float(y[i], fp16) > 0.f ? dy[i] : uint16_t(0);
}

// Max pooling over NHWC: output element o (NHWC of (N, C, Ho, Wo)) is the maximum of its window
// (exact: a half value), the first maximum in scan order wins, as maxpool2d_fwd_body; *arg gets
// its in-plane input index ih * W + iw.
GBAD_HD uint16_t maxpool_nhwc_fwd_body(const uint16_t* x, int64_t o, const PoolGeom& g, int64_t C,
                                       bool fp16, int32_t* arg) {
  const int64_t c = o % C;
  int64_t r = o / C;
  const int64_t ow = r % g.wo;
  r /= g.wo;
  const int64_t oh = r % g.ho, n = r / g.ho;
  float best = 0.f;
  uint16_t best_bits = 0;
  int64_t best_i = -1;
  for (int a = 0; a < g.k; ++a) {
    const int64_t ih = oh * g.s - g.p + a;
    if (ih < 0 || ih >= g.h) continue;
    for (int b = 0; b < g.k; ++b) {
      const int64_t iw = ow * g.s - g.p + b;
      if (iw < 0 || iw >= g.w) continue;
      const uint16_t bits = x[((n * g.h + ih) * g.w + iw) * C + c];
      const float v = half_bits_to_float(bits, fp16);
      if (best_i < 0 || v > best) {
        best = v;
        best_bits = bits;
        best_i = ih * g.w + iw;
      }
    }
  }
  *arg = static_cast<int32_t>(best_i);
  return best_bits;
}

// dL/dx at NHWC input element i: the fp32 sum of dy over the windows covering it whose argmax
// (maxpool_nhwc_fwd_body's, stored with maxpool_index_to_bits) is this element, in a fixed
// order (rows, then columns of windows), rounded once.
GBAD_HD uint16_t maxpool_nhwc_bwd_body(const uint16_t* dy, const float* argmax, int64_t i,
                                       const PoolGeom& g, int64_t C, bool fp16) {
  const int64_t c = i % C;
  int64_t r = i / C;
  const int64_t iw = r % g.w;
  r /= g.w;
  const int64_t ih = r % g.h, n = r / g.h;
  const int64_t th = ih + g.p - g.k + 1, tw = iw + g.p - g.k + 1;
  const int64_t oh_lo = th <= 0 ? 0 : (th + g.s - 1) / g.s;
  const int64_t ow_lo = tw <= 0 ? 0 : (tw + g.s - 1) / g.s;
  int64_t oh_hi = (ih + g.p) / g.s, ow_hi = (iw + g.p) / g.s;
  if (oh_hi > g.ho - 1) oh_hi = g.ho - 1;
  if (ow_hi > g.wo - 1) ow_hi = g.wo - 1;
  const int64_t self = ih * g.w + iw;
  float sum = 0.f;
  for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
    for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
      const int64_t o = ((n * g.ho + oh) * g.wo + ow) * C + c;
      if (maxpool_bits_to_index(argmax[o]) == self) sum += half_bits_to_float(dy[o], fp16);
    }
  return float_to_half_bits(sum, fp16);
}

// The FPN's top-down merge: y (N, C, H, W) = half(lat + x[nearest source]) at lat's size, x
// (N, C, h, w); torch's nearest rule (upsample_nearest_src).
GBAD_HD void upsample_add_nhwc_fwd_body(int64_t i, uint16_t* y, const uint16_t* lat,
                                        const uint16_t* x, int64_t C, int64_t H, int64_t W,
                                        int64_t h, int64_t w, bool fp16) {
  const int64_t c = i % C;
  int64_t r = i / C;
  const int64_t ow = r % W;
  r /= W;
  const int64_t oh = r % H, n = r / H;
  const int64_t src =
      ((n * h + upsample_nearest_src(oh, h, H)) * w + upsample_nearest_src(ow, w, W)) * C + c;
  y[i] =
      float_to_half_bits(half_bits_to_float(lat[i], fp16) + half_bits_to_float(x[src], fp16), fp16);
}

// Its backward at element i of the small level (N, C, h, w): half(addend + the fp32 sum of dy
// (N, C, H, W) over the copies of i, in a fixed order).
GBAD_HD uint16_t upsample_add_nhwc_bwd_body(int64_t i, const uint16_t* dy, const uint16_t* addend,
                                            int64_t C, int64_t h, int64_t w, int64_t H, int64_t W,
                                            bool fp16) {
  const int64_t c = i % C;
  int64_t r = i / C;
  const int64_t iw = r % w;
  r /= w;
  const int64_t ih = r % h, n = r / h;
  int64_t oh_lo = upsample_nearest_first_dst(ih, h, H),
          oh_hi = upsample_nearest_first_dst(ih + 1, h, H);
  int64_t ow_lo = upsample_nearest_first_dst(iw, w, W),
          ow_hi = upsample_nearest_first_dst(iw + 1, w, W);
  if (oh_hi > H) oh_hi = H;
  if (ow_hi > W) ow_hi = W;
  float sum = 0.f;
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh)
    for (int64_t ow = ow_lo; ow < ow_hi; ++ow)
      sum += half_bits_to_float(dy[((n * H + oh) * W + ow) * C + c], fp16);
  return float_to_half_bits(half_bits_to_float(addend[i], fp16) + sum, fp16);
}

// Global average pooling of half NHWC x into fp32 (N, C) row o = n * C + c: the mean over the
// HW pixels summed in double (as global_avgpool_fwd_body), rounded to half (the storage point)
// and kept in fp32.
GBAD_HD float gap_nhwc_fwd_body(const uint16_t* x, int64_t o, int64_t C, int64_t HW, bool fp16) {
  const int64_t n = o / C, c = o % C;
  double s = 0.0;
  for (int64_t j = 0; j < HW; ++j) s += half_bits_to_float(x[(n * HW + j) * C + c], fp16);
  return half_bits_to_float(
      float_to_half_bits(static_cast<float>(s / static_cast<double>(HW)), fp16), fp16);
}

// Its backward at NHWC element i: half(dy[n, c] * (1 / HW)) (as the fp32 op, then stored).
GBAD_HD uint16_t gap_nhwc_bwd_body(const float* dy, int64_t i, int64_t C, int64_t HW, bool fp16) {
  const int64_t c = i % C, n = i / (C * HW);
  return float_to_half_bits(dy[n * C + c] * (1.f / static_cast<float>(HW)), fp16);
}

}  // namespace gbad
