// Activation and dropout layers (declared in nn/layers.h): thin wrappers over
// kernels/elementwise.h that own their outputs and cache what backward needs.
#include "core/nvtx.h"
#include "kernels/amp.h"
#include "kernels/elementwise.h"
#include "nn/layers.h"

namespace gbad {

namespace {
// What backward returns when the layer computes no input gradient.
const Tensor& no_grad() {
  static const Tensor empty;
  return empty;
}
}  // namespace

const Tensor& ReLU::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("ReLU::forward");
  y_.resize(x.shape(), x.device());
  relu_forward(ctx, y_, x);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& ReLU::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("ReLU::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(dy.shape(), dy.device());
  relu_backward(ctx, dx_, dy, y_);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& LeakyReLU::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("LeakyReLU::forward");
  x_ = x;
  y_.resize(x.shape(), x.device());
  leaky_relu_forward(ctx, y_, x, slope_);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& LeakyReLU::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("LeakyReLU::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(dy.shape(), dy.device());
  leaky_relu_backward(ctx, dx_, dy, x_, slope_);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& Sigmoid::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("Sigmoid::forward");
  y_.resize(x.shape(), x.device());
  sigmoid_forward(ctx, y_, x);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Sigmoid::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Sigmoid::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(dy.shape(), dy.device());
  sigmoid_backward(ctx, dx_, dy, y_);
  amp_store(ctx, dx_);
  return dx_;
}

const Tensor& Tanh::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("Tanh::forward");
  y_.resize(x.shape(), x.device());
  tanh_forward(ctx, y_, x);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Tanh::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Tanh::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(dy.shape(), dy.device());
  tanh_backward(ctx, dx_, dy, y_);
  amp_store(ctx, dx_);
  return dx_;
}

// In eval mode (or p == 0) the output is a copy of x and the mask is all ones, so backward
// is the same code in both modes. Each training forward draws a fresh stream offset.
const Tensor& Dropout::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("Dropout::forward");
  y_.resize(x.shape(), x.device());
  mask_.resize(x.shape(), x.device());
  if (training_ && p_ > 0.f) {
    const uint64_t seed = ctx.rng().seed();
    const uint64_t offset = ctx.rng().next();
    dropout_forward(ctx, y_, mask_, x, p_, seed, offset);
  } else {
    y_.copy_from(x);
    mask_.fill(1.f);
  }
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Dropout::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Dropout::backward");
  if (!input_grad_) return no_grad();
  dx_.resize(dy.shape(), dy.device());
  dropout_backward(ctx, dx_, dy, mask_);
  amp_store(ctx, dx_);
  return dx_;
}

}  // namespace gbad
