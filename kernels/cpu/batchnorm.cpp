// CPU BatchNorm2d reference: plain loops, OpenMP over channels, sums in double. Also the
// dispatchers of kernels/batchnorm.h.
#include "kernels/batchnorm.h"
#include "kernels/op_checks.h"

#include <cmath>

namespace gbad {

using detail::check_named_devices;

namespace {

struct BnDims {
  int64_t n, c, hw;
};

// x is (N,C,H,W); every per-channel tensor has C values; every same-shaped tensor matches x.
BnDims check_bn(const char* op, const Tensor& x,
                std::initializer_list<std::pair<const char*, const Tensor*>> per_channel,
                std::initializer_list<std::pair<const char*, const Tensor*>> like_x) {
  GBAD_CHECK(x.ndim() == 4, op, ": x must be (N,C,H,W), got ", x.str());
  BnDims d{x.n(), x.c(), x.h() * x.w()};
  for (const auto& [name, t] : per_channel)
    if (t) GBAD_CHECK(t->numel() == d.c, op, ": ", name, " ", t->str(), " needs ", d.c, " values");
  for (const auto& [name, t] : like_x)
    if (t) GBAD_CHECK(t->shape() == x.shape(), op, ": ", name, " ", t->str(), " vs x ", x.str());
  return d;
}

BnDims check_train(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd,
                   const Tensor& running_mean, const Tensor& running_var, const Tensor& x,
                   const Tensor& gamma, const Tensor& beta) {
  BnDims d = check_bn("batchnorm2d_forward_train", x,
                      {{"save_mean", &save_mean},
                       {"save_invstd", &save_invstd},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"gamma", &gamma},
                       {"beta", &beta}},
                      {{"y", &y}});
  GBAD_CHECK(d.n * d.hw > 1,
             "batchnorm2d_forward_train: needs more than one value per channel, got ", x.str());
  return d;
}

BnDims check_backward(const char* op, const Tensor* dx, const Tensor* dgamma, const Tensor* dbeta,
                      const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& stat_a,
                      const Tensor& stat_b) {
  return check_bn(op, x,
                  {{"dgamma", dgamma},
                   {"dbeta", dbeta},
                   {"gamma", &gamma},
                   {"mean", &stat_a},
                   {"invstd/var", &stat_b}},
                  {{"dx", dx}, {"dy", &dy}});
}

BnDims check_eval(const Tensor& y, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                  const Tensor& running_mean, const Tensor& running_var) {
  return check_bn("batchnorm2d_forward_eval", x,
                  {{"gamma", &gamma},
                   {"beta", &beta},
                   {"running_mean", &running_mean},
                   {"running_var", &running_var}},
                  {{"y", &y}});
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
  BnDims d = check_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta);
  batchnorm2d_forward_train<float>(y.f32(), save_mean.f32(), save_invstd.f32(), running_mean.f32(),
                                   running_var.f32(), x.f32(), gamma.f32(), beta.f32(), d.n, d.c,
                                   d.hw, eps, momentum);
}

void batchnorm2d_backward(Context&, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float) {
  BnDims d = check_backward("batchnorm2d_backward", dx, dgamma, dbeta, dy, x, gamma, save_mean,
                            save_invstd);
  batchnorm2d_backward<float>(ptr<float>(dx), ptr<float>(dgamma), ptr<float>(dbeta), dy.f32(),
                              x.f32(), gamma.f32(), save_mean.f32(), save_invstd.f32(), d.n, d.c,
                              d.hw);
}

void batchnorm2d_forward_eval(Context&, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps) {
  BnDims d = check_eval(y, x, gamma, beta, running_mean, running_var);
  batchnorm2d_forward_eval<float>(y.f32(), x.f32(), gamma.f32(), beta.f32(), running_mean.f32(),
                                  running_var.f32(), d.n, d.c, d.hw, eps);
}

void batchnorm2d_backward_eval(Context&, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps) {
  BnDims d = check_backward("batchnorm2d_backward_eval", dx, dgamma, dbeta, dy, x, gamma,
                            running_mean, running_var);
  batchnorm2d_backward_eval<float>(ptr<float>(dx), ptr<float>(dgamma), ptr<float>(dbeta), dy.f32(),
                                   x.f32(), gamma.f32(), running_mean.f32(), running_var.f32(), d.n,
                                   d.c, d.hw, eps);
}

}  // namespace cpu

// ---- dispatchers ---------------------------------------------------------------------------

#ifdef GBAD_WITH_CUDA
#define GBAD_BN_DISPATCH(name, check, ...) \
  if (ctx.is_cuda()) {                     \
    check;                                 \
    cuda::name(ctx, __VA_ARGS__);          \
    return;                                \
  }                                        \
  cpu::name(ctx, __VA_ARGS__)
#else
#define GBAD_BN_DISPATCH(name, check, ...)                                                        \
  if (ctx.is_cuda()) GBAD_FAIL(#name ": CUDA tensors in a build without CUDA (-DGBAD_CUDA=OFF)"); \
  cpu::name(ctx, __VA_ARGS__)
#endif

void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum) {
  check_named_devices(ctx, "batchnorm2d_forward_train",
                      {{"y", &y},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"beta", &beta}});
  GBAD_BN_DISPATCH(
      batchnorm2d_forward_train,
      check_train(y, save_mean, save_invstd, running_mean, running_var, x, gamma, beta), y,
      save_mean, save_invstd, running_mean, running_var, x, gamma, beta, eps, momentum);
}

void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps) {
  check_named_devices(ctx, "batchnorm2d_backward",
                      {{"dx", dx},
                       {"dgamma", dgamma},
                       {"dbeta", dbeta},
                       {"dy", &dy},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"save_mean", &save_mean},
                       {"save_invstd", &save_invstd}});
  GBAD_BN_DISPATCH(batchnorm2d_backward,
                   check_backward("batchnorm2d_backward", dx, dgamma, dbeta, dy, x, gamma,
                                  save_mean, save_invstd),
                   dx, dgamma, dbeta, dy, x, gamma, save_mean, save_invstd, eps);
}

void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps) {
  check_named_devices(ctx, "batchnorm2d_forward_eval",
                      {{"y", &y},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"beta", &beta},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var}});
  GBAD_BN_DISPATCH(batchnorm2d_forward_eval,
                   check_eval(y, x, gamma, beta, running_mean, running_var), y, x, gamma, beta,
                   running_mean, running_var, eps);
}

void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps) {
  check_named_devices(ctx, "batchnorm2d_backward_eval",
                      {{"dx", dx},
                       {"dgamma", dgamma},
                       {"dbeta", dbeta},
                       {"dy", &dy},
                       {"x", &x},
                       {"gamma", &gamma},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var}});
  GBAD_BN_DISPATCH(batchnorm2d_backward_eval,
                   check_backward("batchnorm2d_backward_eval", dx, dgamma, dbeta, dy, x, gamma,
                                  running_mean, running_var),
                   dx, dgamma, dbeta, dy, x, gamma, running_mean, running_var, eps);
}

void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked) {
  check_named_devices(ctx, "batchnorm2d_count_batch",
                      {{"num_batches_tracked", &num_batches_tracked}});
  GBAD_CHECK(num_batches_tracked.numel() == 1, "batchnorm2d_count_batch: expected a scalar, got ",
             num_batches_tracked.str());
  if (ctx.is_cuda()) {
#ifdef GBAD_WITH_CUDA
    cuda::batchnorm2d_count_batch(ctx, num_batches_tracked);
    return;
#else
    GBAD_FAIL("batchnorm2d_count_batch: CUDA tensor in a build without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
  num_batches_tracked.f32()[0] += 1.f;
}

#undef GBAD_BN_DISPATCH

}  // namespace gbad
