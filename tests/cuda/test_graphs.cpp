// The fast GPU training path's machinery on the GPU (issue 12): a CUDA graph of the whole
// training step replays to the same weights as eager steps (bit for bit, deterministic
// convolutions), a capture that cannot succeed is reported and leaves the stream usable, and
// gbad-train-cnn --cuda-graphs on / --input-copy async end where the eager, synchronous run
// ends. Skipped without a GPU (a failure with GBAD_REQUIRE_GPU=1).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/run_binary.h"
#include "core/cuda_graph.h"
#include "cuda_test_util.h"
#include "io/io.h"
#include "io/safetensors.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

// `steps` SGD steps of a small ResNet18-FPN on fixed batches; from step `capture_at` on (when
// >= 0) through one CUDA graph captured there and replayed. Returns the parameters and buffers.
void train(int steps, int capture_at, std::vector<float>* params, std::vector<float>* buffers,
           std::string* capture_error = nullptr) {
  ClassifierOptions o;
  o.width = 8;
  o.fpn_channels = 16;
  o.head_dim = 16;
  Context ctx(Device::CUDA, 5);
  if (capture_at >= 0) ctx.use_own_stream();
  Classifier m("resnet18-fpn", o, Device::CUDA, 5);
  SgdConfig sc;
  sc.momentum = 0.9f;
  Sgd opt(m.param_store(), sc);
  Tensor loss({1}, Device::CUDA), dl({8, 5}, Device::CUDA);
  // The graph reads its batch from fixed addresses: each step's batch is copied there first.
  Tensor x({8, 3, 64, 64}, Device::CUDA), t({8, 5}, Device::CUDA);
  CudaGraph graph;
  TensorStreamScope on(ctx.is_cuda() && capture_at >= 0 ? ctx.stream() : nullptr);
  auto step = [&] {
    m.param_store().zero_grad();
    const Tensor& z = m.forward(ctx, x, true);
    bce_with_logits(ctx, loss, dl, z, t);
    m.backward(ctx, dl);
    opt.step(ctx);
  };
  for (int s = 0; s < steps; ++s) {
    x.copy_from(test::random_tensor({8, 3, 64, 64}, 100 + s, -2.f, 2.f, Device::CPU));
    t.copy_from(test::random_tensor({8, 5}, 200 + s, 0.f, 1.f, Device::CPU));
    if (capture_at < 0 || s < capture_at) {
      step();
    } else if (s == capture_at) {
      graph.begin_capture(ctx.stream());
      try {
        step();
      } catch (const std::exception& e) {
        graph.abort(e.what());
      }
      if (!graph.capturing() || !graph.end_capture()) {
        if (capture_error) *capture_error = graph.reason();
        return;
      }
      graph.launch(ctx.stream());
    } else {
      graph.launch(ctx.stream());
    }
  }
  ctx.synchronize();
  *params = m.param_store().params().to_vector();
  *buffers = m.param_store().buffers().to_vector();
}

TEST(CudaGraph, ReplayGivesTheEagerWeights) {
  GBAD_REQUIRE_CUDA();
  std::vector<float> p1, b1, p2, b2;
  train(6, -1, &p1, &b1);
  std::string error;
  train(6, 2, &p2, &b2, &error);
  ASSERT_EQ(error, "") << "the training step could not be captured";
  test::expect_bitwise_equal(p2, p1, "parameters: graph replay vs eager");
  test::expect_bitwise_equal(b2, b1, "BN statistics: graph replay vs eager");
}

// A read to the host inside the capture (a loss read every step) cannot be captured: the
// failure is reported, nothing of it ran, and the stream computes correctly afterwards.
TEST(CudaGraph, AFailedCaptureIsReportedAndHarmless) {
  GBAD_REQUIRE_CUDA();
  Context ctx(Device::CUDA);
  ctx.use_own_stream();
  EXPECT_TRUE(ctx.has_own_stream());
  TensorStreamScope on(ctx.stream());
  Tensor a = Tensor::from_vector({1.f, 2.f, 3.f}, {3}).to(Device::CUDA);
  Tensor b = Tensor::from_vector({10.f, 20.f, 30.f}, {3}).to(Device::CUDA);
  CudaGraph g;
  g.begin_capture(ctx.stream());
  add_inplace(ctx, a, b);  // captured, not run
  bool ok = false;
  try {
    (void)read_scalar(a.view(0, {1}));
    ok = g.end_capture();
  } catch (const std::exception& e) {
    g.abort(e.what());
  }
  EXPECT_FALSE(ok);
  EXPECT_FALSE(g.ready());
  EXPECT_FALSE(g.capturing());
  EXPECT_NE(g.reason(), "");
  EXPECT_EQ(a.to_vector(), (std::vector<float>{1.f, 2.f, 3.f}));  // the captured add never ran
  add_inplace(ctx, a, b);
  EXPECT_EQ(a.to_vector(), (std::vector<float>{11.f, 22.f, 33.f}));
  // The legacy default stream cannot be captured.
  Context legacy(Device::CUDA);
  EXPECT_THROW(g.begin_capture(legacy.stream()), Error);
}

// ---- gbad-train-cnn ------------------------------------------------------------------------

using test::expect_same_weights;
using test::kBin;
using Result = test::CommandResult;
const auto& run = test::run_command;

// Eager + synchronous copies, graphs + asynchronous copies: the same weights, bit for bit.
TEST(CudaGraphTrain, GraphsAndAsyncInputGiveTheEagerSyncWeights) {
  GBAD_REQUIRE_CUDA();
  const fs::path root =
      fs::path(GBAD_BINARY_DIR) / "tests" / ("tmp_graphs_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  auto d = [&](const std::string& rel) { return (root / rel).string(); };
  Result r = run(kBin + "gbad-synth --out " + d("data") +
                 " --positives 24 --ratios 10 --size 64 --quiet --seed 3");
  ASSERT_EQ(r.code, 0) << r.out;
  auto train_cnn = [&](const std::string& out, const std::string& extra) {
    return run(kBin + "gbad-train-cnn --data " + d("data") + " --subset 10 --out " + d(out) +
               " --arch resnet18-fpn --width 8 --fpn-channels 16 --head-dim 16 --resize 56"
               " --crop 48 --test-size 48 --batch 8 --workers 2 --device cuda --epochs 3"
               " --schedule cosine " +  // the rate changes every step: read on the device
               extra);
  };
  r = train_cnn("eager", "--cuda-graphs off --input-copy sync");
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("graph", "--cuda-graphs on --input-copy async");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("CUDA graphs: on"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("running eagerly"), std::string::npos) << r.out;  // no failed capture
  EXPECT_NE(r.out.find(" replays"), std::string::npos) << r.out;
  expect_same_weights(d("graph/model.safetensors"), d("eager/model.safetensors"),
                      "graphs + async input vs eager + sync input");
  if (!::testing::Test::HasFailure()) fs::remove_all(root);
}

}  // namespace
}  // namespace gbad
