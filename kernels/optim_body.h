// Per-element bodies of the optimiser CUDA kernels, host-callable so a CPU test can drive them
// and compare with the plain-loop reference in kernels/cpu/optim.cpp.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

struct SgdArgs {
  float lr, momentum, weight_decay, dampening;
  bool nesterov, first;
};

// One parameter's SGD update; buf is touched only with momentum.
GBAD_HD void sgd_body(float* p, float g, float* buf, const SgdArgs& a) {
  float d = g;
  if (a.weight_decay != 0.f) d += a.weight_decay * *p;
  if (a.momentum != 0.f) {
    const float b = a.first ? d : a.momentum * *buf + (1.f - a.dampening) * d;
    *buf = b;
    d = a.nesterov ? d + a.momentum * b : b;
  }
  *p -= a.lr * d;
}

struct AdamArgs {
  float lr, beta1, beta2, eps, weight_decay;
  float step_size;        // lr / (1 - beta1^step)
  float bias_corr2_sqrt;  // sqrt(1 - beta2^step)
  bool decoupled;
};

GBAD_HD void adam_body(float* p, float g, float* m, float* v, const AdamArgs& a) {
  if (a.weight_decay != 0.f) {
    if (a.decoupled)
      *p *= 1.f - a.lr * a.weight_decay;
    else
      g += a.weight_decay * *p;
  }
  const float mm = a.beta1 * *m + (1.f - a.beta1) * g;
  const float vv = a.beta2 * *v + (1.f - a.beta2) * g * g;
  *m = mm;
  *v = vv;
  *p -= a.step_size * mm / (sqrtf(vv) / a.bias_corr2_sqrt + a.eps);
}

GBAD_HD float ema_body(float e, float p, float decay) {
  return decay * e + (1.f - decay) * p;
}

}  // namespace gbad
