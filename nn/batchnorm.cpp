// BatchNorm2d layer over kernels/batchnorm.h.
#include "kernels/batchnorm.h"
#include "kernels/amp.h"
#include "nn/layers.h"

namespace gbad {

BatchNorm2d::BatchNorm2d(ParamStore& ps, const std::string& prefix, int64_t channels, float eps,
                         float momentum, bool zero_init_weight)
    : ps_(&ps), c_(channels), eps_(eps), momentum_(momentum) {
  GBAD_CHECK(channels > 0, "BatchNorm2d '", prefix, "': bad channel count ", channels);
  GBAD_CHECK(eps > 0.f && momentum >= 0.f && momentum <= 1.f, "BatchNorm2d '", prefix,
             "': bad eps ", eps, " or momentum ", momentum);
  w_ = ps.add_param(join_name(prefix, "weight"), {channels},
                    zero_init_weight ? InitSpec::zeros() : InitSpec::ones());
  b_ = ps.add_param(join_name(prefix, "bias"), {channels}, InitSpec::zeros());
  ps.keep_fp32(w_);  // mixed precision: scale and bias stay fp32 (as cuDNN's for half data)
  ps.keep_fp32(b_);
  rm_ = ps.add_buffer(join_name(prefix, "running_mean"), {channels}, InitSpec::zeros());
  rv_ = ps.add_buffer(join_name(prefix, "running_var"), {channels}, InitSpec::ones());
  nbt_ = ps.add_buffer(join_name(prefix, "num_batches_tracked"), {}, InitSpec::zeros());
}

const Tensor& BatchNorm2d::forward(Context& ctx, const Tensor& x) {
  GBAD_CHECK(ps_, "BatchNorm2d used before construction");
  GBAD_CHECK(x.ndim() == 4 && x.c() == c_, "BatchNorm2d: input ", x.str(), " does not have ", c_,
             " channels in NCHW");
  x_ = x;
  y_.resize(x.shape(), x.device());
  if (training_) {
    save_mean_.resize({c_}, x.device());
    save_invstd_.resize({c_}, x.device());
    batchnorm2d_forward_train(ctx, y_, save_mean_, save_invstd_, ps_->value(rm_), ps_->value(rv_),
                              x, ps_->value(w_), ps_->value(b_), eps_, momentum_);
    batchnorm2d_count_batch(ctx, ps_->value(nbt_));
  } else {
    batchnorm2d_forward_eval(ctx, y_, x, ps_->value(w_), ps_->value(b_), ps_->value(rm_),
                             ps_->value(rv_), eps_);
  }
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors); statistics stay fp32
  return y_;
}

const Tensor& BatchNorm2d::forward_act(Context& ctx, const Tensor& x, const Tensor* residual,
                                       bool relu) {
  GBAD_CHECK(ps_, "BatchNorm2d used before construction");
  GBAD_CHECK(training_, "BatchNorm2d::forward_act is for training mode");
  GBAD_CHECK(x.ndim() == 4 && x.c() == c_, "BatchNorm2d: input ", x.str(), " does not have ", c_,
             " channels in NCHW");
  x_ = x;
  relu_ = relu;
  y_.resize(x.shape(), x.device());
  save_mean_.resize({c_}, x.device());
  save_invstd_.resize({c_}, x.device());
  batchnorm2d_forward_train_act(ctx, y_, save_mean_, save_invstd_, ps_->value(rm_), ps_->value(rv_),
                                x, ps_->value(w_), ps_->value(b_), eps_, momentum_, residual, relu);
  batchnorm2d_count_batch(ctx, ps_->value(nbt_));
  amp_store(ctx, y_);
  return y_;
}

const Tensor& BatchNorm2d::backward_act(Context& ctx, const Tensor& dy, bool residual_grad) {
  GBAD_CHECK(x_.defined() && save_mean_.defined(),
             "BatchNorm2d::backward_act called before forward_act");
  static const Tensor kNone;
  Tensor* dx = nullptr;
  if (input_grad_) {
    dx_.resize(x_.shape(), x_.device());
    dx = &dx_;
  }
  Tensor* dz = nullptr;
  if (residual_grad && relu_) {
    dz_.resize(x_.shape(), x_.device());
    dz = &dz_;
  }
  batchnorm2d_backward_act(ctx, dx, dz, &ps_->grad(w_), &ps_->grad(b_), dy, y_, x_, ps_->value(w_),
                           save_mean_, save_invstd_, eps_, relu_);
  if (dx) amp_store(ctx, dx_);
  if (dz) amp_store(ctx, dz_);
  return input_grad_ ? dx_ : kNone;
}

// Uses the mode of the preceding forward (do not switch modes between forward and backward).
const Tensor& BatchNorm2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_CHECK(x_.defined(), "BatchNorm2d::backward called before forward");
  static const Tensor kNone;
  Tensor* dx = nullptr;
  if (input_grad_) {
    dx_.resize(x_.shape(), x_.device());
    dx = &dx_;
  }
  if (training_) {
    GBAD_CHECK(save_mean_.defined(),
               "BatchNorm2d::backward in training mode after an eval forward");
    batchnorm2d_backward(ctx, dx, &ps_->grad(w_), &ps_->grad(b_), dy, x_, ps_->value(w_),
                         save_mean_, save_invstd_, eps_);
  } else {
    batchnorm2d_backward_eval(ctx, dx, &ps_->grad(w_), &ps_->grad(b_), dy, x_, ps_->value(w_),
                              ps_->value(rm_), ps_->value(rv_), eps_);
  }
  if (dx) amp_store(ctx, dx_);
  return input_grad_ ? dx_ : kNone;
}

}  // namespace gbad
