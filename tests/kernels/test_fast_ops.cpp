// The CPU fast paths of the non-convolution ops (max pooling, global average pooling, the FPN's
// fused upsample + add, ...) against their readable references, which are the specification.
// Shapes cover the clipped edges (odd and even sizes, one-row and one-column inputs); values
// include ties, -inf and NaN where the reference defines what wins; 1 and 2 OpenMP threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/loss.h"
#include "kernels/pooling.h"

namespace gbad {
namespace {

struct Plane {
  int64_t planes, h, w;
};

// Values from a few levels (many ties), with -inf and NaN sprinkled in when asked.
std::vector<float> pool_input(int64_t n, uint32_t seed, bool specials) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(-3, 3), pick(0, 40);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    v = 0.5f * static_cast<float>(level(rng));
    if (specials) {
      const int s = pick(rng);
      if (s == 0) v = -std::numeric_limits<float>::infinity();
      if (s == 1) v = std::numeric_limits<float>::quiet_NaN();
    }
  }
  return x;
}

class ThreadsGuard {
 public:
  explicit ThreadsGuard(int n) : old_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadsGuard() { omp_set_num_threads(old_); }

 private:
  int old_;
};

TEST(FastPath, MaxPool3x3s2p1MatchesReference) {
  const std::vector<Plane> shapes = {{3, 1, 1},  {2, 1, 5},    {2, 5, 1},  {2, 2, 2},
                                     {3, 5, 7},  {4, 8, 8},    {5, 9, 10}, {1, 3, 2},
                                     {2, 4, 33}, {64, 48, 48}, {3, 97, 95}};
  for (int threads : {1, 2}) {
    ThreadsGuard tg(threads);
    for (const Plane& s : shapes)
      for (bool specials : {false, true}) {
        const std::string what = std::to_string(s.planes) + "x" + std::to_string(s.h) + "x" +
                                 std::to_string(s.w) + (specials ? " with -inf/NaN" : "") +
                                 ", threads " + std::to_string(threads);
        const std::vector<float> x =
            pool_input(s.planes * s.h * s.w, static_cast<uint32_t>(s.h * 131 + s.w), specials);
        const int64_t ho = maxpool2d_out_size(s.h, 3, 2, 1), wo = maxpool2d_out_size(s.w, 3, 2, 1);
        const size_t n = static_cast<size_t>(s.planes * ho * wo);
        std::vector<float> y_ref(n), a_ref(n), y(n, 7.f), a(n, 7.f);
        cpu::maxpool2d_forward_ref(y_ref.data(), a_ref.data(), x.data(), s.planes, s.h, s.w, 3, 2,
                                   1);
        cpu::maxpool2d_forward_3x3s2p1(y.data(), a.data(), x.data(), s.planes, s.h, s.w);
        // Bitwise: the same value (NaN payloads included) and the same argmax index.
        ASSERT_EQ(std::memcmp(y.data(), y_ref.data(), n * sizeof(float)), 0) << what;
        ASSERT_EQ(std::memcmp(a.data(), a_ref.data(), n * sizeof(float)), 0) << what;
      }
  }
}

std::vector<float> uniform(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& e : v) e = u(rng);
  return v;
}

// The 2x fast path (forward and backward, with and without the fused addend) is bitwise the
// reference, including the -0.0 + 0.0 cases of a zero start.
TEST(FastPath, Upsample2xMatchesReference) {
  const std::vector<Plane> shapes = {{3, 1, 1}, {2, 1, 5},    {4, 3, 3},
                                     {5, 6, 7}, {64, 12, 12}, {2, 24, 25}};
  for (int threads : {1, 2}) {
    ThreadsGuard tg(threads);
    for (const Plane& s : shapes)
      for (bool with_add : {false, true}) {
        const std::string what = std::to_string(s.planes) + "x" + std::to_string(s.h) + "x" +
                                 std::to_string(s.w) + (with_add ? " + addend" : "") +
                                 ", threads " + std::to_string(threads);
        const int64_t n = s.planes * s.h * s.w, no = 4 * n;
        std::vector<float> x = uniform(n, 1), lat = uniform(no, 2), dy = uniform(no, 3),
                           addend = uniform(n, 4);
        x[0] = -0.f;
        dy[0] = -0.f;  // a one-element plane's gradient sum then depends on the zero start
        const float* la = with_add ? lat.data() : nullptr;
        const float* ad = with_add ? addend.data() : nullptr;
        const size_t nn = static_cast<size_t>(n), nno = static_cast<size_t>(no);
        std::vector<float> y_ref(nno), y(nno, 7.f), dx_ref(nn), dx(nn, 7.f);
        cpu::upsample_nearest_forward_ref(y_ref.data(), x.data(), la, s.planes, s.h, s.w, 2 * s.h,
                                          2 * s.w);
        cpu::upsample_nearest2x_forward(y.data(), x.data(), la, s.planes, s.h, s.w);
        ASSERT_EQ(std::memcmp(y.data(), y_ref.data(), y.size() * sizeof(float)), 0) << what;
        cpu::upsample_nearest_backward_ref(dx_ref.data(), dy.data(), ad, s.planes, s.h, s.w,
                                           2 * s.h, 2 * s.w);
        cpu::upsample_nearest2x_backward(dx.data(), dy.data(), ad, s.planes, s.h, s.w);
        ASSERT_EQ(std::memcmp(dx.data(), dx_ref.data(), dx.size() * sizeof(float)), 0) << what;
      }
  }
}

// Same double sums in another order: equal to the reference within a float rounding.
TEST(FastPath, GlobalAvgPoolMatchesReference) {
  for (int threads : {1, 2})
    for (int64_t hw : {1, 7, 8, 9, 36, 576, 3137}) {
      ThreadsGuard tg(threads);
      const int64_t planes = 300;
      std::vector<float> x = uniform(planes * hw, static_cast<uint32_t>(hw));
      for (auto& v : x) v += 1000.f;  // a large mean: cancellation would show
      std::vector<float> y_ref(static_cast<size_t>(planes)), y(static_cast<size_t>(planes), 7.f);
      cpu::global_avgpool_forward_ref(y_ref.data(), x.data(), planes, hw);
      cpu::global_avgpool_forward_fast(y.data(), x.data(), planes, hw);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], y_ref[i], 1e-7 * std::fabs(y_ref[i]))
            << "plane " << i << ", hw " << hw << ", threads " << threads;
    }
}

// The L1/L2 sums (8 interleaved double accumulators) against a serial double sum, and the L1
// gradient (sign / n, zero for a zero or NaN difference) against its definition.
TEST(FastPath, LossSumsMatchSerialDouble) {
  Context ctx;
  for (int64_t n : {1, 7, 8, 9, 1000, 65537}) {
    std::vector<float> av = uniform(n, 11), bv = uniform(n, 12);
    bv[0] = av[0];  // a zero difference
    if (n > 2) av[2] = std::numeric_limits<float>::quiet_NaN();
    Tensor a = Tensor::from_vector(av, {n}), b = Tensor::from_vector(bv, {n}), loss({1}), da({n}),
           none;
    l1_loss(ctx, loss, da, a, b);
    std::vector<float> d = da.to_vector();
    const float inv = static_cast<float>(1.0 / double(n));
    for (int64_t i = 0; i < n; ++i) {
      const float diff = av[size_t(i)] - bv[size_t(i)];
      const float want = diff > 0.f ? inv : (diff < 0.f ? -inv : 0.f);
      ASSERT_EQ(d[size_t(i)], want) << "n " << n << " element " << i;
    }
    if (n > 2) av[2] = 0.5f;  // finite sums below
    a = Tensor::from_vector(av, {n});
    double s1 = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double t = double(av[size_t(i)]) - double(bv[size_t(i)]);
      s1 += std::fabs(t);
      s2 += t * t;
    }
    l1_loss(ctx, loss, none, a, b);
    EXPECT_NEAR(loss.to_vector()[0], s1 / double(n), 1e-7 * s1 / double(n)) << n;
    l2_loss(ctx, loss, none, a, b);
    EXPECT_NEAR(loss.to_vector()[0], s2 / double(n), 1e-7 * s2 / double(n)) << n;
    Tensor rows_in_a = Tensor::from_vector(av, {1, n}), rows_in_b = Tensor::from_vector(bv, {1, n}),
           per({1});
    l1_per_sample(ctx, per, rows_in_a, rows_in_b);
    EXPECT_NEAR(per.to_vector()[0], s1, 1e-7 * s1) << n;
    l2_per_sample(ctx, per, rows_in_a, rows_in_b);
    EXPECT_NEAR(per.to_vector()[0], std::sqrt(s2), 1e-7 * std::sqrt(s2)) << n;
  }
}

}  // namespace
}  // namespace gbad
