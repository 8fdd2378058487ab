// CUDA twin of kernels/cpu/channels.cpp over the index body in kernels/channels_body.h.
#include "kernels/channels.h"
#include "kernels/channels_body.h"
#include "kernels/cuda/for_each.cuh"

namespace gbad::cuda {

namespace {
struct ChannelCopy {
  float* dst;
  const float* src;
  ChannelCopyGeom g;
  bool accumulate;
  __device__ void operator()(int64_t j) const {
    int64_t di, si;
    channel_copy_index(j, g, &di, &si);
    dst[di] = accumulate ? dst[di] + src[si] : src[si];
  }
};
}  // namespace

void channel_copy(Context& ctx, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate) {
  const ChannelCopyGeom g{dst.h() * dst.w(), dst.c(), src.c(), dst_c0, src_c0, count};
  cuda_detail::for_each(ctx, dst.n() * count * g.hw,
                        ChannelCopy{dst.f32(), src.f32(), g, accumulate});
}

}  // namespace gbad::cuda
