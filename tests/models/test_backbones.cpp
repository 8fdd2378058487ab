// InceptionV3 and DenseNet-121 in the classifier: torchvision's parameter counts and MACs,
// output shapes against the summary, the auxiliary head's rules, checkpoints, and whole-model
// finite-difference gradients through the GBAD head (the backbones themselves are checked
// against PyTorch in test_backbone_agreement.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "io/checkpoint.h"
#include "model_test_util.h"
#include "models/classifier.h"
#include "models/densenet.h"
#include "models/inception.h"

namespace gbad {
namespace {

TEST(Backbones, TorchvisionParameterCountsAndMacs) {
  struct Case {
    const char* arch;
    int64_t classes, params, size;
    double gmacs;
  };
  // torchvision inception_v3() (with AuxLogits) and densenet121(): sum of parameter numels;
  // MACs of the inference forward (no auxiliary head).
  for (const Case& c : {Case{"inceptionv3-plain", 1000, 27161264, 299, 5.713},
                        Case{"inceptionv3-plain", 5, 24357354, 299, 5.711},
                        Case{"densenet121-plain", 1000, 7978856, 224, 2.834},
                        Case{"densenet121-plain", 5, 6958981, 224, 2.833}}) {
    SCOPED_TRACE(std::string(c.arch) + " " + std::to_string(c.classes));
    ClassifierOptions o;
    o.num_classes = c.classes;
    Classifier m(c.arch, o, Device::CPU, 0, /*allocate=*/false);
    EXPECT_EQ(m.param_store().num_params(), c.params);
    EXPECT_EQ(default_input_size(c.arch), c.size);
    int64_t params = 0, macs = 0, aux = 0;
    for (const auto& r : m.summary(1, c.size, c.size)) {
      params += r.params;
      (r.training_only ? aux : macs) += r.macs;
    }
    EXPECT_EQ(params, c.params);
    EXPECT_NEAR(macs / 1e9, c.gmacs, 0.001);
    EXPECT_EQ(aux > 0, std::string(c.arch).rfind("inception", 0) == 0);
  }
}

ClassifierOptions small(int64_t width) {
  ClassifierOptions o;
  o.width = width;
  o.fpn_channels = 8;
  o.head_dim = 8;
  return o;
}

// Forward shapes equal the summary's at the torchvision sizes' small versions and odd sizes;
// the FPN's finest level has the first level's size.
TEST(Backbones, OutputShapesMatchTheSummary) {
  Context ctx(Device::CPU, 1);
  struct Case {
    const char* arch;
    int64_t h, w, c5;
  };
  for (const Case& c : {Case{"inceptionv3-fpn", 75, 75, 0}, Case{"inceptionv3-plain", 107, 90, 64},
                        Case{"inceptionv3-plain", 139, 145, 64}, Case{"densenet121-fpn", 64, 64, 0},
                        Case{"densenet121-plain", 70, 53, 0}}) {
    SCOPED_TRACE(std::string(c.arch) + " " + std::to_string(c.h) + "x" + std::to_string(c.w));
    ClassifierOptions o = small(2);
    Classifier m(c.arch, o, Device::CPU, 3);
    Tensor x = test::random_tensor({2, 3, c.h, c.w}, 7);
    EXPECT_EQ(m.forward(ctx, x, true).shape(), (Shape{2, 5}));
    const Tensor& f = m.features(ctx, x);
    EXPECT_EQ(f.shape(), (Shape{2, m.feature_dim()}));
    const auto rows = m.summary(2, c.h, c.w);
    EXPECT_EQ(rows.back().output, (Shape{2, 5}));
    if (parse_arch(c.arch).fpn) {
      EXPECT_EQ(m.feature_dim(), 8 + 5);
    } else {
      const std::string last =
          parse_arch(c.arch).family == "densenet121" ? "features.norm5" : "Mixed_7c";
      for (const auto& r : rows) {
        if (r.name == last) {
          EXPECT_EQ(m.feature_dim(), r.output[1] + 5);
        }
      }
    }
    if (c.c5) {
      EXPECT_EQ(m.feature_dim(), c.c5 + 5);  // InceptionV3 width 2: 2048 * 2 / 64
    }
  }
  // Too small: a clear error naming the minimum.
  Classifier inc("inceptionv3-plain", small(2), Device::CPU, 1);
  try {
    inc.forward(ctx, test::random_tensor({1, 3, 74, 80}, 1), false);
    ADD_FAILURE() << "74x80 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("75"), std::string::npos) << e.what();
  }
}

TEST(Backbones, InceptionAuxiliaryHeadOnlyInTrainingAndAt299) {
  Context ctx(Device::CPU, 1);
  Classifier m("inceptionv3-plain", small(2), Device::CPU, 1);
  EXPECT_TRUE(m.has_aux());
  Tensor x = test::random_tensor({2, 3, 299, 299}, 2);
  m.forward(ctx, x, true);
  EXPECT_TRUE(m.aux_logits().empty()) << "aux ran while disabled";
  m.set_aux_enabled(true);
  m.forward(ctx, x, true);
  EXPECT_EQ(m.aux_logits().shape(), (Shape{2, 5}));
  m.forward(ctx, x, false);
  EXPECT_TRUE(m.aux_logits().empty()) << "aux ran in eval mode";
  Tensor dl = test::random_tensor({2, 5}, 3);
  EXPECT_THROW(m.backward(ctx, dl, &dl), Error);  // no aux in the last forward
  try {
    m.forward(ctx, test::random_tensor({2, 3, 200, 200}, 4), true);
    ADD_FAILURE() << "aux at 200x200";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("299"), std::string::npos) << e.what();
  }
  Classifier r("resnet18-plain", small(4), Device::CPU, 1);
  EXPECT_FALSE(r.has_aux());
}

// The auxiliary gradient reaches Mixed_6e and below, and only through the aux head's layers.
TEST(Backbones, InceptionAuxiliaryGradientFlows) {
  Context ctx(Device::CPU, 1);
  Classifier m("inceptionv3-plain", small(2), Device::CPU, 1);
  m.set_aux_enabled(true);
  Tensor x = test::random_tensor({2, 3, 299, 299}, 2);
  ParamStore& ps = m.param_store();
  auto grad_norm = [&](const std::string& name) {
    double s = 0;
    for (float v : ps.grad(ps.at(name)).to_vector()) s += double(v) * v;
    return s;
  };
  m.forward(ctx, x, true);
  Tensor zero = Tensor::zeros({2, 5}), daux = test::random_tensor({2, 5}, 5);
  ps.zero_grad();
  m.backward(ctx, zero, &daux);
  EXPECT_GT(grad_norm("AuxLogits.fc.weight"), 0);
  EXPECT_GT(grad_norm("Mixed_6e.branch1x1.conv.weight"), 0);
  EXPECT_GT(grad_norm("Conv2d_1a_3x3.conv.weight"), 0);
  EXPECT_EQ(grad_norm("Mixed_7c.branch1x1.conv.weight"), 0);
  EXPECT_EQ(grad_norm("fc.weight"), 0);
}

std::string temp_path(const std::string& name) {
  return std::string(GBAD_BINARY_DIR) + "/tests/" + name;
}

TEST(Backbones, CheckpointRoundTripAndMismatches) {
  Context ctx(Device::CPU, 1);
  ClassifierOptions o = small(8);
  o.dense_blocks = {1, 2, 2, 1};
  Classifier a("densenet121-fpn", o, Device::CPU, 1);
  Tensor x = test::random_tensor({2, 3, 40, 40}, 5);
  a.forward(ctx, x, true);
  const std::vector<float> la = a.forward(ctx, x, false).to_vector();
  const std::string path = temp_path("models_densenet_roundtrip.safetensors");
  a.save(path);
  EXPECT_EQ(read_metadata(path).at("dense_blocks"), "1,2,2,1");
  Classifier b("densenet121-fpn", o, Device::CPU, 2);
  b.load(path);
  EXPECT_EQ(b.forward(ctx, x, false).to_vector(), la);
  ClassifierOptions other = o;
  other.dense_blocks = {1, 2, 3, 1};
  Classifier c("densenet121-fpn", other, Device::CPU, 2);
  EXPECT_THROW(c.load(path), Error);
  std::remove(path.c_str());
  // InceptionV3: transform_input is part of the model's identity.
  ClassifierOptions io = small(2);
  io.transform_input = true;
  Classifier d("inceptionv3-plain", io, Device::CPU, 1);
  const std::string p2 = temp_path("models_inception_roundtrip.safetensors");
  d.save(p2);
  EXPECT_EQ(read_metadata(p2).at("transform_input"), "1");
  Classifier e("inceptionv3-plain", small(2), Device::CPU, 1);
  try {
    e.load(p2);
    ADD_FAILURE() << "loaded a transform_input checkpoint into a model without it";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("transform_input"), std::string::npos) << err.what();
  }
  std::remove(p2.c_str());
}

// Gradients entering at the four feature levels (what the GBAD head's FPN does; the PyTorch
// fixtures' plain head uses C5 only). At these widths the networks are too ill-conditioned for
// float32 finite differences (see the fixtures), so instead: (1) backward is linear in the
// level gradients, i.e. all four at once equal the sum of each alone (the merges add, nothing
// is overwritten or dropped); (2) a gradient entering at level i reaches the parameters below
// that level and none above it (it enters at the right place).
void check_levels(Backbone& net, ParamStore& ps, const Shape& xs,
                  const std::array<std::vector<std::string>, 4>& below,
                  const std::array<std::vector<std::string>, 4>& above) {
  Context ctx(Device::CPU, 1);
  net.set_training(true);
  Tensor x = test::random_tensor(xs, 31);
  std::array<Tensor, 4> c = net.forward(ctx, x), dc;
  for (int i = 0; i < 4; ++i)
    dc[size_t(i)] = test::random_tensor(c[size_t(i)].shape(), 40 + uint64_t(i));
  auto run = [&](int only) {
    std::array<Tensor, 4> g;
    for (int i = 0; i < 4; ++i)
      if (only < 0 || only == i) g[size_t(i)] = dc[size_t(i)];
    net.forward(ctx, x);
    ps.zero_grad();
    std::vector<float> dx = net.backward(ctx, g).to_vector(), out = ps.grads().to_vector();
    out.insert(out.end(), dx.begin(), dx.end());
    return out;
  };
  auto norm = [&](const std::string& name) {
    double s = 0;
    for (float v : ps.grad(ps.at(name)).to_vector()) s += double(v) * v;
    return s;
  };
  const std::vector<float> all = run(-1);
  std::vector<double> sum(all.size(), 0.0);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE("level " + std::to_string(i));
    const std::vector<float> one = run(i);
    for (size_t k = 0; k < one.size(); ++k) sum[k] += one[k];
    for (const auto& n : below[size_t(i)]) EXPECT_GT(norm(n), 0) << n;
    for (const auto& n : above[size_t(i)]) EXPECT_EQ(norm(n), 0) << n;
  }
  double err = 0, ref = 0;
  for (size_t k = 0; k < all.size(); ++k) {
    err += (all[k] - sum[k]) * (all[k] - sum[k]);
    ref += sum[k] * sum[k];
  }
  ASSERT_GT(ref, 0);
  EXPECT_LT(std::sqrt(err / ref), 1e-5);
}

TEST(GradCheck, DenseNetFourLevelGradients) {
  ParamStore ps;
  DenseNetConfig c;
  c.growth = 4;
  c.init_features = 8;
  c.blocks = {2, 3, 2, 2};
  c.input_grad = true;
  DenseNet net(ps, c);
  ps.finalize(Device::CPU, 3);
  const std::string b = "features.denseblock";
  check_levels(net, ps, {2, 3, 64, 64},
               {{{b + "1.denselayer2.conv2.weight", "features.transition1.norm.weight"},
                 {b + "2.denselayer3.conv2.weight", "features.transition2.norm.bias"},
                 {b + "3.denselayer1.conv1.weight", "features.transition3.norm.weight"},
                 {b + "4.denselayer2.conv2.weight", "features.norm5.weight"}}},
               {{{"features.transition1.conv.weight", b + "2.denselayer1.norm1.weight"},
                 {"features.transition2.conv.weight", b + "3.denselayer1.conv1.weight"},
                 {"features.transition3.conv.weight", b + "4.denselayer1.norm1.bias"},
                 {}}});
}

TEST(GradCheck, InceptionFourLevelGradients) {
  ParamStore ps;
  InceptionConfig c;
  c.width = 2;
  c.input_grad = true;
  c.transform_input = true;
  InceptionV3 net(ps, c);
  ps.finalize(Device::CPU, 3);
  check_levels(net, ps, {2, 3, 107, 107},
               {{{"Conv2d_4a_3x3.conv.weight", "Conv2d_1a_3x3.bn.weight"},
                 {"Mixed_5d.branch_pool.conv.weight", "Mixed_5b.branch1x1.bn.bias"},
                 {"Mixed_6e.branch7x7dbl_5.conv.weight", "Mixed_6a.branch3x3.conv.weight"},
                 {"Mixed_7c.branch3x3_2b.conv.weight", "Mixed_7a.branch3x3_1.bn.weight"}}},
               {{{"Mixed_5b.branch1x1.conv.weight", "Mixed_7c.branch_pool.bn.weight"},
                 {"Mixed_6a.branch3x3.conv.weight", "Mixed_7a.branch3x3_1.bn.weight"},
                 {"Mixed_7a.branch3x3_1.conv.weight", "AuxLogits.conv0.conv.weight"},
                 {"AuxLogits.fc.weight"}}});
}

// The DenseNet's training-step memory grows with the block lengths linearly, not
// quadratically: the per-layer caches hold bottleneck activations only.
TEST(Backbones, DenseNetActivationMemoryIsLinearInBlockLength) {
  auto bytes = [](int layers) {
    ParamStore ps;
    DenseNetConfig c;
    c.growth = 32;
    c.init_features = 64;
    c.blocks = {layers, 1, 1, 1};
    DenseNet d(ps, c);
    return d.activation_bytes({1, 3, 224, 224});
  };
  const int64_t b8 = bytes(8), b16 = bytes(16), b32 = bytes(32);
  // Quadratic growth would make the second difference ~4x the first; linear-plus-buffers (the
  // block buffers grow linearly too) keeps it ~2x.
  EXPECT_LT(double(b32 - b16) / double(b16 - b8), 2.2);
  EXPECT_GT(b16, b8);
  // The figure for the closing note: densenet121 at batch 32, 224x224.
  ParamStore ps;
  DenseNet full(ps, DenseNetConfig{});
  const int64_t b = full.activation_bytes({32, 3, 224, 224});
  std::printf(
      "densenet121 training step, batch 32, 224x224: %.2f GiB of activations and "
      "gradient buffers\n",
      double(b) / double(int64_t(1) << 30));
  EXPECT_GT(b, int64_t(1) << 30);
}

}  // namespace
}  // namespace gbad
