// Layers: forward and hand-written backward over the ops in kernels/. The contract, obeyed by
// every layer:
//   * Parameters live in a ParamStore; the constructor registers them under `prefix`
//     (torchvision names: "<prefix>.weight", "<prefix>.bias", "<prefix>.running_mean" ...);
//     the layer fetches its views from the store after ParamStore::finalize().
//   * forward(ctx, x) returns a reference to an output tensor the layer owns. It is allocated
//     on the first forward for a shape and reused afterwards; it stays valid until the next
//     forward. The layer keeps a handle to x when backward needs it (x must stay unchanged
//     until backward).
//   * backward(ctx, dy) ACCUMULATES (+=) parameter gradients into the store's gradient
//     buffer and returns dL/dx in a tensor the layer owns (overwritten each call). Callers that
//     need to sum input gradients (residual branches) add them with add_inplace().
//     set_input_grad(false) skips computing dx (first layer of a network); backward then
//     returns an empty tensor.
//   * set_training(bool) switches BatchNorm (batch statistics vs running statistics) and
//     Dropout (active vs identity). Layers start in training mode.
// Shapes: images NCHW, feature rows (N, D). Conv2d, BatchNorm2d (training, and folded into a
// convolution for eval), MaxPool2d, Upsample::forward_add / backward_add and GlobalAvgPool also
// take half NHWC activations (kernels/nhwc.h: the fp16/bf16 GPU path through the ResNet
// backbones and the FPN) and return outputs of the input's kind (GlobalAvgPool: f32 rows).
#pragma once

#include <string>

#include "core/context.h"
#include "core/param_store.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/nhwc.h"
#include "kernels/pooling.h"

namespace gbad {

class Layer {
 public:
  virtual ~Layer() = default;
  void set_training(bool t) { training_ = t; }
  bool training() const { return training_; }
  void set_input_grad(bool g) { input_grad_ = g; }
  bool input_grad() const { return input_grad_; }

 protected:
  bool training_ = true;
  bool input_grad_ = true;
};

// ---- parameterised layers (nn/conv.cpp, nn/linear.cpp, nn/batchnorm.cpp) ---------------------

// 2-D convolution, groups 1, dilation 1. Weight (Cout, Cin, KH, KW), optional bias (Cout).
// Init: torchvision ResNet style (Kaiming normal, fan_out) unless `init` says otherwise.
class BatchNorm2d;

class Conv2d : public Layer {
 public:
  Conv2d() = default;
  Conv2d(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t cout, int kh, int kw,
         int stride_h, int stride_w, int pad_h, int pad_w, bool bias);
  // Square kernel convenience.
  Conv2d(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t cout, int k, int stride,
         int pad, bool bias)
      : Conv2d(ps, prefix, cin, cout, k, k, stride, stride, pad, pad, bias) {}
  const Tensor& forward(Context& ctx, const Tensor& x);  // x (N,Cin,H,W) -> y (N,Cout,Ho,Wo)
  const Tensor& backward(Context& ctx, const Tensor& dy);
  Shape output_shape(const Shape& x) const;
  int64_t macs(const Shape& x) const;  // multiply-adds of one forward
  int64_t cin() const { return cin_; }
  int64_t cout() const { return cout_; }
  // Eval only: this convolution and `bn` (running statistics) [+ residual] [+ ReLU] as one op
  // (conv2d_bn_eval_forward), y = act(bn(conv(x)) [+ residual]). Keeps nothing for backward:
  // a caller that needs gradients runs the unfused layers again.
  const Tensor& forward_bn_eval(Context& ctx, const Tensor& x, const BatchNorm2d& bn,
                                const Tensor* residual, bool relu);

 private:
  ParamStore* ps_ = nullptr;
  ParamStore::Ref w_ = -1, b_ = -1;
  int64_t cin_ = 0, cout_ = 0;
  int kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1, ph_ = 0, pw_ = 0;
  Tensor x_, y_, dx_;
  ConvHalfInput x_half_;  // the GPU half path's NHWC copy of x_, reused by backward
};

// BatchNorm over channels of NCHW. weight (C) init 1, bias (C) init 0, buffers running_mean
// (C) 0, running_var (C) 1, num_batches_tracked (scalar). Training: batch statistics (biased
// variance for normalising), running stats updated with `momentum` using the unbiased variance
// (as torch). Eval: running statistics.
// Synchronised (ctx.bn_comm() set, training mode): the statistics are those of the union of the
// batches of every rank of the communicator, and backward all-reduces the two per-channel sums
// its input gradient needs (as torch.nn.SyncBatchNorm); weight and bias gradients stay this
// rank's (the data-parallel gradient average sums them).
class BatchNorm2d : public Layer {
 public:
  BatchNorm2d() = default;
  BatchNorm2d(ParamStore& ps, const std::string& prefix, int64_t channels, float eps = 1e-5f,
              float momentum = 0.1f, bool zero_init_weight = false);
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  // Training mode only: y = act(bn(x) [+ residual]) as one op (batchnorm2d_forward_train_act),
  // act = ReLU when `relu`; what a ResNet block does after a convolution.
  const Tensor& forward_act(Context& ctx, const Tensor& x, const Tensor* residual, bool relu);
  // Backward of forward_act: returns dL/dx; with the ReLU and `residual_grad`, dL/d(residual)
  // (dy masked by the ReLU) is residual_grad() afterwards (without the ReLU it is dy).
  const Tensor& backward_act(Context& ctx, const Tensor& dy, bool residual_grad);
  const Tensor& residual_grad() const { return dz_; }
  // What a convolution folding this layer (eval) needs.
  const Tensor& gamma() const { return ps_->value(w_); }
  const Tensor& beta() const { return ps_->value(b_); }
  const Tensor& running_mean() const { return ps_->value(rm_); }
  const Tensor& running_var() const { return ps_->value(rv_); }
  float eps() const { return eps_; }

 private:
  ParamStore* ps_ = nullptr;
  ParamStore::Ref w_ = -1, b_ = -1, rm_ = -1, rv_ = -1, nbt_ = -1;
  int64_t c_ = 0;
  float eps_ = 1e-5f, momentum_ = 0.1f;
  Tensor x_, y_, dx_, save_mean_, save_invstd_, dz_;
  BnNhwcState nhwc_;   // what a half NHWC training forward left for its backward
  bool relu_ = false;  // of the last forward_act
  // Synchronised BatchNorm: set by a training forward with ctx.bn_comm(); the union's biased
  // variance, and scratch for the backward.
  Communicator* sync_comm_ = nullptr;
  Tensor sync_var_, sync_tmp_, sync_dgamma_, sync_dbeta_, sync_g_;
  void sync_forward(Context& ctx, const Tensor& x);
  const Tensor& forward_nhwc(Context& ctx, const Tensor& x, const Tensor* residual, bool relu);
  const Tensor& backward_nhwc(Context& ctx, const Tensor& dy, bool residual_grad);
  void sync_backward(Context& ctx, Tensor* dx, const Tensor& dy);
};

// y = x W^T + b. x (N, in), W (out, in), b (out). Init: torch.nn.Linear default unless
// `xavier` (Bi-GAN).
class Linear : public Layer {
 public:
  Linear() = default;
  Linear(ParamStore& ps, const std::string& prefix, int64_t in, int64_t out, bool bias = true,
         bool xavier = false);
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  ParamStore* ps_ = nullptr;
  ParamStore::Ref w_ = -1, b_ = -1;
  int64_t in_ = 0, out_ = 0;
  Tensor x_, y_, dx_;
};

// ---- parameter-free layers (nn/activations.cpp, nn/pooling.cpp) ------------------------------

class ReLU : public Layer {
 public:
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  Tensor y_, dx_;
};

class LeakyReLU : public Layer {
 public:
  explicit LeakyReLU(float slope = 0.01f) : slope_(slope) {}
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  float slope_;
  Tensor x_, y_, dx_;
};

class Sigmoid : public Layer {
 public:
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  Tensor y_, dx_;
};

class Tanh : public Layer {
 public:
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  Tensor y_, dx_;
};

// Max pooling with kernel k, stride s, padding p (padding never wins the max).
class MaxPool2d : public Layer {
 public:
  MaxPool2d(int k = 3, int s = 2, int p = 1) : k_(k), s_(s), p_(p) {}
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  int k_, s_, p_;
  Tensor y_, dx_;
  Tensor argmax_;  // flat input index of each output's max, stored as float-encoded int32
  Shape x_shape_;
  bool nhwc_input_ = false;  // the last forward's input was half NHWC (kernels/nhwc.h)
  MaxPoolNhwcState nhwc_;
};

// Average pooling (kernels/pooling.h AvgPool2dParams: count_include_pad as torch's default).
class AvgPool2d : public Layer {
 public:
  AvgPool2d() = default;
  explicit AvgPool2d(const AvgPool2dParams& p) : p_(p) {}
  AvgPool2d(int k, int s, int p, bool count_include_pad = true)
      : p_{k, k, s, s, p, p, count_include_pad} {}
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  Shape output_shape(const Shape& x) const;

 private:
  AvgPool2dParams p_;
  Tensor y_, dx_;
  Shape x_shape_;
};

// (N,C,H,W) -> (N,C): mean over H and W.
class GlobalAvgPool : public Layer {
 public:
  // x (N,C,H,W) f32 NCHW or half NHWC -> y (N,C) f32; dx of x's kind.
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  Tensor y_, dx_;
  Shape x_shape_;
  bool nhwc_input_ = false;
};

// Nearest-neighbour upsampling to (H_out, W_out), torch's "nearest" rule:
// src = floor(dst * in / out). Backward sums the gradient of every copy.
class Upsample : public Layer {
 public:
  const Tensor& forward(Context& ctx, const Tensor& x, int64_t h_out, int64_t w_out);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  // Fused with the addition that follows it (the FPN's top-down merge): lat + up(x) at lat's
  // size, and its backward addend + up_backward(dy) (always computed: the sum needs it).
  const Tensor& forward_add(Context& ctx, const Tensor& x, const Tensor& lat);
  const Tensor& backward_add(Context& ctx, const Tensor& dy, const Tensor& addend);

 private:
  Tensor y_, dx_;
  Shape x_shape_;
};

// Inverted dropout: in training, zero with probability p and scale the rest by 1/(1-p); the
// mask comes from the Philox stream (ctx.rng().seed(), ctx.rng().next()), so the CPU and the
// CUDA version draw the same mask. Identity in eval mode.
class Dropout : public Layer {
 public:
  explicit Dropout(float p = 0.5f) : p_(p) {}
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  float p_;
  Tensor y_, dx_, mask_;
};

}  // namespace gbad
