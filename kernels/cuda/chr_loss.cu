// CUDA twin of kernels/cpu/chr_loss.cpp: one block (the loss covers N x K logits, a few
// hundred values), fixed-order block sums, then every thread writes its gradients.
#include "kernels/chr_loss.h"
#include "kernels/chr_loss_body.h"
#include "kernels/cuda/for_each.cuh"

namespace gbad::cuda {

namespace {
__global__ void chr_bce_kernel(float* loss, float* dlogits, const float* z, const float* t,
                               const float* mask, int64_t n) {
  __shared__ double sh[cuda_detail::kThreads];
  double part = 0.0, cnt = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    if (mask && mask[i] == 0.f) continue;
    cnt += 1.0;
    part += chr_bce_term(z[i], t[i]).loss;
  }
  const double sum = cuda_detail::block_sum(part, sh);
  const double count = cuda_detail::block_sum(cnt, sh);
  if (threadIdx.x == 0) loss[0] = count > 0 ? static_cast<float>(sum / count) : 0.f;
  if (!dlogits) return;
  const float inv = count > 0 ? static_cast<float>(1.0 / count) : 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    dlogits[i] = (mask && mask[i] == 0.f) ? 0.f : chr_bce_term(z[i], t[i]).grad * inv;
}
}  // namespace

void chr_bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask) {
  chr_bce_kernel<<<1, cuda_detail::kThreads, 0, cuda_detail::stream_of(ctx)>>>(
      loss.f32(), dlogits.defined() ? dlogits.f32() : nullptr, logits.f32(), targets.f32(),
      mask ? mask->f32() : nullptr, logits.numel());
  CUDA_CHECK_LAUNCH();
}

}  // namespace gbad::cuda
