// Class activation map arithmetic: Grad-CAM and classic CAM against hand-computed maps, the
// bilinear resize against PyTorch's align_corners=False rule, normalisation and overlays.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "eval/cam.h"

namespace gbad {
namespace {

TEST(Cam, GradCamHandComputed) {
  // Two channels of 1x2. dA means: ch0 = 1, ch1 = -0.5. Map = ReLU(1*A0 - 0.5*A1).
  const std::vector<float> a = {2, 1, 2, 4};    // A0 = [2, 1], A1 = [2, 4]
  const std::vector<float> da = {1, 1, -1, 0};  // mean 1 and -0.5
  CamMap m = grad_cam(a.data(), da.data(), 2, 1, 2);
  ASSERT_EQ(m.v.size(), 2u);
  EXPECT_FLOAT_EQ(m.v[0], 1.f);  // 2 - 1
  EXPECT_FLOAT_EQ(m.v[1], 0.f);  // ReLU(1 - 2)
}

TEST(Cam, ClassicCamIsTheWeightedSum) {
  const std::vector<float> a = {1, 2, 3, 4, 10, 20, 30, 40};  // 2 channels of 2x2
  const std::vector<float> w = {0.5f, -0.1f};
  CamMap m = classic_cam(a.data(), w.data(), 2, 2, 2);
  EXPECT_FLOAT_EQ(m.v[0], 0.5f - 1.f);
  EXPECT_FLOAT_EQ(m.v[3], 2.f - 4.f);
}

TEST(Cam, ResizeMatchesAlignCornersFalse) {
  CamMap m{1, 2, {0.f, 1.f}};
  CamMap r = resize_cam(m, 1, 4);
  // PyTorch F.interpolate([0, 1], size=4, mode="bilinear", align_corners=False):
  // [0, 0.25, 0.75, 1].
  ASSERT_EQ(r.v.size(), 4u);
  EXPECT_FLOAT_EQ(r.v[0], 0.f);
  EXPECT_FLOAT_EQ(r.v[1], 0.25f);
  EXPECT_FLOAT_EQ(r.v[2], 0.75f);
  EXPECT_FLOAT_EQ(r.v[3], 1.f);
  EXPECT_THROW(resize_cam(m, 0, 4), std::exception);
}

TEST(Cam, CombinePeaksWhereLevelsAgree) {
  // Two levels of different resolution, both hot in the top-left corner.
  CamMap fine{4, 4, std::vector<float>(16, 0.f)};
  fine.v[0] = 5.f;
  CamMap coarse{2, 2, {3.f, 0.f, 0.f, 0.f}};
  CamMap c = combine_cams({fine, coarse}, 8, 8);
  auto peak = std::max_element(c.v.begin(), c.v.end()) - c.v.begin();
  EXPECT_LT(peak % 8, 2);
  EXPECT_LT(peak / 8, 2);
  EXPECT_FLOAT_EQ(*std::max_element(c.v.begin(), c.v.end()), 1.f);
  EXPECT_FLOAT_EQ(*std::min_element(c.v.begin(), c.v.end()), 0.f);
  CamMap flat{2, 2, {3.f, 3.f, 3.f, 3.f}};
  normalise_cam(flat);
  for (float v : flat.v) EXPECT_EQ(v, 0.f);
}

TEST(Cam, OverlayKeepsColdPixelsAndColoursHotOnes) {
  const std::vector<uint8_t> img = {100, 100, 100, 100, 100, 100};  // 2x1 grey
  CamMap m{1, 2, {0.f, 1.f}};
  std::vector<uint8_t> out = overlay_cam(img.data(), 2, 1, m, 0.5f);
  EXPECT_EQ(out[0], 100);
  EXPECT_EQ(out[1], 100);
  EXPECT_EQ(out[2], 100);
  uint8_t hot[3];
  turbo_rgb(1.f, hot);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(out[3 + c], 0.5 * 100 + 0.5 * hot[c], 1.0);
  uint8_t cold[3];
  turbo_rgb(0.f, cold);
  EXPECT_LT(cold[0], 80);  // turbo starts dark blue-violet
  EXPECT_GT(hot[0], 100);  // and ends in dark red
  EXPECT_LT(hot[2], 40);
  EXPECT_THROW(overlay_cam(img.data(), 3, 1, m), std::exception);
}

}  // namespace
}  // namespace gbad
