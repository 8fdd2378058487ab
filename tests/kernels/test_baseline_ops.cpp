// Ops added for the paper's baselines (CHR, GANomaly, Skip-GANomaly): bilinear resampling
// (kernels/resample.h), transposed convolution (kernels/conv_transpose.h) and the CHR loss
// (kernels/chr_loss.h). Hand-computed values, independent references, gradient checks in double
// precision with the error measured relative to the gradient's norm, the CUDA kernels' bodies
// driven on the CPU, and CUDA against the CPU (skipped without a GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/chr_loss.h"
#include "kernels/chr_loss_body.h"
#include "kernels/conv_transpose.h"
#include "kernels/resample.h"
#include "kernels/resample_body.h"
#include "nn/conv_transpose.h"

namespace gbad {
namespace {

using test::dot;
using test::random_doubles;
using test::Tol;

// Central differences at up to max_points random entries of x; returns ||analytic - numeric||
// / ||analytic|| over those entries and checks that norm is not zero.
template <class F>
double grad_rel_error(F loss, std::vector<double>& x, const std::vector<double>& analytic,
                      double step = 1e-6, size_t max_points = 80, uint64_t seed = 3) {
  std::vector<size_t> idx(x.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(idx.begin(), idx.end(), rng);
  if (idx.size() > max_points) idx.resize(max_points);
  double num = 0, den = 0;
  for (size_t i : idx) {
    const double saved = x[i];
    x[i] = saved + step;
    const double fp = loss();
    x[i] = saved - step;
    const double fm = loss();
    x[i] = saved;
    const double g = (fp - fm) / (2 * step);
    num += (analytic[i] - g) * (analytic[i] - g);
    den += analytic[i] * analytic[i];
  }
  EXPECT_GT(den, 0.0) << "the checked gradient is zero";
  return std::sqrt(num / std::max(den, 1e-300));
}

// ---- bilinear resampling ---------------------------------------------------------------------

TEST(UpsampleBilinear, MatchesTorchOnHandValues) {
  // torch.nn.functional.interpolate([[1,2],[3,4]], size=4, mode="bilinear",
  // align_corners=False)
  Context ctx;
  Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 1, 2, 2});
  Tensor y({1, 1, 4, 4});
  upsample_bilinear_forward(ctx, y, x);
  const std::vector<float> want = {1.0f, 1.25f, 1.75f, 2.0f, 1.5f, 1.75f, 2.25f, 2.5f,
                                   2.5f, 2.75f, 3.25f, 3.5f, 3.0f, 3.25f, 3.75f, 4.0f};
  test::expect_close(y.to_vector(), want, 0, 1e-6, "2x2 -> 4x4");
  // Same size is the identity; a constant stays constant at any size.
  Tensor x2 = test::random_tensor({2, 3, 5, 7}, 1), y2({2, 3, 5, 7});
  upsample_bilinear_forward(ctx, y2, x2);
  test::expect_close(y2, x2, 0, 1e-6, "identity");
  Tensor c({1, 2, 3, 5}), yc({1, 2, 7, 4});
  c.fill(2.5f);
  upsample_bilinear_forward(ctx, yc, c);
  for (float v : yc.to_vector()) EXPECT_NEAR(v, 2.5f, 1e-6);
}

TEST(UpsampleBilinear, ShapeErrors) {
  Context ctx;
  Tensor x({1, 2, 3, 3}), bad({1, 3, 6, 6}), y3({2, 3});
  EXPECT_THROW(upsample_bilinear_forward(ctx, bad, x), Error);
  EXPECT_THROW(upsample_bilinear_forward(ctx, y3, x), Error);
  EXPECT_THROW(upsample_bilinear_backward(ctx, x, bad), Error);
}

struct Resize {
  int64_t planes, h, w, ho, wo;
};
const std::vector<Resize>& resize_cases() {
  static const std::vector<Resize> c = {{2, 2, 2, 4, 4},  {3, 3, 5, 7, 9},   {2, 7, 7, 14, 14},
                                        {1, 5, 4, 3, 2},  {2, 4, 6, 4, 6},   {1, 1, 1, 3, 2},
                                        {2, 3, 2, 28, 5}, {1, 13, 11, 5, 17}};
  return c;
}

TEST(GradCheck, UpsampleBilinear) {
  for (const Resize& r : resize_cases()) {
    SCOPED_TRACE(::testing::Message() << r.h << "x" << r.w << " -> " << r.ho << "x" << r.wo);
    std::vector<double> x = random_doubles(r.planes * r.h * r.w, 4);
    std::vector<double> g = random_doubles(r.planes * r.ho * r.wo, 5);
    std::vector<double> y(g.size()), dx(x.size(), 7.0);
    auto loss = [&] {
      cpu::upsample_bilinear_forward<double>(y.data(), x.data(), r.planes, r.h, r.w, r.ho, r.wo);
      return dot(y, g);
    };
    cpu::upsample_bilinear_backward<double>(dx.data(), g.data(), r.planes, r.h, r.w, r.ho, r.wo);
    EXPECT_LT(grad_rel_error(loss, x, dx), Tol::kGradDouble);
  }
}

// The CUDA kernels' bodies (gather backward) against the CPU reference (scatter backward).
TEST(Bodies, UpsampleBilinear) {
  for (const Resize& r : resize_cases()) {
    SCOPED_TRACE(::testing::Message() << r.h << "x" << r.w << " -> " << r.ho << "x" << r.wo);
    std::vector<float> x = test::random_vector(r.planes * r.h * r.w, 6);
    std::vector<float> dy = test::random_vector(r.planes * r.ho * r.wo, 7);
    std::vector<float> y(dy.size()), dx(x.size()), yb(dy.size()), dxb(x.size());
    cpu::upsample_bilinear_forward<float>(y.data(), x.data(), r.planes, r.h, r.w, r.ho, r.wo);
    cpu::upsample_bilinear_backward<float>(dx.data(), dy.data(), r.planes, r.h, r.w, r.ho, r.wo);
    for (size_t o = 0; o < y.size(); ++o)
      yb[o] = upsample_bilinear_fwd_body<float>(x.data(), int64_t(o), r.h, r.w, r.ho, r.wo);
    for (size_t i = 0; i < x.size(); ++i)
      dxb[i] = upsample_bilinear_bwd_body<float>(dy.data(), int64_t(i), r.h, r.w, r.ho, r.wo);
    test::expect_close(yb, y, 0, 0, "forward body");
    test::expect_close(dxb, dx, 1e-5, 1e-6, "backward body");
  }
}

TEST(UpsampleBilinearLayer, ForwardBackwardAndNoInputGrad) {
  Context ctx;
  UpsampleBilinear up;
  Tensor x = test::random_tensor({2, 3, 3, 4}, 8);
  const Tensor& y = up.forward(ctx, x, 6, 9);
  EXPECT_EQ(y.shape(), Shape({2, 3, 6, 9}));
  Tensor dy = test::random_tensor(y.shape(), 9);
  const Tensor& dx = up.backward(ctx, dy);
  EXPECT_EQ(dx.shape(), x.shape());
  // <up(x), dy> == <x, up^T(dy)>: the backward is the adjoint.
  double a = 0, b = 0;
  for (int64_t i = 0; i < y.numel(); ++i) a += double(y.f32()[i]) * dy.f32()[i];
  for (int64_t i = 0; i < x.numel(); ++i) b += double(x.f32()[i]) * dx.f32()[i];
  EXPECT_NEAR(a, b, 1e-4);
  up.set_input_grad(false);
  EXPECT_FALSE(up.backward(ctx, dy).defined());
}

TEST(CudaVsCpu, UpsampleBilinear) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  std::vector<Resize> cases = resize_cases();
  cases.push_back({64, 28, 28, 56, 56});  // more than one grid pass, CHR-like 2x
  for (const Resize& r : cases) {
    Tensor x = test::random_tensor({1, r.planes, r.h, r.w}, 10);
    Tensor dy = test::random_tensor({1, r.planes, r.ho, r.wo}, 11);
    Tensor y(dy.shape()), dx(x.shape()), gy(dy.shape(), Device::CUDA), gdx(x.shape(), Device::CUDA);
    Tensor gx = x.to(Device::CUDA), gdy = dy.to(Device::CUDA);
    upsample_bilinear_forward(cpu_ctx, y, x);
    upsample_bilinear_forward(gpu_ctx, gy, gx);
    upsample_bilinear_backward(cpu_ctx, dx, dy);
    upsample_bilinear_backward(gpu_ctx, gdx, gdy);
    test::expect_close(gy.to(Device::CPU), y, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "y");
    test::expect_close(gdx.to(Device::CPU), dx, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dx");
  }
}

// ---- transposed convolution ------------------------------------------------------------------

struct TCase {
  const char* name;
  int64_t n, cin, h, w, cout, k;
  int stride, pad;
  bool bias;
};
const std::vector<TCase>& tcases() {
  static const std::vector<TCase> c = {
      {"4_1_0_from_1x1", 2, 5, 1, 1, 3, 4, 1, 0, false},  // GANomaly's first decoder layer
      {"4_2_1", 2, 3, 4, 4, 2, 4, 2, 1, false},           // DCGAN upsampling
      {"4_2_1_bias_odd", 1, 2, 3, 5, 3, 4, 2, 1, true},   // U-Net outermost (bias)
      {"3_1_1", 2, 3, 5, 4, 4, 3, 1, 1, true},
      {"1x1", 2, 4, 3, 3, 5, 1, 1, 0, true},  // pointwise path
      {"3_2_0", 1, 2, 3, 2, 2, 3, 2, 0, false},
      {"5_3_2", 2, 2, 3, 3, 3, 5, 3, 2, true},
  };
  return c;
}

// y[n,co,ih*s-p+r,iw*s-p+q] += x[n,ci,ih,iw] w[ci,co,r,q]: the definition, in double.
std::vector<double> direct_conv_transpose(const std::vector<double>& x,
                                          const std::vector<double>& w, const double* bias,
                                          const TCase& t, int64_t ho, int64_t wo) {
  std::vector<double> y(size_t(t.n * t.cout * ho * wo), 0.0);
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t co = 0; co < t.cout; ++co)
      for (int64_t i = 0; i < ho * wo; ++i)
        y[size_t((n * t.cout + co) * ho * wo + i)] = bias ? bias[co] : 0.0;
  for (int64_t n = 0; n < t.n; ++n)
    for (int64_t ci = 0; ci < t.cin; ++ci)
      for (int64_t ih = 0; ih < t.h; ++ih)
        for (int64_t iw = 0; iw < t.w; ++iw)
          for (int64_t co = 0; co < t.cout; ++co)
            for (int64_t r = 0; r < t.k; ++r)
              for (int64_t q = 0; q < t.k; ++q) {
                const int64_t oh = ih * t.stride - t.pad + r, ow = iw * t.stride - t.pad + q;
                if (oh < 0 || oh >= ho || ow < 0 || ow >= wo) continue;
                y[size_t(((n * t.cout + co) * ho + oh) * wo + ow)] +=
                    x[size_t(((n * t.cin + ci) * t.h + ih) * t.w + iw)] *
                    w[size_t(((ci * t.cout + co) * t.k + r) * t.k + q)];
              }
  return y;
}

TEST(ConvTranspose2d, ForwardMatchesDefinition) {
  Context ctx;
  for (const TCase& t : tcases()) {
    SCOPED_TRACE(t.name);
    const Conv2dParams p{t.stride, t.stride, t.pad, t.pad};
    Tensor x = test::random_tensor({t.n, t.cin, t.h, t.w}, 1);
    Tensor w = test::random_tensor({t.cin, t.cout, t.k, t.k}, 2);
    Tensor b = test::random_tensor({t.cout}, 3);
    const Shape ys = conv_transpose2d_output_shape(x.shape(), w.shape(), p);
    EXPECT_EQ(ys[2], (t.h - 1) * t.stride - 2 * t.pad + t.k);
    Tensor y(ys);
    conv_transpose2d_forward(ctx, y, x, w, t.bias ? &b : nullptr, p);
    std::vector<double> bd = test::to_double(b.to_vector());
    std::vector<double> want =
        direct_conv_transpose(test::to_double(x.to_vector()), test::to_double(w.to_vector()),
                              t.bias ? bd.data() : nullptr, t, ys[2], ys[3]);
    test::expect_close(y.to_vector(), std::vector<float>(want.begin(), want.end()), 1e-5, 1e-5,
                       t.name);
  }
}

TEST(ConvTranspose2d, ShapeErrors) {
  Context ctx;
  EXPECT_THROW(conv_transpose2d_shape({1, 3, 4, 4}, {2, 5, 4, 4}, {2, 2, 1, 1}), Error);  // Cin
  EXPECT_THROW(conv_transpose2d_shape({1, 3, 1, 1}, {3, 5, 1, 1}, {1, 1, 1, 1}), Error);  // empty
  Tensor x({1, 3, 4, 4}), w({3, 2, 4, 4}), y_bad({1, 2, 7, 8});
  EXPECT_THROW(conv_transpose2d_forward(ctx, y_bad, x, w, nullptr, {2, 2, 1, 1}), Error);
}

TEST(GradCheck, ConvTranspose2dDxDwDb) {
  for (const TCase& t : tcases()) {
    SCOPED_TRACE(t.name);
    const Conv2dShape s = conv_transpose2d_shape({t.n, t.cin, t.h, t.w}, {t.cin, t.cout, t.k, t.k},
                                                 {t.stride, t.stride, t.pad, t.pad});
    std::vector<double> x = random_doubles(t.n * t.cin * t.h * t.w, 6);
    std::vector<double> w = random_doubles(t.cin * t.cout * t.k * t.k, 7);
    std::vector<double> b = random_doubles(t.cout, 8);
    std::vector<double> r = random_doubles(s.n * s.c * s.h * s.w, 9);
    std::vector<double> y(r.size()), col(size_t(std::max<int64_t>(cpu::conv2d_col_elems(s), 1)));
    auto loss = [&] {
      cpu::conv_transpose2d_forward<double>(y.data(), x.data(), w.data(), b.data(), s, col.data());
      return dot(y, r);
    };
    std::vector<double> dx(x.size(), 123.0), dw(w.size(), 0.0), db(b.size(), 0.0);
    cpu::conv_transpose2d_backward<double>(dx.data(), dw.data(), db.data(), r.data(), x.data(),
                                           w.data(), s, col.data());
    EXPECT_LT(grad_rel_error(loss, x, dx), Tol::kGradDouble) << "dx";
    EXPECT_LT(grad_rel_error(loss, w, dw), Tol::kGradDouble) << "dw";
    EXPECT_LT(grad_rel_error(loss, b, db), Tol::kGradDouble) << "db";
  }
}

// Float API: dx overwritten, dw/db accumulate, results independent of the batch split.
TEST(ConvTranspose2d, BackwardContractAndLayer) {
  Context ctx;
  const Conv2dParams p{2, 2, 1, 1};
  Tensor x = test::random_tensor({3, 4, 3, 5}, 1), w = test::random_tensor({4, 2, 4, 4}, 2);
  Tensor dy = test::random_tensor(conv_transpose2d_output_shape(x.shape(), w.shape(), p), 3);
  Tensor dx(x.shape()), dw = Tensor::zeros(w.shape()), db = Tensor::zeros({2});
  dx.fill(9.f);
  conv_transpose2d_backward(ctx, &dx, &dw, &db, dy, x, w, p);
  Tensor dx1 = dx.clone(), dw1 = dw.clone(), db1 = db.clone();
  dx.fill(-4.f);
  conv_transpose2d_backward(ctx, &dx, &dw, &db, dy, x, w, p);
  test::expect_close(dx, dx1, 0, 1e-6, "dx overwritten");
  std::vector<float> dw2 = dw1.to_vector(), db2 = db1.to_vector();
  for (float& v : dw2) v *= 2;
  for (float& v : db2) v *= 2;
  test::expect_close(dw.to_vector(), dw2, 1e-6, 1e-6, "dw accumulates");
  test::expect_close(db.to_vector(), db2, 1e-6, 1e-6, "db accumulates");

  ParamStore ps;
  ConvTranspose2d layer(ps, "up", 4, 2, 4, 2, 1, true);
  ps.finalize(Device::CPU, 3);
  EXPECT_EQ(ps.entry(ps.at("up.weight")).shape, Shape({4, 2, 4, 4}));
  EXPECT_EQ(layer.output_shape(x.shape()), Shape({3, 2, 6, 10}));
  EXPECT_EQ(layer.macs(x.shape()), 3 * 4 * 3 * 5 * 2 * 16);
  const Tensor& y = layer.forward(ctx, x);
  EXPECT_EQ(y.shape(), Shape({3, 2, 6, 10}));
  const Tensor& ldx = layer.backward(ctx, dy);
  EXPECT_EQ(ldx.shape(), x.shape());
  double gnorm = 0;
  for (float v : ps.grads().to_vector()) gnorm += std::fabs(v);
  EXPECT_GT(gnorm, 0);
  layer.set_input_grad(false);
  EXPECT_FALSE(layer.backward(ctx, dy).defined());
}

TEST(CudaVsCpu, ConvTranspose2d) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  std::vector<TCase> cases = tcases();
  cases.push_back({"ganomaly_128_to_64", 8, 128, 8, 8, 64, 4, 2, 1, false});
  cases.push_back({"nz_to_256", 8, 100, 1, 1, 256, 4, 1, 0, false});
  for (const TCase& t : cases) {
    SCOPED_TRACE(t.name);
    const Conv2dParams p{t.stride, t.stride, t.pad, t.pad};
    Tensor x = test::random_tensor({t.n, t.cin, t.h, t.w}, 21);
    Tensor w = test::random_tensor({t.cin, t.cout, t.k, t.k}, 22);
    Tensor b = test::random_tensor({t.cout}, 23);
    const Shape ys = conv_transpose2d_output_shape(x.shape(), w.shape(), p);
    Tensor dy = test::random_tensor(ys, 24);
    Tensor y(ys), dx(x.shape()), dw = test::random_tensor(w.shape(), 25),
                                 db = test::random_tensor({t.cout}, 26);
    Tensor gx = x.to(Device::CUDA), gw = w.to(Device::CUDA), gb = b.to(Device::CUDA),
           gdy = dy.to(Device::CUDA), gy(ys, Device::CUDA), gdx(x.shape(), Device::CUDA),
           gdw = dw.to(Device::CUDA), gdb = db.to(Device::CUDA);
    for (int rep = 0; rep < 2; ++rep) {  // the second call reuses the cached plan
      conv_transpose2d_forward(cpu_ctx, y, x, w, t.bias ? &b : nullptr, p);
      conv_transpose2d_forward(gpu_ctx, gy, gx, gw, t.bias ? &gb : nullptr, p);
      conv_transpose2d_backward(cpu_ctx, &dx, &dw, &db, dy, x, w, p);
      conv_transpose2d_backward(gpu_ctx, &gdx, &gdw, &gdb, gdy, gx, gw, p);
    }
    test::expect_close(gy.to(Device::CPU), y, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "y");
    test::expect_close(gdx.to(Device::CPU), dx, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "dx");
    test::expect_close(gdw.to(Device::CPU), dw, Tol::kCudaVsCpuRel, 1e-4, "dw");
    test::expect_close(gdb.to(Device::CPU), db, Tol::kCudaVsCpuRel, 1e-4, "db");
  }
}

// ---- CHR loss --------------------------------------------------------------------------------

TEST(ChrLoss, HandValuesAndEasyNegatives) {
  Context ctx;
  // z: an easy negative (t 0, z -25), a hard negative (t 0, z -19), a positive below -20 (kept),
  // an ordinary positive; one element masked ("difficult").
  Tensor z = Tensor::from_vector({-25.f, -19.f, -21.f, 0.5f, 3.f}, {1, 5});
  Tensor t = Tensor::from_vector({0.f, 0.f, 1.f, 1.f, 0.f}, {1, 5});
  Tensor m = Tensor::from_vector({1.f, 1.f, 1.f, 1.f, 0.f}, {1, 5});
  Tensor loss({1}), d({1, 5});
  chr_bce_with_logits(ctx, loss, d, z, t, &m);
  auto bce = [](double zz, double tt) {
    return std::max(zz, 0.0) - zz * tt + std::log1p(std::exp(-std::fabs(zz)));
  };
  auto sig = [](double zz) { return 1 / (1 + std::exp(-zz)); };
  const double want = (bce(-19, 0) + bce(-21, 1) + bce(0.5, 1)) / 4.0;  // 4 counted, 3 kept
  EXPECT_NEAR(loss.f32()[0], want, 1e-6 * want);
  const std::vector<float> g = d.to_vector();
  EXPECT_EQ(g[0], 0.f);  // easy negative
  EXPECT_NEAR(g[1], sig(-19) / 4, 1e-12);
  EXPECT_NEAR(g[2], (sig(-21) - 1) / 4, 1e-7);
  EXPECT_NEAR(g[3], (sig(0.5) - 1) / 4, 1e-7);
  EXPECT_EQ(g[4], 0.f);  // masked
  // Without a mask every element counts.
  chr_bce_with_logits(ctx, loss, d, z, t);
  EXPECT_NEAR(loss.f32()[0], (bce(-19, 0) + bce(-21, 1) + bce(0.5, 1) + bce(3, 0)) / 5.0, 1e-6);
  Tensor bad({1, 4});
  EXPECT_THROW(chr_bce_with_logits(ctx, loss, d, z, bad), Error);
}

TEST(GradCheck, ChrLoss) {
  const int64_t n = 40;
  std::vector<double> z = random_doubles(n, 12), t(n), m(n);
  for (int64_t i = 0; i < n; ++i) {
    z[size_t(i)] *= 30;                                           // many below -20
    if (std::fabs(z[size_t(i)] + 20) < 1e-3) z[size_t(i)] = -22;  // off the kink
    t[size_t(i)] = i % 3 == 0 ? 1.0 : 0.0;
    m[size_t(i)] = i % 7 == 0 ? 0.0 : 1.0;
  }
  std::vector<double> d(n);
  auto loss = [&] {
    return cpu::chr_bce_with_logits<double>(nullptr, z.data(), t.data(), m.data(), n);
  };
  cpu::chr_bce_with_logits<double>(d.data(), z.data(), t.data(), m.data(), n);
  EXPECT_LT(grad_rel_error(loss, z, d, 1e-6, 40), Tol::kGradDouble);
}

TEST(Bodies, ChrLoss) {
  Context ctx;
  Tensor z = test::random_tensor({8, 5}, 13, -30.f, 10.f), t({8, 5}), m({8, 5});
  for (int64_t i = 0; i < 40; ++i) {
    t.f32()[i] = i % 4 == 0 ? 1.f : 0.f;
    m.f32()[i] = i % 9 == 0 ? 0.f : 1.f;
  }
  Tensor loss({1}), d({8, 5});
  cpu::chr_bce_with_logits(ctx, loss, d, z, t, &m);
  double sum = 0;
  int count = 0;
  std::vector<float> db(40);
  for (int64_t i = 0; i < 40; ++i) count += m.f32()[i] != 0.f;
  for (int64_t i = 0; i < 40; ++i) {
    if (m.f32()[i] == 0.f) continue;
    const LossTerm lt = chr_bce_term(z.f32()[i], t.f32()[i]);
    sum += lt.loss;
    db[size_t(i)] = lt.grad / float(count);
  }
  EXPECT_NEAR(sum / count, loss.f32()[0], 1e-5);
  test::expect_close(db, d.to_vector(), 1e-5, 1e-7, "gradient body");
}

TEST(CudaVsCpu, ChrLoss) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  for (int64_t n : {5, 160, 1000}) {
    Tensor z = test::random_tensor({n, 5}, 14, -30.f, 10.f), t({n, 5}), m({n, 5});
    for (int64_t i = 0; i < n * 5; ++i) {
      t.f32()[i] = i % 4 == 0 ? 1.f : 0.f;
      m.f32()[i] = i % 11 == 0 ? 0.f : 1.f;
    }
    Tensor loss({1}), d({n, 5}), gloss({1}, Device::CUDA), gd({n, 5}, Device::CUDA);
    Tensor gz = z.to(Device::CUDA), gt = t.to(Device::CUDA), gm = m.to(Device::CUDA);
    chr_bce_with_logits(cpu_ctx, loss, d, z, t, &m);
    chr_bce_with_logits(gpu_ctx, gloss, gd, gz, gt, &gm);
    test::expect_close(gloss.to(Device::CPU), loss, 1e-5, 1e-6, "loss");
    test::expect_close(gd.to(Device::CPU), d, 1e-5, 1e-8, "dlogits");
  }
}

}  // namespace
}  // namespace gbad
