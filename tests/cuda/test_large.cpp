// CUDA against the CPU at the sizes where problems hide: kernels above one grid pass (the
// grid-stride loops cap the grid at 4096 x 256 = 1,048,576 threads), BatchNorm and convolution
// at real ResNet-34 layer shapes, and one training step of the whole resnet18-fpn at 224.
// Every test skips without a GPU (a failure with GBAD_REQUIRE_GPU=1).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::expect_bitwise_equal;
using test::expect_close_l2;
using test::expect_close_to_max;
using test::random_tensor;

constexpr int64_t kBig = 5'000'003;  // ~5 grid passes, not a multiple of the block size

Tensor gpu(const Tensor& t) {
  return t.to(Device::CUDA);
}

TEST(CudaVsCpu, LargeElementwise) {
  GBAD_REQUIRE_CUDA();
  Context cc(Device::CPU), gc(Device::CUDA);
  Tensor a = random_tensor({kBig}, 1, -4.f, 4.f), b = random_tensor({kBig}, 2);
  Tensor yc({kBig}), yg({kBig}, Device::CUDA);
  add(cc, yc, a, b);
  add(gc, yg, gpu(a), gpu(b));
  expect_bitwise_equal(yg.to_vector(), yc.to_vector(), "add");  // one rounding each: exact
  sigmoid_forward(cc, yc, a);
  sigmoid_forward(gc, yg, gpu(a));
  expect_close_to_max(yg, yc, 1e-6, "sigmoid");
  // The last element is written (a grid that stops after one pass leaves it stale).
  yg.fill(-7.f);
  relu_forward(gc, yg, gpu(a));
  std::vector<float> r = yg.to_vector(), av = a.to_vector();
  EXPECT_EQ(r.back(), std::max(av.back(), 0.f));
}

TEST(CudaVsCpu, LargeLosses) {
  GBAD_REQUIRE_CUDA();
  Context cc(Device::CPU), gc(Device::CUDA);
  const Shape s = {kBig};
  Tensor a = random_tensor(s, 3), b = random_tensor(s, 4);
  Tensor lc({1}), lg({1}, Device::CUDA), dc(s), dg(s, Device::CUDA);
  l1_loss(cc, lc, dc, a, b);
  l1_loss(gc, lg, dg, gpu(a), gpu(b));
  EXPECT_NEAR(lg.to_vector()[0], lc.to_vector()[0], 1e-6 * std::fabs(lc.to_vector()[0])) << "L1";
  expect_bitwise_equal(dg.to_vector(), dc.to_vector(), "L1 gradient");
  l2_loss(cc, lc, dc, a, b);
  l2_loss(gc, lg, dg, gpu(a), gpu(b));
  EXPECT_NEAR(lg.to_vector()[0], lc.to_vector()[0], 1e-6 * std::fabs(lc.to_vector()[0])) << "L2";
  expect_close_to_max(dg, dc, 1e-6, "L2 gradient");

  // BCE with logits at (1,000,001 x 5) with a mask and pos_weight (the count is a reduction too).
  const Shape bs = {1'000'001, 5};
  Tensor z = random_tensor(bs, 5, -6.f, 6.f), t = random_tensor(bs, 6, 0.f, 1.f);
  Tensor m = random_tensor(bs, 7, 0.f, 1.f);
  std::vector<float> mv = m.to_vector();
  for (float& v : mv) v = v < 0.2f ? 0.f : 1.f;
  m.set_from(mv);
  Tensor pw = Tensor::from_vector({1.f, 2.f, 0.5f, 3.f, 1.5f}, {5});
  Tensor gz(bs), gzg(bs, Device::CUDA);
  bce_with_logits(cc, lc, gz, z, t, &m, &pw);
  Tensor mg = gpu(m), pwg = gpu(pw);
  bce_with_logits(gc, lg, gzg, gpu(z), gpu(t), &mg, &pwg);
  EXPECT_NEAR(lg.to_vector()[0], lc.to_vector()[0], 1e-6 * std::fabs(lc.to_vector()[0])) << "BCE";
  expect_close_to_max(gzg, gz, 1e-6, "BCE gradient");
}

TEST(CudaVsCpu, LargeDropout) {
  GBAD_REQUIRE_CUDA();
  Context cc(Device::CPU), gc(Device::CUDA);
  const Shape s = {kBig};
  Tensor x = random_tensor(s, 8);
  Tensor yc(s), mc(s), yg(s, Device::CUDA), mg(s, Device::CUDA);
  dropout_forward(cc, yc, mc, x, 0.3f, 11, 7);
  dropout_forward(gc, yg, mg, gpu(x), 0.3f, 11, 7);
  expect_bitwise_equal(mg.to_vector(), mc.to_vector(), "dropout mask (same Philox stream)");
  expect_bitwise_equal(yg.to_vector(), yc.to_vector(), "dropout output");
  Tensor dy = random_tensor(s, 9), dxc(s), dxg(s, Device::CUDA);
  dropout_backward(cc, dxc, dy, mc);
  dropout_backward(gc, dxg, gpu(dy), mg);
  expect_bitwise_equal(dxg.to_vector(), dxc.to_vector(), "dropout backward");
}

TEST(CudaVsCpu, LargeBatchNorm8x64x56x56) {
  GBAD_REQUIRE_CUDA();
  Context cc(Device::CPU), gc(Device::CUDA);
  const Shape s = {8, 64, 56, 56}, c = {64};
  Tensor x = random_tensor(s, 10, -2.f, 3.f), gamma = random_tensor(c, 11, 0.5f, 1.5f),
         beta = random_tensor(c, 12);
  Tensor rm_c = Tensor::zeros(c), rv_c({64}), rm_g = Tensor::zeros(c, Device::CUDA),
         rv_g({64}, Device::CUDA);
  rv_c.fill(1.f);
  rv_g.fill(1.f);
  Tensor yc(s), yg(s, Device::CUDA), smc(c), sic(c), smg(c, Device::CUDA), sig(c, Device::CUDA);
  Tensor gg = gpu(gamma), bg = gpu(beta), xg = gpu(x);
  batchnorm2d_forward_train(cc, yc, smc, sic, rm_c, rv_c, x, gamma, beta, 1e-5f, 0.1f);
  batchnorm2d_forward_train(gc, yg, smg, sig, rm_g, rv_g, xg, gg, bg, 1e-5f, 0.1f);
  expect_close_to_max(yg, yc, 1e-5, "train y");
  expect_close_to_max(smg, smc, 1e-5, "save_mean");
  expect_close_to_max(sig, sic, 1e-5, "save_invstd");
  expect_close_to_max(rm_g, rm_c, 1e-5, "running_mean");
  expect_close_to_max(rv_g, rv_c, 1e-5, "running_var");

  Tensor dy = random_tensor(s, 13), dxc(s), dxg(s, Device::CUDA);
  Tensor dgc = Tensor::zeros(c), dbc = Tensor::zeros(c), dgg = Tensor::zeros(c, Device::CUDA),
         dbg = Tensor::zeros(c, Device::CUDA);
  Tensor dyg = gpu(dy);
  batchnorm2d_backward(cc, &dxc, &dgc, &dbc, dy, x, gamma, smc, sic, 1e-5f);
  batchnorm2d_backward(gc, &dxg, &dgg, &dbg, dyg, xg, gg, smg, sig, 1e-5f);
  expect_close_to_max(dxg, dxc, 1e-4, "train dx");
  expect_close_to_max(dgg, dgc, 1e-4, "train dgamma");
  expect_close_to_max(dbg, dbc, 1e-4, "train dbeta");

  batchnorm2d_forward_eval(cc, yc, x, gamma, beta, rm_c, rv_c, 1e-5f);
  batchnorm2d_forward_eval(gc, yg, xg, gg, bg, rm_c.to(Device::CUDA), rv_c.to(Device::CUDA), 1e-5f);
  expect_close_to_max(yg, yc, 1e-5, "eval y");
  dgc.zero();
  dbc.zero();
  dgg.zero();
  dbg.zero();
  batchnorm2d_backward_eval(cc, &dxc, &dgc, &dbc, dy, x, gamma, rm_c, rv_c, 1e-5f);
  batchnorm2d_backward_eval(gc, &dxg, &dgg, &dbg, dyg, xg, gg, rm_c.to(Device::CUDA),
                            rv_c.to(Device::CUDA), 1e-5f);
  expect_close_to_max(dxg, dxc, 1e-5, "eval dx");
  expect_close_to_max(dgg, dgc, 1e-4, "eval dgamma");
  expect_close_to_max(dbg, dbc, 1e-4, "eval dbeta");
}

// Forward and both backwards of one convolution, batch 2, against the CPU.
void conv_case(const Shape& xs, const Shape& ws, int stride, int pad, uint64_t seed) {
  Context cc(Device::CPU), gc(Device::CUDA);
  Conv2dParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  Tensor x = random_tensor(xs, seed), w = random_tensor(ws, seed + 1, -0.1f, 0.1f);
  const Shape ys = conv2d_output_shape(xs, ws, p);
  Tensor yc(ys), yg(ys, Device::CUDA), xg = gpu(x), wg = gpu(w);
  conv2d_forward(cc, yc, x, w, nullptr, p);
  conv2d_forward(gc, yg, xg, wg, nullptr, p);
  const std::string name = "conv " + shape_str(xs) + " * " + shape_str(ws);
  expect_close_to_max(yg, yc, 1e-4, name + " y");
  Tensor dy = random_tensor(ys, seed + 2), dyg = gpu(dy);
  Tensor dxc(xs), dxg(xs, Device::CUDA), dwc = Tensor::zeros(ws),
                                         dwg = Tensor::zeros(ws, Device::CUDA);
  conv2d_backward(cc, &dxc, &dwc, nullptr, dy, x, w, p);
  conv2d_backward(gc, &dxg, &dwg, nullptr, dyg, xg, wg, p);
  expect_close_to_max(dxg, dxc, 1e-4, name + " dx");
  expect_close_to_max(dwg, dwc, 5e-4, name + " dw");
}

TEST(CudaVsCpu, LargeConvResNet34Stem7x7) {
  GBAD_REQUIRE_CUDA();
  conv_case({2, 3, 224, 224}, {64, 3, 7, 7}, 2, 3, 20);  // conv1
}
TEST(CudaVsCpu, LargeConvResNet34Layer2Downsample3x3) {
  GBAD_REQUIRE_CUDA();
  conv_case({2, 64, 56, 56}, {128, 64, 3, 3}, 2, 1, 30);  // layer2.0.conv1
}
TEST(CudaVsCpu, LargeConvResNet34Layer3_3x3) {
  GBAD_REQUIRE_CUDA();
  conv_case({2, 256, 14, 14}, {256, 256, 3, 3}, 1, 1, 40);  // layer3.*.conv2
}

// One SGD training step of the full-size resnet18-fpn at 224 (batch 2): the loss, every
// parameter's gradient, the BN running statistics, and the parameters after the step.
TEST(CudaVsCpu, LargeResNet18Fpn224TrainStep) {
  GBAD_REQUIRE_CUDA();
  ClassifierOptions o;  // torchvision widths, FPN 256, head 256
  Classifier cpu("resnet18-fpn", o, Device::CPU, 7), gpu_model("resnet18-fpn", o, Device::CUDA, 7);
  Context cc(Device::CPU, 1), gc(Device::CUDA, 1);
  Tensor x = random_tensor({2, 3, 224, 224}, 50, -2.f, 2.f);
  Tensor t = Tensor::from_vector({1, 0, 0, 1, 0, 0, 0, 1, 0, 0}, {2, 5});
  Tensor lc({1}), lg({1}, Device::CUDA), dlc({2, 5}), dlg({2, 5}, Device::CUDA);
  cpu.param_store().zero_grad();
  gpu_model.param_store().zero_grad();
  const Tensor& zc = cpu.forward(cc, x, true);
  const Tensor& zg = gpu_model.forward(gc, gpu(x), true);
  expect_close_to_max(zg, zc, 1e-3, "logits");
  bce_with_logits(cc, lc, dlc, zc, t);
  bce_with_logits(gc, lg, dlg, zg, gpu(t));
  EXPECT_NEAR(lg.to_vector()[0], lc.to_vector()[0], 1e-4) << "loss";
  cpu.backward(cc, dlc);
  gpu_model.backward(gc, dlg);
  ParamStore& pc = cpu.param_store();
  ParamStore& pg = gpu_model.param_store();
  for (size_t i = 0; i < pc.entries().size(); ++i) {
    const auto& e = pc.entries()[i];
    const ParamStore::Ref r = static_cast<ParamStore::Ref>(i);
    if (e.trainable)
      expect_close_l2(pg.grad(r).to_vector(), pc.grad(r).to_vector(), 2e-3,
                      "gradient of " + e.name);
    else
      expect_close_l2(pg.value(r).to_vector(), pc.value(r).to_vector(), 1e-4, "buffer " + e.name,
                      /*allow_zero=*/true);
  }
  SgdConfig sc;
  Sgd oc(cpu.param_store(), sc), og(pg, sc);
  oc.step(cc);
  og.step(gc);
  expect_close_to_max(pg.params(), cpu.param_store().params(), 1e-4, "parameters after one step");
}

}  // namespace
}  // namespace gbad
