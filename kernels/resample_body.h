// Per-element bodies of the bilinear resampling kernels (kernels/resample.h), host-callable so
// a CPU test can drive the CUDA kernels' logic and compare it with the plain-loop reference.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

// The two source taps of output index d along one axis (torch, align_corners=False).
template <typename T>
struct BilinearTap {
  int64_t i0, i1;
  T l0, l1;  // weights of i0 and i1
};

template <typename T>
GBAD_HD BilinearTap<T> bilinear_tap(int64_t d, int64_t in, int64_t out) {
  const T scale = static_cast<T>(in) / static_cast<T>(out);
  T src = scale * (static_cast<T>(d) + T(0.5)) - T(0.5);
  if (src < T(0)) src = T(0);
  int64_t i0 = static_cast<int64_t>(src);
  if (i0 > in - 1) i0 = in - 1;
  BilinearTap<T> t;
  t.i0 = i0;
  t.i1 = i0 < in - 1 ? i0 + 1 : i0;
  t.l1 = src - static_cast<T>(i0);
  t.l0 = T(1) - t.l1;
  return t;
}

// Weight of source index i in output index d (0 when d does not read i).
template <typename T>
GBAD_HD T bilinear_weight(int64_t i, int64_t d, int64_t in, int64_t out) {
  const BilinearTap<T> t = bilinear_tap<T>(d, in, out);
  return (t.i0 == i ? t.l0 : T(0)) + (t.i1 == i ? t.l1 : T(0));
}

// Output element o of y (planes, Ho, Wo) from x (planes, H, W).
template <typename T>
GBAD_HD T upsample_bilinear_fwd_body(const T* x, int64_t o, int64_t h, int64_t w, int64_t ho,
                                     int64_t wo) {
  const int64_t plane = o / (ho * wo);
  const int64_t r = o - plane * ho * wo;
  const int64_t oh = r / wo, ow = r - (r / wo) * wo;
  const BilinearTap<T> th = bilinear_tap<T>(oh, h, ho), tw = bilinear_tap<T>(ow, w, wo);
  const T* xp = x + plane * h * w;
  return th.l0 * (tw.l0 * xp[th.i0 * w + tw.i0] + tw.l1 * xp[th.i0 * w + tw.i1]) +
         th.l1 * (tw.l0 * xp[th.i1 * w + tw.i0] + tw.l1 * xp[th.i1 * w + tw.i1]);
}

// Output indices [lo, hi) that may read source index i: a window around i's image under the
// inverse scale, widened by two on each side against rounding; callers weigh each candidate
// exactly with bilinear_weight (0 for those that do not read i).
GBAD_HD void bilinear_dst_window(int64_t i, int64_t in, int64_t out, int64_t* lo, int64_t* hi) {
  const double inv = static_cast<double>(out) / static_cast<double>(in);
  int64_t a = static_cast<int64_t>((static_cast<double>(i) - 0.5) * inv - 0.5) - 2;
  int64_t b = static_cast<int64_t>((static_cast<double>(i) + 1.5) * inv - 0.5) + 3;
  *lo = a < 0 ? 0 : a;
  *hi = b > out ? out : b;
  if (*hi < *lo) *hi = *lo;
}

// dL/dx at input element i of (planes, H, W): the weighted sum of the dy that read it, in a
// fixed order.
template <typename T>
GBAD_HD T upsample_bilinear_bwd_body(const T* dy, int64_t i, int64_t h, int64_t w, int64_t ho,
                                     int64_t wo) {
  const int64_t plane = i / (h * w);
  const int64_t r = i - plane * h * w;
  const int64_t ih = r / w, iw = r - (r / w) * w;
  int64_t oh_lo, oh_hi, ow_lo, ow_hi;
  bilinear_dst_window(ih, h, ho, &oh_lo, &oh_hi);
  bilinear_dst_window(iw, w, wo, &ow_lo, &ow_hi);
  const T* d = dy + plane * ho * wo;
  T sum = T(0);
  for (int64_t oh = oh_lo; oh < oh_hi; ++oh) {
    const T wh = bilinear_weight<T>(ih, oh, h, ho);
    if (wh == T(0)) continue;
    T row = T(0);
    for (int64_t ow = ow_lo; ow < ow_hi; ++ow) {
      const T ww = bilinear_weight<T>(iw, ow, w, wo);
      if (ww != T(0)) row += ww * d[oh * wo + ow];
    }
    sum += wh * row;
  }
  return sum;
}

}  // namespace gbad
