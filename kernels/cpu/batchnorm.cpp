// CPU BatchNorm2d reference: plain loops, OpenMP over channels, sums in double. The
// dispatchers (argument checks) are in kernels/batchnorm.cpp.
#include "kernels/batchnorm.h"

#include <cmath>

namespace gbad {

namespace {

struct BnDims {
  int64_t n, c, hw;
};

// Shapes were checked by the dispatcher (kernels/batchnorm.cpp).
BnDims dims(const Tensor& x) {
  return BnDims{x.n(), x.c(), x.h() * x.w()};
}

template <typename T>
T* ptr(Tensor* t) {
  return t ? t->f32() : nullptr;
}

}  // namespace

namespace cpu {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;

template <typename T>
void batchnorm2d_forward_train(T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                               const T* x, const T* gamma, const T* beta, int64_t n, int64_t c,
                               int64_t hw, double eps, double momentum) {
  const int64_t m = n * hw;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) sum += double(p[i]);
    }
    const double mean = sum / double(m);
    double sq = 0;  // two passes: no cancellation
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) sq += (double(p[i]) - mean) * (double(p[i]) - mean);
    }
    const double var = sq / double(m);  // biased: normalises
    const double invstd = 1.0 / std::sqrt(var + eps);
    const double scale = double(gamma[ch]) * invstd;
    const double shift = double(beta[ch]) - mean * scale;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      T* q = y + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) q[i] = T(double(p[i]) * scale + shift);
    }
    save_mean[ch] = T(mean);
    save_invstd[ch] = T(invstd);
    if (running_mean)
      running_mean[ch] = T((1.0 - momentum) * double(running_mean[ch]) + momentum * mean);
    if (running_var) {
      const double unbiased = sq / double(m - 1);
      running_var[ch] = T((1.0 - momentum) * double(running_var[ch]) + momentum * unbiased);
    }
  }
}

template <typename T>
void batchnorm2d_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                          const T* save_mean, const T* save_invstd, int64_t n, int64_t c,
                          int64_t hw) {
  const int64_t m = n * hw;
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      const T* g = dy + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) {
        sum_dy += double(g[i]);
        sum_dy_xhat += double(g[i]) * (double(p[i]) - mean) * invstd;
      }
    }
    if (dgamma) dgamma[ch] += T(sum_dy_xhat);
    if (dbeta) dbeta[ch] += T(sum_dy);
    if (!dx) continue;
    // dx = gamma invstd / M (M dy - sum(dy) - xhat sum(dy xhat))
    const double k = double(gamma[ch]) * invstd / double(m);
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      const T* g = dy + (b * c + ch) * hw;
      T* q = dx + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) {
        const double xhat = (double(p[i]) - mean) * invstd;
        q[i] = T(k * (double(m) * double(g[i]) - sum_dy - xhat * sum_dy_xhat));
      }
    }
  }
}

template <typename T>
void batchnorm2d_forward_eval(T* y, const T* x, const T* gamma, const T* beta,
                              const T* running_mean, const T* running_var, int64_t n, int64_t c,
                              int64_t hw, double eps) {
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double invstd = 1.0 / std::sqrt(double(running_var[ch]) + eps);
    const double scale = double(gamma[ch]) * invstd;
    const double shift = double(beta[ch]) - double(running_mean[ch]) * scale;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      T* q = y + (b * c + ch) * hw;
      for (int64_t i = 0; i < hw; ++i) q[i] = T(double(p[i]) * scale + shift);
    }
  }
}

template <typename T>
void batchnorm2d_backward_eval(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                               const T* running_mean, const T* running_var, int64_t n, int64_t c,
                               int64_t hw, double eps) {
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = running_mean[ch];
    const double invstd = 1.0 / std::sqrt(double(running_var[ch]) + eps);
    const double k = double(gamma[ch]) * invstd;
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t b = 0; b < n; ++b) {
      const T* p = x + (b * c + ch) * hw;
      const T* g = dy + (b * c + ch) * hw;
      T* q = dx ? dx + (b * c + ch) * hw : nullptr;
      for (int64_t i = 0; i < hw; ++i) {
        sum_dy += double(g[i]);
        sum_dy_xhat += double(g[i]) * (double(p[i]) - mean) * invstd;
        if (q) q[i] = T(double(g[i]) * k);
      }
    }
    if (dgamma) dgamma[ch] += T(sum_dy_xhat);
    if (dbeta) dbeta[ch] += T(sum_dy);
  }
}

#define GBAD_INSTANTIATE_BN(T)                                                                    \
  template void batchnorm2d_forward_train<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*,    \
                                             int64_t, int64_t, int64_t, double, double);          \
  template void batchnorm2d_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*,       \
                                        const T*, int64_t, int64_t, int64_t);                     \
  template void batchnorm2d_forward_eval<T>(T*, const T*, const T*, const T*, const T*, const T*, \
                                            int64_t, int64_t, int64_t, double);                   \
  template void batchnorm2d_backward_eval<T>(T*, T*, T*, const T*, const T*, const T*, const T*,  \
                                             const T*, int64_t, int64_t, int64_t, double);
GBAD_INSTANTIATE_BN(float)
GBAD_INSTANTIATE_BN(double)
#undef GBAD_INSTANTIATE_BN

void batchnorm2d_forward_train(Context&, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum) {
  BnDims d = dims(x);
  batchnorm2d_forward_train<float>(y.f32(), save_mean.f32(), save_invstd.f32(), running_mean.f32(),
                                   running_var.f32(), x.f32(), gamma.f32(), beta.f32(), d.n, d.c,
                                   d.hw, eps, momentum);
}

void batchnorm2d_backward(Context&, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float) {
  BnDims d = dims(x);
  batchnorm2d_backward<float>(ptr<float>(dx), ptr<float>(dgamma), ptr<float>(dbeta), dy.f32(),
                              x.f32(), gamma.f32(), save_mean.f32(), save_invstd.f32(), d.n, d.c,
                              d.hw);
}

void batchnorm2d_forward_eval(Context&, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps) {
  BnDims d = dims(x);
  batchnorm2d_forward_eval<float>(y.f32(), x.f32(), gamma.f32(), beta.f32(), running_mean.f32(),
                                  running_var.f32(), d.n, d.c, d.hw, eps);
}

void batchnorm2d_backward_eval(Context&, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps) {
  BnDims d = dims(x);
  batchnorm2d_backward_eval<float>(ptr<float>(dx), ptr<float>(dgamma), ptr<float>(dbeta), dy.f32(),
                                   x.f32(), gamma.f32(), running_mean.f32(), running_var.f32(), d.n,
                                   d.c, d.hw, eps);
}

void batchnorm2d_count_batch(Context&, Tensor& num_batches_tracked) {
  num_batches_tracked.f32()[0] += 1.f;
}

}  // namespace cpu

}  // namespace gbad
