// The parameter-free layers of nn/layers.h: owned, reused outputs; backward through the ops;
// Dropout statistics, eval identity and determinism.
#include <gtest/gtest.h>

#include "kernels/elementwise.h"
#include "kernels/k2_test_util.h"
#include "kernels/pooling.h"
#include "nn/layers.h"

namespace gbad {
namespace {

using test::expect_close;
using test::random_tensor;

TEST(Layers, ActivationsMatchOpsAndReuseOutputs) {
  Context ctx;
  Tensor x = random_tensor({4, 6}, 1), dy = random_tensor({4, 6}, 2), ref({4, 6}), dref({4, 6});
  ReLU relu;
  const Tensor& y = relu.forward(ctx, x);
  const float* storage = y.f32();
  relu_forward(ctx, ref, x);
  EXPECT_EQ(y.to_vector(), ref.to_vector());
  relu_backward(ctx, dref, dy, ref);
  EXPECT_EQ(relu.backward(ctx, dy).to_vector(), dref.to_vector());
  EXPECT_EQ(relu.forward(ctx, x).f32(), storage);  // no reallocation in steady state
  LeakyReLU leaky(0.1f);
  leaky.forward(ctx, x);
  leaky_relu_backward(ctx, dref, dy, x, 0.1f);
  EXPECT_EQ(leaky.backward(ctx, dy).to_vector(), dref.to_vector());
  Sigmoid sig;
  sigmoid_forward(ctx, ref, x);
  EXPECT_EQ(sig.forward(ctx, x).to_vector(), ref.to_vector());
  sigmoid_backward(ctx, dref, dy, ref);
  EXPECT_EQ(sig.backward(ctx, dy).to_vector(), dref.to_vector());
  Tanh th;
  tanh_forward(ctx, ref, x);
  EXPECT_EQ(th.forward(ctx, x).to_vector(), ref.to_vector());
  tanh_backward(ctx, dref, dy, ref);
  EXPECT_EQ(th.backward(ctx, dy).to_vector(), dref.to_vector());
  th.set_input_grad(false);
  EXPECT_FALSE(th.backward(ctx, dy).defined());
}

TEST(Layers, PoolingLayers) {
  Context ctx;
  Tensor x = random_tensor({2, 3, 9, 7}, 3);
  MaxPool2d pool(3, 2, 1);
  const Tensor& y = pool.forward(ctx, x);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 5, 4}));
  const Tensor& dx = pool.backward(ctx, random_tensor(y.shape(), 4));
  EXPECT_EQ(dx.shape(), x.shape());
  GlobalAvgPool gap;
  EXPECT_EQ(gap.forward(ctx, x).shape(), (Shape{2, 3}));
  EXPECT_EQ(gap.backward(ctx, random_tensor({2, 3}, 5)).shape(), x.shape());
  Upsample up;
  EXPECT_EQ(up.forward(ctx, x, 13, 9).shape(), (Shape{2, 3, 13, 9}));
  EXPECT_EQ(up.backward(ctx, random_tensor({2, 3, 13, 9}, 6)).shape(), x.shape());
  EXPECT_THROW(up.forward(ctx, random_tensor({2, 3}, 7), 4, 4), Error);
}

TEST(Layers, DropoutStatisticsAndEvalIdentity) {
  Context ctx(Device::CPU, 77);
  Dropout drop(0.2f);
  Tensor x = Tensor::from_vector(std::vector<float>(20000, 1.f), {100, 200});
  std::vector<float> y = drop.forward(ctx, x).to_vector();
  int64_t zeros = 0;
  for (float v : y) {
    if (v == 0.f)
      ++zeros;
    else
      EXPECT_FLOAT_EQ(v, 1.25f);
  }
  EXPECT_NEAR(double(zeros) / 20000.0, 0.2, 0.015);
  // Backward uses the same mask.
  std::vector<float> dx = drop.backward(ctx, x).to_vector();
  EXPECT_EQ(dx, y);
  // A second forward draws a new mask.
  EXPECT_NE(drop.forward(ctx, x).to_vector(), y);
  // Eval mode: identity, backward identity.
  drop.set_training(false);
  Tensor r = random_tensor({3, 5}, 8);
  EXPECT_EQ(drop.forward(ctx, r).to_vector(), r.to_vector());
  EXPECT_EQ(drop.backward(ctx, r).to_vector(), r.to_vector());
}

TEST(Layers, DropoutSameSeedBitIdentical) {
  auto run = [](uint64_t seed) {
    Context ctx(Device::CPU, seed);
    Dropout drop(0.5f);
    Tensor x = random_tensor({7, 33}, 9);
    std::vector<float> out;
    for (int i = 0; i < 3; ++i) {
      auto v = drop.forward(ctx, x).to_vector();
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  };
  auto a = run(5), b = run(5), c = run(6);
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  EXPECT_NE(a, c);
}

TEST(CudaVsCpu, DropoutLayer) {
  GBAD_REQUIRE_CUDA();
  Context cctx(Device::CPU, 3), gctx(Device::CUDA, 3);
  Dropout dc(0.3f), dg(0.3f);
  Tensor x = random_tensor({16, 100}, 10);
  Tensor yc = dc.forward(cctx, x).clone();
  Tensor yg = dg.forward(gctx, x.to(Device::CUDA)).to(Device::CPU);
  test::expect_bits_equal(yc, yg, "dropout layer cpu vs cuda");
}

}  // namespace
}  // namespace gbad
