// The CHR head's loss term (the SIXray authors' public code): binary cross-entropy on logits
// where "easy negatives" (target 0 and logit below kChrEasyNegativeLogit) contribute neither
// loss nor gradient but still count in the mean. Written once per head; the CHR loss is the
// sum over its three heads.
//   loss[0] = sum_i keep_i * l_i / count,  dlogits_i = keep_i * (sigmoid(z_i) - t_i) / count,
// with l_i = max(z,0) - z t + log1p(exp(-|z|)), count = the elements whose mask (N,K) is
// non-zero (all when mask is null; SIXray's "difficult" labels), keep_i = 0 for easy
// negatives and for masked elements. Reductions are deterministic on both backends.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

constexpr float kChrEasyNegativeLogit = -20.f;

// logits, targets, mask, dlogits (N,K); loss (1). dlogits may be undefined (skipped).
void chr_bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask = nullptr);

namespace cpu {
// Raw-pointer reference, templated on the scalar type; returns the loss. dlogits may be null.
template <typename T>
T chr_bce_with_logits(T* dlogits, const T* logits, const T* targets, const T* mask, int64_t n);
void chr_bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void chr_bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask);
}  // namespace cuda
#endif

}  // namespace gbad
