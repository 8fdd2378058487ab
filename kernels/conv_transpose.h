// 2-D transposed convolution (torch.nn.ConvTranspose2d: groups 1, dilation 1, output_padding
// 0), NCHW, optional bias.
//   x (N,Cin,H,W), w (Cin,Cout,R,S) (torch's layout), bias (Cout), y (N,Cout,Ho,Wo),
//   Ho = (H - 1) * stride_h - 2 pad_h + R.
// It is the input gradient of the convolution whose input is y and whose output is x (filter
// w read as (K = Cin, C = Cout, R, S)); conv_transpose2d_shape() gives that convolution's
// geometry, so the ops reuse the conv2d pieces:
//   forward  y = col2im(W^T x) (+ bias)      = conv2d's input gradient of x
//   backward dx = conv2d(dy, w)              = conv2d's forward on dy
//            dw += x col(dy)^T               = conv2d's filter gradient (dy as its input)
//            db += sum of dy over N, H, W
// CPU: the conv2d templates (im2col/col2im + GEMM), parallel over the batch in float. CUDA:
// cuDNN (the forward is cudnnConvolutionBackwardData, the input gradient
// cudnnConvolutionForward).
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"
#include "kernels/conv2d.h"

namespace gbad {

int64_t conv_transpose2d_out_size(int64_t in, int64_t k, int stride, int pad);
// Checks x (4-D) and w (4-D, w[0] == Cin) and the parameters; returns the geometry of the
// equivalent convolution: input (n, c = Cout, h = Ho, w = Wo), filters (k = Cin, r, s), output
// (p = H, q = W).
Conv2dShape conv_transpose2d_shape(const Shape& x, const Shape& w, const Conv2dParams& p);
Shape conv_transpose2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p);

// y overwritten; bias may be null.
void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p);
// dx overwritten; dw, db accumulate (+=). Any of them may be null.
void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p);

namespace cpu {
// Raw-pointer reference on the geometry s of conv_transpose2d_shape, templated on the scalar
// type. `col` is scratch of conv2d_col_elems(s) values (may be null when that is 0).
template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* bias, const Conv2dShape& s,
                              T* col);
template <typename T>
void conv_transpose2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               const Conv2dShape& s, T* col);

void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p);
void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p);
void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p);
}  // namespace cuda
#endif

}  // namespace gbad
