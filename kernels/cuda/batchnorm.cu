// CUDA BatchNorm2d: cuDNN spatial batch norm for training forward/backward and inference
// forward (cuDNN's exponentialAverageFactor is torch's momentum and its running variance is
// the unbiased one, as torch); our kernels for the eval-mode backward, which cuDNN lacks.
#include <algorithm>

#include "kernels/batchnorm.h"
#include "kernels/batchnorm_body.h"
#include "kernels/cuda/cudnn_util.h"

namespace gbad::cuda {

namespace {

constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

struct BnDescs {
  TensorDesc x, c;
  explicit BnDescs(const Tensor& x_t) {
    set_nchw(x, x_t.n(), x_t.c(), x_t.h(), x_t.w());
    set_nchw(c, 1, x_t.c(), 1, 1);
  }
};

__global__ void bn_eval_dx_kernel(float* dx, const float* dy, const float* gamma,
                                  const float* running_var, float eps, int64_t total, int64_t c,
                                  int64_t hw) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(blockDim.x) * gridDim.x)
    bn_eval_dx_body(i, dx, dy, gamma, running_var, eps, c, hw);
}

constexpr int kReduceThreads = 256;

// One block per channel: per-thread partial sums (host-callable body), then a tree in shared
// memory. Accumulates into dgamma/dbeta (either may be null).
__global__ void bn_eval_param_kernel(float* dgamma, float* dbeta, const float* dy, const float* x,
                                     const float* running_mean, const float* running_var, float eps,
                                     int64_t n, int64_t c, int64_t hw) {
  __shared__ float s_dy[kReduceThreads], s_dyx[kReduceThreads];
  const int64_t ch = blockIdx.x;
  bn_eval_param_partial(ch, threadIdx.x, blockDim.x, dy, x, running_mean, running_var, eps, n, c,
                        hw, &s_dy[threadIdx.x], &s_dyx[threadIdx.x]);
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      s_dy[threadIdx.x] += s_dy[threadIdx.x + stride];
      s_dyx[threadIdx.x] += s_dyx[threadIdx.x + stride];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (dgamma) dgamma[ch] += s_dyx[0];
    if (dbeta) dbeta[ch] += s_dy[0];
  }
}

__global__ void increment_kernel(float* p) {
  p[0] += 1.f;
}

}  // namespace

void batchnorm2d_count_batch(Context& ctx, Tensor& num_batches_tracked) {
  increment_kernel<<<1, 1, 0, ctx.stream()>>>(num_batches_tracked.f32());
  CUDA_CHECK_LAUNCH();
}

// Shapes were checked by the dispatcher (kernels/cpu/batchnorm.cpp).
void batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                               Tensor& running_mean, Tensor& running_var, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, float eps, float momentum) {
  BnDescs d(x);
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
      ctx.cudnn(), kMode, &one, &zero, d.x, x.f32(), d.x, y.f32(), d.c, gamma.f32(), beta.f32(),
      double(momentum), running_mean.f32(), running_var.f32(), double(eps), save_mean.f32(),
      save_invstd.f32()));
}

void batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta, const Tensor& dy,
                          const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                          const Tensor& save_invstd, float eps) {
  BnDescs d(x);
  // cuDNN always writes dx, dgamma and dbeta: point the ones we do not want at scratch.
  const size_t x_bytes = x.nbytes(), c_bytes = size_t(x.c()) * sizeof(float);
  char* ws = static_cast<char*>(ctx.workspace(x_bytes + 2 * c_bytes));
  float* dx_p = dx ? dx->f32() : reinterpret_cast<float*>(ws);
  float* dg_p = dgamma ? dgamma->f32() : reinterpret_cast<float*>(ws + x_bytes);
  float* db_p = dbeta ? dbeta->f32() : reinterpret_cast<float*>(ws + x_bytes + c_bytes);
  const float one = 1.f, zero = 0.f;
  // dx: alpha 1, beta 0 (overwrite); dgamma/dbeta: alpha 1, beta 1 (accumulate).
  CUDNN_CHECK(cudnnBatchNormalizationBackward(
      ctx.cudnn(), kMode, &one, &zero, &one, &one, d.x, x.f32(), d.x, dy.f32(), d.x, dx_p, d.c,
      gamma.f32(), dg_p, db_p, double(eps), save_mean.f32(), save_invstd.f32()));
}

void batchnorm2d_forward_eval(Context& ctx, Tensor& y, const Tensor& x, const Tensor& gamma,
                              const Tensor& beta, const Tensor& running_mean,
                              const Tensor& running_var, float eps) {
  BnDescs d(x);
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnBatchNormalizationForwardInference(
      ctx.cudnn(), kMode, &one, &zero, d.x, x.f32(), d.x, y.f32(), d.c, gamma.f32(), beta.f32(),
      running_mean.f32(), running_var.f32(), double(eps)));
}

void batchnorm2d_backward_eval(Context& ctx, Tensor* dx, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& x, const Tensor& gamma,
                               const Tensor& running_mean, const Tensor& running_var, float eps) {
  const int64_t n = x.n(), c = x.c(), hw = x.h() * x.w(), total = x.numel();
  if (dx && total > 0) {
    int blocks = int(std::min<int64_t>((total + 255) / 256, 4096));
    bn_eval_dx_kernel<<<blocks, 256, 0, ctx.stream()>>>(dx->f32(), dy.f32(), gamma.f32(),
                                                        running_var.f32(), eps, total, c, hw);
    CUDA_CHECK_LAUNCH();
  }
  if ((dgamma || dbeta) && c > 0) {
    bn_eval_param_kernel<<<int(c), kReduceThreads, 0, ctx.stream()>>>(
        dgamma ? dgamma->f32() : nullptr, dbeta ? dbeta->f32() : nullptr, dy.f32(), x.f32(),
        running_mean.f32(), running_var.f32(), eps, n, c, hw);
    CUDA_CHECK_LAUNCH();
  }
}

}  // namespace gbad::cuda
