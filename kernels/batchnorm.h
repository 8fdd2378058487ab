// BatchNorm over the channels of NCHW tensors (torch.nn.BatchNorm2d semantics).
//   x, y, dx, dy (N,C,H,W); gamma, beta, running_mean, running_var, save_mean, save_invstd (C).
// Training: batch mean and biased variance normalise; save_mean / save_invstd (1/sqrt(var+eps))
// are kept for backward; running stats are updated in place with `momentum` and the UNBIASED
// variance: running = (1 - momentum) running + momentum batch. Eval: running statistics.
// CPU: plain loops, OpenMP over channels. CUDA: cuDNN (spatial mode) for training forward,
// inference forward and training backward; our kernels for the eval-mode backward.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum);
// Training-mode backward (batch statistics). dx overwritten; dgamma, dbeta accumulate; any may
// be null. eps must be the forward's.
void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps);

void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps);
// Eval-mode backward: the statistics are constants, so dx = dy gamma / sqrt(running_var + eps).
void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps);

// num_batches_tracked (a scalar) += 1, on the tensor's device (no host round trip).
void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked);

// Training-mode BatchNorm with what follows it in a ResNet block, as one op:
//   y = act(BN(x) [+ residual]),  act = ReLU when `relu`, else identity; residual like x or null.
// Statistics and running-stat updates as batchnorm2d_forward_train. The CPU backend writes y in
// one pass; CUDA composes batchnorm2d_forward_train, add and relu_forward.
void batchnorm2d_forward_train_act(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                   Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, float eps,
                                   float momentum, const Tensor* residual, bool relu);
// Its backward, given y of the forward: g = relu ? dy * (y > 0) : dy is dL/d(residual), written
// to dz when non-null (only with the ReLU; without it g is dy); dx = the BatchNorm backward of g
// (overwritten); dgamma, dbeta accumulate.
// CUDA composes relu_backward and batchnorm2d_backward.
void batchnorm2d_backward_act(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                              const Tensor& dy, const Tensor& y, const Tensor& x,
                              const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_invstd, float eps, bool relu);

namespace cpu {
// Raw-pointer reference templated on the scalar type; hw = H*W. running_* may be null.
template <typename T>
void batchnorm2d_forward_train(T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                               const T* x, const T* gamma, const T* beta, int64_t n, int64_t c,
                               int64_t hw, double eps, double momentum);
template <typename T>
void batchnorm2d_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                          const T* save_mean, const T* save_invstd, int64_t n, int64_t c,
                          int64_t hw);
template <typename T>
void batchnorm2d_forward_eval(T* y, const T* x, const T* gamma, const T* beta,
                              const T* running_mean, const T* running_var, int64_t n, int64_t c,
                              int64_t hw, double eps);
template <typename T>
void batchnorm2d_backward_eval(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                               const T* running_mean, const T* running_var, int64_t n, int64_t c,
                               int64_t hw, double eps);

void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum);
void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps);
void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps);
void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps);
void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked);
// The float fast path the layers use (kernels/cpu/batchnorm.cpp); residual, dz, dgamma, dbeta,
// dx, running_* may be null.
void batchnorm2d_forward_train_act(float* y, float* save_mean, float* save_invstd,
                                   float* running_mean, float* running_var, const float* x,
                                   const float* gamma, const float* beta, const float* residual,
                                   bool relu, int64_t n, int64_t c, int64_t hw, double eps,
                                   double momentum);
void batchnorm2d_backward_act(float* dx, float* dz, float* dgamma, float* dbeta, const float* dy,
                              const float* y, const float* x, const float* gamma,
                              const float* save_mean, const float* save_invstd, bool relu,
                              int64_t n, int64_t c, int64_t hw);
void batchnorm2d_forward_train_act(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                   Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, float eps,
                                   float momentum, const Tensor* residual, bool relu);
void batchnorm2d_backward_act(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                              const Tensor& dy, const Tensor& y, const Tensor& x,
                              const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_invstd, float eps, bool relu);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum);
void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps);
void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps);
void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps);
void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked);
}  // namespace cuda
#endif

}  // namespace gbad
