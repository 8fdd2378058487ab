// Gate-study variants: the recall-targeted threshold and the per-class gate; the default
// per-image gate is the paper's.
#include <gtest/gtest.h>

#include "eval/gate.h"
#include "train/pipeline.h"

namespace gbad {
namespace {

TEST(Gate, RecallThresholdHandComputed) {
  const std::vector<double> d = {-1.0, 0.5, 2.0, -0.3, 1.0};  // sorted: 2, 1, .5, -.3, -1
  EXPECT_EQ(recall_threshold(d, 1.0), -1.0);                  // keep all 5
  EXPECT_EQ(recall_threshold(d, 0.8), -0.3);                  // keep 4
  EXPECT_EQ(recall_threshold(d, 0.6), 0.5);                   // keep 3
  EXPECT_EQ(recall_threshold(d, 0.5), 0.5);                   // ceil(2.5) = 3
  EXPECT_EQ(recall_threshold(d, 0.2), 2.0);                   // keep 1
  EXPECT_EQ(recall_threshold(d, 0.01), 2.0);                  // at least one
  // The share of positives at or above the threshold reaches the target.
  for (double r : {0.1, 0.3, 0.55, 0.9, 0.95}) {
    const double t = recall_threshold(d, r);
    int kept = 0;
    for (double v : d) kept += v >= t;
    EXPECT_GE(kept / 5.0, r - 1e-12) << r;
  }
  EXPECT_THROW(recall_threshold(d, 0.0), std::exception);
  EXPECT_THROW(recall_threshold({}, 0.5), std::exception);
}

TEST(Gate, PerImageIsThePapersGateAndPerClassSuppressesOnlyClaims) {
  std::vector<std::array<float, kNumClasses>> s = {{0.9f, 0.1f, 0.6f, 0.0f, 0.5f},
                                                   {0.9f, 0.1f, 0.6f, 0.0f, 0.5f}};
  const std::vector<int> anomalous = {1, -1};
  auto paper = s, per_image = s, per_class = s;
  apply_gate(paper, anomalous, 1e-4f);
  EXPECT_EQ(apply_gate_mode(per_image, anomalous, 1e-4f, GateMode::PerImage, 0.5f), 5);
  EXPECT_EQ(per_image, paper);
  EXPECT_EQ(per_image[0], s[0]);  // anomalous: kept
  // Per class: only 0.9, 0.6 and 0.5 (>= 0.5) of the normal image are suppressed.
  EXPECT_EQ(apply_gate_mode(per_class, anomalous, 1e-4f, GateMode::PerClass, 0.5f), 3);
  EXPECT_EQ(per_class[0], s[0]);
  const std::array<float, kNumClasses> want = {0.9f * 1e-4f, 0.1f, 0.6f * 1e-4f, 0.0f,
                                               0.5f * 1e-4f};
  EXPECT_EQ(per_class[1], want);
  EXPECT_EQ(parse_gate_mode("per-class"), GateMode::PerClass);
  EXPECT_THROW(parse_gate_mode("per-box"), std::exception);
}

}  // namespace
}  // namespace gbad
