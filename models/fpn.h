// Feature pyramid over C2..C5 (torchvision FeaturePyramidNetwork layout and names):
// lateral 1x1 convs with bias (fpn.inner_blocks.{0..3}), top-down nearest upsampling to the
// lateral's exact size (so odd image sizes work) plus addition, and 3x3 output convs with bias
// (fpn.layer_blocks.{0..3}) -> P2..P5, all with `channels` channels.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "models/resnet.h"

namespace gbad {

class Fpn {
 public:
  Fpn(ParamStore& ps, const std::string& prefix, const std::array<int64_t, 4>& in_channels,
      int64_t channels);
  // c: C2..C5 -> P2..P5 (handles to tensors the FPN owns).
  std::array<Tensor, 4> forward(Context& ctx, const std::array<Tensor, 4>& c);
  // dp: dL/dP2..dP5 (all required) -> dL/dC2..dC5 (tensors the FPN owns).
  std::array<Tensor, 4> backward(Context& ctx, const std::array<Tensor, 4>& dp);
  void set_training(bool t);
  int64_t channels() const { return channels_; }
  std::array<Shape, 4> summarize(const std::array<Shape, 4>& c, const ParamStore& ps,
                                 std::vector<LayerSummary>& rows) const;

 private:
  std::string prefix_;
  int64_t channels_ = 0;
  std::array<Conv2d, 4> inner_, layer_;
  // up_[i] brings level i+1 to level i's size and adds the lateral (one fused pass).
  std::array<Upsample, 3> up_;
  std::array<Tensor, 4> merged_;
};

}  // namespace gbad
