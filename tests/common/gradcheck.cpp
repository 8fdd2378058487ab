#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "common/test_util.h"
#include "core/philox.h"

namespace gbad::test {

bool gpu_required() {
  const char* e = std::getenv("GBAD_REQUIRE_GPU");
  return e && *e && std::strcmp(e, "0") != 0;
}

std::vector<float> random_vector(int64_t n, uint64_t seed, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = lo + (hi - lo) * rng_uniform(seed, 12345, static_cast<uint64_t>(i));
  return v;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi, Device device) {
  return Tensor::from_vector(random_vector(shape_numel(shape), seed, lo, hi), shape, device);
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, double rel, double abs,
                  const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  size_t worst = 0, bad = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    double d = std::fabs(double(a[i]) - double(b[i]));
    double lim = abs + rel * std::max(std::fabs(double(a[i])), std::fabs(double(b[i])));
    if (!(d <= lim)) {  // NaN fails too
      ++bad;
      if (d - lim > worst_excess || std::isnan(d)) {
        worst_excess = d - lim;
        worst = i;
      }
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << a.size() << " elements differ; worst at "
                     << worst << ": " << (a.empty() ? 0.f : a[worst]) << " vs "
                     << (b.empty() ? 0.f : b[worst]);
}

void expect_close(const Tensor& a, const Tensor& b, double rel, double abs, const char* what) {
  EXPECT_EQ(a.shape(), b.shape()) << what;
  expect_close(a.to_vector(), b.to_vector(), rel, abs, what);
}

}  // namespace gbad::test
