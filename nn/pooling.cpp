// Pooling and upsampling layers (declared in nn/layers.h) over kernels/pooling.h.
#include "kernels/pooling.h"
#include "core/nvtx.h"
#include "kernels/amp.h"
#include "nn/layers.h"

namespace gbad {

namespace {
const Tensor& no_grad() {
  static const Tensor empty;
  return empty;
}

void check_nchw(const char* layer, const Tensor& x) {
  GBAD_CHECK(x.ndim() == 4, layer, ": expects an NCHW input, got ", shape_str(x.shape()));
}
}  // namespace

const Tensor& MaxPool2d::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("MaxPool2d::forward");
  check_nchw("MaxPool2d", x);
  x_shape_ = x.shape();
  nhwc_input_ = x.is_nhwc();
  if (nhwc_input_) {  // half NHWC activations (kernels/nhwc.h)
    nhwc_maxpool2d_forward(ctx, y_, x, k_, s_, p_, nhwc_);
    return y_;
  }
  const Shape out = {x.n(), x.c(), maxpool2d_out_size(x.h(), k_, s_, p_),
                     maxpool2d_out_size(x.w(), k_, s_, p_)};
  y_.resize_like(out, x);
  argmax_.resize(out, x.device());
  maxpool2d_forward(ctx, y_, argmax_, x, k_, s_, p_);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& MaxPool2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("MaxPool2d::backward");
  if (!input_grad_) return no_grad();
  if (nhwc_input_) {
    nhwc_maxpool2d_backward(ctx, dx_, dy, x_shape_, k_, s_, p_, nhwc_);
    return dx_;
  }
  dx_.resize_like(x_shape_, dy);
  maxpool2d_backward(ctx, dx_, dy, argmax_, k_, s_, p_);
  amp_store(ctx, dx_);
  return dx_;
}

Shape AvgPool2d::output_shape(const Shape& x) const {
  GBAD_CHECK(x.size() == 4, "AvgPool2d: expects an NCHW input, got ", shape_str(x));
  return {x[0], x[1], avgpool2d_out_size(x[2], p_.kh, p_.sh, p_.ph),
          avgpool2d_out_size(x[3], p_.kw, p_.sw, p_.pw)};
}

const Tensor& AvgPool2d::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("AvgPool2d::forward");
  check_nchw("AvgPool2d", x);
  x_shape_ = x.shape();
  y_.resize(output_shape(x.shape()), x.device());
  avgpool2d_forward(ctx, y_, x, p_);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& AvgPool2d::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("AvgPool2d::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(x_shape_, dy.device());
  avgpool2d_backward(ctx, dx_, dy, p_);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& GlobalAvgPool::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("GlobalAvgPool::forward");
  check_nchw("GlobalAvgPool", x);
  x_shape_ = x.shape();
  nhwc_input_ = x.is_nhwc();
  if (nhwc_input_) {  // half NHWC activations (kernels/nhwc.h): y is f32 holding half values
    nhwc_global_avgpool_forward(ctx, y_, x);
    return y_;
  }
  y_.resize({x.n(), x.c()}, x.device());
  global_avgpool_forward(ctx, y_, x);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& GlobalAvgPool::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("GlobalAvgPool::backward");
  if (!input_grad_) return no_grad();
  if (nhwc_input_) {
    nhwc_global_avgpool_backward(ctx, dx_, dy, x_shape_);
    return dx_;
  }
  dx_.resize_like(x_shape_, dy);
  global_avgpool_backward(ctx, dx_, dy);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& Upsample::forward(Context& ctx, const Tensor& x, int64_t h_out, int64_t w_out) {
  GBAD_NVTX_RANGE("Upsample::forward");
  check_nchw("Upsample", x);
  GBAD_CHECK(h_out > 0 && w_out > 0, "Upsample: bad output size ", h_out, "x", w_out);
  x_shape_ = x.shape();
  y_.resize({x.n(), x.c(), h_out, w_out}, x.device());
  upsample_nearest_forward(ctx, y_, x);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Upsample::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Upsample::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(x_shape_, dy.device());
  upsample_nearest_backward(ctx, dx_, dy);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& Upsample::forward_add(Context& ctx, const Tensor& x, const Tensor& lat) {
  GBAD_NVTX_RANGE("Upsample::forward_add");
  check_nchw("Upsample", x);
  check_nchw("Upsample", lat);
  x_shape_ = x.shape();
  if (lat.is_nhwc()) {  // half NHWC activations (kernels/nhwc.h)
    nhwc_upsample_nearest_add_forward(ctx, y_, lat, x);
    return y_;
  }
  y_.resize_like(lat.shape(), lat);
  upsample_nearest_add_forward(ctx, y_, lat, x);
  amp_store(ctx, y_);
  return y_;
}

const Tensor& Upsample::backward_add(Context& ctx, const Tensor& dy, const Tensor& addend) {
  GBAD_NVTX_RANGE("Upsample::backward_add");
  if (dy.is_nhwc()) {
    nhwc_upsample_nearest_add_backward(ctx, dx_, dy, addend);
    return dx_;
  }
  dx_.resize_like(x_shape_, dy);
  upsample_nearest_add_backward(ctx, dx_, dy, addend);
  amp_store(ctx, dx_);
  return dx_;
}

}  // namespace gbad
