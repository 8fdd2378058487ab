#include <gtest/gtest.h>

#include <cmath>

#include "core/philox.h"
#include "kernels/elementwise.h"
#include "kernels/k2_test_util.h"

namespace gbad {
namespace {

using test::expect_close;
using test::grad_check_op;
using test::random_tensor;
using test::Tol;

std::vector<float> vals(const Tensor& t) {
  return t.to_vector();
}

TEST(Elementwise, ActivationsHandValues) {
  Context ctx;
  Tensor x = Tensor::from_vector({-2.f, -0.5f, 0.f, 0.5f, 3.f, -100.f, 100.f}, {7});
  Tensor y({7});
  relu_forward(ctx, y, x);
  EXPECT_EQ(vals(y), (std::vector<float>{0, 0, 0, 0.5f, 3, 0, 100}));
  leaky_relu_forward(ctx, y, x, 0.1f);
  expect_close(vals(y), {-0.2f, -0.05f, 0, 0.5f, 3, -10.f, 100}, 1e-6, 1e-7, "leaky");
  sigmoid_forward(ctx, y, x);
  std::vector<float> want;
  for (float v : vals(x)) want.push_back(float(1.0 / (1.0 + std::exp(-double(v)))));
  expect_close(vals(y), want, 1e-6, 1e-7, "sigmoid");
  for (float v : vals(y)) EXPECT_TRUE(std::isfinite(v));
  tanh_forward(ctx, y, x);
  want.clear();
  for (float v : vals(x)) want.push_back(float(std::tanh(double(v))));
  expect_close(vals(y), want, 1e-6, 1e-7, "tanh");
}

TEST(Elementwise, BackwardHandValues) {
  Context ctx;
  Tensor x = Tensor::from_vector({-2.f, 0.5f, 3.f}, {3});
  Tensor dy = Tensor::from_vector({1.f, 2.f, -3.f}, {3});
  Tensor y({3}), dx({3});
  relu_forward(ctx, y, x);
  relu_backward(ctx, dx, dy, y);
  EXPECT_EQ(vals(dx), (std::vector<float>{0, 2, -3}));
  leaky_relu_backward(ctx, dx, dy, x, 0.2f);
  expect_close(vals(dx), {0.2f, 2, -3}, 1e-6, 0, "leaky");
  Tensor s = Tensor::from_vector({0.25f, 0.5f, 0.9f}, {3});
  sigmoid_backward(ctx, dx, dy, s);
  expect_close(vals(dx), {0.1875f, 0.5f, -3 * 0.09f}, 1e-6, 1e-7, "sigmoid");
  tanh_backward(ctx, dx, dy, s);
  expect_close(vals(dx), {0.9375f, 1.5f, -3 * 0.19f}, 1e-6, 1e-7, "tanh");
}

TEST(Elementwise, ReluInPlace) {
  Context ctx;
  Tensor x = Tensor::from_vector({-1.f, 2.f}, {2});
  relu_forward(ctx, x, x);
  EXPECT_EQ(vals(x), (std::vector<float>{0, 2}));
}

TEST(Elementwise, SumsAndScalings) {
  Context ctx;
  Tensor a = Tensor::from_vector({1, 2, 3}, {3}), b = Tensor::from_vector({10, 20, 30}, {3});
  Tensor y({3});
  add(ctx, y, a, b);
  EXPECT_EQ(vals(y), (std::vector<float>{11, 22, 33}));
  add_inplace(ctx, y, a);
  EXPECT_EQ(vals(y), (std::vector<float>{12, 24, 36}));
  scale_inplace(ctx, y, 0.5f);
  EXPECT_EQ(vals(y), (std::vector<float>{6, 12, 18}));
  axpby(ctx, y, 2.f, a, -1.f);  // 2a - y
  EXPECT_EQ(vals(y), (std::vector<float>{-4, -8, -12}));
  add(ctx, a, a, b);  // aliasing output
  EXPECT_EQ(vals(a), (std::vector<float>{11, 22, 33}));
}

TEST(Elementwise, Concat1AndSplit1) {
  Context ctx;
  // 2-D rows.
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2}), b = Tensor::from_vector({5, 6}, {2, 1});
  Tensor y({2, 3});
  concat1(ctx, y, a, b);
  EXPECT_EQ(vals(y), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  Tensor da({2, 2}), db({2, 1});
  split1(ctx, da, db, y);
  EXPECT_EQ(vals(da), vals(a));
  EXPECT_EQ(vals(db), vals(b));
  // 4-D: (1,1,2,1) + (1,2,2,1) -> (1,3,2,1).
  Tensor a4 = Tensor::from_vector({1, 2}, {1, 1, 2, 1});
  Tensor b4 = Tensor::from_vector({3, 4, 5, 6}, {1, 2, 2, 1});
  Tensor y4({1, 3, 2, 1});
  concat1(ctx, y4, a4, b4);
  EXPECT_EQ(vals(y4), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // Only one part wanted.
  Tensor none, db4({1, 2, 2, 1});
  split1(ctx, none, db4, y4);
  EXPECT_EQ(vals(db4), vals(b4));
  Tensor bad({2, 4});
  EXPECT_THROW(concat1(ctx, bad, a, b), Error);
}

TEST(Elementwise, ChecksDevicesAndShapes) {
  Context ctx;
  Tensor x({3}), y({4});
  EXPECT_THROW(relu_forward(ctx, y, x), Error);
  Tensor undefined;
  EXPECT_THROW(relu_forward(ctx, undefined, x), Error);
  Tensor m({3});
  EXPECT_THROW(dropout_forward(ctx, x, m, x, 1.f, 0, 0), Error);
}

TEST(Elementwise, DropoutMaskFromPhilox) {
  Context ctx;
  const float p = 0.3f;
  Tensor x = random_tensor({4, 257}, 3), y({4, 257}), m({4, 257});
  dropout_forward(ctx, y, m, x, p, 42, 7);
  std::vector<float> xv = vals(x), yv = vals(y), mv = vals(m);
  int64_t dropped = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    const bool keep = rng_uniform(42, 7, i) >= p;
    EXPECT_EQ(mv[i], keep ? 1.f / (1.f - p) : 0.f);
    EXPECT_EQ(yv[i], xv[i] * mv[i]);
    dropped += keep ? 0 : 1;
  }
  EXPECT_NEAR(double(dropped) / double(xv.size()), p, 0.05);
  // Same stream: same mask; another offset: another mask.
  Tensor m2({4, 257}), m3({4, 257});
  dropout_forward(ctx, y, m2, x, p, 42, 7);
  test::expect_bits_equal(m, m2, "same stream");
  dropout_forward(ctx, y, m3, x, p, 42, 8);
  EXPECT_NE(vals(m), vals(m3));
  Tensor dy = random_tensor({4, 257}, 5), dx({4, 257});
  dropout_backward(ctx, dx, dy, m);
  std::vector<float> dyv = vals(dy), dxv = vals(dx);
  for (size_t i = 0; i < dyv.size(); ++i) EXPECT_EQ(dxv[i], dyv[i] * mv[i]);
}

// ---- gradient checks -----------------------------------------------------------------------

TEST(GradCheck, Relu) {
  Context ctx;
  Tensor x = random_tensor({3, 7, 5}, 11), y, dx;
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    y.resize(in.shape());
    relu_forward(ctx, y, in);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    dx.resize(dy.shape());
    relu_backward(ctx, dx, dy, y);
    return dx;
  };
  const float* xp = x.f32();
  EXPECT_GT(grad_check_op(x, fwd, bwd, [&](int64_t i) { return std::fabs(xp[i]) < 2e-3f; }), 50);
}

TEST(GradCheck, LeakyRelu) {
  Context ctx;
  Tensor x = random_tensor({5, 13}, 12), y, dx;
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    y.resize(in.shape());
    leaky_relu_forward(ctx, y, in, 0.1f);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    dx.resize(dy.shape());
    leaky_relu_backward(ctx, dx, dy, x, 0.1f);
    return dx;
  };
  const float* xp = x.f32();
  EXPECT_GT(grad_check_op(x, fwd, bwd, [&](int64_t i) { return std::fabs(xp[i]) < 2e-3f; }), 50);
}

TEST(GradCheck, Sigmoid) {
  Context ctx;
  Tensor x = random_tensor({3, 11}, 13, -4.f, 4.f), y, dx;
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    y.resize(in.shape());
    sigmoid_forward(ctx, y, in);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    fwd(x);
    dx.resize(dy.shape());
    sigmoid_backward(ctx, dx, dy, y);
    return dx;
  };
  EXPECT_EQ(grad_check_op(x, fwd, bwd), 33);
}

TEST(GradCheck, Tanh) {
  Context ctx;
  Tensor x = random_tensor({2, 3, 3, 3}, 14, -2.f, 2.f), y, dx;
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    y.resize(in.shape());
    tanh_forward(ctx, y, in);
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    fwd(x);
    dx.resize(dy.shape());
    tanh_backward(ctx, dx, dy, y);
    return dx;
  };
  EXPECT_EQ(grad_check_op(x, fwd, bwd), 54);
}

TEST(GradCheck, Concat1) {
  Context ctx;
  Tensor a = random_tensor({2, 3, 2, 3}, 15), b = random_tensor({2, 2, 2, 3}, 16);
  Tensor y({2, 5, 2, 3}), da({2, 3, 2, 3}), db({2, 2, 2, 3});
  auto fwd_a = [&](const Tensor& in) -> const Tensor& {
    concat1(ctx, y, in, b);
    return y;
  };
  auto bwd_a = [&](const Tensor& dy) {
    split1(ctx, da, db, dy);
    return da;
  };
  EXPECT_EQ(grad_check_op(a, fwd_a, bwd_a), 36);
  auto fwd_b = [&](const Tensor& in) -> const Tensor& {
    concat1(ctx, y, a, in);
    return y;
  };
  auto bwd_b = [&](const Tensor& dy) {
    split1(ctx, da, db, dy);
    return db;
  };
  EXPECT_EQ(grad_check_op(b, fwd_b, bwd_b), 24);
}

TEST(GradCheck, Dropout) {
  Context ctx;
  Tensor x = random_tensor({4, 9}, 17), y({4, 9}), m({4, 9}), dx({4, 9});
  auto fwd = [&](const Tensor& in) -> const Tensor& {
    dropout_forward(ctx, y, m, in, 0.4f, 3, 5);  // same stream: same mask every evaluation
    return y;
  };
  auto bwd = [&](const Tensor& dy) {
    dropout_backward(ctx, dx, dy, m);
    return dx;
  };
  EXPECT_EQ(grad_check_op(x, fwd, bwd), 36);
}

// ---- CUDA vs CPU ---------------------------------------------------------------------------

using test::cuda_vs_cpu;
using test::Ts;

TEST(CudaVsCpu, ReluForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({3, 1000}, 1), Tensor({3, 1000}), random_tensor({3, 1000}, 2),
               Tensor({3, 1000})},
              [](Context& c, Ts& t) {
                relu_forward(c, t[1], t[0]);
                relu_backward(c, t[3], t[2], t[1]);
              });
}

TEST(CudaVsCpu, LeakyReluForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({777}, 1), Tensor({777}), random_tensor({777}, 2), Tensor({777})},
              [](Context& c, Ts& t) {
                leaky_relu_forward(c, t[1], t[0], 0.1f);
                leaky_relu_backward(c, t[3], t[2], t[0], 0.1f);
              });
}

TEST(CudaVsCpu, SigmoidForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({5, 301}, 1, -20.f, 20.f), Tensor({5, 301}),
               random_tensor({5, 301}, 2), Tensor({5, 301})},
              [](Context& c, Ts& t) {
                sigmoid_forward(c, t[1], t[0]);
                sigmoid_backward(c, t[3], t[2], t[1]);
              });
}

TEST(CudaVsCpu, TanhForwardBackward) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({2, 3, 17, 5}, 1, -5.f, 5.f), Tensor({2, 3, 17, 5}),
               random_tensor({2, 3, 17, 5}, 2), Tensor({2, 3, 17, 5})},
              [](Context& c, Ts& t) {
                tanh_forward(c, t[1], t[0]);
                tanh_backward(c, t[3], t[2], t[1]);
              });
}

TEST(CudaVsCpu, AddScaleAxpby) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu({random_tensor({1025}, 1), random_tensor({1025}, 2), Tensor({1025}),
               random_tensor({1025}, 3)},
              [](Context& c, Ts& t) {
                add(c, t[2], t[0], t[1]);
                add_inplace(c, t[3], t[2]);
                scale_inplace(c, t[3], 0.37f);
                axpby(c, t[3], -1.5f, t[0], 0.25f);
              });
}

TEST(CudaVsCpu, Concat1Split1) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu(
      {random_tensor({3, 5, 4, 7}, 1), random_tensor({3, 2, 4, 7}, 2), Tensor({3, 7, 4, 7}),
       Tensor({3, 5, 4, 7}), Tensor({3, 2, 4, 7}), random_tensor({6, 9}, 3),
       random_tensor({6, 4}, 4), Tensor({6, 13})},
      [](Context& c, Ts& t) {
        concat1(c, t[2], t[0], t[1]);
        split1(c, t[3], t[4], t[2]);
        concat1(c, t[7], t[5], t[6]);
      },
      true);
}

TEST(CudaVsCpu, DropoutForwardBackward) {
  GBAD_REQUIRE_CUDA();
  // The mask must be bit-identical: both backends draw from the same Philox stream.
  cuda_vs_cpu(
      {random_tensor({17, 333}, 1), Tensor({17, 333}), Tensor({17, 333}),
       random_tensor({17, 333}, 2), Tensor({17, 333})},
      [](Context& c, Ts& t) {
        dropout_forward(c, t[1], t[2], t[0], 0.2f, 1234, 56);
        dropout_backward(c, t[4], t[3], t[2]);
      },
      true);
}

}  // namespace
}  // namespace gbad
