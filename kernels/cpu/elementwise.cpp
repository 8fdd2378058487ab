// CPU reference for kernels/elementwise.h: plain loops, OpenMP over large tensors.
#include <cmath>
#include <cstdint>

#include "core/philox.h"
#include "kernels/elementwise.h"

namespace gbad::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threads cost more than they save

// Inner size (product of dims after 1) for concat1/split1.
int64_t inner_size(const Tensor& t) {
  int64_t inner = 1;
  for (int d = 2; d < t.ndim(); ++d) inner *= t.size(d);
  return inner;
}
}  // namespace

void relu_forward(Context&, Tensor& y, const Tensor& x) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.f ? xp[i] : 0.f;
}

void relu_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& y) {
  const float *g = dy.f32(), *yp = y.f32();
  float* d = dx.f32();
  const int64_t n = dy.numel();
#pragma omp parallel for if (n > kParallelMin)
  // g[i] loaded unconditionally: the select then vectorises (a conditional load compiled to a
  // branch, mispredicted on half the elements: 10x slower).
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    d[i] = yp[i] > 0.f ? gi : 0.f;
  }
}

void leaky_relu_forward(Context&, Tensor& y, const Tensor& x, float slope) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = xp[i] > 0.f ? xp[i] : slope * xp[i];
}

void leaky_relu_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& x, float slope) {
  const float *g = dy.f32(), *xp = x.f32();
  float* d = dx.f32();
  const int64_t n = dy.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) d[i] = xp[i] > 0.f ? g[i] : slope * g[i];
}

void sigmoid_forward(Context&, Tensor& y, const Tensor& x) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    // Computed in double: exp(-x) may overflow float for x < -88, not double for any float.
    double v = 1.0 / (1.0 + std::exp(-static_cast<double>(xp[i])));
    yp[i] = static_cast<float>(v);
  }
}

void sigmoid_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& y) {
  const float *g = dy.f32(), *yp = y.f32();
  float* d = dx.f32();
  const int64_t n = dy.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) d[i] = g[i] * yp[i] * (1.f - yp[i]);
}

void tanh_forward(Context&, Tensor& y, const Tensor& x) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = std::tanh(xp[i]);
}

void tanh_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& y) {
  const float *g = dy.f32(), *yp = y.f32();
  float* d = dx.f32();
  const int64_t n = dy.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) d[i] = g[i] * (1.f - yp[i] * yp[i]);
}

void add(Context&, Tensor& y, const Tensor& a, const Tensor& b) {
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = ap[i] + bp[i];
}

void add_inplace(Context&, Tensor& y, const Tensor& x) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] += xp[i];
}

void scale_inplace(Context&, Tensor& y, float s) {
  float* yp = y.f32();
  const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] *= s;
}

void axpby(Context&, Tensor& y, float a, const Tensor& x, float b) {
  const float* xp = x.f32();
  float* yp = y.f32();
  const int64_t n = y.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) yp[i] = a * xp[i] + b * yp[i];
}

void concat1(Context&, Tensor& y, const Tensor& a, const Tensor& b) {
  const int64_t n = y.size(0), ca = a.size(1), cb = b.size(1), inner = inner_size(y);
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  for (int64_t s = 0; s < n; ++s) {
    float* row = yp + s * (ca + cb) * inner;
    for (int64_t j = 0; j < ca * inner; ++j) row[j] = ap[s * ca * inner + j];
    for (int64_t j = 0; j < cb * inner; ++j) row[ca * inner + j] = bp[s * cb * inner + j];
  }
}

void split1(Context&, Tensor& da, Tensor& db, const Tensor& dy) {
  const int64_t n = dy.size(0), c = dy.size(1), inner = inner_size(dy);
  const int64_t ca = da.defined() ? da.size(1) : c - db.size(1);
  const int64_t cb = c - ca;
  const float* g = dy.f32();
  for (int64_t s = 0; s < n; ++s) {
    const float* row = g + s * c * inner;
    if (da.defined()) {
      float* ap = da.f32() + s * ca * inner;
      for (int64_t j = 0; j < ca * inner; ++j) ap[j] = row[j];
    }
    if (db.defined()) {
      float* bp = db.f32() + s * cb * inner;
      for (int64_t j = 0; j < cb * inner; ++j) bp[j] = row[ca * inner + j];
    }
  }
}

void dropout_forward(Context&, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset) {
  const float* xp = x.f32();
  float *yp = y.f32(), *m = mask.f32();
  const float keep_scale = 1.f / (1.f - p);
  const int64_t n = x.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    bool keep = rng_uniform(seed, offset, static_cast<uint64_t>(i)) >= p;
    m[i] = keep ? keep_scale : 0.f;
    yp[i] = xp[i] * m[i];
  }
}

void dropout_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& mask) {
  const float *g = dy.f32(), *m = mask.f32();
  float* d = dx.f32();
  const int64_t n = dy.numel();
#pragma omp parallel for if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) d[i] = g[i] * m[i];
}

}  // namespace gbad::cpu
