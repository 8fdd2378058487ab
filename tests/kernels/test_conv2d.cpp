#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/conv2d.h"
#include "nn/layers.h"

namespace gbad {
namespace {

using test::ConvTol;
using test::Tol;

struct ConvCase {
  const char* name;
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
  bool bias;
};

// 1x1, 1x1 stride 2, 3x3 stride 2 pad 1, 7x7 stride 2 pad 3, rectangular 3x1 and 1x3, odd
// input sizes (7x5), padding larger than needed.
const std::vector<ConvCase>& cases() {
  static const std::vector<ConvCase> c = {
      {"1x1", 2, 3, 5, 4, 4, 1, 1, {1, 1, 0, 0}, false},
      {"1x1_bias", 2, 5, 3, 3, 3, 1, 1, {1, 1, 0, 0}, true},
      {"1x1_s2", 2, 3, 7, 5, 4, 1, 1, {2, 2, 0, 0}, false},
      {"3x3_s1_p1", 2, 3, 6, 6, 4, 3, 3, {1, 1, 1, 1}, true},
      {"3x3_s2_p1", 2, 3, 7, 5, 5, 3, 3, {2, 2, 1, 1}, false},
      {"7x7_s2_p3", 1, 3, 9, 11, 4, 7, 7, {2, 2, 3, 3}, true},
      {"3x1_p1x0", 2, 2, 7, 5, 3, 3, 1, {1, 1, 1, 0}, true},
      {"1x3_s2x1", 1, 2, 5, 7, 3, 1, 3, {2, 1, 0, 1}, false},
      {"3x3_s1_p0_odd", 3, 2, 7, 5, 2, 3, 3, {1, 1, 0, 0}, true},
      {"5x3_p2x3", 1, 2, 4, 3, 2, 5, 3, {1, 2, 2, 3}, true},
  };
  return c;
}

TEST(Conv2d, ForwardMatchesDirectConvolution) {
  Context ctx;
  for (const ConvCase& cc : cases()) {
    SCOPED_TRACE(cc.name);
    Tensor x = test::random_tensor({cc.n, cc.c, cc.h, cc.w}, 1);
    Tensor w = test::random_tensor({cc.k, cc.c, cc.r, cc.s}, 2);
    Tensor b = test::random_tensor({cc.k}, 3);
    Conv2dShape s = conv2d_shape(x.shape(), w.shape(), cc.p);
    Tensor y(conv2d_output_shape(x.shape(), w.shape(), cc.p));
    EXPECT_EQ(y.shape(), Shape({s.n, s.k, s.p, s.q}));
    conv2d_forward(ctx, y, x, w, cc.bias ? &b : nullptr, cc.p);
    std::vector<double> bd = test::to_double(b.to_vector());
    std::vector<double> want =
        test::direct_conv2d(test::to_double(x.to_vector()), test::to_double(w.to_vector()),
                            cc.bias ? bd.data() : nullptr, s);
    test::expect_close(y.to_vector(), std::vector<float>(want.begin(), want.end()),
                       ConvTol::kForward, ConvTol::kForwardAbs, cc.name);
  }
}

TEST(Conv2d, OutputSizes) {
  // ResNet stem: 224 -> 112 with 7x7/2 pad 3; 3x3/2 pad 1: 56 -> 28; 1x1/2: 56 -> 28.
  EXPECT_EQ(conv2d_out_size(224, 7, 2, 3), 112);
  EXPECT_EQ(conv2d_out_size(56, 3, 2, 1), 28);
  EXPECT_EQ(conv2d_out_size(56, 1, 2, 0), 28);
  EXPECT_EQ(conv2d_out_size(7, 3, 2, 1), 4);
  EXPECT_THROW(conv2d_shape({1, 3, 5, 5}, {4, 2, 3, 3}, {}), Error);  // channel mismatch
  EXPECT_THROW(conv2d_shape({1, 3, 2, 2}, {4, 3, 3, 3}, {}), Error);  // kernel too large
  EXPECT_THROW(conv2d_shape({1, 3, 5, 5}, {4, 3, 3, 3}, {0, 1, 0, 0}), Error);
  Context ctx;
  Tensor x({1, 3, 5, 5}), w({4, 3, 3, 3}), y_bad({1, 4, 5, 5});
  EXPECT_THROW(conv2d_forward(ctx, y_bad, x, w, nullptr, {}), Error);
}

// col2im is the adjoint of im2col: <im2col(x), c> == <x, col2im(c)>.
TEST(Conv2d, Col2imIsAdjointOfIm2col) {
  for (const ConvCase& cc : cases()) {
    SCOPED_TRACE(cc.name);
    Conv2dShape s = conv2d_shape({1, cc.c, cc.h, cc.w}, {cc.k, cc.c, cc.r, cc.s}, cc.p);
    int64_t rows = s.c * s.r * s.s, pq = s.p * s.q;
    std::vector<double> x = test::random_doubles(s.c * s.h * s.w, 4);
    std::vector<double> c = test::random_doubles(rows * pq, 5);
    std::vector<double> col(size_t(rows * pq)), xt(x.size(), 99.0);
    cpu::im2col<double>(col.data(), x.data(), s);
    cpu::col2im<double>(xt.data(), c.data(), s);
    EXPECT_NEAR(test::dot(col, c), test::dot(x, xt), 1e-10);
  }
}

TEST(GradCheck, Conv2dDxDwDb) {
  for (const ConvCase& cc : cases()) {
    SCOPED_TRACE(cc.name);
    Conv2dShape s = conv2d_shape({cc.n, cc.c, cc.h, cc.w}, {cc.k, cc.c, cc.r, cc.s}, cc.p);
    std::vector<double> x = test::random_doubles(s.n * s.c * s.h * s.w, 6);
    std::vector<double> w = test::random_doubles(s.k * s.c * s.r * s.s, 7);
    std::vector<double> b = test::random_doubles(s.k, 8);
    std::vector<double> r = test::random_doubles(s.n * s.k * s.p * s.q, 9);
    std::vector<double> y(r.size()), col(size_t(std::max<int64_t>(cpu::conv2d_col_elems(s), 1)));
    auto loss = [&] {
      cpu::conv2d_forward<double>(y.data(), x.data(), w.data(), b.data(), s, col.data());
      return test::dot(y, r);
    };
    std::vector<double> dx(x.size(), 123.0), dw(w.size(), 0.0), db(b.size(), 0.0);
    cpu::conv2d_backward<double>(dx.data(), dw.data(), db.data(), r.data(), x.data(), w.data(), s,
                                 col.data());
    EXPECT_GT(test::check_gradient(loss, x.data(), int64_t(x.size()), dx.data(), ConvTol::kStep,
                                   Tol::kGradDouble, 60),
              0);
    EXPECT_GT(test::check_gradient(loss, w.data(), int64_t(w.size()), dw.data(), ConvTol::kStep,
                                   Tol::kGradDouble, 60),
              0);
    EXPECT_GT(test::check_gradient(loss, b.data(), int64_t(b.size()), db.data(), ConvTol::kStep,
                                   Tol::kGradDouble),
              0);
  }
}

// Through the float Tensor API: dx overwritten, dw/db accumulate, null outputs skipped.
TEST(Conv2d, BackwardContract) {
  Context ctx;
  Conv2dParams p{2, 2, 1, 1};
  Tensor x = test::random_tensor({2, 3, 7, 5}, 1), w = test::random_tensor({4, 3, 3, 3}, 2);
  Tensor dy = test::random_tensor(conv2d_output_shape(x.shape(), w.shape(), p), 3);
  Tensor dx({2, 3, 7, 5}), dw = Tensor::zeros({4, 3, 3, 3}), db = Tensor::zeros({4});
  dx.fill(5.f);
  conv2d_backward(ctx, &dx, &dw, &db, dy, x, w, p);
  Tensor dx1 = dx.clone(), dw1 = dw.clone(), db1 = db.clone();
  dx.fill(-3.f);
  conv2d_backward(ctx, &dx, &dw, &db, dy, x, w, p);
  test::expect_close(dx, dx1, 0, 1e-6, "dx overwritten");
  std::vector<float> dw2 = dw1.to_vector(), db2 = db1.to_vector();
  for (float& v : dw2) v *= 2;
  for (float& v : db2) v *= 2;
  test::expect_close(dw.to_vector(), dw2, 1e-6, 1e-6, "dw accumulates");
  test::expect_close(db.to_vector(), db2, 1e-6, 1e-6, "db accumulates");
  Tensor dx_only({2, 3, 7, 5});
  conv2d_backward(ctx, &dx_only, nullptr, nullptr, dy, x, w, p);
  test::expect_close(dx_only, dx1, 0, 1e-6, "dx alone");
  // db equals the per-channel sum of dy.
  std::vector<float> dyv = dy.to_vector();
  int64_t pq = dy.h() * dy.w();
  for (int64_t k = 0; k < 4; ++k) {
    double s = 0;
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t i = 0; i < pq; ++i) s += dyv[size_t((n * 4 + k) * pq + i)];
    EXPECT_NEAR(db1.to_vector()[size_t(k)], s, 1e-5);
  }
}

TEST(Conv2dLayer, NamesInitGradAccumulationAndZeroGrad) {
  ParamStore ps;
  Conv2d conv(ps, "layer1.0.conv1", 8, 16, 3, 1, 1, false);
  Conv2d convb(ps, "head.conv", 4, 6, 3, 1, 1, 1, 0, 1, true);  // rectangular 3x1 with bias
  ps.finalize(Device::CPU, 1);
  EXPECT_EQ(ps.entry(ps.at("layer1.0.conv1.weight")).shape, Shape({16, 8, 3, 3}));
  EXPECT_LT(ps.find("layer1.0.conv1.bias"), 0);
  EXPECT_EQ(ps.entry(ps.at("head.conv.bias")).shape, Shape({6}));
  // Kaiming normal, fan_out = 16 * 9: std sqrt(2/144) = 0.118.
  std::vector<float> wv = ps.value(ps.at("layer1.0.conv1.weight")).to_vector();
  double ss = 0;
  for (float v : wv) ss += double(v) * v;
  EXPECT_NEAR(std::sqrt(ss / double(wv.size())), std::sqrt(2.0 / 144.0), 0.015);
  const float bound = 1.f / std::sqrt(12.f);
  for (float v : ps.value(ps.at("head.conv.bias")).to_vector()) EXPECT_LE(std::fabs(v), bound);

  Context ctx;
  Tensor x = test::random_tensor({2, 8, 6, 5}, 3);
  const Tensor& y = conv.forward(ctx, x);
  EXPECT_EQ(y.shape(), Shape({2, 16, 6, 5}));
  EXPECT_EQ(conv.macs(x.shape()), 2 * 16 * 6 * 5 * 8 * 9);
  const float* y_storage = y.f32();
  Tensor dy = test::random_tensor(y.shape(), 4);
  Tensor dx1 = conv.backward(ctx, dy).clone();
  std::vector<float> g1 = ps.grad(ps.at("layer1.0.conv1.weight")).to_vector();
  EXPECT_EQ(conv.forward(ctx, x).f32(), y_storage);  // output reused, not reallocated
  const Tensor& dx2 = conv.backward(ctx, dy);
  std::vector<float> g2 = ps.grad(ps.at("layer1.0.conv1.weight")).to_vector();
  double norm = 0;
  for (size_t i = 0; i < g1.size(); ++i) {
    EXPECT_NEAR(g2[i], 2 * g1[i], 1e-4 * (1 + std::fabs(g2[i])));
    norm += std::fabs(g1[i]);
  }
  EXPECT_GT(norm, 0);
  test::expect_close(dx2, dx1, 0, 1e-6, "dx overwritten");
  conv.set_input_grad(false);
  EXPECT_FALSE(conv.backward(ctx, dy).defined());
  ps.zero_grad();
  for (float v : ps.grads().to_vector()) EXPECT_EQ(v, 0.f);
}

TEST(CudaVsCpu, Conv2dForwardBackward) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  for (const ConvCase& cc : cases()) {
    SCOPED_TRACE(cc.name);
    Tensor x = test::random_tensor({cc.n, cc.c, cc.h, cc.w}, 21);
    Tensor w = test::random_tensor({cc.k, cc.c, cc.r, cc.s}, 22);
    Tensor b = test::random_tensor({cc.k}, 23);
    Shape ys = conv2d_output_shape(x.shape(), w.shape(), cc.p);
    Tensor dy = test::random_tensor(ys, 24);
    Tensor y(ys), dx(x.shape()), dw = test::random_tensor(w.shape(), 25),
                                 db = test::random_tensor({cc.k}, 26);
    Tensor gx = x.to(Device::CUDA), gw = w.to(Device::CUDA), gb = b.to(Device::CUDA),
           gdy = dy.to(Device::CUDA), gy(ys, Device::CUDA), gdx(x.shape(), Device::CUDA),
           gdw = dw.to(Device::CUDA), gdb = db.to(Device::CUDA);
    const Tensor* bias = cc.bias ? &b : nullptr;
    const Tensor* gbias = cc.bias ? &gb : nullptr;
    for (int rep = 0; rep < 2; ++rep) {  // the second call reuses the cached plan
      conv2d_forward(cpu_ctx, y, x, w, bias, cc.p);
      conv2d_forward(gpu_ctx, gy, gx, gw, gbias, cc.p);
      conv2d_backward(cpu_ctx, &dx, &dw, &db, dy, x, w, cc.p);
      conv2d_backward(gpu_ctx, &gdx, &gdw, &gdb, gdy, gx, gw, cc.p);
    }
    test::expect_close(gy.to(Device::CPU), y, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "y");
    test::expect_close(gdx.to(Device::CPU), dx, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dx");
    test::expect_close(gdw.to(Device::CPU), dw, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dw");
    test::expect_close(gdb.to(Device::CPU), db, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "db");
  }
}

TEST(CudaVsCpu, Conv2dLayerResNetShapes) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  ParamStore ps_cpu, ps_gpu;
  Conv2d a(ps_cpu, "conv1", 3, 8, 7, 2, 3, false), ga(ps_gpu, "conv1", 3, 8, 7, 2, 3, false);
  ps_cpu.finalize(Device::CPU, 5);
  ps_gpu.finalize(Device::CUDA, 5);
  Tensor x = test::random_tensor({2, 3, 33, 31}, 30);
  Tensor gx = x.to(Device::CUDA);
  const Tensor& y = a.forward(cpu_ctx, x);
  const Tensor& gy = ga.forward(gpu_ctx, gx);
  test::expect_close(gy.to(Device::CPU), y, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "y");
  Tensor dy = test::random_tensor(y.shape(), 31);
  Tensor gdy = dy.to(Device::CUDA);
  const Tensor& dx = a.backward(cpu_ctx, dy);
  const Tensor& gdx = ga.backward(gpu_ctx, gdy);
  test::expect_close(gdx.to(Device::CPU), dx, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dx");
  test::expect_close(ps_gpu.grads().to(Device::CPU), ps_cpu.grads(), Tol::kCudaVsCpuRel,
                     Tol::kCudaVsCpuAbs, "dw");
}

}  // namespace
}  // namespace gbad
