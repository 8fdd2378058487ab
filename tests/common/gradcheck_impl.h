#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

namespace gbad::test {

template <typename T, typename F>
int64_t check_gradient(F&& f, T* x, int64_t n, const T* analytic, double step, double tol,
                       int64_t max_points, uint64_t seed,
                       const std::function<bool(int64_t)>& kink) {
  // The analytic gradient must not vanish: a zero gradient would pass any relative test.
  double norm_all = 0;
  for (int64_t i = 0; i < n; ++i) norm_all += double(analytic[i]) * double(analytic[i]);
  norm_all = std::sqrt(norm_all);
  EXPECT_GT(norm_all, 0.0) << "the analytic gradient is zero: nothing to check";
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  if (n > max_points) {
    std::mt19937_64 rng(seed);
    std::shuffle(idx.begin(), idx.end(), rng);
    idx.resize(static_cast<size_t>(max_points));
  }
  double diff2 = 0, a2 = 0, n2 = 0, worst = -1;
  int64_t checked = 0, worst_i = -1;
  double worst_a = 0, worst_n = 0;
  for (int64_t i : idx) {
    if (kink && kink(i)) continue;
    T saved = x[i];
    x[i] = static_cast<T>(saved + step);
    double fp = f();
    x[i] = static_cast<T>(saved - step);
    double fm = f();
    x[i] = saved;
    const double numeric = (fp - fm) / (2.0 * step);
    const double a = static_cast<double>(analytic[i]);
    diff2 += (a - numeric) * (a - numeric);
    a2 += a * a;
    n2 += numeric * numeric;
    if (std::fabs(a - numeric) > worst) {
      worst = std::fabs(a - numeric);
      worst_i = i, worst_a = a, worst_n = numeric;
    }
    ++checked;
  }
  // |analytic - numeric| / max(|analytic|, |numeric|) over the checked entries, as vectors: a
  // gradient off by a constant factor k fails once |k - 1| / max(k, 1) > tol, however small its
  // entries are.
  const double denom = std::sqrt(std::max(a2, n2));
  EXPECT_GT(denom, 0.0) << "analytic and numeric gradients are zero on every checked entry";
  const double rel = denom > 0 ? std::sqrt(diff2) / denom : 0.0;
  EXPECT_LE(rel, tol) << "gradient mismatch: |analytic - numeric| / |gradient| = " << rel
                      << " over " << checked << " entries (tolerance " << tol
                      << "); worst at index " << worst_i << ": analytic " << worst_a << ", numeric "
                      << worst_n;
  return checked;
}

}  // namespace gbad::test
