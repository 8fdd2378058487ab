// CUDA twin of kernels/cpu/pooling.cpp over the bodies in kernels/pooling_body.h. Backward
// kernels gather per input element (deterministic, no atomics).
#include "kernels/cuda/for_each.cuh"
#include "kernels/pooling.h"
#include "kernels/pooling_body.h"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {

PoolGeom geom(const Tensor& x, const Tensor& y, int k, int s, int p) {
  return PoolGeom{x.h(), x.w(), y.h(), y.w(), k, s, p};
}

AvgGeom avg_geom(const Tensor& x, const Tensor& y, const AvgPool2dParams& p) {
  return AvgGeom{
      x.h(), x.w(), y.h(), y.w(), p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.count_include_pad};
}

struct AvgPoolFwd {
  float* y;
  const float* x;
  AvgGeom g;
  __device__ void operator()(int64_t o) const { y[o] = avgpool2d_fwd_body<float>(x, o, g); }
};
struct AvgPoolBwd {
  float* dx;
  const float* dy;
  AvgGeom g;
  __device__ void operator()(int64_t i) const { dx[i] = avgpool2d_bwd_body<float>(dy, i, g); }
};
struct MaxPoolFwd {
  float *y, *argmax;
  const float* x;
  PoolGeom g;
  __device__ void operator()(int64_t o) const {
    int32_t arg;
    y[o] = maxpool2d_fwd_body(x, o, g, &arg);
    argmax[o] = maxpool_index_to_bits(arg);
  }
};
struct MaxPoolBwd {
  float* dx;
  const float *dy, *argmax;
  PoolGeom g;
  __device__ void operator()(int64_t i) const { dx[i] = maxpool2d_bwd_body(dy, argmax, i, g); }
};
struct GapFwd {
  float* y;
  const float* x;
  int64_t hw;
  __device__ void operator()(int64_t plane) const {
    y[plane] = global_avgpool_fwd_body(x, plane, hw);
  }
};
struct GapBwd {
  float* dx;
  const float* dy;
  int64_t hw;
  float inv;
  __device__ void operator()(int64_t i) const { dx[i] = dy[i / hw] * inv; }
};
struct UpFwd {
  float* y;
  const float* x;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t o) const {
    y[o] = upsample_nearest_fwd_body(x, o, h, w, ho, wo);
  }
};
struct UpBwd {
  float* dx;
  const float* dy;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t i) const {
    dx[i] = upsample_nearest_bwd_body(dy, i, h, w, ho, wo);
  }
};
struct UpAddFwd {
  float* y;
  const float *lat, *x;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t o) const {
    y[o] = lat[o] + upsample_nearest_fwd_body(x, o, h, w, ho, wo);
  }
};
struct UpAddBwd {
  float* dx;
  const float *dy, *addend;
  int64_t h, w, ho, wo;
  __device__ void operator()(int64_t i) const {
    dx[i] = addend[i] + upsample_nearest_bwd_body(dy, i, h, w, ho, wo);
  }
};

}  // namespace

void avgpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, const AvgPool2dParams& p) {
  for_each(ctx, y.numel(), AvgPoolFwd{y.f32(), x.f32(), avg_geom(x, y, p)});
}

void avgpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p) {
  for_each(ctx, dx.numel(), AvgPoolBwd{dx.f32(), dy.f32(), avg_geom(dx, dy, p)});
}

void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p) {
  for_each(ctx, y.numel(), MaxPoolFwd{y.f32(), argmax.f32(), x.f32(), geom(x, y, k, s, p)});
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p) {
  for_each(ctx, dx.numel(), MaxPoolBwd{dx.f32(), dy.f32(), argmax.f32(), geom(dx, dy, k, s, p)});
}

void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, x.n() * x.c(), GapFwd{y.f32(), x.f32(), x.h() * x.w()});
}

void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  const int64_t hw = dx.h() * dx.w();
  for_each(ctx, dx.numel(), GapBwd{dx.f32(), dy.f32(), hw, 1.f / static_cast<float>(hw)});
}

void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, y.numel(), UpFwd{y.f32(), x.f32(), x.h(), x.w(), y.h(), y.w()});
}

void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  for_each(ctx, dx.numel(), UpBwd{dx.f32(), dy.f32(), dx.h(), dx.w(), dy.h(), dy.w()});
}

void upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x) {
  for_each(ctx, y.numel(), UpAddFwd{y.f32(), lat.f32(), x.f32(), x.h(), x.w(), y.h(), y.w()});
}

void upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                   const Tensor& addend) {
  for_each(ctx, dx.numel(),
           UpAddBwd{dx.f32(), dy.f32(), addend.f32(), dx.h(), dx.w(), dy.h(), dy.w()});
}

}  // namespace gbad::cuda
