// Helpers of the GPU readiness tests (tests/cuda): comparisons relative to a whole tensor's size,
// which stay meaningful at real sizes where single elements cancel to near zero.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/tensor.h"

namespace gbad::test {

// max |a - b| <= rel * max |b| (and the same length). Reports the worst index.
inline void expect_close_to_max(const std::vector<float>& a, const std::vector<float>& b,
                                double rel, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double scale = 0.0, worst = -1.0;
  size_t at = 0;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::fabs(double(b[i])));
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(double(a[i]) - double(b[i]));
    if (!(d <= worst)) {  // also catches NaN
      worst = d;
      at = i;
    }
  }
  EXPECT_TRUE(worst <= rel * scale && std::isfinite(worst))
      << what << ": max |cuda - cpu| = " << worst << " at " << at << " (cuda " << a[at] << ", cpu "
      << b[at] << "), allowed " << rel << " * max |cpu| = " << rel * scale;
}

inline void expect_close_to_max(const Tensor& cuda, const Tensor& cpu, double rel,
                                const std::string& what) {
  expect_close_to_max(cuda.to_vector(), cpu.to_vector(), rel, what);
}

// ||a - b||_2 <= rel * ||b||_2, and ||b||_2 > 0 unless `allow_zero`.
inline void expect_close_l2(const std::vector<float>& a, const std::vector<float>& b, double rel,
                            const std::string& what, bool allow_zero = false) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  if (!allow_zero) {
    EXPECT_GT(den, 0.0) << what << ": the CPU reference is all zeros";
  }
  EXPECT_TRUE(std::sqrt(num) <= rel * std::sqrt(den))
      << what << ": ||cuda - cpu|| = " << std::sqrt(num) << " vs ||cpu|| = " << std::sqrt(den)
      << " (allowed ratio " << rel << ")";
}

}  // namespace gbad::test
