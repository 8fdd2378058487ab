// CUDA transposed convolution on cuDNN's classic API, on the geometry of the equivalent
// convolution (input y, output x, filter w read as (Cin, Cout, R, S)): the forward is that
// convolution's backward-data, the input gradient its forward, the filter gradient its
// backward-filter with dy as the input. Plans (descriptors + algorithms) are built once per
// shape and cached in ctx.cache(). Exact fp32 (CUDNN_FMA_MATH, see cudnn_util.h).
#include <memory>
#include <string>

#include "kernels/conv_transpose.h"
#include "kernels/cuda/cudnn_util.h"

namespace gbad::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;

bool exact_fp32(cudnnMathType_t m) {
  return m == CUDNN_DEFAULT_MATH || m == CUDNN_FMA_MATH;
}

struct Plan {
  TensorDesc big, small, bias;  // big: y (conv input); small: x (conv output); bias (1,Cout,1,1)
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

template <typename Perf, typename Algo>
void pick(const Perf* perf, int count, const char* what, const Conv2dShape& s, Algo* algo,
          size_t* ws) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status == CUDNN_STATUS_SUCCESS && exact_fp32(perf[i].mathType) &&
        perf[i].memory <= kMaxWorkspace) {
      *algo = perf[i].algo;
      *ws = perf[i].memory;
      return;
    }
  }
  GBAD_FAIL("cuDNN offers no fp32 ", what, " algorithm for conv_transpose2d ", s.str());
}

std::unique_ptr<Plan> make_plan(Context& ctx, const Conv2dShape& s) {
  auto plan = std::make_unique<Plan>();
  set_nchw(plan->big, s.n, s.c, s.h, s.w);
  set_nchw(plan->small, s.n, s.k, s.p, s.q);
  set_nchw(plan->bias, 1, s.c, 1, 1);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.k),
                                         int(s.c), int(s.r), int(s.s)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, s.ph, s.pw, s.sh, s.sw, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, CUDNN_FMA_MATH));
  int n = 0, k = 0, p = 0, q = 0;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->big, plan->w, &n, &k, &p, &q));
  GBAD_CHECK(n == s.n && k == s.k && p == s.p && q == s.q, "cuDNN size ", n, "x", k, "x", p, "x", q,
             " disagrees with ours for conv_transpose2d ", s.str());
  cudnnHandle_t handle = ctx.cudnn();
  constexpr int kReq = 16;
  int got = 0;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan->big, plan->w, plan->conv,
                                                       plan->small, kReq, &got, perf));
    pick(perf, got, "forward", s, &plan->fwd, &plan->fwd_ws);
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        handle, plan->w, plan->small, plan->conv, plan->big, kReq, &got, perf));
    pick(perf, got, "backward-data", s, &plan->bwd_data, &plan->bwd_data_ws);
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, plan->big, plan->small, plan->conv, plan->w, kReq, &got, perf));
    pick(perf, got, "backward-filter", s, &plan->bwd_filter, &plan->bwd_filter_ws);
  }
  return plan;
}

Plan& plan_for(Context& ctx, const Conv2dShape& s) {
  auto& slot = ctx.cache().entries["cudnn.conv_transpose2d " + s.str()];
  if (!slot) slot = std::shared_ptr<Plan>(make_plan(ctx, s));
  return *static_cast<Plan*>(slot.get());
}

}  // namespace

void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p) {
  const Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  if (y.numel() == 0) return;
  Plan& plan = plan_for(ctx, s);
  void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, w.f32(), plan.small, x.f32(),
                                           plan.conv, plan.bwd_data, ws, plan.bwd_data_ws, &zero,
                                           plan.big, y.f32()));
  if (bias)
    CUDNN_CHECK(cudnnAddTensor(ctx.cudnn(), &one, plan.bias, bias->f32(), &one, plan.big, y.f32()));
}

void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  if (dy.numel() == 0) {
    if (dx) dx->zero();
    return;
  }
  Plan& plan = plan_for(ctx, s);
  const float one = 1.f, zero = 0.f;
  if (dw) {  // accumulate: beta = 1
    void* ws = plan.bwd_filter_ws ? ctx.workspace(plan.bwd_filter_ws) : nullptr;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.big, dy.f32(), plan.small,
                                               x.f32(), plan.conv, plan.bwd_filter, ws,
                                               plan.bwd_filter_ws, &one, plan.w, dw->f32()));
  }
  if (db)
    CUDNN_CHECK(cudnnConvolutionBackwardBias(ctx.cudnn(), &one, plan.big, dy.f32(), &one, plan.bias,
                                             db->f32()));
  if (dx) {  // overwrite: beta = 0
    void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
    CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.big, dy.f32(), plan.w, w.f32(),
                                        plan.conv, plan.fwd, ws, plan.fwd_ws, &zero, plan.small,
                                        dx->f32()));
  }
}

}  // namespace gbad::cuda
