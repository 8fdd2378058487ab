#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/k2_test_util.h"
#include "kernels/loss.h"
#include "nn/optim.h"

namespace gbad {
namespace {

using test::cuda_vs_cpu;
using test::expect_close;
using test::random_tensor;
using test::Tol;
using test::Ts;

double bce_ref(double z, double t, double w) {
  // Direct (unstable) definition: -[w t log s + (1-t) log(1-s)], fine for moderate z.
  const double s = 1.0 / (1.0 + std::exp(-z));
  return -(w * t * std::log(s) + (1 - t) * std::log(1 - s));
}

TEST(Loss, BceHandValues) {
  Context ctx;
  Tensor z = Tensor::from_vector({0.5f, -1.f, 2.f, 0.f}, {2, 2});
  Tensor t = Tensor::from_vector({1, 0, 0, 1}, {2, 2});
  Tensor loss({1}), dz({2, 2});
  bce_with_logits(ctx, loss, dz, z, t);
  const std::vector<double> zv = {0.5, -1, 2, 0}, tv = {1, 0, 0, 1};
  double want = 0;
  for (int i = 0; i < 4; ++i) want += bce_ref(zv[i], tv[i], 1) / 4;
  EXPECT_NEAR(read_scalar(loss), want, 1e-6);
  std::vector<float> g = dz.to_vector();
  for (int i = 0; i < 4; ++i)
    EXPECT_NEAR(g[size_t(i)], (1 / (1 + std::exp(-zv[i])) - tv[i]) / 4, 1e-7);
}

TEST(Loss, BceMaskAndPosWeight) {
  Context ctx;
  Tensor z = Tensor::from_vector({0.5f, -1.f, 2.f, 0.3f}, {2, 2});
  Tensor t = Tensor::from_vector({1, 0, 1, 1}, {2, 2});
  Tensor m = Tensor::from_vector({1, 1, 0, 1}, {2, 2});  // element 2 ignored
  Tensor pw = Tensor::from_vector({3.f, 0.5f}, {2});
  Tensor loss({1}), dz({2, 2});
  bce_with_logits(ctx, loss, dz, z, t, &m, &pw);
  const std::vector<double> zv = {0.5, -1, 2, 0.3}, tv = {1, 0, 1, 1}, wv = {3, 0.5, 3, 0.5};
  double want = (bce_ref(zv[0], 1, 3) + bce_ref(zv[1], 0, 0.5) + bce_ref(zv[3], 1, 0.5)) / 3;
  EXPECT_NEAR(read_scalar(loss), want, 1e-6);
  std::vector<float> g = dz.to_vector();
  EXPECT_EQ(g[2], 0.f);
  for (int i : {0, 1, 3}) {
    const double s = 1 / (1 + std::exp(-zv[size_t(i)]));
    // d/dz of -[w t log s + (1-t) log(1-s)] = -w t (1-s) + (1-t) s
    const double gi = -wv[size_t(i)] * tv[size_t(i)] * (1 - s) + (1 - tv[size_t(i)]) * s;
    EXPECT_NEAR(g[size_t(i)], gi / 3, 1e-7) << i;
  }
  // Everything masked: loss 0, gradient 0, no NaN.
  Tensor m0 = Tensor::zeros({2, 2});
  bce_with_logits(ctx, loss, dz, z, t, &m0, nullptr);
  EXPECT_EQ(read_scalar(loss), 0.f);
  for (float v : dz.to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(Loss, BceExtremeLogitsStayFinite) {
  Context ctx;
  Tensor z = Tensor::from_vector({100.f, -100.f, 100.f, -100.f}, {1, 4});
  Tensor t = Tensor::from_vector({1, 0, 0, 1}, {1, 4});
  Tensor pw = Tensor::from_vector({2, 2, 2, 2}, {4});
  Tensor loss({1}), dz({1, 4});
  const Tensor* pw_ptr = &pw;
  for (const Tensor* w : {static_cast<const Tensor*>(nullptr), pw_ptr}) {
    bce_with_logits(ctx, loss, dz, z, t, nullptr, w);
    const float l = read_scalar(loss);
    EXPECT_TRUE(std::isfinite(l));
    // Two confident right answers (~0) and two wrong ones (100 each, x2 for the positive one
    // when weighted).
    EXPECT_NEAR(l, w ? (100 + 200) / 4.0 : 200 / 4.0, 1e-3);
    std::vector<float> g = dz.to_vector();
    for (float v : g) EXPECT_TRUE(std::isfinite(v));
    EXPECT_NEAR(g[0], 0, 1e-7);
    EXPECT_NEAR(g[2], 0.25, 1e-6);
    EXPECT_NEAR(g[3], w ? -0.5 : -0.25, 1e-6);
  }
}

TEST(Loss, L1AndL2HandValues) {
  Context ctx;
  Tensor a = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector({1, 0, 4, 4, 8, 2}, {2, 3});
  Tensor loss({1}), da({2, 3});
  l1_loss(ctx, loss, da, a, b);
  EXPECT_NEAR(read_scalar(loss), (0 + 2 + 1 + 0 + 3 + 4) / 6.0, 1e-6);
  expect_close(da.to_vector(), {0, 1 / 6.f, -1 / 6.f, 0, -1 / 6.f, 1 / 6.f}, 1e-6, 0, "l1 grad");
  l2_loss(ctx, loss, da, a, b);
  EXPECT_NEAR(read_scalar(loss), (0 + 4 + 1 + 0 + 9 + 16) / 6.0, 1e-6);
  expect_close(da.to_vector(), {0, 4 / 6.f, -2 / 6.f, 0, -6 / 6.f, 8 / 6.f}, 1e-6, 0, "l2 grad");
  Tensor out({2});
  l1_per_sample(ctx, out, a, b);
  EXPECT_EQ(out.to_vector(), (std::vector<float>{3, 7}));
  l2_per_sample(ctx, out, a, b);
  expect_close(out.to_vector(), {float(std::sqrt(5.0)), 5.f}, 1e-6, 0, "l2 rows");
  // Loss without a gradient.
  Tensor none;
  l2_loss(ctx, loss, none, a, b);
  EXPECT_NEAR(read_scalar(loss), 5.0, 1e-6);
}

TEST(Loss, L2PerSampleBackwardSafeAtZero) {
  Context ctx;
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector({1, 2, 0, 0}, {2, 2});  // row 0: zero distance
  Tensor out({2}), da({2, 2});
  l2_per_sample(ctx, out, a, b);
  l2_per_sample_backward(ctx, da, Tensor::from_vector({1, 2}, {2}), a, b, out);
  std::vector<float> g = da.to_vector();
  EXPECT_EQ(g[0], 0.f);
  EXPECT_EQ(g[1], 0.f);
  EXPECT_NEAR(g[2], 2 * 3 / 5.0, 1e-6);
  EXPECT_NEAR(g[3], 2 * 4 / 5.0, 1e-6);
}

// ---- gradient checks -----------------------------------------------------------------------

// Checks d loss / d x for a fused loss: f() reruns the loss at the perturbed x.
template <class Op>
void loss_gradcheck(Tensor& x, Op op, const std::function<bool(int64_t)>& kink = nullptr,
                    int64_t want = -1) {
  Tensor loss({1}), dx(x.shape()), none;
  op(loss, dx);
  std::vector<float> g = dx.to_vector();
  auto f = [&]() {
    op(loss, none);
    return double(read_scalar(loss));
  };
  int64_t n =
      test::check_gradient(f, x.f32(), x.numel(), g.data(), 1e-3, Tol::kGradFloat, 300, 1, kink);
  if (want >= 0) {
    EXPECT_EQ(n, want);
  }
  EXPECT_GT(n, 0);
}

TEST(GradCheck, BceWithLogits) {
  Context ctx;
  Tensor z = random_tensor({5, 7}, 31, -3.f, 3.f);
  Tensor t = random_tensor({5, 7}, 32, 0.f, 1.f);  // soft targets too
  loss_gradcheck(
      z, [&](Tensor& l, Tensor& d) { bce_with_logits(ctx, l, d, z, t); }, nullptr, 35);
}

TEST(GradCheck, BceWithLogitsMaskPosWeight) {
  Context ctx;
  Tensor z = random_tensor({4, 5}, 33, -3.f, 3.f);
  std::vector<float> tv(20), mv(20);
  for (int i = 0; i < 20; ++i) {
    tv[size_t(i)] = float(i % 2);
    mv[size_t(i)] = i % 7 == 3 ? 0.f : 1.f;
  }
  Tensor t = Tensor::from_vector(tv, {4, 5}), m = Tensor::from_vector(mv, {4, 5});
  Tensor pw = Tensor::from_vector({0.5f, 1.f, 2.f, 4.f, 8.f}, {5});
  loss_gradcheck(
      z, [&](Tensor& l, Tensor& d) { bce_with_logits(ctx, l, d, z, t, &m, &pw); }, nullptr, 20);
}

TEST(GradCheck, L1Loss) {
  Context ctx;
  Tensor a = random_tensor({3, 11}, 34), b = random_tensor({3, 11}, 35);
  const float *ap = a.f32(), *bp = b.f32();
  loss_gradcheck(
      a, [&](Tensor& l, Tensor& d) { l1_loss(ctx, l, d, a, b); },
      [&](int64_t i) { return std::fabs(ap[i] - bp[i]) < 2e-3f; });
}

TEST(GradCheck, L2Loss) {
  Context ctx;
  Tensor a = random_tensor({3, 11}, 36), b = random_tensor({3, 11}, 37);
  loss_gradcheck(
      a, [&](Tensor& l, Tensor& d) { l2_loss(ctx, l, d, a, b); }, nullptr, 33);
}

TEST(GradCheck, L2PerSample) {
  Context ctx;
  Tensor a = random_tensor({4, 9}, 38), b = random_tensor({4, 9}, 39), out({4}), da({4, 9});
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    l2_per_sample(ctx, out, in, b);
    return out;
  };
  auto bwd = [&](const Tensor& dout) {
    fwd(a);
    l2_per_sample_backward(ctx, da, dout, a, b, out);
    return da;
  };
  EXPECT_EQ(test::grad_check_op(a, fwd, bwd), 36);
}

// ---- CUDA vs CPU ---------------------------------------------------------------------------

TEST(CudaVsCpu, BceWithLogits) {
  GBAD_REQUIRE_CUDA();
  std::vector<float> mv(64 * 5);
  for (size_t i = 0; i < mv.size(); ++i) mv[i] = i % 11 == 0 ? 0.f : 1.f;
  Tensor m = Tensor::from_vector(mv, {64, 5});
  cuda_vs_cpu({random_tensor({64, 5}, 1, -8.f, 8.f), random_tensor({64, 5}, 2, 0.f, 1.f), m,
               random_tensor({5}, 3, 0.5f, 3.f), Tensor({1}), Tensor({64, 5}), Tensor({1}),
               Tensor({64, 5})},
              [](Context& c, Ts& t) {
                bce_with_logits(c, t[4], t[5], t[0], t[1], &t[2], &t[3]);
                bce_with_logits(c, t[6], t[7], t[0], t[1]);
              });
}

TEST(CudaVsCpu, L1L2Losses) {
  GBAD_REQUIRE_CUDA();
  // Large enough for several partial-sum blocks.
  cuda_vs_cpu({random_tensor({50, 3001}, 1), random_tensor({50, 3001}, 2), Tensor({1}),
               Tensor({50, 3001}), Tensor({1}), Tensor({50, 3001})},
              [](Context& c, Ts& t) {
                l1_loss(c, t[2], t[3], t[0], t[1]);
                l2_loss(c, t[4], t[5], t[0], t[1]);
              });
}

TEST(CudaVsCpu, PerSampleScores) {
  GBAD_REQUIRE_CUDA();
  Tensor a = random_tensor({37, 133}, 1), b = random_tensor({37, 133}, 2);
  b.f32()[0] = a.f32()[0];
  cuda_vs_cpu({a, b, Tensor({37}), Tensor({37}), random_tensor({37}, 3), Tensor({37, 133})},
              [](Context& c, Ts& t) {
                l1_per_sample(c, t[2], t[0], t[1]);
                l2_per_sample(c, t[3], t[0], t[1]);
                l2_per_sample_backward(c, t[5], t[4], t[0], t[1], t[3]);
              });
}

TEST(CudaVsCpu, LossesRepeatBitIdentical) {
  GBAD_REQUIRE_CUDA();
  Context ctx(Device::CUDA);
  Tensor a = random_tensor({300, 1001}, 1, -1, 1, Device::CUDA);
  Tensor b = random_tensor({300, 1001}, 2, 0, 1, Device::CUDA);
  Tensor l1({1}, Device::CUDA), l2({1}, Device::CUDA), d({300, 1001}, Device::CUDA), none;
  bce_with_logits(ctx, l1, d, a, b);
  bce_with_logits(ctx, l2, none, a, b);
  EXPECT_EQ(read_scalar(l1), read_scalar(l2));
  l1_loss(ctx, l1, none, a, b);
  l1_loss(ctx, l2, d, a, b);
  EXPECT_EQ(read_scalar(l1), read_scalar(l2));
}

}  // namespace
}  // namespace gbad
