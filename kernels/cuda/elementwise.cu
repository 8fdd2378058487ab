// CUDA twin of kernels/cpu/elementwise.cpp: grid-stride loops over the bodies in
// kernels/elementwise_body.h.
#include "kernels/cuda/for_each.cuh"
#include "kernels/elementwise.h"
#include "kernels/elementwise_body.h"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {

struct ReluFwd {
  float* y;
  const float* x;
  __device__ void operator()(int64_t i) const { y[i] = relu_fwd_body(x[i]); }
};
struct ReluBwd {
  float* dx;
  const float *dy, *y;
  __device__ void operator()(int64_t i) const { dx[i] = relu_bwd_body(dy[i], y[i]); }
};
struct LeakyFwd {
  float* y;
  const float* x;
  float slope;
  __device__ void operator()(int64_t i) const { y[i] = leaky_fwd_body(x[i], slope); }
};
struct LeakyBwd {
  float* dx;
  const float *dy, *x;
  float slope;
  __device__ void operator()(int64_t i) const { dx[i] = leaky_bwd_body(dy[i], x[i], slope); }
};
struct SigmoidFwd {
  float* y;
  const float* x;
  __device__ void operator()(int64_t i) const { y[i] = sigmoid_fwd_body(x[i]); }
};
struct SigmoidBwd {
  float* dx;
  const float *dy, *y;
  __device__ void operator()(int64_t i) const { dx[i] = sigmoid_bwd_body(dy[i], y[i]); }
};
struct TanhFwd {
  float* y;
  const float* x;
  __device__ void operator()(int64_t i) const { y[i] = tanh_fwd_body(x[i]); }
};
struct TanhBwd {
  float* dx;
  const float *dy, *y;
  __device__ void operator()(int64_t i) const { dx[i] = tanh_bwd_body(dy[i], y[i]); }
};
struct Add {
  float* y;
  const float *a, *b;
  __device__ void operator()(int64_t i) const { y[i] = a[i] + b[i]; }
};
struct AddInplace {
  float* y;
  const float* x;
  __device__ void operator()(int64_t i) const { y[i] += x[i]; }
};
struct Scale {
  float* y;
  float s;
  __device__ void operator()(int64_t i) const { y[i] *= s; }
};
struct Axpby {
  float* y;
  const float* x;
  float a, b;
  __device__ void operator()(int64_t i) const { y[i] = a * x[i] + b * y[i]; }
};
struct Concat1 {
  float* y;
  const float *a, *b;
  int64_t ca, cb, inner;
  __device__ void operator()(int64_t i) const {
    int64_t src;
    y[i] = concat1_source(i, ca, cb, inner, &src) ? a[src] : b[src];
  }
};
// Iterates over dy: each element goes to da or db (skipped when that output is null).
struct Split1 {
  float *da, *db;
  const float* dy;
  int64_t ca, cb, inner;
  __device__ void operator()(int64_t i) const {
    int64_t src;
    if (concat1_source(i, ca, cb, inner, &src)) {
      if (da) da[src] = dy[i];
    } else if (db) {
      db[src] = dy[i];
    }
  }
};
struct DropoutFwd {
  float *y, *mask;
  const float* x;
  float p;
  uint64_t seed, offset;
  __device__ void operator()(int64_t i) const {
    float m = dropout_mask_body(seed, offset, i, p);
    mask[i] = m;
    y[i] = x[i] * m;
  }
};
struct DropoutBwd {
  float* dx;
  const float *dy, *mask;
  __device__ void operator()(int64_t i) const { dx[i] = dy[i] * mask[i]; }
};

int64_t inner_size(const Tensor& t) {
  int64_t inner = 1;
  for (int d = 2; d < t.ndim(); ++d) inner *= t.size(d);
  return inner;
}

}  // namespace

void relu_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, x.numel(), ReluFwd{y.f32(), x.f32()});
}
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  for_each(ctx, dy.numel(), ReluBwd{dx.f32(), dy.f32(), y.f32()});
}
void leaky_relu_forward(Context& ctx, Tensor& y, const Tensor& x, float slope) {
  for_each(ctx, x.numel(), LeakyFwd{y.f32(), x.f32(), slope});
}
void leaky_relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, float slope) {
  for_each(ctx, dy.numel(), LeakyBwd{dx.f32(), dy.f32(), x.f32(), slope});
}
void sigmoid_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, x.numel(), SigmoidFwd{y.f32(), x.f32()});
}
void sigmoid_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  for_each(ctx, dy.numel(), SigmoidBwd{dx.f32(), dy.f32(), y.f32()});
}
void tanh_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, x.numel(), TanhFwd{y.f32(), x.f32()});
}
void tanh_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  for_each(ctx, dy.numel(), TanhBwd{dx.f32(), dy.f32(), y.f32()});
}
void add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  for_each(ctx, y.numel(), Add{y.f32(), a.f32(), b.f32()});
}
void add_inplace(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, y.numel(), AddInplace{y.f32(), x.f32()});
}
void scale_inplace(Context& ctx, Tensor& y, float s) {
  for_each(ctx, y.numel(), Scale{y.f32(), s});
}
void axpby(Context& ctx, Tensor& y, float a, const Tensor& x, float b) {
  for_each(ctx, y.numel(), Axpby{y.f32(), x.f32(), a, b});
}
void concat1(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  for_each(ctx, y.numel(), Concat1{y.f32(), a.f32(), b.f32(), a.size(1), b.size(1), inner_size(y)});
}
void split1(Context& ctx, Tensor& da, Tensor& db, const Tensor& dy) {
  const int64_t c = dy.size(1);
  const int64_t ca = da.defined() ? da.size(1) : c - db.size(1);
  for_each(ctx, dy.numel(),
           Split1{da.defined() ? da.f32() : nullptr, db.defined() ? db.f32() : nullptr, dy.f32(),
                  ca, c - ca, inner_size(dy)});
}
void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset) {
  for_each(ctx, x.numel(), DropoutFwd{y.f32(), mask.f32(), x.f32(), p, seed, offset});
}
void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask) {
  for_each(ctx, dy.numel(), DropoutBwd{dx.f32(), dy.f32(), mask.f32()});
}

}  // namespace gbad::cuda
