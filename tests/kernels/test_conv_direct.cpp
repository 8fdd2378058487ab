// The direct convolution kernels (kernels/cpu/conv2d_direct.cpp), each instruction-set variant
// forced in turn, against the double-precision reference: forward with every epilogue (bias,
// folded BatchNorm scale/shift, residual, ReLU) and the stride-1 data gradient. Shapes cover
// stride 1 and 2, 3x3 / 5x5 / 7x7 (stem) / rectangular filters, asymmetric padding, channel
// counts that are not multiples of the vector width (ragged channel blocks), tiles that span
// several images (small late-layer outputs) and a ragged last tile; 1 and 2 OpenMP threads.
// The data gradient of strided convolutions runs per stride phase (sub-filters with 0..4 taps
// per axis, phases whose rows no tap reaches).
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"

namespace gbad {
namespace {

using test::to_double;

struct DirectCase {
  const char* name;
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
};

const std::vector<DirectCase>& direct_cases() {
  static const std::vector<DirectCase> c = {
      {"3x3_s1_k16", 2, 16, 9, 9, 16, 3, 3, {1, 1, 1, 1}},
      {"3x3_s1_odd_channels", 3, 5, 7, 6, 37, 3, 3, {1, 1, 1, 1}},
      {"3x3_s2_k70", 2, 17, 9, 8, 70, 3, 3, {2, 2, 1, 1}},
      {"3x3_late_3x3_many_images", 7, 24, 3, 3, 20, 3, 3, {1, 1, 1, 1}},
      {"3x3_s2_late_2x2", 5, 9, 3, 3, 33, 3, 3, {2, 2, 1, 1}},
      {"stem_7x7_s2", 2, 3, 19, 17, 16, 7, 7, {2, 2, 3, 3}},
      {"stem_7x7_s2_k4_64px", 2, 3, 64, 64, 4, 7, 7, {2, 2, 3, 3}},
      {"3x3_k4_16px", 2, 4, 16, 16, 4, 3, 3, {1, 1, 1, 1}},
      {"3x3_k8_16px", 2, 8, 16, 16, 8, 3, 3, {1, 1, 1, 1}},
      {"5x5_pad_asym", 2, 6, 8, 7, 9, 5, 5, {1, 1, 2, 1}},
      {"3x1_rect_s2x1", 3, 4, 9, 5, 5, 3, 1, {2, 1, 1, 0}},
      {"3x3_no_pad", 2, 7, 6, 6, 12, 3, 3, {1, 1, 0, 0}},
      // Data-gradient stride phases: a 2x2 filter at stride 3 leaves rows and columns no tap
      // reaches (zero gradient); padding 2 at stride 2 shifts the phases' sub-filters.
      {"2x2_s3_gaps", 2, 5, 10, 11, 6, 2, 2, {3, 3, 0, 1}},
      {"3x3_s2_pad2", 2, 6, 7, 8, 10, 3, 3, {2, 2, 2, 2}},
      // More than 64 taps (the filter gradient's write-back caches 64 accumulator rows).
      {"9x9_81_taps", 2, 3, 12, 11, 5, 9, 9, {1, 1, 4, 4}},
      // Wide rows and >= 16 channels: the 16 x 16 block transposes of the input packing.
      {"3x3_wide_rows", 2, 20, 5, 35, 16, 3, 3, {1, 1, 1, 1}},
  };
  return c;
}

void expect_rel_norm(const std::vector<float>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " element " << i;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += want[i] * want[i];
  }
  ASSERT_GT(den, 0.0) << what << ": reference is all zeros";
  EXPECT_LE(std::sqrt(num / den), tol) << what;
}

// Runs body(kernel) for each direct variant this CPU supports, with 1 and 2 threads.
template <typename F>
void for_each_direct_kernel(F&& body) {
  const int saved = omp_get_max_threads();
  int ran = 0;
  for (cpu::ConvKernel k :
       {cpu::ConvKernel::Avx512, cpu::ConvKernel::Avx2, cpu::ConvKernel::Portable}) {
    if (!cpu::conv_kernel_supported(k)) continue;
    cpu::set_conv_kernel(k);
    ASSERT_EQ(cpu::conv_kernel(), k);
    ++ran;
    for (int t : {1, 2}) {
      SCOPED_TRACE(std::string(cpu::conv_kernel_name(k)) + ", threads " + std::to_string(t));
      omp_set_num_threads(t);
      body();
    }
  }
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  omp_set_num_threads(saved);
  EXPECT_GE(ran, 1);  // the portable kernel always runs
}

TEST(FastPath, DirectConvForwardEveryKernelAndEpilogue) {
  for_each_direct_kernel([] {
    Context ctx;
    for (const DirectCase& dc : direct_cases()) {
      const Conv2dShape s = conv2d_shape({dc.n, dc.c, dc.h, dc.w}, {dc.k, dc.c, dc.r, dc.s}, dc.p);
      const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 1);
      const std::vector<float> w = test::random_vector(s.k * s.c * s.r * s.s, 2);
      const std::vector<float> scale = test::random_vector(s.k, 3);
      const std::vector<float> shift = test::random_vector(s.k, 4);
      const std::vector<float> res = test::random_vector(s.n * s.k * s.p * s.q, 5);
      std::vector<double> conv(size_t(s.n * s.k * s.p * s.q));
      std::vector<double> col(size_t(std::max<int64_t>(1, cpu::conv2d_col_elems(s))));
      const std::vector<double> xd = to_double(x), wd = to_double(w);
      cpu::conv2d_forward<double>(conv.data(), xd.data(), wd.data(), nullptr, s, col.data());
      // 0: plain, 1: bias, 2: scale + shift + ReLU, 3: scale + shift + residual + ReLU,
      // 4: shift + residual.
      for (int variant = 0; variant < 5; ++variant) {
        SCOPED_TRACE(std::string(dc.name) + " epilogue " + std::to_string(variant));
        cpu::ConvEpilogue e;
        if (variant >= 1) e.shift = shift.data();
        if (variant == 2 || variant == 3) e.scale = scale.data();
        if (variant >= 3) e.residual = res.data();
        e.relu = variant == 2 || variant == 3;
        const std::vector<double> want = test::apply_epilogue(conv, s, e);
        std::vector<float> y(want.size(), std::nanf(""));
        ASSERT_TRUE(cpu::conv2d_direct_forward(ctx, y.data(), x.data(), w.data(), s, e));
        expect_rel_norm(y, want, 2e-6, dc.name);
      }
    }
  });
}

TEST(FastPath, DirectConvBackwardDataEveryKernel) {
  for_each_direct_kernel([] {
    Context ctx;
    for (const DirectCase& dc : direct_cases()) {
      SCOPED_TRACE(dc.name);
      const Conv2dShape s = conv2d_shape({dc.n, dc.c, dc.h, dc.w}, {dc.k, dc.c, dc.r, dc.s}, dc.p);
      const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 6);
      const std::vector<float> w = test::random_vector(s.k * s.c * s.r * s.s, 7);
      const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 8);
      std::vector<double> want(x.size());
      std::vector<double> col(size_t(std::max<int64_t>(1, cpu::conv2d_col_elems(s))));
      const std::vector<double> xd = to_double(x), wd = to_double(w), dyd = to_double(dy);
      cpu::conv2d_backward<double>(want.data(), nullptr, nullptr, dyd.data(), xd.data(), wd.data(),
                                   s, col.data());
      std::vector<float> dx(x.size(), std::nanf(""));
      ASSERT_TRUE(cpu::conv2d_direct_backward_data(ctx, dx.data(), dy.data(), w.data(), s));
      expect_rel_norm(dx, want, 2e-6, "dx");
      // The same through the fast path with the filter gradient alongside (dw accumulates).
      std::vector<float> dx2(x.size(), std::nanf("")), dw(w.size(), 0.f);
      cpu::conv2d_backward_fast(ctx, dx2.data(), dw.data(), nullptr, dy.data(), x.data(), w.data(),
                                s);
      EXPECT_EQ(dx2, dx);
      std::vector<double> want_dw(w.size(), 0.0);
      cpu::conv2d_backward<double>(nullptr, want_dw.data(), nullptr, dyd.data(), xd.data(),
                                   wd.data(), s, col.data());
      expect_rel_norm(dw, want_dw, 2e-6, "dw");
    }
  });
}

TEST(FastPath, DirectConvBackwardFilterEveryKernel) {
  for_each_direct_kernel([] {
    Context ctx;
    for (const DirectCase& dc : direct_cases()) {
      SCOPED_TRACE(dc.name);
      const Conv2dShape s = conv2d_shape({dc.n, dc.c, dc.h, dc.w}, {dc.k, dc.c, dc.r, dc.s}, dc.p);
      const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 9);
      const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 10);
      // dw accumulates: start from non-zero values.
      std::vector<float> dw = test::random_vector(s.k * s.c * s.r * s.s, 11);
      std::vector<double> want = to_double(dw);
      std::vector<double> col(size_t(std::max<int64_t>(1, cpu::conv2d_col_elems(s))));
      const std::vector<double> xd = to_double(x), dyd = to_double(dy);
      cpu::conv2d_backward<double>(nullptr, want.data(), nullptr, dyd.data(), xd.data(), nullptr, s,
                                   col.data());
      ASSERT_TRUE(cpu::conv2d_direct_backward_filter(ctx, dw.data(), dy.data(), x.data(), s));
      expect_rel_norm(dw, want, 2e-6, "dw");
    }
  });
}

// Every output (and filter-gradient) element is one fixed FMA chain: the same bits for any
// thread count (shapes large enough for the parallel regions; 3 threads split unevenly).
TEST(FastPath, DirectConvSameBitsForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  for (cpu::ConvKernel kern :
       {cpu::ConvKernel::Avx512, cpu::ConvKernel::Avx2, cpu::ConvKernel::Portable}) {
    if (!cpu::conv_kernel_supported(kern)) continue;
    SCOPED_TRACE(cpu::conv_kernel_name(kern));
    cpu::set_conv_kernel(kern);
    for (const Conv2dParams p : {Conv2dParams{1, 1, 1, 1}, Conv2dParams{2, 2, 1, 1}}) {
      const Conv2dShape s = conv2d_shape({5, 16, 13, 12}, {40, 16, 3, 3}, p);
      const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 12);
      const std::vector<float> w = test::random_vector(s.k * s.c * s.r * s.s, 13);
      const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 14);
      std::vector<std::vector<float>> y, dx, dw;
      for (int t : {1, 2, 3}) {
        omp_set_num_threads(t);
        Context ctx;
        y.emplace_back(size_t(s.n * s.k * s.p * s.q));
        ASSERT_TRUE(cpu::conv2d_direct_forward(ctx, y.back().data(), x.data(), w.data(), s, {}));
        dw.emplace_back(w.size(), 0.f);
        ASSERT_TRUE(
            cpu::conv2d_direct_backward_filter(ctx, dw.back().data(), dy.data(), x.data(), s));
        dx.emplace_back(x.size());
        ASSERT_TRUE(
            cpu::conv2d_direct_backward_data(ctx, dx.back().data(), dy.data(), w.data(), s));
        // Both gradients in one call (dy packed once, shared): the same bits as apart.
        std::vector<float> dx2(x.size()), dw2(w.size(), 0.f);
        ASSERT_TRUE(cpu::conv2d_direct_backward(ctx, dx2.data(), dw2.data(), dy.data(), x.data(),
                                                w.data(), s));
        EXPECT_EQ(dx2, dx.back());
        EXPECT_EQ(dw2, dw.back());
      }
      for (size_t i = 1; i < y.size(); ++i) {
        EXPECT_EQ(y[i], y[0]);
        EXPECT_EQ(dw[i], dw[0]);
        EXPECT_EQ(dx[i], dx[0]);
      }
    }
  }
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  omp_set_num_threads(saved);
}

// The training BatchNorm's vectorised loops (kernels/cpu/batchnorm_kernel.inc) follow the
// direct kernel's variant: each against the double-precision reference, and all variants and
// thread counts give the same bits (same per-lane accumulation order, no contraction). Planes
// longer than the backward's 256-element chunk with an odd tail, a mean far from 0.
TEST(FastPath, BatchNormEveryKernelSameBits) {
  const int saved = omp_get_max_threads();
  const int64_t n = 3, c = 5, h = 17, w = 19, hw = h * w;
  const Shape shape{n, c, h, w};
  const std::vector<float> x = test::random_vector(n * c * hw, 40, 2.f, 4.f);
  const std::vector<float> res = test::random_vector(n * c * hw, 41);
  const std::vector<float> dy = test::random_vector(n * c * hw, 42);
  const std::vector<float> gamma = test::random_vector(c, 43, 0.5f, 1.5f);
  const std::vector<float> beta = test::random_vector(c, 44);
  // The reference: BatchNorm in double, then + residual, then ReLU; backward through the
  // (float) ReLU mask of the fast forward.
  std::vector<double> want(x.size()), wmean(static_cast<size_t>(c)), winv(static_cast<size_t>(c));
  const std::vector<double> xd = to_double(x), gd = to_double(gamma), bd = to_double(beta);
  cpu::batchnorm2d_forward_train<double>(want.data(), wmean.data(), winv.data(), nullptr, nullptr,
                                         xd.data(), gd.data(), bd.data(), n, c, hw, 1e-5, 0.1);
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::max(want[i] + double(res[i]), 0.0);
  std::vector<std::vector<float>> outs;
  int ran = 0;
  for (cpu::ConvKernel kern :
       {cpu::ConvKernel::Avx512, cpu::ConvKernel::Avx2, cpu::ConvKernel::Portable}) {
    if (!cpu::conv_kernel_supported(kern)) continue;
    cpu::set_conv_kernel(kern);
    ++ran;
    for (int t : {1, 2, 3}) {
      SCOPED_TRACE(std::string(cpu::conv_kernel_name(kern)) + ", threads " + std::to_string(t));
      omp_set_num_threads(t);
      Context ctx;
      Tensor xt = Tensor::from_vector(x, shape), rt = Tensor::from_vector(res, shape);
      Tensor dyt = Tensor::from_vector(dy, shape);
      Tensor g = Tensor::from_vector(gamma, {c}), b = Tensor::from_vector(beta, {c});
      Tensor rm = Tensor::zeros({c}),
             rv = Tensor::from_vector(std::vector<float>(size_t(c), 1.f), {c});
      Tensor y(shape), mean({c}), invstd({c});
      batchnorm2d_forward_train_act(ctx, y, mean, invstd, rm, rv, xt, g, b, 1e-5f, 0.1f, &rt, true);
      expect_rel_norm(y.to_vector(), want, 2e-6, "y");
      Tensor dx(shape), dz(shape), dg = Tensor::zeros({c}), db = Tensor::zeros({c});
      batchnorm2d_backward_act(ctx, &dx, &dz, &dg, &db, dyt, y, xt, g, mean, invstd, 1e-5f, true);
      std::vector<double> gmask = to_double(dy), wdx(x.size()), wdg(static_cast<size_t>(c), 0.0),
                          wdb(static_cast<size_t>(c), 0.0);
      const std::vector<float> yv = y.to_vector();
      for (size_t i = 0; i < gmask.size(); ++i) gmask[i] = yv[i] > 0.f ? gmask[i] : 0.0;
      const std::vector<double> md = to_double(mean.to_vector()),
                                id = to_double(invstd.to_vector());
      cpu::batchnorm2d_backward<double>(wdx.data(), wdg.data(), wdb.data(), gmask.data(), xd.data(),
                                        gd.data(), md.data(), id.data(), n, c, hw);
      expect_rel_norm(dx.to_vector(), wdx, 1e-5, "dx");
      expect_rel_norm(dg.to_vector(), wdg, 1e-5, "dgamma");
      expect_rel_norm(db.to_vector(), wdb, 1e-5, "dbeta");
      std::vector<float> all = yv;
      for (const Tensor* o : {&mean, &invstd, &rm, &rv, &dx, &dz, &dg, &db}) {
        const std::vector<float> v = o->to_vector();
        all.insert(all.end(), v.begin(), v.end());
      }
      outs.push_back(all);
      for (size_t i = 0; i < all.size(); ++i)
        ASSERT_EQ(outs.back()[i], outs.front()[i]) << "element " << i << " of y (" << x.size()
                                                   << "), mean, invstd, running mean, var, dx, "
                                                      "dz, dgamma, dbeta ("
                                                   << c << " each per-channel)";
    }
  }
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  omp_set_num_threads(saved);
  EXPECT_GE(ran, 1);
}

// The selection: the Gemm kernel turns the direct path off; 1x1 convolutions and very wide ones
// stay on GEMM.
TEST(FastPath, DirectConvSelection) {
  Context ctx;
  const Conv2dShape s = conv2d_shape({2, 3, 5, 5}, {4, 3, 3, 3}, {1, 1, 1, 1});
  const Conv2dShape pw = conv2d_shape({2, 3, 5, 5}, {4, 3, 1, 1}, {1, 1, 0, 0});
  std::vector<float> x(2 * 3 * 25, 1.f), w(4 * 3 * 9, 1.f), y(2 * 4 * 25, 0.f);
  cpu::set_conv_kernel(cpu::ConvKernel::Gemm);
  EXPECT_EQ(cpu::conv_kernel(), cpu::ConvKernel::Gemm);
  EXPECT_FALSE(cpu::conv2d_direct_forward(ctx, y.data(), x.data(), w.data(), s, {}));
  cpu::set_conv_kernel(cpu::ConvKernel::Portable);
  EXPECT_TRUE(cpu::conv2d_direct_forward(ctx, y.data(), x.data(), w.data(), s, {}));
  EXPECT_EQ(y[0], 12.f);  // top-left corner: 4 of 9 taps inside x 3 channels
  EXPECT_FALSE(cpu::conv2d_direct_forward(ctx, y.data(), x.data(), w.data(), pw, {}));
  // Past 3x3x256 filter taps per output channel the GEMM path is used (and for the filter
  // gradient past C*K = 256*256).
  const Conv2dShape wide = conv2d_shape({1, 257, 3, 3}, {4, 257, 3, 3}, {1, 1, 1, 1});
  const Conv2dShape ck = conv2d_shape({1, 256, 3, 3}, {257, 256, 3, 3}, {1, 1, 1, 1});
  std::vector<float> xw(257 * 9, 1.f), ww(4 * 257 * 9, 1.f), yw(4 * 9, 0.f);
  EXPECT_FALSE(cpu::conv2d_direct_forward(ctx, yw.data(), xw.data(), ww.data(), wide, {}));
  std::vector<float> xc(256 * 9, 1.f), dyc(257 * 9, 1.f), dwc(257 * 256 * 9, 0.f);
  EXPECT_FALSE(cpu::conv2d_direct_backward_filter(ctx, dwc.data(), dyc.data(), xc.data(), ck));
  // Past 3x3x512 taps the GEMM path whatever the number of output pixels.
  const Conv2dShape wider = conv2d_shape({4, 513, 8, 8}, {4, 513, 3, 3}, {1, 1, 1, 1});
  std::vector<float> xr(4 * 513 * 64, 1.f), wr(4 * 513 * 9, 1.f), yr(4 * 4 * 64, 0.f);
  EXPECT_FALSE(cpu::conv2d_direct_forward(ctx, yr.data(), xr.data(), wr.data(), wider, {}));
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  EXPECT_NE(cpu::conv_kernel(), cpu::ConvKernel::Auto);
}

// With >= 256 output pixels per call the direct kernel takes up to 3x3x512 taps and, for the
// filter gradient, C*K up to 512*512 (layer4 of ResNet-34 at n = 8): every variant against the
// double-precision reference, forward, data and filter gradient.
TEST(FastPath, DirectConvWideLayersWithManyPixels) {
  const Conv2dShape s = conv2d_shape({4, 260, 8, 8}, {264, 260, 3, 3}, {1, 1, 1, 1});
  ASSERT_GT(s.c * s.r * s.s, 9 * 256);
  ASSERT_GT(s.c * s.k, 256 * 256);
  ASSERT_GE(s.n * s.p * s.q, 256);
  const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 30);
  const std::vector<float> w = test::random_vector(s.k * s.c * s.r * s.s, 31);
  const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 32);
  const std::vector<double> xd = to_double(x), wd = to_double(w), dyd = to_double(dy);
  std::vector<double> col(size_t(cpu::conv2d_col_elems(s)));
  std::vector<double> want_y(dy.size()), want_dx(x.size()), want_dw(w.size(), 0.0);
  cpu::conv2d_forward<double>(want_y.data(), xd.data(), wd.data(), nullptr, s, col.data());
  cpu::conv2d_backward<double>(want_dx.data(), want_dw.data(), nullptr, dyd.data(), xd.data(),
                               wd.data(), s, col.data());
  for_each_direct_kernel([&] {
    Context ctx;
    std::vector<float> y(dy.size()), dx(x.size()), dw(w.size(), 0.f);
    ASSERT_TRUE(cpu::conv2d_direct_forward(ctx, y.data(), x.data(), w.data(), s, {}));
    expect_rel_norm(y, want_y, 2e-6, "y");
    ASSERT_TRUE(cpu::conv2d_direct_backward_data(ctx, dx.data(), dy.data(), w.data(), s));
    expect_rel_norm(dx, want_dx, 2e-6, "dx");
    ASSERT_TRUE(cpu::conv2d_direct_backward_filter(ctx, dw.data(), dy.data(), x.data(), s));
    expect_rel_norm(dw, want_dw, 2e-6, "dw");
  });
}

}  // namespace
}  // namespace gbad
