// Ops on half-precision NHWC activations: the layout a ResNet backbone's activations keep from
// the input batch to its C2..C5 taps in a fp16/bf16 run on the GPU (Context::half_nhwc(),
// docs/mixed-precision.md). Activations are Tensors of dtype F16/BF16 and layout NHWC with the
// logical shape (N, C, H, W); parameters, BatchNorm statistics and weight gradients stay fp32.
//
// Each op stores its outputs at the storage points of the CPU emulation (kernels/amp.h): the
// value the fp32 op computes, rounded to nearest even once. Two implementations:
//   * the twin (every device): convert the half operands to fp32 NCHW (exact), run the fp32
//     op, round the results into half NHWC. On the CPU it is the only implementation and is
//     bit-identical to the emulation (Precision.NhwcHalf*); on the GPU it is the fallback where
//     cuDNN refuses a configuration (said once per op and shape on stderr).
//   * CUDA native: cuDNN on the NHWC half data itself (tensor-core convolutions, the
//     persistent NHWC BatchNorm with its fused add + ReLU, NHWC pooling) and one kernel for the
//     half addition. The results differ from the emulation by summation order, and in three
//     places by one more rounding: a bias or folded-BatchNorm shift is added to the half
//     convolution output (cuDNN writes y in half; the twin adds in fp32 first), the fused eval
//     call reads the shift in half, and the weight gradient comes out of cuDNN in half before
//     it is accumulated into the fp32 gradient (as PyTorch autocast's does: cuDNN's
//     mixed-precision configurations give dw x's type) (CudaVsCpu.HalfNhwc*).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"
#include "kernels/pooling_body.h"

namespace gbad {

// What the half NHWC ops did on a context, for profiles and tests: conversions at the edges
// (to_half_nhwc / from_half_nhwc calls), ops run natively on the GPU (cuDNN or our kernels)
// and ops run by the twin (always on the CPU; on the GPU where cuDNN refused). Host-side
// counters: a replayed CUDA graph does not count again.
struct NhwcStats {
  int64_t edge_conversions = 0, native_ops = 0, twin_ops = 0;
};
NhwcStats& nhwc_stats(Context& ctx);

// A 4-D F16/BF16 NHWC tensor?
inline bool is_half_nhwc(const Tensor& t) {
  return t.defined() && t.is_nhwc() && t.dtype() != DType::F32;
}

// dst = src (f32 NCHW) in half NHWC of the context's precision (fp16/bf16), dst resized.
void to_half_nhwc(Context& ctx, Tensor& dst, const Tensor& src);
// dst = src (half NHWC) as f32 NCHW, dst resized; with `accumulate`, dst += src instead (dst
// must then already have src's shape).
void from_half_nhwc(Context& ctx, Tensor& dst, const Tensor& src, bool accumulate = false);
// y = half(a + b), all three half NHWC of one shape (y may alias a or b).
void half_nhwc_add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b);

// Convolution (kernels/conv2d.h semantics): x, y, dx, dy half NHWC; w, bias, dw, db fp32
// (the ParamStore's compute copy and gradients). dw, db accumulate; dx overwritten.
void nhwc_conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                         const Tensor* bias, const Conv2dParams& p);
void nhwc_conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                          const Tensor& x, const Tensor& w, const Conv2dParams& p);
// Eval: y = act(BN_eval(conv(x, w)) [+ residual]) (conv2d_bn_eval_forward), x, y, residual
// half NHWC.
void nhwc_conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p);

// What a training BatchNorm's forward leaves for its backward on the GPU: cuDNN's reserve
// space (the ReLU mask of the fused forms) and which implementation ran. Held by the layer.
struct BnNhwcState {
  Tensor reserve;       // bytes (u8 as F32 storage rounded up), CUDA native only
  bool native = false;  // the forward ran cuDNN's NHWC BatchNorm (the backward must too)
  bool split = false;   // ... in its plain form, our kernel adding the residual and the ReLU
  bool relu = false, residual = false;
};

// Training BatchNorm (batch statistics; running statistics updated as
// batchnorm2d_forward_train) followed by [+ residual] [ReLU], as BatchNorm2d::forward_act:
//   y = act(BN(x) [+ residual]). x, y, residual half NHWC; the rest fp32 (C).
void nhwc_batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                    Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                    const Tensor& gamma, const Tensor& beta, float eps,
                                    float momentum, const Tensor* residual, bool relu,
                                    BnNhwcState& state);
// Its backward: dz = dL/d(residual) (= dy masked by the ReLU; only with the ReLU, may be null),
// dx overwritten (may be null), dgamma, dbeta accumulate (fp32).
void nhwc_batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& y, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                               const Tensor& save_invstd, float eps, const BnNhwcState& state);

// Max pooling (k, stride s, padding p; kernels/pooling.h semantics, ties to the first maximum).
// The state holds the argmax: NCHW flat indices for the twin (CPU), in-plane indices in NHWC
// order for the CUDA kernels (kernels/nhwc_body.h).
struct MaxPoolNhwcState {
  Tensor argmax;
  bool native = false;
};
void nhwc_maxpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, int k, int s, int p,
                            MaxPoolNhwcState& state);
// dx gets the forward input's shape `x`.
void nhwc_maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x, int k,
                             int s, int p, const MaxPoolNhwcState& state);

// The FPN's top-down merge (kernels/pooling.h upsample_nearest_add_*): y = lat + up(x) at lat's
// size; backward dx = addend + up_backward(dy) at x's size `x` (addend like dx). All half NHWC.
void nhwc_upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x);
void nhwc_upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                        const Tensor& addend);
// Global average pooling: y (N, C) f32 holding half values (the storage point) = the mean of
// half NHWC x; backward dx (half NHWC of shape `x`) = dy / (H W).
void nhwc_global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void nhwc_global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x);

#ifdef GBAD_WITH_CUDA
namespace cuda {
// The cuDNN forms. Each returns false, having done nothing, where cuDNN has no NHWC half
// implementation for the configuration; the dispatcher then runs the twin.
bool nhwc_conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                         const Tensor* bias, const Conv2dParams& p);
bool nhwc_conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                          const Tensor& x, const Tensor& w, const Conv2dParams& p);
bool nhwc_conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p);
bool nhwc_batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                    Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                    const Tensor& gamma, const Tensor& beta, float eps,
                                    float momentum, const Tensor* residual, bool relu,
                                    BnNhwcState& state);
// Only after a native forward (state.native); never refuses then.
void nhwc_batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& y, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                               const Tensor& save_invstd, float eps, const BnNhwcState& state);
// Our kernels over the bodies of kernels/nhwc_body.h (raw device pointers, ctx's stream).
void nhwc_maxpool2d_forward(Context& ctx, uint16_t* y, float* argmax, const uint16_t* x, int64_t n,
                            int64_t c, const PoolGeom& g, bool fp16);
void nhwc_maxpool2d_backward(Context& ctx, uint16_t* dx, const uint16_t* dy, const float* argmax,
                             int64_t n, int64_t c, const PoolGeom& g, bool fp16);
void half_nhwc_add(Context& ctx, uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n,
                   bool fp16);
void nhwc_upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x);
void nhwc_upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                        const Tensor& addend);
void nhwc_global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void nhwc_global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);
}  // namespace cuda
#endif

}  // namespace gbad
