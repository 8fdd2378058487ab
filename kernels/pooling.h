// Pooling and resampling: max pooling, global average pooling, nearest upsampling. NCHW.
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

// x (N,C,H,W) -> y (N,C): mean over H and W.
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
// dy (N,C) -> dx (N,C,H,W) = dy / (H*W).
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);

// x (N,C,H,W) -> y (N,C,Ho,Wo) at y's size, torch's "nearest": src = floor(dst * in / out).
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
// dy (N,C,Ho,Wo) -> dx (N,C,H,W): each input element gets the sum of its copies' gradients.
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);

namespace cpu {
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p);
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p);
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p);
void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p);
void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x);
void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy);
void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x);
void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy);
}  // namespace cuda
#endif

}  // namespace gbad
