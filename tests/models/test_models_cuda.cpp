// Whole models on CUDA against the CPU (skipped without a GPU).
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "models/bigan.h"
#include "models/classifier.h"

namespace gbad {
namespace {

using test::ModelTol;

void classifier_case(const std::string& arch) {
  GBAD_REQUIRE_CUDA();
  ClassifierOptions o;
  o.width = 8;
  o.fpn_channels = 16;
  o.head_dim = 16;
  o.input_grad = true;
  Classifier cpu(arch, o, Device::CPU, 4), gpu(arch, o, Device::CUDA, 4);
  Context cc(Device::CPU, 1), gc(Device::CUDA, 1);
  Tensor x = test::random_tensor({4, 3, 64, 48}, 8);
  Tensor xg = x.to(Device::CUDA);
  test::expect_close(cpu.forward(cc, x, true).to_vector(), gpu.forward(gc, xg, true).to_vector(),
                     ModelTol::kCudaRel, ModelTol::kCudaAbs, "train logits");
  Tensor dl = test::random_tensor({4, 5}, 9);
  cpu.param_store().zero_grad();
  gpu.param_store().zero_grad();
  std::vector<float> dxc = cpu.backward(cc, dl).to_vector();
  std::vector<float> dxg = gpu.backward(gc, dl.to(Device::CUDA)).to_vector();
  test::expect_close(dxc, dxg, ModelTol::kCudaRel, ModelTol::kCudaAbs, "dx");
  test::expect_close(cpu.param_store().grads().to_vector(), gpu.param_store().grads().to_vector(),
                     ModelTol::kCudaRel, ModelTol::kCudaAbs, "parameter gradients");
  test::expect_close(cpu.param_store().buffers().to_vector(),
                     gpu.param_store().buffers().to_vector(), ModelTol::kCudaRel,
                     ModelTol::kCudaAbs, "BN running statistics");
  test::expect_close(cpu.features(cc, x).to_vector(), gpu.features(gc, xg).to_vector(),
                     ModelTol::kCudaRel, ModelTol::kCudaAbs, "features");
}

TEST(CudaVsCpu, ClassifierResNet18Fpn) {
  classifier_case("resnet18-fpn");
}
TEST(CudaVsCpu, ClassifierResNet50Plain) {
  classifier_case("resnet50-plain");
}

TEST(CudaVsCpu, BiGanTrainStepAndScores) {
  GBAD_REQUIRE_CUDA();
  BiGanConfig c;
  c.x_dim = 21;
  c.lr = 1e-3f;
  c.ema_decay = 0.9f;
  c.seed = 3;
  BiGan cpu(c, Device::CPU), gpu(c, Device::CUDA);
  Tensor x = test::random_tensor({50, 21}, 2);
  cpu.fit_standardization(x);
  gpu.fit_standardization(x.to(Device::CUDA));
  Context cc(Device::CPU, 5), gc(Device::CUDA, 5);
  for (int i = 0; i < 3; ++i) {
    BiGanLosses a = cpu.train_step(cc, x), b = gpu.train_step(gc, x.to(Device::CUDA));
    EXPECT_NEAR(a.loss_d, b.loss_d, 1e-4);
    EXPECT_NEAR(a.loss_g, b.loss_g, 1e-4);
    EXPECT_NEAR(a.loss_e, b.loss_e, 1e-4);
  }
  test::expect_close(cpu.generator_params().params().to_vector(),
                     gpu.generator_params().params().to_vector(), ModelTol::kCudaRel,
                     ModelTol::kCudaAbs, "G after 3 steps");
  Tensor rc, fc, rg, fg;
  cpu.scores(cc, x, rc, fc);
  gpu.scores(gc, x.to(Device::CUDA), rg, fg);
  EXPECT_TRUE(rg.is_cuda());
  test::expect_close(rc.to_vector(), rg.to_vector(), ModelTol::kCudaRel, ModelTol::kCudaAbs, "R");
  test::expect_close(fc.to_vector(), fg.to_vector(), ModelTol::kCudaRel, ModelTol::kCudaAbs, "FM");
}

}  // namespace
}  // namespace gbad
