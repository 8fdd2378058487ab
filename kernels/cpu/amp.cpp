// CPU reference of the loss-scaling kernels: the same bodies as the CUDA kernels in a loop.
#include "kernels/amp.h"
#include "kernels/amp_body.h"

namespace gbad::cpu {

void amp_unscale(Context&, Tensor& grads, Tensor& state) {
  float* s = state.f32();
  const float inv = 1.f / s[kAmpScale];
  float* g = grads.f32();
  const int64_t n = grads.numel();
  for (int64_t i = 0; i < n; ++i) amp_unscale_body(g + i, inv, s + kAmpFoundInf);
}

void amp_update(Context&, Tensor& state, float growth, float backoff, int64_t interval) {
  amp_update_body(state.f32(), growth, backoff, static_cast<float>(interval));
}

void amp_scale(Context&, Tensor& t, const Tensor& state) {
  const float scale = state.f32()[kAmpScale];
  float* p = t.f32();
  const int64_t n = t.numel();
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) p[i] *= scale;
}

void amp_cast(Context&, Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (src.dtype() == DType::F32) {
    const bool fp16 = dst.dtype() == DType::F16;
    const float* s = src.f32();
    uint16_t* d = dst.u16();
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = amp_to_half_body(s[i], fp16);
  } else {
    const bool fp16 = src.dtype() == DType::F16;
    const uint16_t* s = src.u16();
    float* d = dst.f32();
#pragma omp parallel for if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] = amp_from_half_body(s[i], fp16);
  }
}

void amp_round(Context&, Tensor& t, Precision prec) {
  const bool fp16 = prec == Precision::Fp16;
  float* p = t.f32();
  const int64_t n = t.numel();
#pragma omp parallel for if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) p[i] = amp_round_body(p[i], fp16);
}

}  // namespace gbad::cpu
