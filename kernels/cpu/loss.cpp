// CPU reference for kernels/loss.h, in double precision. Loss sums run in one thread in a fixed
// order (8 interleaved double accumulators, which vectorise) so the result does not depend on
// the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/loss.h"

namespace gbad::cpu {

namespace {
// sum |a[i] - b[i]| in double, in 8 independent accumulators: a serial double sum is one long
// dependency chain (~4 cycles per element) and cannot be reordered by the compiler. The order is
// fixed, so the result does not depend on the thread count.
double sum_abs_diff(const float* a, const float* b, int64_t n) {
  constexpr int kAcc = 8;
  double acc[kAcc] = {};
  int64_t i = 0;
  for (; i + kAcc <= n; i += kAcc)
    for (int k = 0; k < kAcc; ++k)
      acc[k] += std::fabs(static_cast<double>(a[i + k]) - static_cast<double>(b[i + k]));
  double s = 0.0;
  for (; i < n; ++i) s += std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
  for (int k = 0; k < kAcc; ++k) s += acc[k];
  return s;
}

// sum (a[i] - b[i])^2 in double, accumulated as sum_abs_diff.
double sum_sq_diff(const float* a, const float* b, int64_t n) {
  constexpr int kAcc = 8;
  double acc[kAcc] = {};
  int64_t i = 0;
  for (; i + kAcc <= n; i += kAcc)
    for (int k = 0; k < kAcc; ++k) {
      const double t = static_cast<double>(a[i + k]) - static_cast<double>(b[i + k]);
      acc[k] += t * t;
    }
  double s = 0.0;
  for (; i < n; ++i) {
    const double t = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    s += t * t;
  }
  for (int k = 0; k < kAcc; ++k) s += acc[k];
  return s;
}
}  // namespace

void bce_with_logits(Context&, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask, const Tensor* pos_weight) {
  const int64_t n = logits.numel(), k = logits.size(-1);
  const float *z = logits.f32(), *t = targets.f32();
  const float* m = mask ? mask->f32() : nullptr;
  const float* pw = pos_weight ? pos_weight->f32() : nullptr;
  double sum = 0.0;
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (m && m[i] == 0.f) continue;
    const double zi = z[i], ti = t[i];
    double li;
    if (pw) {
      const double lw = 1.0 + (pw[i % k] - 1.0) * ti;
      li = (1.0 - ti) * zi + lw * (std::log1p(std::exp(-std::fabs(zi))) + std::max(-zi, 0.0));
    } else {
      li = std::max(zi, 0.0) - zi * ti + std::log1p(std::exp(-std::fabs(zi)));
    }
    sum += li;
    ++count;
  }
  loss.f32()[0] = count > 0 ? static_cast<float>(sum / static_cast<double>(count)) : 0.f;
  if (!dlogits.defined()) return;
  float* d = dlogits.f32();
  for (int64_t i = 0; i < n; ++i) {
    if ((m && m[i] == 0.f) || count == 0) {
      d[i] = 0.f;
      continue;
    }
    const double zi = z[i], ti = t[i];
    const double sig = 1.0 / (1.0 + std::exp(-zi));
    double g = sig - ti;
    if (pw) g = (1.0 - ti) + (1.0 + (pw[i % k] - 1.0) * ti) * (sig - 1.0);
    d[i] = static_cast<float>(g / static_cast<double>(count));
  }
}

void l1_loss(Context&, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  const int64_t n = a.numel();
  const float *ap = a.f32(), *bp = b.f32();
  loss.f32()[0] = static_cast<float>(sum_abs_diff(ap, bp, n) / static_cast<double>(n));
  if (!da.defined()) return;
  float* d = da.f32();
  const float inv = static_cast<float>(1.0 / static_cast<double>(n));
  // sign(diff) / n from the two comparisons as numbers (NaN and 0 give +0): no branch, so it
  // vectorises (a select written as ?: compiled to a branch, mispredicted on half the elements).
  for (int64_t i = 0; i < n; ++i) {
    const float diff = ap[i] - bp[i];
    d[i] = (static_cast<float>(diff > 0.f) - static_cast<float>(diff < 0.f)) * inv;
  }
}

void l1_per_sample(Context&, Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0), d = a.numel() / rows;
  const float *ap = a.f32(), *bp = b.f32();
  float* o = out.f32();
#pragma omp parallel for if (rows * d > (1 << 15))
  for (int64_t r = 0; r < rows; ++r)
    o[r] = static_cast<float>(sum_abs_diff(ap + r * d, bp + r * d, d));
}

void l2_loss(Context&, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  const int64_t n = a.numel();
  const float *ap = a.f32(), *bp = b.f32();
  loss.f32()[0] = static_cast<float>(sum_sq_diff(ap, bp, n) / static_cast<double>(n));
  if (!da.defined()) return;
  float* d = da.f32();
  for (int64_t i = 0; i < n; ++i)
    d[i] = static_cast<float>(2.0 * (static_cast<double>(ap[i]) - bp[i]) / static_cast<double>(n));
}

void l2_per_sample(Context&, Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0), d = a.numel() / rows;
  const float *ap = a.f32(), *bp = b.f32();
  float* o = out.f32();
#pragma omp parallel for if (rows * d > (1 << 15))
  for (int64_t r = 0; r < rows; ++r)
    o[r] = static_cast<float>(std::sqrt(sum_sq_diff(ap + r * d, bp + r * d, d)));
}

void l2_per_sample_backward(Context&, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out) {
  const int64_t rows = a.size(0), d = a.numel() / rows;
  const float *ap = a.f32(), *bp = b.f32(), *g = dout.f32(), *o = out.f32();
  float* dp = da.f32();
#pragma omp parallel for if (rows * d > (1 << 15))
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < d; ++j) {
      const int64_t i = r * d + j;
      // The norm's gradient is undefined at 0; 0 is the safe subgradient.
      dp[i] =
          o[r] > 0.f ? static_cast<float>(static_cast<double>(g[r]) * (ap[i] - bp[i]) / o[r]) : 0.f;
    }
  }
}

}  // namespace gbad::cpu
