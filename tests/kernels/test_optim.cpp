#include <gtest/gtest.h>

#include <cmath>

#include "kernels/k2_test_util.h"
#include "kernels/optim.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::cuda_vs_cpu;
using test::expect_close;
using test::random_tensor;
using test::Ts;

TEST(Optim, SgdMomentumFirstAndSecondStep) {
  Context ctx;
  Tensor p = Tensor::from_vector({1.f}, {1}), g = Tensor::from_vector({0.5f}, {1});
  Tensor buf = Tensor::from_vector({123.f}, {1});  // garbage: step 1 must overwrite it
  sgd_step(ctx, p, g, buf, 1, 0.1f, 0.9f, 0.1f);
  EXPECT_NEAR(buf.to_vector()[0], 0.6, 1e-6);  // g + wd*p
  EXPECT_NEAR(p.to_vector()[0], 0.94, 1e-6);   // 1 - 0.1*0.6
  sgd_step(ctx, p, g, buf, 2, 0.1f, 0.9f, 0.1f);
  EXPECT_NEAR(buf.to_vector()[0], 0.9 * 0.6 + 0.594, 1e-6);
  EXPECT_NEAR(p.to_vector()[0], 0.94 - 0.1 * 1.134, 1e-6);
}

TEST(Optim, SgdNesterovDampeningAndPlain) {
  Context ctx;
  Tensor p = Tensor::from_vector({1.f}, {1}), g = Tensor::from_vector({0.5f}, {1});
  Tensor buf({1});
  sgd_step(ctx, p, g, buf, 1, 0.1f, 0.9f, 0.1f, 0.f, true);
  EXPECT_NEAR(p.to_vector()[0], 1 - 0.1 * (0.6 + 0.9 * 0.6), 1e-6);
  // Dampening applies from the second step on.
  p.set_from({1.f});
  sgd_step(ctx, p, g, buf, 1, 0.1f, 0.9f, 0.f, 0.5f);
  EXPECT_NEAR(buf.to_vector()[0], 0.5, 1e-7);
  sgd_step(ctx, p, g, buf, 2, 0.1f, 0.9f, 0.f, 0.5f);
  EXPECT_NEAR(buf.to_vector()[0], 0.45 + 0.25, 1e-6);
  // No momentum: the buffer is not needed.
  Tensor none;
  p.set_from({1.f});
  sgd_step(ctx, p, g, none, 5, 0.1f, 0.f, 0.1f);
  EXPECT_NEAR(p.to_vector()[0], 0.94, 1e-6);
}

// The learning rate read from a device tensor gives the step of the same rate passed as a value
// (the host value is then ignored); a tensor that is not one f32 value is refused.
TEST(Optim, SgdLearningRateFromATensor) {
  Context ctx;
  Tensor g = random_tensor({777}, 2);
  Tensor p1 = random_tensor({777}, 1), p2 = p1.clone(), b1 = Tensor::zeros({777}), b2 = b1.clone();
  Tensor lr = Tensor::from_vector({0.037f}, {1});
  for (int64_t step = 1; step <= 3; ++step) {
    sgd_step(ctx, p1, g, b1, step, 0.037f, 0.9f, 1e-3f);
    sgd_step(ctx, p2, g, b2, step, 99.f, 0.9f, 1e-3f, 0.f, false, nullptr, &lr);
  }
  EXPECT_EQ(p1.to_vector(), p2.to_vector());
  EXPECT_EQ(b1.to_vector(), b2.to_vector());
  Tensor two({2});
  EXPECT_THROW(sgd_step(ctx, p2, g, b2, 4, 0.1f, 0.9f, 0.f, 0.f, false, nullptr, &two), Error);
}

// Adam in double, the textbook way.
double adam_ref(double p, const std::vector<double>& gs, double lr, double b1, double b2,
                double eps, double wd, bool decoupled) {
  double m = 0, v = 0;
  for (size_t k = 0; k < gs.size(); ++k) {
    double g = gs[k];
    if (decoupled)
      p *= 1 - lr * wd;
    else
      g += wd * p;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double t = double(k + 1);
    const double mhat = m / (1 - std::pow(b1, t)), vhat = v / (1 - std::pow(b2, t));
    p -= lr * mhat / (std::sqrt(vhat) + eps);
  }
  return p;
}

TEST(Optim, AdamTwoStepsWithBiasCorrection) {
  Context ctx;
  for (int mode = 0; mode < 3; ++mode) {
    const float wd = mode == 0 ? 0.f : 0.1f;
    const bool decoupled = mode == 2;
    Tensor p = Tensor::from_vector({1.f, -2.f}, {2});
    Tensor m = Tensor::zeros({2}), v = Tensor::zeros({2});
    const std::vector<std::vector<float>> gs = {{0.5f, 0.1f}, {-0.25f, 0.3f}};
    for (int s = 0; s < 2; ++s)
      adam_step(ctx, p, Tensor::from_vector(gs[size_t(s)], {2}), m, v, s + 1, 0.1f, 0.9f, 0.999f,
                1e-8f, wd, decoupled);
    std::vector<float> pv = p.to_vector();
    EXPECT_NEAR(pv[0], adam_ref(1, {0.5, -0.25}, 0.1, 0.9, 0.999, 1e-8, wd, decoupled), 1e-5)
        << mode;
    EXPECT_NEAR(pv[1], adam_ref(-2, {0.1, 0.3}, 0.1, 0.9, 0.999, 1e-8, wd, decoupled), 1e-5)
        << mode;
  }
  // First step of plain Adam moves each weight by lr (up to eps).
  Tensor p = Tensor::from_vector({1.f}, {1}), m = Tensor::zeros({1}), v = Tensor::zeros({1});
  adam_step(ctx, p, Tensor::from_vector({0.5f}, {1}), m, v, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.f,
            false);
  EXPECT_NEAR(p.to_vector()[0], 0.9, 1e-6);
}

TEST(Optim, EmaUpdate) {
  Context ctx;
  Tensor e = Tensor::from_vector({1.f, 2.f}, {2});
  ema_update(ctx, e, Tensor::from_vector({3.f, 0.f}, {2}), 0.75f);
  EXPECT_EQ(e.to_vector(), (std::vector<float>{1.5f, 1.5f}));
}

TEST(Optim, SgdAdamEmaClasses) {
  Context ctx;
  ParamStore ps;
  auto w = ps.add_param("w", {3}, InitSpec::constant(1.f));
  ps.finalize(Device::CPU, 0);
  Sgd sgd(ps, SgdConfig{0.1f, 0.9f, 0.f, false, 0.f});
  ps.grad(w).fill(0.5f);
  sgd.step(ctx);
  sgd.step(ctx);
  EXPECT_EQ(sgd.steps(), 2);
  EXPECT_EQ(ps.state_slots(), 1);
  // buf: 0.5 then 0.95; p = 1 - 0.05 - 0.095.
  EXPECT_NEAR(ps.value(w).to_vector()[0], 0.855, 1e-6);
  sgd.set_lr(0.f);
  sgd.step(ctx);
  EXPECT_NEAR(ps.value(w).to_vector()[0], 0.855, 1e-6);

  ParamStore ps2;
  auto w2 = ps2.add_param("w", {2}, InitSpec::constant(1.f));
  ps2.finalize(Device::CPU, 0);
  Ema ema(ps2, 0.5f);
  Adam adam(ps2, AdamConfig{0.1f, 0.9f, 0.999f, 1e-8f, 0.f, false});
  ps2.grad(w2).fill(0.5f);
  adam.step(ctx);
  EXPECT_EQ(ps2.state_slots(), 2);
  EXPECT_NEAR(ps2.value(w2).to_vector()[0], 0.9, 1e-6);
  ema.update(ctx, ps2);
  EXPECT_NEAR(ema.values().to_vector()[0], 0.95, 1e-6);
  // Resume: the step counter restores the bias correction.
  adam.set_steps(1);
  adam.step(ctx);
  EXPECT_NEAR(ps2.value(w2).to_vector()[0],
              adam_ref(1, {0.5, 0.5}, 0.1, 0.9, 0.999, 1e-8, 0, false), 1e-5);
  ema.copy_to(ps2);
  EXPECT_NEAR(ps2.value(w2).to_vector()[1], 0.95, 1e-6);
  EXPECT_EQ(read_scalar(Tensor::from_vector({4.5f}, {1})), 4.5f);
  EXPECT_THROW(read_scalar(Tensor({2})), Error);
}

// Sgd with the rate on the device (what a replayed CUDA graph reads) follows a schedule that
// changes the rate every step exactly as the rate passed by value does.
TEST(Optim, SgdDeviceRateFollowsTheSchedule) {
  Context ctx;
  ParamStore a, b;
  auto wa = a.add_param("w", {5}, InitSpec::constant(1.f));
  auto wb = b.add_param("w", {5}, InitSpec::constant(1.f));
  a.finalize(Device::CPU, 0);
  b.finalize(Device::CPU, 0);
  Sgd by_value(a, SgdConfig{}), on_device(b, SgdConfig{});
  on_device.use_device_lr(ctx);
  EXPECT_TRUE(on_device.device_lr());
  for (int step = 0; step < 6; ++step) {
    const float lr = 0.1f / static_cast<float>(step + 1);
    a.grad(wa).fill(0.25f * static_cast<float>(step) - 0.5f);
    b.grad(wb).fill(0.25f * static_cast<float>(step) - 0.5f);
    by_value.set_lr(lr);
    by_value.step(ctx);
    on_device.set_lr(lr);
    on_device.upload_lr(ctx);
    on_device.step(ctx);
  }
  EXPECT_EQ(a.value(wa).to_vector(), b.value(wb).to_vector());
  // Without an upload the step keeps the rate last written (what a replay would read).
  on_device.set_lr(1000.f);
  a.grad(wa).fill(1.f);
  b.grad(wb).fill(1.f);
  by_value.step(ctx);
  on_device.step(ctx);
  EXPECT_EQ(a.value(wa).to_vector(), b.value(wb).to_vector());
  Sgd plain(a, SgdConfig{});
  EXPECT_THROW(plain.upload_lr(ctx), Error);
}

// ---- CUDA vs CPU ---------------------------------------------------------------------------

TEST(CudaVsCpu, SgdStep) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({5003}, 1), random_tensor({5003}, 2), random_tensor({5003}, 3)},
              [](Context& c, Ts& t) {
                sgd_step(c, t[0], t[1], t[2], 1, 0.1f, 0.9f, 1e-4f);
                sgd_step(c, t[0], t[1], t[2], 2, 0.1f, 0.9f, 1e-4f);
                sgd_step(c, t[0], t[1], t[2], 3, 0.1f, 0.9f, 1e-4f, 0.f, true);
              });
}

TEST(CudaVsCpu, SgdStepLearningRateOnTheDevice) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({5003}, 1), random_tensor({5003}, 2), random_tensor({5003}, 3),
               Tensor::from_vector({0.05f}, {1})},
              [](Context& c, Ts& t) {
                sgd_step(c, t[0], t[1], t[2], 1, 7.f, 0.9f, 1e-4f, 0.f, false, nullptr, &t[3]);
                sgd_step(c, t[0], t[1], t[2], 2, 7.f, 0.9f, 1e-4f, 0.f, false, nullptr, &t[3]);
              });
}

TEST(CudaVsCpu, AdamStep) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({5003}, 1), random_tensor({5003}, 2), Tensor::zeros({5003}),
               Tensor::zeros({5003})},
              [](Context& c, Ts& t) {
                adam_step(c, t[0], t[1], t[2], t[3], 1, 1e-3f, 0.5f, 0.999f, 1e-8f, 0.f, false);
                adam_step(c, t[0], t[1], t[2], t[3], 2, 1e-3f, 0.5f, 0.999f, 1e-8f, 1e-2f, false);
                adam_step(c, t[0], t[1], t[2], t[3], 3, 1e-3f, 0.5f, 0.999f, 1e-8f, 1e-2f, true);
              });
}

TEST(CudaVsCpu, EmaUpdate) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({999}, 1), random_tensor({999}, 2)},
              [](Context& c, Ts& t) { ema_update(c, t[0], t[1], 0.9999f); });
}

}  // namespace
}  // namespace gbad
