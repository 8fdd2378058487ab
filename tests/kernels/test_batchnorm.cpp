#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_body.h"
#include "nn/layers.h"

namespace gbad {
namespace {

using test::ConvTol;
using test::Tol;

// N=2, C=2, H=1, W=2. Channel 0 holds {1, 2, 3, 6}: mean 3, sum of squares 14, biased var 3.5,
// unbiased 14/3. Channel 1 holds {0, 0, 4, -4}: mean 0, squares 32, var 8, unbiased 32/3.
const std::vector<float> kX = {1, 2, 0, 0, 3, 6, 4, -4};
constexpr float kEps = 1e-5f;

TEST(BatchNorm2d, TrainForwardHandValues) {
  Context ctx;
  Tensor x = Tensor::from_vector(kX, {2, 2, 1, 2});
  Tensor gamma = Tensor::from_vector({2, 0.5f}, {2}), beta = Tensor::from_vector({1, -1}, {2});
  Tensor rm = Tensor::zeros({2}), rv({2}), y({2, 2, 1, 2}), mean({2}), invstd({2});
  rv.fill(1.f);
  batchnorm2d_forward_train(ctx, y, mean, invstd, rm, rv, x, gamma, beta, kEps, 0.1f);
  const double i0 = 1 / std::sqrt(3.5 + 1e-5), i1 = 1 / std::sqrt(8.0 + 1e-5);
  std::vector<float> want = {float(2 * (1 - 3) * i0 + 1),
                             float(2 * (2 - 3) * i0 + 1),
                             float(-1),
                             float(-1),
                             float(2 * (3 - 3) * i0 + 1),
                             float(2 * (6 - 3) * i0 + 1),
                             float(0.5 * 4 * i1 - 1),
                             float(0.5 * -4 * i1 - 1)};
  test::expect_close(y.to_vector(), want, 1e-6, 1e-6, "y");
  test::expect_close(mean.to_vector(), {3.f, 0.f}, 0, 1e-6, "save_mean");
  test::expect_close(invstd.to_vector(), {float(i0), float(i1)}, 1e-6, 0, "save_invstd");
  // One step of momentum 0.1 from (0, 1), with the UNBIASED variance.
  test::expect_close(rm.to_vector(), {0.3f, 0.f}, 0, 1e-6, "running_mean");
  test::expect_close(rv.to_vector(), {float(0.9 + 0.1 * 14 / 3.0), float(0.9 + 0.1 * 32 / 3.0)},
                     1e-6, 0, "running_var");
  EXPECT_THROW(batchnorm2d_forward_train(ctx, y, mean, invstd, rm, rv, x, beta, gamma.view(0, {1}),
                                         kEps, 0.1f),
               Error);
}

TEST(BatchNorm2dLayer, RunningStatsAfterTwoStepsAndEvalMode) {
  ParamStore ps;
  BatchNorm2d bn(ps, "bn1", 2);
  BatchNorm2d bnz(ps, "layer1.0.bn2", 3, 1e-5f, 0.1f, /*zero_init_weight=*/true);
  ps.finalize(Device::CPU, 0);
  EXPECT_EQ(ps.entry(ps.at("bn1.num_batches_tracked")).shape, Shape{});
  EXPECT_FALSE(ps.entry(ps.at("bn1.running_var")).trainable);
  EXPECT_TRUE(ps.entry(ps.at("bn1.weight")).trainable);
  test::expect_close(ps.value(ps.at("bn1.weight")).to_vector(), {1, 1}, 0, 0, "weight init");
  test::expect_close(ps.value(ps.at("layer1.0.bn2.weight")).to_vector(), {0, 0, 0}, 0, 0,
                     "zero-init weight");
  test::expect_close(ps.value(ps.at("bn1.running_var")).to_vector(), {1, 1}, 0, 0, "rv init");

  Context ctx;
  Tensor x1 = Tensor::from_vector(kX, {2, 2, 1, 2});
  std::vector<float> x2v = kX;
  for (float& v : x2v) v = 2 * v + 1;  // mean 2m+1, unbiased var 4x
  Tensor x2 = Tensor::from_vector(x2v, {2, 2, 1, 2});
  bn.forward(ctx, x1);
  bn.forward(ctx, x2);
  // ch0: means 3, 7; unbiased vars 14/3, 56/3. ch1: means 0, 1; vars 32/3, 128/3.
  const double rm0 = 0.9 * 0.3 + 0.1 * 7, rm1 = 0.9 * 0.0 + 0.1 * 1;
  const double rv0 = 0.9 * (0.9 + 0.1 * 14 / 3.0) + 0.1 * 56 / 3.0;
  const double rv1 = 0.9 * (0.9 + 0.1 * 32 / 3.0) + 0.1 * 128 / 3.0;
  test::expect_close(ps.value(ps.at("bn1.running_mean")).to_vector(), {float(rm0), float(rm1)},
                     1e-6, 1e-7, "running_mean");
  test::expect_close(ps.value(ps.at("bn1.running_var")).to_vector(), {float(rv0), float(rv1)}, 1e-6,
                     0, "running_var");
  EXPECT_EQ(ps.value(ps.at("bn1.num_batches_tracked")).to_vector()[0], 2.f);

  // Eval: running statistics, no update, counter unchanged.
  bn.set_training(false);
  const Tensor& y = bn.forward(ctx, x1);
  std::vector<float> want(kX.size());
  for (size_t i = 0; i < kX.size(); ++i) {
    size_t ch = (i / 2) % 2;
    double m = ch ? rm1 : rm0, v = ch ? rv1 : rv0;
    want[i] = float((kX[i] - m) / std::sqrt(v + 1e-5));
  }
  test::expect_close(y.to_vector(), want, 1e-5, 1e-6, "eval y");
  test::expect_close(ps.value(ps.at("bn1.running_mean")).to_vector(), {float(rm0), float(rm1)},
                     1e-6, 1e-7, "running_mean unchanged in eval");
  EXPECT_EQ(ps.value(ps.at("bn1.num_batches_tracked")).to_vector()[0], 2.f);
}

struct BnData {
  int64_t n = 3, c = 4, hw = 5;  // odd sizes
  std::vector<double> x, gamma, beta, r, rm, rv;
  BnData() {
    x = test::random_doubles(n * c * hw, 1);
    for (double& v : x) v = 3 * v + 0.5;  // not already normalised
    gamma = test::random_doubles(c, 2);
    beta = test::random_doubles(c, 3);
    r = test::random_doubles(n * c * hw, 4);
    rm = test::random_doubles(c, 5);
    rv = test::random_doubles(c, 6);
    for (double& v : rv) v = 1.5 + v;  // positive
  }
};

TEST(GradCheck, BatchNorm2dTrainDxDgammaDbeta) {
  BnData d;
  std::vector<double> y(d.x.size()), mean(size_t(d.c)), invstd(size_t(d.c));
  auto loss = [&] {
    cpu::batchnorm2d_forward_train<double>(y.data(), mean.data(), invstd.data(), nullptr, nullptr,
                                           d.x.data(), d.gamma.data(), d.beta.data(), d.n, d.c,
                                           d.hw, 1e-5, 0.1);
    return test::dot(y, d.r);
  };
  loss();
  std::vector<double> dx(d.x.size(), 7.0), dg(size_t(d.c), 0.0), db(size_t(d.c), 0.0);
  cpu::batchnorm2d_backward<double>(dx.data(), dg.data(), db.data(), d.r.data(), d.x.data(),
                                    d.gamma.data(), mean.data(), invstd.data(), d.n, d.c, d.hw);
  EXPECT_GT(test::check_gradient(loss, d.x.data(), int64_t(d.x.size()), dx.data(), ConvTol::kStep,
                                 Tol::kGradDouble),
            0);
  EXPECT_GT(
      test::check_gradient(loss, d.gamma.data(), d.c, dg.data(), ConvTol::kStep, Tol::kGradDouble),
      0);
  EXPECT_GT(
      test::check_gradient(loss, d.beta.data(), d.c, db.data(), ConvTol::kStep, Tol::kGradDouble),
      0);
}

TEST(GradCheck, BatchNorm2dEvalDxDgammaDbeta) {
  BnData d;
  std::vector<double> y(d.x.size());
  auto loss = [&] {
    cpu::batchnorm2d_forward_eval<double>(y.data(), d.x.data(), d.gamma.data(), d.beta.data(),
                                          d.rm.data(), d.rv.data(), d.n, d.c, d.hw, 1e-5);
    return test::dot(y, d.r);
  };
  std::vector<double> dx(d.x.size(), 7.0), dg(size_t(d.c), 0.0), db(size_t(d.c), 0.0);
  cpu::batchnorm2d_backward_eval<double>(dx.data(), dg.data(), db.data(), d.r.data(), d.x.data(),
                                         d.gamma.data(), d.rm.data(), d.rv.data(), d.n, d.c, d.hw,
                                         1e-5);
  EXPECT_GT(test::check_gradient(loss, d.x.data(), int64_t(d.x.size()), dx.data(), ConvTol::kStep,
                                 Tol::kGradDouble),
            0);
  EXPECT_GT(
      test::check_gradient(loss, d.gamma.data(), d.c, dg.data(), ConvTol::kStep, Tol::kGradDouble),
      0);
  EXPECT_GT(
      test::check_gradient(loss, d.beta.data(), d.c, db.data(), ConvTol::kStep, Tol::kGradDouble),
      0);
}

// The CUDA eval-backward bodies driven through CPU loops against the plain-loop reference.
TEST(BatchNormBodies, EvalBackwardMatchesReference) {
  const int64_t n = 3, c = 4, hw = 7;
  const float eps = 1e-5f;
  std::vector<float> x = test::random_vector(n * c * hw, 1),
                     dy = test::random_vector(n * c * hw, 2);
  std::vector<float> gamma = test::random_vector(c, 3), rm = test::random_vector(c, 4);
  std::vector<float> rv = test::random_vector(c, 5, 0.5f, 2.f);
  std::vector<float> dx_ref(x.size()), dg_ref(size_t(c), 1.f), db_ref(size_t(c), 2.f);
  cpu::batchnorm2d_backward_eval<float>(dx_ref.data(), dg_ref.data(), db_ref.data(), dy.data(),
                                        x.data(), gamma.data(), rm.data(), rv.data(), n, c, hw,
                                        eps);
  std::vector<float> dx(x.size()), dg(size_t(c), 1.f), db(size_t(c), 2.f);
  for (int64_t i = 0; i < n * c * hw; ++i)
    bn_eval_dx_body(i, dx.data(), dy.data(), gamma.data(), rv.data(), eps, c, hw);
  const int64_t threads = 5;  // as the kernel: partial sums per thread, then a reduction
  for (int64_t ch = 0; ch < c; ++ch) {
    float sdy = 0, sdyx = 0;
    for (int64_t t = 0; t < threads; ++t) {
      float a, b;
      bn_eval_param_partial(ch, t, threads, dy.data(), x.data(), rm.data(), rv.data(), eps, n, c,
                            hw, &a, &b);
      sdy += a;
      sdyx += b;
    }
    dg[size_t(ch)] += sdyx;
    db[size_t(ch)] += sdy;
  }
  test::expect_close(dx, dx_ref, 1e-6, 1e-7, "dx");
  test::expect_close(dg, dg_ref, 1e-5, 1e-6, "dgamma");
  test::expect_close(db, db_ref, 1e-5, 1e-6, "dbeta");
}

TEST(BatchNorm2dLayer, BackwardAccumulatesAndSkipsDx) {
  ParamStore ps;
  BatchNorm2d bn(ps, "bn", 3);
  ps.finalize(Device::CPU, 0);
  Context ctx;
  Tensor x = test::random_tensor({2, 3, 4, 5}, 1), dy = test::random_tensor({2, 3, 4, 5}, 2);
  bn.forward(ctx, x);
  Tensor dx1 = bn.backward(ctx, dy).clone();
  std::vector<float> g1 = ps.grads().to_vector();
  bn.forward(ctx, x);
  const Tensor& dx2 = bn.backward(ctx, dy);
  std::vector<float> g2 = ps.grads().to_vector();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], 2 * g1[i], 1e-5);
  test::expect_close(dx2, dx1, 0, 1e-6, "dx overwritten");
  bn.set_input_grad(false);
  EXPECT_FALSE(bn.backward(ctx, dy).defined());
}

TEST(CudaVsCpu, BatchNorm2dTrainForwardBackward) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  const Shape xs = {3, 5, 7, 9};
  const int64_t c = 5;
  Tensor x = test::random_tensor(xs, 1, -2.f, 3.f), dy = test::random_tensor(xs, 2);
  Tensor gamma = test::random_tensor({c}, 3), beta = test::random_tensor({c}, 4);
  Tensor rm = test::random_tensor({c}, 5), rv = test::random_tensor({c}, 6, 0.5f, 2.f);
  Tensor dg = test::random_tensor({c}, 7), db = test::random_tensor({c}, 8);
  Tensor y(xs), mean({c}), invstd({c}), dx(xs);
  auto g = [](const Tensor& t) { return t.to(Device::CUDA); };
  Tensor gx = g(x), gdy = g(dy), ggamma = g(gamma), gbeta = g(beta), grm = g(rm), grv = g(rv),
         gdg = g(dg), gdb = g(db), gy(xs, Device::CUDA), gmean({c}, Device::CUDA),
         ginvstd({c}, Device::CUDA), gdx(xs, Device::CUDA);
  batchnorm2d_forward_train(cpu_ctx, y, mean, invstd, rm, rv, x, gamma, beta, kEps, 0.1f);
  batchnorm2d_forward_train(gpu_ctx, gy, gmean, ginvstd, grm, grv, gx, ggamma, gbeta, kEps, 0.1f);
  batchnorm2d_backward(cpu_ctx, &dx, &dg, &db, dy, x, gamma, mean, invstd, kEps);
  batchnorm2d_backward(gpu_ctx, &gdx, &gdg, &gdb, gdy, gx, ggamma, gmean, ginvstd, kEps);
  const double rel = Tol::kCudaVsCpuRel, abs = Tol::kCudaVsCpuAbs;
  test::expect_close(gy.to(Device::CPU), y, rel, abs, "y");
  test::expect_close(gmean.to(Device::CPU), mean, rel, abs, "save_mean");
  test::expect_close(ginvstd.to(Device::CPU), invstd, rel, abs, "save_invstd");
  test::expect_close(grm.to(Device::CPU), rm, rel, abs, "running_mean");
  test::expect_close(grv.to(Device::CPU), rv, rel, abs, "running_var");
  test::expect_close(gdx.to(Device::CPU), dx, rel, abs, "dx");
  test::expect_close(gdg.to(Device::CPU), dg, rel, abs, "dgamma");
  test::expect_close(gdb.to(Device::CPU), db, rel, abs, "dbeta");
}

TEST(CudaVsCpu, BatchNorm2dEvalForwardBackward) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  const Shape xs = {2, 3, 5, 11};
  const int64_t c = 3;
  Tensor x = test::random_tensor(xs, 1), dy = test::random_tensor(xs, 2);
  Tensor gamma = test::random_tensor({c}, 3), beta = test::random_tensor({c}, 4);
  Tensor rm = test::random_tensor({c}, 5), rv = test::random_tensor({c}, 6, 0.5f, 2.f);
  Tensor dg = test::random_tensor({c}, 7), db = test::random_tensor({c}, 8);
  Tensor y(xs), dx(xs);
  auto g = [](const Tensor& t) { return t.to(Device::CUDA); };
  Tensor gx = g(x), gdy = g(dy), ggamma = g(gamma), gbeta = g(beta), grm = g(rm), grv = g(rv),
         gdg = g(dg), gdb = g(db), gy(xs, Device::CUDA), gdx(xs, Device::CUDA);
  batchnorm2d_forward_eval(cpu_ctx, y, x, gamma, beta, rm, rv, kEps);
  batchnorm2d_forward_eval(gpu_ctx, gy, gx, ggamma, gbeta, grm, grv, kEps);
  batchnorm2d_backward_eval(cpu_ctx, &dx, &dg, &db, dy, x, gamma, rm, rv, kEps);
  batchnorm2d_backward_eval(gpu_ctx, &gdx, &gdg, &gdb, gdy, gx, ggamma, grm, grv, kEps);
  const double rel = Tol::kCudaVsCpuRel, abs = Tol::kCudaVsCpuAbs;
  test::expect_close(gy.to(Device::CPU), y, rel, abs, "y");
  test::expect_close(gdx.to(Device::CPU), dx, rel, abs, "dx");
  test::expect_close(gdg.to(Device::CPU), dg, rel, abs, "dgamma");
  test::expect_close(gdb.to(Device::CPU), db, rel, abs, "dbeta");
}

TEST(CudaVsCpu, BatchNorm2dLayerCountsBatches) {
  GBAD_REQUIRE_CUDA();
  ParamStore ps;
  BatchNorm2d bn(ps, "bn", 4);
  ps.finalize(Device::CUDA, 0);
  Context ctx(Device::CUDA);
  Tensor x = test::random_tensor({2, 4, 3, 3}, 1, -1.f, 1.f, Device::CUDA);
  bn.forward(ctx, x);
  bn.forward(ctx, x);
  bn.forward(ctx, x);
  EXPECT_EQ(ps.value(ps.at("bn.num_batches_tracked")).to_vector()[0], 3.f);
}

}  // namespace
}  // namespace gbad
