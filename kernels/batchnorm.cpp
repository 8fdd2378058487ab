// Dispatchers for kernels/batchnorm.h: check devices and shapes, call the backend.
#include "kernels/batchnorm.h"

#include <memory>

#include "kernels/elementwise.h"
#include "kernels/op_checks.h"

namespace gbad {

using detail::check_named_devices;

namespace {

struct BnDims {
  int64_t n, c, hw;
};

// x is (N,C,H,W); every per-channel tensor has C values; every same-shaped tensor matches x.
BnDims check_bn(const char* op, const Tensor& x,
                std::initializer_list<std::pair<const char*, const Tensor*>> per_channel,
                std::initializer_list<std::pair<const char*, const Tensor*>> like_x) {
  GBAD_CHECK(x.ndim() == 4, op, ": x must be (N,C,H,W), got ", x.str());
  BnDims d{x.n(), x.c(), x.h() * x.w()};
  for (const auto& [name, t] : per_channel)
    if (t) GBAD_CHECK(t->numel() == d.c, op, ": ", name, " ", t->str(), " needs ", d.c, " values");
  for (const auto& [name, t] : like_x)
    if (t) GBAD_CHECK(t->shape() == x.shape(), op, ": ", name, " ", t->str(), " vs x ", x.str());
  return d;
}

BnDims check_train(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                   const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                   const Tensor& gamma, const Tensor& beta) {
  BnDims d = check_bn("batchnorm2d_forward_train", x,
                      {{"save_mean", &save_mean},
                       {"save_invstd", &save_invstd},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"gamma", &gamma},
                       {"beta", &beta}},
                      {{"y", &y}});
  GBAD_CHECK(d.n * d.hw > 1,
             "batchnorm2d_forward_train: needs more than one value per channel, got ", x.str());
  return d;
}

BnDims check_backward(const char* op, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta,
                      const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stat_a,
                      const Tensor& stat_b) {
  return check_bn(op, x,
                  {{"dgamma", dgamma},
                   {"dbeta", dbeta},
                   {"gamma", &gamma},
                   {"mean", &stat_a},
                   {"invstd/var", &stat_b}},
                  {{"dx", dx}, {"dy", &dy}});
}

BnDims check_eval(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var) {
  return check_bn("batchnorm2d_forward_eval", x,
                  {{"gamma", &gamma},
                   {"beta", &beta},
                   {"running_mean", &running_mean},
                   {"running_var", &running_var}},
                  {{"y", &y}});
}

}  // namespace

void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum) {
  check_named_devices(ctx, "batchnorm2d_forward_train",
                      {{"y", &y},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"beta", &beta}});
  check_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta);
  GBAD_DISPATCH(ctx, batchnorm2d_forward_train, ctx, y, save_mean, save_invstd, running_mean,
                running_var, x, gamma, beta, eps, momentum);
}

void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps) {
  check_named_devices(ctx, "batchnorm2d_backward",
                      {{"dx", dx},
                       {"dgamma", dgamma},
                       {"dbeta", dbeta},
                       {"dy", &dy},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd}});
  check_backward("batchnorm2d_backward", dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd);
  if (x.numel() == 0) return;  // an empty batch adds nothing (cuDNN refuses N = 0)
  GBAD_DISPATCH(ctx, batchnorm2d_backward, ctx, dx, dgamma, dbeta, dy, x, gamma, save_mean,
                save_invstd, eps);
}

void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps) {
  check_named_devices(ctx, "batchnorm2d_forward_eval",
                      {{"y", &y},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"beta", &beta},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var}});
  check_eval(y, x, gamma, beta, running_mean, running_var);
  if (x.numel() == 0) return;  // an empty batch (cuDNN refuses N = 0)
  GBAD_DISPATCH(ctx, batchnorm2d_forward_eval, ctx, y, x, gamma, beta, running_mean, running_var,
                eps);
}

void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps) {
  check_named_devices(ctx, "batchnorm2d_backward_eval",
                      {{"dx", dx},
                       {"dgamma", dgamma},
                       {"dbeta", dbeta},
                       {"dy", &dy},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var}});
  check_backward("batchnorm2d_backward_eval", dx, dgamma, dbeta, dy, x, gamma, running_mean,
                 running_var);
  if (x.numel() == 0) return;  // an empty batch adds nothing
  GBAD_DISPATCH(ctx, batchnorm2d_backward_eval, ctx, dx, dgamma, dbeta, dy, x, gamma, running_mean,
                running_var, eps);
}

void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked) {
  check_named_devices(ctx, "batchnorm2d_count_batch",
                      {{"num_batches_tracked", &num_batches_tracked}});
  GBAD_CHECK(num_batches_tracked.numel() == 1, "batchnorm2d_count_batch: expected a scalar, got ",
             num_batches_tracked.str());
  GBAD_DISPATCH(ctx, batchnorm2d_count_batch, ctx, num_batches_tracked);
}

void batchnorm2d_forward_train_act(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                   Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, float eps,
                                   float momentum, const Tensor* residual, bool relu) {
  check_named_devices(ctx, "batchnorm2d_forward_train_act",
                      {{"y", &y},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"beta", &beta},
                       {"residual", residual}});
  check_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta);
  check_bn("batchnorm2d_forward_train_act", x, {}, {{"residual", residual}});
  GBAD_CHECK(&y != &x && &y != residual,
             "batchnorm2d_forward_train_act: y must not alias x or residual");
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    // Composed from the existing CUDA ops; the element-wise ones may work in place.
    batchnorm2d_forward_train(ctx, y, save_mean, save_invstd, running_mean, running_var, x, gamma,
                              beta, eps, momentum);
    if (residual) add(ctx, y, y, *residual);
    if (relu) relu_forward(ctx, y, y);
    return;
  }
#endif
  GBAD_CHECK(!ctx.is_cuda(),
             "batchnorm2d_forward_train_act: CUDA tensors, but gbad was built without CUDA");
  cpu::batchnorm2d_forward_train_act(ctx, y, save_mean, save_invstd, running_mean, running_var, x,
                                     gamma, beta, eps, momentum, residual, relu);
}

void batchnorm2d_backward_act(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                              const Tensor& dy, const Tensor& y, const Tensor& x,
                              const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_invstd, float eps, bool relu) {
  check_named_devices(ctx, "batchnorm2d_backward_act",
                      {{"dx", dx},
                       {"dz", dz},
                       {"dgamma", dgamma},
                       {"dbeta", dbeta},
                       {"dy", &dy},
                       {"y", &y},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd}});
  check_backward("batchnorm2d_backward_act", dx, dgamma, dbeta, dy, x, gamma, save_mean,
                 save_invstd);
  check_bn("batchnorm2d_backward_act", x, {}, {{"dz", dz}, {"y", &y}});
  GBAD_CHECK(!dz || relu,
             "batchnorm2d_backward_act: dz is only written with the ReLU (without "
             "it, dL/d(residual) is dy itself)");
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    // Composed: g = relu_backward(dy, y) into dz (or a scratch tensor kept in the context's
    // cache), then the BatchNorm backward of g.
    const Tensor* g = &dy;
    if (relu) {
      Tensor* t = dz;
      if (!t) {
        std::shared_ptr<void>& slot = ctx.cache().entries["batchnorm2d_backward_act.tmp"];
        if (!slot) slot = std::make_shared<Tensor>();
        t = static_cast<Tensor*>(slot.get());
        t->resize(dy.shape(), dy.device());
      }
      relu_backward(ctx, *t, dy, y);
      g = t;
    }
    batchnorm2d_backward(ctx, dx, dgamma, dbeta, *g, x, gamma, save_mean, save_invstd, eps);
    return;
  }
#endif
  GBAD_CHECK(!ctx.is_cuda(),
             "batchnorm2d_backward_act: CUDA tensors, but gbad was built without CUDA");
  cpu::batchnorm2d_backward_act(ctx, dx, dz, dgamma, dbeta, dy, y, x, gamma, save_mean, save_invstd,
                                eps, relu);
}

}  // namespace gbad
