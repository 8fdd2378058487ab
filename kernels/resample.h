// Resampling ops that are not pooling: bilinear upsampling (torch's mode="bilinear",
// align_corners=False, the CHR head's top-down path). NCHW; input gradients are overwritten.
//   source coordinate of output index d: s = max(0, (in/out) * (d + 0.5) - 0.5);
//   i0 = floor(s), i1 = min(i0 + 1, in - 1), weights (1 - (s - i0), s - i0).
// CPU: plain loops over (n, c) planes (backward scatters). CUDA: one thread per element over
// the bodies in kernels/resample_body.h; the backward gathers (deterministic, no atomics).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// x (N,C,H,W) -> y (N,C,Ho,Wo) at y's size (any Ho, Wo >= 1: up or down).
void upsample_bilinear_forward(Context& ctx, Tensor& y, const Tensor& x);
// dy (N,C,Ho,Wo) -> dx (N,C,H,W) at dx's size.
void upsample_bilinear_backward(Context& ctx, Tensor& dx, const Tensor& dy);

namespace cpu {
// Raw-pointer reference over `planes` = N*C planes, templated on the scalar type.
template <typename T>
void upsample_bilinear_forward(T* y, const T* x, int64_t planes, int64_t h, int64_t w, int64_t ho,
                               int64_t wo);
template <typename T>
void upsample_bilinear_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                                int64_t ho, int64_t wo);

void upsample_bilinear_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_bilinear_backward(Context& ctx, Tensor& dx, const Tensor& dy);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void upsample_bilinear_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_bilinear_backward(Context& ctx, Tensor& dx, const Tensor& dy);
}  // namespace cuda
#endif

}  // namespace gbad
