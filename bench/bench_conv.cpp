// GEMM and Conv2d (forward, backward-data, backward-filter) at the distinct convolution shapes
// of ResNet-34 at 224x224. Counter: FLOP/s, 2 x multiply-adds of one call.
//   conv: n = 32 (the paper's batch) and n = 2 (CI-sized).
//   GEMM: the convolution of a whole batch written as one GEMM, C (K, N*P*Q) = W (K, C*R*S)
//   x col (C*R*S, N*P*Q), at n = 32 and n = 2. On the CPU OpenBLAS runs with all OpenMP
//   threads for these (the convolutions themselves run single-threaded GEMMs, one image per
//   thread, see kernels/cpu/conv2d.cpp).
// The CUDA convolutions run at gbad-bench --precision (names gain "/fp16" etc. unless fp32): at
// fp16/bf16 the timed call includes its layout conversions (docs/mixed-precision.md). The GEMM
// cases and the CPU cases stay fp32.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"

namespace gbad::bench {
namespace {

struct ConvLayer {
  const char* name;
  int64_t c, k, hw, r;
  int stride, pad;
};

// ResNet-34 at 224: every distinct convolution shape (stem, the 3x3 of each stage, the first
// strided 3x3 of stages 2-4 and their 1x1 downsampling projections).
const ConvLayer kLayers[] = {
    {"conv1.7x7s2", 3, 64, 224, 7, 2, 3},        {"layer1.3x3", 64, 64, 56, 3, 1, 1},
    {"layer2.3x3s2", 64, 128, 56, 3, 2, 1},      {"layer2.3x3", 128, 128, 28, 3, 1, 1},
    {"layer2.down1x1s2", 64, 128, 56, 1, 2, 0},  {"layer3.3x3s2", 128, 256, 28, 3, 2, 1},
    {"layer3.3x3", 256, 256, 14, 3, 1, 1},       {"layer3.down1x1s2", 128, 256, 28, 1, 2, 0},
    {"layer4.3x3s2", 256, 512, 14, 3, 2, 1},     {"layer4.3x3", 512, 512, 7, 3, 1, 1},
    {"layer4.down1x1s2", 256, 512, 14, 1, 2, 0},
};

// The demo model (resnet18-fpn, width 16, FPN 64, 96x96): the backbone's distinct shapes and
// the FPN's lateral 1x1 and output 3x3 convolutions (the 3x3 at 24x24 dominates its FLOPs).
const ConvLayer kDemoLayers[] = {
    {"conv1.7x7s2", 3, 16, 96, 7, 2, 3},       {"layer1.3x3", 16, 16, 24, 3, 1, 1},
    {"layer2.3x3s2", 16, 32, 24, 3, 2, 1},     {"layer2.3x3", 32, 32, 12, 3, 1, 1},
    {"layer2.down1x1s2", 16, 32, 24, 1, 2, 0}, {"layer3.3x3s2", 32, 64, 12, 3, 2, 1},
    {"layer3.3x3", 64, 64, 6, 3, 1, 1},        {"layer4.3x3s2", 64, 128, 6, 3, 2, 1},
    {"layer4.3x3", 128, 128, 3, 3, 1, 1},      {"fpn.inner1x1.24", 16, 64, 24, 1, 1, 0},
    {"fpn.inner1x1.3", 128, 64, 3, 1, 1, 0},   {"fpn.layer3x3.24", 64, 64, 24, 3, 1, 1},
    {"fpn.layer3x3.12", 64, 64, 12, 3, 1, 1},  {"fpn.layer3x3.3", 64, 64, 3, 3, 1, 1},
};

// resnet34-fpn at 224 px (FPN width 256): the FPN's output 3x3 convolutions per level (the
// backbone's shapes are kLayers). CPU only, at n = 8 with kLayers (issue 20's model batch).
const ConvLayer kFpn224Layers[] = {
    {"fpn.layer3x3.56", 256, 256, 56, 3, 1, 1},
    {"fpn.layer3x3.28", 256, 256, 28, 3, 1, 1},
    {"fpn.layer3x3.14", 256, 256, 14, 3, 1, 1},
    {"fpn.layer3x3.7", 256, 256, 7, 3, 1, 1},
};

enum class ConvOp { Forward, BackwardData, BackwardFilter };
const char* op_name(ConvOp op) {
  switch (op) {
    case ConvOp::Forward:
      return "forward";
    case ConvOp::BackwardData:
      return "backward_data";
    case ConvOp::BackwardFilter:
      return "backward_filter";
  }
  return "?";
}

struct ConvTensors {
  Tensor x, w, y, dy, dx, dw;
  Conv2dParams p;
};

ConvTensors make_conv(const ConvLayer& l, int64_t n, Device d) {
  ConvTensors t;
  t.p.stride_h = t.p.stride_w = l.stride;
  t.p.pad_h = t.p.pad_w = l.pad;
  t.x = random_tensor({n, l.c, l.hw, l.hw}, 1, -1.f, 1.f, d);
  t.w = random_tensor({l.k, l.c, l.r, l.r}, 2, -0.1f, 0.1f, d);
  const Shape ys = conv2d_output_shape(t.x.shape(), t.w.shape(), t.p);
  t.y = Tensor(ys, d);
  t.dy = random_tensor(ys, 3, -1.f, 1.f, d);
  t.dx = Tensor(t.x.shape(), d);
  t.dw = Tensor::zeros(t.w.shape(), d);
  return t;
}

void run_op(Context& ctx, ConvTensors& t, ConvOp op) {
  switch (op) {
    case ConvOp::Forward:
      conv2d_forward(ctx, t.y, t.x, t.w, nullptr, t.p);
      break;
    case ConvOp::BackwardData:
      conv2d_backward(ctx, &t.dx, nullptr, nullptr, t.dy, t.x, t.w, t.p);
      break;
    case ConvOp::BackwardFilter:
      conv2d_backward(ctx, nullptr, &t.dw, nullptr, t.dy, t.x, t.w, t.p);
      break;
  }
}

const Tensor& op_output(const ConvTensors& t, ConvOp op) {
  return op == ConvOp::Forward ? t.y : op == ConvOp::BackwardData ? t.dx : t.dw;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0, scale = 0;
  for (float v : vb) scale = std::max(scale, std::fabs(double(v)));
  for (size_t i = 0; i < va.size(); ++i)
    worst = std::max(worst, std::fabs(double(va[i]) - vb[i]) / (1e-6 + scale));
  return worst;
}

// How far a single-image CUDA result may be from the exact-fp32 CPU one (max |diff| over
// max |cpu|): fp32 agrees to rounding; half rounds x and w (2^-11, 2^-8 relative) and the result.
double validation_tol(Precision p) {
  switch (p) {
    case Precision::Fp16:
      return 1e-2;
    case Precision::Bf16:
      return 5e-2;
    case Precision::Tf32:
      return 1e-2;
    case Precision::Fp32:
      break;
  }
  return 1e-3;
}

void run_conv(benchmark::State& state, const ConvLayer& l, ConvOp op, Device d, int64_t n) {
  Context ctx(d);
  if (d == Device::CUDA) ctx.set_precision(bench_precision(ctx));
  // Validate once on a single image: finite output, and on CUDA agreement with the CPU.
  {
    ConvTensors small = make_conv(l, 1, d);
    run_op(ctx, small, op);
    if (!all_finite(op_output(small, op))) {
      state.SkipWithError("non-finite output");
      return;
    }
    if (d == Device::CUDA) {
      Context cpu_ctx(Device::CPU);
      ConvTensors ref = make_conv(l, 1, Device::CPU);
      run_op(cpu_ctx, ref, op);
      const double diff = max_rel_diff(op_output(small, op), op_output(ref, op));
      if (diff > validation_tol(ctx.precision())) {
        state.SkipWithError(("CUDA differs from the CPU by " + std::to_string(diff)).c_str());
        return;
      }
    }
  }
  ConvTensors t = make_conv(l, n, d);
  run_timed(
      state, ctx, [&] { run_op(ctx, t, op); }, d == Device::CUDA ? 3 : 1);
  const Conv2dShape s = conv2d_shape(t.x.shape(), t.w.shape(), t.p);
  set_flops_rate(state, 2.0 * double(s.n * s.k * s.c * s.r * s.s * s.p * s.q));
}

void run_gemm(benchmark::State& state, const ConvLayer& l, Device d, int64_t n) {
  Context ctx(d);
  const int64_t p = (l.hw + 2 * l.pad - l.r) / l.stride + 1;
  const int64_t M = l.k, N = n * p * p, K = l.c * l.r * l.r;
  Tensor a = random_tensor({M, K}, 1, -1.f, 1.f, d), b = random_tensor({K, N}, 2, -1.f, 1.f, d);
  Tensor c = Tensor::zeros({M, N}, d);
  if (d == Device::CPU) {
    // Consume the conv ops' once-only switch to single-threaded BLAS first, then give
    // OpenBLAS every thread for this benchmark and restore single-threaded BLAS after.
    cpu::blas_single_threaded();
    openblas_set_num_threads(omp_get_max_threads());
  }
  auto call = [&] {
    gemm(ctx, false, false, M, N, K, 1.f, a.f32(), K, b.f32(), N, 0.f, c.f32(), N);
  };
  call();
  if (!all_finite(c)) {
    state.SkipWithError("non-finite output");
  } else {
    run_timed(state, ctx, call, d == Device::CUDA ? 3 : 0);
    set_flops_rate(state, 2.0 * double(M) * double(N) * double(K));
  }
  if (d == Device::CPU) openblas_set_num_threads(1);
}

}  // namespace

void register_conv_benchmarks(bool cuda) {
  for (Device d : {Device::CPU, Device::CUDA}) {
    if (d == Device::CUDA && !cuda) continue;
    for (int64_t n : {int64_t(2), int64_t(8), int64_t(32)}) {
      // n:8 is resnet34-fpn's CPU training batch (the CPU's per-shape limits are chosen there).
      if (n == 8 && d == Device::CUDA) continue;
      for (const ConvLayer& l : kLayers) {
        const std::string suffix =
            std::string("/") + dev_tag(d) + "/resnet34." + l.name + "/n:" + std::to_string(n);
        add("gemm" + suffix, d, [&l, d, n](benchmark::State& s) { run_gemm(s, l, d, n); });
        const std::string prec = d == Device::CUDA && precision_option() != "fp32"
                                     ? "/" + precision_option()
                                     : std::string();
        for (ConvOp op : {ConvOp::Forward, ConvOp::BackwardData, ConvOp::BackwardFilter})
          add(std::string("conv2d_") + op_name(op) + suffix + prec, d,
              [&l, op, d, n](benchmark::State& s) { run_conv(s, l, op, d, n); });
      }
    }
    if (d == Device::CPU) {
      // n = 8: resnet34-fpn's training/inference batch (bench/RESULTS.md, issue 20).
      auto add8 = [d](const ConvLayer& l, const char* model) {
        const std::string suffix = std::string("/cpu/") + model + "." + l.name + "/n:8";
        for (ConvOp op : {ConvOp::Forward, ConvOp::BackwardData, ConvOp::BackwardFilter})
          add(std::string("conv2d_") + op_name(op) + suffix, d,
              [&l, op, d](benchmark::State& s) { run_conv(s, l, op, d, 8); });
      };
      // (the backbone's kLayers at n:8 are registered above)
      for (const ConvLayer& l : kFpn224Layers) add8(l, "resnet34-fpn");
    }
    for (const ConvLayer& l : kDemoLayers) {
      const std::string suffix = std::string("/") + dev_tag(d) + "/demo." + l.name + "/n:32";
      for (ConvOp op : {ConvOp::Forward, ConvOp::BackwardData, ConvOp::BackwardFilter})
        add(std::string("conv2d_") + op_name(op) + suffix, d,
            [&l, op, d](benchmark::State& s) { run_conv(s, l, op, d, 32); });
    }
  }
}

}  // namespace gbad::bench
