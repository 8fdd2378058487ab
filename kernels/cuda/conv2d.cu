// CUDA convolution: cuDNN classic API. Descriptors and algorithm choices are built once per
// shape and choice mode and cached in ctx.cache(); every call then only grows the context's one
// shared workspace and launches. Exact fp32 (CUDNN_FMA_MATH, see cudnn_util.h), except at
// --precision tf32 (ctx.precision()): the descriptor then permits tensor-core math
// (CUDNN_TENSOR_OP_MATH, TF32 on compute capability 8.0+), any candidate's math type qualifies,
// and each direction runs with the math type its algorithm was chosen with (as cuDNN 7.4+
// needs). The plan cache is keyed by choice mode, precision, layout and shape (conv_plan_key).
//
// At --precision fp16/bf16 (docs/mixed-precision.md) the plan is NHWC 16-bit data (CUDNN_DATA_
// HALF / CUDNN_DATA_BFLOAT16), KRSC filters, fp32 compute type and CUDNN_TENSOR_OP_MATH: cuDNN's
// tensor-core kernels. Activations stay fp32 NCHW between layers; each call converts its
// operands at its boundary with one fused tiled-transpose kernel each way (kernels/layout.h,
// counted in half_path_stats): x, w, dy into half NHWC, the result back with the bias added
// (forward) or accumulated (+=, the weight gradient). The bias gradient is reduced in fp32 from the
// fp32 dy. The eval op conv2d_bn_eval_forward_half folds BatchNorm into the half weights and runs
// cudnnConvolutionBiasActivationForward (bias + residual + ReLU fused) where cuDNN supports the
// configuration, else the convolution and one epilogue kernel.
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
// At tf32/fp16/bf16 both modes accept tensor-op math; deterministic mode still keeps only
// deterministic, non-FFT, non-Winograd algorithms, and its half fallbacks are the ones cuDNN
// documents for NHWC half data: IMPLICIT_PRECOMP_GEMM, BWD_DATA_ALGO_1, BWD_FILTER_ALGO_1.
// The workspace size is always queried for the chosen algorithm with the math type it runs with
// (cudnnGet*WorkspaceSize; the descriptor's math type is part of the query).
#include <cstdio>
#include <memory>
#include <string>

#include "kernels/conv2d.h"
#include "kernels/cuda/cudnn_util.h"
#include "kernels/cuda/half_path.cuh"
#include "kernels/layout.h"
#include "kernels/nhwc.h"
#include "kernels/nhwc_body.h"

namespace gbad::cuda {

namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;  // skip algorithms that want more than 1 GiB
constexpr cudnnMathType_t kMath = CUDNN_FMA_MATH;

// The math type the descriptor permits, and whether a candidate's qualifies (tensor_ops: tf32,
// fp16 or bf16).
cudnnMathType_t permitted_math(bool tensor_ops) {
  return tensor_ops ? CUDNN_TENSOR_OP_MATH : kMath;
}
bool math_ok(cudnnMathType_t m, bool tensor_ops) {
  return tensor_ops || m == kMath;
}

struct ConvPlan {
  // x, y, w: the data the cuDNN calls see (fp32 NCHW, or half NHWC/KRSC when `half`).
  // y32, bias32: fp32 NCHW, for the bias gradient (and the bias add at fp32).
  // bias_h, relu: the fused eval call's half bias and activation (half plans only).
  TensorDesc x, y, y32, bias32, bias_h;
  FilterDesc w;
  ConvDesc conv;
  ActivationDesc relu;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  // The math type each direction's algorithm was chosen with (set before each call).
  cudnnMathType_t fwd_math = kMath, bwd_data_math = kMath, bwd_filter_math = kMath;
  bool tensor_ops = false;  // tf32, fp16 or bf16
  bool half = false, fp16 = false;
  int fused_ok = -1;  // cudnnConvolutionBiasActivationForward: -1 untried, 1 works, 0 refused
  const char* what = "exact-fp32";
};

// Sets the descriptor's math type for the next call (only ever differs with tensor ops).
void use_math(const ConvPlan& p, cudnnMathType_t m) {
  if (p.tensor_ops) CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv, m));
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

// Workspace of one heuristic / Find candidate, queried with the math type the candidate runs
// with (the descriptor's math type is part of what the query answers for; with tensor ops the
// descriptor otherwise still holds CUDNN_TENSOR_OP_MATH while the candidate may be another math
// type), and never less than the candidate's own `memory` figure.
template <typename Perf>
bool workspace_for(cudnnHandle_t h, const ConvPlan& p, const Perf& perf, size_t* ws) {
  use_math(p, perf.mathType);
  if (!workspace_of(h, p, perf.algo, ws)) return false;
  if (perf.memory > *ws) *ws = perf.memory;
  return true;
}

// Deterministic mode: the first heuristic candidate that qualifies, else `fallback`.
template <typename Perf, typename Algo>
void pick_deterministic(cudnnHandle_t h, const ConvPlan& plan, const Perf* perf, int count,
                        Algo fallback, const char* what, const Conv2dShape& s, Algo* algo,
                        size_t* ws, cudnnMathType_t* math) {
  for (int i = 0; i < count; ++i) {
    size_t need = 0;
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC &&
        math_ok(perf[i].mathType, plan.tensor_ops) && !is_fft_or_winograd(perf[i].algo) &&
        workspace_for(h, plan, perf[i], &need) && need <= kMaxWorkspace) {
      *algo = perf[i].algo;
      *ws = need;
      *math = plan.tensor_ops ? perf[i].mathType : kMath;
      return;
    }
  }
  *math = permitted_math(plan.tensor_ops);
  use_math(plan, *math);  // a candidate's query above may have left another math type set
  size_t need = 0;
  GBAD_CHECK(workspace_of(h, plan, fallback, &need) && need <= kMaxWorkspace,
             "cuDNN offers no deterministic ", plan.what, " ", what, " algorithm for conv2d ",
             s.str());
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
    if (perf[i].status == CUDNN_STATUS_SUCCESS && math_ok(perf[i].mathType, plan.tensor_ops) &&
        workspace_for(h, plan, perf[i], &need) && need <= kMaxWorkspace) {
      *algo = perf[i].algo;
      *ws = need;
      *math = plan.tensor_ops ? perf[i].mathType : kMath;
      return;
    }
  }
  GBAD_FAIL("cuDNN's Find API timed no ", plan.what, " ", what, " algorithm for conv2d ", s.str());
}

// `allow_half` false: the fp32 NCHW plan even at fp16/bf16 (plan_for's fallback).
std::unique_ptr<ConvPlan> make_plan(Context& ctx, const Conv2dShape& s, bool allow_half) {
  auto plan = std::make_unique<ConvPlan>();
  const Precision prec = ctx.precision();
  plan->half = allow_half && conv_layout_for(ctx.device(), prec) == ConvLayout::NhwcHalf;
  plan->fp16 = prec == Precision::Fp16;
  plan->tensor_ops = prec == Precision::Tf32 || plan->half;
  set_nchw(plan->y32, s.n, s.k, s.p, s.q);
  set_nchw(plan->bias32, 1, s.k, 1, 1);
  if (plan->half) {
    // Half data in NHWC, filters KRSC, fp32 accumulation (cuDNN's PSEUDO_HALF_CONFIG and
    // PSEUDO_BFLOAT16_CONFIG).
    const cudnnDataType_t dt = plan->fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    plan->what = plan->fp16 ? "fp16 NHWC" : "bf16 NHWC";
    set_4d(plan->x, CUDNN_TENSOR_NHWC, dt, s.n, s.c, s.h, s.w);
    set_4d(plan->y, CUDNN_TENSOR_NHWC, dt, s.n, s.k, s.p, s.q);
    set_4d(plan->bias_h, CUDNN_TENSOR_NHWC, dt, 1, s.k, 1, 1);
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, dt, CUDNN_TENSOR_NHWC, int(s.k), int(s.c),
                                           int(s.r), int(s.s)));
    CUDNN_CHECK(cudnnSetActivationDescriptor(plan->relu, CUDNN_ACTIVATION_RELU,
                                             CUDNN_NOT_PROPAGATE_NAN, 0.0));
  } else {
    set_nchw(plan->x, s.n, s.c, s.h, s.w);
    set_nchw(plan->y, s.n, s.k, s.p, s.q);
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(s.k),
                                           int(s.c), int(s.r), int(s.s)));
  }
  CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan->conv, s.ph, s.pw, s.sh, s.sw, 1, 1,
                                              CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, permitted_math(plan->tensor_ops)));
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
    use_math(p, permitted_math(p.tensor_ops));  // the candidates' queries change it
    if (fastest) {
      CUDNN_CHECK(
          cudnnFindConvolutionForwardAlgorithm(handle, p.x, p.w, p.conv, p.y, kReq, &got, perf));
      pick_fastest(handle, p, perf, got, "forward", s, &p.fwd, &p.fwd_ws, &p.fwd_math);
    } else {
      CUDNN_CHECK(
          cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv, p.y, kReq, &got, perf));
      pick_deterministic(handle, p, perf, got,
                         p.half ? CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM
                                : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                         "forward", s, &p.fwd, &p.fwd_ws, &p.fwd_math);
    }
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[kReq];
    use_math(p, permitted_math(p.tensor_ops));  // the candidates' queries change it
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
    use_math(p, permitted_math(p.tensor_ops));  // the candidates' queries change it
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
  auto& slot = ctx.cache().entries[conv_plan_key(
      ctx.conv_algo(), ctx.precision(), conv_layout_for(ctx.device(), ctx.precision()), s)];
  if (!slot) {
    // A shape for which cuDNN offers no half NHWC algorithm (it may refuse e.g. the 3-channel
    // stem) runs the fp32 NCHW path instead, on values still rounded at the storage points
    // (the emulation), said once per shape, instead of failing the run.
    try {
      slot = std::shared_ptr<ConvPlan>(make_plan(ctx, s, true));
    } catch (const std::exception& e) {
      if (conv_layout_for(ctx.device(), ctx.precision()) != ConvLayout::NhwcHalf) throw;
      std::fprintf(stderr,
                   "warning: conv2d %s: no %s half NHWC plan (%s); this convolution runs in fp32 "
                   "NCHW on half-rounded values\n",
                   s.str().c_str(), precision_name(ctx.precision()), e.what());
      slot = std::shared_ptr<ConvPlan>(make_plan(ctx, s, false));
    }
  }
  return *static_cast<ConvPlan*>(slot.get());
}

using cuda_detail::scratch;

// The layout conversions of kernels/layout.h (tiled, counted in half_path_stats).
void to_nhwc_half(Context& ctx, uint16_t* dst, const float* src, int64_t n, int64_t c, int64_t hw,
                  bool fp16, const float* scale = nullptr) {
  nchw_to_nhwc_half(ctx, dst, src, n, c, hw, scale, fp16);
}
void from_nhwc_half(Context& ctx, float* dst, const uint16_t* src, int64_t n, int64_t c, int64_t hw,
                    bool fp16, const FromNhwcEpilogue& e = {}) {
  nhwc_half_to_nchw(ctx, dst, src, n, c, hw, e, fp16);
}

// The layer's kept half copy of x when it matches this call, else null.
const uint16_t* kept_x(const ConvHalfInput* kept, const Conv2dShape& s, DType dt) {
  if (!kept || !kept->x.defined() || kept->x.dtype() != dt ||
      kept->x.shape() != Shape({s.n, s.h, s.w, s.c}))
    return nullptr;
  return kept->x.u16();
}

// The half path of conv2d_forward: x, w into half NHWC/KRSC, cuDNN, y back with the bias.
void forward_half(Context& ctx, ConvPlan& plan, const Conv2dShape& s, Tensor& y, const Tensor& x,
                  const Tensor& w, const Tensor* bias, ConvHalfInput* keep) {
  const DType dt = cuda_detail::half_dtype(ctx.precision());
  const bool fp16 = plan.fp16;
  uint16_t* xh = nullptr;
  if (keep) {  // into the layer's copy (allocated once per shape), for its backward
    const Shape want{s.n, s.h, s.w, s.c};
    if (!keep->x.defined() || keep->x.dtype() != dt || keep->x.shape() != want)
      keep->x = Tensor(want, Device::CUDA, dt);
    xh = keep->x.u16();
  } else {
    xh = scratch(ctx, "x", x.numel(), dt).u16();
  }
  uint16_t* wh = scratch(ctx, "w", w.numel(), dt).u16();
  uint16_t* yh = scratch(ctx, "y", y.numel(), dt).u16();
  to_nhwc_half(ctx, xh, x.f32(), s.n, s.c, s.h * s.w, fp16);
  to_nhwc_half(ctx, wh, w.f32(), s.k, s.c, s.r * s.s, fp16);
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  use_math(plan, plan.fwd_math);
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.x, xh, plan.w, wh, plan.conv,
                                      plan.fwd, ws, plan.fwd_ws, &zero, plan.y, yh));
  FromNhwcEpilogue e;
  e.shift = bias ? bias->f32() : nullptr;
  from_nhwc_half(ctx, y.f32(), yh, s.n, s.k, s.p * s.q, fp16, e);
}

void backward_half(Context& ctx, ConvPlan& plan, const Conv2dShape& s, Tensor* dx, Tensor* dw,
                   Tensor* db, const Tensor& dy, const Tensor& x, const Tensor& w,
                   const ConvHalfInput* kept) {
  const DType dt = cuda_detail::half_dtype(ctx.precision());
  const bool fp16 = plan.fp16;
  const float one = 1.f, zero = 0.f;
  uint16_t* dyh = scratch(ctx, "dy", dy.numel(), dt).u16();
  to_nhwc_half(ctx, dyh, dy.f32(), s.n, s.k, s.p * s.q, fp16);
  if (dw) {  // half dw (beta = 0), then accumulated into the fp32 gradient while converting
    const uint16_t* xh = kept_x(kept, s, dt);
    if (!xh) {
      uint16_t* conv = scratch(ctx, "x", x.numel(), dt).u16();
      to_nhwc_half(ctx, conv, x.f32(), s.n, s.c, s.h * s.w, fp16);
      xh = conv;
    }
    uint16_t* dwh = scratch(ctx, "dw", dw->numel(), dt).u16();
    void* ws = plan.bwd_filter_ws ? ctx.workspace(plan.bwd_filter_ws) : nullptr;
    use_math(plan, plan.bwd_filter_math);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.x, xh, plan.y, dyh,
                                               plan.conv, plan.bwd_filter, ws, plan.bwd_filter_ws,
                                               &zero, plan.w, dwh));
    FromNhwcEpilogue e;
    e.accumulate = true;
    from_nhwc_half(ctx, dw->f32(), dwh, s.k, s.c, s.r * s.s, fp16, e);
  }
  if (db)
    CUDNN_CHECK(cudnnConvolutionBackwardBias(ctx.cudnn(), &one, plan.y32, dy.f32(), &one,
                                             plan.bias32, db->f32()));
  if (dx) {
    uint16_t* wh = scratch(ctx, "w", w.numel(), dt).u16();
    uint16_t* dxh = scratch(ctx, "dx", dx->numel(), dt).u16();
    to_nhwc_half(ctx, wh, w.f32(), s.k, s.c, s.r * s.s, fp16);
    void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
    use_math(plan, plan.bwd_data_math);
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, wh, plan.y, dyh, plan.conv,
                                             plan.bwd_data, ws, plan.bwd_data_ws, &zero, plan.x,
                                             dxh));
    from_nhwc_half(ctx, dx->f32(), dxh, s.n, s.c, s.h * s.w, fp16);
  }
}

struct FoldBn {
  float *scale, *shift;
  const float *gamma, *beta, *mean, *var;
  float eps;
  __device__ void operator()(int64_t k) const {
    fold_bn_body(k, scale, shift, gamma, beta, mean, var, eps);
  }
};

// db[k] += sum of the half NHWC dy over (n, h, w): one block per channel, a fixed tree.
__global__ void half_bias_grad_kernel(float* db, const uint16_t* dy, int64_t rows, int64_t k,
                                      bool fp16) {
  __shared__ double sh[cuda_detail::kThreads];
  const int64_t ch = blockIdx.x;
  double v = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x)
    v += half_bits_to_float(dy[r * k + ch], fp16);
  const double sum = cuda_detail::block_sum(v, sh);
  if (threadIdx.x == 0) db[ch] += float(sum);
}

}  // namespace

// ---- half NHWC activations (kernels/nhwc.h): the same plans, no conversions of activations --

bool nhwc_conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                         const Tensor* bias, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  ConvPlan& plan = plan_for(ctx, s);
  if (!plan.half) return false;
  const DType dt = x.dtype();
  uint16_t* wh = scratch(ctx, "w", w.numel(), dt).u16();
  to_nhwc_half(ctx, wh, w.f32(), s.k, s.c, s.r * s.s, plan.fp16);
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  use_math(plan, plan.fwd_math);
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.x, x.u16(), plan.w, wh, plan.conv,
                                      plan.fwd, ws, plan.fwd_ws, &zero, plan.y, y.u16()));
  if (bias)
    cuda_detail::for_each(
        ctx, y.numel(),
        cuda_detail::HalfEpilogue{y.u16(), bias->f32(), nullptr, false, s.k, plan.fp16});
  return true;
}

bool nhwc_conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                          const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (dy.numel() == 0) {
    if (dx) dx->zero();
    return true;
  }
  ConvPlan& plan = plan_for(ctx, s);
  if (!plan.half) return false;
  const DType dt = x.dtype();
  const float one = 1.f, zero = 0.f;
  if (dw) {  // half dw (beta 0), accumulated into the fp32 gradient while converting back
    uint16_t* dwh = scratch(ctx, "dw", dw->numel(), dt).u16();
    void* ws = plan.bwd_filter_ws ? ctx.workspace(plan.bwd_filter_ws) : nullptr;
    use_math(plan, plan.bwd_filter_math);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.x, x.u16(), plan.y, dy.u16(),
                                               plan.conv, plan.bwd_filter, ws, plan.bwd_filter_ws,
                                               &zero, plan.w, dwh));
    FromNhwcEpilogue e;
    e.accumulate = true;
    from_nhwc_half(ctx, dw->f32(), dwh, s.k, s.c, s.r * s.s, plan.fp16, e);
  }
  if (db) {
    half_bias_grad_kernel<<<int(s.k), cuda_detail::kThreads, 0, cuda_detail::stream_of(ctx)>>>(
        db->f32(), dy.u16(), s.n * s.p * s.q, s.k, plan.fp16);
    CUDA_CHECK_LAUNCH();
  }
  if (dx) {
    uint16_t* wh = scratch(ctx, "w", w.numel(), dt).u16();
    to_nhwc_half(ctx, wh, w.f32(), s.k, s.c, s.r * s.s, plan.fp16);
    void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
    use_math(plan, plan.bwd_data_math);
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, wh, plan.y, dy.u16(),
                                             plan.conv, plan.bwd_data, ws, plan.bwd_data_ws, &zero,
                                             plan.x, dx->u16()));
  }
  return true;
}

namespace {

// The eval op on half NHWC operands (device pointers of the plan's dtype):
//   scale = gamma / sqrt(var + eps), shift = beta - mean * scale (fp32, on the device);
//   w' = half(w * scale) in KRSC; yh = half(act(conv(xh, w') + shift [+ zh])).
// With ReLU: cudnnConvolutionBiasActivationForward (half shift as the bias, zh as its z input
// with alpha2 = 1). cuDNN supports IDENTITY only with one algorithm, so without ReLU, and where
// cuDNN refuses the configuration (remembered per plan), the convolution runs alone and one
// half epilogue kernel adds the shift and zh and applies the ReLU.
void bn_eval_half(Context& ctx, ConvPlan& plan, const Conv2dShape& s, const uint16_t* xh,
                  const uint16_t* zh, uint16_t* yh, const Tensor& w, const Tensor& gamma,
                  const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                  float eps, bool relu) {
  const DType dt = plan.fp16 ? DType::F16 : DType::BF16;
  const bool fp16 = plan.fp16;
  const int64_t ycount = s.n * s.k * s.p * s.q;
  float* fold = scratch(ctx, "bn_fold", 2 * s.k, DType::F32).f32();
  float *scale = fold, *shift = fold + s.k;
  cuda_detail::for_each(
      ctx, s.k,
      FoldBn{scale, shift, gamma.f32(), beta.f32(), running_mean.f32(), running_var.f32(), eps});
  uint16_t* wh = scratch(ctx, "w", w.numel(), dt).u16();
  to_nhwc_half(ctx, wh, w.f32(), s.k, s.c, s.r * s.s, fp16, scale);
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  use_math(plan, plan.fwd_math);
  if (relu && plan.fused_ok != 0) {
    uint16_t* bh = scratch(ctx, "bn_shift", s.k, dt).u16();
    cuda_detail::to_half(ctx, bh, shift, s.k, fp16);
    // Without a residual z is y itself with alpha2 = 0, zeroed first (cuDNN may still read it,
    // and 0 * NaN of uninitialised memory is NaN).
    if (!zh) CUDA_CHECK(cudaMemsetAsync(yh, 0, size_t(ycount) * 2, cuda_detail::stream_of(ctx)));
    const float alpha2 = zh ? 1.f : 0.f;
    const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
        ctx.cudnn(), &one, plan.x, xh, plan.w, wh, plan.conv, plan.fwd, ws, plan.fwd_ws, &alpha2,
        plan.y, zh ? zh : yh, plan.bias_h, bh, plan.relu, plan.y, yh);
    if (st == CUDNN_STATUS_SUCCESS) {
      plan.fused_ok = 1;
      ++half_path_stats(ctx).fused_eval;
      return;
    }
    // cuDNN 9 reports sub-codes (e.g. NOT_SUPPORTED_LAYOUT): compare categories.
    const int category = CUDNN_STATUS_CATEGORY(st);
    GBAD_CHECK(category == CUDNN_STATUS_NOT_SUPPORTED || category == CUDNN_STATUS_BAD_PARAM,
               "cudnnConvolutionBiasActivationForward failed for conv2d ", s.str(), ": ",
               cudnnGetErrorString(st));
    plan.fused_ok = 0;  // the configuration is refused: fall back from now on
  }
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.x, xh, plan.w, wh, plan.conv,
                                      plan.fwd, ws, plan.fwd_ws, &zero, plan.y, yh));
  cuda_detail::for_each(ctx, ycount, cuda_detail::HalfEpilogue{yh, shift, zh, relu, s.k, fp16});
  ++half_path_stats(ctx).unfused_eval;
}

}  // namespace

bool nhwc_conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  ConvPlan& plan = plan_for(ctx, s);
  if (!plan.half) return false;
  bn_eval_half(ctx, plan, s, x.u16(), residual ? residual->u16() : nullptr, y.u16(), w, gamma, beta,
               running_mean, running_var, eps, relu);
  return true;
}

// Shapes were checked by the dispatcher (kernels/conv2d.cpp), which also returns early for
// empty tensors (cuDNN refuses descriptors with a zero size).
void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p, ConvHalfInput* keep) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (y.numel() == 0) return;
  ConvPlan& plan = plan_for(ctx, s);
  if (plan.half) return forward_half(ctx, plan, s, y, x, w, bias, keep);
  if (keep) keep->x = Tensor();  // fp32/tf32 keep no half copy
  void* ws = plan.fwd_ws ? ctx.workspace(plan.fwd_ws) : nullptr;
  const float one = 1.f, zero = 0.f;
  use_math(plan, plan.fwd_math);
  CUDNN_CHECK(cudnnConvolutionForward(ctx.cudnn(), &one, plan.x, x.f32(), plan.w, w.f32(),
                                      plan.conv, plan.fwd, ws, plan.fwd_ws, &zero, plan.y,
                                      y.f32()));
  if (bias)
    CUDNN_CHECK(cudnnAddTensor(ctx.cudnn(), &one, plan.bias32, bias->f32(), &one, plan.y, y.f32()));
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p,
                     const ConvHalfInput* kept) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (dy.numel() == 0) {
    if (dx) dx->zero();
    return;
  }
  ConvPlan& plan = plan_for(ctx, s);
  if (plan.half) return backward_half(ctx, plan, s, dx, dw, db, dy, x, w, kept);
  const float one = 1.f, zero = 0.f;
  if (dw) {  // accumulate: beta = 1
    void* ws = plan.bwd_filter_ws ? ctx.workspace(plan.bwd_filter_ws) : nullptr;
    use_math(plan, plan.bwd_filter_math);
    CUDNN_CHECK(cudnnConvolutionBackwardFilter(ctx.cudnn(), &one, plan.x, x.f32(), plan.y, dy.f32(),
                                               plan.conv, plan.bwd_filter, ws, plan.bwd_filter_ws,
                                               &one, plan.w, dw->f32()));
  }
  if (db)
    CUDNN_CHECK(cudnnConvolutionBackwardBias(ctx.cudnn(), &one, plan.y, dy.f32(), &one, plan.bias32,
                                             db->f32()));
  if (dx) {  // overwrite: beta = 0
    void* ws = plan.bwd_data_ws ? ctx.workspace(plan.bwd_data_ws) : nullptr;
    use_math(plan, plan.bwd_data_math);
    CUDNN_CHECK(cudnnConvolutionBackwardData(ctx.cudnn(), &one, plan.w, w.f32(), plan.y, dy.f32(),
                                             plan.conv, plan.bwd_data, ws, plan.bwd_data_ws, &zero,
                                             plan.x, dx->f32()));
  }
}

// Checked by the dispatcher (kernels/conv2d.cpp), which calls this only at fp16/bf16 on CUDA.
// x and the residual converted into half NHWC, bn_eval_half, y back into fp32 NCHW (holding the
// half values the emulation stores).
bool conv2d_bn_eval_forward_half(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  if (y.numel() == 0) return true;
  ConvPlan& plan = plan_for(ctx, s);
  if (!plan.half) return false;  // no half plan for this shape: the caller composes fp32 ops
  const DType dt = cuda_detail::half_dtype(ctx.precision());
  const bool fp16 = plan.fp16;
  uint16_t* xh = scratch(ctx, "x", x.numel(), dt).u16();
  uint16_t* yh = scratch(ctx, "y", y.numel(), dt).u16();
  uint16_t* rh = nullptr;
  to_nhwc_half(ctx, xh, x.f32(), s.n, s.c, s.h * s.w, fp16);
  if (residual) {
    rh = scratch(ctx, "residual", residual->numel(), dt).u16();
    to_nhwc_half(ctx, rh, residual->f32(), s.n, s.k, s.p * s.q, fp16);
  }
  bn_eval_half(ctx, plan, s, xh, rh, yh, w, gamma, beta, running_mean, running_var, eps, relu);
  from_nhwc_half(ctx, y.f32(), yh, s.n, s.k, s.p * s.q, fp16);
  return true;
}

}  // namespace gbad::cuda
