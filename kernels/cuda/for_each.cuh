// Launch helpers for our own CUDA kernels: a grid-stride loop over a functor that calls a
// GBAD_HD body, and a deterministic two-stage sum (fixed grid for a given size, fixed tree in
// shared memory, no atomics) so repeated runs give bit-identical results.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/cuda_check.h"

namespace gbad::cuda_detail {

constexpr int kThreads = 256;
constexpr int kMaxBlocks = 4096;

inline int grid_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return static_cast<int>(b);
}

inline cudaStream_t stream_of(Context& ctx) {
  return reinterpret_cast<cudaStream_t>(ctx.stream());
}

template <class F>
__global__ void for_each_kernel(int64_t n, F f) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    f(i);
}

// Runs f(i) for i in [0, n) on ctx's stream.
template <class F>
void for_each(Context& ctx, int64_t n, const F& f) {
  if (n <= 0) return;
  for_each_kernel<<<grid_for(n), kThreads, 0, stream_of(ctx)>>>(n, f);
  CUDA_CHECK_LAUNCH();
}

// Sums v over the block in a fixed order; thread 0 gets the result. blockDim.x == kThreads.
__device__ inline double block_sum(double v, double* sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  double r = sh[0];
  __syncthreads();
  return r;
}

}  // namespace gbad::cuda_detail
