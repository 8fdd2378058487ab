#pragma once

#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

namespace gbad::test {

template <typename T, typename F>
int64_t check_gradient(F&& f, T* x, int64_t n, const T* analytic, double step, double tol,
                       int64_t max_points, uint64_t seed,
                       const std::function<bool(int64_t)>& kink) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (n > max_points) {
    std::mt19937_64 rng(seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(max_points));
  }
  int64_t checked = 0;
  for (int64_t i : idx) {
    if (kink && kink(i)) continue;
    T saved = x[i];
    x[i] = static_cast<T>(saved + step);
    double fp = f();
    x[i] = static_cast<T>(saved - step);
    double fm = f();
    x[i] = saved;
    double numeric = (fp - fm) / (2.0 * step);
    double a = static_cast<double>(analytic[i]);
    double scale = std::max({std::fabs(a), std::fabs(numeric), 1.0});
    EXPECT_NEAR(a, numeric, tol * scale) << "gradient mismatch at index " << i;
    ++checked;
  }
  return checked;
}

}  // namespace gbad::test
