// LossLog (train/loss_log.h): losses recorded on the device and read every N steps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_util.h"
#include "core/context.h"
#include "models/bigan.h"
#include "train/loss_log.h"

namespace gbad {
namespace {

// Per-step losses with an auxiliary term, as gbad-train-cnn records them.
std::vector<float> losses(int n) {
  std::vector<float> v;
  for (int i = 0; i < n; ++i) v.push_back(0.7f / float(1 + i) + 1e-3f * float(i % 7));
  return v;
}

// Records `v` (+ 0.4 * aux) in a log of `capacity`, reading whenever it is full and at the end.
std::vector<float> record_all(Context& ctx, const std::vector<float>& v, int64_t capacity) {
  LossLog log(capacity, ctx.device());
  Tensor loss({1}, ctx.device()), aux({1}, ctx.device());
  std::vector<float> out;
  for (size_t i = 0; i < v.size(); ++i) {
    loss.set_from({v[i]});
    aux.set_from({v[i] * 0.5f});
    log.record(ctx, loss, &aux, 0.4f);
    if (log.full()) {
      std::vector<float> r = log.read();
      out.insert(out.end(), r.begin(), r.end());
    }
  }
  std::vector<float> r = log.read();
  out.insert(out.end(), r.begin(), r.end());
  return out;
}

void check_interval_free(Device device) {
  Context ctx(device);
  const std::vector<float> v = losses(23);
  const std::vector<float> every = record_all(ctx, v, 1);
  ASSERT_EQ(every.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_NEAR(every[i], v[i] + 0.4f * (v[i] * 0.5f), 1e-6f);
  for (int64_t cap : {2, 5, 10, 23, 40}) {
    const std::vector<float> r = record_all(ctx, v, cap);
    ASSERT_EQ(r.size(), every.size()) << cap;
    for (size_t i = 0; i < r.size(); ++i)
      EXPECT_EQ(r[i], every[i]) << "capacity " << cap << " step " << i;
  }
}

TEST(LossLog, ReadIntervalDoesNotChangeTheValues) {
  check_interval_free(Device::CPU);
}

TEST(LossLog, NanAtStepKIsFoundAtTheNextReadWithItsStep) {
  Context ctx;
  LossLog log(8, Device::CPU);
  Tensor loss({1});
  std::vector<float> got;
  for (int step = 0; step < 8; ++step) {
    loss.set_from({step == 5 ? NAN : 1.f + float(step)});
    log.record(ctx, loss);
  }
  got = log.read();
  ASSERT_EQ(got.size(), 8u);
  EXPECT_EQ(first_non_finite(got), 5);
  // The slots are usable again: later finite losses read back exactly (no NaN left behind).
  for (int step = 0; step < 8; ++step) {
    loss.set_from({2.f * float(step)});
    log.record(ctx, loss);
  }
  got = log.read();
  EXPECT_EQ(first_non_finite(got), -1);
  EXPECT_EQ(got[7], 14.f);
  EXPECT_EQ(first_non_finite({1.f, INFINITY}), 1);
  EXPECT_EQ(first_non_finite({}), -1);
}

TEST(LossLog, RefusesToOverflowAndBadLosses) {
  Context ctx;
  LossLog log(2, Device::CPU);
  Tensor loss({1}), two({2});
  log.record(ctx, loss);
  EXPECT_THROW(log.record(ctx, two), Error);
  log.record(ctx, loss);
  EXPECT_TRUE(log.full());
  EXPECT_THROW(log.record(ctx, loss), Error);
  EXPECT_EQ(log.read().size(), 2u);
  EXPECT_EQ(log.pending(), 0);
  EXPECT_THROW(LossLog(0, Device::CPU), Error);
}

// Rows of several losses a step (the Bi-GAN's D, G, E, recon) read back in order.
TEST(LossLog, RowsOfSeveralLosses) {
  Context ctx;
  LossLog log(3, Device::CPU, 4);
  EXPECT_EQ(log.capacity(), 3);
  Tensor row({4}), one({1});
  for (int s = 0; s < 3; ++s) {
    row.set_from({float(s), float(s) + .25f, float(s) + .5f, float(s) + .75f});
    log.record_row(ctx, row);
  }
  EXPECT_THROW(log.record_row(ctx, row), Error);  // full
  const std::vector<float> v = log.read();
  ASSERT_EQ(v.size(), 12u);
  EXPECT_EQ(v[0], 0.f);
  EXPECT_EQ(v[11], 2.75f);
  EXPECT_THROW(log.record(ctx, one), Error);      // one loss in a log of four a step
  EXPECT_THROW(log.record_row(ctx, one), Error);  // a row of the wrong width
}

// BiGan::train_step with its losses kept on the device: the same losses as read to the host
// each step, and the same training.
TEST(LossLog, BiGanLossesOnTheDeviceEqualTheHostReads) {
  BiGanConfig c;
  c.x_dim = 6;
  c.latent = 4;
  c.enc_hidden = 8;
  c.gen_hidden = {8, 8};
  c.dis_hidden = 8;
  c.lr = 1e-3f;
  c.recon_weight = 0.7f;
  Context ca(Device::CPU, 5), cb(Device::CPU, 5);
  BiGan a(c, Device::CPU), b(c, Device::CPU);
  Tensor x = test::random_tensor({8, 6}, 3);
  a.fit_standardization(x);
  b.fit_standardization(x);
  Tensor dev({4});
  for (int i = 0; i < 3; ++i) {
    const BiGanLosses la = a.train_step(ca, x);
    const BiGanLosses lb = b.train_step(cb, x, &dev);
    EXPECT_EQ(lb.loss_d, 0.f);  // nothing read to the host
    const std::vector<float> v = dev.to_vector();
    EXPECT_EQ(v[0], la.loss_d) << i;
    EXPECT_FLOAT_EQ(v[1], la.loss_g) << i;
    EXPECT_EQ(v[2], la.loss_e) << i;
    EXPECT_EQ(v[3], la.loss_recon) << i;
  }
  Tensor ra, fa, rb, fb;
  a.scores(ca, x, ra, fa);
  b.scores(cb, x, rb, fb);
  EXPECT_EQ(ra.to_vector(), rb.to_vector());
  Tensor bad({3});
  EXPECT_THROW(b.train_step(cb, x, &bad), Error);
}

TEST(LossLogCuda, SameValuesAsTheCpu) {
  GBAD_REQUIRE_CUDA();
  check_interval_free(Device::CUDA);
  Context cpu, gpu(Device::CUDA);
  const std::vector<float> v = losses(17);
  const std::vector<float> a = record_all(cpu, v, 4), b = record_all(gpu, v, 4);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << i;
}

}  // namespace
}  // namespace gbad
