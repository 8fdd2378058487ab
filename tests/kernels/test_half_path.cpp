// The half-precision GPU path (docs/mixed-precision.md). On every machine: the layout bodies the
// conversion kernels run (NCHW <-> NHWC half, KCRS -> KRSC with a folded BatchNorm scale, the
// epilogue), BatchNorm folding against conv + BatchNorm, the plan key. On a GPU: the real half
// convolution, Linear and fused eval convolution against the CPU emulation of the same
// precision (inputs rounded to half, fp32 arithmetic, result rounded to half).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/half.h"
#include "kernels/amp.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/layout.h"
#include "kernels/layout_body.h"

namespace gbad {
namespace {

float round_half(float v, bool fp16) {
  return fp16 ? round_to_f16(v) : round_to_bf16(v);
}

std::vector<float> rounded(const std::vector<float>& v, bool fp16) {
  std::vector<float> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) r[i] = round_half(v[i], fp16);
  return r;
}

// ||a - b|| / ||b||.
double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    n += double(b[i]) * b[i];
  }
  EXPECT_GT(n, 0.0) << "the reference is all zeros";
  return std::sqrt(d / n);
}

// max |a - b| / max |b|.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0, scale = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  EXPECT_GT(scale, 0.0) << "the reference is all zeros";
  return worst / scale;
}

// ---- CPU: the bodies ---------------------------------------------------------------------------

TEST(Precision, NhwcHalfPermutationMatchesLoops) {
  const int64_t N = 3, C = 5, HW = 7;
  const std::vector<float> src = test::random_vector(N * C * HW, 1, -3.f, 3.f);
  const std::vector<float> scale = test::random_vector(N, 2, 0.5f, 2.f);
  for (bool fp16 : {true, false}) {
    for (bool scaled : {false, true}) {
      std::vector<uint16_t> dst(src.size(), 0xFFFFu);
      for (int64_t i = 0; i < N * C * HW; ++i)
        nchw_to_nhwc_half_body(i, dst.data(), src.data(), C, HW, scaled ? scale.data() : nullptr,
                               fp16);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t hw = 0; hw < HW; ++hw) {
            float v = src[(n * C + c) * HW + hw];
            if (scaled) v *= scale[n];
            const uint16_t want = fp16 ? float_to_f16_bits(v) : float_to_bf16_bits(v);
            ASSERT_EQ(dst[(n * HW + hw) * C + c], want) << n << " " << c << " " << hw;
          }
      // And back: NCHW again, each value the half rounding of the (scaled) source.
      std::vector<float> back(src.size(), -1.f);
      for (int64_t i = 0; i < N * C * HW; ++i)
        nhwc_half_to_nchw_body(i, back.data(), dst.data(), C, HW, FromNhwcEpilogue{}, fp16);
      for (int64_t i = 0; i < N * C * HW; ++i) {
        const float v = scaled ? src[i] * scale[i / (C * HW)] : src[i];
        ASSERT_EQ(f32_bits(back[i]), f32_bits(round_half(v, fp16))) << i;
      }
    }
  }
}

TEST(Precision, NhwcHalfEpilogue) {
  const int64_t N = 2, C = 3, HW = 4, count = N * C * HW;
  const std::vector<float> v = test::random_vector(count, 3, -2.f, 2.f);
  const std::vector<float> shift = test::random_vector(C, 4), res = test::random_vector(count, 5);
  const std::vector<float> old = test::random_vector(count, 6);
  std::vector<uint16_t> h(count);
  for (int64_t i = 0; i < count; ++i)
    nchw_to_nhwc_half_body(i, h.data(), v.data(), C, HW, nullptr, true);
  for (int mode = 0; mode < 3; ++mode) {
    FromNhwcEpilogue e;
    e.shift = shift.data();
    e.residual = mode >= 1 ? res.data() : nullptr;
    e.relu = mode == 1;
    e.accumulate = mode == 2;
    std::vector<float> out = old;
    for (int64_t i = 0; i < count; ++i)
      nhwc_half_to_nchw_body(i, out.data(), h.data(), C, HW, e, true);
    for (int64_t i = 0; i < count; ++i) {
      float want = round_to_f16(v[i]) + shift[(i / HW) % C];
      if (mode >= 1) want += res[i];
      if (mode == 1) want = want > 0.f ? want : 0.f;
      if (mode == 2) want = old[i] + want;
      ASSERT_EQ(f32_bits(out[i]), f32_bits(want)) << "mode " << mode << " at " << i;
    }
  }
}

TEST(Precision, FoldedBatchNormMatchesConvThenBatchNorm) {
  // conv(x, w * scale) + shift == BN_eval(conv(x, w)) in fp32: the fold the GPU eval op uses.
  Context ctx;
  const int64_t n = 2, c = 3, k = 4;
  Tensor x = test::random_tensor({n, c, 6, 5}, 7), w = test::random_tensor({k, c, 3, 3}, 8);
  Tensor gamma = test::random_tensor({k}, 9, 0.5f, 1.5f), beta = test::random_tensor({k}, 10);
  Tensor mean = test::random_tensor({k}, 11), var = test::random_tensor({k}, 12, 0.2f, 2.f);
  const Conv2dParams p{1, 1, 1, 1};
  const float eps = 1e-5f;
  Tensor ref(conv2d_output_shape(x.shape(), w.shape(), p)), tmp(ref.shape());
  conv2d_forward(ctx, tmp, x, w, nullptr, p);
  batchnorm2d_forward_eval(ctx, ref, tmp, gamma, beta, mean, var, eps);
  std::vector<float> scale(k), shift(k);
  for (int64_t i = 0; i < k; ++i)
    fold_bn_body(i, scale.data(), shift.data(), gamma.f32(), beta.f32(), mean.f32(), var.f32(),
                 eps);
  Tensor wf(w.shape()), bias = Tensor::from_vector(shift, {k});
  const int64_t per_k = c * 9;
  for (int64_t i = 0; i < w.numel(); ++i) wf.f32()[i] = w.f32()[i] * scale[i / per_k];
  Tensor y(ref.shape());
  conv2d_forward(ctx, y, x, wf, &bias, p);
  test::expect_close(y, ref, 1e-5, 1e-5, "folded");
}

// The whole boundary pipeline of the GPU's half convolution with the cuDNN call replaced by
// loops over the documented NHWC / KRSC layouts: x and w through the conversion bodies, the
// convolution and the filter gradient computed in NHWC from the half values in fp32, the
// results back through the epilogue body. Must equal the CPU emulation (fp32 NCHW convolution
// of the half-rounded operands) up to fp32 summation order: proves that the conversions give
// cuDNN what its NHWC descriptors describe and read back what it writes.
TEST(Precision, NhwcBoundaryPipelineMatchesEmulation) {
  Context ctx;
  const int64_t N = 2, C = 3, H = 7, W = 6, K = 4, R = 3, S = 2;
  const Conv2dParams prm{2, 1, 1, 1};
  const Conv2dShape sh = conv2d_shape({N, C, H, W}, {K, C, R, S}, prm);
  const int64_t P = sh.p, Q = sh.q;
  for (bool fp16 : {true, false}) {
    const Precision prec = fp16 ? Precision::Fp16 : Precision::Bf16;
    Tensor x = test::random_tensor({N, C, H, W}, 15), w = test::random_tensor({K, C, R, S}, 16);
    Tensor b = test::random_tensor({K}, 17), dy = test::random_tensor({N, K, P, Q}, 18);
    // Reference: the emulation (rounded operands, fp32 NCHW convolution).
    Tensor xr = x.clone(), wr = w.clone(), dyr = dy.clone();
    amp_round(ctx, xr, prec);
    amp_round(ctx, wr, prec);
    amp_round(ctx, dyr, prec);
    Tensor y_ref({N, K, P, Q}), dw_ref = test::random_tensor({K, C, R, S}, 19);
    Tensor dw_old = dw_ref.clone();
    conv2d_forward(ctx, y_ref, xr, wr, &b, prm);
    conv2d_backward(ctx, nullptr, &dw_ref, nullptr, dyr, xr, wr, prm);
    // Into half NHWC / KRSC through the bodies.
    std::vector<uint16_t> xh(x.numel()), wh(w.numel()), dyh(dy.numel());
    for (int64_t i = 0; i < x.numel(); ++i)
      nchw_to_nhwc_half_body(i, xh.data(), x.f32(), C, H * W, nullptr, fp16);
    for (int64_t i = 0; i < w.numel(); ++i)
      nchw_to_nhwc_half_body(i, wh.data(), w.f32(), C, R * S, nullptr, fp16);
    for (int64_t i = 0; i < dy.numel(); ++i)
      nchw_to_nhwc_half_body(i, dyh.data(), dy.f32(), K, P * Q, nullptr, fp16);
    auto X = [&](int64_t n, int64_t h, int64_t ww, int64_t c) {
      return half_bits_to_float(xh[((n * H + h) * W + ww) * C + c], fp16);
    };
    auto Wt = [&](int64_t k, int64_t r, int64_t s, int64_t c) {
      return half_bits_to_float(wh[((k * R + r) * S + s) * C + c], fp16);
    };
    auto DY = [&](int64_t n, int64_t p, int64_t q, int64_t k) {
      return half_bits_to_float(dyh[((n * P + p) * Q + q) * K + k], fp16);
    };
    // "cuDNN": y (N,P,Q,K) and dw (K,R,S,C), fp32 sums of half values, results stored in half.
    std::vector<uint16_t> yh(N * P * Q * K), dwh(K * R * S * C);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t k = 0; k < K; ++k) {
            float acc = 0.f;
            for (int64_t r = 0; r < R; ++r)
              for (int64_t s = 0; s < S; ++s)
                for (int64_t c = 0; c < C; ++c) {
                  const int64_t h = p * prm.stride_h - prm.pad_h + r;
                  const int64_t ww = q * prm.stride_w - prm.pad_w + s;
                  if (h >= 0 && h < H && ww >= 0 && ww < W) acc += X(n, h, ww, c) * Wt(k, r, s, c);
                }
            yh[((n * P + p) * Q + q) * K + k] = float_to_half_bits(acc, fp16);
          }
    for (int64_t k = 0; k < K; ++k)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t s = 0; s < S; ++s)
          for (int64_t c = 0; c < C; ++c) {
            float acc = 0.f;
            for (int64_t n = 0; n < N; ++n)
              for (int64_t p = 0; p < P; ++p)
                for (int64_t q = 0; q < Q; ++q) {
                  const int64_t h = p * prm.stride_h - prm.pad_h + r;
                  const int64_t ww = q * prm.stride_w - prm.pad_w + s;
                  if (h >= 0 && h < H && ww >= 0 && ww < W) acc += X(n, h, ww, c) * DY(n, p, q, k);
                }
            dwh[((k * R + r) * S + s) * C + c] = float_to_half_bits(acc, fp16);
          }
    // Back through the epilogue body: y with the bias, dw accumulated onto its old value.
    std::vector<float> y(y_ref.numel()), dw = dw_old.to_vector();
    FromNhwcEpilogue ey;
    ey.shift = b.f32();
    for (int64_t i = 0; i < y_ref.numel(); ++i)
      nhwc_half_to_nchw_body(i, y.data(), yh.data(), K, P * Q, ey, fp16);
    FromNhwcEpilogue ew;
    ew.accumulate = true;
    for (int64_t i = 0; i < dw_ref.numel(); ++i)
      nhwc_half_to_nchw_body(i, dw.data(), dwh.data(), C, R * S, ew, fp16);
    // The half rounding of the results (before the bias is added, before dw is accumulated) is
    // the only difference: within one unit of the storage type's last place of the largest
    // value (2^-10 for fp16's 10 mantissa bits rounded, 2^-7 for bf16's 7).
    const double ulp = fp16 ? 1.0 / 1024 : 1.0 / 128;
    EXPECT_LE(max_rel_diff(y, y_ref.to_vector()), ulp) << "y";
    EXPECT_LE(max_rel_diff(dw, dw_ref.to_vector()), ulp) << "dw";
  }
}

TEST(Precision, LayoutOpsRunTheBodies) {
  Context ctx;
  const int64_t n = 2, c = 3, hw = 5, count = n * c * hw;
  Tensor src = test::random_tensor({n, c, hw}, 20, -4.f, 4.f), scale = test::random_tensor({n}, 21);
  Tensor shift = test::random_tensor({c}, 22), res = test::random_tensor({n, c, hw}, 23);
  for (DType dt : {DType::F16, DType::BF16}) {
    const bool fp16 = dt == DType::F16;
    Tensor h({n, hw, c}, Device::CPU, dt);
    nchw_to_nhwc_half(ctx, h, src, n, c, hw, &scale);
    std::vector<uint16_t> want(count);
    for (int64_t i = 0; i < count; ++i)
      nchw_to_nhwc_half_body(i, want.data(), src.f32(), c, hw, scale.f32(), fp16);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(h.u16()[i], want[i]) << i;
    Tensor out = test::random_tensor({n, c, hw}, 24);
    std::vector<float> expect = out.to_vector();
    nhwc_half_to_nchw(ctx, out, h, n, c, hw, &shift, &res, true, true);
    FromNhwcEpilogue e;
    e.shift = shift.f32();
    e.residual = res.f32();
    e.relu = e.accumulate = true;
    for (int64_t i = 0; i < count; ++i)
      nhwc_half_to_nchw_body(i, expect.data(), want.data(), c, hw, e, fp16);
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(f32_bits(out.f32()[i]), f32_bits(expect[i])) << i;
  }
}

TEST(Precision, LayoutOpsRejectBadArguments) {
  Context ctx;
  Tensor src = test::random_tensor({2, 3, 4}, 25), h({2, 4, 3}, Device::CPU, DType::F16);
  Tensor f32_dst({2, 4, 3});
  EXPECT_THROW(nchw_to_nhwc_half(ctx, h, src, 2, 3, 5), Error);        // sizes disagree
  EXPECT_THROW(nchw_to_nhwc_half(ctx, f32_dst, src, 2, 3, 4), Error);  // f32 -> f32
  Tensor bad_scale = test::random_tensor({3}, 26);
  EXPECT_THROW(nchw_to_nhwc_half(ctx, h, src, 2, 3, 4, &bad_scale), Error);  // scale needs n
  Tensor back({2, 3, 4}), bad_shift = test::random_tensor({2}, 27);
  EXPECT_THROW(nhwc_half_to_nchw(ctx, back, h, 2, 3, 4, &bad_shift), Error);  // shift needs c
  EXPECT_THROW(nhwc_half_to_nchw(ctx, back, src, 2, 3, 4), Error);            // src not half
  nchw_to_nhwc_half(ctx, h, src, 2, 3, 4);
  nhwc_half_to_nchw(ctx, back, h, 2, 3, 4);  // and the right call passes
  for (int64_t i = 0; i < src.numel(); ++i)
    EXPECT_EQ(back.f32()[i], round_to_f16(src.f32()[i])) << i;
}

TEST(Precision, ConvPlanKeySeparatesModePrecisionLayout) {
  Conv2dShape s = conv2d_shape({2, 3, 8, 8}, {4, 3, 3, 3}, Conv2dParams{1, 1, 1, 1});
  std::set<std::string> keys;
  for (ConvAlgo a : {ConvAlgo::Deterministic, ConvAlgo::Fastest})
    for (Precision p : {Precision::Fp32, Precision::Tf32, Precision::Fp16, Precision::Bf16})
      keys.insert(conv_plan_key(a, p, conv_layout_for(Device::CUDA, p), s));
  EXPECT_EQ(keys.size(), 8u);
  EXPECT_EQ(conv_plan_key(ConvAlgo::Fastest, Precision::Bf16, ConvLayout::NhwcHalf, s),
            conv_plan_key(ConvAlgo::Fastest, Precision::Bf16, ConvLayout::NhwcHalf, s));
  Conv2dShape t = conv2d_shape({2, 3, 8, 8}, {4, 3, 3, 3}, Conv2dParams{2, 2, 1, 1});
  EXPECT_NE(conv_plan_key(ConvAlgo::Deterministic, Precision::Fp16, ConvLayout::NhwcHalf, s),
            conv_plan_key(ConvAlgo::Deterministic, Precision::Fp16, ConvLayout::NhwcHalf, t));
  // Half NHWC only on the GPU at fp16/bf16; the CPU and fp32/tf32 stay fp32 NCHW.
  EXPECT_EQ(conv_layout_for(Device::CUDA, Precision::Fp16), ConvLayout::NhwcHalf);
  EXPECT_EQ(conv_layout_for(Device::CUDA, Precision::Bf16), ConvLayout::NhwcHalf);
  EXPECT_EQ(conv_layout_for(Device::CUDA, Precision::Tf32), ConvLayout::NchwF32);
  EXPECT_EQ(conv_layout_for(Device::CUDA, Precision::Fp32), ConvLayout::NchwF32);
  EXPECT_EQ(conv_layout_for(Device::CPU, Precision::Bf16), ConvLayout::NchwF32);
}

TEST(Precision, HalfPathIdleOnCpu) {
  // The CPU emulation converts nothing: its convolutions stay fp32 NCHW at every precision.
  Context ctx;
  ctx.set_precision(Precision::Bf16);
  Tensor x = test::random_tensor({1, 2, 5, 5}, 13), w = test::random_tensor({3, 2, 3, 3}, 14);
  Tensor y(conv2d_output_shape(x.shape(), w.shape(), Conv2dParams{}));
  ConvHalfInput keep;
  keep.x = Tensor({1}, Device::CPU, DType::BF16);  // a stale copy must not survive
  conv2d_forward(ctx, y, x, w, nullptr, Conv2dParams{}, &keep);
  EXPECT_FALSE(keep.x.defined());
  const HalfPathStats& st = half_path_stats(ctx);
  EXPECT_EQ(st.to_nhwc + st.from_nhwc + st.bytes + st.fused_eval + st.unfused_eval, 0);
}

// ---- GPU: real half arithmetic against the CPU emulation ---------------------------------------

// Tolerances of GPU half vs CPU emulation (relative L2 over the tensor). Both sides see the same
// half inputs and round the result to half, so they differ by the fp32 accumulation order plus
// the half roundings that order flips: a few units in the last place of the storage type.
// bf16 tensor-core convolutions and GEMMs need compute capability 8.0+ (fp16: 7.0+, as
// --precision auto chooses); on older GPUs the bf16 cases are left out, and said so.
bool supports(Context& gpu, Precision p) {
  const int need = p == Precision::Bf16 ? 80 : 70;
  if (gpu.compute_capability() >= need) return true;
  std::printf("[ info ] %s left out: compute capability %d < %d\n", precision_name(p),
              gpu.compute_capability(), need);
  return false;
}

double half_tol(Precision p) {
  return p == Precision::Fp16 ? 2e-3 : 1.5e-2;
}

struct HalfConvCase {
  const char* name;
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
  bool bias;
};

const std::vector<HalfConvCase>& half_cases() {
  static const std::vector<HalfConvCase> c = {
      {"stem7x7s2", 2, 3, 33, 31, 16, 7, 7, {2, 2, 3, 3}, false},
      {"3x3", 2, 16, 14, 14, 32, 3, 3, {1, 1, 1, 1}, true},
      {"3x3s2", 2, 32, 15, 13, 64, 3, 3, {2, 2, 1, 1}, false},
      {"down1x1s2", 2, 32, 14, 14, 64, 1, 1, {2, 2, 0, 0}, false},
      {"odd_channels", 1, 5, 9, 7, 7, 3, 3, {1, 1, 1, 1}, true},
  };
  return c;
}

// The tiled CUDA conversions bit for bit against the CPU bodies: shapes that fill the 32x32
// tiles, leave ragged edges in C and HW, a 1x1 filter (HW = 1) and a 3x3 one (HW = 9).
TEST(CudaVsCpu, HalfLayoutConversionsBitExact) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  struct Dims {
    int64_t n, c, hw;
  };
  for (const Dims& d :
       {Dims{2, 64, 1024}, Dims{3, 37, 49}, Dims{64, 32, 1}, Dims{5, 3, 9}, Dims{1, 130, 33}}) {
    for (DType dt : {DType::F16, DType::BF16}) {
      SCOPED_TRACE(std::to_string(d.n) + "x" + std::to_string(d.c) + "x" + std::to_string(d.hw) +
                   " " + dtype_name(dt));
      const int64_t count = d.n * d.c * d.hw;
      Tensor src = test::random_tensor({count}, 71, -70000.f, 70000.f);  // fp16 overflows too
      Tensor scale = test::random_tensor({d.n}, 72, -2.f, 2.f);
      Tensor shift = test::random_tensor({d.c}, 73), res = test::random_tensor({count}, 74);
      Tensor old = test::random_tensor({count}, 75);
      for (bool scaled : {false, true}) {
        Tensor h({count}, Device::CPU, dt), gh({count}, Device::CUDA, dt);
        nchw_to_nhwc_half(cpu_ctx, h, src, d.n, d.c, d.hw, scaled ? &scale : nullptr);
        Tensor gscale = scale.to(Device::CUDA);
        nchw_to_nhwc_half(gpu_ctx, gh, src.to(Device::CUDA), d.n, d.c, d.hw,
                          scaled ? &gscale : nullptr);
        const Tensor back_h = gh.to(Device::CPU);
        for (int64_t i = 0; i < count; ++i)
          ASSERT_EQ(back_h.u16()[i], h.u16()[i]) << "to NHWC, scaled " << scaled << " at " << i;
        for (int mode = 0; mode < 2; ++mode) {
          Tensor y = old.clone(), gy = old.to(Device::CUDA);
          Tensor gshift = shift.to(Device::CUDA), gres = res.to(Device::CUDA);
          if (mode == 0) {
            nhwc_half_to_nchw(cpu_ctx, y, h, d.n, d.c, d.hw);
            nhwc_half_to_nchw(gpu_ctx, gy, gh, d.n, d.c, d.hw);
          } else {
            nhwc_half_to_nchw(cpu_ctx, y, h, d.n, d.c, d.hw, &shift, &res, true, true);
            nhwc_half_to_nchw(gpu_ctx, gy, gh, d.n, d.c, d.hw, &gshift, &gres, true, true);
          }
          const std::vector<float> a = gy.to(Device::CPU).to_vector(), b = y.to_vector();
          for (int64_t i = 0; i < count; ++i)
            ASSERT_EQ(f32_bits(a[i]), f32_bits(b[i])) << "from NHWC, mode " << mode << " at " << i;
        }
      }
    }
  }
  EXPECT_GT(half_path_stats(gpu_ctx).to_nhwc, 0);
}

TEST(CudaVsCpu, HalfConv2dMatchesEmulation) {
  GBAD_REQUIRE_CUDA();
  for (Precision prec : {Precision::Fp16, Precision::Bf16}) {
    const bool fp16 = prec == Precision::Fp16;
    Context cpu_ctx, gpu_ctx(Device::CUDA);
    if (!supports(gpu_ctx, prec)) continue;
    gpu_ctx.set_precision(prec);
    for (const HalfConvCase& cc : half_cases()) {
      SCOPED_TRACE(std::string(precision_name(prec)) + " " + cc.name);
      // Half-representable inputs, as the layers give them (activations and weight copies
      // stored in half); the bias and the gradient's old value are fp32.
      Tensor x = test::random_tensor({cc.n, cc.c, cc.h, cc.w}, 41);
      Tensor w = test::random_tensor({cc.k, cc.c, cc.r, cc.s}, 42, -0.2f, 0.2f);
      amp_round(cpu_ctx, x, prec);
      amp_round(cpu_ctx, w, prec);
      Tensor b = test::random_tensor({cc.k}, 43);
      const Shape ys = conv2d_output_shape(x.shape(), w.shape(), cc.p);
      Tensor dy = test::random_tensor(ys, 44);
      amp_round(cpu_ctx, dy, prec);
      Tensor y(ys), dx(x.shape()), dw = test::random_tensor(w.shape(), 45), db(Shape{cc.k});
      db.zero();
      Tensor gx = x.to(Device::CUDA), gw = w.to(Device::CUDA), gb = b.to(Device::CUDA),
             gdy = dy.to(Device::CUDA), gy(ys, Device::CUDA), gdx(x.shape(), Device::CUDA),
             gdw = dw.to(Device::CUDA), gdb = db.to(Device::CUDA);
      const Tensor* bias = cc.bias ? &b : nullptr;
      const Tensor* gbias = cc.bias ? &gb : nullptr;
      conv2d_forward(cpu_ctx, y, x, w, bias, cc.p);
      conv2d_backward(cpu_ctx, &dx, &dw, &db, dy, x, w, cc.p);
      for (int rep = 0; rep < 2; ++rep)  // the second call reuses the cached plan
        conv2d_forward(gpu_ctx, gy, gx, gw, gbias, cc.p);
      conv2d_backward(gpu_ctx, &gdx, &gdw, &gdb, gdy, gx, gw, cc.p);
      // The layer's way: forward keeps the half copy of x, backward reuses it. Same values.
      {
        ConvHalfInput keep;
        Tensor ky(ys, Device::CUDA), kdx(x.shape(), Device::CUDA), kdw = dw.to(Device::CUDA);
        const int64_t before = half_path_stats(gpu_ctx).to_nhwc;
        conv2d_forward(gpu_ctx, ky, gx, gw, gbias, cc.p, &keep);
        ASSERT_TRUE(keep.x.defined());
        EXPECT_EQ(keep.x.shape(), Shape({cc.n, cc.h, cc.w, cc.c}));
        conv2d_backward(gpu_ctx, &kdx, &kdw, nullptr, gdy, gx, gw, cc.p, &keep);
        // forward: x, w; backward: dy, w (x reused) instead of dy, x, w.
        EXPECT_EQ(half_path_stats(gpu_ctx).to_nhwc - before, 4);
        // Bit for bit with deterministic algorithms (the default); GBAD_CONV_ALGO=fastest may
        // pick non-deterministic ones (atomics), which agree to rounding only.
        const double tol = gpu_ctx.conv_algo() == ConvAlgo::Deterministic ? 0.0 : 1e-3;
        EXPECT_LE(rel_l2(ky.to(Device::CPU).to_vector(), gy.to(Device::CPU).to_vector()), tol);
        EXPECT_LE(rel_l2(kdx.to(Device::CPU).to_vector(), gdx.to(Device::CPU).to_vector()), tol);
        EXPECT_LE(rel_l2(kdw.to(Device::CPU).to_vector(), gdw.to(Device::CPU).to_vector()), tol);
      }
      amp_round(gpu_ctx, gy, prec);  // what the layer stores
      const std::vector<float> y_ref = rounded(y.to_vector(), fp16);
      EXPECT_LE(rel_l2(gy.to(Device::CPU).to_vector(), y_ref), half_tol(prec)) << "y";
      EXPECT_LE(rel_l2(gdx.to(Device::CPU).to_vector(), rounded(dx.to_vector(), fp16)),
                half_tol(prec))
          << "dx (stored in half by the layer)";
      EXPECT_LE(rel_l2(gdw.to(Device::CPU).to_vector(), dw.to_vector()), half_tol(prec)) << "dw";
      EXPECT_LE(rel_l2(gdb.to(Device::CPU).to_vector(), db.to_vector()), 1e-5) << "db (fp32)";
    }
    const HalfPathStats& st = half_path_stats(gpu_ctx);
    EXPECT_GT(st.to_nhwc, 0) << "the half path did not run";
    EXPECT_GT(st.from_nhwc, 0);
  }
  Context fp32_ctx(Device::CUDA);  // fp32 stays NCHW: nothing converted
  Tensor x = test::random_tensor({1, 2, 5, 5}, 46, -1.f, 1.f, Device::CUDA);
  Tensor w = test::random_tensor({3, 2, 3, 3}, 47, -1.f, 1.f, Device::CUDA);
  Tensor y(conv2d_output_shape(x.shape(), w.shape(), Conv2dParams{}), Device::CUDA);
  conv2d_forward(fp32_ctx, y, x, w, nullptr, Conv2dParams{});
  EXPECT_EQ(half_path_stats(fp32_ctx).to_nhwc, 0);
}

TEST(CudaVsCpu, HalfLinearMatchesEmulation) {
  GBAD_REQUIRE_CUDA();
  for (Precision prec : {Precision::Fp16, Precision::Bf16}) {
    SCOPED_TRACE(precision_name(prec));
    Context cpu_ctx, gpu_ctx(Device::CUDA);
    if (!supports(gpu_ctx, prec)) continue;
    gpu_ctx.set_precision(prec);
    const int64_t n = 16, in = 72, out = 40;
    // The GPU gets the fp32 operands and must round them to half itself (one cast kernel each);
    // the CPU reference gets them rounded. An fp32 GEMM on the GPU would miss the reference by
    // the input rounding (checked below to be far above the tolerance), so this test fails if
    // the half GEMM path does not run.
    const Tensor x32 = test::random_tensor({n, in}, 51), w32 = test::random_tensor({out, in}, 52);
    const Tensor dy32 = test::random_tensor({n, out}, 53);
    Tensor x = x32.clone(), w = w32.clone(), dy = dy32.clone();
    for (Tensor* t : {&x, &w, &dy}) amp_round(cpu_ctx, *t, prec);
    Tensor b = test::random_tensor({out}, 54);
    Tensor y({n, out}), dx({n, in}), dw = test::random_tensor({out, in}, 55), db({out});
    db.zero();
    Tensor gx = x32.to(Device::CUDA), gw = w32.to(Device::CUDA), gb = b.to(Device::CUDA),
           gdy = dy32.to(Device::CUDA), gy({n, out}, Device::CUDA), gdx({n, in}, Device::CUDA),
           gdw = dw.to(Device::CUDA), gdb = db.to(Device::CUDA);
    linear_forward(cpu_ctx, y, x, w, &b);
    linear_backward(cpu_ctx, &dx, &dw, &db, dy, x, w);
    Tensor y32({n, out});
    linear_forward(cpu_ctx, y32, x32, w32, &b);
    ASSERT_GT(rel_l2(y32.to_vector(), y.to_vector()), 5e-5) << "the rounding must be visible";
    linear_forward(gpu_ctx, gy, gx, gw, &gb);
    linear_backward(gpu_ctx, &gdx, &gdw, &gdb, gdy, gx, gw);
    // Half A and B exactly as the CPU's, fp32 accumulation on both: only the summation order
    // differs (fp32 C, no rounding of the result). db is reduced in fp32 from the fp32 dy.
    EXPECT_LE(rel_l2(gy.to(Device::CPU).to_vector(), y.to_vector()), 1e-5) << "y";
    EXPECT_LE(rel_l2(gdx.to(Device::CPU).to_vector(), dx.to_vector()), 1e-5) << "dx";
    EXPECT_LE(rel_l2(gdw.to(Device::CPU).to_vector(), dw.to_vector()), 1e-5) << "dw";
    Tensor db32({out});  // from the unrounded dy the GPU was given
    db32.zero();
    linear_backward(cpu_ctx, nullptr, nullptr, &db32, dy32, x, w);
    EXPECT_LE(rel_l2(gdb.to(Device::CPU).to_vector(), db32.to_vector()), 1e-5) << "db";
  }
}

TEST(CudaVsCpu, HalfConvBnEvalMatchesEmulation) {
  GBAD_REQUIRE_CUDA();
  for (Precision prec : {Precision::Fp16, Precision::Bf16}) {
    const bool fp16 = prec == Precision::Fp16;
    Context cpu_ctx, gpu_ctx(Device::CUDA);
    if (!supports(gpu_ctx, prec)) continue;
    gpu_ctx.set_precision(prec);
    const int64_t n = 2, c = 16, k = 32;
    const Conv2dParams p{1, 1, 1, 1};
    Tensor x = test::random_tensor({n, c, 12, 10}, 61);
    Tensor w = test::random_tensor({k, c, 3, 3}, 62, -0.2f, 0.2f);
    amp_round(cpu_ctx, x, prec);
    amp_round(cpu_ctx, w, prec);
    Tensor gamma = test::random_tensor({k}, 63, 0.5f, 1.5f), beta = test::random_tensor({k}, 64);
    Tensor mean = test::random_tensor({k}, 65), var = test::random_tensor({k}, 66, 0.2f, 2.f);
    const Shape ys = conv2d_output_shape(x.shape(), w.shape(), p);
    Tensor res = test::random_tensor(ys, 67);
    amp_round(cpu_ctx, res, prec);
    for (int mode = 0; mode < 4; ++mode) {
      const bool relu = mode & 1, with_res = mode & 2;
      SCOPED_TRACE(std::string(precision_name(prec)) + (relu ? " relu" : "") +
                   (with_res ? " residual" : ""));
      Tensor y(ys), gy(ys, Device::CUDA);
      conv2d_bn_eval_forward(cpu_ctx, y, x, w, gamma, beta, mean, var, 1e-5f,
                             with_res ? &res : nullptr, relu, p);
      Tensor gres = res.to(Device::CUDA);
      conv2d_bn_eval_forward(gpu_ctx, gy, x.to(Device::CUDA), w.to(Device::CUDA),
                             gamma.to(Device::CUDA), beta.to(Device::CUDA), mean.to(Device::CUDA),
                             var.to(Device::CUDA), 1e-5f, with_res ? &gres : nullptr, relu, p);
      amp_round(gpu_ctx, gy, prec);
      // The GPU also rounds the folded weights (w * scale) and, fused, the shift to half.
      EXPECT_LE(rel_l2(gy.to(Device::CPU).to_vector(), rounded(y.to_vector(), fp16)),
                2 * half_tol(prec));
    }
    const HalfPathStats& st = half_path_stats(gpu_ctx);
    EXPECT_EQ(st.fused_eval + st.unfused_eval, 4);
    std::printf(
        "[ info ] %s eval conv: %lld fused (cudnnConvolutionBiasActivationForward), %lld "
        "conv + epilogue\n",
        precision_name(prec), static_cast<long long>(st.fused_eval),
        static_cast<long long>(st.unfused_eval));
  }
}

}  // namespace
}  // namespace gbad
