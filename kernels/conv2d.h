// 2-D convolution, NCHW, groups 1, dilation 1, any kernel size (incl. rectangular), stride and
// zero padding, optional bias.
//   x (N,C,H,W), w (K,C,R,S), bias (K), y (N,K,P,Q), P = (H + 2 pad_h - R) / stride_h + 1.
// CPU: the reference is im2col + SGEMM per image (1x1 stride-1 pad-0 convolutions use x
// directly); the float path the layers use runs filters larger than 1x1 through a direct
// (im2col-free) kernel, kernels/cpu/conv2d_direct.cpp. CUDA: cuDNN, algorithms chosen once per
// shape.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/context.h"
#include "core/precision.h"
#include "core/tensor.h"

namespace gbad {

struct Conv2dParams {
  int stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0;
};

// The full geometry of one convolution.
struct Conv2dShape {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, r = 0, s = 0;         // filters
  int64_t p = 0, q = 0;                // output spatial size
  int sh = 1, sw = 1, ph = 0, pw = 0;
  bool is_pointwise() const { return r == 1 && s == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  std::string str() const;  // "n2 c3 h7 w5 k4 r3 s3 p.. q.. str1x1 pad1x1"
};

int64_t conv2d_out_size(int64_t in, int64_t k, int stride, int pad);
// Checks x (4-D) and w (4-D, same C) and the parameters; computes the output size.
Conv2dShape conv2d_shape(const Shape& x, const Shape& w, const Conv2dParams& p);
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

// The half NHWC copy of a convolution's input that the CUDA half path makes in forward, kept by
// the layer so that its backward does not convert x again (docs/mixed-precision.md). Stays
// empty on the CPU and at fp32/tf32; backward converts x itself when the copy does not match
// (another size or precision).
struct ConvHalfInput {
  Tensor x;  // (N, H, W, C) f16/bf16, on the GPU
};

// y overwritten; bias may be null. `keep`, if given, receives the half copy of x (above).
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p, ConvHalfInput* keep = nullptr);
// dx overwritten; dw, db accumulate (+=). Any of them may be null. `kept`: forward's `keep`
// for this same x, or null.
void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p,
                     const ConvHalfInput* kept = nullptr);

// Eval-mode convolution + BatchNorm with running statistics [+ residual] [+ ReLU]:
//   y = act(BN_eval(conv(x, w)) [+ residual]),  residual (N,K,P,Q) or null.
// One op so that the CPU backend writes y once (BN folded into a per-channel scale and shift
// applied in the GEMM's output copy). CUDA composes conv2d_forward, batchnorm2d_forward_eval,
// add and relu_forward.
void conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                            const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, float eps, const Tensor* residual, bool relu,
                            const Conv2dParams& p);

// ---- the half-precision GPU path (docs/mixed-precision.md) -----------------------------------
// At fp16/bf16 the CUDA backend runs cuDNN on 16-bit NHWC data (KRSC filters) with fp32
// accumulation and tensor-core math; fp32 NCHW stays the layout between layers, converted at
// each convolution's boundary by one fused kernel each way (kernels/layout_body.h). Everywhere
// else (CPU, fp32, tf32) convolutions run in fp32 NCHW.
enum class ConvLayout { NchwF32, NhwcHalf };
const char* conv_layout_name(ConvLayout l);  // "nchw-f32" | "nhwc-half"
ConvLayout conv_layout_for(Device d, Precision p);
// The key of a cached cuDNN plan: choice mode, precision, layout and shape (two plans differ
// exactly when one of them does).
std::string conv_plan_key(ConvAlgo a, Precision p, ConvLayout l, const Conv2dShape& s);

// What the half path did on a context, for profiles and the GPU tests: layout conversions
// (kernel launches and bytes written) and which eval path ran (cuDNN's fused conv + bias + ReLU
// or the fallback of a convolution and one epilogue kernel). All zero on the CPU and at fp32.
struct HalfPathStats {
  int64_t to_nhwc = 0, from_nhwc = 0;  // conversion launches
  int64_t bytes = 0;                   // bytes the conversions wrote
  int64_t fused_eval = 0, unfused_eval = 0;
};
HalfPathStats& half_path_stats(Context& ctx);

namespace cpu {
// Raw-pointer reference, templated on the scalar type (float, double). `col` is scratch of
// conv2d_col_elems(s) values (may be null when that is 0).
int64_t conv2d_col_elems(const Conv2dShape& s);
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s, T* col);
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const Conv2dShape& s,
                     T* col);
// The two layout transforms, exposed for tests. col (C*R*S, P*Q) of one image.
template <typename T>
void im2col(T* col, const T* x, const Conv2dShape& s);
template <typename T>
void col2im(T* x, const T* col, const Conv2dShape& s);  // x overwritten (sum of overlaps)

// The float path the layers use (kernels/cpu/conv2d.cpp explains the arrangement): same
// arithmetic as the reference, tested against it (FastPath.*). Per output channel k:
//   y = act(conv * scale[k] + shift[k] [+ residual]);  null scale = 1, null shift = 0.
struct ConvEpilogue {
  const float* scale = nullptr;     // (K): a folded BatchNorm's gamma / sqrt(var + eps)
  const float* shift = nullptr;     // (K): a conv bias, or a folded BatchNorm's shift
  const float* residual = nullptr;  // (N,K,P,Q)
  bool relu = false;
};
void conv2d_forward_fast(Context& ctx, float* y, const float* x, const float* w,
                         const Conv2dShape& s, const ConvEpilogue& e);
// dx overwritten; dw, db accumulate; any may be null.
void conv2d_backward_fast(Context& ctx, float* dx, float* dw, float* db, const float* dy,
                          const float* x, const float* w, const Conv2dShape& s);

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p);
void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p);
void conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                            const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, float eps, const Tensor* residual, bool relu,
                            const Conv2dParams& p);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p, ConvHalfInput* keep = nullptr);
void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p,
                     const ConvHalfInput* kept = nullptr);
// The eval op at fp16/bf16: BatchNorm folded into half KRSC weights and an fp32 shift, then
// cudnnConvolutionBiasActivationForward (ReLU) or a convolution and one epilogue kernel.
// False (nothing done) when cuDNN had no half plan for the shape: compose the fp32 ops then.
bool conv2d_bn_eval_forward_half(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p);
}  // namespace cuda
#endif

}  // namespace gbad
