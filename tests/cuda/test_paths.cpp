// The CUDA paths no other test reaches (arguments left out, eval modes, zero sizes, a plan cache
// after a batch-size change) against the CPU, and empty batches: the CPU part runs everywhere,
// the comparison with CUDA where a GPU is present.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda_test_util.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/pooling.h"
#include "nn/layers.h"

namespace gbad {
namespace {

using test::expect_bitwise_equal;
using test::expect_close_to_max;
using test::random_tensor;

Tensor gpu(const Tensor& t) {
  return t.to(Device::CUDA);
}

// Runs `f` on a CPU context, then (where a GPU is usable) on a CUDA context with the same
// inputs, and compares the tensors `f` returns. The CPU half runs on every machine.
void both(const std::function<std::vector<Tensor>(Context&, Device)>& f, double rel,
          const std::string& what) {
  Context cc(Device::CPU, 1);
  std::vector<Tensor> a = f(cc, Device::CPU);
  GBAD_REQUIRE_CUDA();
  Context gc(Device::CUDA, 1);
  std::vector<Tensor> b = f(gc, Device::CUDA);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    expect_close_to_max(b[i], a[i], rel, what + " output " + std::to_string(i));
}

TEST(CudaVsCpu, PathConvBackwardWithoutDxAndBiasOnly) {
  const Shape xs = {3, 5, 11, 9}, ws = {7, 5, 3, 3};
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  both(
      [&](Context& ctx, Device d) {
        Tensor x = random_tensor(xs, 1, -1, 1, d), w = random_tensor(ws, 2, -1, 1, d);
        Tensor dy = random_tensor(conv2d_output_shape(xs, ws, p), 3, -1, 1, d);
        Tensor dw = random_tensor(ws, 4, -1, 1, d), db = random_tensor({7}, 5, -1, 1, d);
        conv2d_backward(ctx, nullptr, &dw, &db, dy, x, w, p);  // no dx: accumulates dw, db
        Tensor db_only = random_tensor({7}, 6, -1, 1, d);
        conv2d_backward(ctx, nullptr, nullptr, &db_only, dy, x, w, p);
        return std::vector<Tensor>{dw, db, db_only};
      },
      1e-5, "conv backward without dx");
}

TEST(CudaVsCpu, PathBatchNormBackwardWithoutDx) {
  const Shape s = {4, 6, 5, 7}, c = {6};
  both(
      [&](Context& ctx, Device d) {
        Tensor x = random_tensor(s, 1, -1, 2, d), g = random_tensor(c, 2, 0.5f, 1.5f, d),
               b = random_tensor(c, 3, -1, 1, d), rm = Tensor::zeros(c, d), rv(c, d), y(s, d),
               sm(c, d), si(c, d);
        rv.fill(1.f);
        batchnorm2d_forward_train(ctx, y, sm, si, rm, rv, x, g, b, 1e-5f, 0.1f);
        Tensor dy = random_tensor(s, 4, -1, 1, d);
        Tensor dg = random_tensor(c, 5, -1, 1, d), db = random_tensor(c, 6, -1, 1, d);
        batchnorm2d_backward(ctx, nullptr, &dg, &db, dy, x, g, sm, si, 1e-5f);
        Tensor dg2 = random_tensor(c, 7, -1, 1, d), db2 = random_tensor(c, 8, -1, 1, d);
        batchnorm2d_backward_eval(ctx, nullptr, &dg2, &db2, dy, x, g, rm, rv, 1e-5f);
        return std::vector<Tensor>{dg, db, dg2, db2};
      },
      1e-5, "batchnorm backward without dx");
}

TEST(CudaVsCpu, PathLinearWithoutBias) {
  both(
      [&](Context& ctx, Device d) {
        Tensor x = random_tensor({9, 13}, 1, -1, 1, d), w = random_tensor({6, 13}, 2, -1, 1, d);
        Tensor y({9, 6}, d);
        linear_forward(ctx, y, x, w, nullptr);
        Tensor dy = random_tensor({9, 6}, 3, -1, 1, d), dx({9, 13}, d),
               dw = random_tensor({6, 13}, 4, -1, 1, d);
        linear_backward(ctx, &dx, &dw, nullptr, dy, x, w);
        return std::vector<Tensor>{y, dx, dw};
      },
      1e-5, "linear without bias");
}

TEST(CudaVsCpu, PathGemmPaddedLeadingDimensionsAndZeroSizes) {
  struct Case {
    int64_t m, n, k;
    float beta;
  };
  for (const Case cs : {Case{7, 5, 3, 0.f}, Case{7, 5, 3, 0.5f}, Case{0, 5, 3, 0.5f},
                        Case{7, 0, 3, 0.5f}, Case{7, 5, 0, 0.5f}, Case{7, 5, 0, 0.f}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb) {
        const int64_t pad = 3;  // every row stored with 3 unused trailing values
        const int64_t a_rows = ta ? cs.k : cs.m, a_cols = ta ? cs.m : cs.k;
        const int64_t b_rows = tb ? cs.n : cs.k, b_cols = tb ? cs.k : cs.n;
        const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = cs.n + pad;
        both(
            [&](Context& ctx, Device d) {
              Tensor A = random_tensor({std::max<int64_t>(a_rows, 1) * lda}, 1, -1, 1, d);
              Tensor B = random_tensor({std::max<int64_t>(b_rows, 1) * ldb}, 2, -1, 1, d);
              Tensor C = random_tensor({std::max<int64_t>(cs.m, 1) * ldc}, 3, -1, 1, d);
              gemm(ctx, ta, tb, cs.m, cs.n, cs.k, 1.5f, A.f32(), lda, B.f32(), ldb, cs.beta,
                   C.f32(), ldc);
              return std::vector<Tensor>{C};  // padding must be untouched too
            },
            1e-5,
            "gemm m" + std::to_string(cs.m) + " n" + std::to_string(cs.n) + " k" +
                std::to_string(cs.k) + " ta" + std::to_string(ta) + " tb" + std::to_string(tb));
      }
}

TEST(CudaVsCpu, PathSgdWithoutMomentum) {
  both(
      [&](Context& ctx, Device d) {
        Tensor p = random_tensor({1000}, 1, -1, 1, d), g = random_tensor({1000}, 2, -1, 1, d);
        Tensor none;  // no momentum buffer at all
        for (int64_t step = 1; step <= 3; ++step) sgd_step(ctx, p, g, none, step, 0.1f, 0.f, 1e-2f);
        return std::vector<Tensor>{p};
      },
      1e-6, "sgd without momentum");
}

TEST(CudaVsCpu, PathDropoutEvalIsIdentity) {
  both(
      [&](Context& ctx, Device d) {
        Dropout drop(0.4f);
        drop.set_training(false);
        Tensor x = random_tensor({6, 50}, 1, -1, 1, d), dy = random_tensor({6, 50}, 2, -1, 1, d);
        Tensor y = drop.forward(ctx, x).clone();
        Tensor dx = drop.backward(ctx, dy).clone();
        expect_bitwise_equal(y.to_vector(), x.to_vector(), "eval dropout forward");
        expect_bitwise_equal(dx.to_vector(), dy.to_vector(), "eval dropout backward");
        return std::vector<Tensor>{y, dx};
      },
      0.0, "dropout eval");
}

// The cuDNN plan cache is keyed by shape: a batch-size change must build a new plan, and going
// back must reuse the old one correctly. In both algorithm-choice modes.
TEST(CudaVsCpu, PathConvPlanCacheAfterBatchSizeChange) {
  GBAD_REQUIRE_CUDA();
  for (ConvAlgo mode : {ConvAlgo::Deterministic, ConvAlgo::Fastest}) {
    Context cc(Device::CPU, 1), gc(Device::CUDA, 1);
    gc.set_conv_algo(mode);
    ParamStore pc, pg;
    Conv2d lc(pc, "c", 8, 16, 3, 2, 1, true), lg(pg, "c", 8, 16, 3, 2, 1, true);
    pc.finalize(Device::CPU, 3);
    pg.finalize(Device::CUDA, 3);
    for (int64_t n : {4, 2, 5, 4}) {
      Tensor x = random_tensor({n, 8, 17, 15}, uint64_t(n));
      pc.zero_grad();
      pg.zero_grad();
      const std::string what = std::string(conv_algo_name(mode)) + " batch " + std::to_string(n);
      expect_close_to_max(lg.forward(gc, gpu(x)), lc.forward(cc, x), 1e-5, what + " y");
      Tensor dy = random_tensor({n, 16, 9, 8}, uint64_t(n) + 10);
      expect_close_to_max(lg.backward(gc, gpu(dy)), lc.backward(cc, dy), 1e-5, what + " dx");
      expect_close_to_max(pg.grads(), pc.grads(), 1e-5, what + " dw, db");
    }
  }
}

// ---- empty batches ---------------------------------------------------------------------------

// Every op on a batch of zero images/rows, on ctx's device. Returns what must be the same on
// both devices: the gradients that accumulate (unchanged by an empty batch), the losses.
std::vector<Tensor> empty_batch_ops(Context& ctx) {
  const Device d = ctx.device();
  std::vector<Tensor> keep;
  // Convolution.
  Conv2dParams p;
  p.pad_h = p.pad_w = 1;
  Tensor x({0, 3, 8, 8}, d), w = random_tensor({4, 3, 3, 3}, 1, -1, 1, d), y({0, 4, 8, 8}, d);
  Tensor bias = random_tensor({4}, 2, -1, 1, d);
  conv2d_forward(ctx, y, x, w, &bias, p);
  Tensor dx({0, 3, 8, 8}, d), dw = random_tensor({4, 3, 3, 3}, 3, -1, 1, d),
                              db = random_tensor({4}, 4, -1, 1, d);
  conv2d_backward(ctx, &dx, &dw, &db, y, x, w, p);
  keep.insert(keep.end(), {dw, db});
  // BatchNorm: eval forward, both backwards (training forward refuses one value per channel on
  // both backends, tested below).
  Tensor g = random_tensor({3}, 5, 0.5f, 1.5f, d), b = random_tensor({3}, 6, -1, 1, d),
         rm = Tensor::zeros({3}, d), rv({3}, d), yb({0, 3, 8, 8}, d);
  rv.fill(1.f);
  batchnorm2d_forward_eval(ctx, yb, x, g, b, rm, rv, 1e-5f);
  Tensor dg = random_tensor({3}, 7, -1, 1, d), dbeta = random_tensor({3}, 8, -1, 1, d);
  batchnorm2d_backward(ctx, &dx, &dg, &dbeta, yb, x, g, rm, rv, 1e-5f);
  batchnorm2d_backward_eval(ctx, &dx, &dg, &dbeta, yb, x, g, rm, rv, 1e-5f);
  keep.insert(keep.end(), {dg, dbeta});
  // Linear.
  Tensor xl({0, 6}, d), wl = random_tensor({5, 6}, 9, -1, 1, d),
                        bl = random_tensor({5}, 10, -1, 1, d), yl({0, 5}, d), dxl({0, 6}, d),
                        dwl = random_tensor({5, 6}, 11, -1, 1, d),
                        dbl = random_tensor({5}, 12, -1, 1, d);
  linear_forward(ctx, yl, xl, wl, &bl);
  linear_backward(ctx, &dxl, &dwl, &dbl, yl, xl, wl);
  keep.insert(keep.end(), {dwl, dbl});
  // Elementwise, dropout, concat.
  Tensor e({0, 4}, d), e2({0, 4}, d), m({0, 4}, d), cat({0, 8}, d);
  relu_forward(ctx, e2, e);
  sigmoid_forward(ctx, e2, e);
  add(ctx, e2, e, e);
  dropout_forward(ctx, e2, m, e, 0.2f, 1, 0);
  dropout_backward(ctx, e2, e, m);
  concat1(ctx, cat, e, e2);
  split1(ctx, e, e2, cat);
  // Pooling and upsampling.
  Tensor yp({0, 3, 4, 4}, d), am({0, 3, 4, 4}, d), gap({0, 3}, d), up({0, 3, 16, 16}, d);
  maxpool2d_forward(ctx, yp, am, x, 2, 2, 0);
  maxpool2d_backward(ctx, dx, yp, am, 2, 2, 0);
  global_avgpool_forward(ctx, gap, x);
  global_avgpool_backward(ctx, dx, gap);
  upsample_nearest_forward(ctx, up, x);
  upsample_nearest_backward(ctx, dx, up);
  // Losses: BCE over no element is 0; the per-sample scores of no sample are nothing.
  Tensor loss({1}, d), z({0, 5}, d), dz({0, 5}, d), r({0}, d);
  loss.fill(42.f);
  bce_with_logits(ctx, loss, dz, z, z);
  keep.push_back(loss);
  l1_per_sample(ctx, r, e, e);
  l2_per_sample(ctx, r, e, e);
  // Training-mode BatchNorm of an empty batch is refused (no statistics), on both backends.
  Tensor sm({3}, d), si({3}, d);
  EXPECT_THROW(batchnorm2d_forward_train(ctx, yb, sm, si, rm, rv, x, g, b, 1e-5f, 0.1f), Error);
  if (d == Device::CUDA) ctx.synchronize();  // a fault would surface here
  return keep;
}

TEST(EmptyBatch, CpuOpsDoNothing) {
  Context ctx(Device::CPU, 1);
  std::vector<Tensor> out;
  ASSERT_NO_THROW(out = empty_batch_ops(ctx));
  // Accumulating gradients are unchanged, the loss is 0.
  expect_bitwise_equal(out[0].to_vector(), random_tensor({4, 3, 3, 3}, 3).to_vector(), "conv dw");
  expect_bitwise_equal(out[1].to_vector(), random_tensor({4}, 4).to_vector(), "conv db");
  expect_bitwise_equal(out[2].to_vector(), random_tensor({3}, 7).to_vector(), "bn dgamma");
  expect_bitwise_equal(out[4].to_vector(), random_tensor({5, 6}, 11).to_vector(), "linear dW");
  EXPECT_EQ(out.back().to_vector()[0], 0.f) << "BCE of an empty batch";
}

TEST(CudaVsCpu, PathEmptyBatchesAgree) {
  GBAD_REQUIRE_CUDA();
  Context cc(Device::CPU, 1), gc(Device::CUDA, 1);
  std::vector<Tensor> a = empty_batch_ops(cc);
  std::vector<Tensor> b;
  ASSERT_NO_THROW(b = empty_batch_ops(gc));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    expect_bitwise_equal(b[i].to_vector(), a[i].to_vector(),
                         "empty batch output " + std::to_string(i));
}

}  // namespace
}  // namespace gbad
