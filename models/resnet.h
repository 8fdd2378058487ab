// ResNet-18/34 (basic blocks) and ResNet-50/101 (bottleneck blocks, stride on the 3x3 conv as
// torchvision's "v1.5"), with a base-width setting for small CPU runs. Parameter names equal
// torchvision's state_dict names (conv1.weight, bn1.*, layer1.0.conv1.weight, ...,
// layer2.0.downsample.0/1.*), so converted ImageNet weights load directly.
// forward() returns C2..C5 (the outputs of layer1..layer4); backward() takes their gradients
// (any may be empty = zero) and propagates by hand in reverse order.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/param_store.h"
#include "core/tensor.h"
#include "models/backbone.h"
#include "nn/layers.h"

namespace gbad {

struct ResNetConfig {
  int depth = 18;           // 18 | 34 | 50 | 101
  int64_t width = 64;       // channels of the stem and of layer1's 3x3 convs (64 in torchvision)
  bool input_grad = false;  // compute dL/dx of the image (gradient checks)
};

bool resnet_is_bottleneck(int depth);
std::array<int, 4> resnet_blocks(int depth);  // blocks per stage; throws for other depths

// BasicBlock (two 3x3 convs) or Bottleneck (1x1, 3x3 with the stride, 1x1 expanding by 4),
// with a 1x1 conv + BN shortcut ("downsample.0/1") when the shape changes.
class ResNetBlock {
 public:
  ResNetBlock(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t planes, int stride,
              bool bottleneck);
  const Tensor& forward(Context& ctx, const Tensor& x);  // (N,Cin,H,W) -> (N,Cout,H/s,W/s)
  // Eval mode, each conv + BN (+ residual) (+ ReLU) as one op (Conv2d::forward_bn_eval); the
  // same result as forward() in eval mode, but nothing is kept for backward().
  const Tensor& forward_fused_eval(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  void set_training(bool t);
  int64_t out_channels() const { return cout_; }
  Shape summarize(const Shape& x, const ParamStore& ps, std::vector<LayerSummary>& rows) const;

 private:
  std::string prefix_;
  bool bottleneck_ = false, has_down_ = false;
  int64_t cout_ = 0;
  Conv2d conv1_, conv2_, conv3_, down_conv_;
  BatchNorm2d bn1_, bn2_, bn3_, down_bn_;
  ReLU relu1_, relu2_, relu_out_;
  Tensor sum_, dx_;
  // Training forwards fuse each BN with the ReLU (and the residual addition) that follows it
  // (BatchNorm2d::forward_act); eval forwards run the layers one by one (or forward_fused_eval).
  bool training_ = true, act_last_ = false;
};

class ResNet : public Backbone {
 public:
  // Registers the backbone's parameters at the root of `ps` (torchvision names).
  ResNet(ParamStore& ps, const ResNetConfig& cfg);
  // x (N,3,H,W) -> C2..C5, handles to tensors the blocks own (valid until the next forward).
  // When ctx.half_nhwc() (fp16/bf16 on the GPU by default), training and fused-eval forwards
  // run the whole backbone on half NHWC activations (kernels/nhwc.h): x is converted once on
  // the way in and C2..C5 are half NHWC tensors (the FPN and the heads' pooling take them);
  // backward takes their gradients in either kind.
  std::array<Tensor, 4> forward(Context& ctx, const Tensor& x) override;
  // dc[i] = dL/dC(i+2); an undefined or empty tensor means zero. Accumulates parameter
  // gradients; returns dL/dx (empty unless cfg.input_grad).
  const Tensor& backward(Context& ctx, const std::array<Tensor, 4>& dc) override;
  void set_training(bool t) override;
  // Eval forwards fold each BatchNorm into its convolution (default on; the CPU backend then
  // makes one pass per conv). A backward after such a forward first re-runs the unfused one.
  void set_fuse_eval(bool f) { fuse_eval_ = f; }
  std::array<int64_t, 4> channels() const override { return channels_; }
  const ResNetConfig& config() const { return cfg_; }
  // Output shapes of C2..C5 for input shape x; appends one row per layer.
  std::array<Shape, 4> summarize(const Shape& x, const ParamStore& ps,
                                 std::vector<LayerSummary>& rows) const override;

 private:
  ResNetConfig cfg_;
  Conv2d conv1_;
  BatchNorm2d bn1_;
  ReLU relu_;
  MaxPool2d pool_{3, 2, 1};
  std::array<std::vector<ResNetBlock>, 4> stages_;
  std::array<int64_t, 4> channels_{};
  std::array<Tensor, 4> dsum_;
  Tensor empty_;
  Tensor x_;  // input of the last forward
  bool training_ = true, fuse_eval_ = true, fused_last_ = false, stem_act_ = false;
  // At fp16/bf16 x_store_ holds the input as the backbone stores it (half NHWC, or rounded f32
  // for the emulation: a safety net for callers that pass unrounded images); dc_store_: half
  // NHWC copies of f32 gradients (CHR) or f32 copies of half ones (an eval backward after a
  // fused NHWC forward); dx32_: dL/dx in f32 NCHW.
  bool nhwc_ = false;
  Tensor x_store_, dx32_;
  std::array<Tensor, 4> dc_store_;
  std::array<Tensor, 4> forward_impl(Context& ctx, const Tensor& x, bool fused);
};

}  // namespace gbad
