// DenseNet-BC (torchvision densenet121 by default): conv0 7x7/2 + norm0 + ReLU + max pool 3/2,
// four dense blocks joined by transitions (norm, ReLU, 1x1 conv halving the channels, average
// pool 2x2/2), norm5. Dense layers are norm1-ReLU-conv1 (1x1, bn_size*growth) - norm2-ReLU-
// conv2 (3x3, growth), whose output is concatenated to the block's running feature map.
// Parameter names equal torchvision's state_dict names (features.conv0.weight,
// features.denseblock1.denselayer1.norm1.weight, features.transition1.conv.weight,
// features.norm5.*), so converted ImageNet weights load directly.
//
// Concatenation without copies of the growing map: each block owns ONE feature buffer
// (N, C_in + layers*growth, H, W) that every layer writes its growth channels into, and one
// gradient buffer of the same size that every layer adds its input gradient into. A layer's
// input (the first c channels) is gathered into a per-block scratch shared by all its layers;
// norm1+ReLU of it is recomputed in backward (Pleiss et al.'s memory-efficient DenseNet), so a
// layer keeps only its bottleneck activations (2 x bn_size*growth channels) and statistics.
//
// Feature levels for the GBAD head (strides 4, 8, 16, 32): the outputs of dense blocks 1-4 as
// the next layer sees them, i.e. after norm+ReLU: transition1..3's ReLU output and
// ReLU(norm5) (the plain head's input, as torchvision's forward). densenet121: 256, 512, 1024,
// 1024 channels.
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "models/backbone.h"
#include "nn/layers.h"

namespace gbad {

struct DenseNetConfig {
  int64_t growth = 32;         // growth rate k (32 = densenet121)
  int64_t init_features = 64;  // conv0 output channels (2k in torchvision)
  int64_t bn_size = 4;         // bottleneck width = bn_size * growth
  std::array<int, 4> blocks = {6, 12, 24, 16};
  bool input_grad = false;  // compute dL/dx of the image (gradient checks)
};

class DenseBlock;

class DenseNet : public Backbone {
 public:
  DenseNet(ParamStore& ps, const DenseNetConfig& cfg);
  ~DenseNet() override;
  std::array<Tensor, 4> forward(Context& ctx, const Tensor& x) override;
  const Tensor& backward(Context& ctx, const std::array<Tensor, 4>& dc) override;
  void set_training(bool t) override;
  std::array<int64_t, 4> channels() const override { return channels_; }
  std::array<Shape, 4> summarize(const Shape& x, const ParamStore& ps,
                                 std::vector<LayerSummary>& rows) const override;
  const DenseNetConfig& config() const { return cfg_; }
  // Bytes of the activations a training step keeps for backward plus the block scratch and
  // gradient buffers, for an input of shape x (the closing note's memory figure).
  int64_t activation_bytes(const Shape& x) const;

 private:
  struct Transition {
    BatchNorm2d norm;
    ReLU relu;
    Conv2d conv;
    AvgPool2d pool{2, 2, 0};
  };
  DenseNetConfig cfg_;
  Conv2d conv0_;
  BatchNorm2d norm0_, norm5_;
  ReLU relu0_, relu5_;
  MaxPool2d pool0_{3, 2, 1};
  std::vector<std::unique_ptr<DenseBlock>> blocks_;
  std::array<Transition, 3> trans_;
  std::array<int64_t, 4> channels_{};
  std::array<Tensor, 3> dsum_;
  Tensor empty_;
};

}  // namespace gbad
