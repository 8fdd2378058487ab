// Dynamic loss scaling for fp16 training, with PyTorch GradScaler's semantics, over a 4-float
// state tensor on the device (see kernels/amp_body.h for its layout).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// grads *= 1 / state[scale]; state[found_inf] = 1 when any result is inf or NaN.
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
// The end-of-step update of scale, growth tracker, skipped count; clears found_inf.
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);

namespace cpu {
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void amp_unscale(Context& ctx, Tensor& grads, Tensor& state);
void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval);
}  // namespace cuda
#endif

}  // namespace gbad
