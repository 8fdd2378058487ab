// CHR, the SIXray authors' class-balanced hierarchical refinement head, over three backbone
// levels low/mid/high (ResNet: layer2, layer3, layer4 outputs) with channels (c2, c3, c4):
//   head 1: a4 = ReLU(cov4(high)) (1x1, c4 -> c4, bias); o1 = fc1(GAP(a4))
//   head 2: l3' = ReLU(cov3_1(mid)) (c3 -> c3); a3 = ReLU(cov3([up(high), l3'])) (c4+c3 -> c3);
//           o2 = fc2(GAP(a3))
//   head 3: l2' = ReLU(cov2_1(low)) (c2 -> c2); a2 = ReLU(cov2([up(a3), l2'])) (c3+c2 -> c2);
//           o3 = fc3(GAP(a2))
// up() is bilinear (align_corners=False) to the lateral's size; [a, b] concatenates channels in
// that order (upsampled first), as the public code does. Parameter names are the public code's
// (cov4, cov3_1, cov3, cov2_1, cov2, fc1..fc3), registered at the root of the ParamStore.
// Training loss: the sum over the three heads of chr_bce_with_logits (kernels/chr_loss.h);
// test-time score: o1 only.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "models/resnet.h"
#include "nn/conv_transpose.h"

namespace gbad {

class ChrHead {
 public:
  // channels: {c_low, c_mid, c_high}.
  ChrHead(ParamStore& ps, const std::array<int64_t, 3>& channels, int64_t num_classes);
  // -> o1 (N,K), owned by the head; o2, o3 in logits().
  const Tensor& forward(Context& ctx, const Tensor& low, const Tensor& mid, const Tensor& high);
  const std::array<Tensor, 3>& logits() const { return o_; }
  // GAP(a4) (N, c_high): the pooled feature behind o1.
  const Tensor& pooled() const { return p1_; }
  // The training loss of the last forward (sum over the heads) into loss (1); dlogits (N,K)
  // receives dL/do1, and dL/do2, dL/do3 are kept for the next backward().
  void loss(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& targets, const Tensor* mask);
  // do1 -> {dL/dlow, dL/dmid, dL/dhigh} (tensors the head owns). Heads 2 and 3 contribute only
  // when loss() ran after the last forward (else their gradients count as zero and dL/dlow,
  // dL/dmid come back empty).
  std::array<Tensor, 3> backward(Context& ctx, const Tensor& do1);
  void set_training(bool t);
  // Appends summary rows for level shapes {low, mid, high}.
  void summarize(const std::array<Shape, 3>& levels, const ParamStore& ps,
                 std::vector<LayerSummary>& rows) const;
  std::array<int64_t, 3> channels() const { return ch_; }

 private:
  std::array<int64_t, 3> ch_{};
  int64_t k_ = 0;
  Conv2d cov4_, cov3_1_, cov3_, cov2_1_, cov2_;
  ReLU r4_, r3_1_, r3_, r2_1_, r2_;
  UpsampleBilinear up4_, up3_;
  std::array<GlobalAvgPool, 3> gap_;
  std::array<Linear, 3> fc_;
  std::array<Tensor, 3> o_;
  Tensor p1_, cat3_, cat2_, dup4_, dl3p_, dup3_, dl2p_, da3_, dhigh_, loss_tmp_;
  std::array<Tensor, 3> daux_;  // dL/do1..o3 from loss()
  bool aux_valid_ = false;
};

}  // namespace gbad
