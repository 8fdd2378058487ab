#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernels/k2_test_util.h"
#include "kernels/pooling.h"
#include "kernels/pooling_body.h"

namespace gbad {
namespace {

using test::cuda_vs_cpu;
using test::distinct_tensor;
using test::grad_check_op;
using test::random_tensor;
using test::Ts;

std::vector<int32_t> indices(const Tensor& argmax) {
  std::vector<int32_t> r;
  for (float f : argmax.to_vector()) r.push_back(maxpool_bits_to_index(f));
  return r;
}

TEST(Pooling, MaxPoolHandValues) {
  Context ctx;
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = float(i);
  Tensor x = Tensor::from_vector(v, {1, 1, 4, 4}), y({1, 1, 2, 2}), am({1, 1, 2, 2});
  maxpool2d_forward(ctx, y, am, x, 2, 2, 0);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{5, 7, 13, 15}));
  EXPECT_EQ(indices(am), (std::vector<int32_t>{5, 7, 13, 15}));
}

TEST(Pooling, MaxPoolPaddingNeverWins) {
  Context ctx;
  // All negative: a zero from the padding would win if it were allowed to.
  Tensor x = Tensor::from_vector({-1, -2, -3, -4, -5, -6, -7, -8, -9}, {1, 1, 3, 3});
  Tensor y({1, 1, 2, 2}), am({1, 1, 2, 2});
  maxpool2d_forward(ctx, y, am, x, 3, 2, 1);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{-1, -2, -4, -5}));
  EXPECT_EQ(indices(am), (std::vector<int32_t>{0, 1, 3, 4}));
}

TEST(Pooling, MaxPoolTiesAndOverlapBackward) {
  Context ctx;
  // Ties: the first maximum in scan order wins.
  Tensor x = Tensor::from_vector({2, 2, 2, 2}, {1, 1, 2, 2}), y({1, 1, 1, 1}), am({1, 1, 1, 1});
  maxpool2d_forward(ctx, y, am, x, 2, 1, 0);
  EXPECT_EQ(indices(am), (std::vector<int32_t>{0}));
  // Overlapping windows sharing one maximum: its gradient is the sum.
  Tensor x2 = Tensor::from_vector({0, 0, 0, 0, 10, 0, 0, 0, 0}, {1, 1, 3, 3});
  Tensor y2({1, 1, 2, 2}), am2({1, 1, 2, 2}), dx({1, 1, 3, 3});
  maxpool2d_forward(ctx, y2, am2, x2, 3, 2, 1);
  EXPECT_EQ(y2.to_vector(), (std::vector<float>{10, 10, 10, 10}));
  maxpool2d_backward(ctx, dx, Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}), am2, 3, 2, 1);
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{0, 0, 0, 0, 10, 0, 0, 0, 0}));
  // Shape checks.
  Tensor bad({1, 1, 3, 3});
  EXPECT_THROW(maxpool2d_forward(ctx, bad, bad, x2, 3, 2, 1), Error);
  EXPECT_THROW(maxpool2d_forward(ctx, y2, am2, x2, 3, 2, 2), Error);  // 2p > k
}

TEST(Pooling, GlobalAvgPoolHandValues) {
  Context ctx;
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2}), y({1, 2});
  global_avgpool_forward(ctx, y, x);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{2.5f, 25.f}));
  Tensor dx({1, 2, 2, 2});
  global_avgpool_backward(ctx, dx, Tensor::from_vector({4, 8}, {1, 2}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{1, 1, 1, 1, 2, 2, 2, 2}));
}

TEST(Pooling, UpsampleNearestHandValues) {
  Context ctx;
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2}), y({1, 1, 4, 4});
  upsample_nearest_forward(ctx, y, x);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  Tensor dx({1, 1, 2, 2});
  upsample_nearest_backward(ctx, dx,
                            Tensor::from_vector(std::vector<float>(16, 1.f), {1, 1, 4, 4}));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{4, 4, 4, 4}));
}

TEST(Pooling, UpsampleNearestNonIntegerRatio) {
  Context ctx;
  // 5x7 -> 13x9: src = floor(dst * in / out) on each axis (torch's "nearest").
  Tensor x = random_tensor({2, 3, 5, 7}, 4), y({2, 3, 13, 9});
  upsample_nearest_forward(ctx, y, x);
  std::vector<float> xv = x.to_vector(), yv = y.to_vector();
  for (int pl = 0; pl < 6; ++pl)
    for (int oh = 0; oh < 13; ++oh)
      for (int ow = 0; ow < 9; ++ow) {
        int ih = int(std::floor(oh * 5.0 / 13.0)), iw = int(std::floor(ow * 7.0 / 9.0));
        EXPECT_EQ(yv[size_t((pl * 13 + oh) * 9 + ow)], xv[size_t((pl * 5 + ih) * 7 + iw)]);
      }
  // Backward: the gradient mass is conserved.
  Tensor dy = random_tensor({2, 3, 13, 9}, 5), dx({2, 3, 5, 7});
  upsample_nearest_backward(ctx, dx, dy);
  double s1 = 0, s2 = 0;
  for (float v : dy.to_vector()) s1 += v;
  for (float v : dx.to_vector()) s2 += v;
  EXPECT_NEAR(s1, s2, 1e-4);
}

// The fused FPN merge is the two ops in sequence (the 2x fast path and the general rule).
TEST(Pooling, UpsampleNearestAddIsUpsamplePlusAdd) {
  Context ctx;
  for (const Shape& ys : {Shape{2, 3, 10, 14}, Shape{2, 3, 13, 9}}) {
    Tensor x = random_tensor({2, 3, 5, 7}, 6), lat = random_tensor(ys, 7), y(ys), up(ys);
    upsample_nearest_add_forward(ctx, y, lat, x);
    upsample_nearest_forward(ctx, up, x);
    const std::vector<float> yv = y.to_vector(), uv = up.to_vector(), lv = lat.to_vector();
    for (size_t i = 0; i < yv.size(); ++i) ASSERT_EQ(yv[i], lv[i] + uv[i]) << i;
    Tensor dy = random_tensor(ys, 8), addend = random_tensor({2, 3, 5, 7}, 9), dx({2, 3, 5, 7}),
           dup({2, 3, 5, 7});
    upsample_nearest_add_backward(ctx, dx, dy, addend);
    upsample_nearest_backward(ctx, dup, dy);
    const std::vector<float> dv = dx.to_vector(), pv = dup.to_vector(), av = addend.to_vector();
    for (size_t i = 0; i < dv.size(); ++i) ASSERT_NEAR(dv[i], av[i] + pv[i], 1e-5f) << i;
  }
  Tensor x({2, 3, 5, 7}), y({2, 3, 10, 14}), bad({2, 3, 10, 13});
  EXPECT_THROW(upsample_nearest_add_forward(ctx, y, bad, x), Error);
  EXPECT_THROW(upsample_nearest_add_backward(ctx, x, y, bad), Error);
}

// ---- gradient checks -----------------------------------------------------------------------

void maxpool_gradcheck(const Shape& xs, int k, int s, int p, int64_t min_points) {
  Context ctx;
  Tensor x = distinct_tensor(xs, 21);
  const Shape ys = {xs[0], xs[1], maxpool2d_out_size(xs[2], k, s, p),
                    maxpool2d_out_size(xs[3], k, s, p)};
  Tensor y(ys), am(ys), dx(xs);
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    maxpool2d_forward(ctx, y, am, in, k, s, p);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    fwd(x);
    maxpool2d_backward(ctx, dx, dy, am, k, s, p);
    return dx;
  };
  EXPECT_GE(grad_check_op(x, fwd, bwd), min_points);
}

TEST(GradCheck, MaxPool2dK3S2P1) {
  maxpool_gradcheck({2, 3, 7, 9}, 3, 2, 1, 300);
}
TEST(GradCheck, MaxPool2dK2S2) {
  maxpool_gradcheck({1, 2, 6, 5}, 2, 2, 0, 60);
}

TEST(GradCheck, GlobalAvgPool) {
  Context ctx;
  Tensor x = random_tensor({2, 3, 5, 3}, 22), y({2, 3}), dx({2, 3, 5, 3});
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    global_avgpool_forward(ctx, y, in);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    global_avgpool_backward(ctx, dx, dy);
    return dx;
  };
  EXPECT_EQ(grad_check_op(x, fwd, bwd), 90);
}

void upsample_gradcheck(const Shape& xs, int64_t ho, int64_t wo) {
  Context ctx;
  Tensor x = random_tensor(xs, 23), y({xs[0], xs[1], ho, wo}), dx(xs);
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    upsample_nearest_forward(ctx, y, in);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    upsample_nearest_backward(ctx, dx, dy);
    return dx;
  };
  EXPECT_EQ(grad_check_op(x, fwd, bwd), std::min<int64_t>(x.numel(), 300));
}

TEST(GradCheck, UpsampleNearest5x7To13x9) {
  upsample_gradcheck({2, 2, 5, 7}, 13, 9);
}
TEST(GradCheck, UpsampleNearestDown9x6To4x5) {
  upsample_gradcheck({1, 2, 9, 6}, 4, 5);
}

// d(lat + up(x))/dx through the fused backward with a zero addend, 2x and non-integer ratio.
TEST(GradCheck, UpsampleNearestAdd) {
  for (const Shape& ys : {Shape{2, 2, 10, 14}, Shape{2, 2, 13, 9}}) {
    Context ctx;
    Tensor x = random_tensor({2, 2, 5, 7}, 23), lat = random_tensor(ys, 24), y(ys),
           dx({2, 2, 5, 7}), zero = Tensor::zeros({2, 2, 5, 7});
    auto fwd = [&](const Tensor& in) -> const Tensor& {
      upsample_nearest_add_forward(ctx, y, lat, in);
      return y;
    };
    auto bwd = [&](const Tensor& dy) {
      upsample_nearest_add_backward(ctx, dx, dy, zero);
      return dx;
    };
    EXPECT_EQ(grad_check_op(x, fwd, bwd), std::min<int64_t>(x.numel(), 300));
  }
}

// ---- CUDA vs CPU ---------------------------------------------------------------------------

TEST(CudaVsCpu, MaxPool2dForwardBackward) {
  GBAD_REQUIRE_CUDA();
  for (int cfg = 0; cfg < 2; ++cfg) {
    const int k = cfg ? 2 : 3, s = 2, p = cfg ? 0 : 1;
    const Shape xs = {3, 4, 17, 12};
    const Shape ys = {3, 4, maxpool2d_out_size(17, k, s, p), maxpool2d_out_size(12, k, s, p)};
    cuda_vs_cpu(
        {random_tensor(xs, 1), Tensor(ys), Tensor(ys), random_tensor(ys, 2), Tensor(xs)},
        [&](Context& c, Ts& t) {
          maxpool2d_forward(c, t[1], t[2], t[0], k, s, p);
          maxpool2d_backward(c, t[4], t[3], t[2], k, s, p);
        },
        true);
  }
}

TEST(CudaVsCpu, GlobalAvgPoolForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({4, 9, 7, 7}, 1), Tensor({4, 9}), random_tensor({4, 9}, 2),
               Tensor({4, 9, 7, 7})},
              [](Context& c, Ts& t) {
                global_avgpool_forward(c, t[1], t[0]);
                global_avgpool_backward(c, t[3], t[2]);
              });
}

TEST(CudaVsCpu, UpsampleNearestForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({2, 5, 5, 7}, 1), Tensor({2, 5, 13, 9}),
               random_tensor({2, 5, 13, 9}, 2), Tensor({2, 5, 5, 7}), Tensor({2, 5, 10, 14}),
               random_tensor({2, 5, 10, 14}, 3), Tensor({2, 5, 5, 7})},
              [](Context& c, Ts& t) {
                upsample_nearest_forward(c, t[1], t[0]);
                upsample_nearest_backward(c, t[3], t[2]);
                upsample_nearest_forward(c, t[4], t[0]);
                upsample_nearest_backward(c, t[6], t[5]);
              });
}

TEST(CudaVsCpu, UpsampleNearestAddForwardBackward) {
  GBAD_REQUIRE_CUDA();
  for (const Shape& ys : {Shape{2, 5, 10, 14}, Shape{2, 5, 13, 9}})
    cuda_vs_cpu({random_tensor({2, 5, 5, 7}, 1), random_tensor(ys, 2), Tensor(ys),
                 random_tensor(ys, 3), random_tensor({2, 5, 5, 7}, 4), Tensor({2, 5, 5, 7})},
                [](Context& c, Ts& t) {
                  upsample_nearest_add_forward(c, t[2], t[1], t[0]);
                  upsample_nearest_add_backward(c, t[5], t[3], t[4]);
                });
}

}  // namespace
}  // namespace gbad
