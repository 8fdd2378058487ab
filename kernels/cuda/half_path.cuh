// Helpers of the half-precision GPU path (docs/mixed-precision.md) shared by conv2d.cu and
// gemm.cu: 16-bit scratch tensors kept in the context's cache and the same-layout cast to half.
// The layout conversions (NCHW <-> NHWC) are conv2d.cu's.
#pragma once

#include <memory>
#include <string>

#include "core/precision.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/cuda/for_each.cuh"
#include "kernels/layout_body.h"
#include "kernels/nhwc_body.h"

namespace gbad::cuda_detail {

inline DType half_dtype(Precision p) {
  return p == Precision::Fp16 ? DType::F16 : DType::BF16;
}

// A scratch tensor of `dt` with at least `numel` elements on the context's GPU, kept in its
// cache under `name` (grows, never shrinks). Ops on one stream run in order, so one scratch
// per role is enough; contents are unspecified on entry.
inline Tensor& scratch(Context& ctx, const char* name, int64_t numel, DType dt) {
  std::shared_ptr<void>& slot = ctx.cache().entries[std::string("half_path.scratch.") + name];
  if (!slot) slot = std::make_shared<Tensor>();
  Tensor& t = *static_cast<Tensor*>(slot.get());
  if (!t.defined() || t.dtype() != dt || t.numel() < numel)
    t = Tensor({numel > 0 ? numel : 1}, Device::CUDA, dt);
  return t;
}

struct ToHalf {
  uint16_t* d;
  const float* s;
  bool fp16;
  __device__ void operator()(int64_t i) const { to_half_body(i, d, s, fp16); }
};

// dst = half(src), same layout (GEMM operands; not a layout conversion, not counted there).
inline void to_half(Context& ctx, uint16_t* dst, const float* src, int64_t count, bool fp16) {
  for_each(ctx, count, ToHalf{dst, src, fp16});
}

// A half NHWC result's epilogue in place: y = half(act(y [+ shift[c]] [+ residual])) (a
// convolution's bias or folded-BatchNorm shift; the split BatchNorm form's add and ReLU).
struct HalfEpilogue {
  uint16_t* y;
  const float* shift;
  const uint16_t* residual;
  bool relu;
  int64_t c;
  bool fp16;
  __device__ void operator()(int64_t i) const {
    half_epilogue_body(i, y, y, shift, residual, relu, c, fp16);
  }
};

}  // namespace gbad::cuda_detail
