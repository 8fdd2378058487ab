// Ops added for InceptionV3 and DenseNet: average pooling (with and without counting the
// padding) and channel-slice copies.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/channels.h"
#include "kernels/channels_body.h"
#include "kernels/conv_test_util.h"
#include "kernels/k2_test_util.h"
#include "kernels/pooling.h"
#include "kernels/pooling_body.h"

namespace gbad {
namespace {

using test::cuda_vs_cpu;
using test::random_tensor;
using test::Ts;

Shape avg_out_shape(const Shape& x, const AvgPool2dParams& p) {
  return {x[0], x[1], avgpool2d_out_size(x[2], p.kh, p.sh, p.ph),
          avgpool2d_out_size(x[3], p.kw, p.sw, p.pw)};
}

AvgPool2dParams avg(int k, int s, int pad, bool include) {
  return AvgPool2dParams{k, k, s, s, pad, pad, include};
}

TEST(AvgPool, Inception3x3S1P1CountsPadding) {
  Context ctx;
  // 3x3 of ones: every output sums the real elements in its window over 9 (torch's default).
  Tensor x = Tensor::from_vector(std::vector<float>(9, 1.f), {1, 1, 3, 3}), y({1, 1, 3, 3});
  avgpool2d_forward(ctx, y, x, avg(3, 1, 1, true));
  const float c = 4.f / 9.f, e = 6.f / 9.f;
  EXPECT_EQ(y.to_vector(), (std::vector<float>{c, e, c, e, 1.f, e, c, e, c}));
  // Without counting the padding, every output is the mean of real elements: all ones.
  avgpool2d_forward(ctx, y, x, avg(3, 1, 1, false));
  EXPECT_EQ(y.to_vector(), std::vector<float>(9, 1.f));
}

TEST(AvgPool, Transition2x2S2AndAux5x5S3HandValues) {
  Context ctx;
  std::vector<float> v(20);
  for (int i = 0; i < 20; ++i) v[size_t(i)] = float(i);
  Tensor x = Tensor::from_vector(v, {1, 1, 4, 5}), y({1, 1, 2, 2});
  avgpool2d_forward(ctx, y, x, avg(2, 2, 0, true));  // floor mode drops the last column
  EXPECT_EQ(y.to_vector(), (std::vector<float>{3.f, 5.f, 13.f, 15.f}));
  Tensor dx({1, 1, 4, 5});
  avgpool2d_backward(ctx, dx, Tensor::from_vector({4, 8, 12, 16}, {1, 1, 2, 2}),
                     avg(2, 2, 0, true));
  EXPECT_EQ(dx.to_vector(), (std::vector<float>{1, 1, 2, 2, 0, 1, 1, 2, 2, 0,  //
                                                3, 3, 4, 4, 0, 3, 3, 4, 4, 0}));
  // InceptionV3's auxiliary head: 5x5 stride 3 over 17x17 -> 5x5.
  Tensor x17 = random_tensor({1, 2, 17, 17}, 3), y5({1, 2, 5, 5});
  avgpool2d_forward(ctx, y5, x17, avg(5, 3, 0, true));
  std::vector<float> xv = x17.to_vector(), yv = y5.to_vector();
  double s = 0;
  for (int a = 0; a < 5; ++a)
    for (int b = 0; b < 5; ++b) s += xv[size_t(17 * 17 + (3 * 4 + a) * 17 + 3 * 2 + b)];
  EXPECT_NEAR(yv[size_t(25 + 4 * 5 + 2)], s / 25.0, 1e-6);
}

TEST(AvgPool, RectangularAndBadInputs) {
  Context ctx;
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {1, 1, 2, 3}), y({1, 1, 2, 3});
  AvgPool2dParams p{1, 3, 1, 1, 0, 1, false};  // 1x3 window, padded along W only
  avgpool2d_forward(ctx, y, x, p);
  EXPECT_EQ(y.to_vector(), (std::vector<float>{1.5f, 2.f, 2.5f, 4.5f, 5.f, 5.5f}));
  Tensor bad({1, 1, 3, 3});
  EXPECT_THROW(avgpool2d_forward(ctx, bad, x, p), Error);                 // wrong output shape
  EXPECT_THROW(avgpool2d_forward(ctx, y, x, avg(3, 1, 2, true)), Error);  // 2p > k
  Tensor tiny({1, 1, 2, 2}), t1({1, 1, 1, 1});
  EXPECT_THROW(avgpool2d_forward(ctx, t1, tiny, avg(3, 1, 0, true)), Error);  // kernel > input
}

// The CPU reference in double against central differences; the error is measured on the whole
// gradient (every point) relative to its norm.
void avg_gradcheck(const Shape& xs, const AvgPool2dParams& p) {
  const Shape ys = avg_out_shape(xs, p);
  const int64_t planes = xs[0] * xs[1], nx = shape_numel(xs), ny = shape_numel(ys);
  std::vector<double> x = test::random_doubles(nx, 11), w = test::random_doubles(ny, 12);
  std::vector<double> y(static_cast<size_t>(ny)), dx(static_cast<size_t>(nx), 7.0);
  auto loss = [&] {
    cpu::avgpool2d_forward<double>(y.data(), x.data(), planes, xs[2], xs[3], p);
    return test::dot(y, w);
  };
  cpu::avgpool2d_backward<double>(dx.data(), w.data(), planes, xs[2], xs[3], p);
  double err2 = 0, norm2 = 0;
  const double h = 1e-4;
  for (int64_t i = 0; i < nx; ++i) {
    const double keep = x[size_t(i)];
    x[size_t(i)] = keep + h;
    const double lp = loss();
    x[size_t(i)] = keep - h;
    const double lm = loss();
    x[size_t(i)] = keep;
    const double num = (lp - lm) / (2 * h);
    err2 += (num - dx[size_t(i)]) * (num - dx[size_t(i)]);
    norm2 += dx[size_t(i)] * dx[size_t(i)];
  }
  ASSERT_GT(norm2, 0.0);
  EXPECT_LT(std::sqrt(err2 / norm2), 1e-8);
}

TEST(GradCheck, AvgPool3x3S1P1CountPad) {
  avg_gradcheck({2, 3, 7, 6}, avg(3, 1, 1, true));
}
TEST(GradCheck, AvgPool3x3S1P1NoCountPad) {
  avg_gradcheck({2, 3, 7, 6}, avg(3, 1, 1, false));
}
TEST(GradCheck, AvgPool2x2S2) {
  avg_gradcheck({2, 2, 9, 8}, avg(2, 2, 0, true));
}
TEST(GradCheck, AvgPool5x5S3) {
  avg_gradcheck({1, 2, 17, 14}, avg(5, 3, 0, true));
}
TEST(GradCheck, AvgPool3x3S2P1NoCountPad) {
  avg_gradcheck({1, 2, 8, 9}, avg(3, 2, 1, false));
}

// The host/device bodies the CUDA kernels run, driven on the CPU, against the reference.
TEST(Bodies, AvgPoolMatchesReference) {
  for (const AvgPool2dParams& p :
       {avg(3, 1, 1, true), avg(3, 1, 1, false), avg(2, 2, 0, true), avg(5, 3, 0, true),
        avg(3, 2, 1, false), AvgPool2dParams{1, 7, 1, 1, 0, 3, true}}) {
    const Shape xs = {2, 3, 17, 13}, ys = avg_out_shape(xs, p);
    const AvgGeom g{
        xs[2], xs[3], ys[2], ys[3], p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.count_include_pad};
    std::vector<double> x = test::random_doubles(shape_numel(xs), 1);
    std::vector<double> dy = test::random_doubles(shape_numel(ys), 2);
    std::vector<double> y(dy.size()), dx(x.size());
    cpu::avgpool2d_forward<double>(y.data(), x.data(), 6, xs[2], xs[3], p);
    cpu::avgpool2d_backward<double>(dx.data(), dy.data(), 6, xs[2], xs[3], p);
    for (size_t o = 0; o < y.size(); ++o)
      ASSERT_NEAR(avgpool2d_fwd_body<double>(x.data(), int64_t(o), g), y[o], 1e-12);
    for (size_t i = 0; i < x.size(); ++i)
      ASSERT_NEAR(avgpool2d_bwd_body<double>(dy.data(), int64_t(i), g), dx[i], 1e-12);
  }
}

TEST(ChannelCopy, WritesAndAccumulatesSlices) {
  Context ctx;
  // src (2,3,1,2) channels [1,3) -> dst (2,4,1,2) channels [2,4).
  Tensor src = Tensor::from_vector({0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15}, {2, 3, 1, 2});
  Tensor dst = Tensor::zeros({2, 4, 1, 2});
  channel_copy(ctx, dst, 2, src, 1, 2);
  EXPECT_EQ(dst.to_vector(),
            (std::vector<float>{0, 0, 0, 0, 2, 3, 4, 5, 0, 0, 0, 0, 12, 13, 14, 15}));
  channel_copy(ctx, dst, 0, src, 0, 3, true);
  EXPECT_EQ(dst.to_vector(),
            (std::vector<float>{0, 1, 2, 3, 6, 8, 4, 5, 10, 11, 12, 13, 26, 28, 14, 15}));
  EXPECT_THROW(channel_copy(ctx, dst, 3, src, 0, 2), Error);  // beyond dst
  EXPECT_THROW(channel_copy(ctx, dst, 0, src, 2, 2), Error);  // beyond src
  Tensor other({2, 3, 2, 1});
  EXPECT_THROW(channel_copy(ctx, dst, 0, other, 0, 1), Error);  // H, W differ
  EXPECT_THROW(channel_copy(ctx, dst, 0, dst, 2, 1), Error);    // same storage
}

TEST(Bodies, ChannelCopyIndexMatchesReference) {
  const ChannelCopyGeom g{6, 7, 5, 3, 1, 4};
  std::vector<double> src = test::random_doubles(3 * 5 * 6, 3), dst(3 * 7 * 6, 0.0),
                      ref(dst.size(), 0.0);
  cpu::channel_copy<double>(ref.data(), src.data(), 3, g, false);
  for (int64_t j = 0; j < 3 * g.count * g.hw; ++j) {
    int64_t di, si;
    channel_copy_index(j, g, &di, &si);
    dst[size_t(di)] = src[size_t(si)];
  }
  EXPECT_EQ(dst, ref);
}

TEST(CudaVsCpu, AvgPool2dForwardBackward) {
  GBAD_REQUIRE_CUDA();
  for (const AvgPool2dParams& p : {avg(3, 1, 1, true), avg(3, 1, 1, false), avg(2, 2, 0, true),
                                   avg(5, 3, 0, true), AvgPool2dParams{7, 1, 1, 1, 3, 0, true}}) {
    // 8*96*35*35 = 940,800 outputs for the 3x3 cases: more than one grid pass.
    const Shape xs = {8, 96, 35, 35}, ys = avg_out_shape(xs, p);
    cuda_vs_cpu({random_tensor(xs, 1), Tensor(ys), random_tensor(ys, 2), Tensor(xs)},
                [&](Context& c, Ts& t) {
                  avgpool2d_forward(c, t[1], t[0], p);
                  avgpool2d_backward(c, t[3], t[2], p);
                });
  }
}

TEST(CudaVsCpu, ChannelCopy) {
  GBAD_REQUIRE_CUDA();
  cuda_vs_cpu(
      {random_tensor({4, 32, 28, 28}, 1), random_tensor({4, 256, 28, 28}, 2)},
      [](Context& c, Ts& t) {
        channel_copy(c, t[1], 96, t[0], 0, 32);
        channel_copy(c, t[1], 0, t[0], 4, 20, true);
      },
      true);
}

}  // namespace
}  // namespace gbad
