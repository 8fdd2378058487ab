// Helpers shared by the GEMM / Linear / Conv2d / BatchNorm tests: double-precision copies,
// naive references and the loss used by the gradient checks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/test_util.h"
#include "kernels/conv2d.h"

namespace gbad::test {

struct ConvTol {
  static constexpr double kForward = 1e-5;  // float conv vs double direct conv, relative
  static constexpr double kForwardAbs = 1e-5;
  static constexpr double kStep = 1e-6;  // finite-difference step in double
};

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline std::vector<double> random_doubles(int64_t n, uint64_t seed) {
  return to_double(random_vector(n, seed));
}

inline double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Direct 7-loop convolution in double: the independent reference for conv2d_forward.
inline std::vector<double> direct_conv2d(const std::vector<double>& x, const std::vector<double>& w,
                                         const double* bias, const Conv2dShape& s) {
  std::vector<double> y(size_t(s.n * s.k * s.p * s.q), 0.0);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t oh = 0; oh < s.p; ++oh)
        for (int64_t ow = 0; ow < s.q; ++ow) {
          double acc = bias ? bias[k] : 0.0;
          for (int64_t c = 0; c < s.c; ++c)
            for (int64_t r = 0; r < s.r; ++r)
              for (int64_t q = 0; q < s.s; ++q) {
                int64_t ih = oh * s.sh - s.ph + r, iw = ow * s.sw - s.pw + q;
                if (ih < 0 || ih >= s.h || iw < 0 || iw >= s.w) continue;
                acc += x[size_t(((n * s.c + c) * s.h + ih) * s.w + iw)] *
                       w[size_t(((k * s.c + c) * s.r + r) * s.s + q)];
              }
          y[size_t(((n * s.k + k) * s.p + oh) * s.q + ow)] = acc;
        }
  return y;
}

// The float fast path's epilogue (kernels/conv2d.h: y = act(conv * scale[k] + shift[k]
// [+ residual])) applied in double to a double-precision convolution output (N,K,P,Q): what the
// fast paths' outputs are compared with.
inline std::vector<double> apply_epilogue(const std::vector<double>& conv, const Conv2dShape& s,
                                          const cpu::ConvEpilogue& e) {
  std::vector<double> out(conv.size());
  const int64_t pq = s.p * s.q;
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t k = (int64_t(i) / pq) % s.k;
    double v =
        conv[i] * (e.scale ? double(e.scale[k]) : 1.0) + (e.shift ? double(e.shift[k]) : 0.0);
    if (e.residual) v += double(e.residual[i]);
    if (e.relu) v = std::max(v, 0.0);
    out[i] = v;
  }
  return out;
}

}  // namespace gbad::test
