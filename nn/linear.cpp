// Linear layer over kernels/gemm.h. At fp16/bf16 the CUDA GEMMs take half operands with fp32
// accumulation (cublasGemmEx, docs/mixed-precision.md); the stored output is rounded as on the CPU.
#include <cmath>

#include "core/nvtx.h"
#include "kernels/amp.h"
#include "kernels/gemm.h"
#include "nn/layers.h"

namespace gbad {

Linear::Linear(ParamStore& ps, const std::string& prefix, int64_t in, int64_t out, bool bias,
               bool xavier)
    : ps_(&ps), in_(in), out_(out) {
  GBAD_CHECK(in > 0 && out > 0, "Linear '", prefix, "': bad sizes in ", in, " out ", out);
  w_ = ps.add_param(
      join_name(prefix, "weight"), {out, in},
      xavier ? InitSpec::xavier_uniform(in, out) : InitSpec::kaiming_uniform_fan_in(in));
  if (bias) {
    // torch.nn.Linear default bias: U(-1/sqrt(in), 1/sqrt(in)); zero with Xavier (Bi-GAN).
    float bound = 1.f / std::sqrt(static_cast<float>(in));
    b_ = ps.add_param(join_name(prefix, "bias"), {out},
                      xavier ? InitSpec::zeros() : InitSpec::uniform(-bound, bound));
  }
}

const Tensor& Linear::forward(Context& ctx, const Tensor& x) {
  GBAD_NVTX_RANGE("Linear::forward");
  GBAD_CHECK(ps_, "Linear used before construction");
  GBAD_CHECK(x.ndim() == 2 && x.size(1) == in_, "Linear: input ", x.str(), " is not (N, ", in_,
             ")");
  x_ = x;
  y_.resize({x.size(0), out_}, x.device());
  linear_forward(ctx, y_, x, ps_->compute_value(w_), b_ >= 0 ? &ps_->compute_value(b_) : nullptr);
  amp_store(ctx, y_);  // half storage (emulated on fp32 tensors)
  return y_;
}

const Tensor& Linear::backward(Context& ctx, const Tensor& dy) {
  GBAD_NVTX_RANGE("Linear::backward");
  GBAD_CHECK(x_.defined(), "Linear::backward called before forward");
  static const Tensor kNone;
  if (input_grad_) dx_.resize(x_.shape(), x_.device());
  linear_backward(ctx, input_grad_ ? &dx_ : nullptr, &ps_->grad(w_),
                  b_ >= 0 ? &ps_->grad(b_) : nullptr, dy, x_, ps_->compute_value(w_));
  ctx.grad_ready(*ps_, w_);
  if (b_ >= 0) ctx.grad_ready(*ps_, b_);
  if (input_grad_) amp_store(ctx, dx_);
  return input_grad_ ? dx_ : kNone;
}

}  // namespace gbad
