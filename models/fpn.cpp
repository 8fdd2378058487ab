#include "models/fpn.h"

namespace gbad {

Fpn::Fpn(ParamStore& ps, const std::string& prefix, const std::array<int64_t, 4>& in_channels,
         int64_t channels)
    : prefix_(prefix), channels_(channels) {
  GBAD_CHECK(channels > 0, "FPN channels must be positive, got ", channels);
  for (int i = 0; i < 4; ++i) {
    const std::string idx = std::to_string(i);
    inner_[i] = Conv2d(ps, join_name(prefix, "inner_blocks." + idx), in_channels[i], channels, 1, 1,
                       0, true);
    layer_[i] =
        Conv2d(ps, join_name(prefix, "layer_blocks." + idx), channels, channels, 3, 1, 1, true);
  }
}

std::array<Tensor, 4> Fpn::forward(Context& ctx, const std::array<Tensor, 4>& c) {
  std::array<Tensor, 4> p;
  const Tensor& top = inner_[3].forward(ctx, c[3]);
  merged_[3] = top;
  for (int i = 2; i >= 0; --i) {
    const Tensor& lat = inner_[i].forward(ctx, c[i]);
    merged_[i] = up_[i].forward_add(ctx, merged_[i + 1], lat);  // lat + up(merged_[i + 1])
  }
  for (int i = 0; i < 4; ++i) p[i] = layer_[i].forward(ctx, merged_[i]);
  return p;
}

std::array<Tensor, 4> Fpn::backward(Context& ctx, const std::array<Tensor, 4>& dp) {
  std::array<Tensor, 4> dc;
  Tensor dm;
  for (int i = 0; i < 4; ++i) {
    GBAD_CHECK(dp[i].defined() && !dp[i].empty(), "Fpn::backward: dP", i + 2, " is empty");
    const Tensor& dout = layer_[i].backward(ctx, dp[i]);
    if (i == 0) {
      dm = dout;
    } else {
      dm = up_[i - 1].backward_add(ctx, dm, dout);  // dout + up_backward(dm)
    }
    dc[i] = inner_[i].backward(ctx, dm);
  }
  return dc;
}

void Fpn::set_training(bool t) {
  for (int i = 0; i < 4; ++i) {
    inner_[i].set_training(t);
    layer_[i].set_training(t);
  }
  for (auto& u : up_) u.set_training(t);
}

std::array<Shape, 4> Fpn::summarize(const std::array<Shape, 4>& c, const ParamStore& ps,
                                    std::vector<LayerSummary>& rows) const {
  std::array<Shape, 4> p;
  for (int i = 3; i >= 0; --i) {
    const std::string name = join_name(prefix_, "inner_blocks." + std::to_string(i));
    Shape lat = inner_[i].output_shape(c[i]);
    rows.push_back({name, "Conv2d", lat, count_params(ps, name), inner_[i].macs(c[i])});
    if (i < 3)
      rows.push_back(
          {join_name(prefix_, "topdown." + std::to_string(i)), "Upsample+Add", lat, 0, 0});
    const std::string oname = join_name(prefix_, "layer_blocks." + std::to_string(i));
    p[i] = layer_[i].output_shape(lat);
    rows.push_back({oname, "Conv2d", p[i], count_params(ps, oname), layer_[i].macs(lat)});
  }
  return p;
}

}  // namespace gbad
