// Fused losses: each writes its mean loss into a 1-element tensor on the op's device (no
// host sync; read it with read_scalar() from nn/optim.h) and the gradient of that loss in
// the same call. Per-sample variants give the anomaly scores. Reductions are deterministic on
// both backends (CPU: serial double sums; CUDA: fixed-grid partial sums, then one block).
// A gradient output that is undefined (default-constructed Tensor) is skipped.
#pragma once

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

// Binary cross-entropy on logits z (N,K) against targets t (N,K) in [0,1], in the stable form
//   l = max(z,0) - z*t + log1p(exp(-|z|)),
// or with pos_weight w (K), torch's  l = (1-t)*z + (1+(w-1)*t) * (log1p(exp(-|z|)) + max(-z,0)).
// loss[0] = mean of l over the elements whose mask (N,K) is non-zero (all when mask is null;
// 0 when none), dlogits = dl/dz / count there and 0 where masked.
void bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask = nullptr,
                     const Tensor* pos_weight = nullptr);

// loss[0] = mean |a-b| over all n elements; da = sign(a-b)/n (0 where a == b).
void l1_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
// a, b (N,...) -> out (N): sum_j |a_ij - b_ij| (the anomaly score R).
void l1_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);

// loss[0] = mean (a-b)^2; da = 2(a-b)/n.
void l2_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
// a, b (N,...) -> out (N): sqrt(sum_j (a_ij - b_ij)^2) (the feature-matching score FM).
void l2_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);
// da = dout_i * (a-b) / out_i, and 0 for rows whose norm out_i is 0 (safe at a == b).
void l2_per_sample_backward(Context& ctx, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out);

namespace cpu {
void bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask, const Tensor* pos_weight);
void l1_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
void l1_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);
void l2_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
void l2_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);
void l2_per_sample_backward(Context& ctx, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out);
}  // namespace cpu

#ifdef GBAD_WITH_CUDA
namespace cuda {
void bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask, const Tensor* pos_weight);
void l1_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
void l1_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);
void l2_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b);
void l2_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b);
void l2_per_sample_backward(Context& ctx, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out);
}  // namespace cuda
#endif

}  // namespace gbad
