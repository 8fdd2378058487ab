// CPU reference of kernels/layout.h: the per-element bodies of kernels/layout_body.h.
#include "kernels/layout.h"

namespace gbad::cpu {

void nchw_to_nhwc_half(uint16_t* dst, const float* src, int64_t n, int64_t c, int64_t hw,
                       const float* scale, bool fp16) {
  const int64_t count = n * c * hw;
#pragma omp parallel for schedule(static) if (count > (int64_t(1) << 16))
  for (int64_t i = 0; i < count; ++i) nchw_to_nhwc_half_body(i, dst, src, c, hw, scale, fp16);
}

void nhwc_half_to_nchw(float* dst, const uint16_t* src, int64_t n, int64_t c, int64_t hw,
                       const FromNhwcEpilogue& e, bool fp16) {
  const int64_t count = n * c * hw;
#pragma omp parallel for schedule(static) if (count > (int64_t(1) << 16))
  for (int64_t i = 0; i < count; ++i) nhwc_half_to_nchw_body(i, dst, src, c, hw, e, fp16);
}

}  // namespace gbad::cpu
