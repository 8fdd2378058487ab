// The half NHWC activation path (kernels/nhwc.h). On every machine: the NHWC tensor layout, the
// per-element bodies our CUDA kernels run (max pooling forward and backward, the half add, the
// convolution epilogue, the ReLU mask) against the twin (fp32 NCHW op, rounded), and the
// dispatchers' argument checks. On a GPU: every native op (cuDNN's NHWC convolutions and
// BatchNorm with its fused add + ReLU, our kernels) against the CPU twin of the same precision.
// The whole path in training is tested in test_precision (Precision.NhwcHalf*).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "core/half.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/layout.h"
#include "kernels/nhwc.h"
#include "kernels/nhwc_body.h"
#include "kernels/pooling.h"

namespace gbad {
namespace {

// A half NHWC tensor of random values (rounded on the way in), on `ctx`'s device.
Tensor random_half(Context& ctx, const Shape& s, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor h;
  to_half_nhwc(ctx, h, test::random_tensor(s, seed, lo, hi, ctx.device()));
  return h;
}

TEST(Precision, NhwcTensorLayout) {
  Tensor h({2, 3, 4, 5}, Device::CPU, DType::BF16, Layout::NHWC);
  EXPECT_TRUE(h.is_nhwc());
  EXPECT_TRUE(is_half_nhwc(h));
  EXPECT_EQ(h.str(), "bf16[2, 3, 4, 5] nhwc cpu");
  EXPECT_EQ(h.clone().layout(), Layout::NHWC);
  EXPECT_EQ(h.slice0(1, 2).layout(), Layout::NHWC);  // whole images
  EXPECT_THROW(h.view(5, {1, 3, 4, 5}), Error);      // not on an image boundary
  EXPECT_THROW(h.reshape({2, 60}), Error);           // the logical shape is NCHW
  EXPECT_THROW(h.f32(), Error);                      // fp32 ops reject it by dtype
  EXPECT_THROW(Tensor({2, 3}, Device::CPU, DType::F16, Layout::NHWC), Error);
  EXPECT_THROW(Tensor({1, 1, 1, 1}, Device::CPU, DType::F32, Layout::NHWC), Error);
  Tensor f({2, 3, 4, 5});
  Tensor same_dtype_nchw({2, 3, 4, 5}, Device::CPU, DType::BF16);
  EXPECT_THROW(same_dtype_nchw.copy_from(h), Error);  // a layout change is a conversion
  // resize_like follows the other tensor's kind.
  Tensor y;
  y.resize_like({1, 3, 2, 2}, h);
  EXPECT_EQ(y.str(), "bf16[1, 3, 2, 2] nhwc cpu");
  y.resize_like({1, 3, 2, 2}, f);
  EXPECT_EQ(y.str(), "f32[1, 3, 2, 2] cpu");
}

TEST(Precision, NhwcHalfConversionsAndChecks) {
  Context ctx;
  ctx.set_precision(Precision::Fp16);
  const Tensor x = test::random_tensor({2, 3, 4, 5}, 3, -100.f, 100.f);
  Tensor h;
  to_half_nhwc(ctx, h, x);
  EXPECT_EQ(h.str(), "f16[2, 3, 4, 5] nhwc cpu");
  const std::vector<float> v = x.to_vector(), m = h.to_vector();  // m in NHWC memory order
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t hw = 0; hw < 20; ++hw)
        ASSERT_EQ(f32_bits(m[(n * 20 + hw) * 3 + c]),
                  f32_bits(round_to_f16(v[(n * 3 + c) * 20 + hw])));
  Tensor back = Tensor::zeros({2, 3, 4, 5});
  from_half_nhwc(ctx, back, h, true);  // accumulate into zeros: the rounded values
  for (int64_t i = 0; i < back.numel(); ++i)
    ASSERT_EQ(f32_bits(back.f32()[i]), f32_bits(round_to_f16(v[i])));
  // The dtype must be the context's precision; fp32 contexts have no half activations.
  ctx.set_precision(Precision::Bf16);
  Tensor y;
  EXPECT_THROW(half_nhwc_add(ctx, y, h, h), Error);
  ctx.set_precision(Precision::Fp32);
  EXPECT_THROW(to_half_nhwc(ctx, y, x), Error);
  ctx.set_precision(Precision::Fp16);
  EXPECT_THROW(to_half_nhwc(ctx, y, h), Error);  // not f32 NCHW
  Tensor w = test::random_tensor({4, 3, 3, 3}, 4);
  EXPECT_THROW(nhwc_conv2d_forward(ctx, y, x, w, nullptr, Conv2dParams{}), Error);
  Tensor odd = random_half(ctx, {2, 3, 4, 5}, 5);
  Tensor other = random_half(ctx, {2, 3, 5, 4}, 6);
  Tensor sum(odd.shape(), Device::CPU, DType::F16, Layout::NHWC);
  EXPECT_THROW(half_nhwc_add(ctx, sum, odd, other), Error);
  // The dispatchers check what the GPU forms would trust: per-channel sizes, one value per
  // channel, outputs that alias inputs, windows larger than the input.
  {
    Tensor c3 = Tensor::zeros({3}), c4 = Tensor::zeros({4}), sm({3}), si({3}), by;
    BnNhwcState st;
    EXPECT_THROW(nhwc_batchnorm2d_forward_train(ctx, by, sm, si, c3, c3, odd, c4, c3, 1e-5f, 0.1f,
                                                nullptr, true, st),
                 Error);
    Tensor one = random_half(ctx, {1, 3, 1, 1}, 7);
    EXPECT_THROW(nhwc_batchnorm2d_forward_train(ctx, by, sm, si, c3, c3, one, c3, c3, 1e-5f, 0.1f,
                                                nullptr, true, st),
                 Error);
    Tensor alias = odd;
    EXPECT_THROW(nhwc_batchnorm2d_forward_train(ctx, alias, sm, si, c3, c3, odd, c3, c3, 1e-5f,
                                                0.1f, nullptr, true, st),
                 Error);
    MaxPoolNhwcState ps;
    EXPECT_THROW(nhwc_maxpool2d_forward(ctx, by, one, 3, 2, 0, ps), Error);
    Tensor conv_y = odd;
    const Tensor w33 = test::random_tensor({3, 3, 1, 1}, 8);
    EXPECT_THROW(nhwc_conv2d_forward(ctx, conv_y, odd, w33, nullptr, Conv2dParams{}), Error);
  }
  // The context's layout choice: NHWC only at fp16/bf16, by default only on the GPU.
  EXPECT_FALSE(ctx.half_nhwc());
  ctx.set_half_layout(HalfLayout::Nhwc);
  EXPECT_TRUE(ctx.half_nhwc());
  ctx.set_precision(Precision::Tf32);
  EXPECT_FALSE(ctx.half_nhwc());
  EXPECT_EQ(parse_half_layout("boundary"), HalfLayout::Boundary);
  EXPECT_THROW(parse_half_layout("nchw"), Error);
}

// The bodies of the CUDA kernels, run here on the CPU, against the twin (the fp32 op, rounded).
TEST(Precision, NhwcHalfBodiesMatchTheTwin) {
  for (Precision p : {Precision::Fp16, Precision::Bf16}) {
    SCOPED_TRACE(precision_name(p));
    const bool fp16 = p == Precision::Fp16;
    Context ctx;
    ctx.set_precision(p);
    // Max pooling, the ResNet stem's 3x3 stride 2 pad 1 and a 2x2 stride 2 one, with ties
    // (values on a coarse grid) so the first-maximum rule matters.
    struct Pool {
      int k, s, pad;
    };
    for (const Pool& q : {Pool{3, 2, 1}, Pool{2, 2, 0}}) {
      const Shape xs = {2, 5, 9, 7};
      Tensor xf = test::random_tensor(xs, 11, 0.f, 4.f);
      for (int64_t i = 0; i < xf.numel(); ++i) xf.f32()[i] = std::floor(xf.f32()[i]);
      Tensor x;
      to_half_nhwc(ctx, x, xf);
      MaxPoolNhwcState twin;
      Tensor y_twin, dx_twin;
      nhwc_maxpool2d_forward(ctx, y_twin, x, q.k, q.s, q.pad, twin);
      Tensor dy = random_half(ctx, y_twin.shape(), 12);
      nhwc_maxpool2d_backward(ctx, dx_twin, dy, xs, q.k, q.s, q.pad, twin);
      const PoolGeom g{xs[2], xs[3], y_twin.h(), y_twin.w(), q.k, q.s, q.pad};
      std::vector<uint16_t> y(y_twin.numel()), dx(x.numel());
      std::vector<float> arg(y_twin.numel());
      for (int64_t o = 0; o < y_twin.numel(); ++o) {
        int32_t a;
        y[o] = maxpool_nhwc_fwd_body(x.u16(), o, g, xs[1], fp16, &a);
        arg[o] = maxpool_index_to_bits(a);
        ASSERT_EQ(y[o], y_twin.u16()[o]) << "forward at " << o;
      }
      for (int64_t i = 0; i < x.numel(); ++i) {
        dx[i] = maxpool_nhwc_bwd_body(dy.u16(), arg.data(), i, g, xs[1], fp16);
        // At most four windows cover an element: fp32 sums of four half values in two orders,
        // then one rounding, agree.
        ASSERT_EQ(dx[i], dx_twin.u16()[i]) << "backward at " << i;
      }
    }
    // The FPN's merge (7x5 to 13x9: uneven copies) and the global pooling.
    {
      const Shape ls = {2, 6, 13, 9}, ss = {2, 6, 7, 5};
      const Tensor lat = random_half(ctx, ls, 13), sm = random_half(ctx, ss, 14);
      Tensor y_twin, dx_twin;
      nhwc_upsample_nearest_add_forward(ctx, y_twin, lat, sm);
      nhwc_upsample_nearest_add_backward(ctx, dx_twin, lat, sm);  // dy = lat, addend = sm
      std::vector<uint16_t> yb(static_cast<size_t>(y_twin.numel()));
      for (int64_t i = 0; i < y_twin.numel(); ++i) {
        upsample_add_nhwc_fwd_body(i, yb.data(), lat.u16(), sm.u16(), 6, 13, 9, 7, 5, fp16);
        ASSERT_EQ(yb[size_t(i)], y_twin.u16()[i]) << "upsample + add forward at " << i;
      }
      for (int64_t i = 0; i < dx_twin.numel(); ++i)
        ASSERT_EQ(upsample_add_nhwc_bwd_body(i, lat.u16(), sm.u16(), 6, 7, 5, 13, 9, fp16),
                  dx_twin.u16()[i])
            << "upsample + add backward at " << i;
      Tensor pooled, dpool;
      nhwc_global_avgpool_forward(ctx, pooled, lat);
      for (int64_t o = 0; o < pooled.numel(); ++o)
        ASSERT_EQ(f32_bits(gap_nhwc_fwd_body(lat.u16(), o, 6, 13 * 9, fp16)),
                  f32_bits(pooled.f32()[o]))
            << "global pooling at " << o;
      const Tensor drow = test::random_tensor({2, 6}, 15);
      nhwc_global_avgpool_backward(ctx, dpool, drow, ls);
      for (int64_t i = 0; i < dpool.numel(); ++i)
        ASSERT_EQ(gap_nhwc_bwd_body(drow.f32(), i, 6, 13 * 9, fp16), dpool.u16()[i])
            << "global pooling backward at " << i;
    }
    // The half add and the epilogue against fp32 arithmetic rounded once; the ReLU mask.
    const int64_t n = 4096, c = 16;
    Tensor a({n}, Device::CPU, DType::F16), b({n}, Device::CPU, DType::F16);
    const Tensor af = test::random_tensor({n}, 21, -3.f, 3.f), bf = test::random_tensor({n}, 22);
    const Tensor shift = test::random_tensor({c}, 23);
    std::vector<uint16_t> ah(n), bh(n), out(n);
    for (int64_t i = 0; i < n; ++i) {
      ah[i] = float_to_half_bits(af.f32()[i], fp16);
      bh[i] = float_to_half_bits(bf.f32()[i], fp16);
    }
    for (int64_t i = 0; i < n; ++i) {
      const float va = half_bits_to_float(ah[i], fp16), vb = half_bits_to_float(bh[i], fp16);
      half_add_body(i, out.data(), ah.data(), bh.data(), fp16);
      ASSERT_EQ(out[i], float_to_half_bits(va + vb, fp16));
      half_epilogue_body(i, out.data(), ah.data(), shift.f32(), bh.data(), true, c, fp16);
      float e = va + shift.f32()[i % c] + vb;
      if (!(e > 0.f)) e = 0.f;
      ASSERT_EQ(out[i], float_to_half_bits(e, fp16));
      relu_mask_half_body(i, out.data(), bh.data(), ah.data(), fp16);
      ASSERT_EQ(out[i], va > 0.f ? bh[i] : uint16_t(0));
    }
  }
}

// ---- GPU: the native ops against the CPU twin ------------------------------------------------

// Relative L2 distance of two value lists.
double rel_l2(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    n += double(b[i]) * b[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

std::vector<float> host(const Tensor& t) {
  return t.to(Device::CPU).to_vector();
}

// Every op of kernels/nhwc.h on the GPU against the CPU twin from the same half inputs. The
// bounds are test_half_path's (summation order, then a few flipped roundings); BatchNorm's
// reductions add one more order, hence its looser bound. Pooling and the add are our kernels
// over the bodies pinned above: exact.
TEST(CudaVsCpu, HalfNhwcOpsMatchTheTwin) {
  GBAD_REQUIRE_CUDA();
  for (Precision p : {Precision::Fp16, Precision::Bf16}) {
    Context cpu, gpu(Device::CUDA);
    const int need = p == Precision::Bf16 ? 80 : 70;
    if (gpu.compute_capability() < need) {
      std::printf("[ info ] %s left out: compute capability %d\n", precision_name(p),
                  gpu.compute_capability());
      continue;
    }
    SCOPED_TRACE(precision_name(p));
    cpu.set_precision(p);
    gpu.set_precision(p);
    const double tol = p == Precision::Fp16 ? 2e-3 : 1.5e-2, bn_tol = 2 * tol;
    auto both = [&](const Tensor& h) { return h.to(Device::CUDA); };
    // Convolution forward and backward (3x3 with bias, 1x1 stride 2, the 3-channel stem).
    struct ConvCase {
      const char* name;
      Shape x, w;
      Conv2dParams q;
      bool bias;
    };
    for (const ConvCase& cc :
         {ConvCase{"3x3", {2, 16, 14, 14}, {32, 16, 3, 3}, {1, 1, 1, 1}, true},
          ConvCase{"1x1s2", {2, 32, 14, 14}, {64, 32, 1, 1}, {2, 2, 0, 0}, false},
          ConvCase{"stem", {2, 3, 33, 31}, {16, 3, 7, 7}, {2, 2, 3, 3}, false}}) {
      SCOPED_TRACE(cc.name);
      const Tensor x = random_half(cpu, cc.x, 31), w = test::random_tensor(cc.w, 32, -0.2f, 0.2f);
      const Tensor bias = test::random_tensor({cc.w[0]}, 33);
      Tensor y, gy;
      nhwc_conv2d_forward(cpu, y, x, w, cc.bias ? &bias : nullptr, cc.q);
      const Tensor gw = w.to(Device::CUDA), gb = bias.to(Device::CUDA);
      nhwc_conv2d_forward(gpu, gy, both(x), gw, cc.bias ? &gb : nullptr, cc.q);
      EXPECT_LT(rel_l2(host(gy), host(y)), tol) << "forward";
      const Tensor dy = random_half(cpu, y.shape(), 34);
      Tensor dx, gdx, dw = Tensor::zeros(cc.w), db = Tensor::zeros({cc.w[0]});
      Tensor gdw = Tensor::zeros(cc.w, Device::CUDA), gdb = Tensor::zeros({cc.w[0]}, Device::CUDA);
      nhwc_conv2d_backward(cpu, &dx, &dw, cc.bias ? &db : nullptr, dy, x, w, cc.q);
      nhwc_conv2d_backward(gpu, &gdx, &gdw, cc.bias ? &gdb : nullptr, both(dy), both(x), gw, cc.q);
      EXPECT_LT(rel_l2(host(gdx), host(dx)), tol) << "dx";
      EXPECT_LT(rel_l2(host(gdw), host(dw)), tol) << "dw";
      if (cc.bias) {
        EXPECT_LT(rel_l2(host(gdb), host(db)), 1e-5) << "db";
      }
    }
    // BatchNorm in its three forms, forward and backward, and the folded eval convolution.
    const Shape xs = {4, 32, 10, 10};
    const Tensor x = random_half(cpu, xs, 41, -2.f, 3.f), res = random_half(cpu, xs, 42);
    const Tensor gamma = test::random_tensor({32}, 43, 0.5f, 1.5f),
                 beta = test::random_tensor({32}, 44);
    for (int form = 0; form < 3; ++form) {
      const bool relu = form > 0, with_res = form == 2;
      SCOPED_TRACE("BatchNorm form " + std::to_string(form));
      Tensor rm = Tensor::zeros({32}), rv = Tensor::zeros({32}), sm({32}), si({32}), y;
      rv.fill(1.f);
      Tensor grm = rm.to(Device::CUDA), grv = rv.to(Device::CUDA);
      Tensor gsm({32}, Device::CUDA), gsi({32}, Device::CUDA), gy;
      BnNhwcState st, gst;
      const Tensor ggamma = gamma.to(Device::CUDA), gbeta = beta.to(Device::CUDA);
      const Tensor gx = both(x), gres = both(res);
      nhwc_batchnorm2d_forward_train(cpu, y, sm, si, rm, rv, x, gamma, beta, 1e-5f, 0.1f,
                                     with_res ? &res : nullptr, relu, st);
      nhwc_batchnorm2d_forward_train(gpu, gy, gsm, gsi, grm, grv, gx, ggamma, gbeta, 1e-5f, 0.1f,
                                     with_res ? &gres : nullptr, relu, gst);
      std::printf("[ info ] %s BatchNorm form %d: %s\n", precision_name(p), form,
                  !gst.native ? "twin (cuDNN refused)"
                  : gst.split ? "cuDNN NHWC, plain form + our add/ReLU kernel"
                              : "cuDNN NHWC, fused form");
      EXPECT_LT(rel_l2(host(gy), host(y)), bn_tol) << "y";
      EXPECT_LT(rel_l2(host(grm), host(rm)), 1e-4) << "running mean";
      EXPECT_LT(rel_l2(host(grv), host(rv)), 1e-4) << "running var";
      const Tensor dy = random_half(cpu, xs, 45);
      Tensor dx, dz, dg = Tensor::zeros({32}), dbt = Tensor::zeros({32});
      Tensor gdx, gdz, gdg = Tensor::zeros({32}, Device::CUDA),
                       gdbt = Tensor::zeros({32}, Device::CUDA);
      nhwc_batchnorm2d_backward(cpu, &dx, relu ? &dz : nullptr, &dg, &dbt, dy, y, x, gamma, beta,
                                sm, si, 1e-5f, st);
      nhwc_batchnorm2d_backward(gpu, &gdx, relu ? &gdz : nullptr, &gdg, &gdbt, both(dy), gy, gx,
                                ggamma, gbeta, gsm, gsi, 1e-5f, gst);
      EXPECT_LT(rel_l2(host(gdx), host(dx)), bn_tol) << "dx";
      EXPECT_LT(rel_l2(host(gdg), host(dg)), bn_tol) << "dgamma";
      EXPECT_LT(rel_l2(host(gdbt), host(dbt)), bn_tol) << "dbeta";
      if (relu) {
        EXPECT_LT(rel_l2(host(gdz), host(dz)), bn_tol) << "dz";
      }
    }
    {
      const Tensor w = test::random_tensor({32, 32, 3, 3}, 46, -0.1f, 0.1f);
      const Tensor mean = test::random_tensor({32}, 47),
                   var = test::random_tensor({32}, 48, 0.5f, 2.f);
      for (int form = 0; form < 3; ++form) {
        const bool relu = form > 0, with_res = form == 2;
        Tensor y, gy;
        nhwc_conv2d_bn_eval_forward(cpu, y, x, w, gamma, beta, mean, var, 1e-5f,
                                    with_res ? &res : nullptr, relu, Conv2dParams{1, 1, 1, 1});
        const Tensor gres = both(res);
        nhwc_conv2d_bn_eval_forward(gpu, gy, both(x), w.to(Device::CUDA), gamma.to(Device::CUDA),
                                    beta.to(Device::CUDA), mean.to(Device::CUDA),
                                    var.to(Device::CUDA), 1e-5f, with_res ? &gres : nullptr, relu,
                                    Conv2dParams{1, 1, 1, 1});
        EXPECT_LT(rel_l2(host(gy), host(y)), 2 * tol) << "eval conv + BN form " << form;
      }
    }
    // Max pooling (the stem's) and the half add: our kernels, exact.
    {
      MaxPoolNhwcState st, gst;
      Tensor y, gy, dx, gdx, s, gs;
      nhwc_maxpool2d_forward(cpu, y, x, 3, 2, 1, st);
      nhwc_maxpool2d_forward(gpu, gy, both(x), 3, 2, 1, gst);
      EXPECT_EQ(host(gy), host(y)) << "max pooling forward";
      const Tensor dy = random_half(cpu, y.shape(), 49);
      nhwc_maxpool2d_backward(cpu, dx, dy, xs, 3, 2, 1, st);
      nhwc_maxpool2d_backward(gpu, gdx, both(dy), xs, 3, 2, 1, gst);
      EXPECT_EQ(host(gdx), host(dx)) << "max pooling backward";
      s = Tensor(xs, Device::CPU, x.dtype(), Layout::NHWC);
      gs = Tensor(xs, Device::CUDA, x.dtype(), Layout::NHWC);
      half_nhwc_add(cpu, s, x, res);
      half_nhwc_add(gpu, gs, both(x), both(res));
      EXPECT_EQ(host(gs), host(s)) << "half add";
      // The FPN's merge (x at half lat's size) and the heads' global pooling: our kernels;
      // sums of a few values in another order, so the roundings may differ by one unit.
      const Tensor small = random_half(cpu, {4, 32, 5, 5}, 50);
      Tensor u, gu, du, gdu;
      nhwc_upsample_nearest_add_forward(cpu, u, x, small);
      nhwc_upsample_nearest_add_forward(gpu, gu, both(x), both(small));
      EXPECT_EQ(host(gu), host(u)) << "upsample + add forward (one rounding of a 2-term sum)";
      nhwc_upsample_nearest_add_backward(cpu, du, x, small);
      nhwc_upsample_nearest_add_backward(gpu, gdu, both(x), both(small));
      EXPECT_LT(rel_l2(host(gdu), host(du)), tol) << "upsample + add backward";
      Tensor pooled, gpooled, dpool, gdpool;
      nhwc_global_avgpool_forward(cpu, pooled, x);
      nhwc_global_avgpool_forward(gpu, gpooled, both(x));
      EXPECT_LT(rel_l2(host(gpooled), host(pooled)), tol) << "global average pooling";
      const Tensor drow = test::random_tensor({4, 32}, 51);
      nhwc_global_avgpool_backward(cpu, dpool, drow, xs);
      nhwc_global_avgpool_backward(gpu, gdpool, drow.to(Device::CUDA), xs);
      EXPECT_EQ(host(gdpool), host(dpool)) << "global average pooling backward";
    }
    const NhwcStats& st = nhwc_stats(gpu);
    std::printf("[ info ] %s on the GPU: %lld native ops, %lld twin fallbacks\n", precision_name(p),
                static_cast<long long>(st.native_ops), static_cast<long long>(st.twin_ops));
  }
}

}  // namespace
}  // namespace gbad
