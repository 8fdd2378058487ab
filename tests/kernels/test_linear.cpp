#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/gemm.h"
#include "nn/layers.h"

namespace gbad {
namespace {

using test::Tol;

TEST(Linear, HandValues) {
  Context ctx;
  // x (2,3), W (2,3), b (2)
  Tensor x = Tensor::from_vector({1, 2, 3, -1, 0, 2}, {2, 3});
  Tensor w = Tensor::from_vector({1, 0, -1, 0.5f, 1, 2}, {2, 3});
  Tensor b = Tensor::from_vector({0.5f, -1}, {2});
  Tensor y({2, 2});
  linear_forward(ctx, y, x, w, &b);
  // row0: [1-3, 0.5+2+6] + b = [-1.5, 7.5]; row1: [-1-2, -0.5+0+4] + b = [-2.5, 2.5]
  test::expect_close(y.to_vector(), {-1.5f, 7.5f, -2.5f, 2.5f}, 0, Tol::kHand, "y");
  linear_forward(ctx, y, x, w, nullptr);
  test::expect_close(y.to_vector(), {-2.f, 8.5f, -3.f, 3.5f}, 0, Tol::kHand, "y no bias");

  Tensor dy = Tensor::from_vector({1, 2, -1, 1}, {2, 2});
  Tensor dx({2, 3}), dw = Tensor::from_vector({1, 1, 1, 1, 1, 1}, {2, 3}), db({2});
  db.fill(10.f);
  linear_backward(ctx, &dx, &dw, &db, dy, x, w);
  // dx = dy W: row0 [1+1, 0+2, -1+4] = [2, 2, 3]; row1 [-1+0.5, 1, 1+2] = [-0.5, 1, 3]
  test::expect_close(dx.to_vector(), {2, 2, 3, -0.5f, 1, 3}, 0, Tol::kHand, "dx");
  // dW += dy^T x: row0 = 1*[1,2,3] + -1*[-1,0,2] = [2,2,1]; row1 = 2*[1,2,3] + 1*[-1,0,2] =
  // [1,4,8]; plus the ones already there.
  test::expect_close(dw.to_vector(), {3, 3, 2, 2, 5, 9}, 0, Tol::kHand, "dW");
  test::expect_close(db.to_vector(), {10, 13}, 0, Tol::kHand, "db");
}

TEST(GradCheck, LinearDxDwDb) {
  const int64_t n = 3, in = 4, out = 5;
  std::vector<double> x = test::random_doubles(n * in, 1), w = test::random_doubles(out * in, 2),
                      b = test::random_doubles(out, 3), r = test::random_doubles(n * out, 4);
  std::vector<double> y(size_t(n * out));
  auto loss = [&] {
    cpu::linear_forward<double>(y.data(), x.data(), w.data(), b.data(), n, in, out);
    return test::dot(y, r);
  };
  std::vector<double> dx(x.size()), dw(w.size(), 0.0), db(b.size(), 0.0);
  cpu::linear_backward<double>(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), n, in,
                               out);
  EXPECT_GT(test::check_gradient(loss, x.data(), n * in, dx.data(), test::ConvTol::kStep,
                                 Tol::kGradDouble),
            0);
  EXPECT_GT(test::check_gradient(loss, w.data(), out * in, dw.data(), test::ConvTol::kStep,
                                 Tol::kGradDouble),
            0);
  EXPECT_GT(
      test::check_gradient(loss, b.data(), out, db.data(), test::ConvTol::kStep, Tol::kGradDouble),
      0);
}

TEST(LinearLayer, NamesInitAndAccumulation) {
  ParamStore ps;
  Linear fc(ps, "fc", 16, 8);
  Linear xav(ps, "enc.0", 16, 8, true, /*xavier=*/true);
  Linear nob(ps, "nob", 16, 8, false);
  ps.finalize(Device::CPU, 3);
  EXPECT_EQ(ps.entry(ps.at("fc.weight")).shape, Shape({8, 16}));
  EXPECT_EQ(ps.entry(ps.at("fc.bias")).shape, Shape({8}));
  EXPECT_LT(ps.find("nob.bias"), 0);
  const float bound = 1.f / 4.f;  // 1/sqrt(16)
  for (float v : ps.value(ps.at("fc.weight")).to_vector()) EXPECT_LE(std::fabs(v), bound);
  for (float v : ps.value(ps.at("fc.bias")).to_vector()) EXPECT_LE(std::fabs(v), bound);
  const float xa = std::sqrt(6.f / 24.f);
  float max_abs = 0;
  for (float v : ps.value(ps.at("enc.0.weight")).to_vector())
    max_abs = std::max(max_abs, std::fabs(v));
  EXPECT_LE(max_abs, xa);
  EXPECT_GT(max_abs, bound);  // wider than the default bound: really Xavier
  for (float v : ps.value(ps.at("enc.0.bias")).to_vector()) EXPECT_EQ(v, 0.f);

  Context ctx;
  Tensor x = test::random_tensor({4, 16}, 9), dy = test::random_tensor({4, 8}, 10);
  fc.forward(ctx, x);
  Tensor dx1 = fc.backward(ctx, dy).clone();
  std::vector<float> g1 = ps.grad(ps.at("fc.weight")).to_vector();
  fc.forward(ctx, x);
  const Tensor& dx2 = fc.backward(ctx, dy);
  std::vector<float> g2 = ps.grad(ps.at("fc.weight")).to_vector();
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(g2[i], 2 * g1[i], 1e-5);
  test::expect_close(dx2, dx1, 0, 1e-6, "dx overwritten, not accumulated");
  fc.set_input_grad(false);
  EXPECT_FALSE(fc.backward(ctx, dy).defined());
  ps.zero_grad();
  for (float v : ps.grads().to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(CudaVsCpu, LinearForwardBackward) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  const int64_t n = 7, in = 33, out = 13;
  Tensor x = test::random_tensor({n, in}, 1), w = test::random_tensor({out, in}, 2),
         b = test::random_tensor({out}, 3), dy = test::random_tensor({n, out}, 4);
  Tensor y({n, out}), dx({n, in}), dw = test::random_tensor({out, in}, 5),
                                   db = test::random_tensor({out}, 6);
  Tensor gx = x.to(Device::CUDA), gw = w.to(Device::CUDA), gb = b.to(Device::CUDA),
         gdy = dy.to(Device::CUDA), gy({n, out}, Device::CUDA), gdx({n, in}, Device::CUDA),
         gdw = dw.to(Device::CUDA), gdb = db.to(Device::CUDA);
  linear_forward(cpu_ctx, y, x, w, &b);
  linear_forward(gpu_ctx, gy, gx, gw, &gb);
  linear_backward(cpu_ctx, &dx, &dw, &db, dy, x, w);
  linear_backward(gpu_ctx, &gdx, &gdw, &gdb, gdy, gx, gw);
  test::expect_close(gy.to(Device::CPU), y, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "y");
  test::expect_close(gdx.to(Device::CPU), dx, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dx");
  test::expect_close(gdw.to(Device::CPU), dw, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dW");
  test::expect_close(gdb.to(Device::CPU), db, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "db");
}

}  // namespace
}  // namespace gbad
