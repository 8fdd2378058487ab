// Dynamic loss scaling (nn/loss_scaler.h, kernels/amp.h) against PyTorch GradScaler's state
// machine: overflow -> skip + halve, growth after the interval, checkpoint round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "common/test_util.h"
#include "kernels/amp.h"
#include "nn/loss_scaler.h"

namespace gbad {
namespace {

Tensor grads_of(std::vector<float> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Tensor::from_vector(v, {n});
}

TEST(LossScaler, UnscaleDividesExactlyAndFlagsNonFinite) {
  Context ctx(Device::CPU, 1);
  LossScaler s(Device::CPU);
  Tensor g = grads_of({65536.f * 0.5f, -65536.f * 3.f, 0.f});
  s.unscale(ctx, g);
  EXPECT_EQ(g.f32()[0], 0.5f);
  EXPECT_EQ(g.f32()[1], -3.f);
  EXPECT_FALSE(s.snapshot().found_inf);
  for (float bad : {std::numeric_limits<float>::infinity(), std::nanf("")}) {
    Tensor h = grads_of({1.f, bad, 2.f});
    s.unscale(ctx, h);
    EXPECT_TRUE(s.snapshot().found_inf);
    s.update(ctx);
    EXPECT_FALSE(s.snapshot().found_inf);
  }
}

TEST(LossScaler, OverflowSkipsAndHalves) {
  Context ctx(Device::CPU, 1);
  LossScaler s(Device::CPU);
  EXPECT_EQ(s.snapshot().scale, 65536.f);
  Tensor g = grads_of({1.f, std::numeric_limits<float>::infinity()});
  s.unscale(ctx, g);
  s.update(ctx);
  LossScalerSnapshot snap = s.snapshot();
  EXPECT_EQ(snap.scale, 32768.f);
  EXPECT_EQ(snap.skipped_steps, 1);
  EXPECT_EQ(snap.growth_tracker, 0);
}

// GradScaler with growth_interval=3: the scale after each step of a flag sequence, worked out
// from torch/amp/grad_scaler.py's _amp_update_scale_ (growth tracker reset on overflow and on
// growth).
TEST(LossScaler, FollowsGradScalerSequence) {
  Context ctx(Device::CPU, 1);
  LossScalerConfig cfg;
  cfg.init_scale = 1024.f;
  cfg.interval = 3;
  LossScaler s(Device::CPU, cfg);
  const std::vector<bool> overflow = {false, false, true, false, false, false, false, true, true};
  const std::vector<float> scale = {1024, 1024, 512, 512, 512, 1024, 1024, 512, 256};
  const std::vector<int64_t> tracker = {1, 2, 0, 1, 2, 0, 1, 0, 0};
  for (size_t i = 0; i < overflow.size(); ++i) {
    Tensor g = grads_of({1.f, overflow[i] ? std::numeric_limits<float>::infinity() : 2.f});
    s.unscale(ctx, g);
    s.update(ctx);
    LossScalerSnapshot snap = s.snapshot();
    EXPECT_EQ(snap.scale, scale[i]) << "step " << i;
    EXPECT_EQ(snap.growth_tracker, tracker[i]) << "step " << i;
  }
  EXPECT_EQ(s.snapshot().skipped_steps, 3);
}

TEST(LossScaler, CheckpointRoundTripContinuesTheCount) {
  Context ctx(Device::CPU, 1);
  LossScalerConfig cfg;
  cfg.init_scale = 8.f;
  cfg.interval = 3;
  LossScaler a(Device::CPU, cfg);
  Tensor g = grads_of({1.f});
  Tensor bad = grads_of({std::numeric_limits<float>::infinity()});
  a.unscale(ctx, bad);
  a.update(ctx);  // scale 4, skipped 1
  for (int i = 0; i < 2; ++i) {
    a.unscale(ctx, g);
    a.update(ctx);  // tracker 2
  }
  const auto meta = a.to_metadata();
  EXPECT_EQ(meta.at("amp.scale"), "4");
  EXPECT_EQ(meta.at("amp.growth_tracker"), "2");
  EXPECT_EQ(meta.at("amp.skipped_steps"), "1");
  LossScaler b(Device::CPU, cfg);
  b.restore(meta);
  b.unscale(ctx, g);
  b.update(ctx);  // the third clean step in a row: growth
  EXPECT_EQ(b.snapshot().scale, 8.f);
  EXPECT_EQ(b.snapshot().growth_tracker, 0);
  EXPECT_EQ(b.snapshot().skipped_steps, 1);
  // An fp32 checkpoint has no amp keys: a fresh scaler.
  LossScaler c(Device::CPU, cfg);
  c.restore({{"arch", "resnet18-fpn"}});
  EXPECT_EQ(c.snapshot().scale, 8.f);
  EXPECT_THROW(c.restore({{"amp.scale", "-1"}}), std::exception);
  EXPECT_THROW(c.restore({{"amp.scale", "1e3x"}}), std::exception);
}

TEST(LossScaler, DisabledIsIdentity) {
  Context ctx(Device::CPU, 1);
  LossScalerConfig cfg;
  cfg.enabled = false;
  LossScaler s(Device::CPU, cfg);
  Tensor g = grads_of({3.f, std::numeric_limits<float>::infinity()});
  s.unscale(ctx, g);
  s.update(ctx);
  EXPECT_EQ(g.f32()[0], 3.f);
  EXPECT_EQ(s.snapshot().scale, 1.f);
  EXPECT_EQ(s.snapshot().skipped_steps, 0);
}

TEST(LossScaler, BadArgumentsAreClearErrors) {
  Context ctx(Device::CPU, 1);
  Tensor small = Tensor::zeros({3});
  Tensor g = grads_of({1.f});
  EXPECT_THROW(amp_unscale(ctx, g, small), std::exception);
  Tensor state = Tensor::zeros({4});
  EXPECT_THROW(amp_update(ctx, state, 1.f, 0.5f, 10), std::exception);
  LossScalerConfig cfg;
  cfg.init_scale = 0.f;
  EXPECT_THROW(LossScaler(Device::CPU, cfg), std::exception);
}

TEST(CudaVsCpu, LossScalerUnscaleAndUpdate) {
  GBAD_REQUIRE_CUDA();
  Context cpu(Device::CPU, 1), gpu(Device::CUDA, 1);
  for (bool overflow : {false, true}) {
    std::vector<float> v(3000000);
    for (size_t i = 0; i < v.size(); ++i) v[i] = float(int64_t(i % 2001) - 1000) * 64.f;
    if (overflow) v[2999999] = std::numeric_limits<float>::infinity();
    LossScaler a(Device::CPU), b(Device::CUDA);
    Tensor ga = grads_of(v);
    Tensor gb(ga.shape(), Device::CUDA);
    gb.copy_from(ga);
    a.unscale(cpu, ga);
    b.unscale(gpu, gb);
    Tensor back(ga.shape());
    back.copy_from(gb);
    for (int64_t i = 0; i < ga.numel(); i += 9973) {
      if (std::isfinite(ga.f32()[i])) {
        ASSERT_EQ(ga.f32()[i], back.f32()[i]);
      }
    }
    EXPECT_EQ(a.snapshot().found_inf, overflow);
    EXPECT_EQ(b.snapshot().found_inf, overflow);
    a.update(cpu);
    b.update(gpu);
    EXPECT_EQ(a.snapshot().scale, b.snapshot().scale);
  }
}

}  // namespace
}  // namespace gbad
