// Layout conversions of the half-precision GPU path (docs/mixed-precision.md), as ops:
//   nchw_to_nhwc_half: dst (N, HW, C) f16/bf16 = src (N, C, HW) f32 [* scale[n]], rounding to
//     nearest even (dst's dtype picks the format). NCHW activations -> NHWC with N the batch,
//     KCRS filters -> KRSC with N = K (and scale a folded BatchNorm's per-filter factor).
//   nhwc_half_to_nchw: dst (N, C, HW) f32 (=, or += with accumulate) = src (N, HW, C) half
//     [+ shift[c]] [+ residual] [ReLU].
// The CPU runs the per-element bodies of kernels/layout_body.h (the reference the tests pin);
// CUDA moves 32x32 tiles through shared memory and calls the same per-value functions. The
// convolutions call the raw CUDA forms below directly; every CUDA conversion is counted in
// half_path_stats (kernels/conv2d.h).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/layout_body.h"

namespace gbad {

void nchw_to_nhwc_half(Context& ctx, Tensor& dst, const Tensor& src, int64_t n, int64_t c,
                       int64_t hw, const Tensor* scale = nullptr);
void nhwc_half_to_nchw(Context& ctx, Tensor& dst, const Tensor& src, int64_t n, int64_t c,
                       int64_t hw, const Tensor* shift = nullptr, const Tensor* residual = nullptr,
                       bool relu = false, bool accumulate = false);

namespace cpu {
void nchw_to_nhwc_half(uint16_t* dst, const float* src, int64_t n, int64_t c, int64_t hw,
                       const float* scale, bool fp16);
void nhwc_half_to_nchw(float* dst, const uint16_t* src, int64_t n, int64_t c, int64_t hw,
                       const FromNhwcEpilogue& e, bool fp16);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
// On ctx's stream; device pointers.
void nchw_to_nhwc_half(Context& ctx, uint16_t* dst, const float* src, int64_t n, int64_t c,
                       int64_t hw, const float* scale, bool fp16);
void nhwc_half_to_nchw(Context& ctx, float* dst, const uint16_t* src, int64_t n, int64_t c,
                       int64_t hw, const FromNhwcEpilogue& e, bool fp16);
}  // namespace cuda
#endif

}  // namespace gbad
