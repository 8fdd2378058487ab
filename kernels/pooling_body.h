// Per-element bodies of the pooling / upsampling CUDA kernels, host-callable so a CPU test can
// drive them and compare with the plain-loop reference in kernels/cpu/pooling.cpp. Backward
// bodies gather (one output = one input element), so the CUDA kernels need no atomics.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/philox.h"

namespace gbad {

// Max-pool argmax indices are int32 stored bit-for-bit in a float tensor (exact for any
// tensor up to 2^31 elements, unlike a float-valued index which is exact only to 2^24).
GBAD_HD float maxpool_index_to_bits(int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}
GBAD_HD int32_t maxpool_bits_to_index(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

struct PoolGeom {
  int64_t h, w, ho, wo;
  int k, s, p;
};

// Output element o of the (N*C, Ho, Wo) result: its max over the window and the flat index of
// the first maximum in scan order. Padding never wins (2p <= k keeps every window non-empty).
GBAD_HD float maxpool2d_fwd_body(const float* x, int64_t o, const PoolGeom& g, int32_t* arg) {
  const int64_t plane = o / (g.ho * g.wo);
  const int64_t r = o - plane * g.ho * g.wo;
  const int64_t oh = r / g.wo, ow = r - (r / g.wo) * g.wo;
  const int64_t base = plane * g.h * g.w;
  float best = 0.f;
  int64_t best_i = -1;
  for (int a = 0; a < g.k; ++a) {
    const int64_t ih = oh * g.s - g.p + a;
    if (ih < 0 || ih >= g.h) continue;
    for (int b = 0; b < g.k; ++b) {
      const int64_t iw = ow * g.s - g.p + b;
      if (iw < 0 || iw >= g.w) continue;
      const int64_t idx = base + ih * g.w + iw;
      const float v = x[idx];
      if (best_i < 0 || v > best) {
        best = v;
        best_i = idx;
      }
    }
  }
  *arg = static_cast<int32_t>(best_i);
  return best;
}

// dL/dx at input element i (flat, (N*C, H, W)): the sum of dy over the windows covering it
// whose argmax is i, in a fixed order.
GBAD_HD float maxpool2d_bwd_body(const float* dy, const float* argmax, int64_t i,
                                 const PoolGeom& g) {
  const int64_t plane = i / (g.h * g.w);
  const int64_t r = i - plane * g.h * g.w;
  const int64_t ih = r / g.w, iw = r - (r / g.w) * g.w;
  // Windows oh with oh*s - p <= ih <= oh*s - p + k - 1.
  const int64_t th = ih + g.p - g.k + 1, tw = iw + g.p - g.k + 1;
  const int64_t oh_lo = th <= 0 ? 0 : (th + g.s - 1) / g.s;
  const int64_t ow_lo = tw <= 0 ? 0 : (tw + g.s - 1) / g.s;
  int64_t oh_hi = (ih + g.p) / g.s, ow_hi = (iw + g.p) / g.s;
  if (oh_hi > g.ho - 1) oh_hi = g.ho - 1;
  if (ow_hi > g.wo - 1) ow_hi = g.wo - 1;
  float sum = 0.f;
  for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
    for (int64_t ow = ow_lo; ow <= ow_hi; ++ow) {
      const int64_t o = (plane * g.ho + oh) * g.wo + ow;
      if (maxpool_bits_to_index(argmax[o]) == i) sum += dy[o];
    }
  return sum;
}

// Average pooling geometry (see AvgPool2dParams in pooling.h).
struct AvgGeom {
  int64_t h, w, ho, wo;
  int kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};

// The divisor of output (oh, ow), torch's rule: the window clipped to the padded input when
// padding counts, else clipped to the input.
GBAD_HD int64_t avgpool2d_divisor(int64_t oh, int64_t ow, const AvgGeom& g) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = h0 + g.kh, w1 = w0 + g.kw;
  if (h1 > g.h + g.ph) h1 = g.h + g.ph;
  if (w1 > g.w + g.pw) w1 = g.w + g.pw;
  if (g.count_include_pad) return (h1 - h0) * (w1 - w0);
  if (h0 < 0) h0 = 0;
  if (w0 < 0) w0 = 0;
  if (h1 > g.h) h1 = g.h;
  if (w1 > g.w) w1 = g.w;
  return (h1 - h0) * (w1 - w0);
}

// Output element o of the (N*C, Ho, Wo) result.
template <typename T>
GBAD_HD T avgpool2d_fwd_body(const T* x, int64_t o, const AvgGeom& g) {
  const int64_t plane = o / (g.ho * g.wo);
  const int64_t r = o - plane * g.ho * g.wo;
  const int64_t oh = r / g.wo, ow = r - (r / g.wo) * g.wo;
  const T* xp = x + plane * g.h * g.w;
  T sum = 0;
  for (int a = 0; a < g.kh; ++a) {
    const int64_t ih = oh * g.sh - g.ph + a;
    if (ih < 0 || ih >= g.h) continue;
    for (int b = 0; b < g.kw; ++b) {
      const int64_t iw = ow * g.sw - g.pw + b;
      if (iw >= 0 && iw < g.w) sum += xp[ih * g.w + iw];
    }
  }
  return sum / static_cast<T>(avgpool2d_divisor(oh, ow, g));
}

// dL/dx at input element i of (N*C, H, W): sum over the windows covering it of dy / divisor,
// in a fixed order (a gather: no atomics on the GPU).
template <typename T>
GBAD_HD T avgpool2d_bwd_body(const T* dy, int64_t i, const AvgGeom& g) {
  const int64_t plane = i / (g.h * g.w);
  const int64_t r = i - plane * g.h * g.w;
  const int64_t ih = r / g.w, iw = r - (r / g.w) * g.w;
  const int64_t th = ih + g.ph - g.kh + 1, tw = iw + g.pw - g.kw + 1;
  const int64_t oh_lo = th <= 0 ? 0 : (th + g.sh - 1) / g.sh;
  const int64_t ow_lo = tw <= 0 ? 0 : (tw + g.sw - 1) / g.sw;
  int64_t oh_hi = (ih + g.ph) / g.sh, ow_hi = (iw + g.pw) / g.sw;
  if (oh_hi > g.ho - 1) oh_hi = g.ho - 1;
  if (ow_hi > g.wo - 1) ow_hi = g.wo - 1;
  T sum = 0;
  for (int64_t oh = oh_lo; oh <= oh_hi; ++oh)
    for (int64_t ow = ow_lo; ow <= ow_hi; ++ow)
      sum += dy[(plane * g.ho + oh) * g.wo + ow] / static_cast<T>(avgpool2d_divisor(oh, ow, g));
  return sum;
}

// Mean of plane `plane` (hw elements), summed in double.
GBAD_HD float global_avgpool_fwd_body(const float* x, int64_t plane, int64_t hw) {
  double s = 0.0;
  const float* p = x + plane * hw;
  for (int64_t j = 0; j < hw; ++j) s += p[j];
  return static_cast<float>(s / static_cast<double>(hw));
}

// torch's nearest rule, in exact integer arithmetic: src = floor(dst * in / out).
GBAD_HD int64_t upsample_nearest_src(int64_t dst, int64_t in, int64_t out) {
  int64_t s = dst * in / out;
  return s < in - 1 ? s : in - 1;
}

// First destination index whose source is >= src: ceil(src * out / in).
GBAD_HD int64_t upsample_nearest_first_dst(int64_t src, int64_t in, int64_t out) {
  return (src * out + in - 1) / in;
}

// Output element o of y (N*C, Ho, Wo) from x (N*C, H, W).
GBAD_HD float upsample_nearest_fwd_body(const float* x, int64_t o, int64_t h, int64_t w, int64_t ho,
                                        int64_t wo) {
  const int64_t plane = o / (ho * wo);
  const int64_t r = o - plane * ho * wo;
  const int64_t oh = r / wo, ow = r - (r / wo) * wo;
  return x[(plane * h + upsample_nearest_src(oh, h, ho)) * w + upsample_nearest_src(ow, w, wo)];
}

// dL/dx at input element i of (N*C, H, W): sum of dy over its copies, in a fixed order.
GBAD_HD float upsample_nearest_bwd_body(const float* dy, int64_t i, int64_t h, int64_t w,
                                        int64_t ho, int64_t wo) {
  const int64_t plane = i / (h * w);
  const int64_t r = i - plane * h * w;
  const int64_t ih = r / w, iw = r - (r / w) * w;
  int64_t oh_lo = upsample_nearest_first_dst(ih, h, ho);
  int64_t oh_hi = upsample_nearest_first_dst(ih + 1, h, ho);
  int64_t ow_lo = upsample_nearest_first_dst(iw, w, wo);
  int64_t ow_hi = upsample_nearest_first_dst(iw + 1, w, wo);
  if (oh_hi > ho) oh_hi = ho;
  if (ow_hi > wo) ow_hi = wo;
  float sum = 0.f;
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh)
    for (int64_t ow = ow_lo; ow < ow_hi; ++ow) sum += dy[(plane * ho + oh) * wo + ow];
  return sum;
}

}  // namespace gbad
