// BiGan::train_step wiring against a reference built from the three objectives alone (GBAD
// eq. 3 and Zenati et al.), differentiated by finite differences through forward passes only:
//   L_D(D)  = BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)          (D's step, first)
//   L_G(G)  = BCE(D'(G(z), z), 1) + w * mean |G(E(x)) - x|     (D' = D after its step)
//   L_E(E)  = BCE(D'(x, E(x)), 0)                              (no L1 term: it trains G only)
// x standardised, z the step's draw, BCE the mean over the batch, computed here in double.
// After one step, E's and G's gradient buffers must equal dL_E/dE and dL_G/dG, and every
// network's parameter update must be Adam's first step on its own objective's gradient:
// -lr * g / (|g| + eps).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "common/test_util.h"
#include "core/philox.h"
#include "models/bigan.h"

namespace gbad {
namespace {

double bce_mean(const std::vector<float>& logits, float target) {
  double s = 0;
  for (float zf : logits) {
    const double z = zf;
    s += std::max(z, 0.0) - z * target + std::log1p(std::exp(-std::fabs(z)));
  }
  return s / double(logits.size());
}

double l1_mean(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::fabs(double(a[i]) - double(b[i]));
  return s / double(a.size());
}

// Central differences of `loss` over every parameter of `ps`.
std::vector<double> fd_grad(ParamStore& ps, const std::function<double()>& loss, double h) {
  float* p = ps.params().f32();
  const int64_t n = ps.params().numel();
  std::vector<double> g(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float saved = p[i];
    p[i] = saved + float(h);
    const double lp = loss();
    p[i] = saved - float(h);
    const double lm = loss();
    p[i] = saved;
    g[size_t(i)] = (lp - lm) / (2 * h);
  }
  return g;
}

// |a - b| / max(|a|, |b|) as vectors.
double rel_err(const std::vector<float>& a, const std::vector<double>& b) {
  double d = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (a[i] - b[i]) * (a[i] - b[i]);
    na += double(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return std::sqrt(d) / std::max(std::sqrt(std::max(na, nb)), 1e-300);
}

// The update must be Adam's first step -lr * g / (|g| + eps) on the reference gradient g:
// checked wherever g stands clear of the finite-difference noise (|g| > 5% of its rms).
void expect_adam_first_step(const std::vector<float>& before, const std::vector<float>& after,
                            const std::vector<double>& g, float lr, const char* what) {
  double rms = 0;
  for (double v : g) rms += v * v;
  rms = std::sqrt(rms / double(g.size()));
  ASSERT_GT(rms, 0.0) << what;
  int64_t checked = 0, wrong = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::fabs(g[i]) < 0.05 * rms) continue;
    const double want = -double(lr) * g[i] / (std::fabs(g[i]) + 1e-8);
    const double got = double(after[i]) - double(before[i]);
    ++checked;
    if (std::fabs(got - want) > 0.02 * lr) {
      if (++wrong <= 3)
        ADD_FAILURE() << what << " parameter " << i << ": update " << got << ", expected " << want
                      << " (reference gradient " << g[i] << ")";
    }
  }
  EXPECT_EQ(wrong, 0) << what << ": " << wrong << " of " << checked << " updates differ";
  EXPECT_GT(checked, int64_t(g.size()) / 2) << what;
}

TEST(BiGan, TrainStepWiringMatchesHandBuiltReference) {
  BiGanConfig c;
  c.x_dim = 4;
  c.latent = 3;
  c.enc_hidden = 5;
  c.gen_hidden = {5, 6};
  c.dis_hidden = 5;
  c.dropout = 0.f;  // deterministic D
  c.lr = 1e-3f;
  c.recon_weight = 0.7f;  // not 1, so a lost or doubled weight shows
  c.seed = 9;
  const int64_t n = 6;
  std::vector<float> xv(static_cast<size_t>(n * c.x_dim));
  for (size_t i = 0; i < xv.size(); ++i) xv[i] = 1.5f * rng_normal(21, 0, i) + 0.5f;
  const Tensor x = Tensor::from_vector(xv, {n, c.x_dim});

  BiGan a(c, Device::CPU), ref(c, Device::CPU);  // same seed: same initial weights
  a.fit_standardization(x);
  ref.fit_standardization(x);
  Context ctx_a(Device::CPU, 5), ctx_ref(Device::CPU, 5);
  Tensor xs, z;
  ref.standardize(xs, x);
  ref.sample_z(ctx_ref, z, n);  // the draw train_step makes first on a fresh context
  const std::vector<float> xs_v = xs.to_vector();

  auto& E = ref.encoder();
  auto& G = ref.generator();
  auto& D = ref.discriminator();
  auto loss_d = [&]() {
    Tensor e = E.forward(ctx_ref, xs).clone();
    double l = bce_mean(D.forward(ctx_ref, xs, e).to_vector(), 1.f);
    Tensor gz = G.forward(ctx_ref, z).clone();
    return l + bce_mean(D.forward(ctx_ref, gz, z).to_vector(), 0.f);
  };
  auto loss_g = [&]() {
    Tensor gz = G.forward(ctx_ref, z).clone();
    double l = bce_mean(D.forward(ctx_ref, gz, z).to_vector(), 1.f);
    Tensor e = E.forward(ctx_ref, xs).clone();
    return l + double(c.recon_weight) * l1_mean(G.forward(ctx_ref, e).to_vector(), xs_v);
  };
  auto loss_e = [&]() {
    Tensor e = E.forward(ctx_ref, xs).clone();
    return bce_mean(D.forward(ctx_ref, xs, e).to_vector(), 0.f);
  };
  const double h = 5e-4;
  const std::vector<double> g_d = fd_grad(ref.discriminator_params(), loss_d, h);

  const std::vector<float> e0 = a.encoder_params().params().to_vector();
  const std::vector<float> g0 = a.generator_params().params().to_vector();
  const std::vector<float> d0 = a.discriminator_params().params().to_vector();
  const BiGanLosses losses = a.train_step(ctx_a, x);
  EXPECT_NEAR(losses.loss_d, loss_d(), 1e-5);

  // D's step, on D's objective at the initial weights.
  expect_adam_first_step(d0, a.discriminator_params().params().to_vector(), g_d, c.lr, "D");

  // G and E step against the updated D.
  ref.discriminator_params().params().copy_from(a.discriminator_params().params());
  EXPECT_NEAR(losses.loss_e, loss_e(), 1e-5);
  EXPECT_NEAR(losses.loss_g, loss_g(), 1e-5);
  const std::vector<double> g_g = fd_grad(ref.generator_params(), loss_g, h);
  const std::vector<double> g_e = fd_grad(ref.encoder_params(), loss_e, h);
  EXPECT_LE(rel_err(a.generator_params().grads().to_vector(), g_g), 2e-2) << "G's gradient";
  EXPECT_LE(rel_err(a.encoder_params().grads().to_vector(), g_e), 2e-2) << "E's gradient";
  expect_adam_first_step(g0, a.generator_params().params().to_vector(), g_g, c.lr, "G");
  expect_adam_first_step(e0, a.encoder_params().params().to_vector(), g_e, c.lr, "E");
  EXPECT_EQ(a.steps(), 1);
}

}  // namespace
}  // namespace gbad
