// Backbone + heads: parameter counts of the torchvision configurations, MACs, output shapes
// at 224x224 and odd sizes, and a whole-model finite-difference gradient check.
#include <gtest/gtest.h>

#include "model_test_util.h"
#include "models/classifier.h"
#include "models/resnet.h"

namespace gbad {
namespace {

using test::ModelTol;

int64_t total_macs(const std::vector<LayerSummary>& rows) {
  int64_t m = 0;
  for (const auto& r : rows) m += r.macs;
  return m;
}

TEST(Models, TorchvisionParameterCountsAndMacs) {
  struct Case {
    const char* arch;
    int64_t params;
    double gmacs;
  };
  // torchvision.models.resnetXX(num_classes=1000): sum(p.numel() for p in parameters()), and
  // the conv + fc multiply-adds at 224x224 (the usual 1.8 / 3.6 / 4.1 / 7.8 G).
  for (const Case& c :
       {Case{"resnet18-plain", 11689512, 1.814}, Case{"resnet34-plain", 21797672, 3.664},
        Case{"resnet50-plain", 25557032, 4.089}, Case{"resnet101-plain", 44549160, 7.801}}) {
    ClassifierOptions o;
    o.num_classes = 1000;
    Classifier m(c.arch, o, Device::CPU, 0, /*allocate=*/false);
    EXPECT_EQ(m.param_store().num_params(), c.params) << c.arch;
    const auto rows = m.summary(1, 224, 224);
    int64_t row_params = 0;
    for (const auto& r : rows) row_params += r.params;
    EXPECT_EQ(row_params, c.params) << c.arch;
    EXPECT_NEAR(total_macs(rows) / 1e9, c.gmacs, 0.001) << c.arch;
    EXPECT_EQ(rows.back().output, (Shape{1, 1000})) << c.arch;
  }
}

TEST(Models, ParseArchRejectsUnknownNames) {
  EXPECT_EQ(parse_arch("resnet101-fpn").depth, 101);
  EXPECT_FALSE(parse_arch("resnet50-plain").fpn);
  for (const char* bad : {"resnet20-fpn", "resnet34", "vgg16-plain", "resnet34-fpnx", ""}) {
    try {
      parse_arch(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("resnet34-fpn"), std::string::npos) << e.what();
    }
  }
  // resnet{18,34,50,101}-{fpn,plain,chr}, inceptionv3-{fpn,plain,chr}, densenet121-{fpn,plain,chr}
  EXPECT_EQ(Classifier::architectures().size(), 18u);
}

// Every architecture, small width, at 224x224 and at an odd size: the forward's output shapes
// agree with the summary's shape computation and with the expected strides.
TEST(Models, OutputShapesEveryArchitecture) {
  Context ctx(Device::CPU, 1);
  for (const auto& arch : Classifier::architectures()) {
    if (parse_arch(arch).family != "resnet") continue;  // test_backbones.cpp
    for (auto [h, w] : {std::pair<int64_t, int64_t>{224, 224}, {200, 176}}) {
      SCOPED_TRACE(arch + " " + std::to_string(h) + "x" + std::to_string(w));
      ClassifierOptions o;
      o.width = 4;
      o.fpn_channels = 8;
      o.head_dim = 8;
      Classifier m(arch, o, Device::CPU, 3);
      Tensor x = test::random_tensor({1, 3, h, w}, 7);
      const Tensor& logits = m.forward(ctx, x, false);
      EXPECT_EQ(logits.shape(), (Shape{1, 5}));
      const Tensor& f = m.features(ctx, x);
      EXPECT_EQ(f.shape(), (Shape{1, m.feature_dim()}));
      const int64_t expansion = parse_arch(arch).depth >= 50 ? 4 : 1;
      EXPECT_EQ(m.feature_dim(), (parse_arch(arch).fpn ? 8 : 32 * expansion) + 5);
      // The summary: C5 at stride 32 (ceil division at every stride-2 layer).
      const auto rows = m.summary(1, h, w);
      int64_t hh = h, ww = w;
      for (int i = 0; i < 5; ++i) {
        hh = (hh + 1) / 2;
        ww = (ww + 1) / 2;
      }
      bool found = false;
      for (const auto& r : rows)
        if (r.name == (expansion == 4 ? "layer4.2.bn3" : "layer4.1.bn2") ||
            (r.name == "layer4.2.bn2" && arch.find("34") != std::string::npos)) {
          EXPECT_EQ(r.output, (Shape{1, 32 * expansion, hh, ww})) << r.name;
          found = true;
        }
      EXPECT_TRUE(found);
      for (const auto& r : rows)
        if (r.name == "fpn.layer_blocks.0") {
          EXPECT_EQ(r.output, (Shape{1, 8, (h + 3) / 4, (w + 3) / 4}));
        }
    }
  }
}

// Whole ResNet-18-FPN (width 4, FPN 8) on 2x3x64x64 (64, not 32: at 32x32 layer4 is 1x1 and
// training-mode BN normalises over 2 values, which makes the loss nearly discontinuous), L =
// sum(logits * r): dL/dx and a random sample of entries of every parameter tensor against central
// differences.
TEST(GradCheck, ResNet18FpnWholeModel) {
  Context ctx(Device::CPU, 11);
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  o.input_grad = true;
  Classifier m("resnet18-fpn", o, Device::CPU, 5);
  Tensor x = test::random_tensor({2, 3, 64, 64}, 21);
  const std::vector<float> r = test::random_vector(2 * 5, 22);
  auto loss = [&]() { return test::dot(m.forward(ctx, x, true).to_vector(), r); };
  m.param_store().zero_grad();
  m.forward(ctx, x, true);
  const Tensor& dx = m.backward(ctx, Tensor::from_vector(r, {2, 5}));
  ASSERT_EQ(dx.shape(), x.shape());
  const std::vector<float> dxv = dx.to_vector();
  test::expect_few_skipped(test::check_smooth(loss, x.f32(), x.numel(), dxv.data(), 40, 3),
                           "dL/dx");
  test::check_all_params(m.param_store(), loss, 3, "resnet18-fpn");
}

// Bottleneck backbones are checked against PyTorch instead (test_torch_agreement.cpp: every
// parameter gradient of a ResNet-50): at the tiny widths a finite-difference test can afford,
// their training-mode BN layers make the loss too ill-conditioned for float32 differences.

// ||a - b|| / ||b|| <= tol with ||b|| > 0 (float rounding differs through ~50 layers).
void expect_rel_norm(const std::vector<float>& a, const std::vector<float>& b, double tol,
                     const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - double(b[i])) * (double(a[i]) - double(b[i]));
    den += double(b[i]) * double(b[i]);
  }
  ASSERT_GT(den, 0.0) << what;
  EXPECT_LE(std::sqrt(num / den), tol) << what;
}

// Eval mode: the fused forward (each conv + BN (+ residual) (+ ReLU) one op) gives what the
// layers one by one give, for basic and bottleneck blocks, with non-trivial running statistics;
// a backward after a fused eval forward (it keeps no intermediates, so it re-runs the unfused
// one) gives the gradients of the unfused path.
TEST(FastPath, ResNetEvalFusedMatchesUnfused) {
  for (int depth : {18, 50}) {
    SCOPED_TRACE("resnet" + std::to_string(depth));
    Context ctx(Device::CPU, 1);
    ParamStore ps;
    ResNetConfig cfg;
    cfg.depth = depth;
    cfg.width = 4;
    cfg.input_grad = true;
    ResNet net(ps, cfg);
    ps.finalize(Device::CPU, 3);
    // Running statistics away from (0, 1), gamma and beta away from (1, 0).
    uint64_t seed = 100;
    auto ends_with = [](const std::string& s, const std::string& t) {
      return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
    };
    for (ParamStore::Ref r = 0; r < ParamStore::Ref(ps.entries().size()); ++r) {
      const std::string& name = ps.entry(r).name;
      const bool bn = name.rfind("bn", 0) == 0 || name.find(".bn") != std::string::npos ||
                      name.find("downsample.1.") != std::string::npos;
      if (!bn || ends_with(name, "num_batches_tracked")) continue;
      Tensor& t = ps.value(r);
      const bool scale = ends_with(name, "weight") || ends_with(name, "running_var");
      t.copy_from(
          test::random_tensor(t.shape(), seed++, scale ? 0.5f : -0.3f, scale ? 1.5f : 0.3f));
    }
    net.set_training(false);
    const Tensor x = test::random_tensor({3, 3, 40, 40}, 7);
    std::array<std::vector<float>, 4> fused, plain;
    std::array<Tensor, 4> dc;
    for (bool fuse : {true, false}) {
      net.set_fuse_eval(fuse);
      const std::array<Tensor, 4> c = net.forward(ctx, x);
      for (int i = 0; i < 4; ++i) (fuse ? fused : plain)[size_t(i)] = c[size_t(i)].to_vector();
    }
    for (int i = 0; i < 4; ++i) {
      SCOPED_TRACE("C" + std::to_string(i + 2));
      expect_rel_norm(fused[size_t(i)], plain[size_t(i)], 1e-5, "eval output");
      dc[size_t(i)] = test::random_tensor(net.forward(ctx, x)[size_t(i)].shape(), 30 + i);
    }
    std::array<std::vector<float>, 2> grads, dxs;
    for (bool fuse : {true, false}) {
      net.set_fuse_eval(fuse);
      ps.zero_grad();
      net.forward(ctx, x);
      dxs[fuse] = net.backward(ctx, dc).to_vector();
      grads[fuse] = ps.grads().to_vector();
    }
    expect_rel_norm(dxs[1], dxs[0], 1e-5, "dL/dx after a fused eval forward");
    expect_rel_norm(grads[1], grads[0], 1e-5, "parameter gradients");
  }
}

}  // namespace
}  // namespace gbad
