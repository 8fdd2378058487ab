// CUDA forms of the half NHWC ops (kernels/nhwc.h) other than the convolutions (conv2d.cu):
//   * training BatchNorm through cuDNN's NHWC BatchNorm (cudnnBatchNormalizationForwardTrainingEx
//     / BackwardEx, CUDNN_BATCHNORM_SPATIAL_PERSISTENT) with the residual add and the ReLU fused
//     where the block has them (CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION / BN_ACTIVATION). Scale,
//     bias, statistics and their gradients fp32 (cudnnDeriveBNTensorDescriptor). Running
//     statistics as cuDNN keeps them: exponentialAverageFactor = momentum, the unbiased
//     variance, as torch. Where cuDNN refuses the fused form (a status of category NOT_SUPPORTED
//     or BAD_PARAM at the descriptor calls and size queries, NOT_SUPPORTED at the call;
//     remembered per shape and form), its plain form runs and our kernel adds the residual and
//     applies the ReLU (the split form); where it refuses that too, false: the dispatcher runs
//     the twin;
//   * max pooling, the half addition and the ReLU mask: our kernels over kernels/nhwc_body.h
//     (deterministic: pooling's backward gathers per input element, no atomics).
#include <memory>
#include <string>

#include "kernels/cuda/cudnn_util.h"
#include "kernels/cuda/for_each.cuh"
#include "kernels/cuda/half_path.cuh"
#include "kernels/nhwc.h"
#include "kernels/nhwc_body.h"

namespace gbad::cuda {

using cuda_detail::for_each;

namespace {

constexpr cudnnBatchNormMode_t kBnMode = CUDNN_BATCHNORM_SPATIAL_PERSISTENT;

// A configuration cuDNN does not support, as the descriptor calls and size queries report it
// (the legacy BatchNorm reports unsupported dimensions as BAD_PARAM there). cuDNN 9 returns
// sub-codes: compare categories.
bool refused(cudnnStatus_t st) {
  const int category = CUDNN_STATUS_CATEGORY(st);
  return category == CUDNN_STATUS_NOT_SUPPORTED || category == CUDNN_STATUS_BAD_PARAM;
}

// One (shape, dtype, form) of cuDNN's NHWC BatchNorm: descriptors and sizes, built once.
struct BnPlan {
  TensorDesc x, param;
  ActivationDesc relu;
  cudnnBatchNormOps_t ops = CUDNN_BATCHNORM_OPS_BN;
  size_t fwd_ws = 0, bwd_ws = 0, reserve = 0;
  bool ok = false;            // false: cuDNN refused this configuration's descriptors or sizes
  bool call_refused = false;  // the forward call itself said NOT_SUPPORTED: the twin from now on
};

cudnnBatchNormOps_t ops_of(bool residual, bool relu) {
  if (residual) return CUDNN_BATCHNORM_OPS_BN_ADD_ACTIVATION;
  return relu ? CUDNN_BATCHNORM_OPS_BN_ACTIVATION : CUDNN_BATCHNORM_OPS_BN;
}

BnPlan& bn_plan(Context& ctx, const Tensor& x, bool residual, bool relu) {
  const cudnnBatchNormOps_t ops = ops_of(residual, relu);
  const std::string key = "nhwc.bn " + std::string(dtype_name(x.dtype())) + shape_str(x.shape()) +
                          " ops" + std::to_string(int(ops));
  auto& slot = ctx.cache().entries[key];
  if (slot) return *static_cast<BnPlan*>(slot.get());
  auto plan = std::make_shared<BnPlan>();
  plan->ops = ops;
  const cudnnDataType_t dt = x.dtype() == DType::F16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
  CUDNN_CHECK(cudnnSetActivationDescriptor(plan->relu, CUDNN_ACTIVATION_RELU,
                                           CUDNN_NOT_PROPAGATE_NAN, 0.0));
  cudnnActivationDescriptor_t act = ops == CUDNN_BATCHNORM_OPS_BN ? nullptr : plan->relu.get();
  cudnnTensorDescriptor_t z = residual ? plan->x.get() : nullptr;
  cudnnHandle_t h = ctx.cudnn();
  // A cuDNN that rejects the data type (bf16) already here is a refusal like the others.
  cudnnStatus_t st = cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NHWC, dt, int(x.n()),
                                                int(x.c()), int(x.h()), int(x.w()));
  if (st == CUDNN_STATUS_SUCCESS) st = cudnnDeriveBNTensorDescriptor(plan->param, plan->x, kBnMode);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnGetBatchNormalizationForwardTrainingExWorkspaceSize(
        h, kBnMode, ops, plan->x, z, plan->x, plan->param, act, &plan->fwd_ws);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnGetBatchNormalizationBackwardExWorkspaceSize(
        h, kBnMode, ops, plan->x, plan->x, plan->x, z, plan->x, plan->param, act, &plan->bwd_ws);
  if (st == CUDNN_STATUS_SUCCESS)
    st = cudnnGetBatchNormalizationTrainingExReserveSpaceSize(h, kBnMode, ops, act, plan->x,
                                                              &plan->reserve);
  GBAD_CHECK(st == CUDNN_STATUS_SUCCESS || refused(st), "cuDNN NHWC BatchNorm ", x.str(), ": ",
             cudnnGetErrorString(st));
  plan->ok = st == CUDNN_STATUS_SUCCESS;
  slot = plan;
  return *plan;
}

struct HalfAdd {
  uint16_t* y;
  const uint16_t *a, *b;
  bool fp16;
  __device__ void operator()(int64_t i) const { half_add_body(i, y, a, b, fp16); }
};

struct ReluMask {
  uint16_t* dz;
  const uint16_t *dy, *y;
  bool fp16;
  __device__ void operator()(int64_t i) const { relu_mask_half_body(i, dz, dy, y, fp16); }
};

struct MaxPoolFwd {
  uint16_t* y;
  float* argmax;
  const uint16_t* x;
  PoolGeom g;
  int64_t c;
  bool fp16;
  __device__ void operator()(int64_t o) const {
    int32_t arg;
    y[o] = maxpool_nhwc_fwd_body(x, o, g, c, fp16, &arg);
    argmax[o] = maxpool_index_to_bits(arg);
  }
};

struct MaxPoolBwd {
  uint16_t* dx;
  const uint16_t* dy;
  const float* argmax;
  PoolGeom g;
  int64_t c;
  bool fp16;
  __device__ void operator()(int64_t i) const {
    dx[i] = maxpool_nhwc_bwd_body(dy, argmax, i, g, c, fp16);
  }
};

struct UpsampleAddFwd {
  uint16_t* y;
  const uint16_t *lat, *x;
  int64_t c, H, W, h, w;
  bool fp16;
  __device__ void operator()(int64_t i) const {
    upsample_add_nhwc_fwd_body(i, y, lat, x, c, H, W, h, w, fp16);
  }
};

struct UpsampleAddBwd {
  uint16_t* dx;
  const uint16_t *dy, *addend;
  int64_t c, h, w, H, W;
  bool fp16;
  __device__ void operator()(int64_t i) const {
    dx[i] = upsample_add_nhwc_bwd_body(i, dy, addend, c, h, w, H, W, fp16);
  }
};

struct GapFwd {
  float* y;
  const uint16_t* x;
  int64_t c, hw;
  bool fp16;
  __device__ void operator()(int64_t o) const { y[o] = gap_nhwc_fwd_body(x, o, c, hw, fp16); }
};

struct GapBwd {
  uint16_t* dx;
  const float* dy;
  int64_t c, hw;
  bool fp16;
  __device__ void operator()(int64_t i) const { dx[i] = gap_nhwc_bwd_body(dy, i, c, hw, fp16); }
};

}  // namespace

void nhwc_upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat,
                                       const Tensor& x) {
  for_each(ctx, y.numel(),
           UpsampleAddFwd{y.u16(), lat.u16(), x.u16(), lat.c(), lat.h(), lat.w(), x.h(), x.w(),
                          y.dtype() == DType::F16});
}

void nhwc_upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                        const Tensor& addend) {
  for_each(ctx, dx.numel(),
           UpsampleAddBwd{dx.u16(), dy.u16(), addend.u16(), dx.c(), dx.h(), dx.w(), dy.h(), dy.w(),
                          dx.dtype() == DType::F16});
}

// One thread per (n, c) row, each a serial double sum over H W (the same order as the body on
// the CPU); the heads' levels are small (N C rows of at most 56 x 56 at 224 px).
void nhwc_global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x) {
  for_each(ctx, y.numel(), GapFwd{y.f32(), x.u16(), x.c(), x.h() * x.w(), x.dtype() == DType::F16});
}

void nhwc_global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  for_each(ctx, dx.numel(),
           GapBwd{dx.u16(), dy.f32(), dx.c(), dx.h() * dx.w(), dx.dtype() == DType::F16});
}

namespace {

// One forward through cuDNN's NHWC BatchNorm in `plan`'s form, z = residual (fused forms).
// False when the call itself says NOT_SUPPORTED (nothing written; remembered in the plan).
bool bn_forward_call(Context& ctx, BnPlan& plan, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                     Tensor& running_mean, Tensor& running_var, const Tensor& x,
                     const Tensor& gamma, const Tensor& beta, float eps, float momentum,
                     const Tensor* z, BnNhwcState& state) {
  if (!plan.ok || plan.call_refused) return false;
  const size_t words = (plan.reserve + 3) / 4;
  if (words == 0) {
    state.reserve = Tensor();
  } else if (!state.reserve.defined() || state.reserve.numel() < int64_t(words)) {
    state.reserve = Tensor({int64_t(words)}, Device::CUDA);
  }
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  cudnnActivationDescriptor_t act = plan.ops == CUDNN_BATCHNORM_OPS_BN ? nullptr : plan.relu.get();
  const cudnnStatus_t st = cudnnBatchNormalizationForwardTrainingEx(
      ctx.cudnn(), kBnMode, plan.ops, &one, &zero, plan.x, x.raw(), z ? plan.x.get() : nullptr,
      z ? z->raw() : nullptr, plan.x, y.raw(), plan.param, gamma.f32(), beta.f32(),
      double(momentum), running_mean.f32(), running_var.f32(), double(eps), save_mean.f32(),
      save_invstd.f32(), act, ws, plan.fwd_ws, words ? state.reserve.raw() : nullptr, plan.reserve);
  // Only NOT_SUPPORTED is a refusal at the call (nothing written; this form is not tried for
  // the shape again). A BAD_PARAM here is a defect of ours, not a missing form: an error. The
  // plan stays valid for the backwards of the forwards that ran natively before.
  if (CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED) {
    plan.call_refused = true;
    return false;
  }
  CUDNN_CHECK(st);
  return true;
}

}  // namespace

// The fused form (cuDNN adds the residual and applies the ReLU), else the split form (cuDNN's
// plain NHWC BatchNorm, then our kernel for [+ residual] [ReLU]: one more rounding of the
// BatchNorm output than the emulation; cuDNN documents the fused forms for fp16 data, so bf16
// may take this path), else false (the twin).
bool nhwc_batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                    Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                    const Tensor& gamma, const Tensor& beta, float eps,
                                    float momentum, const Tensor* residual, bool relu,
                                    BnNhwcState& state) {
  if (x.numel() == 0) return false;
  const bool fusable = relu || !residual;  // cuDNN fuses the add only with the activation
  if (fusable &&
      bn_forward_call(ctx, bn_plan(ctx, x, residual != nullptr, relu), y, save_mean, save_invstd,
                      running_mean, running_var, x, gamma, beta, eps, momentum, residual, state)) {
    state.split = false;
    return true;
  }
  if (!residual && !relu) return false;  // the plain form was the one refused
  if (!bn_forward_call(ctx, bn_plan(ctx, x, false, false), y, save_mean, save_invstd, running_mean,
                       running_var, x, gamma, beta, eps, momentum, nullptr, state))
    return false;
  for_each(ctx, y.numel(),
           cuda_detail::HalfEpilogue{y.u16(), nullptr, residual ? residual->u16() : nullptr, relu,
                                     x.c(), y.dtype() == DType::F16});
  state.split = true;
  return true;
}

void nhwc_batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& y, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                               const Tensor& save_invstd, float eps, const BnNhwcState& state) {
  const bool fused = !state.split;
  // The form the forward ran (valid: it ran).
  BnPlan& plan =
      fused ? bn_plan(ctx, x, state.residual, state.relu) : bn_plan(ctx, x, false, false);
  const DType dt = x.dtype();
  const bool fp16 = dt == DType::F16;
  // The gradient the BatchNorm itself sees: dy, or (split form with the ReLU) dy masked by the
  // output, which is also dL/d(residual).
  const void* g = dy.raw();
  if (!fused && state.relu) {
    uint16_t* m = dz ? dz->u16() : cuda_detail::scratch(ctx, "bn.mask", x.numel(), dt).u16();
    for_each(ctx, x.numel(), ReluMask{m, dy.u16(), y.u16(), fp16});
    g = m;
  }
  // cuDNN writes dx, dz (the fused add's) and both parameter gradients; scratch stands in for
  // what the caller does not want. Parameter gradients accumulate (beta 1).
  uint16_t* dxp = dx ? dx->u16() : cuda_detail::scratch(ctx, "bn.dx", x.numel(), dt).u16();
  uint16_t* dzp = nullptr;
  const bool fused_add = fused && state.residual;
  if (fused_add) dzp = dz ? dz->u16() : cuda_detail::scratch(ctx, "bn.dz", x.numel(), dt).u16();
  float* dg =
      dgamma ? dgamma->f32() : cuda_detail::scratch(ctx, "bn.dgamma", x.c(), DType::F32).f32();
  float* db = dbeta ? dbeta->f32() : cuda_detail::scratch(ctx, "bn.dbeta", x.c(), DType::F32).f32();
  void* ws = plan.bwd_ws ? ctx.workspace(plan.bwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  cudnnActivationDescriptor_t act = plan.ops == CUDNN_BATCHNORM_OPS_BN ? nullptr : plan.relu.get();
  CUDNN_CHECK(cudnnBatchNormalizationBackwardEx(
      ctx.cudnn(), kBnMode, plan.ops, &one, &zero, &one, &one, plan.x, x.raw(), plan.x, y.raw(),
      plan.x, g, fused_add ? plan.x.get() : nullptr, dzp, plan.x, dxp, plan.param, gamma.f32(),
      beta.f32(), dg, db, double(eps), save_mean.f32(), save_invstd.f32(), act, ws, plan.bwd_ws,
      plan.reserve ? state.reserve.raw() : nullptr, plan.reserve));
  // dL/d(residual) of the fused ReLU without a fused add (BN_ACTIVATION): dy masked by the
  // output. (The split form wrote it above; without the ReLU it is dy, and dz is not asked.)
  if (dz && fused && !state.residual)
    for_each(ctx, x.numel(), ReluMask{dz->u16(), dy.u16(), y.u16(), fp16});
}

void nhwc_maxpool2d_forward(Context& ctx, uint16_t* y, float* argmax, const uint16_t* x, int64_t n,
                            int64_t c, const PoolGeom& g, bool fp16) {
  for_each(ctx, n * c * g.ho * g.wo, MaxPoolFwd{y, argmax, x, g, c, fp16});
}

void nhwc_maxpool2d_backward(Context& ctx, uint16_t* dx, const uint16_t* dy, const float* argmax,
                             int64_t n, int64_t c, const PoolGeom& g, bool fp16) {
  for_each(ctx, n * c * g.h * g.w, MaxPoolBwd{dx, dy, argmax, g, c, fp16});
}

void half_nhwc_add(Context& ctx, uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n,
                   bool fp16) {
  for_each(ctx, n, HalfAdd{y, a, b, fp16});
}

}  // namespace gbad::cuda
