// CPU reference for kernels/optim.h: torch.optim's update rules as plain loops.
#include <cmath>
#include <cstdint>

#include "kernels/amp_body.h"
#include "kernels/optim.h"

namespace gbad::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;
}

void sgd_step(Context&, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening, bool nesterov,
              const Tensor* amp_state, const Tensor* lr_device) {
  if (amp_state && amp_state->f32()[kAmpFoundInf] != 0.f) return;  // fp16 overflow: skip
  if (lr_device) lr = lr_device->f32()[0];
  float* p = params.f32();
  const float* g = grads.f32();
  float* buf = momentum != 0.f ? momentum_buf.f32() : nullptr;
  const int64_t n = params.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float d = g[i];
    if (weight_decay != 0.f) d += weight_decay * p[i];
    if (buf) {
      if (step == 1)
        buf[i] = d;  // torch: the first step copies the gradient into the buffer
      else
        buf[i] = momentum * buf[i] + (1.f - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * d;
  }
}

void adam_step(Context&, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v, int64_t step,
               float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled,
               const Tensor* amp_state) {
  if (amp_state && amp_state->f32()[kAmpFoundInf] != 0.f) return;  // fp16 overflow: skip
  // Bias corrections in double, as torch computes them in Python floats.
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const float step_size = static_cast<float>(lr / bc1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bc2));
  float *p = params.f32(), *mp = m.f32(), *vp = v.f32();
  const float* g = grads.f32();
  const int64_t n = params.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float gi = g[i];
    if (weight_decay != 0.f) {
      if (decoupled)
        p[i] *= 1.f - lr * weight_decay;  // AdamW
      else
        gi += weight_decay * p[i];  // Adam: L2 penalty through the gradient
    }
    mp[i] = beta1 * mp[i] + (1.f - beta1) * gi;
    vp[i] = beta2 * vp[i] + (1.f - beta2) * gi * gi;
    const float denom = std::sqrt(vp[i]) / bc2_sqrt + eps;
    p[i] -= step_size * mp[i] / denom;
  }
}

void ema_update(Context&, Tensor& ema, const Tensor& params, float decay) {
  float* e = ema.f32();
  const float* p = params.f32();
  const int64_t n = ema.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) e[i] = decay * e[i] + (1.f - decay) * p[i];
}

}  // namespace gbad::cpu
