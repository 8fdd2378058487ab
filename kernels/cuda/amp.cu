// CUDA twin of kernels/cpu/amp.cpp over the bodies in kernels/amp_body.h. The scale is read on
// the device, so a step never waits for the host.
#include "kernels/amp.h"
#include "kernels/amp_body.h"
#include "kernels/cuda/for_each.cuh"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {
struct Unscale {
  float* g;
  float* s;
  __device__ void operator()(int64_t i) const {
    amp_unscale_body(g + i, 1.f / s[kAmpScale], s + kAmpFoundInf);
  }
};
struct Update {
  float* s;
  float growth, backoff, interval;
  __device__ void operator()(int64_t) const { amp_update_body(s, growth, backoff, interval); }
};
struct Scale {
  float* t;
  const float* s;
  __device__ void operator()(int64_t i) const { t[i] *= s[kAmpScale]; }
};
struct Round {
  float* t;
  bool fp16;
  __device__ void operator()(int64_t i) const { t[i] = amp_round_body(t[i], fp16); }
};
struct ToHalf {
  uint16_t* d;
  const float* s;
  bool fp16;
  __device__ void operator()(int64_t i) const { d[i] = amp_to_half_body(s[i], fp16); }
};
struct FromHalf {
  float* d;
  const uint16_t* s;
  bool fp16;
  __device__ void operator()(int64_t i) const { d[i] = amp_from_half_body(s[i], fp16); }
};
}  // namespace

void amp_unscale(Context& ctx, Tensor& grads, Tensor& state) {
  for_each(ctx, grads.numel(), Unscale{grads.f32(), state.f32()});
}

void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval) {
  for_each(ctx, 1, Update{state.f32(), growth, backoff, static_cast<float>(interval)});
}

void amp_scale(Context& ctx, Tensor& t, const Tensor& state) {
  for_each(ctx, t.numel(), Scale{t.f32(), state.f32()});
}

void amp_cast(Context& ctx, Tensor& dst, const Tensor& src) {
  if (src.dtype() == DType::F32)
    for_each(ctx, dst.numel(), ToHalf{dst.u16(), src.f32(), dst.dtype() == DType::F16});
  else
    for_each(ctx, dst.numel(), FromHalf{dst.f32(), src.u16(), src.dtype() == DType::F16});
}

void amp_round(Context& ctx, Tensor& t, Precision p) {
  for_each(ctx, t.numel(), Round{t.f32(), p == Precision::Fp16});
}

}  // namespace gbad::cuda
