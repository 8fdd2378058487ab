// Classifier end to end on the CPU: overfitting 16 images, determinism, checkpoints.
#include <gtest/gtest.h>

#include <cstdio>

#include "io/checkpoint.h"
#include "kernels/loss.h"
#include "model_test_util.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace gbad {
namespace {

ClassifierOptions tiny() {
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  return o;
}

std::string temp_path(const std::string& name) {
  return std::string(GBAD_BINARY_DIR) + "/tests/" + name;
}

// 16 random 32x32 images with random 5-label targets; full-batch SGD. Returns the final
// training loss and the weights.
std::pair<float, std::vector<float>> overfit(uint64_t seed, int steps) {
  Context ctx(Device::CPU, seed);
  Classifier m("resnet18-fpn", tiny(), Device::CPU, seed);
  Tensor x = test::random_tensor({16, 3, 32, 32}, seed + 100);
  std::vector<float> t = test::random_vector(16 * 5, seed + 200, 0.f, 1.f);
  for (float& v : t) v = v < 0.4f ? 1.f : 0.f;
  Tensor target = Tensor::from_vector(t, {16, 5});
  SgdConfig sc;
  sc.lr = 0.1f;
  sc.momentum = 0.9f;
  sc.weight_decay = 0.f;
  Sgd opt(m.param_store(), sc);
  Tensor loss({1}), dlogits({16, 5});
  float last = 0;
  for (int s = 0; s < steps; ++s) {
    m.param_store().zero_grad();
    const Tensor& logits = m.forward(ctx, x, true);
    bce_with_logits(ctx, loss, dlogits, logits, target, nullptr, nullptr);
    last = read_scalar(loss);
    m.backward(ctx, dlogits);
    opt.step(ctx);
  }
  return {last, m.param_store().params().to_vector()};
}

TEST(Training, ClassifierOverfits16ImagesAndIsDeterministic) {
  auto [loss_a, w_a] = overfit(3, 150);
  EXPECT_LT(loss_a, 0.05f);
  auto [loss_b, w_b] = overfit(3, 150);
  EXPECT_EQ(loss_a, loss_b);
  EXPECT_TRUE(w_a == w_b) << "same seed, different weights";
}

TEST(Checkpoint, ClassifierSaveLoadRoundTrip) {
  Context ctx(Device::CPU, 1);
  Classifier a("resnet18-fpn", tiny(), Device::CPU, 1);
  Tensor x = test::random_tensor({2, 3, 32, 32}, 5);
  a.forward(ctx, x, true);  // moves the BN running statistics away from their init
  const std::vector<float> la = a.forward(ctx, x, false).to_vector();
  const std::string path = temp_path("models_classifier_roundtrip.safetensors");
  a.save(path, {{"epoch", "3"}});
  EXPECT_EQ(read_metadata(path).at("arch"), "resnet18-fpn");
  EXPECT_EQ(read_metadata(path).at("epoch"), "3");
  Classifier b("resnet18-fpn", tiny(), Device::CPU, 2);
  EXPECT_NE(b.param_store().params().to_vector(), a.param_store().params().to_vector());
  b.load(path);
  EXPECT_EQ(b.param_store().params().to_vector(), a.param_store().params().to_vector());
  EXPECT_EQ(b.param_store().buffers().to_vector(), a.param_store().buffers().to_vector());
  EXPECT_EQ(b.forward(ctx, x, false).to_vector(), la);
  std::remove(path.c_str());
}

TEST(Checkpoint, ClassifierOfAnotherArchitectureIsAClearError) {
  Classifier a("resnet18-fpn", tiny(), Device::CPU, 1);
  const std::string path = temp_path("models_classifier_arch.safetensors");
  a.save(path);
  Classifier b("resnet34-plain", tiny(), Device::CPU, 1);
  try {
    b.load(path);
    ADD_FAILURE() << "loaded a resnet18-fpn checkpoint into a resnet34-plain";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("resnet18-fpn"), std::string::npos) << msg;
    EXPECT_NE(msg.find("resnet34-plain"), std::string::npos) << msg;
  }
  ClassifierOptions wide = tiny();
  wide.width = 8;
  Classifier c("resnet18-fpn", wide, Device::CPU, 1);
  try {
    c.load(path);
    ADD_FAILURE() << "loaded width 4 into width 8";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("width"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

// A file laid out like a converted torchvision checkpoint (backbone + fc of 1000 classes, no
// gbad metadata) loads into a 5-class model: backbone copied, fc ignored, head kept.
TEST(Checkpoint, PretrainedBackboneLoadsIgnoringFc) {
  ClassifierOptions big = tiny();
  big.num_classes = 1000;
  Classifier src("resnet18-plain", big, Device::CPU, 9);
  const std::string path = temp_path("models_pretrained.safetensors");
  {
    SafeTensorsWriter w;
    const ParamStore& ps = src.param_store();
    for (size_t i = 0; i < ps.entries().size(); ++i)
      w.add(ps.entries()[i].name, const_cast<ParamStore&>(ps).value(static_cast<int>(i)));
    w.set_metadata("source", "test");
    w.write(path);
  }
  Classifier dst("resnet18-fpn", tiny(), Device::CPU, 1);
  const PretrainedReport rep = dst.load_pretrained(path);
  EXPECT_GT(rep.loaded, 0);
  EXPECT_EQ(rep.skipped, 2);  // fc.weight, fc.bias
  ParamStore& a = src.param_store();
  ParamStore& b = dst.param_store();
  const std::string name = "layer3.1.conv2.weight";
  EXPECT_EQ(a.value(a.at(name)).to_vector(), b.value(b.at(name)).to_vector());
  Classifier plain("resnet18-plain", tiny(), Device::CPU, 1);
  const PretrainedReport rp = plain.load_pretrained(path);
  EXPECT_EQ(rp.missing, 2);  // fc of another class count keeps its init
  // A file without the backbone is refused.
  Classifier deeper("resnet34-plain", tiny(), Device::CPU, 1);
  EXPECT_THROW(deeper.load_pretrained(path), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace gbad
