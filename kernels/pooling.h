// Pooling and resampling: max pooling, average pooling, global average pooling, nearest
// upsampling. NCHW.
// Input gradients are overwritten.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// Output size of max pooling (floor mode, as torch's default).
int64_t maxpool2d_out_size(int64_t in, int k, int s, int p);

// x (N,C,H,W) -> y (N,C,Ho,Wo), kernel k, stride s, padding p (2p <= k; padding never wins).
// argmax (same shape as y) holds the flat index into x of each output's maximum, stored as
// the bit pattern of an int32 in a float slot (see maxpool_index_to_bits in pooling_body.h).
// Ties go to the first maximum in scan order.
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p);
// dx (N,C,H,W) = sum of dy over the outputs whose argmax is that element. k, s, p as in the
// forward: the CUDA version gathers, for each input element, from the few windows covering
// it (deterministic, no atomics), so it needs the window geometry.
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p);

// Average pooling (torch.nn.functional.avg_pool2d, floor mode): kernel kh x kw, stride sh x sw,
// zero padding ph x pw (2p <= k). Each output is the window sum divided by the window's size
// clipped to the padded input (count_include_pad, PyTorch's default: InceptionV3's 3x3 s1 p1
// branch pools) or by the number of real input elements in it (count_include_pad = false).
struct AvgPool2dParams {
  int kh = 3, kw = 3, sh = 1, sw = 1, ph = 0, pw = 0;
  bool count_include_pad = true;
};
int64_t avgpool2d_out_size(int64_t in, int k, int s, int p);
// x (N,C,H,W) -> y (N,C,Ho,Wo).
void avgpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, const AvgPool2dParams& p);
// dy (N,C,Ho,Wo) -> dx (N,C,H,W), overwritten.
void avgpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p);

// x (N,C,H,W) -> y (N,C): mean over H and W.
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
// dy (N,C) -> dx (N,C,H,W) = dy / (H*W).
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);

// x (N,C,H,W) -> y (N,C,Ho,Wo) at y's size, torch's "nearest": src = floor(dst * in / out).
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
// dy (N,C,Ho,Wo) -> dx (N,C,H,W): each input element gets the sum of its copies' gradients.
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);
// The FPN's top-down merge in one pass: y = lat + upsample_nearest(x) (lat has y's shape), and
// its backward: dx = addend + upsample_nearest_backward(dy) (addend has dx's shape). The same
// as the two ops in sequence, without the intermediate tensor.
void upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x);
void upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                   const Tensor& addend);

namespace cpu {
// Raw-pointer average pooling reference templated on the scalar type; planes = N*C.
template <typename T>
void avgpool2d_forward(T* y, const T* x, int64_t planes, int64_t h, int64_t w,
                       const AvgPool2dParams& p);
template <typename T>
void avgpool2d_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                        const AvgPool2dParams& p);  // dx overwritten
void avgpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, const AvgPool2dParams& p);
void avgpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p);
// Max pooling on raw float pointers (planes = N*C; argmax as int32 bits in float slots):
// the readable reference, the specification, and the fast path for 3x3 stride 2 padding 1
// (the ResNet stem), which gives identical values and indices. The Tensor overload below
// picks the fast path when it applies.
void maxpool2d_forward_ref(float* y, float* argmax, const float* x, int64_t planes, int64_t h,
                           int64_t w, int k, int s, int p);
void maxpool2d_forward_3x3s2p1(float* y, float* argmax, const float* x, int64_t planes, int64_t h,
                               int64_t w);
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p);
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p);
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);
// Plane means (planes = N*C): the readable reference (serial double sum) and the fast path the
// Tensor overload uses (8 double accumulators).
void global_avgpool_forward_ref(float* y, const float* x, int64_t planes, int64_t hw);
void global_avgpool_forward_fast(float* y, const float* x, int64_t planes, int64_t hw);
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);
void upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x);
void upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                   const Tensor& addend);
// Nearest upsampling on raw float pointers (planes = N*C), add optional (null: none): the
// readable reference, the specification, and the fast path for an exact 2x factor (ho = 2h,
// wo = 2w), which gives bitwise the same results. The Tensor overloads pick the fast path.
void upsample_nearest_forward_ref(float* y, const float* x, const float* add, int64_t planes,
                                  int64_t h, int64_t w, int64_t ho, int64_t wo);
void upsample_nearest_backward_ref(float* dx, const float* dy, const float* add, int64_t planes,
                                   int64_t h, int64_t w, int64_t ho, int64_t wo);
void upsample_nearest2x_forward(float* y, const float* x, const float* add, int64_t planes,
                                int64_t h, int64_t w);
void upsample_nearest2x_backward(float* dx, const float* dy, const float* add, int64_t planes,
                                 int64_t h, int64_t w);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void avgpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, const AvgPool2dParams& p);
void avgpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p);
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p);
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p);
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);
void upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x);
void upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                   const Tensor& addend);
}  // namespace cuda
#endif

}  // namespace gbad
