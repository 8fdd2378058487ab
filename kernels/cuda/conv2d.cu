// CUDA convolution: cuDNN classic API. Descriptors and algorithm choices are built once per
// shape (cudnnGet*Algorithm_v7 heuristics) and cached in ctx.cache(); every call then only
// grows the context's one shared workspace and launches. Exact fp32 (see cudnn_util.h).
#include <memory>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/cudnn_util.h"

namespace gbad::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;  // skip algorithms that want more than 1 GiB
constexpr cudnnMathType_t kMath = CUDNN_FMA_MATH;

bool exact_fp32(cudnnMathType_t m) {
  return m == CUDNN_DEFAULT_MATH || m == CUDNN_FMA_MATH;
}

struct ConvPlan {
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
};

// First (fastest by cuDNN's heuristic) usable exact-fp32 algorithm within the workspace cap,
// preferring deterministic ones: some backward algorithms sum with atomics, so two runs of the
// same command would train different weights (the CPU path is deterministic for any thread
// count; this keeps the GPU path repeatable too). A non-deterministic one only when cuDNN
// offers nothing else.
template <typename Perf, typename Algo>
void pick(const Perf* perf, int count, const char* what, const Conv2dShape& s, Algo* algo,
          size_t* ws) {
  for (bool need_deterministic : {true, false}) {
    for (int i = 0; i < count; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && exact_fp32(perf[i].mathType) &&
          perf[i].memory <= kMaxWorkspace &&
          (!need_deterministic || perf[i].determinism == CUDNN_DETERMINISTIC)) {
        *algo = perf[i].algo;
        *ws = perf[i].memory;
        return;
      }
    }
  }
  GBAD_FAIL("cuDNN offers no fp32 ", what, " algorithm for conv2d ", s.str());
}

std::unique_ptr<ConvPlan> make_plan(Context& ctx, const Conv2dShape& s) {
  auto plan = std::make_unique<ConvPlan>();
  set_nchw(plan->x, s.n, s.c, s.h, s.w);
  set_nchw(plan->y, s.n, s.k, s.p, s.q);
  set_nchw(plan->bias, 1, s.k, 1, 1);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.k),
                                         int(s.c), int(s.r), int(s.s)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, s.ph, s.pw, s.sh, s.sw, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, kMath));
  int n_out = 0, n = 0, h = 0, w = 0;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &n_out, &h, &w));
  GBAD_CHECK(n == s.n && n_out == s.k && h == s.p && w == s.q, "cuDNN output size ", n, "x", n_out,
             "x", h, "x", w, " disagrees with ours for ", s.str());

  cudnnHandle_t handle = ctx.cudnn();
  constexpr int kReq = 16;
  int got = 0;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan->x, plan->w, plan->conv,
                                                       plan->y, kReq, &got, perf));
    pick(perf, got, "forward", s, &plan->fwd, &plan->fwd_ws);
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, plan->w, plan->y, plan->conv,
                                                            plan->x, kReq, &got, perf));
    pick(perf, got, "backward-data", s, &plan->bwd_data, &plan->bwd_data_ws);
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kReq];
    CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, plan->x, plan->y, plan->conv,
                                                              plan->w, kReq, &got, perf));
    pick(perf, got, "backward-filter", s, &plan->bwd_filter, &plan->bwd_filter_ws);
  }
  return plan;
}

ConvPlan& plan_for(Context& ctx, const Conv2dShape& s) {
  auto& slot = ctx.cache().entries["cudnn.conv2d " + s.str()];
  if (!slot) slot = std::shared_ptr<ConvPlan>(make_plan(ctx, s));
  return *static_cast<ConvPlan*>(slot.get());
}

}  // namespace

// Shapes were checked by the dispatcher (kernels/cpu/conv2d.cpp).
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (y.numel() == 0) return;
  ConvPlan& plan = plan_for(ctx, s);
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.x, x.f32(), plan.w, w.f32(),
                                      plan.conv, plan.fwd, ws, plan.fwd_ws, &zero, plan.y,
                                      y.f32()));
  if (bias)
    CUDNN_CHECK(cudnnAddTensor(ctx.cudnn(), &one, plan.bias, bias->f32(), &one, plan.y, y.f32()));
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (dy.numel() == 0) {
    if (dx) dx->zero();
    return;
  }
  ConvPlan& plan = plan_for(ctx, s);
  const float one = 1.f, zero = 0.f;
  if (dw) {  // accumulate: beta = 1
    void* ws = plan.bwd_filter_ws ? ctx.workspace(plan.bwd_filter_ws) : nullptr;
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.x, x.f32(), plan.y, dy.f32(),
                                               plan.conv, plan.bwd_filter, ws, plan.bwd_filter_ws,
                                               &one, plan.w, dw->f32()));
  }
  if (db)
    CUDNN_CHECK(cudnnConvolutionBackwardBias(ctx.cudnn(), &one, plan.y, dy.f32(), &one, plan.bias,
                                             db->f32()));
  if (dx) {  // overwrite: beta = 0
    void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, w.f32(), plan.y, dy.f32(),
                                             plan.conv, plan.bwd_data, ws, plan.bwd_data_ws, &zero,
                                             plan.x, dx->f32()));
  }
}

}  // namespace gbad::cuda
