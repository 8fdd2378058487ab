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

void amp_round(Context& ctx, Tensor& t, Precision p) {
  for_each(ctx, t.numel(), Round{t.f32(), p == Precision::Fp16});
}

}  // namespace gbad::cuda
