// Optimiser updates over flat buffers (a ParamStore's parameters, gradients and state), one
// kernel each, with torch's semantics.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// `amp_state` (optional, the loss scaler's 4-float state, kernels/amp_body.h): when its
// found_inf flag is set the step changes nothing (params, buffers). The flag is read by the
// kernel on the device, so a skipped fp16 step needs no host synchronisation.
// torch.optim.SGD: g = grad + wd*p; with momentum: buf = g on the first step (step == 1),
// else buf = momentum*buf + (1-dampening)*g; update = nesterov ? g + momentum*buf : buf;
// p -= lr*update. Without momentum buf is untouched (may be undefined). step is 1-based.
// `lr_device` (optional, a 1-element f32 tensor on the context's device): the kernel reads the
// learning rate from it and `lr` is ignored, so a step captured in a CUDA graph replays with the
// rate the host wrote there before the launch (a schedule that changes it every step).
void sgd_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening = 0.f,
              bool nesterov = false, const Tensor* amp_state = nullptr,
              const Tensor* lr_device = nullptr);

// torch.optim.Adam / AdamW (decoupled): Adam adds wd*p to the gradient, AdamW multiplies p by
// (1 - lr*wd) first. m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2,
// p -= lr/(1-b1^step) * m / (sqrt(v)/sqrt(1-b2^step) + eps). step is 1-based.
void adam_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
               int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
               bool decoupled, const Tensor* amp_state = nullptr);

// ema = decay*ema + (1-decay)*params.
void ema_update(Context& ctx, Tensor& ema, const Tensor& params, float decay);

namespace cpu {
void sgd_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening, bool nesterov,
              const Tensor* amp_state, const Tensor* lr_device);
void adam_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
               int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
               bool decoupled, const Tensor* amp_state);
void ema_update(Context& ctx, Tensor& ema, const Tensor& params, float decay);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void sgd_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening, bool nesterov,
              const Tensor* amp_state, const Tensor* lr_device);
void adam_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
               int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
               bool decoupled, const Tensor* amp_state);
void ema_update(Context& ctx, Tensor& ema, const Tensor& params, float decay);
}  // namespace cuda
#endif

}  // namespace gbad
