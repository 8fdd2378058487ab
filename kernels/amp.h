// Dynamic loss scaling for fp16 training, with PyTorch GradScaler's semantics, over a 4-float
// state tensor on the device (see kernels/amp_body.h for its layout).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/precision.h"
#include "core/tensor.h"

namespace gbad {

// grads *= 1 / state[scale]; state[found_inf] = 1 when any result is inf or NaN.
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
// The end-of-step update of scale, growth tracker, skipped count; clears found_inf.
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);
// t *= state[scale] (the loss gradient of a scaled loss), the scale read on the device.
void amp_scale(Context& ctx, Tensor& t, const Tensor& state);
// Rounds every value of t to nearest even through fp16 or bf16 storage and back (core/half.h);
// nothing for fp32 and tf32. The emulation of half storage on fp32 tensors.
void amp_round(Context& ctx, Tensor& t, Precision p);
// amp_round at the context's precision: called where a GPU run stores an activation, a weight
// copy or a gradient in half. Returns at once for fp32/tf32 (the fp32 path is unchanged) and for
// tensors that are 16-bit already (kernels/nhwc.h).
inline void amp_store(Context& ctx, Tensor& t) {
  if (stores_half(ctx.precision()) && t.dtype() == DType::F32) amp_round(ctx, t, ctx.precision());
}
// Real half storage: dst = src converted between f32 and f16/bf16 (same element count; one of
// the two is f32), rounding to nearest even into half, exact out of it (core/half.h).
void amp_cast(Context& ctx, Tensor& dst, const Tensor& src);

namespace cpu {
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);
void amp_scale(Context& ctx, Tensor& t, const Tensor& state);
void amp_round(Context& ctx, Tensor& t, Precision p);
void amp_cast(Context& ctx, Tensor& dst, const Tensor& src);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);
void amp_scale(Context& ctx, Tensor& t, const Tensor& state);
void amp_round(Context& ctx, Tensor& t, Precision p);
void amp_cast(Context& ctx, Tensor& dst, const Tensor& src);
}  // namespace cuda
#endif

}  // namespace gbad
