// Conv2d layer over kernels/conv2d.h. At fp16/bf16 the CUDA op computes in half on tensor cores
// (docs/mixed-precision.md) and returns fp32 tensors holding half values (plus an fp32 bias);
// amp_store then rounds exactly as the CPU emulation does, so both store the same kind of value.
#include <cmath>

#include "core/nvtx.h"
#include "kernels/amp.h"
#include "kernels/conv2d.h"
#include "nn/layers.h"

namespace gbad {

Conv2d::Conv2d(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t cout, int kh, int kw,
               int stride_h, int stride_w, int pad_h, int pad_w, bool bias)
    : ps_(&ps),
      cin_(cin),
      cout_(cout),
      kh_(kh),
      kw_(kw),
      sh_(stride_h),
      sw_(stride_w),
      ph_(pad_h),
      pw_(pad_w) {
  GBAD_CHECK(cin > 0 && cout > 0 && kh > 0 && kw > 0, "Conv2d '", prefix, "': bad sizes cin ", cin,
             " cout ", cout, " kernel ", kh, "x", kw);
  GBAD_CHECK(stride_h > 0 && stride_w > 0 && pad_h >= 0 && pad_w >= 0, "Conv2d '", prefix,
             "': bad stride ", stride_h, "x", stride_w, " or padding ", pad_h, "x", pad_w);
  // torchvision ResNet: kaiming_normal_(mode="fan_out", nonlinearity="relu").
  w_ = ps.add_param(join_name(prefix, "weight"), {cout, cin, kh, kw},
                    InitSpec::kaiming_normal_fan_out(cout * kh * kw));
  if (bias) {
    // torch.nn.Conv2d default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    float bound = 1.f / std::sqrt(static_cast<float>(cin * kh * kw));
    b_ = ps.add_param(join_name(prefix, "bias"), {cout}, InitSpec::uniform(-bound, bound));
  }
}

Shape Conv2d::output_shape(const Shape& x) const {
  return conv2d_output_shape(x, {cout_, cin_, kh_, kw_}, Conv2dParams{sh_, sw_, ph_, pw_});
}

int64_t Conv2d::macs(const Shape& x) const {
  Shape y = output_shape(x);
  return y[0] * y[1] * y[2] * y[3] * cin_ * kh_ * kw_;
}

const Tensor& Conv2d::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("Conv2d::forward");
  GBAD_CHECK(ps_, "Conv2d used before construction");
  x_ = x;
  if (x.is_nhwc()) {  // half NHWC activations (kernels/nhwc.h): stored in half already
    x_half_ = ConvHalfInput();
    nhwc_conv2d_forward(ctx, y_, x, ps_->compute_value(w_),
                        b_ >= 0 ? &ps_->compute_value(b_) : nullptr,
                        Conv2dParams{sh_, sw_, ph_, pw_});
    return y_;
  }
  y_.resize_like(output_shape(x.shape()), x);
  conv2d_forward(ctx, y_, x, ps_->compute_value(w_), b_ >= 0 ? &ps_->compute_value(b_) : nullptr,
                 Conv2dParams{sh_, sw_, ph_, pw_}, &x_half_);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Conv2d::forward_bn_eval(Context& ctx, const Tensor& x, const BatchNorm2d& bn,
                                      const Tensor* residual, bool relu) {
  GBAD_NVTX_RANGE("Conv2d::forward_bn_eval");
  GBAD_CHECK(ps_, "Conv2d used before construction");
  GBAD_CHECK(b_ < 0, "Conv2d::forward_bn_eval: a convolution with bias is not folded");
  x_ = Tensor();              // nothing for backward
  x_half_ = ConvHalfInput();  // nor a half copy of an earlier training forward's input
  if (x.is_nhwc()) {
    nhwc_conv2d_bn_eval_forward(ctx, y_, x, ps_->compute_value(w_), bn.gamma(), bn.beta(),
                                bn.running_mean(), bn.running_var(), bn.eps(), residual, relu,
                                Conv2dParams{sh_, sw_, ph_, pw_});
    return y_;
  }
  y_.resize_like(output_shape(x.shape()), x);
  conv2d_bn_eval_forward(ctx, y_, x, ps_->compute_value(w_), bn.gamma(), bn.beta(),
                         bn.running_mean(), bn.running_var(), bn.eps(), residual, relu,
                         Conv2dParams{sh_, sw_, ph_, pw_});
  amp_store(ctx, y_);
  return y_;
}

const Tensor& Conv2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Conv2d::backward");
  GBAD_CHECK(x_.defined(), "Conv2d::backward called before forward");
  static const Tensor kNone;
  if (x_.is_nhwc()) {
    nhwc_conv2d_backward(ctx, input_grad_ ? &dx_ : nullptr, &ps_->grad(w_),
                         b_ >= 0 ? &ps_->grad(b_) : nullptr, dy, x_, ps_->compute_value(w_),
                         Conv2dParams{sh_, sw_, ph_, pw_});
    ctx.grad_ready(*ps_, w_);
    if (b_ >= 0) ctx.grad_ready(*ps_, b_);
    return input_grad_ ? dx_ : kNone;
  }
  if (input_grad_) dx_.resize_like(x_.shape(), x_);
  conv2d_backward(ctx, input_grad_ ? &dx_ : nullptr, &ps_->grad(w_),
                  b_ >= 0 ? &ps_->grad(b_) : nullptr, dy, x_, ps_->compute_value(w_),
                  Conv2dParams{sh_, sw_, ph_, pw_}, &x_half_);
  ctx.grad_ready(*ps_, w_);
  if (b_ >= 0) ctx.grad_ready(*ps_, b_);
  if (input_grad_) amp_store(ctx, dx_);
  return input_grad_ ? dx_ : kNone;
}

}  // namespace gbad
