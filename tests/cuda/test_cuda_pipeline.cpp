// The GPU end to end: every phase binary and gbad-predict on --device cuda, a GPU checkpoint
// resumed on the GPU with its optimiser state, and two training runs with the default
// (deterministic) convolution choice giving bit-identical weights. Skipped without a GPU (a
// failure with GBAD_REQUIRE_GPU=1). Also the readiness checks that run on every machine: why no
// GPU is usable, device choice, --device cuda refused with the reason, GBAD_REQUIRE_GPU.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/run_binary.h"
#include "cuda_test_util.h"
#include "io/io.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "kernels/loss.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

using test::expect_same_weights;
using test::kBin;
using Result = test::CommandResult;
const auto& run = test::run_command;
const auto& scratch = test::scratch_dir;

// ---- readiness, on every machine -------------------------------------------------------------

CudaProbe good_probe() {
  CudaProbe p;
  p.built_with_cuda = true;
  p.device_count = 1;
  p.driver_version = 13000;
  p.runtime_version = 13000;
  p.cudnn_cudart_version = 13000;
  p.cudnn_version = 91900;
  p.cudnn_header_version = 91900;
  return p;
}

TEST(GpuReadiness, ReasonNamesWhatIsMissing) {
  EXPECT_EQ(cuda_unusable_reason(good_probe()), "");
  CudaProbe p = good_probe();
  p.built_with_cuda = false;
  EXPECT_NE(cuda_unusable_reason(p).find("-DGBAD_CUDA=OFF"), std::string::npos);

  p = good_probe();  // no driver at all: the runtime reports an error, the driver version 0
  p.driver_version = 0;
  p.error_name = "cudaErrorInsufficientDriver";
  std::string r = cuda_unusable_reason(p);
  EXPECT_NE(r.find("no NVIDIA driver"), std::string::npos) << r;
  EXPECT_NE(r.find("CUDA 13.0"), std::string::npos) << r;

  p = good_probe();  // an old driver
  p.driver_version = 12020;
  p.error_name = "cudaErrorInsufficientDriver";
  r = cuda_unusable_reason(p);
  EXPECT_NE(r.find("CUDA 12.2"), std::string::npos) << r;
  EXPECT_NE(r.find("CUDA 13.0"), std::string::npos) << r;
  EXPECT_NE(r.find("cudaErrorInsufficientDriver"), std::string::npos) << r;

  p = good_probe();  // a driver but no device
  p.error_name = "cudaErrorNoDevice";
  p.error_string = "no CUDA-capable device is detected";
  r = cuda_unusable_reason(p);
  EXPECT_NE(r.find("no CUDA device"), std::string::npos) << r;
  EXPECT_NE(r.find("cudaErrorNoDevice"), std::string::npos) << r;

  p = good_probe();
  p.device_count = 0;
  EXPECT_NE(cuda_unusable_reason(p).find("reports 0"), std::string::npos);

  p = good_probe();  // cuDNN built for CUDA 12
  p.cudnn_cudart_version = 12080;
  r = cuda_unusable_reason(p);
  EXPECT_NE(r.find("CUDA 12.8"), std::string::npos) << r;
  EXPECT_NE(r.find("CUDA 13.0"), std::string::npos) << r;

  p = good_probe();  // a cuDNN 8 library under a cuDNN 9 header
  p.cudnn_version = 8907;
  r = cuda_unusable_reason(p);
  EXPECT_NE(r.find("8907"), std::string::npos) << r;
  EXPECT_NE(r.find("91900"), std::string::npos) << r;
}

TEST(GpuReadiness, ThisMachineEitherHasAGpuOrSaysWhyNot) {
  const std::string why = cuda_unavailable_reason();
  EXPECT_EQ(cuda_available(), why.empty()) << why;
  if (!cuda_available()) {
    EXPECT_EQ(cuda_device_count(), 0);
    EXPECT_THROW(Context(Device::CUDA), Error);
    try {
      Context c(Device::CUDA);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(why), std::string::npos) << e.what();
    }
  }
}

TEST(GpuReadiness, ChooseDeviceSaysWhy) {
  EXPECT_EQ(choose_device("cpu").device, Device::CPU);
  EXPECT_THROW(choose_device("tpu"), Error);
  const DeviceChoice a = choose_device("auto");
  EXPECT_EQ(a.device, cuda_available() ? Device::CUDA : Device::CPU);
  EXPECT_FALSE(a.reason.empty());
  if (cuda_available()) {
    EXPECT_EQ(choose_device("cuda").device, Device::CUDA);
  } else {
    EXPECT_NE(a.reason.find(cuda_unavailable_reason()), std::string::npos) << a.reason;
    try {
      choose_device("cuda");
      ADD_FAILURE() << "--device cuda without a GPU must throw";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(cuda_unavailable_reason()), std::string::npos)
          << e.what();
    }
  }
}

TEST(GpuReadiness, ConvAlgoSettingAndEnvironment) {
  EXPECT_EQ(parse_conv_algo("deterministic"), ConvAlgo::Deterministic);
  EXPECT_EQ(parse_conv_algo("fastest"), ConvAlgo::Fastest);
  EXPECT_THROW(parse_conv_algo("fast"), Error);
  EXPECT_EQ(Context(Device::CPU).conv_algo(), ConvAlgo::Deterministic);
  ::setenv("GBAD_CONV_ALGO", "fastest", 1);
  EXPECT_EQ(Context(Device::CPU).conv_algo(), ConvAlgo::Fastest);
  ::setenv("GBAD_CONV_ALGO", "quick", 1);
  try {
    Context c(Device::CPU);
    ADD_FAILURE() << "a bad GBAD_CONV_ALGO must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GBAD_CONV_ALGO"), std::string::npos) << e.what();
  }
  ::unsetenv("GBAD_CONV_ALGO");
}

// --device cuda without a usable GPU: non-zero exit and the reason, before any data is read;
// --device auto says which device it chose and why.
TEST(GpuReadiness, DeviceCudaWithoutAGpuExitsWithTheReason) {
  fs::path dir = scratch("readiness");
  const std::string common = kBin + "gbad-train-cnn --data " + (dir / "no_data").string() +
                             " --out " + (dir / "run").string();
  Result r = run(common + " --device cuda");
  if (cuda_available()) {
    EXPECT_EQ(r.out.find("no usable GPU"), std::string::npos) << r.out;
  } else {
    EXPECT_NE(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(cuda_unavailable_reason()), std::string::npos) << r.out;
    EXPECT_FALSE(fs::exists(dir / "run")) << "nothing may be written before the device check";
  }
  r = run(common + " --device auto");
  EXPECT_NE(
      r.out.find(cuda_available() ? "device: cuda" : "device: cpu (--device auto: no usable GPU"),
      std::string::npos)
      << r.out;
  fs::remove_all(dir);
}

// GBAD_REQUIRE_GPU=1 turns the skip of a GPU test into a failure (run in a child process).
TEST(GpuReadiness, RequireGpuTurnsASkipIntoAFailure) {
  const std::string self = std::string(GBAD_BINARY_DIR) + "/tests/test_cuda_pipeline";
  const std::string filter = " --gtest_filter=CudaPipeline.TwoTrainingRunsBitIdentical";
  Result plain = run("env -u GBAD_REQUIRE_GPU " + self + filter);
  Result required = run("env GBAD_REQUIRE_GPU=1 " + self + filter);
  if (cuda_available()) {
    EXPECT_EQ(plain.code, 0) << plain.out;
    EXPECT_EQ(required.code, 0) << required.out;
  } else {
    EXPECT_EQ(plain.code, 0) << plain.out;
    EXPECT_NE(plain.out.find("SKIPPED"), std::string::npos) << plain.out;
    EXPECT_NE(required.code, 0) << required.out;
    EXPECT_NE(
        required.out.find("GBAD_REQUIRE_GPU=1 but no GPU is usable: " + cuda_unavailable_reason()),
        std::string::npos)
        << required.out;
  }
}

// ---- on the GPU --------------------------------------------------------------------------------

class CudaPipeline : public ::testing::Test {
 protected:
  void SetUp() override { GBAD_REQUIRE_CUDA(); }
  // A miniature synthetic dataset in a fresh folder.
  void make_data() {
    root_ = scratch("cuda_pipeline");
    Result r = run(kBin + "gbad-synth --out " + d("data") +
                   " --positives 24 --ratios 10 --size 64 --quiet --seed 3");
    ASSERT_EQ(r.code, 0) << r.out;
  }
  void TearDown() override {
    if (!root_.empty() && !HasFailure()) fs::remove_all(root_);
  }
  std::string d(const std::string& rel) const { return (root_ / rel).string(); }
  Result train_cnn(const std::string& out, const std::string& extra) const {
    return run(kBin + "gbad-train-cnn --data " + d("data") + " --subset 10 --out " + d(out) +
               " --arch resnet18-fpn --width 8 --fpn-channels 16 --head-dim 16 --resize 56"
               " --crop 48 --test-size 48 --batch 8 --workers 2 --device cuda " +
               extra);
  }
  fs::path root_;
};

// The same model, data and seed trained twice on one GPU with the default settings (deterministic
// convolution algorithms, deterministic reductions): bit-identical weights and BN statistics.
TEST_F(CudaPipeline, TwoTrainingRunsBitIdentical) {
  auto train = [](std::vector<float>* params, std::vector<float>* buffers) {
    ClassifierOptions o;
    o.width = 16;
    o.fpn_channels = 32;
    o.head_dim = 32;
    Classifier m("resnet18-fpn", o, Device::CUDA, 5);
    Context ctx(Device::CUDA, 5);
    ASSERT_EQ(ctx.conv_algo(), ConvAlgo::Deterministic);
    SgdConfig sc;
    Sgd opt(m.param_store(), sc);
    Tensor loss({1}, Device::CUDA), dl({8, 5}, Device::CUDA);
    for (int step = 0; step < 4; ++step) {
      Tensor x = test::random_tensor({8, 3, 96, 96}, 100 + step, -2.f, 2.f, Device::CUDA);
      Tensor t = test::random_tensor({8, 5}, 200 + step, 0.f, 1.f, Device::CUDA);
      m.param_store().zero_grad();
      const Tensor& z = m.forward(ctx, x, true);
      bce_with_logits(ctx, loss, dl, z, t);
      m.backward(ctx, dl);
      opt.step(ctx);
    }
    *params = m.param_store().params().to_vector();
    *buffers = m.param_store().buffers().to_vector();
  };
  std::vector<float> p1, b1, p2, b2;
  train(&p1, &b1);
  train(&p2, &b2);
  test::expect_bitwise_equal(p2, p1, "parameters of two identical runs");
  test::expect_bitwise_equal(b2, b1, "BN statistics of two identical runs");
}

TEST_F(CudaPipeline, EveryPhaseAndPredictOnTheGpu) {
  ASSERT_NO_FATAL_FAILURE(make_data());
  Result r = train_cnn("cnn", "--epochs 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("device: cuda"), std::string::npos) << r.out;
  EXPECT_NE(read_file(d("cnn/versions.json")).find("cudnn"), std::string::npos);
  r = run(kBin + "gbad-train-bigan --cnn " + d("cnn") + " --out " + d("gan") +
          " --negatives 60 --epochs 2 --batch 10 --lr 1e-4 --device cuda");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-train-svm --cnn " + d("cnn") + " --bigan " + d("gan") + " --out " +
          d("svm") + " --device cuda");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm") +
          " --out " + d("eval") + " --device cuda");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(d("eval/metrics.json")));
  r = run(kBin + "gbad-predict --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm") +
          " --images " + d("data/JPEGImage/P00001.jpg") + "," + d("data/JPEGImage/N0000001.jpg") +
          " --csv " + d("predict.csv") + " --device cuda");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string pred = read_file(d("predict.csv"));
  EXPECT_EQ(std::count(pred.begin(), pred.end(), '\n'), 3) << pred;

  // The GPU-trained model scores the same on the CPU (up to float rounding): eval on both.
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --no-gate --out " + d("eval_gpu") +
          " --device cuda");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --no-gate --out " + d("eval_cpu") +
          " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  const Json a = read_json_file(d("eval_gpu/metrics.json"));
  const Json b = read_json_file(d("eval_cpu/metrics.json"));
  EXPECT_NEAR(a.at("map").get<double>(), b.at("map").get<double>(), 0.5)
      << "mAP on the GPU vs the CPU";
}

// A GPU checkpoint (weights, momentum, step, RNG state) resumed on the GPU ends where an
// uninterrupted GPU run ends, bit for bit (default deterministic algorithms); and a second
// uninterrupted run gives the same bits again.
TEST_F(CudaPipeline, GpuCheckpointResumesOnTheGpu) {
  ASSERT_NO_FATAL_FAILURE(make_data());
  const std::string opts = "--epochs 2 --checkpoint-every 3 --ideal-negatives fresh";
  Result r = train_cnn("straight", opts);
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("straight2", opts);
  ASSERT_EQ(r.code, 0) << r.out;
  expect_same_weights(d("straight/model.safetensors"), d("straight2/model.safetensors"),
                      "two identical GPU runs");
  r = train_cnn("interrupted", opts + " --stop-after 5");
  ASSERT_EQ(r.code, 3) << r.out;
  r = train_cnn("interrupted", opts + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos) << r.out;
  expect_same_weights(d("straight/model.safetensors"), d("interrupted/model.safetensors"),
                      "resumed GPU run");
}

}  // namespace
}  // namespace gbad
