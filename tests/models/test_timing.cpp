// CPU timings for the report (not a unit test: disabled, never run by ctest). Run with
//   build/tests/test_models --gtest_also_run_disabled_tests --gtest_filter='Timing.*'
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "model_test_util.h"
#include "models/classifier.h"

namespace gbad {
namespace {

void time_model(const std::string& arch, const ClassifierOptions& o, int64_t n, int64_t s,
                int reps) {
  Context ctx(Device::CPU, 1);
  Classifier m(arch, o, Device::CPU, 1);
  Tensor x = test::random_tensor({n, 3, s, s}, 2);
  Tensor dl = test::random_tensor({n, o.num_classes}, 3);
  m.forward(ctx, x, true);  // warm-up: allocates activations
  m.backward(ctx, dl);
  using clock = std::chrono::steady_clock;
  double fwd = 0, fb = 0;
  for (int r = 0; r < reps; ++r) {
    auto t0 = clock::now();
    m.forward(ctx, x, true);
    auto t1 = clock::now();
    m.backward(ctx, dl);
    auto t2 = clock::now();
    fwd += std::chrono::duration<double>(t1 - t0).count();
    fb += std::chrono::duration<double>(t2 - t0).count();
  }
  const auto rows = m.summary(1, s, s);
  int64_t macs = 0;
  for (const auto& r : rows) macs += r.macs;
  std::printf(
      "%s width %lld %lldx%lld batch %lld (%s): forward %.1f ms/image, "
      "forward+backward %.1f ms/image (%.2f GMAC/image forward, %.1f GMAC/s)\n",
      arch.c_str(), static_cast<long long>(o.width), static_cast<long long>(s),
      static_cast<long long>(s), static_cast<long long>(n), ctx.device_description().c_str(),
      1e3 * fwd / reps / n, 1e3 * fb / reps / n, macs / 1e9, macs * n * reps / fwd / 1e9);
}

TEST(Timing, DISABLED_CpuResNet34FpnFullWidth224Batch8) {
  time_model("resnet34-fpn", ClassifierOptions{}, 8, 224, 2);
}

TEST(Timing, DISABLED_CpuDemoResNet18FpnWidth16At96Batch16) {
  ClassifierOptions o;
  o.width = 16;
  o.fpn_channels = 64;
  o.head_dim = 64;
  time_model("resnet18-fpn", o, 16, 96, 5);
}

}  // namespace
}  // namespace gbad
