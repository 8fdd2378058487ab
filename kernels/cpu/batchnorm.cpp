// CPU BatchNorm2d reference: plain loops, OpenMP over channels, sums in double. The
// dispatchers (argument checks) are in kernels/batchnorm.cpp.
#include "kernels/batchnorm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/conv2d_direct.h"

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

// ---- Fast float path: what the layers call ---------------------------------------------------
// The reference above adds one double at a time (a serial dependency chain that the compiler may
// not reorder) and computes every element in double. Here: per-channel sums still in double,
// but in 8 independent accumulators (a fixed order: deterministic), and the element-wise
// passes in float with per-channel coefficients, fused with the residual addition and the ReLU
// that follow a BatchNorm in a ResNet block: two passes over memory forward (statistics, then
// normalise + act) and two backward (sums, then dx), the minimum without keeping statistics
// from the producer. The inner loops (kernels/cpu/batchnorm_kernel.inc) are compiled per
// instruction set like the direct convolution's (the build has no -m flags; SSE2 converted
// and added 2 doubles per instruction) and give the same bits on each. Tests
// FastPath.BatchNorm* compare each variant with the double-precision reference.
}  // namespace cpu

#if defined(__x86_64__) || defined(__i386__)
#define GBAD_BN_X86 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif
namespace bn_avx512 {
#include "kernels/cpu/batchnorm_kernel.inc"
}  // namespace bn_avx512
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2")
#endif
namespace bn_avx2 {
#include "kernels/cpu/batchnorm_kernel.inc"
}  // namespace bn_avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // x86
namespace bn_portable {
#include "kernels/cpu/batchnorm_kernel.inc"
}  // namespace bn_portable

namespace cpu {

namespace {

struct BnOps {
  void (*plane_sums)(const float*, const float*, int64_t, double*, double*);
  void (*affine_act)(float*, const float*, const float*, float, float, bool, int64_t);
  void (*relu_mask)(float*, const float*, const float*, int64_t);
  void (*dx_affine)(float*, const float*, const float*, const float*, float, float, float, int64_t);
};

#define GBAD_BN_OPS(ns)                                          \
  BnOps {                                                        \
    ns::plane_sums, ns::affine_act, ns::relu_mask, ns::dx_affine \
  }

// The variant of the direct convolution's choice (Gemm: the portable loops).
BnOps bn_ops() {
  switch (conv_kernel()) {
#ifdef GBAD_BN_X86
    case ConvKernel::Avx512:
      return GBAD_BN_OPS(bn_avx512);
    case ConvKernel::Avx2:
      return GBAD_BN_OPS(bn_avx2);
#endif
    default:
      return GBAD_BN_OPS(bn_portable);
  }
}
#undef GBAD_BN_OPS

}  // namespace

void batchnorm2d_forward_train_act(float* y, float* save_mean, float* save_invstd,
                                   float* running_mean, float* running_var, const float* x,
                                   const float* gamma, const float* beta, const float* residual,
                                   bool relu, int64_t n, int64_t c, int64_t hw, double eps,
                                   double momentum) {
  const int64_t m = n * hw;
  const BnOps ops = bn_ops();
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t b = 0; b < n; ++b) ops.plane_sums(x + (b * c + ch) * hw, nullptr, hw, &sum, &sq);
    const double mean = sum / double(m);
    // One pass (sum of squares) in double: float inputs lose nothing to cancellation unless
    // mean^2 / var exceeds ~1e8.
    const double var = std::max(0.0, sq / double(m) - mean * mean);
    const double invstd = 1.0 / std::sqrt(var + eps);
    const float scale = float(double(gamma[ch]) * invstd);
    const float shift = float(double(beta[ch]) - mean * double(gamma[ch]) * invstd);
    for (int64_t b = 0; b < n; ++b) {
      const float* p = x + (b * c + ch) * hw;
      const float* r = residual ? residual + (b * c + ch) * hw : nullptr;
      ops.affine_act(y + (b * c + ch) * hw, p, r, scale, shift, relu, hw);
    }
    save_mean[ch] = float(mean);
    save_invstd[ch] = float(invstd);
    if (running_mean)
      running_mean[ch] = float((1.0 - momentum) * double(running_mean[ch]) + momentum * mean);
    if (running_var) {
      const double unbiased = var * double(m) / double(m - 1);
      running_var[ch] = float((1.0 - momentum) * double(running_var[ch]) + momentum * unbiased);
    }
  }
}

void batchnorm2d_backward_act(float* dx, float* dz, float* dgamma, float* dbeta, const float* dy,
                              const float* y, const float* x, const float* gamma,
                              const float* save_mean, const float* save_invstd, bool relu,
                              int64_t n, int64_t c, int64_t hw) {
  const int64_t m = n * hw;
  const BnOps ops = bn_ops();
#pragma omp parallel for schedule(static) if (n * c * hw >= kParallelMin)
  for (int64_t ch = 0; ch < c; ++ch) {
    const double mean = save_mean[ch], invstd = save_invstd[ch];
    // g = dL/d(BN output) = dy masked by the ReLU; written to dz when asked (the residual's
    // gradient), else recomputed in the second pass.
    double sum_g = 0, sum_gx = 0;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t off = (b * c + ch) * hw;
      const float* g = dy + off;
      if (relu) {
        const float* o = y + off;
        float* z = dz ? dz + off : nullptr;
        float buf[256];
        for (int64_t i0 = 0; i0 < hw; i0 += 256) {
          const int64_t len = std::min<int64_t>(256, hw - i0);
          float* t = z ? z + i0 : buf;
          ops.relu_mask(t, g + i0, o + i0, len);
          ops.plane_sums(t, x + off + i0, len, &sum_g, &sum_gx);
        }
      } else {
        ops.plane_sums(g, x + off, hw, &sum_g, &sum_gx);
      }
    }
    // sum(g * xhat) = invstd * (sum(g x) - mean sum(g))
    const double sum_gxhat = invstd * (sum_gx - mean * sum_g);
    if (dgamma) dgamma[ch] += float(sum_gxhat);
    if (dbeta) dbeta[ch] += float(sum_g);
    if (!dx) continue;
    // dx = gamma invstd / M (M g - sum(g) - xhat sum(g xhat)) = A g + B x + C
    const double k = double(gamma[ch]) * invstd / double(m);
    const float A = float(k * double(m));
    const float B = float(-k * sum_gxhat * invstd);
    const float C = float(-k * sum_g + k * sum_gxhat * invstd * mean);
    for (int64_t b = 0; b < n; ++b) {
      const int64_t off = (b * c + ch) * hw;
      const float* g = dy + off;
      const float* p = x + off;
      float* q = dx + off;
      if (relu && dz) {
        ops.dx_affine(q, dz + off, nullptr, p, A, B, C, hw);
      } else {
        ops.dx_affine(q, g, relu ? y + off : nullptr, p, A, B, C, hw);
      }
    }
  }
}

void batchnorm2d_forward_train(Context&, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum) {
  BnDims d = dims(x);
  batchnorm2d_forward_train_act(y.f32(), save_mean.f32(), save_invstd.f32(), running_mean.f32(),
                                running_var.f32(), x.f32(), gamma.f32(), beta.f32(), nullptr, false,
                                d.n, d.c, d.hw, eps, momentum);
}

void batchnorm2d_backward(Context&, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float) {
  BnDims d = dims(x);
  batchnorm2d_backward_act(ptr<float>(dx), nullptr, ptr<float>(dgamma), ptr<float>(dbeta), dy.f32(),
                           nullptr, x.f32(), gamma.f32(), save_mean.f32(), save_invstd.f32(), false,
                           d.n, d.c, d.hw);
}

void batchnorm2d_forward_train_act(Context&, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                   Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                   const Tensor& gamma, const Tensor& beta, float eps,
                                   float momentum, const Tensor* residual, bool relu) {
  BnDims d = dims(x);
  batchnorm2d_forward_train_act(y.f32(), save_mean.f32(), save_invstd.f32(), running_mean.f32(),
                                running_var.f32(), x.f32(), gamma.f32(), beta.f32(),
                                residual ? residual->f32() : nullptr, relu, d.n, d.c, d.hw, eps,
                                momentum);
}

void batchnorm2d_backward_act(Context&, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                              const Tensor& dy, const Tensor& y, const Tensor& x,
                              const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_invstd, float, bool relu) {
  BnDims d = dims(x);
  batchnorm2d_backward_act(ptr<float>(dx), ptr<float>(dz), ptr<float>(dgamma), ptr<float>(dbeta),
                           dy.f32(), y.f32(), x.f32(), gamma.f32(), save_mean.f32(),
                           save_invstd.f32(), relu, d.n, d.c, d.hw);
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
