// Helpers for the elementwise / pooling / loss / optimiser tests.
#pragma once

#include <algorithm>
#include <cstring>
#include <functional>
#include <vector>

#include "common/test_util.h"
#include "core/context.h"
#include "core/tensor.h"

namespace gbad::test {

// sum_i w_i * y_i in double: a scalar loss whose gradient with respect to y is w.
inline double weighted_sum(const Tensor& y, const std::vector<float>& w) {
  std::vector<float> v = y.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < v.size(); ++i) s += double(v[i]) * double(w[i]);
  return s;
}

// Finite-difference check of an op's backward (float32 code): L(x) = sum w_i * fwd(x)_i with
// random w; bwd(dy = w) must give dL/dx. Returns the number of points checked.
inline int64_t grad_check_op(Tensor& x, const std::function<const Tensor&(const Tensor&)>& fwd,
                             const std::function<Tensor(const Tensor&)>& bwd,
                             const std::function<bool(int64_t)>& kink = nullptr, double step = 1e-3,
                             uint64_t seed = 99) {
  const Tensor& y0 = fwd(x);
  Tensor w = random_tensor(y0.shape(), seed);
  std::vector<float> wv = w.to_vector();
  Tensor dx = bwd(w);
  std::vector<float> analytic = dx.to_vector();
  EXPECT_EQ(int64_t(analytic.size()), x.numel());
  auto f = [&]() { return weighted_sum(fwd(x), wv); };
  return check_gradient(f, x.f32(), x.numel(), analytic.data(), step, Tol::kGradFloat, 300, 1,
                        kink);
}

// Distinct values spaced 0.01 apart in random order (no ties, so max pooling's argmax is
// stable under a finite-difference step of 1e-3).
inline Tensor distinct_tensor(const Shape& shape, uint64_t seed) {
  const int64_t n = shape_numel(shape);
  std::vector<float> r = random_vector(n, seed), v(static_cast<size_t>(n));
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  std::sort(idx.begin(), idx.end(),
            [&](int64_t a, int64_t b) { return r[size_t(a)] < r[size_t(b)]; });
  for (int64_t k = 0; k < n; ++k) v[size_t(idx[size_t(k)])] = -1.f + 0.01f * float(k);
  return Tensor::from_vector(v, shape);
}

inline void expect_bits_equal(const Tensor& a, const Tensor& b, const char* what) {
  std::vector<float> va = a.to_vector(), vb = b.to_vector();
  ASSERT_EQ(va.size(), vb.size()) << what;
  EXPECT_EQ(0, std::memcmp(va.data(), vb.data(), va.size() * sizeof(float))) << what;
}

// Runs op on CPU tensors and on CUDA copies of the same tensors; compares every tensor after.
inline void cuda_vs_cpu(std::vector<Tensor> cpu_ts,
                        const std::function<void(Context&, std::vector<Tensor>&)>& op,
                        bool exact = false) {
  Context cctx(Device::CPU), gctx(Device::CUDA);
  std::vector<Tensor> gpu_ts;
  for (const Tensor& t : cpu_ts) gpu_ts.push_back(t.defined() ? t.to(Device::CUDA) : Tensor());
  op(cctx, cpu_ts);
  op(gctx, gpu_ts);
  for (size_t i = 0; i < cpu_ts.size(); ++i) {
    if (!cpu_ts[i].defined()) continue;
    Tensor g = gpu_ts[i].to(Device::CPU);
    if (exact)
      expect_bits_equal(cpu_ts[i], g, "cuda vs cpu (exact)");
    else
      expect_close(cpu_ts[i], g, Tol::kCudaVsCpuRel, Tol::kCudaVsCpuAbs, "cuda vs cpu");
  }
}

using Ts = std::vector<Tensor>;

}  // namespace gbad::test
