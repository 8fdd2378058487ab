// BatchNorm2d layer over kernels/batchnorm.h.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/comm.h"
#include "core/nvtx.h"
#include "kernels/amp.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "nn/layers.h"

namespace gbad {

// ---- Synchronised BatchNorm, composed of the ordinary ops ------------------------------------
// Forward. Each rank's own statistics come from the ordinary training forward (momentum 0, so
// the running statistics stay as they are): mean m_r and biased variance v_r = 1/invstd^2 - eps
// over its n_r = N*H*W values per channel. The ranks sum n_r m_r, n_r (v_r + m_r^2) and n_r in
// double, which gives the mean and biased variance of the union; the eval-mode forward at those
// statistics is then the normalisation, and the running statistics are updated with the union's
// unbiased variance, as one process with the whole batch would.
void BatchNorm2d::sync_forward(Context& ctx, const Tensor& x) {
  Tensor& rm = ps_->value(rm_);
  Tensor& rv = ps_->value(rv_);
  batchnorm2d_forward_train(ctx, y_, save_mean_, save_invstd_, rm, rv, x, ps_->value(w_),
                            ps_->value(b_), eps_, 0.f);
  const std::vector<float> m = save_mean_.to_vector(), is = save_invstd_.to_vector();
  const double n = double(x.n()) * double(x.h()) * double(x.w());
  const size_t c = static_cast<size_t>(c_);
  std::vector<double> s(2 * c + 1);
  for (size_t ch = 0; ch < c; ++ch) {
    const double v = std::max(0.0, 1.0 / (double(is[ch]) * double(is[ch])) - double(eps_));
    s[ch] = n * m[ch];
    s[c + ch] = n * (v + double(m[ch]) * double(m[ch]));
  }
  s[2 * c] = n;
  sync_comm_->allreduce_sum_host(s.data(), static_cast<int64_t>(s.size()));
  const double total = s[2 * c];
  std::vector<float> mean(c), var(c), invstd(c), run_m = rm.to_vector(), run_v = rv.to_vector();
  for (size_t ch = 0; ch < c; ++ch) {
    const double mu = s[ch] / total;
    const double v = std::max(0.0, s[c + ch] / total - mu * mu);
    mean[ch] = float(mu);
    var[ch] = float(v);
    invstd[ch] = float(1.0 / std::sqrt(v + double(eps_)));
    const double unbiased = total > 1 ? v * total / (total - 1) : v;
    run_m[ch] = float((1.0 - momentum_) * run_m[ch] + momentum_ * mu);
    run_v[ch] = float((1.0 - momentum_) * run_v[ch] + momentum_ * unbiased);
  }
  save_mean_.set_from(mean);
  save_invstd_.set_from(invstd);
  sync_var_.resize({c_}, x.device());
  sync_var_.set_from(var);
  rm.set_from(run_m);
  rv.set_from(run_v);
  batchnorm2d_forward_eval(ctx, y_, x, ps_->value(w_), ps_->value(b_), save_mean_, sync_var_, eps_);
}

// Backward of the union's normalisation: with xhat = (x - mean) invstd and M values per channel
// over all ranks, dx = gamma invstd (g - sum(g)/M - xhat sum(g xhat)/M), the sums over every
// rank. The eval-mode backward at the union's statistics writes the first term and this rank's
// two sums (which are also its dbeta and dgamma); after the all-reduce of the sums, the
// correction -gamma invstd (sum(g)/M + xhat sum(g xhat)/M) is an eval-mode forward with
// per-channel weight -gamma invstd sum(g xhat)/M and bias -gamma invstd sum(g)/M, added to dx.
void BatchNorm2d::sync_backward(Context& ctx, Tensor* dx, const Tensor& g) {
  const Device dev = x_.device();
  sync_dgamma_.resize({c_}, dev);
  sync_dbeta_.resize({c_}, dev);
  sync_dgamma_.zero();
  sync_dbeta_.zero();
  batchnorm2d_backward_eval(ctx, dx, &sync_dgamma_, &sync_dbeta_, g, x_, ps_->value(w_), save_mean_,
                            sync_var_, eps_);
  add_inplace(ctx, ps_->grad(w_), sync_dgamma_);
  add_inplace(ctx, ps_->grad(b_), sync_dbeta_);
  ctx.grad_ready(*ps_, w_);
  ctx.grad_ready(*ps_, b_);
  if (!dx) return;  // every rank skips alike: the layer's input_grad is the model's
  const size_t c = static_cast<size_t>(c_);
  const std::vector<float> dg = sync_dgamma_.to_vector(), db = sync_dbeta_.to_vector();
  std::vector<double> s(2 * c + 1);
  for (size_t ch = 0; ch < c; ++ch) {
    s[ch] = db[ch];
    s[c + ch] = dg[ch];
  }
  s[2 * c] = double(x_.n()) * double(x_.h()) * double(x_.w());
  sync_comm_->allreduce_sum_host(s.data(), static_cast<int64_t>(s.size()));
  const double total = s[2 * c];
  const std::vector<float> gamma = ps_->value(w_).to_vector(), is = save_invstd_.to_vector();
  std::vector<float> a(c), b(c);
  for (size_t ch = 0; ch < c; ++ch) {
    const double k = -double(gamma[ch]) * double(is[ch]) / total;
    a[ch] = float(k * s[c + ch]);
    b[ch] = float(k * s[ch]);
  }
  sync_dgamma_.set_from(a);  // reused as the correction's weight and bias
  sync_dbeta_.set_from(b);
  sync_tmp_.resize(x_.shape(), dev);
  batchnorm2d_forward_eval(ctx, sync_tmp_, x_, sync_dgamma_, sync_dbeta_, save_mean_, sync_var_,
                           eps_);
  add_inplace(ctx, *dx, sync_tmp_);
}

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
  GBAD_NVTX_RANGE("BatchNorm2d::forward");
  GBAD_CHECK(ps_, "BatchNorm2d used before construction");
  GBAD_CHECK(x.ndim() == 4 && x.c() == c_, "BatchNorm2d: input ", x.str(), " does not have ", c_,
             " channels in NCHW");
  x_ = x;
  sync_comm_ = training_ && ctx.bn_comm() && ctx.bn_comm()->size() > 1 ? ctx.bn_comm() : nullptr;
  if (x.is_nhwc()) return forward_nhwc(ctx, x, nullptr, false);
  y_.resize_like(x.shape(), x);
  if (sync_comm_) {
    save_mean_.resize({c_}, x.device());
    save_invstd_.resize({c_}, x.device());
    sync_forward(ctx, x);
    batchnorm2d_count_batch(ctx, ps_->value(nbt_));
  } else if (training_) {
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
  GBAD_NVTX_RANGE("BatchNorm2d::forward_act");
  GBAD_CHECK(ps_, "BatchNorm2d used before construction");
  GBAD_CHECK(training_, "BatchNorm2d::forward_act is for training mode");
  GBAD_CHECK(x.ndim() == 4 && x.c() == c_, "BatchNorm2d: input ", x.str(), " does not have ", c_,
             " channels in NCHW");
  x_ = x;
  relu_ = relu;
  sync_comm_ = ctx.bn_comm() && ctx.bn_comm()->size() > 1 ? ctx.bn_comm() : nullptr;
  if (x.is_nhwc()) return forward_nhwc(ctx, x, residual, relu);
  y_.resize_like(x.shape(), x);
  save_mean_.resize({c_}, x.device());
  save_invstd_.resize({c_}, x.device());
  if (sync_comm_) {
    sync_forward(ctx, x);
    if (residual) add_inplace(ctx, y_, *residual);
    if (relu) relu_forward(ctx, y_, y_);
    batchnorm2d_count_batch(ctx, ps_->value(nbt_));
    amp_store(ctx, y_);
    return y_;
  }
  batchnorm2d_forward_train_act(ctx, y_, save_mean_, save_invstd_, ps_->value(rm_), ps_->value(rv_),
                                x, ps_->value(w_), ps_->value(b_), eps_, momentum_, residual, relu);
  batchnorm2d_count_batch(ctx, ps_->value(nbt_));
  amp_store(ctx, y_);
  return y_;
}

const Tensor& BatchNorm2d::backward_act(Context& ctx, const Tensor& dy, bool residual_grad) {
  GBAD_NVTX_RANGE("BatchNorm2d::backward_act");
  GBAD_CHECK(x_.defined() && save_mean_.defined(),
             "BatchNorm2d::backward_act called before forward_act");
  static const Tensor kNone;
  if (x_.is_nhwc()) return backward_nhwc(ctx, dy, residual_grad && relu_);
  Tensor* dx = nullptr;
  if (input_grad_) {
    dx_.resize_like(x_.shape(), x_);
    dx = &dx_;
  }
  Tensor* dz = nullptr;
  if (residual_grad && relu_) {
    dz_.resize_like(x_.shape(), x_);
    dz = &dz_;
  }
  if (sync_comm_) {
    const Tensor* g = &dy;
    if (relu_) {  // g = dy masked by the ReLU: dL/d(residual) and the BatchNorm's output grad
      Tensor& m = dz ? dz_ : sync_g_;
      m.resize(x_.shape(), x_.device());
      relu_backward(ctx, m, dy, y_);
      g = &m;
    }
    sync_backward(ctx, dx, *g);
    if (dx) amp_store(ctx, dx_);
    if (dz) amp_store(ctx, dz_);
    return input_grad_ ? dx_ : kNone;
  }
  batchnorm2d_backward_act(ctx, dx, dz, &ps_->grad(w_), &ps_->grad(b_), dy, y_, x_, ps_->value(w_),
                           save_mean_, save_invstd_, eps_, relu_);
  ctx.grad_ready(*ps_, w_);
  ctx.grad_ready(*ps_, b_);
  if (dx) amp_store(ctx, dx_);
  if (dz) amp_store(ctx, dz_);
  return input_grad_ ? dx_ : kNone;
}

// Half NHWC activations (kernels/nhwc.h): training mode, one process's statistics (the ResNet
// backbones hand such tensors only to training forwards without a BatchNorm communicator).
const Tensor& BatchNorm2d::forward_nhwc(Context& ctx, const Tensor& x, const Tensor* residual,
                                        bool relu) {
  GBAD_CHECK(training_, "BatchNorm2d: an eval-mode forward of the half NHWC tensor ", x.str(),
             " (eval folds BatchNorm into the convolution: Conv2d::forward_bn_eval)");
  GBAD_CHECK(!sync_comm_, "BatchNorm2d: synchronised BatchNorm of the half NHWC tensor ", x.str(),
             " (synchronised runs keep NCHW activations)");
  relu_ = relu;
  save_mean_.resize({c_}, x.device());
  save_invstd_.resize({c_}, x.device());
  nhwc_batchnorm2d_forward_train(ctx, y_, save_mean_, save_invstd_, ps_->value(rm_),
                                 ps_->value(rv_), x, ps_->value(w_), ps_->value(b_), eps_,
                                 momentum_, residual, relu, nhwc_);
  batchnorm2d_count_batch(ctx, ps_->value(nbt_));
  return y_;
}

const Tensor& BatchNorm2d::backward_nhwc(Context& ctx, const Tensor& dy, bool residual_grad) {
  static const Tensor kNone;
  GBAD_CHECK(save_mean_.defined(), "BatchNorm2d::backward before a training forward");
  nhwc_batchnorm2d_backward(ctx, input_grad_ ? &dx_ : nullptr, residual_grad ? &dz_ : nullptr,
                            &ps_->grad(w_), &ps_->grad(b_), dy, y_, x_, ps_->value(w_),
                            ps_->value(b_), save_mean_, save_invstd_, eps_, nhwc_);
  ctx.grad_ready(*ps_, w_);
  ctx.grad_ready(*ps_, b_);
  return input_grad_ ? dx_ : kNone;
}

// Uses the mode of the preceding forward (do not switch modes between forward and backward).
const Tensor& BatchNorm2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("BatchNorm2d::backward");
  GBAD_CHECK(x_.defined(), "BatchNorm2d::backward called before forward");
  static const Tensor kNone;
  if (x_.is_nhwc()) return backward_nhwc(ctx, dy, false);
  Tensor* dx = nullptr;
  if (input_grad_) {
    dx_.resize_like(x_.shape(), x_);
    dx = &dx_;
  }
  if (training_) {
    GBAD_CHECK(save_mean_.defined(),
               "BatchNorm2d::backward in training mode after an eval forward");
    if (sync_comm_) {
      sync_backward(ctx, dx, dy);
      return input_grad_ ? dx_ : kNone;
    }
    batchnorm2d_backward(ctx, dx, &ps_->grad(w_), &ps_->grad(b_), dy, x_, ps_->value(w_),
                         save_mean_, save_invstd_, eps_);
  } else {
    batchnorm2d_backward_eval(ctx, dx, &ps_->grad(w_), &ps_->grad(b_), dy, x_, ps_->value(w_),
                              ps_->value(rm_), ps_->value(rv_), eps_);
  }
  ctx.grad_ready(*ps_, w_);
  ctx.grad_ready(*ps_, b_);
  if (dx) amp_store(ctx, dx_);
  return input_grad_ ? dx_ : kNone;
}

}  // namespace gbad
