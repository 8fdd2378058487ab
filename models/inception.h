// InceptionV3 (torchvision inception_v3): BasicConv2d = conv (no bias) + BatchNorm (eps 0.001)
// + ReLU; stem Conv2d_1a..4a with two 3x3/2 max pools; Mixed_5b..5d (InceptionA), Mixed_6a (B),
// Mixed_6b..6e (C, 1x7 / 7x1 convolutions), Mixed_7a (D), Mixed_7b..7c (E); branch pools are
// 3x3/1 pad 1 average pools counting the padding (PyTorch's default); AuxLogits (InceptionAux)
// on Mixed_6e, used in training only. Parameter names equal torchvision's state_dict names.
// Branch outputs are written straight into channel ranges of the block's output (no concat).
//
// `width` scales every channel count by width/64 (64 = torchvision; Conv2d_2b has `width`
// channels), for reduced CPU versions.
// Feature levels for the GBAD head: Conv2d_4a (stride ~4, 192 ch), Mixed_5d (8, 288),
// Mixed_6e (16, 768), Mixed_7c (32, 2048); the plain head pools Mixed_7c as torchvision.
// Inputs: at least 75x75; the auxiliary head needs Mixed_6e of at least 17x17 (inputs >= 299).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "models/backbone.h"
#include "nn/layers.h"

namespace gbad {

struct InceptionConfig {
  int64_t width = 64;
  int64_t num_classes = 5;       // of the auxiliary head
  bool transform_input = false;  // torchvision's re-normalisation for its ImageNet weights
  bool input_grad = false;
};

class InceptionMixed;
struct InceptionBasicConv;

class InceptionV3 : public Backbone {
 public:
  InceptionV3(ParamStore& ps, const InceptionConfig& cfg);
  ~InceptionV3() override;
  std::array<Tensor, 4> forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const std::array<Tensor, 4>& dc) override;
  void set_training(bool t) override;
  std::array<int64_t, 4> channels() const override { return channels_; }
  std::array<Shape, 4> summarize(const Shape& x, const ParamStore& ps,
                                 std::vector<LayerSummary>& rows) const override;
  const InceptionConfig& config() const { return cfg_; }

  // The auxiliary head runs in training-mode forwards while enabled; its logits (N,K) are then
  // aux_logits() and backward() takes their gradient from set_aux_grad().
  void set_aux_enabled(bool on) { aux_on_ = on; }
  bool aux_active() const { return aux_ran_; }
  const Tensor& aux_logits() const { return aux_logits_; }
  void set_aux_grad(const Tensor& d) { daux_ = d; }
  static constexpr int kMinInput = 75, kMinAuxInput = 299;

 private:
  InceptionConfig cfg_;
  std::vector<std::unique_ptr<InceptionBasicConv>> stem_;  // 1a, 2a, 2b, 3b, 4a
  MaxPool2d pool1_{3, 2, 0}, pool2_{3, 2, 0};
  std::vector<std::unique_ptr<InceptionMixed>> mixed_;  // 5b 5c 5d 6a 6b 6c 6d 6e 7a 7b 7c
  // Auxiliary head.
  AvgPool2d aux_pool_{5, 3, 0};
  std::unique_ptr<InceptionBasicConv> aux_conv0_, aux_conv1_;
  GlobalAvgPool aux_gap_;
  Linear aux_fc_;
  bool aux_on_ = false, aux_ran_ = false;
  Tensor aux_logits_, daux_, daux_sum_, dsum_[4];
  // transform_input as a fixed 1x1 convolution (a per-channel affine map).
  Tensor ti_w_, ti_b_, ti_y_, ti_dx_;
  std::array<int64_t, 4> channels_{};
  Tensor empty_;
};

}  // namespace gbad
