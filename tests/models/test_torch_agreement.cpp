// Agreement with PyTorch on committed fixtures (tools/make_fixtures.py): width-reduced
// ResNet-18 and ResNet-50 with the plain head, random weights (BN statistics too), training-mode
// logits, BCE-with-logits loss and its gradients wrt the input and every parameter, and the
// eval-mode logits after that forward (checks the running-statistics update).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/loss.h"
#include "model_test_util.h"
#include "models/classifier.h"
#include "io/checkpoint.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::ModelTol;

void expect_grad_close(const std::vector<float>& a, const std::vector<float>& b,
                       const std::string& what) {
  float mx = 0;
  for (float v : b) mx = std::max(mx, std::fabs(v));
  test::expect_close(a, b, ModelTol::kTorchRel, ModelTol::kTorchGradAbs * std::max(mx, 1e-6f),
                     what.c_str());
}

void check_fixture(const std::string& file, const std::string& arch, int64_t width) {
  const std::string path = std::string(GBAD_MODEL_FIXTURES) + "/" + file;
  SafeTensorsFile f = SafeTensorsFile::open(path);
  ASSERT_EQ(f.metadata().at("arch"), arch);
  ASSERT_EQ(f.metadata().at("width"), std::to_string(width));
  ClassifierOptions o;
  o.width = width;
  o.num_classes = 5;
  o.input_grad = true;
  Classifier m(arch, o, Device::CPU, 0);
  ParamStore& ps = m.param_store();
  for (const auto& e : ps.entries()) ASSERT_TRUE(f.has(e.name)) << e.name << " not in " << file;
  LoadOptions lo;
  lo.strict = false;  // the file also holds inputs and reference outputs
  lo.require_gbad_format = false;
  load_params(f, ps, lo);

  Context ctx(Device::CPU, 0);
  Tensor x = f.read_tensor("input"), t = f.read_tensor("target");
  const Tensor& logits = m.forward(ctx, x, true);
  test::expect_close(logits.to_vector(), f.read_f32("logits"), ModelTol::kTorchRel,
                     ModelTol::kTorchAbs, "training-mode logits");
  Tensor loss({1}), dlogits(logits.shape());
  bce_with_logits(ctx, loss, dlogits, logits, t);
  EXPECT_NEAR(read_scalar(loss), f.read_f32("loss")[0], 1e-4);
  ps.zero_grad();
  const Tensor& dx = m.backward(ctx, dlogits);
  expect_grad_close(dx.to_vector(), f.read_f32("grad.input"), "dL/dinput");
  std::vector<float> grads = ps.grads().to_vector();
  int checked = 0;
  for (const auto& e : ps.entries()) {
    if (!e.trainable) continue;
    std::vector<float> g(grads.begin() + e.offset, grads.begin() + e.offset + e.numel);
    expect_grad_close(g, f.read_f32("grad." + e.name), "dL/d" + e.name);
    ++checked;
  }
  EXPECT_GT(checked, 20);
  test::expect_close(m.forward(ctx, x, false).to_vector(), f.read_f32("logits_eval"),
                     ModelTol::kTorchRel, ModelTol::kTorchAbs, "eval-mode logits");
}

TEST(TorchAgreement, ResNet18PlainWidth4) {
  check_fixture("resnet18_w4.safetensors", "resnet18-plain", 4);
}

TEST(TorchAgreement, ResNet50PlainWidth2) {
  check_fixture("resnet50_w2.safetensors", "resnet50-plain", 2);
}

}  // namespace
}  // namespace gbad
