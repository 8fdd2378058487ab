// ConvTranspose2d and UpsampleBilinear layers (nn/conv_transpose.h).
#include "nn/conv_transpose.h"

#include <cmath>

#include "core/nvtx.h"
#include "kernels/conv_transpose.h"
#include "kernels/resample.h"

namespace gbad {

ConvTranspose2d::ConvTranspose2d(ParamStore& ps, const std::string& prefix, int64_t cin,
                                 int64_t cout, int k, int stride, int pad, bool bias)
    : ps_(&ps), cin_(cin), cout_(cout), k_(k), s_(stride), p_(pad) {
  GBAD_CHECK(cin > 0 && cout > 0 && k > 0 && stride > 0 && pad >= 0, "ConvTranspose2d '", prefix,
             "': bad sizes cin ", cin, " cout ", cout, " kernel ", k, " stride ", stride, " pad ",
             pad);
  const float bound = 1.f / std::sqrt(static_cast<float>(cout * k * k));
  w_ = ps.add_param(join_name(prefix, "weight"), {cin, cout, k, k},
                    InitSpec::uniform(-bound, bound));
  if (bias) b_ = ps.add_param(join_name(prefix, "bias"), {cout}, InitSpec::uniform(-bound, bound));
}

Shape ConvTranspose2d::output_shape(const Shape& x) const {
  return conv_transpose2d_output_shape(x, {cin_, cout_, k_, k_}, Conv2dParams{s_, s_, p_, p_});
}

int64_t ConvTranspose2d::macs(const Shape& x) const {
  return x[0] * x[1] * x[2] * x[3] * cout_ * k_ * k_;
}

const Tensor& ConvTranspose2d::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("ConvTranspose2d::forward");
  GBAD_CHECK(ps_, "ConvTranspose2d used before construction");
  x_ = x;
  y_.resize(output_shape(x.shape()), x.device());
  conv_transpose2d_forward(ctx, y_, x, ps_->value(w_), b_ >= 0 ? &ps_->value(b_) : nullptr,
                           Conv2dParams{s_, s_, p_, p_});
  return y_;
}

const Tensor& ConvTranspose2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("ConvTranspose2d::backward");
  GBAD_CHECK(x_.defined(), "ConvTranspose2d::backward called before forward");
  static const Tensor kNone;
  if (input_grad_) dx_.resize(x_.shape(), x_.device());
  conv_transpose2d_backward(ctx, input_grad_ ? &dx_ : nullptr, &ps_->grad(w_),
                            b_ >= 0 ? &ps_->grad(b_) : nullptr, dy, x_, ps_->value(w_),
                            Conv2dParams{s_, s_, p_, p_});
  ctx.grad_ready(*ps_, w_);
  if (b_ >= 0) ctx.grad_ready(*ps_, b_);
  return input_grad_ ? dx_ : kNone;
}

const Tensor& UpsampleBilinear::forward(Context& ctx, const Tensor& x, int64_t h_out,
                                        int64_t w_out) {
  GBAD_NVTX_RANGE("UpsampleBilinear::forward");
  GBAD_CHECK(x.ndim() == 4, "UpsampleBilinear: input ", x.str(), " is not NCHW");
  GBAD_CHECK(h_out > 0 && w_out > 0, "UpsampleBilinear: bad output size ", h_out, "x", w_out);
  x_shape_ = x.shape();
  y_.resize({x.n(), x.c(), h_out, w_out}, x.device());
  upsample_bilinear_forward(ctx, y_, x);
  return y_;
}

const Tensor& UpsampleBilinear::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("UpsampleBilinear::backward");
  static const Tensor kNone;
  if (!input_grad_) return kNone;
  GBAD_CHECK(!x_shape_.empty(), "UpsampleBilinear::backward called before forward");
  dx_.resize(x_shape_, dy.device());
  upsample_bilinear_backward(ctx, dx_, dy);
  return dx_;
}

}  // namespace gbad
