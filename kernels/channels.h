// Channel slices of NCHW tensors: the concatenations of InceptionV3's branches and DenseNet's
// growing feature map write into (and read back from) channel ranges of one preallocated
// tensor instead of concatenating new tensors.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// dst[:, dst_c0 : dst_c0+count] (=, or += with accumulate) src[:, src_c0 : src_c0+count].
// dst (N,Cd,H,W), src (N,Cs,H,W): same N, H, W; the ranges must lie inside each tensor and the
// two tensors must not share storage.
void channel_copy(Context& ctx, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate = false);

// Flat index geometry shared by the CPU reference and the CUDA kernel (see channels_body.h).
struct ChannelCopyGeom {
  int64_t hw, cd, cs, dst_c0, src_c0, count;
};

namespace cpu {
template <typename T>
void channel_copy(T* dst, const T* src, int64_t n, const ChannelCopyGeom& g, bool accumulate);
void channel_copy(Context& ctx, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void channel_copy(Context& ctx, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate);
}  // namespace cuda
#endif

}  // namespace gbad
