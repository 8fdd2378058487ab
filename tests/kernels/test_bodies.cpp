// Each GBAD_HD body the CUDA kernels run, driven here by a CPU loop and compared with the
// independent plain-loop CPU reference: only the launch itself stays untested without a GPU.
#include <gtest/gtest.h>

#include "kernels/elementwise.h"
#include "kernels/elementwise_body.h"
#include "kernels/k2_test_util.h"
#include "kernels/loss.h"
#include "kernels/loss_body.h"
#include "kernels/optim.h"
#include "kernels/optim_body.h"
#include "kernels/pooling.h"
#include "kernels/pooling_body.h"

namespace gbad {
namespace {

using test::expect_close;
using test::random_tensor;

constexpr double kRel = 1e-6, kAbs = 1e-7;

template <class F>
std::vector<float> drive(int64_t n, F f) {
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = f(i);
  return out;
}

TEST(Bodies, Elementwise) {
  Context ctx;
  Tensor x = random_tensor({1001}, 1, -30.f, 30.f), dy = random_tensor({1001}, 2);
  const float *xp = x.f32(), *g = dy.f32();
  Tensor y({1001}), dx({1001});
  cpu::relu_forward(ctx, y, x);
  expect_close(drive(1001, [&](int64_t i) { return relu_fwd_body(xp[i]); }), y.to_vector(), 0, 0);
  cpu::relu_backward(ctx, dx, dy, y);
  expect_close(drive(1001, [&](int64_t i) { return relu_bwd_body(g[i], y.f32()[i]); }),
               dx.to_vector(), 0, 0);
  cpu::leaky_relu_forward(ctx, y, x, 0.1f);
  expect_close(drive(1001, [&](int64_t i) { return leaky_fwd_body(xp[i], 0.1f); }), y.to_vector(),
               0, 0);
  cpu::leaky_relu_backward(ctx, dx, dy, x, 0.1f);
  expect_close(drive(1001, [&](int64_t i) { return leaky_bwd_body(g[i], xp[i], 0.1f); }),
               dx.to_vector(), 0, 0);
  cpu::sigmoid_forward(ctx, y, x);
  expect_close(drive(1001, [&](int64_t i) { return sigmoid_fwd_body(xp[i]); }), y.to_vector(), kRel,
               kAbs);
  cpu::sigmoid_backward(ctx, dx, dy, y);
  expect_close(drive(1001, [&](int64_t i) { return sigmoid_bwd_body(g[i], y.f32()[i]); }),
               dx.to_vector(), kRel, kAbs);
  cpu::tanh_forward(ctx, y, x);
  expect_close(drive(1001, [&](int64_t i) { return tanh_fwd_body(xp[i]); }), y.to_vector(), kRel,
               kAbs);
  cpu::tanh_backward(ctx, dx, dy, y);
  expect_close(drive(1001, [&](int64_t i) { return tanh_bwd_body(g[i], y.f32()[i]); }),
               dx.to_vector(), kRel, kAbs);
  Tensor m({1001});
  cpu::dropout_forward(ctx, y, m, x, 0.3f, 9, 4);
  expect_close(drive(1001, [&](int64_t i) { return dropout_mask_body(9, 4, i, 0.3f); }),
               m.to_vector(), 0, 0);
}

TEST(Bodies, Concat1) {
  Context ctx;
  Tensor a = random_tensor({3, 4, 5}, 1), b = random_tensor({3, 2, 5}, 2), y({3, 6, 5});
  cpu::concat1(ctx, y, a, b);
  auto got = drive(y.numel(), [&](int64_t i) {
    int64_t src;
    return concat1_source(i, 4, 2, 5, &src) ? a.f32()[src] : b.f32()[src];
  });
  expect_close(got, y.to_vector(), 0, 0);
}

TEST(Bodies, Pooling) {
  Context ctx;
  for (int cfg = 0; cfg < 2; ++cfg) {
    const int k = cfg ? 2 : 3, s = 2, p = cfg ? 0 : 1;
    const int64_t h = 9, w = 8, ho = maxpool2d_out_size(h, k, s, p),
                  wo = maxpool2d_out_size(w, k, s, p);
    Tensor x = random_tensor({2, 3, h, w}, 3), y({2, 3, ho, wo}), am({2, 3, ho, wo});
    cpu::maxpool2d_forward(ctx, y, am, x, k, s, p);
    const PoolGeom g{h, w, ho, wo, k, s, p};
    std::vector<float> args;
    auto vals = drive(y.numel(), [&](int64_t o) {
      int32_t a;
      float v = maxpool2d_fwd_body(x.f32(), o, g, &a);
      args.push_back(maxpool_index_to_bits(a));
      return v;
    });
    expect_close(vals, y.to_vector(), 0, 0, "maxpool values");
    test::expect_bits_equal(Tensor::from_vector(args, am.shape()), am, "maxpool argmax");
    Tensor dy = random_tensor(y.shape(), 4), dx(x.shape());
    cpu::maxpool2d_backward(ctx, dx, dy, am, k, s, p);
    expect_close(
        drive(x.numel(), [&](int64_t i) { return maxpool2d_bwd_body(dy.f32(), am.f32(), i, g); }),
        dx.to_vector(), kRel, kAbs, "maxpool backward");
  }
  Tensor x = random_tensor({2, 3, 5, 7}, 5), gy({2, 3});
  cpu::global_avgpool_forward(ctx, gy, x);
  expect_close(drive(6, [&](int64_t pl) { return global_avgpool_fwd_body(x.f32(), pl, 35); }),
               gy.to_vector(), kRel, kAbs, "gap");
  for (auto [ho, wo] : {std::pair<int64_t, int64_t>{13, 9}, {3, 4}, {10, 14}}) {
    Tensor y({2, 3, ho, wo});
    cpu::upsample_nearest_forward(ctx, y, x);
    expect_close(
        drive(y.numel(),
              [&](int64_t o) { return upsample_nearest_fwd_body(x.f32(), o, 5, 7, ho, wo); }),
        y.to_vector(), 0, 0, "upsample");
    Tensor dy = random_tensor(y.shape(), 6), dx(x.shape());
    cpu::upsample_nearest_backward(ctx, dx, dy);
    expect_close(
        drive(x.numel(),
              [&](int64_t i) { return upsample_nearest_bwd_body(dy.f32(), i, 5, 7, ho, wo); }),
        dx.to_vector(), kRel, kAbs, "upsample backward");
  }
}

TEST(Bodies, Losses) {
  Context ctx;
  const int64_t n = 6, k = 5;
  Tensor z = random_tensor({n, k}, 1, -10.f, 10.f), t = random_tensor({n, k}, 2, 0.f, 1.f);
  z.f32()[0] = 100.f;
  z.f32()[1] = -100.f;
  Tensor pw = random_tensor({k}, 3, 0.5f, 4.f), loss({1}), dz({n, k});
  for (bool with_pw : {false, true}) {
    cpu::bce_with_logits(ctx, loss, dz, z, t, nullptr, with_pw ? &pw : nullptr);
    double s = 0;
    std::vector<float> g(size_t(n * k));
    for (int64_t i = 0; i < n * k; ++i) {
      LossTerm r = bce_term(z.f32()[i], t.f32()[i], with_pw ? pw.f32()[i % k] : 1.f);
      s += r.loss;
      g[size_t(i)] = r.grad / float(n * k);
    }
    EXPECT_NEAR(s / double(n * k), loss.f32()[0], 1e-5);
    expect_close(g, dz.to_vector(), 1e-5, 1e-7, "bce grad");
  }
  Tensor a = random_tensor({n, k}, 4), b = random_tensor({n, k}, 5), da({n, k}), out({n});
  const float inv = float(1.0 / double(n * k));
  cpu::l1_loss(ctx, loss, da, a, b);
  expect_close(drive(n * k, [&](int64_t i) { return l1_grad_body(a.f32()[i], b.f32()[i], inv); }),
               da.to_vector(), 0, 0, "l1 grad");
  cpu::l2_loss(ctx, loss, da, a, b);
  expect_close(drive(n * k, [&](int64_t i) { return l2_grad_body(a.f32()[i], b.f32()[i], inv); }),
               da.to_vector(), kRel, kAbs, "l2 grad");
  cpu::l1_per_sample(ctx, out, a, b);
  expect_close(
      drive(n, [&](int64_t r) { return float(l1_row_body(a.f32() + r * k, b.f32() + r * k, k)); }),
      out.to_vector(), kRel, 0, "l1 rows");
  cpu::l2_per_sample(ctx, out, a, b);
  expect_close(drive(n,
                     [&](int64_t r) {
                       return float(std::sqrt(l2_row_sq_body(a.f32() + r * k, b.f32() + r * k, k)));
                     }),
               out.to_vector(), kRel, 0, "l2 rows");
  Tensor dout = random_tensor({n}, 6);
  cpu::l2_per_sample_backward(ctx, da, dout, a, b, out);
  expect_close(drive(n * k,
                     [&](int64_t i) {
                       return l2_per_sample_bwd_body(dout.f32()[i / k], a.f32()[i], b.f32()[i],
                                                     out.f32()[i / k]);
                     }),
               da.to_vector(), 1e-5, 1e-7, "l2 rows backward");
}

TEST(Bodies, Optimisers) {
  Context ctx;
  const int64_t n = 257;
  Tensor g = random_tensor({n}, 2);
  // SGD, three steps (first, plain, Nesterov).
  Tensor p_ref = random_tensor({n}, 1), buf_ref({n});
  std::vector<float> p = p_ref.to_vector(), buf(static_cast<size_t>(n));
  for (int step = 1; step <= 3; ++step) {
    const bool nesterov = step == 3;
    cpu::sgd_step(ctx, p_ref, g, buf_ref, step, 0.1f, 0.9f, 1e-2f, 0.f, nesterov, nullptr, nullptr);
    SgdArgs a{0.1f, 0.9f, 1e-2f, 0.f, nesterov, step == 1};
    for (int64_t i = 0; i < n; ++i) sgd_body(&p[size_t(i)], g.f32()[i], &buf[size_t(i)], a);
  }
  expect_close(p, p_ref.to_vector(), kRel, kAbs, "sgd params");
  expect_close(buf, buf_ref.to_vector(), kRel, kAbs, "sgd buffer");
  // Adam / AdamW.
  for (bool decoupled : {false, true}) {
    Tensor pa = random_tensor({n}, 3), m_ref = Tensor::zeros({n}), v_ref = Tensor::zeros({n});
    std::vector<float> pb = pa.to_vector(), m(static_cast<size_t>(n)), v(static_cast<size_t>(n));
    for (int step = 1; step <= 3; ++step) {
      cpu::adam_step(ctx, pa, g, m_ref, v_ref, step, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled,
                     nullptr);
      AdamArgs a{1e-2f,
                 0.9f,
                 0.999f,
                 1e-8f,
                 0.1f,
                 float(1e-2f / (1.0 - std::pow(0.9f, step))),
                 float(std::sqrt(1.0 - std::pow(0.999f, step))),
                 decoupled};
      for (int64_t i = 0; i < n; ++i)
        adam_body(&pb[size_t(i)], g.f32()[i], &m[size_t(i)], &v[size_t(i)], a);
    }
    expect_close(pb, pa.to_vector(), 1e-5, 1e-7, "adam params");
    expect_close(m, m_ref.to_vector(), kRel, kAbs, "adam m");
    expect_close(v, v_ref.to_vector(), kRel, kAbs, "adam v");
  }
  Tensor e = random_tensor({n}, 4), ps = random_tensor({n}, 5);
  std::vector<float> eb =
      drive(n, [&](int64_t i) { return ema_body(e.f32()[i], ps.f32()[i], 0.99f); });
  cpu::ema_update(ctx, e, ps, 0.99f);
  expect_close(eb, e.to_vector(), 0, 0, "ema");
}

}  // namespace
}  // namespace gbad
