// The paper's baselines: the CHR head (models/chr.h, resnet*-chr) and GANomaly / Skip-GANomaly
// (models/ganomaly.h). PyTorch agreement on committed fixtures (tools/make_baseline_fixtures.py),
// parameter counts, small overfitting runs, determinism, checkpoints, bad inputs, and one
// training step on CUDA against the CPU (skipped without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "model_test_util.h"
#include "models/classifier.h"
#include "models/ganomaly.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::ModelTol;

std::string fixture(const char* name) {
  return std::string(GBAD_MODEL_FIXTURES) + "/" + name;
}

void expect_grad_close(const std::vector<float>& a, const std::vector<float>& b,
                       const std::string& what) {
  float mx = 0;
  for (float v : b) mx = std::max(mx, std::fabs(v));
  test::expect_close(a, b, ModelTol::kTorchRel, ModelTol::kTorchGradAbs * std::max(mx, 1e-6f),
                     what.c_str());
}

void load_from_fixture(const SafeTensorsFile& f, ParamStore& ps) {
  for (const auto& e : ps.entries()) ASSERT_TRUE(f.has(e.name)) << e.name << " not in fixture";
  LoadOptions lo;
  lo.strict = false;  // the file also holds inputs and reference outputs
  lo.require_gbad_format = false;
  load_params(f, ps, lo);
}

// Compares every trainable parameter's gradient with "grad.<name>"; returns how many.
int expect_param_grads(const SafeTensorsFile& f, ParamStore& ps) {
  std::vector<float> grads = ps.grads().to_vector();
  int checked = 0;
  for (const auto& e : ps.entries()) {
    if (!e.trainable) continue;
    std::vector<float> g(grads.begin() + e.offset, grads.begin() + e.offset + e.numel);
    expect_grad_close(g, f.read_f32("grad." + e.name), "dL/d" + e.name);
    ++checked;
  }
  return checked;
}

// ---- parameter counts (the figures) --------------------------------------------------

TEST(Baselines, ParameterCounts) {
  ClassifierOptions o;
  o.num_classes = 5;
  EXPECT_EQ(Classifier("resnet101-chr", o, Device::CPU, 0, false).param_store().num_params(),
            51960399);
  EXPECT_EQ(Classifier("resnet34-chr", o, Device::CPU, 0, false).param_store().num_params(),
            21880271);
  GanomalyConfig g;
  g.isize = 32;
  Ganomaly gan(g, Device::CPU, false);
  EXPECT_EQ(gan.generator_param_count(), 3206528);
  EXPECT_EQ(gan.discriminator_param_count(), 663296);
  g.variant = GanVariant::Skip;
  Ganomaly skip(g, Device::CPU, false);
  EXPECT_EQ(skip.generator_param_count(), 16659075);
  EXPECT_EQ(skip.discriminator_param_count(), 663296);
  int64_t rows = 0;
  for (const auto& r : skip.generator_summary(1)) rows += r.params;
  EXPECT_EQ(rows, 16659075);
}

TEST(Baselines, BadSizesAndInputs) {
  GanomalyConfig g;
  g.isize = 24;  // not a power of two
  EXPECT_THROW(Ganomaly(g, Device::CPU, false), Error);
  g.isize = 16;
  g.variant = GanVariant::Skip;  // the U-Net needs >= 32
  EXPECT_THROW(Ganomaly(g, Device::CPU, false), Error);
  EXPECT_THROW(parse_gan_variant("bigan"), Error);
  g.variant = GanVariant::Ganomaly;
  g.nz = 4;
  g.ngf = g.ndf = 4;
  Ganomaly gan(g, Device::CPU);
  Context ctx;
  Tensor x({2, 3, 32, 32});
  EXPECT_THROW(gan.train_step(ctx, x), Error);
  EXPECT_THROW(parse_arch("resnet18-chrr"), Error);
}

// ---- PyTorch agreement -----------------------------------------------------------------------

TEST(TorchAgreement, ChrResNet18Width4) {
  SafeTensorsFile f = SafeTensorsFile::open(fixture("chr_resnet18_w4.safetensors"));
  ClassifierOptions o;
  o.width = 4;
  o.num_classes = 5;
  o.input_grad = true;
  Classifier m("resnet18-chr", o, Device::CPU, 0);
  ParamStore& ps = m.param_store();
  load_from_fixture(f, ps);
  Context ctx(Device::CPU, 0);
  Tensor x = f.read_tensor("input"), t = f.read_tensor("target");
  const Tensor& o1 = m.forward(ctx, x, true);
  test::expect_close(o1.to_vector(), f.read_f32("o1"), ModelTol::kTorchRel, ModelTol::kTorchAbs,
                     "o1");
  ASSERT_NE(m.chr_head(), nullptr);
  test::expect_close(m.chr_head()->logits()[1].to_vector(), f.read_f32("o2"), ModelTol::kTorchRel,
                     ModelTol::kTorchAbs, "o2");
  test::expect_close(m.chr_head()->logits()[2].to_vector(), f.read_f32("o3"), ModelTol::kTorchRel,
                     ModelTol::kTorchAbs, "o3");
  Tensor loss({1}), dlogits;
  m.training_loss(ctx, loss, dlogits, t, nullptr);
  EXPECT_NEAR(read_scalar(loss), f.read_f32("loss")[0], 1e-4);
  ps.zero_grad();
  const Tensor& dx = m.backward(ctx, dlogits);
  expect_grad_close(dx.to_vector(), f.read_f32("grad.input"), "dL/dinput");
  EXPECT_GT(expect_param_grads(f, ps), 30);
  test::expect_close(m.forward(ctx, x, false).to_vector(), f.read_f32("o1_eval"),
                     ModelTol::kTorchRel, ModelTol::kTorchAbs, "eval-mode o1");
}

void check_generator_fixture(const char* file, const GanomalyConfig& cfg) {
  SafeTensorsFile f = SafeTensorsFile::open(fixture(file));
  Ganomaly gan(cfg, Device::CPU);
  ParamStore& ps = gan.generator_params();
  load_from_fixture(f, ps);
  Context ctx(Device::CPU, 0);
  Tensor x = f.read_tensor("input");
  const Tensor& fake = gan.generator_forward(ctx, x, true);
  test::expect_close(fake.to_vector(), f.read_f32("fake"), ModelTol::kTorchRel, ModelTol::kTorchAbs,
                     "G(x)");
  Tensor loss({1}), tmp({1}), dfake(fake.shape()), dlo, dli;
  l1_loss(ctx, loss, dfake, fake, x);
  scale_inplace(ctx, dfake, 50.f);
  double total = 50.0 * read_scalar(loss);
  const bool latent = cfg.variant == GanVariant::Ganomaly;
  if (latent) {
    test::expect_close(gan.latent_in().to_vector(), f.read_f32("latent_i"), ModelTol::kTorchRel,
                       ModelTol::kTorchAbs, "z");
    test::expect_close(gan.latent_out().to_vector(), f.read_f32("latent_o"), ModelTol::kTorchRel,
                       ModelTol::kTorchAbs, "z'");
    dlo.resize(gan.latent_out().shape());
    l2_loss(ctx, tmp, dlo, gan.latent_out(), gan.latent_in());
    total += read_scalar(tmp);
    dli = dlo.clone();
    scale_inplace(ctx, dli, -1.f);
  }
  EXPECT_NEAR(total, f.read_f32("loss")[0], 1e-4 * std::max(1.0, std::fabs(total)));
  ps.zero_grad();
  gan.generator_backward(ctx, dfake, latent ? &dlo : nullptr, latent ? &dli : nullptr);
  EXPECT_GT(expect_param_grads(f, ps), 10);
  test::expect_close(gan.generator_forward(ctx, x, false).to_vector(), f.read_f32("fake_eval"),
                     ModelTol::kTorchRel, ModelTol::kTorchAbs, "eval-mode G(x)");
  if (latent)
    test::expect_close(gan.latent_out().to_vector(), f.read_f32("latent_o_eval"),
                       ModelTol::kTorchRel, ModelTol::kTorchAbs, "eval-mode z'");
}

TEST(TorchAgreement, GanomalyGenerator16) {
  GanomalyConfig c;
  c.isize = 16;
  c.nz = 8;
  c.ngf = 4;
  c.ndf = 4;
  check_generator_fixture("ganomaly_g16.safetensors", c);
}

TEST(TorchAgreement, SkipGanomalyUnet32) {
  GanomalyConfig c;
  c.variant = GanVariant::Skip;
  c.isize = 32;
  c.ngf = 2;
  c.ndf = 2;
  check_generator_fixture("unet_g32.safetensors", c);
}

// ---- overfitting, determinism, checkpoints ---------------------------------------------------

// The CHR head on each backbone family: the loss falls and o1 learns the labels (InceptionV3 and
// DenseNet at reduced width; InceptionV3 needs at least 75 pixels).
void overfit_chr(const std::string& arch, int64_t width, int64_t size) {
  SCOPED_TRACE(arch);
  ClassifierOptions o;
  o.width = width;
  o.num_classes = 5;
  if (arch.rfind("densenet", 0) == 0) o.dense_blocks = {2, 2, 2, 2};
  Classifier m(arch, o, Device::CPU, 3);
  m.set_aux_enabled(false);
  ASSERT_NE(m.chr_head(), nullptr);
  Context ctx(Device::CPU, 3);
  Tensor x = test::random_tensor({4, 3, size, size}, 5);
  Tensor t =
      Tensor::from_vector({1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1}, {4, 5});
  SgdConfig sc;
  sc.lr = 0.05f;
  sc.weight_decay = 0;
  Sgd sgd(m.param_store(), sc);
  Tensor loss({1}), dlogits;
  float first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    m.forward(ctx, x, true);
    m.training_loss(ctx, loss, dlogits, t, nullptr);
    last = read_scalar(loss);
    if (step == 0) first = last;
    m.param_store().zero_grad();
    m.backward(ctx, dlogits);
    sgd.step(ctx);
  }
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_LT(last, 0.3f * first) << "CHR loss " << first << " -> " << last;
  // The test-time score is o1: the logits agree with the labels.
  const std::vector<float> logits = m.forward(ctx, x, true).to_vector();
  int right = 0;
  for (size_t i = 0; i < logits.size(); ++i) right += (logits[i] > 0) == (t.f32()[i] > 0.5f);
  EXPECT_GE(right, 18);
}

TEST(Overfit, ChrClassifier) {
  overfit_chr("resnet18-chr", 4, 32);
}

TEST(Overfit, ChrOnInceptionV3AndDenseNet) {
  overfit_chr("inceptionv3-chr", 8, 75);
  overfit_chr("densenet121-chr", 8, 32);
}

GanomalyConfig small_gan(GanVariant v) {
  GanomalyConfig c;
  c.variant = v;
  c.isize = v == GanVariant::Skip ? 32 : 16;
  c.nz = 16;
  c.ngf = v == GanVariant::Skip ? 4 : 8;
  c.ndf = 8;
  c.seed = 7;
  return c;
}

// Four smooth images in [-0.8, 0.8] (stripes of different directions and phases).
Tensor smooth_images(int64_t size) {
  Tensor x({4, 3, size, size});
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < size; ++h)
        for (int64_t w = 0; w < size; ++w)
          x.f32()[((n * 3 + c) * size + h) * size + w] =
              static_cast<float>(0.8 * std::sin(0.3 * double(n + 1) * double(h) +
                                                0.2 * double(c + 1) * double(w) + double(n)));
  return x;
}

void overfit_gan(GanVariant v, int steps, float factor, float w_other) {
  GanomalyConfig c = small_gan(v);
  c.lr = 2e-3f;  // a few dozen steps
  c.w_adv = c.w_lat = w_other;
  Ganomaly gan(c, Device::CPU);
  Context ctx(Device::CPU, 7);
  Tensor x = smooth_images(c.isize);
  float first = 0, last = 0;
  for (int s = 0; s < steps; ++s) {
    GanStepLosses l = gan.train_step(ctx, x);
    ASSERT_TRUE(std::isfinite(l.g) && std::isfinite(l.d));
    if (s == 0) first = l.g_con;
    last = l.g_con;
  }
  EXPECT_LT(last, factor * first) << gan_variant_name(v) << " L1 reconstruction " << first << " -> "
                                  << last;
  std::vector<float> sc = gan.scores(ctx, x);
  ASSERT_EQ(sc.size(), 4u);
  for (float s : sc) EXPECT_TRUE(std::isfinite(s) && s >= 0.f);
}

TEST(Overfit, Ganomaly) {
  overfit_gan(GanVariant::Ganomaly, 40, 0.5f, 1.f);
}

// The adversarial and feature terms at 0.1: with 1 the discriminator wins within these few
// steps and its BCE gradient dominates the small U-Net's reconstruction for a while.
TEST(Overfit, SkipGanomaly) {
  overfit_gan(GanVariant::Skip, 30, 0.7f, 0.1f);
}

TEST(Baselines, GanDeterministicSaveLoadAndReinit) {
  GanomalyConfig c = small_gan(GanVariant::Ganomaly);
  Context ctx(Device::CPU, 7);
  Tensor x = test::random_tensor({4, 3, 16, 16}, 9, -0.8f, 0.8f);
  Ganomaly a(c, Device::CPU), b(c, Device::CPU);
  for (int s = 0; s < 2; ++s) {
    GanStepLosses la = a.train_step(ctx, x), lb = b.train_step(ctx, x);
    EXPECT_EQ(la.g, lb.g);
    EXPECT_EQ(la.d, lb.d);
  }
  const std::string path = ::testing::TempDir() + "gbad_ganomaly_test.safetensors";
  a.save(path);
  EXPECT_EQ(Ganomaly::read_config(path).nz, c.nz);
  GanomalyConfig c2 = c;
  c2.seed = 99;  // other initial weights, replaced by the load
  Ganomaly r(c2, Device::CPU);
  r.load(path);
  EXPECT_EQ(r.steps(), 2);
  test::expect_close(r.scores(ctx, x), a.scores(ctx, x), 0, 0, "scores after load");
  GanStepLosses la = a.train_step(ctx, x), lr = r.train_step(ctx, x);
  EXPECT_EQ(la.g, lr.g) << "a resumed model continues exactly";
  GanomalyConfig other = c;
  other.nz = 8;
  Ganomaly wrong(other, Device::CPU);
  EXPECT_THROW(wrong.load(path), Error);
  {  // A metadata number that is not one: an Error naming file and key (not std::stoll's).
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t at = bytes.find("\"nz\":\"");
    ASSERT_NE(at, std::string::npos);
    bytes[at + 6] = 'x';
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    try {
      Ganomaly::read_config(path);
      ADD_FAILURE() << "no error for a non-numeric nz";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("metadata 'nz'"), std::string::npos) << e.what();
    }
  }
  std::remove(path.c_str());
  // D is re-initialised when its loss falls below the threshold.
  GanomalyConfig ci = c;
  ci.d_reinit_below = 100.f;
  Ganomaly g(ci, Device::CPU);
  GanStepLosses l = g.train_step(ctx, x);
  const std::vector<float> d1 = g.discriminator_params().params().to_vector();
  EXPECT_TRUE(l.d_reinitialised);
  EXPECT_EQ(g.d_reinits(), 1);
  // Fresh N(0, 0.02) / N(1, 0.02) draws, not the trained values.
  Ganomaly h(c, Device::CPU);
  h.train_step(ctx, x);
  EXPECT_NE(d1, h.discriminator_params().params().to_vector());
}

// ---- one training step on CUDA ---------------------------------------------------------------

TEST(CudaVsCpu, ChrTrainingStep) {
  GBAD_REQUIRE_CUDA();
  ClassifierOptions o;
  o.width = 8;
  o.num_classes = 5;
  Classifier mc("resnet18-chr", o, Device::CPU, 4), mg("resnet18-chr", o, Device::CUDA, 4);
  Context cc(Device::CPU, 4), gc(Device::CUDA, 4);
  Tensor x = test::random_tensor({4, 3, 64, 64}, 5);
  Tensor t = test::random_tensor({4, 5}, 6, 0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = t.f32()[i] > 0.6f ? 1.f : 0.f;
  Tensor gx = x.to(Device::CUDA), gt = t.to(Device::CUDA);
  Tensor lc({1}), lg({1}, Device::CUDA), dc, dg;
  test::expect_close(mg.forward(gc, gx, true).to(Device::CPU), mc.forward(cc, x, true),
                     ModelTol::kCudaRel, ModelTol::kCudaAbs, "o1");
  mc.training_loss(cc, lc, dc, t, nullptr);
  mg.training_loss(gc, lg, dg, gt, nullptr);
  EXPECT_NEAR(read_scalar(lg), read_scalar(lc), 1e-4);
  mc.param_store().zero_grad();
  mg.param_store().zero_grad();
  mc.backward(cc, dc);
  mg.backward(gc, dg);
  std::vector<float> a = mg.param_store().grads().to(Device::CPU).to_vector(),
                     b = mc.param_store().grads().to_vector();
  float mx = 0;
  for (float v : b) mx = std::max(mx, std::fabs(v));
  test::expect_close(a, b, ModelTol::kCudaRel, 1e-3 * mx, "parameter gradients");
}

TEST(CudaVsCpu, GanTrainingSteps) {
  GBAD_REQUIRE_CUDA();
  for (GanVariant v : {GanVariant::Ganomaly, GanVariant::Skip}) {
    GanomalyConfig c = small_gan(v);
    Ganomaly a(c, Device::CPU), g(c, Device::CUDA);
    Context cc(Device::CPU, 7), gc(Device::CUDA, 7);
    Tensor x = test::random_tensor({4, 3, c.isize, c.isize}, 9, -0.8f, 0.8f);
    Tensor gx = x.to(Device::CUDA);
    for (int s = 0; s < 2; ++s) {
      GanStepLosses la = a.train_step(cc, x), lg = g.train_step(gc, gx);
      EXPECT_NEAR(lg.g, la.g, 1e-3 * std::max(1.f, std::fabs(la.g))) << gan_variant_name(v);
      EXPECT_NEAR(lg.d, la.d, 1e-3 * std::max(1.f, std::fabs(la.d))) << gan_variant_name(v);
    }
    test::expect_close(g.scores(gc, gx), a.scores(cc, x), 1e-2, 1e-5, gan_variant_name(v));
  }
}

}  // namespace
}  // namespace gbad
