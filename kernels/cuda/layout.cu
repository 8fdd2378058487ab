// CUDA twin of kernels/cpu/layout.cpp: the conversions move 32x32 tiles through shared memory
// (padded against bank conflicts) so that both the NCHW and the NHWC side are read and written
// contiguously, and call the per-value functions of kernels/layout_body.h.
#include <climits>

#include "core/cuda_check.h"
#include "core/nvtx.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/for_each.cuh"
#include "kernels/layout.h"

namespace gbad::cuda {

namespace {

constexpr int kTile = 32, kTileRows = 8;

// Per image n = blockIdx.z: src (C, HW) fp32 -> dst (HW, C) half through a 32x32 tile in shared
// memory (padded against bank conflicts), so reads run along HW and writes along C. Block
// (32, 8), grid (ceil(HW/32), ceil(C/32), N).
__global__ void to_nhwc_half_tiles(uint16_t* dst, const float* src, int64_t C, int64_t HW,
                                   const float* scale, bool fp16) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t n = blockIdx.z, hw0 = int64_t(blockIdx.x) * kTile, c0 = int64_t(blockIdx.y) * kTile;
  const float* s = src + n * C * HW;
  uint16_t* d = dst + n * C * HW;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {  // tile[j][x] = (c0 + j, hw0 + x)
    const int64_t c = c0 + j, hw = hw0 + threadIdx.x;
    if (c < C && hw < HW) tile[j][threadIdx.x] = s[c * HW + hw];
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {  // (hw0 + j, c0 + x) = tile[x][j]
    const int64_t hw = hw0 + j, c = c0 + threadIdx.x;
    if (c < C && hw < HW) d[hw * C + c] = to_half_scaled(tile[threadIdx.x][j], scale, n, fp16);
  }
}

// Per image n = blockIdx.z: src (HW, C) half -> dst (C, HW) fp32 with the epilogue.
__global__ void from_nhwc_half_tiles(float* dst, const uint16_t* src, int64_t C, int64_t HW,
                                     FromNhwcEpilogue e, bool fp16) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t n = blockIdx.z, hw0 = int64_t(blockIdx.x) * kTile, c0 = int64_t(blockIdx.y) * kTile;
  const uint16_t* s = src + n * C * HW;
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {  // tile[j][x] = (hw0 + j, c0 + x)
    const int64_t hw = hw0 + j, c = c0 + threadIdx.x;
    if (c < C && hw < HW) tile[j][threadIdx.x] = half_bits_to_float(s[hw * C + c], fp16);
  }
  __syncthreads();
  for (int j = threadIdx.y; j < kTile; j += kTileRows) {  // (c0 + j, hw0 + x) = tile[x][j]
    const int64_t c = c0 + j, hw = hw0 + threadIdx.x;
    if (c < C && hw < HW) store_nchw(dst, (n * C + c) * HW + hw, c, tile[threadIdx.x][j], e);
  }
}

dim3 tile_grid(int64_t n, int64_t c, int64_t hw) {
  GBAD_CHECK(n <= 65535 && (c + kTile - 1) / kTile <= 65535 && (hw + kTile - 1) / kTile <= INT_MAX,
             "half layout conversion: ", n, " x ", c, " x ", hw, " exceeds the CUDA grid");
  return dim3(static_cast<unsigned>((hw + kTile - 1) / kTile),
              static_cast<unsigned>((c + kTile - 1) / kTile), static_cast<unsigned>(n));
}

// dst (n, hw, c) half = src (n, c, hw) fp32 [* scale[n]].
}  // namespace

void nchw_to_nhwc_half(Context& ctx, uint16_t* dst, const float* src, int64_t n, int64_t c,
                       int64_t hw, const float* scale, bool fp16) {
  const int64_t count = n * c * hw;
  if (count == 0) return;
  LayoutConversion range("NCHW fp32->NHWC half");  // counted, and a range in Nsight
  to_nhwc_half_tiles<<<tile_grid(n, c, hw), dim3(kTile, kTileRows), 0,
                       cuda_detail::stream_of(ctx)>>>(dst, src, c, hw, scale, fp16);
  CUDA_CHECK_LAUNCH();
  HalfPathStats& st = half_path_stats(ctx);
  ++st.to_nhwc;
  st.bytes += count * 2;
}

void nhwc_half_to_nchw(Context& ctx, float* dst, const uint16_t* src, int64_t n, int64_t c,
                       int64_t hw, const FromNhwcEpilogue& e, bool fp16) {
  const int64_t count = n * c * hw;
  if (count == 0) return;
  LayoutConversion range("NHWC half->NCHW fp32");
  from_nhwc_half_tiles<<<tile_grid(n, c, hw), dim3(kTile, kTileRows), 0,
                         cuda_detail::stream_of(ctx)>>>(dst, src, c, hw, e, fp16);
  CUDA_CHECK_LAUNCH();
  HalfPathStats& st = half_path_stats(ctx);
  ++st.from_nhwc;
  st.bytes += count * 4;
}

}  // namespace gbad::cuda
