// CUDA twin of kernels/cpu/loss.cpp over the bodies in kernels/loss_body.h. Loss sums are
// deterministic: each block reduces its grid-stride share in a fixed tree into a partial sum,
// then one block adds the partials in a fixed order (no atomics), so repeated runs agree
// bit for bit.
#include "kernels/cuda/for_each.cuh"
#include "kernels/loss.h"
#include "kernels/loss_body.h"

namespace gbad::cuda {

using cuda_detail::block_sum;
using cuda_detail::for_each;
using cuda_detail::grid_for;
using cuda_detail::kThreads;
using cuda_detail::stream_of;

namespace {

// Stage 1: f(i, s0, s1) adds element i's share to two running sums; block b writes its sums
// to partials[b] and partials[nblocks + b].
template <class F>
__global__ void partial_sums_kernel(int64_t n, F f, double* partials) {
  __shared__ double sh[kThreads];
  double s0 = 0.0, s1 = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    f(i, s0, s1);
  const double t0 = block_sum(s0, sh);
  const double t1 = block_sum(s1, sh);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = t0;
    partials[gridDim.x + blockIdx.x] = t1;
  }
}

// Stage 2 (one block): loss = sum0 * scale, or sum0 / sum1 when `ratio` (0 if sum1 is 0);
// sum1 is also stored in *second for a later kernel.
__global__ void finalize_kernel(const double* partials, int nblocks, bool ratio, double scale,
                                float* loss, double* second) {
  __shared__ double sh[kThreads];
  double s0 = 0.0, s1 = 0.0;
  for (int j = threadIdx.x; j < nblocks; j += kThreads) {
    s0 += partials[j];
    s1 += partials[nblocks + j];
  }
  const double t0 = block_sum(s0, sh);
  const double t1 = block_sum(s1, sh);
  if (threadIdx.x == 0) {
    if (ratio)
      loss[0] = t1 > 0.0 ? static_cast<float>(t0 / t1) : 0.f;
    else
      loss[0] = static_cast<float>(t0 * scale);
    *second = t1;
  }
}

template <class F>
void reduce_to_loss(Context& ctx, int64_t n, const F& f, bool ratio, double scale, float* loss,
                    double** second) {
  const int nb = grid_for(n);
  double* ws = static_cast<double*>(ctx.workspace((2 * size_t(nb) + 1) * sizeof(double)));
  partial_sums_kernel<<<nb, kThreads, 0, stream_of(ctx)>>>(n, f, ws);
  CUDA_CHECK_LAUNCH();
  finalize_kernel<<<1, kThreads, 0, stream_of(ctx)>>>(ws, nb, ratio, scale, loss, ws + 2 * nb);
  CUDA_CHECK_LAUNCH();
  if (second) *second = ws + 2 * nb;
}

struct BceSums {
  const float *z, *t, *mask, *pw;
  int64_t k;
  __device__ void operator()(int64_t i, double& s0, double& s1) const {
    if (mask && mask[i] == 0.f) return;
    s0 += bce_term(z[i], t[i], pw ? pw[i % k] : 1.f).loss;
    s1 += 1.0;
  }
};
struct BceGrad {
  float* dz;
  const float *z, *t, *mask, *pw;
  int64_t k;
  const double* count;
  __device__ void operator()(int64_t i) const {
    const double c = *count;
    if ((mask && mask[i] == 0.f) || c <= 0.0) {
      dz[i] = 0.f;
      return;
    }
    dz[i] = bce_term(z[i], t[i], pw ? pw[i % k] : 1.f).grad / static_cast<float>(c);
  }
};
struct L1Sums {
  float* da;  // may be null
  const float *a, *b;
  float inv_n;
  __device__ void operator()(int64_t i, double& s0, double&) const {
    s0 += fabs(static_cast<double>(a[i]) - b[i]);
    if (da) da[i] = l1_grad_body(a[i], b[i], inv_n);
  }
};
struct L2Sums {
  float* da;
  const float *a, *b;
  float inv_n;
  __device__ void operator()(int64_t i, double& s0, double&) const {
    const double d = static_cast<double>(a[i]) - b[i];
    s0 += d * d;
    if (da) da[i] = l2_grad_body(a[i], b[i], inv_n);
  }
};
struct L1Rows {
  float* out;
  const float *a, *b;
  int64_t d;
  __device__ void operator()(int64_t r) const {
    out[r] = static_cast<float>(l1_row_body(a + r * d, b + r * d, d));
  }
};
struct L2Rows {
  float* out;
  const float *a, *b;
  int64_t d;
  __device__ void operator()(int64_t r) const {
    out[r] = static_cast<float>(sqrt(l2_row_sq_body(a + r * d, b + r * d, d)));
  }
};
struct L2RowsBwd {
  float* da;
  const float *dout, *a, *b, *out;
  int64_t d;
  __device__ void operator()(int64_t i) const {
    const int64_t r = i / d;
    da[i] = l2_per_sample_bwd_body(dout[r], a[i], b[i], out[r]);
  }
};

}  // namespace

void bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask, const Tensor* pos_weight) {
  const int64_t n = logits.numel(), k = logits.size(-1);
  const float* m = mask ? mask->f32() : nullptr;
  const float* pw = pos_weight ? pos_weight->f32() : nullptr;
  double* count = nullptr;
  reduce_to_loss(ctx, n, BceSums{logits.f32(), targets.f32(), m, pw, k}, true, 1.0, loss.f32(),
                 &count);
  if (dlogits.defined())
    for_each(ctx, n, BceGrad{dlogits.f32(), logits.f32(), targets.f32(), m, pw, k, count});
}

void l1_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  const int64_t n = a.numel();
  reduce_to_loss(ctx, n,
                 L1Sums{da.defined() ? da.f32() : nullptr, a.f32(), b.f32(),
                        static_cast<float>(1.0 / static_cast<double>(n))},
                 false, 1.0 / static_cast<double>(n), loss.f32(), nullptr);
}

void l1_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0);
  for_each(ctx, rows, L1Rows{out.f32(), a.f32(), b.f32(), a.numel() / rows});
}

void l2_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  const int64_t n = a.numel();
  reduce_to_loss(ctx, n,
                 L2Sums{da.defined() ? da.f32() : nullptr, a.f32(), b.f32(),
                        static_cast<float>(1.0 / static_cast<double>(n))},
                 false, 1.0 / static_cast<double>(n), loss.f32(), nullptr);
}

void l2_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t rows = a.size(0);
  for_each(ctx, rows, L2Rows{out.f32(), a.f32(), b.f32(), a.numel() / rows});
}

void l2_per_sample_backward(Context& ctx, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out) {
  const int64_t rows = a.size(0);
  for_each(ctx, a.numel(),
           L2RowsBwd{da.f32(), dout.f32(), a.f32(), b.f32(), out.f32(), a.numel() / rows});
}

}  // namespace gbad::cuda
