// CUDA twin of kernels/cpu/resample.cpp over the bodies in kernels/resample_body.h. The
// backward gathers per input element (deterministic, no atomics).
#include "kernels/cuda/for_each.cuh"
#include "kernels/resample.h"
#include "kernels/resample_body.h"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {
struct BilinearFwd {
  float* y;
  const float* x;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t o) const {
    y[o] = upsample_bilinear_fwd_body<float>(x, o, h, w, ho, wo);
  }
};
struct BilinearBwd {
  float* dx;
  const float* dy;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t i) const {
    dx[i] = upsample_bilinear_bwd_body<float>(dy, i, h, w, ho, wo);
  }
};
}  // namespace

void upsample_bilinear_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, y.numel(), BilinearFwd{y.f32(), x.f32(), x.h(), x.w(), y.h(), y.w()});
}

void upsample_bilinear_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  for_each(ctx, dx.numel(), BilinearBwd{dx.f32(), dy.f32(), dx.h(), dx.w(), dy.h(), dy.w()});
}

}  // namespace gbad::cuda
