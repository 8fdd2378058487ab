// Parameter-free elementwise ops: activations, sums and scalings, channel concat/split,
// dropout. Any shape (outputs pre-shaped by the caller, same shape as the inputs unless
// stated). Input gradients are overwritten. The namespace gbad versions check devices and
// shapes and dispatch; gbad::cpu is the readable reference, gbad::cuda its GPU twin.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// y = max(x, 0); y may alias x. Backward from y: dx = dy where y > 0 (dx may alias dy).
void relu_forward(Context& ctx, Tensor& y, const Tensor& x);
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
// y = x > 0 ? x : slope * x. Backward from x.
void leaky_relu_forward(Context& ctx, Tensor& y, const Tensor& x, float slope);
void leaky_relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, float slope);
// y = 1 / (1 + exp(-x)). Backward from y: dx = dy * y * (1 - y).
void sigmoid_forward(Context& ctx, Tensor& y, const Tensor& x);
void sigmoid_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
// y = tanh(x). Backward from y: dx = dy * (1 - y^2).
void tanh_forward(Context& ctx, Tensor& y, const Tensor& x);
void tanh_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);

void add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);     // y = a + b (may alias)
void add_inplace(Context& ctx, Tensor& y, const Tensor& x);              // y += x
void scale_inplace(Context& ctx, Tensor& y, float s);                    // y *= s
void axpby(Context& ctx, Tensor& y, float a, const Tensor& x, float b);  // y = a*x + b*y

// Concatenate along dim 1: a (N,Ca,...) + b (N,Cb,...) -> y (N,Ca+Cb,...), 2-D to 4-D.
void concat1(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);
// Its backward: dy (N,Ca+Cb,...) -> da (N,Ca,...), db (N,Cb,...). An undefined da or db is
// skipped.
void split1(Context& ctx, Tensor& da, Tensor& db, const Tensor& dy);

// Inverted dropout: mask[i] = rng_uniform(seed, offset, i) >= p ? 1/(1-p) : 0, y = x * mask.
// The same (seed, offset) gives the same mask on the CPU and on CUDA. 0 <= p < 1.
void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset);
void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask);

namespace cpu {
void relu_forward(Context& ctx, Tensor& y, const Tensor& x);
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void leaky_relu_forward(Context& ctx, Tensor& y, const Tensor& x, float slope);
void leaky_relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, float slope);
void sigmoid_forward(Context& ctx, Tensor& y, const Tensor& x);
void sigmoid_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void tanh_forward(Context& ctx, Tensor& y, const Tensor& x);
void tanh_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);
void add_inplace(Context& ctx, Tensor& y, const Tensor& x);
void scale_inplace(Context& ctx, Tensor& y, float s);
void axpby(Context& ctx, Tensor& y, float a, const Tensor& x, float b);
void concat1(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);
void split1(Context& ctx, Tensor& da, Tensor& db, const Tensor& dy);
void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset);
void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void relu_forward(Context& ctx, Tensor& y, const Tensor& x);
void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void leaky_relu_forward(Context& ctx, Tensor& y, const Tensor& x, float slope);
void leaky_relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, float slope);
void sigmoid_forward(Context& ctx, Tensor& y, const Tensor& x);
void sigmoid_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void tanh_forward(Context& ctx, Tensor& y, const Tensor& x);
void tanh_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y);
void add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);
void add_inplace(Context& ctx, Tensor& y, const Tensor& x);
void scale_inplace(Context& ctx, Tensor& y, float s);
void axpby(Context& ctx, Tensor& y, float a, const Tensor& x, float b);
void concat1(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);
void split1(Context& ctx, Tensor& da, Tensor& db, const Tensor& dy);
void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset);
void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask);
}  // namespace cuda
#endif

}  // namespace gbad
