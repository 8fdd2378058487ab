// Direct (im2col-free) float convolution for the CPU fast path (kernels/cpu/conv2d_direct.cpp
// explains the arrangement). Internal to kernels/cpu: conv2d.cpp calls it, tests force its
// variants.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "kernels/conv2d.h"

namespace gbad::cpu {

// Which kernel the float fast path uses. Auto: the widest direct kernel the CPU supports
// (AVX-512, else AVX2+FMA, else the portable one). The others force one variant (tests and
// benchmarks); Gemm forces the im2col + SGEMM path of kernels/cpu/conv2d.cpp.
enum class ConvKernel { Auto, Avx512, Avx2, Portable, Gemm };
void set_conv_kernel(ConvKernel k);  // not thread-safe: set it before running ops
ConvKernel conv_kernel();            // the resolved choice (never Auto)
bool conv_kernel_supported(ConvKernel k);
const char* conv_kernel_name(ConvKernel k);

// y = epilogue(conv(x, w)) for the shapes the direct kernel handles; returns false (and
// touches nothing) otherwise, or when the Gemm kernel is selected.
bool conv2d_direct_forward(Context& ctx, float* y, const float* x, const float* w,
                           const Conv2dShape& s, const ConvEpilogue& e);
// dx (overwritten) of a stride-1 convolution: the direct kernel on dy with the filters
// rotated by 180 degrees and K/C swapped. Returns false when not handled.
bool conv2d_direct_backward_data(Context& ctx, float* dx, const float* dy, const float* w,
                                 const Conv2dShape& s);

// dw += the filter gradient (r * s > 1): vectors of output channels (dy made channels-last)
// times broadcast input values, one accumulator tile per (filter row, channel block, run of
// (s, c) pairs). Returns false when not handled.
bool conv2d_direct_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                                   const Conv2dShape& s);

// Both gradients of one backward call (dx overwritten, dw accumulated) when the direct kernel
// handles both: dy is packed to channels-last once, for the data gradient's convolution, and
// the filter gradient reads that copy. Returns false (and touches nothing) otherwise.
bool conv2d_direct_backward(Context& ctx, float* dx, float* dw, const float* dy, const float* x,
                            const float* w, const Conv2dShape& s);

}  // namespace gbad::cpu
