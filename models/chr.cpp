#include "models/chr.h"

#include "kernels/amp.h"
#include "kernels/chr_loss.h"
#include "kernels/elementwise.h"

namespace gbad {

ChrHead::ChrHead(ParamStore& ps, const std::array<int64_t, 3>& ch, int64_t num_classes)
    : ch_(ch), k_(num_classes) {
  GBAD_CHECK(ch[0] > 0 && ch[1] > 0 && ch[2] > 0 && num_classes > 0, "CHR head: bad channels ",
             ch[0], "/", ch[1], "/", ch[2], " or class count ", num_classes);
  cov4_ = Conv2d(ps, "cov4", ch[2], ch[2], 1, 1, 0, true);
  cov3_1_ = Conv2d(ps, "cov3_1", ch[1], ch[1], 1, 1, 0, true);
  cov3_ = Conv2d(ps, "cov3", ch[2] + ch[1], ch[1], 1, 1, 0, true);
  cov2_1_ = Conv2d(ps, "cov2_1", ch[0], ch[0], 1, 1, 0, true);
  cov2_ = Conv2d(ps, "cov2", ch[1] + ch[0], ch[0], 1, 1, 0, true);
  fc_[0] = Linear(ps, "fc1", ch[2], num_classes);
  fc_[1] = Linear(ps, "fc2", ch[1], num_classes);
  fc_[2] = Linear(ps, "fc3", ch[0], num_classes);
}

const Tensor& ChrHead::forward(Context& ctx, const Tensor& low, const Tensor& mid,
                               const Tensor& high) {
  GBAD_CHECK(low.c() == ch_[0] && mid.c() == ch_[1] && high.c() == ch_[2],
             "CHR head expects levels with ", ch_[0], "/", ch_[1], "/", ch_[2], " channels, got ",
             low.str(), ", ", mid.str(), ", ", high.str());
  aux_valid_ = false;
  // Head 1.
  p1_ = gap_[0].forward(ctx, r4_.forward(ctx, cov4_.forward(ctx, high)));
  o_[0] = fc_[0].forward(ctx, p1_);
  // Head 2: [up(high), ReLU(cov3_1(mid))] -> cov3 -> ReLU.
  const Tensor& l3 = r3_1_.forward(ctx, cov3_1_.forward(ctx, mid));
  const Tensor& u4 = up4_.forward(ctx, high, mid.h(), mid.w());
  cat3_.resize({mid.n(), ch_[2] + ch_[1], mid.h(), mid.w()}, mid.device());
  concat1(ctx, cat3_, u4, l3);
  const Tensor& a3 = r3_.forward(ctx, cov3_.forward(ctx, cat3_));
  o_[1] = fc_[1].forward(ctx, gap_[1].forward(ctx, a3));
  // Head 3: [up(a3), ReLU(cov2_1(low))] -> cov2 -> ReLU.
  const Tensor& l2 = r2_1_.forward(ctx, cov2_1_.forward(ctx, low));
  const Tensor& u3 = up3_.forward(ctx, a3, low.h(), low.w());
  cat2_.resize({low.n(), ch_[1] + ch_[0], low.h(), low.w()}, low.device());
  concat1(ctx, cat2_, u3, l2);
  const Tensor& a2 = r2_.forward(ctx, cov2_.forward(ctx, cat2_));
  o_[2] = fc_[2].forward(ctx, gap_[2].forward(ctx, a2));
  return o_[0];
}

void ChrHead::loss(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& targets,
                   const Tensor* mask) {
  GBAD_CHECK(o_[0].defined(), "ChrHead::loss called before forward");
  loss_tmp_.resize({1}, loss.device());
  for (int h = 0; h < 3; ++h) {
    Tensor& d = h == 0 ? dlogits : daux_[h];
    d.resize(o_[h].shape(), o_[h].device());
    chr_bce_with_logits(ctx, h == 0 ? loss : loss_tmp_, d, o_[h], targets, mask);
    if (h > 0) add_inplace(ctx, loss, loss_tmp_);
  }
  aux_valid_ = true;
}

std::array<Tensor, 3> ChrHead::backward(Context& ctx, const Tensor& do1) {
  std::array<Tensor, 3> d;  // low, mid, high
  if (aux_valid_) {
    // Head 3 -> low, and into a3.
    const Tensor& dcat2 = cov2_.backward(
        ctx, r2_.backward(ctx, gap_[2].backward(ctx, fc_[2].backward(ctx, daux_[2]))));
    dup3_.resize({dcat2.n(), ch_[1], dcat2.h(), dcat2.w()}, dcat2.device());
    dl2p_.resize({dcat2.n(), ch_[0], dcat2.h(), dcat2.w()}, dcat2.device());
    split1(ctx, dup3_, dl2p_, dcat2);
    d[0] = cov2_1_.backward(ctx, r2_1_.backward(ctx, dl2p_));
    const Tensor& da3_up = up3_.backward(ctx, dup3_);
    // Head 2: dL/da3 = from o2 + from head 3.
    const Tensor& da3_o2 = gap_[1].backward(ctx, fc_[1].backward(ctx, daux_[1]));
    da3_.resize(da3_o2.shape(), da3_o2.device());
    add(ctx, da3_, da3_o2, da3_up);
    const Tensor& dcat3 = cov3_.backward(ctx, r3_.backward(ctx, da3_));
    dup4_.resize({dcat3.n(), ch_[2], dcat3.h(), dcat3.w()}, dcat3.device());
    dl3p_.resize({dcat3.n(), ch_[1], dcat3.h(), dcat3.w()}, dcat3.device());
    split1(ctx, dup4_, dl3p_, dcat3);
    d[1] = cov3_1_.backward(ctx, r3_1_.backward(ctx, dl3p_));
  }
  // Head 1 (+ the upsampled copy of high used by head 2).
  const Tensor& dh =
      cov4_.backward(ctx, r4_.backward(ctx, gap_[0].backward(ctx, fc_[0].backward(ctx, do1))));
  dhigh_.resize(dh.shape(), dh.device());
  if (aux_valid_) {
    add(ctx, dhigh_, dh, up4_.backward(ctx, dup4_));
    amp_store(ctx, dhigh_);  // the gradient handed to the backbone, stored in half at fp16/bf16
  } else {
    dhigh_.copy_from(dh);
  }
  d[2] = dhigh_;
  return d;
}

void ChrHead::set_training(bool t) {
  for (Layer* l : std::initializer_list<Layer*>{&cov4_, &cov3_1_, &cov3_, &cov2_1_, &cov2_, &r4_,
                                                &r3_1_, &r3_, &r2_1_, &r2_, &up4_, &up3_})
    l->set_training(t);
  for (int i = 0; i < 3; ++i) {
    gap_[i].set_training(t);
    fc_[i].set_training(t);
  }
}

void ChrHead::summarize(const std::array<Shape, 3>& lv, const ParamStore& ps,
                        std::vector<LayerSummary>& rows) const {
  const int64_t n = lv[0][0];
  auto conv = [&](const Conv2d& c, const char* name, const Shape& x) {
    rows.push_back({name, "Conv2d", c.output_shape(x), count_params(ps, name), c.macs(x)});
  };
  auto fc = [&](int i, int64_t in) {
    const std::string name = "fc" + std::to_string(i + 1);
    rows.push_back({"chr.gap" + std::to_string(i + 1), "GlobalAvgPool", {n, in}, 0, 0});
    rows.push_back({name, "Linear", {n, k_}, count_params(ps, name), n * in * k_});
  };
  conv(cov4_, "cov4", lv[2]);
  fc(0, ch_[2]);
  conv(cov3_1_, "cov3_1", lv[1]);
  rows.push_back({"chr.up4", "UpsampleBilinear", {n, ch_[2], lv[1][2], lv[1][3]}, 0, 0});
  conv(cov3_, "cov3", {n, ch_[2] + ch_[1], lv[1][2], lv[1][3]});
  fc(1, ch_[1]);
  conv(cov2_1_, "cov2_1", lv[0]);
  rows.push_back({"chr.up3", "UpsampleBilinear", {n, ch_[1], lv[0][2], lv[0][3]}, 0, 0});
  conv(cov2_, "cov2", {n, ch_[1] + ch_[0], lv[0][2], lv[0][3]});
  fc(2, ch_[0]);
}

}  // namespace gbad
