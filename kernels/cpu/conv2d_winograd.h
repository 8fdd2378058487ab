// Winograd F(4x4, 3x3) float convolution for the CPU fast path (kernels/cpu/conv2d_winograd.cpp
// explains the algorithm). Internal to kernels/cpu: conv2d.cpp calls it ahead of the direct
// kernel, tests force it on and off.
#pragma once

#include "core/context.h"
#include "kernels/conv2d.h"

namespace gbad::cpu {

// Auto: Winograd for the 3x3 stride-1 shapes where it measurably pays (conv2d_winograd_pays);
// Off: never; On: every shape it can compute (tests). GBAD_CONV_WINOGRAD=0|1|auto sets the
// default (A/B benchmarks); set_conv_winograd overrides it (not thread-safe: set it before
// running ops).
enum class ConvWinograd { Auto, Off, On };
void set_conv_winograd(ConvWinograd m);
ConvWinograd conv_winograd();  // GBAD_CONV_WINOGRAD unless set_conv_winograd chose

// The selection rules of Auto (by C, K and the output size): forward and data gradient, and
// the filter gradient.
bool conv2d_winograd_pays(const Conv2dShape& s);
bool conv2d_winograd_filter_grad_pays(const Conv2dShape& s);

// y = epilogue(conv(x, w)) by Winograd F(4x4, 3x3) for 3x3, stride-1 convolutions with padding
// <= 2 when the mode (and the rule) selects it and the conv kernel is not Gemm; returns false
// (touching nothing) otherwise. The variant (AVX-512 / AVX2 / portable) follows conv_kernel().
bool conv2d_winograd_forward(Context& ctx, float* y, const float* x, const float* w,
                             const Conv2dShape& s, const ConvEpilogue& e);
// dx (overwritten) of such a convolution: the same convolution of dy with the filters rotated
// by 180 degrees and K/C swapped. Returns false when not selected.
bool conv2d_winograd_backward_data(Context& ctx, float* dx, const float* dy, const float* w,
                                   const Conv2dShape& s);

// dw += the filter gradient of such a convolution (the products by OpenBLAS over fixed groups
// of tile blocks). Returns false when not selected (conv2d_winograd_filter_grad_pays in Auto).
bool conv2d_winograd_backward_filter(Context& ctx, float* dw, const float* dy, const float* x,
                                     const Conv2dShape& s);

}  // namespace gbad::cpu
