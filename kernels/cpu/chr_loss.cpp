// CPU reference for kernels/chr_loss.h: serial sums in the scalar type (double for the
// float API), so the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/chr_loss.h"

namespace gbad::cpu {

template <typename T>
T chr_bce_with_logits(T* dlogits, const T* logits, const T* targets, const T* mask, int64_t n) {
  int64_t count = 0;
  for (int64_t i = 0; i < n; ++i) count += !mask || mask[i] != T(0);
  T sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T z = logits[i], t = targets[i];
    const bool keep = (!mask || mask[i] != T(0)) && !(t == T(0) && z < T(kChrEasyNegativeLogit));
    if (keep) sum += std::max(z, T(0)) - z * t + std::log1p(std::exp(-std::fabs(z)));
    if (dlogits)
      dlogits[i] = keep && count > 0 ? (T(1) / (T(1) + std::exp(-z)) - t) / T(count) : T(0);
  }
  return count > 0 ? sum / T(count) : T(0);
}

template float chr_bce_with_logits<float>(float*, const float*, const float*, const float*,
                                          int64_t);
template double chr_bce_with_logits<double>(double*, const double*, const double*, const double*,
                                            int64_t);

void chr_bce_with_logits(Context&, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask) {
  const int64_t n = logits.numel();
  std::vector<double> z(logits.f32(), logits.f32() + n), t(targets.f32(), targets.f32() + n), m;
  if (mask) m.assign(mask->f32(), mask->f32() + n);
  std::vector<double> d(dlogits.defined() ? size_t(n) : 0);
  const double l = chr_bce_with_logits<double>(d.empty() ? nullptr : d.data(), z.data(), t.data(),
                                               mask ? m.data() : nullptr, n);
  loss.f32()[0] = static_cast<float>(l);
  if (dlogits.defined()) std::copy(d.begin(), d.end(), dlogits.f32());
}

}  // namespace gbad::cpu
