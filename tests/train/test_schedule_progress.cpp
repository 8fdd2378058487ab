// Learning-rate schedules (train/schedule.h) and progress lines (train/progress.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "core/check.h"
#include "train/progress.h"
#include "train/schedule.h"

namespace gbad {
namespace {

TEST(LrSchedule, ConstantIsTheBaseEverywhere) {
  LrSchedule s("constant", 0.1f, 100, 10, 5, 0.1f);
  for (int64_t step : {0, 1, 50, 99, 100, 1000}) EXPECT_EQ(s.lr(step), 0.1f) << step;
}

TEST(LrSchedule, CosineHandValues) {
  LrSchedule s("cosine", 0.1f, 100, 10, 5, 0.1f);
  EXPECT_FLOAT_EQ(s.lr(0), 0.1f);
  EXPECT_NEAR(s.lr(50), 0.05f, 1e-7);                            // half way: half
  EXPECT_NEAR(s.lr(25), 0.05f * (1.f + std::sqrt(0.5f)), 1e-7);  // cos(pi/4)
  EXPECT_NEAR(s.lr(75), 0.05f * (1.f - std::sqrt(0.5f)), 1e-7);  // cos(3 pi/4)
  EXPECT_NEAR(s.lr(100), 0.f, 1e-7);
  for (int64_t i = 1; i <= 100; ++i) EXPECT_LT(s.lr(i), s.lr(i - 1)) << i;  // strictly falls
  // No total (e.g. zero epochs): the base.
  EXPECT_EQ(LrSchedule("cosine", 0.3f, 0, 10, 5, 0.1f).lr(7), 0.3f);
}

TEST(LrSchedule, StepDecaysEveryStepEpochs) {
  // 10 steps per epoch, decay by 0.5 every 3 epochs.
  LrSchedule s("step", 0.8f, 1000, 10, 3, 0.5f);
  EXPECT_EQ(s.lr(0), 0.8f);
  EXPECT_EQ(s.lr(29), 0.8f);  // epoch 2
  EXPECT_EQ(s.lr(30), 0.4f);  // epoch 3
  EXPECT_EQ(s.lr(59), 0.4f);
  EXPECT_EQ(s.lr(60), 0.2f);
  EXPECT_FLOAT_EQ(s.lr(95), 0.8f * 0.125f);
  // step_epochs < 1 counts as 1; no steps per epoch: the base.
  EXPECT_EQ(LrSchedule("step", 1.f, 100, 10, 0, 0.5f).lr(10), 0.5f);
  EXPECT_EQ(LrSchedule("step", 1.f, 100, 0, 1, 0.5f).lr(50), 1.f);
}

TEST(LrSchedule, UnknownNameIsAnError) {
  try {
    LrSchedule("linear", 0.1f, 10, 1, 1, 0.1f);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("unknown --schedule 'linear'"), std::string::npos) << m;
    EXPECT_NE(m.find("constant, cosine or step"), std::string::npos) << m;
  }
}

TEST(Progress, FormatDuration) {
  EXPECT_EQ(Progress::format_duration(0), "0s");
  EXPECT_EQ(Progress::format_duration(12.4), "12s");
  EXPECT_EQ(Progress::format_duration(59.6), "1m00s");  // rounds to the nearest second
  EXPECT_EQ(Progress::format_duration(185), "3m05s");
  EXPECT_EQ(Progress::format_duration(3600), "1h00m");
  EXPECT_EQ(Progress::format_duration(3725), "1h02m");
  EXPECT_EQ(Progress::format_duration(-1), "?");
  EXPECT_EQ(Progress::format_duration(NAN), "?");
  EXPECT_EQ(Progress::format_duration(INFINITY), "?");
}

TEST(Progress, FormatLine) {
  // 30 of 120 images in 10 s: 3 img/s, 90 left = 30 s.
  EXPECT_EQ(Progress::format("epoch 1/3", 30, 120, "img", 10.0, "loss 0.5"),
            "epoch 1/3 30/120 (25%) 3.0 img/s elapsed 10s eta 30s | loss 0.5");
  EXPECT_EQ(Progress::format("bigan", 5000, 5000, "vec", 125.0, ""),
            "bigan 5000/5000 (100%) 40.0 vec/s elapsed 2m05s eta 0s");
  // Nothing done yet, or no time elapsed: no rate, no ETA.
  EXPECT_EQ(Progress::format("x", 0, 10, "img", 0.0, ""), "x 0/10 (0%) 0.0 img/s elapsed 0s eta ?");
  // Unknown total.
  EXPECT_EQ(Progress::format("x", 4, 0, "img", 2.0, ""), "x 4/0 (0%) 2.0 img/s elapsed 2s eta ?");
}

TEST(Progress, WritesPlainLinesToAFileAndTheFinalLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    Progress p("job", 10, "img", f, 1e9);  // interval far away: only finish() prints
    p.update(3, "a");
    p.update(10, "b");
    p.finish("done");
    p.finish("again");  // a second finish prints nothing
  }
  std::rewind(f);
  char buf[512] = {0};
  const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string out(buf, n);
  EXPECT_EQ(out.rfind("job 10/10 (100%)", 0), 0u) << out;
  EXPECT_NE(out.find("| done\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;  // not a terminal: no redraw
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

}  // namespace
}  // namespace gbad
