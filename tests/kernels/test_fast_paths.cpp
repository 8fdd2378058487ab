// The CPU fast paths (what the layers call) against the double-precision reference (the
// templated cpu:: functions, the specification). Shapes are chosen so that every arrangement
// of the fast path runs: column groups of several images with a ragged last group (odd batch
// sizes, small late-layer outputs), one image per GEMM (large outputs), 1x1 convolutions that
// read x directly or through a gather, stride 2, the 7x7 stem; 1 and 2 OpenMP threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "conv_test_util.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"

namespace gbad {
namespace {

using test::to_double;

// ||got - want|| / ||want||, with ||want|| > 0: the error relative to the whole tensor.
void expect_rel_norm(const std::vector<float>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(got[i])) << what << " element " << i;
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += want[i] * want[i];
  }
  ASSERT_GT(den, 0.0) << what << ": reference is all zeros";
  EXPECT_LE(std::sqrt(num / den), tol) << what;
}

struct FastCase {
  const char* name;
  int64_t n, c, h, w, k, r, s;
  Conv2dParams p;
};

// Late demo-model layers (6x6 -> 3x3 at batch 32), layer-1 sized outputs (one image per
// GEMM), odd batches, pointwise and strided 1x1, the stem.
const std::vector<FastCase>& fast_cases() {
  static const std::vector<FastCase> c = {
      {"layer4_3x3_s2", 32, 16, 6, 6, 24, 3, 3, {2, 2, 1, 1}},
      {"late_3x3_s1_odd_batch", 7, 8, 3, 3, 12, 3, 3, {1, 1, 1, 1}},
      {"pointwise_groups", 9, 12, 4, 4, 10, 1, 1, {1, 1, 0, 0}},
      {"pointwise_large", 3, 6, 24, 24, 5, 1, 1, {1, 1, 0, 0}},
      {"downsample_1x1_s2", 5, 8, 7, 7, 16, 1, 1, {2, 2, 0, 0}},
      {"layer1_3x3_s1", 3, 4, 24, 24, 6, 3, 3, {1, 1, 1, 1}},
      {"stem_7x7_s2", 2, 3, 19, 17, 4, 7, 7, {2, 2, 3, 3}},
      {"rect_3x1_s2x1", 6, 3, 9, 5, 4, 3, 1, {2, 1, 1, 0}},
      // Stride 1 with output width = input width: the flat-shift im2col/col2im.
      {"flat_3x1_p1x0", 4, 3, 7, 5, 4, 3, 1, {1, 1, 1, 0}},
      {"flat_3x3_p0x1_fewer_rows", 3, 2, 6, 5, 3, 3, 3, {1, 1, 0, 1}},
      {"flat_5x5_p2", 2, 3, 6, 7, 4, 5, 5, {1, 1, 2, 2}},
  };
  return c;
}

std::vector<double> reference_forward(const Conv2dShape& s, const std::vector<double>& x,
                                      const std::vector<double>& w, const double* bias) {
  std::vector<double> y(size_t(s.n * s.k * s.p * s.q));
  std::vector<double> col(size_t(std::max<int64_t>(1, cpu::conv2d_col_elems(s))));
  cpu::conv2d_forward<double>(y.data(), x.data(), w.data(), bias, s, col.data());
  return y;
}

// Runs `body` with 1 and with 2 OpenMP threads (the thread split changes the groups).
template <typename F>
void for_thread_counts(F&& body) {
  const int saved = omp_get_max_threads();
  for (int t : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(t));
    omp_set_num_threads(t);
    body();
  }
  omp_set_num_threads(saved);
}

TEST(FastPath, ConvForwardMatchesReference) {
  for_thread_counts([] {
    Context ctx;
    for (const FastCase& fc : fast_cases()) {
      for (bool bias : {false, true}) {
        SCOPED_TRACE(std::string(fc.name) + (bias ? " bias" : ""));
        Tensor x = test::random_tensor({fc.n, fc.c, fc.h, fc.w}, 1);
        Tensor w = test::random_tensor({fc.k, fc.c, fc.r, fc.s}, 2);
        Tensor b = test::random_tensor({fc.k}, 3);
        const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), fc.p);
        Tensor y(conv2d_output_shape(x.shape(), w.shape(), fc.p));
        conv2d_forward(ctx, y, x, w, bias ? &b : nullptr, fc.p);
        const std::vector<double> bd = to_double(b.to_vector());
        const std::vector<double> want = reference_forward(
            s, to_double(x.to_vector()), to_double(w.to_vector()), bias ? bd.data() : nullptr);
        expect_rel_norm(y.to_vector(), want, 2e-6, fc.name);
      }
    }
  });
}

TEST(FastPath, ConvBackwardMatchesReference) {
  for_thread_counts([] {
    Context ctx;
    for (const FastCase& fc : fast_cases()) {
      SCOPED_TRACE(fc.name);
      Tensor x = test::random_tensor({fc.n, fc.c, fc.h, fc.w}, 4);
      Tensor w = test::random_tensor({fc.k, fc.c, fc.r, fc.s}, 5);
      const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), fc.p);
      Tensor dy = test::random_tensor({s.n, s.k, s.p, s.q}, 6);
      // dw and db accumulate: start from non-zero values.
      Tensor dw = test::random_tensor(w.shape(), 7), db = test::random_tensor({s.k}, 8);
      Tensor dx = test::random_tensor(x.shape(), 9);  // overwritten
      std::vector<double> want_dw = to_double(dw.to_vector()), want_db = to_double(db.to_vector());
      std::vector<double> want_dx(size_t(x.numel()));
      std::vector<double> col(size_t(std::max<int64_t>(1, cpu::conv2d_col_elems(s))));
      const std::vector<double> xd = to_double(x.to_vector()), wd = to_double(w.to_vector()),
                                dyd = to_double(dy.to_vector());
      cpu::conv2d_backward<double>(want_dx.data(), want_dw.data(), want_db.data(), dyd.data(),
                                   xd.data(), wd.data(), s, col.data());
      conv2d_backward(ctx, &dx, &dw, &db, dy, x, w, fc.p);
      expect_rel_norm(dx.to_vector(), want_dx, 2e-6, "dx");
      expect_rel_norm(dw.to_vector(), want_dw, 2e-6, "dw");
      expect_rel_norm(db.to_vector(), want_db, 2e-6, "db");
      // Filter gradient alone (no dx), as for the stem.
      Tensor dw2 = Tensor::zeros(w.shape());
      conv2d_backward(ctx, nullptr, &dw2, nullptr, dy, x, w, fc.p);
      std::vector<double> want_dw2(size_t(w.numel()), 0.0);
      cpu::conv2d_backward<double>(nullptr, want_dw2.data(), nullptr, dyd.data(), xd.data(),
                                   wd.data(), s, col.data());
      expect_rel_norm(dw2.to_vector(), want_dw2, 2e-6, "dw only");
    }
  });
}

// Eval-mode conv + BatchNorm (+ residual) (+ ReLU) against the reference conv, the reference
// BatchNorm (running statistics), then the addition and the ReLU, all in double.
TEST(FastPath, ConvBnEvalForwardMatchesReference) {
  for_thread_counts([] {
    Context ctx;
    for (const FastCase& fc : fast_cases()) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_residual = variant & 1, relu = variant & 2;
        SCOPED_TRACE(std::string(fc.name) + (with_residual ? " residual" : "") +
                     (relu ? " relu" : ""));
        Tensor x = test::random_tensor({fc.n, fc.c, fc.h, fc.w}, 10);
        Tensor w = test::random_tensor({fc.k, fc.c, fc.r, fc.s}, 11);
        Tensor gamma = test::random_tensor({fc.k}, 12, 0.5f, 1.5f);
        Tensor beta = test::random_tensor({fc.k}, 13);
        Tensor mean = test::random_tensor({fc.k}, 14);
        Tensor var = test::random_tensor({fc.k}, 15, 0.2f, 2.f);
        const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), fc.p);
        Tensor res = test::random_tensor({s.n, s.k, s.p, s.q}, 16);
        Tensor y({s.n, s.k, s.p, s.q});
        const float eps = 1e-5f;
        conv2d_bn_eval_forward(ctx, y, x, w, gamma, beta, mean, var, eps,
                               with_residual ? &res : nullptr, relu, fc.p);

        std::vector<double> conv =
            reference_forward(s, to_double(x.to_vector()), to_double(w.to_vector()), nullptr);
        std::vector<double> want(conv.size());
        const std::vector<double> g = to_double(gamma.to_vector()), b = to_double(beta.to_vector()),
                                  m = to_double(mean.to_vector()), v = to_double(var.to_vector()),
                                  r = to_double(res.to_vector());
        cpu::batchnorm2d_forward_eval<double>(want.data(), conv.data(), g.data(), b.data(),
                                              m.data(), v.data(), s.n, s.k, s.p * s.q, eps);
        for (size_t i = 0; i < want.size(); ++i) {
          if (with_residual) want[i] += r[i];
          if (relu) want[i] = std::max(want[i], 0.0);
        }
        expect_rel_norm(y.to_vector(), want, 2e-6, fc.name);
      }
    }
  });
}

TEST(FastPath, ConvBnEvalForwardRejectsBadParameters) {
  Context ctx;
  Tensor x = test::random_tensor({2, 3, 5, 5}, 1), w = test::random_tensor({4, 3, 3, 3}, 2);
  Tensor ok = Tensor::zeros({4}), bad = Tensor::zeros({3});
  Tensor y({2, 4, 5, 5}), res_bad({2, 4, 4, 4});
  const Conv2dParams p{1, 1, 1, 1};
  EXPECT_THROW(conv2d_bn_eval_forward(ctx, y, x, w, bad, ok, ok, ok, 1e-5f, nullptr, true, p),
               std::exception);
  EXPECT_THROW(conv2d_bn_eval_forward(ctx, y, x, w, ok, ok, ok, ok, 1e-5f, &res_bad, true, p),
               std::exception);
  EXPECT_THROW(conv2d_bn_eval_forward(ctx, y, x, w, ok, ok, ok, ok, 1e-5f, &y, true, p),
               std::exception);
}

// Training-mode BatchNorm (+ residual) (+ ReLU) and its backward against the double reference
// BatchNorm, then the addition and the ReLU in double. Planes longer than the backward's
// 256-element chunk, odd lengths (the accumulators' tail), and inputs with a mean far from 0
// (the one-pass variance).
TEST(FastPath, BatchNormTrainActMatchesReference) {
  struct BnCase {
    const char* name;
    int64_t n, c, h, w;
    float offset;
  };
  const BnCase cases[] = {{"small", 4, 5, 7, 6, 0.f},
                          {"long_planes", 2, 3, 20, 17, 0.f},
                          {"offset_mean", 3, 4, 5, 3, 5.f},
                          {"batch1_3x3", 1, 6, 3, 3, 0.f}};
  for_thread_counts([&] {
    Context ctx;
    for (const BnCase& bc : cases) {
      for (int variant = 0; variant < 4; ++variant) {
        const bool with_residual = variant & 1, relu = variant & 2;
        SCOPED_TRACE(std::string(bc.name) + (with_residual ? " residual" : "") +
                     (relu ? " relu" : ""));
        const Shape shape{bc.n, bc.c, bc.h, bc.w};
        const int64_t hw = bc.h * bc.w;
        Tensor x = test::random_tensor(shape, 20, bc.offset - 1.f, bc.offset + 1.f);
        Tensor gamma = test::random_tensor({bc.c}, 21, 0.5f, 1.5f);
        Tensor beta = test::random_tensor({bc.c}, 22);
        Tensor rm = test::random_tensor({bc.c}, 23),
               rv = test::random_tensor({bc.c}, 24, 0.5f, 2.f);
        Tensor res = test::random_tensor(shape, 25), dy = test::random_tensor(shape, 26);
        const std::vector<double> rm0 = to_double(rm.to_vector()), rv0 = to_double(rv.to_vector());
        Tensor y(shape), mean({bc.c}), invstd({bc.c});
        batchnorm2d_forward_train_act(ctx, y, mean, invstd, rm, rv, x, gamma, beta, 1e-5f, 0.1f,
                                      with_residual ? &res : nullptr, relu);

        const std::vector<double> xd = to_double(x.to_vector()), g = to_double(gamma.to_vector()),
                                  b = to_double(beta.to_vector()), r = to_double(res.to_vector());
        std::vector<double> want(xd.size()), wmean(size_t(bc.c)), winv(size_t(bc.c));
        std::vector<double> wrm = rm0, wrv = rv0;
        cpu::batchnorm2d_forward_train<double>(want.data(), wmean.data(), winv.data(), wrm.data(),
                                               wrv.data(), xd.data(), g.data(), b.data(), bc.n,
                                               bc.c, hw, 1e-5, 0.1);
        for (size_t i = 0; i < want.size(); ++i) {
          if (with_residual) want[i] += r[i];
          if (relu) want[i] = std::max(want[i], 0.0);
        }
        expect_rel_norm(y.to_vector(), want, 2e-6, "y");
        expect_rel_norm(mean.to_vector(), wmean, 2e-6, "save_mean");
        expect_rel_norm(invstd.to_vector(), winv, 2e-6, "save_invstd");
        expect_rel_norm(rm.to_vector(), wrm, 2e-6, "running_mean");
        expect_rel_norm(rv.to_vector(), wrv, 2e-6, "running_var");

        // Backward. The ReLU mask is the forward's (its float y): the reference uses it too.
        Tensor dx(shape), dz(shape);
        Tensor dgamma = test::random_tensor({bc.c}, 27), dbeta = test::random_tensor({bc.c}, 28);
        std::vector<double> wdg = to_double(dgamma.to_vector()), wdb = to_double(dbeta.to_vector());
        batchnorm2d_backward_act(ctx, &dx, relu ? &dz : nullptr, &dgamma, &dbeta, dy, y, x, gamma,
                                 mean, invstd, 1e-5f, relu);
        std::vector<double> gd = to_double(dy.to_vector());
        const std::vector<float> yv = y.to_vector();
        if (relu)
          for (size_t i = 0; i < gd.size(); ++i) gd[i] = yv[i] > 0.f ? gd[i] : 0.0;
        std::vector<double> wdx(xd.size());
        const std::vector<double> md = to_double(mean.to_vector()),
                                  id = to_double(invstd.to_vector());
        cpu::batchnorm2d_backward<double>(wdx.data(), wdg.data(), wdb.data(), gd.data(), xd.data(),
                                          g.data(), md.data(), id.data(), bc.n, bc.c, hw);
        expect_rel_norm(dx.to_vector(), wdx, 1e-5, "dx");
        expect_rel_norm(dgamma.to_vector(), wdg, 1e-5, "dgamma");
        expect_rel_norm(dbeta.to_vector(), wdb, 1e-5, "dbeta");
        if (relu) expect_rel_norm(dz.to_vector(), gd, 0.0, "dz");
      }
    }
  });
}

TEST(FastPath, BatchNormActRejectsBadArguments) {
  Context ctx;
  const Shape shape{2, 3, 4, 4};
  Tensor x = test::random_tensor(shape, 1), y(shape), dz(shape), bad({2, 3, 4, 5});
  Tensor c3 = Tensor::zeros({3}), m({3}), s({3}), rm = Tensor::zeros({3}), rv = Tensor::zeros({3});
  EXPECT_THROW(
      batchnorm2d_forward_train_act(ctx, y, m, s, rm, rv, x, c3, c3, 1e-5f, 0.1f, &bad, true),
      std::exception);
  EXPECT_THROW(
      batchnorm2d_forward_train_act(ctx, y, m, s, rm, rv, x, c3, c3, 1e-5f, 0.1f, &y, true),
      std::exception);
  // Without the ReLU, dL/d(residual) is dy itself: no dz.
  EXPECT_THROW(
      batchnorm2d_backward_act(ctx, &y, &dz, nullptr, nullptr, x, x, x, c3, m, s, 1e-5f, false),
      std::exception);
}

// The CUDA side of the fused ops composes the existing CUDA ops (kernels/conv2d.cpp,
// kernels/batchnorm.cpp); it must agree with the CPU fast path.
TEST(CudaVsCpu, ConvBnEvalForward) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  auto g = [](const Tensor& t) { return t.to(Device::CUDA); };
  for (const FastCase& fc : fast_cases()) {
    SCOPED_TRACE(fc.name);
    Tensor x = test::random_tensor({fc.n, fc.c, fc.h, fc.w}, 10);
    Tensor w = test::random_tensor({fc.k, fc.c, fc.r, fc.s}, 11);
    Tensor gamma = test::random_tensor({fc.k}, 12, 0.5f, 1.5f),
           beta = test::random_tensor({fc.k}, 13);
    Tensor mean = test::random_tensor({fc.k}, 14), var = test::random_tensor({fc.k}, 15, 0.2f, 2.f);
    const Conv2dShape s = conv2d_shape(x.shape(), w.shape(), fc.p);
    const Shape ys{s.n, s.k, s.p, s.q};
    Tensor res = test::random_tensor(ys, 16), gres = g(res), y(ys), gy(ys, Device::CUDA);
    conv2d_bn_eval_forward(cpu_ctx, y, x, w, gamma, beta, mean, var, 1e-5f, &res, true, fc.p);
    conv2d_bn_eval_forward(gpu_ctx, gy, g(x), g(w), g(gamma), g(beta), g(mean), g(var), 1e-5f,
                           &gres, true, fc.p);
    test::expect_close(gy.to(Device::CPU), y, test::Tol::kCudaVsCpuRel, test::Tol::kCudaVsCpuAbs,
                       "y");
  }
}

TEST(CudaVsCpu, BatchNormTrainAct) {
  GBAD_REQUIRE_CUDA();
  Context cpu_ctx, gpu_ctx(Device::CUDA);
  auto g = [](const Tensor& t) { return t.to(Device::CUDA); };
  const Shape xs{3, 5, 7, 9};
  const int64_t c = 5;
  Tensor x = test::random_tensor(xs, 1, -2.f, 3.f), dy = test::random_tensor(xs, 2);
  Tensor res = test::random_tensor(xs, 3);
  Tensor gamma = test::random_tensor({c}, 4, 0.5f, 1.5f), beta = test::random_tensor({c}, 5);
  Tensor rm = test::random_tensor({c}, 6), rv = test::random_tensor({c}, 7, 0.5f, 2.f);
  Tensor grm = g(rm), grv = g(rv), gres = g(res);
  Tensor y(xs), mean({c}), invstd({c}), dx(xs), dz(xs), dg = Tensor::zeros({c}),
                                                        db = Tensor::zeros({c});
  Tensor gy(xs, Device::CUDA), gmean({c}, Device::CUDA), ginvstd({c}, Device::CUDA),
      gdx(xs, Device::CUDA), gdz(xs, Device::CUDA), gdg = g(dg), gdb = g(db);
  batchnorm2d_forward_train_act(cpu_ctx, y, mean, invstd, rm, rv, x, gamma, beta, 1e-5f, 0.1f, &res,
                                true);
  batchnorm2d_forward_train_act(gpu_ctx, gy, gmean, ginvstd, grm, grv, g(x), g(gamma), g(beta),
                                1e-5f, 0.1f, &gres, true);
  batchnorm2d_backward_act(cpu_ctx, &dx, &dz, &dg, &db, dy, y, x, gamma, mean, invstd, 1e-5f, true);
  batchnorm2d_backward_act(gpu_ctx, &gdx, &gdz, &gdg, &gdb, g(dy), gy, g(x), g(gamma), gmean,
                           ginvstd, 1e-5f, true);
  const double rel = test::Tol::kCudaVsCpuRel, abs = test::Tol::kCudaVsCpuAbs;
  test::expect_close(gy.to(Device::CPU), y, rel, abs, "y");
  test::expect_close(grm.to(Device::CPU), rm, rel, abs, "running_mean");
  test::expect_close(grv.to(Device::CPU), rv, rel, abs, "running_var");
  test::expect_close(gdx.to(Device::CPU), dx, rel, abs, "dx");
  test::expect_close(gdz.to(Device::CPU), dz, rel, abs, "dz");
  test::expect_close(gdg.to(Device::CPU), dg, rel, abs, "dgamma");
  test::expect_close(gdb.to(Device::CPU), db, rel, abs, "dbeta");
}

}  // namespace
}  // namespace gbad
