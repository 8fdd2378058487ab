// CUDA convolution: cuDNN classic API. Descriptors and algorithm choices are built once per
// shape and choice mode and cached in ctx.cache(); every call then only grows the context's one
// shared workspace and launches. Exact fp32 (CUDNN_FMA_MATH, see cudnn_util.h), except at
// --precision tf32 (ctx.precision()): the descriptor then permits tensor-core math
// (CUDNN_TENSOR_OP_MATH, TF32 on compute capability 8.0+), any candidate's math type qualifies,
// and each direction runs with the math type its algorithm was chosen with (as cuDNN 7.4+
// needs). The plan cache is keyed by precision too.
//
// How the algorithms are chosen (ctx.conv_algo(), default from GBAD_CONV_ALGO):
//   deterministic (default): cuDNN's heuristic order (cudnnGet*Algorithm_v7), keeping only
//     algorithms that are deterministic (no atomics), are not FFT or Winograd (they round
//     differently from a direct sum and break the CUDA-vs-CPU tolerance at real sizes) and run
//     with CUDNN_FMA_MATH. If the heuristic offers none, a fixed fallback that supports every
//     2-D fp32 NCHW convolution: IMPLICIT_GEMM, BWD_DATA_ALGO_1, BWD_FILTER_ALGO_1. Two runs
//     then give bit-identical results.
//   fastest: cudnnFind*Algorithm times every algorithm once per shape (cached); the fastest
//     that succeeds within the workspace cap wins, whatever its determinism. No TF32 either.
// The workspace size is always queried for the chosen algorithm (cudnnGet*WorkspaceSize).
#include <memory>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/cudnn_util.h"

namespace gbad::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;  // skip algorithms that want more than 1 GiB
constexpr cudnnMathType_t kMath = CUDNN_FMA_MATH;

// The math type the descriptor permits, and whether a candidate's qualifies.
cudnnMathType_t permitted_math(bool tf32) {
  return tf32 ? CUDNN_TENSOR_OP_MATH : kMath;
}
bool math_ok(cudnnMathType_t m, bool tf32) {
  return tf32 || m == kMath;
}

struct ConvPlan {
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  // The math type each direction's algorithm was chosen with (set before each call).
  cudnnMathType_t fwd_math = kMath, bwd_data_math = kMath, bwd_filter_math = kMath;
  bool tf32 = false;
};

// Sets the descriptor's math type for the next call (only ever differs at tf32).
void use_math(const ConvPlan& p, cudnnMathType_t m) {
  if (p.tf32) CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, m));
}

bool is_fft_or_winograd(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool is_fft_or_winograd(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool is_fft_or_winograd(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// Workspace of one algorithm, or false when cuDNN does not support it for this shape.
bool workspace_of(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionFwdAlgo_t a, size_t* ws) {
  return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, a, ws) ==
         CUDNN_STATUS_SUCCESS;
}
bool workspace_of(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionBwdDataAlgo_t a, size_t* ws) {
  return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, a, ws) ==
         CUDNN_STATUS_SUCCESS;
}
bool workspace_of(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionBwdFilterAlgo_t a,
                  size_t* ws) {
  return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w, a, ws) ==
         CUDNN_STATUS_SUCCESS;
}

// Deterministic mode: the first heuristic candidate that qualifies, else `fallback`.
template <typename Perf, typename Algo>
void pick_deterministic(cudnnHandle_t h, const ConvPlan& plan, const Perf* perf, int count,
                        Algo fallback, const char* what, const Conv2dShape& s, Algo* algo,
                        size_t* ws, cudnnMathType_t* math) {
  for (int i = 0; i < count; ++i) {
    size_t need = 0;
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
        math_ok(perf[i].mathType, plan.tf32) && !is_fft_or_winograd(perf[i].algo) &&
        workspace_of(h, plan, perf[i].algo, &need) && need <= kMaxWorkspace) {
      *algo = perf[i].algo;
      *ws = need;
      *math = plan.tf32 ? perf[i].mathType : kMath;
      return;
    }
  }
  *math = permitted_math(plan.tf32);
  size_t need = 0;
  GBAD_CHECK(workspace_of(h, plan, fallback, &need) && need <= kMaxWorkspace,
             "cuDNN offers no deterministic exact-fp32 ", what, " algorithm for conv2d ", s.str());
  *algo = fallback;
  *ws = need;
}

// Fastest mode: Find's results come sorted by time; the first that ran wins.
template <typename Perf, typename Algo>
void pick_fastest(cudnnHandle_t h, const ConvPlan& plan, const Perf* perf, int count,
                  const char* what, const Conv2dShape& s, Algo* algo, size_t* ws,
                  cudnnMathType_t* math) {
  for (int i = 0; i < count; ++i) {
    size_t need = 0;
    if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, plan.tf32) &&
        workspace_of(h, plan, perf[i].algo, &need) && need <= kMaxWorkspace) {
      *algo = perf[i].algo;
      *ws = need;
      *math = plan.tf32 ? perf[i].mathType : kMath;
      return;
    }
  }
  GBAD_FAIL("cuDNN's Find API timed no exact-fp32 ", what, " algorithm for conv2d ", s.str());
}

std::unique_ptr<ConvPlan> make_plan(Context& ctx, const Conv2dShape& s) {
  auto plan = std::make_unique<ConvPlan>();
  plan->tf32 = ctx.precision() == Precision::Tf32;
  set_nchw(plan->x, s.n, s.c, s.h, s.w);
  set_nchw(plan->y, s.n, s.k, s.p, s.q);
  set_nchw(plan->bias, 1, s.k, 1, 1);
  CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.k),
                                         int(s.c), int(s.r), int(s.s)));
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, s.ph, s.pw, s.sh, s.sw, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, permitted_math(plan->tf32)));
  int n_out = 0, n = 0, h = 0, w = 0;
  CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &n, &n_out, &h, &w));
  GBAD_CHECK(n == s.n && n_out == s.k && h == s.p && w == s.q, "cuDNN output size ", n, "x", n_out,
             "x", h, "x", w, " disagrees with ours for ", s.str());

  cudnnHandle_t handle = ctx.cudnn();
  const bool fastest = ctx.conv_algo() == ConvAlgo::Fastest;
  constexpr int kReq = 16;
  int got = 0;
  ConvPlan& p = *plan;
  {
    cudnnConvolutionFwdAlgoPerf_t perf[kReq];
    if (fastest) {
      CUDNN_CHECK(
          cudnnFindConvolutionForwardAlgorithm(handle, p.x, p.w, p.conv, p.y, kReq, &got, perf));
      pick_fastest(handle, p, perf, got, "forward", s, &p.fwd, &p.fwd_ws, &p.fwd_math);
    } else {
      CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, kReq, &got, perf));
      pick_deterministic(handle, p, perf, got, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, "forward",
                         s, &p.fwd, &p.fwd_ws, &p.fwd_math);
    }
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kReq];
    if (fastest) {
      CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(handle, p.w, p.y, p.conv, p.x, kReq,
                                                            &got, perf));
      pick_fastest(handle, p, perf, got, "backward-data", s, &p.bwd_data, &p.bwd_data_ws,
                   &p.bwd_data_math);
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p.w, p.y, p.conv, p.x, kReq,
                                                              &got, perf));
      pick_deterministic(handle, p, perf, got, CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "backward-data",
                         s, &p.bwd_data, &p.bwd_data_ws, &p.bwd_data_math);
    }
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[kReq];
    if (fastest) {
      CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(handle, p.x, p.y, p.conv, p.w, kReq,
                                                              &got, perf));
      pick_fastest(handle, p, perf, got, "backward-filter", s, &p.bwd_filter, &p.bwd_filter_ws,
                   &p.bwd_filter_math);
    } else {
      CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, p.x, p.y, p.conv, p.w, kReq,
                                                                &got, perf));
      pick_deterministic(handle, p, perf, got, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                         "backward-filter", s, &p.bwd_filter, &p.bwd_filter_ws, &p.bwd_filter_math);
    }
  }
  return plan;
}

ConvPlan& plan_for(Context& ctx, const Conv2dShape& s) {
  auto& slot = ctx.cache().entries[std::string("cudnn.conv2d ") + conv_algo_name(ctx.conv_algo()) +
                                   (ctx.precision() == Precision::Tf32 ? " tf32 " : " ") + s.str()];
  if (!slot) slot = std::shared_ptr<ConvPlan>(make_plan(ctx, s));
  return *static_cast<ConvPlan*>(slot.get());
}

}  // namespace

// Shapes were checked by the dispatcher (kernels/conv2d.cpp), which also returns early for
// empty tensors (cuDNN refuses descriptors with a zero size).
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (y.numel() == 0) return;
  ConvPlan& plan = plan_for(ctx, s);
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  use_math(plan, plan.fwd_math);
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
    use_math(plan, plan.bwd_filter_math);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.x, x.f32(), plan.y, dy.f32(),
                                               plan.conv, plan.bwd_filter, ws, plan.bwd_filter_ws,
                                               &one, plan.w, dw->f32()));
  }
  if (db)
    CUDNN_CHECK(cudnnConvolutionBackwardBias(ctx.cudnn(), &one, plan.y, dy.f32(), &one, plan.bias,
                                             db->f32()));
  if (dx) {  // overwrite: beta = 0
    void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
    use_math(plan, plan.bwd_data_math);
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, w.f32(), plan.y, dy.f32(),
                                             plan.conv, plan.bwd_data, ws, plan.bwd_data_ws, &zero,
                                             plan.x, dx->f32()));
  }
}

}  // namespace gbad::cuda
