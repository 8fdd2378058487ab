// Bi-GAN: whole-model gradient check, anomaly scores on 2-D Gaussian data, checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/philox.h"
#include "model_test_util.h"
#include "models/bigan.h"

namespace gbad {
namespace {

using test::ModelTol;

BiGanConfig small_config() {
  BiGanConfig c;
  c.x_dim = 6;
  c.latent = 3;
  c.enc_hidden = 5;
  c.gen_hidden = {4, 7};
  c.dis_hidden = 6;
  c.dropout = 0.f;  // the gradient check needs a deterministic function
  c.seed = 4;
  return c;
}

// L = sum(r1 * D(x, E(x))) + sum(r2 * D(G(z), z)) + sum(r3 * f_D(G(z), z)): every parameter of
// E, G and D and both of D's inputs lie on the path.
TEST(GradCheck, BiGanWholeModel) {
  Context ctx(Device::CPU, 3);
  BiGan g(small_config(), Device::CPU);
  Tensor x = test::random_tensor({4, 6}, 1), z = test::random_tensor({4, 3}, 2);
  const std::vector<float> r1 = test::random_vector(4, 3), r2 = test::random_vector(4, 4);
  const std::vector<float> r3 = test::random_vector(4 * 6, 5);
  auto& E = g.encoder();
  auto& G = g.generator();
  auto& D = g.discriminator();
  auto loss = [&]() {
    double l = test::dot(D.forward(ctx, x, E.forward(ctx, x)).to_vector(), r1);
    Tensor gz = G.forward(ctx, z).clone();
    l += test::dot(D.forward(ctx, gz, z).to_vector(), r2);
    return l + test::dot(D.features().to_vector(), r3);
  };
  for (ParamStore* ps : {&g.encoder_params(), &g.generator_params(), &g.discriminator_params()})
    ps->zero_grad();
  // Real pair: D's gradients, then E's through D's z input.
  D.forward(ctx, x, E.forward(ctx, x));
  D.backward(ctx, Tensor::from_vector(r1, {4, 1}));
  E.backward(ctx, D.dz());
  // Fake pair, with the extra gradient r3 on the feature layer f_D.
  Tensor gz = G.forward(ctx, z).clone();
  D.forward(ctx, gz, z);
  Tensor dfeat = Tensor::from_vector(r3, {4, 6});
  D.backward(ctx, Tensor::from_vector(r2, {4, 1}), &dfeat);
  G.backward(ctx, D.dx());
  test::check_all_params(g.encoder_params(), loss, 8, "encoder");
  test::check_all_params(g.generator_params(), loss, 8, "generator");
  test::check_all_params(g.discriminator_params(), loss, 8, "discriminator");
}

// 2-D standard normal data: after training, points far away reconstruct worse (R) and match
// D's features worse (FM) than in-distribution points.
TEST(Training, BiGanScoresFarPointsHigher) {
  BiGanConfig c;
  c.x_dim = 2;
  c.latent = 2;
  c.lr = 1e-3f;
  c.dropout = 0.2f;
  c.seed = 1;
  BiGan g(c, Device::CPU);
  Context ctx(Device::CPU, 7);
  const int64_t n = 64;
  Tensor train({512, 2});
  {
    std::vector<float> v(512 * 2);
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * rng_normal(99, 0, i) + 1.f;
    train.set_from(v);
  }
  g.fit_standardization(train);
  EXPECT_NEAR(g.feature_mean()[0], 1.f, 0.1f);
  EXPECT_NEAR(g.feature_std()[1], 0.5f, 0.05f);
  BiGanLosses first{}, last{};
  for (int s = 0; s < 600; ++s) {
    const int64_t b = (s * n) % 512;
    last = g.train_step(ctx, train.slice0(b, b + n).clone());
    if (s == 0) first = last;
    ASSERT_TRUE(std::isfinite(last.loss_d) && std::isfinite(last.loss_g)) << "step " << s;
  }
  EXPECT_LT(last.loss_recon, first.loss_recon);
  // In-distribution: the first 64 training points; far: a ring at 8 standard deviations.
  Tensor in = train.slice0(0, n).clone();
  std::vector<float> far(n * 2);
  for (int64_t i = 0; i < n; ++i) {
    const double a = 2 * M_PI * i / n;
    far[2 * i] = 1.f + 4.f * static_cast<float>(std::cos(a));
    far[2 * i + 1] = 1.f + 4.f * static_cast<float>(std::sin(a));
  }
  Tensor r_in, fm_in, r_far, fm_far;
  g.scores(ctx, in, r_in, fm_in);
  g.scores(ctx, Tensor::from_vector(far, {n, 2}), r_far, fm_far);
  ASSERT_EQ(r_in.shape(), (Shape{n}));
  auto mean = [](const Tensor& t) {
    double s = 0;
    for (float v : t.to_vector()) s += v;
    return s / t.numel();
  };
  EXPECT_GT(mean(r_far), 2.0 * mean(r_in));
  EXPECT_GT(mean(fm_far), mean(fm_in));
  // Scores are deterministic (eval mode: no dropout).
  Tensor r2, fm2;
  g.scores(ctx, in, r2, fm2);
  EXPECT_EQ(r2.to_vector(), r_in.to_vector());
  EXPECT_EQ(fm2.to_vector(), fm_in.to_vector());
}

TEST(Checkpoint, BiGanSaveLoadRoundTripAndResume) {
  BiGanConfig c = small_config();
  c.dropout = 0.2f;
  c.ema_decay = 0.9f;
  c.lr = 1e-3f;
  Context ctx(Device::CPU, 5);
  BiGan a(c, Device::CPU);
  Tensor x = test::random_tensor({8, 6}, 3);
  a.fit_standardization(x);
  for (int i = 0; i < 3; ++i) a.train_step(ctx, x);
  const std::string path = std::string(GBAD_BINARY_DIR) + "/tests/models_bigan.safetensors";
  a.save(path, {{"note", "test"}});
  EXPECT_EQ(BiGan::read_config(path).x_dim, 6);
  EXPECT_FLOAT_EQ(BiGan::read_config(path).ema_decay, 0.9f);
  BiGan b(BiGan::read_config(path), Device::CPU);
  b.load(path);
  EXPECT_EQ(b.steps(), 3);
  EXPECT_EQ(b.feature_mean(), a.feature_mean());
  Tensor ra, fa, rb, fb;
  a.scores(ctx, x, ra, fa);
  b.scores(ctx, x, rb, fb);
  EXPECT_EQ(ra.to_vector(), rb.to_vector());
  EXPECT_EQ(fa.to_vector(), fb.to_vector());
  // Resuming continues identically: same RNG state, same Adam state.
  Context c1(Device::CPU, 9), c2x(Device::CPU, 9);
  const BiGanLosses la = a.train_step(c1, x), lb = b.train_step(c2x, x);
  EXPECT_EQ(la.loss_d, lb.loss_d);
  EXPECT_EQ(a.generator_params().params().to_vector(), b.generator_params().params().to_vector());
  // A model of other sizes refuses the file.
  BiGanConfig other = c;
  other.x_dim = 7;
  BiGan o(other, Device::CPU);
  EXPECT_THROW(o.load(path), Error);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace gbad
