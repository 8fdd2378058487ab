// Winograd F(4x4, 3x3) (kernels/cpu/conv2d_winograd.cpp), forced on, each instruction-set
// variant in turn, against the double-precision reference: forward with every epilogue, the
// data gradient and the filter gradient. Shapes cover padding 0/1/2 and asymmetric, outputs that
// are not multiples of the 4x4 tile, tiny late-layer outputs (1x1, 7x7 with many images), channel
// counts that are not multiples of the vector width, C = 512; 1 and 2 OpenMP threads.
//
// Accuracy, measured with these tests' inputs (uniform in [-1, 1], and in [0, 1] like
// post-ReLU activations; C = 32..512, up to 196 tiles; every variant, every epilogue): the error
// relative to the output's norm is at most 1.8e-6 (forward and data gradient; the direct kernel
// on the same shapes: 4.3e-7) and 2.0e-6 for the filter gradient; the largest element error
// relative to max |output| at most 7.1e-6 (direct: 1.2e-6). C = 512 is no worse (the products
// sum runs of 64 channels, then the runs; one chain of 512 gave 3.9e-6 / 1.6e-5). F(4x4)'s
// transforms (coefficients up to 8 and 5) amplify rounding about 3-7x over direct.
// Tolerances: about 2-3x the worst measured, kRelNorm = 4e-6, kRelMax = 2e-5.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/conv2d.h"
#include "kernels/cpu/conv2d_direct.h"
#include "kernels/cpu/conv2d_winograd.h"

namespace gbad {
namespace {

using test::to_double;

constexpr double kRelNorm = 4e-6;
constexpr double kRelMax = 2e-5;

struct WinoCase {
  const char* name;
  int64_t n, c, h, w, k;
  Conv2dParams p;
};

const std::vector<WinoCase>& wino_cases() {
  static const std::vector<WinoCase> c = {
      {"14x14_pad1", 2, 32, 14, 14, 32, {1, 1, 1, 1}},
      {"ragged_11x9_odd_channels", 2, 33, 11, 9, 37, {1, 1, 1, 1}},
      {"no_pad_10x13", 2, 32, 10, 13, 35, {1, 1, 0, 0}},
      {"pad2_7x7", 1, 32, 7, 7, 32, {1, 1, 2, 2}},
      {"pad_asym_1x2", 2, 40, 9, 8, 32, {1, 1, 1, 2}},
      {"late_7x7_many_images", 9, 64, 7, 7, 48, {1, 1, 1, 1}},
      {"1x1_image", 3, 32, 1, 1, 32, {1, 1, 1, 1}},
      {"c512_7x7", 2, 512, 7, 7, 40, {1, 1, 1, 1}},
      // Many tiles (196; several blocks): the filter gradient's sum over tiles.
      {"many_tiles_28x28", 4, 64, 28, 28, 64, {1, 1, 1, 1}},
  };
  return c;
}

struct Err {
  double rel_norm = 0, rel_max = 0;
};

Err errors(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0, emax = 0, vmax = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    num += d * d;
    den += want[i] * want[i];
    emax = std::max(emax, std::abs(d));
    vmax = std::max(vmax, std::abs(want[i]));
  }
  return {std::sqrt(num / den), emax / vmax};
}

void expect_accurate(const std::vector<float>& got, const std::vector<double>& want,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_TRUE(std::isfinite(got[i])) << what << " element " << i;
  const Err e = errors(got, want);
  EXPECT_LE(e.rel_norm, kRelNorm) << what;
  EXPECT_LE(e.rel_max, kRelMax) << what;
  if (std::getenv("GBAD_TEST_PRINT_ERRORS"))
    std::printf("%-40s rel_norm %.2e rel_max %.2e\n", what.c_str(), e.rel_norm, e.rel_max);
}

// Runs body() with Winograd forced on, for each variant this CPU supports, 1 and 2 threads.
template <typename F>
void for_each_kernel(F&& body) {
  const int saved = omp_get_max_threads();
  cpu::set_conv_winograd(cpu::ConvWinograd::On);
  int ran = 0;
  for (cpu::ConvKernel k :
       {cpu::ConvKernel::Avx512, cpu::ConvKernel::Avx2, cpu::ConvKernel::Portable}) {
    if (!cpu::conv_kernel_supported(k)) continue;
    cpu::set_conv_kernel(k);
    ++ran;
    for (int t : {1, 2}) {
      SCOPED_TRACE(std::string(cpu::conv_kernel_name(k)) + ", threads " + std::to_string(t));
      omp_set_num_threads(t);
      body(std::string(cpu::conv_kernel_name(k)) + "/t" + std::to_string(t));
    }
  }
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  cpu::set_conv_winograd(cpu::ConvWinograd::Auto);
  omp_set_num_threads(saved);
  EXPECT_GE(ran, 1);
}

TEST(FastPath, WinogradForwardEveryKernelAndEpilogue) {
  for_each_kernel([](const std::string& tag) {
    Context ctx;
    for (const WinoCase& wc : wino_cases()) {
      const Conv2dShape s = conv2d_shape({wc.n, wc.c, wc.h, wc.w}, {wc.k, wc.c, 3, 3}, wc.p);
      for (const bool relu_input : {false, true}) {
        std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 1);
        if (relu_input)
          for (float& v : x) v = std::abs(v);
        const std::vector<float> w = test::random_vector(s.k * s.c * 9, 2);
        const std::vector<float> scale = test::random_vector(s.k, 3);
        const std::vector<float> shift = test::random_vector(s.k, 4);
        const std::vector<float> res = test::random_vector(s.n * s.k * s.p * s.q, 5);
        std::vector<double> conv(size_t(s.n * s.k * s.p * s.q));
        std::vector<double> col(size_t(cpu::conv2d_col_elems(s)));
        const std::vector<double> xd = to_double(x), wd = to_double(w);
        cpu::conv2d_forward<double>(conv.data(), xd.data(), wd.data(), nullptr, s, col.data());
        // 0: plain, 1: bias, 2: scale + shift + ReLU, 3: scale + shift + residual + ReLU.
        for (int variant = 0; variant < 4; ++variant) {
          const std::string what =
              tag + " " + wc.name + (relu_input ? " x>=0" : "") + " e" + std::to_string(variant);
          SCOPED_TRACE(what);
          cpu::ConvEpilogue e;
          if (variant >= 1) e.shift = shift.data();
          if (variant >= 2) e.scale = scale.data();
          if (variant == 3) e.residual = res.data();
          e.relu = variant >= 2;
          const std::vector<double> want = test::apply_epilogue(conv, s, e);
          std::vector<float> y(want.size(), std::nanf(""));
          ASSERT_TRUE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), s, e));
          expect_accurate(y, want, what);
          // The fast path takes the same route.
          if (variant == 0) {
            if (std::getenv("GBAD_TEST_PRINT_ERRORS")) {  // the direct kernel, for comparison
              std::vector<float> yd(want.size());
              if (cpu::conv2d_direct_forward(ctx, yd.data(), x.data(), w.data(), s, e)) {
                const Err d = errors(yd, want);
                std::printf("%-40s rel_norm %.2e rel_max %.2e\n", (what + " direct").c_str(),
                            d.rel_norm, d.rel_max);
              }
            }
            std::vector<float> y2(want.size(), std::nanf(""));
            cpu::conv2d_forward_fast(ctx, y2.data(), x.data(), w.data(), s, e);
            EXPECT_EQ(y2, y);
          }
        }
      }
    }
  });
}

TEST(FastPath, WinogradBackwardDataEveryKernel) {
  for_each_kernel([](const std::string& tag) {
    Context ctx;
    for (const WinoCase& wc : wino_cases()) {
      const std::string what = tag + " " + wc.name + " dx";
      SCOPED_TRACE(what);
      const Conv2dShape s = conv2d_shape({wc.n, wc.c, wc.h, wc.w}, {wc.k, wc.c, 3, 3}, wc.p);
      const std::vector<float> w = test::random_vector(s.k * s.c * 9, 7);
      const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 8);
      const int64_t xn = s.n * s.c * s.h * s.w;
      std::vector<double> want(static_cast<size_t>(xn));
      std::vector<double> col(size_t(cpu::conv2d_col_elems(s)));
      const std::vector<double> wd = to_double(w), dyd = to_double(dy);
      cpu::conv2d_backward<double>(want.data(), nullptr, nullptr, dyd.data(), nullptr, wd.data(), s,
                                   col.data());
      std::vector<float> dx(size_t(xn), std::nanf(""));
      ASSERT_TRUE(cpu::conv2d_winograd_backward_data(ctx, dx.data(), dy.data(), w.data(), s));
      expect_accurate(dx, want, what);
      std::vector<float> dx2(size_t(xn), std::nanf(""));
      cpu::conv2d_backward_fast(ctx, dx2.data(), nullptr, nullptr, dy.data(), nullptr, w.data(), s);
      EXPECT_EQ(dx2, dx);
    }
  });
}

TEST(FastPath, WinogradBackwardFilterEveryKernel) {
  for_each_kernel([](const std::string& tag) {
    Context ctx;
    for (const WinoCase& wc : wino_cases()) {
      const std::string what = tag + " " + wc.name + " dw";
      SCOPED_TRACE(what);
      const Conv2dShape s = conv2d_shape({wc.n, wc.c, wc.h, wc.w}, {wc.k, wc.c, 3, 3}, wc.p);
      const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 9);
      const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 10);
      // dw accumulates: start from non-zero values.
      std::vector<float> dw = test::random_vector(s.k * s.c * 9, 11);
      std::vector<double> want = to_double(dw);
      std::vector<double> col(size_t(cpu::conv2d_col_elems(s)));
      const std::vector<double> xd = to_double(x), dyd = to_double(dy);
      cpu::conv2d_backward<double>(nullptr, want.data(), nullptr, dyd.data(), xd.data(), nullptr, s,
                                   col.data());
      std::vector<double> grad(want.size());  // the gradient alone, for the error's scale
      for (size_t i = 0; i < want.size(); ++i) grad[i] = want[i] - double(dw[i]);
      const std::vector<float> dw0 = dw;
      ASSERT_TRUE(cpu::conv2d_winograd_backward_filter(ctx, dw.data(), dy.data(), x.data(), s));
      std::vector<float> got(dw.size());
      for (size_t i = 0; i < dw.size(); ++i) got[i] = float(double(dw[i]) - double(dw0[i]));
      expect_accurate(got, grad, what);
    }
  });
}

// Blocks are fixed by the shape and each runs a single-threaded SGEMM: the same bits for any
// thread count (3 threads split the blocks unevenly).
TEST(FastPath, WinogradSameBitsForAnyThreadCount) {
  const int saved = omp_get_max_threads();
  cpu::set_conv_winograd(cpu::ConvWinograd::On);
  for (cpu::ConvKernel kern :
       {cpu::ConvKernel::Avx512, cpu::ConvKernel::Avx2, cpu::ConvKernel::Portable}) {
    if (!cpu::conv_kernel_supported(kern)) continue;
    SCOPED_TRACE(cpu::conv_kernel_name(kern));
    cpu::set_conv_kernel(kern);
    const Conv2dShape s = conv2d_shape({5, 48, 30, 29}, {40, 48, 3, 3}, {1, 1, 1, 1});
    const std::vector<float> x = test::random_vector(s.n * s.c * s.h * s.w, 12);
    const std::vector<float> w = test::random_vector(s.k * s.c * 9, 13);
    const std::vector<float> dy = test::random_vector(s.n * s.k * s.p * s.q, 14);
    std::vector<std::vector<float>> y, dx, dw;
    for (int t : {1, 2, 3}) {
      omp_set_num_threads(t);
      Context ctx;
      y.emplace_back(size_t(s.n * s.k * s.p * s.q));
      ASSERT_TRUE(cpu::conv2d_winograd_forward(ctx, y.back().data(), x.data(), w.data(), s, {}));
      dx.emplace_back(x.size());
      ASSERT_TRUE(
          cpu::conv2d_winograd_backward_data(ctx, dx.back().data(), dy.data(), w.data(), s));
      dw.emplace_back(w.size(), 0.f);
      ASSERT_TRUE(
          cpu::conv2d_winograd_backward_filter(ctx, dw.back().data(), dy.data(), x.data(), s));
    }
    for (size_t i = 1; i < y.size(); ++i) {
      EXPECT_EQ(y[i], y[0]);
      EXPECT_EQ(dx[i], dx[0]);
      EXPECT_EQ(dw[i], dw[0]);
    }
  }
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
  cpu::set_conv_winograd(cpu::ConvWinograd::Auto);
  omp_set_num_threads(saved);
}

// The switch and the shapes: Off, the Gemm kernel, other filter sizes, strides and padding > 2
// are refused; Auto follows conv2d_winograd_pays.
TEST(FastPath, WinogradSelection) {
  Context ctx;
  const Conv2dShape s = conv2d_shape({2, 32, 8, 8}, {32, 32, 3, 3}, {1, 1, 1, 1});
  std::vector<float> x(size_t(2 * 32 * 64), 1.f), w(size_t(32 * 32 * 9), 1.f);
  std::vector<float> y(size_t(2 * 32 * 64), 0.f);
  cpu::set_conv_kernel(cpu::ConvKernel::Portable);
  cpu::set_conv_winograd(cpu::ConvWinograd::On);
  ASSERT_TRUE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), s, {}));
  EXPECT_NEAR(y[0], 4.f * 32, 1e-3);   // corner: 4 of 9 taps x 32 channels
  EXPECT_NEAR(y[9], 9.f * 32, 1e-3);   // inside
  EXPECT_NEAR(y[63], 4.f * 32, 1e-3);  // the last corner
  for (const Conv2dParams p : {Conv2dParams{2, 2, 1, 1}, Conv2dParams{1, 1, 3, 3}}) {
    const Conv2dShape t = conv2d_shape({2, 32, 8, 8}, {32, 32, 3, 3}, p);
    EXPECT_FALSE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), t, {}));
  }
  const Conv2dShape five = conv2d_shape({2, 32, 8, 8}, {4, 32, 5, 5}, {1, 1, 2, 2});
  EXPECT_FALSE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), five, {}));
  cpu::set_conv_kernel(cpu::ConvKernel::Gemm);
  EXPECT_FALSE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), s, {}));
  cpu::set_conv_kernel(cpu::ConvKernel::Portable);
  cpu::set_conv_winograd(cpu::ConvWinograd::Off);
  EXPECT_FALSE(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), s, {}));
  EXPECT_FALSE(cpu::conv2d_winograd_backward_data(ctx, x.data(), y.data(), w.data(), s));
  std::vector<float> dw0(w.size(), 0.f);
  EXPECT_FALSE(cpu::conv2d_winograd_backward_filter(ctx, dw0.data(), y.data(), x.data(), s));
  cpu::set_conv_winograd(cpu::ConvWinograd::Auto);
  EXPECT_EQ(cpu::conv2d_winograd_forward(ctx, y.data(), x.data(), w.data(), s, {}),
            cpu::conv2d_winograd_pays(s));
  std::vector<float> dw(w.size(), 0.f);
  EXPECT_EQ(cpu::conv2d_winograd_backward_filter(ctx, dw.data(), y.data(), x.data(), s),
            cpu::conv2d_winograd_filter_grad_pays(s));
  cpu::set_conv_kernel(cpu::ConvKernel::Auto);
}

}  // namespace
}  // namespace gbad
