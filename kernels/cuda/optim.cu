// CUDA twin of kernels/cpu/optim.cpp over the bodies in kernels/optim_body.h.
#include <cmath>

#include "kernels/amp_body.h"
#include "kernels/cuda/for_each.cuh"
#include "kernels/optim.h"
#include "kernels/optim_body.h"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {
struct Sgd {
  float* p;
  const float* g;
  float* buf;
  const float* skip;  // the loss scaler's found_inf, or null
  const float* lr;    // the learning rate on the device, or null (then a.lr)
  SgdArgs a;
  __device__ void operator()(int64_t i) const {
    if (skip && *skip != 0.f) return;
    SgdArgs b = a;
    if (lr) b.lr = *lr;
    sgd_body(p + i, g[i], buf ? buf + i : nullptr, b);
  }
};
struct Adam {
  float *p, *m, *v;
  const float* g;
  const float* skip;
  AdamArgs a;
  __device__ void operator()(int64_t i) const {
    if (skip && *skip != 0.f) return;
    adam_body(p + i, g[i], m + i, v + i, a);
  }
};
struct Ema {
  float* e;
  const float* p;
  float decay;
  __device__ void operator()(int64_t i) const { e[i] = ema_body(e[i], p[i], decay); }
};
const float* found_inf(const Tensor* amp_state) {
  return amp_state ? amp_state->f32() + kAmpFoundInf : nullptr;
}
}  // namespace

void sgd_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening, bool nesterov,
              const Tensor* amp_state, const Tensor* lr_device) {
  SgdArgs a{lr, momentum, weight_decay, dampening, nesterov, step == 1};
  for_each(ctx, params.numel(),
           Sgd{params.f32(), grads.f32(), momentum != 0.f ? momentum_buf.f32() : nullptr,
               found_inf(amp_state), lr_device ? lr_device->f32() : nullptr, a});
}

void adam_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
               int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
               bool decoupled, const Tensor* amp_state) {
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  AdamArgs a{lr,
             beta1,
             beta2,
             eps,
             weight_decay,
             static_cast<float>(lr / bc1),
             static_cast<float>(std::sqrt(bc2)),
             decoupled};
  for_each(ctx, params.numel(),
           Adam{params.f32(), m.f32(), v.f32(), grads.f32(), found_inf(amp_state), a});
}

void ema_update(Context& ctx, Tensor& ema, const Tensor& params, float decay) {
  for_each(ctx, ema.numel(), Ema{ema.f32(), params.f32(), decay});
}

}  // namespace gbad::cuda
