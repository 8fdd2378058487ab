// Hard-negative selection for the Bi-GAN (gate study): the top share by CNN score, the rest at
// random from the remaining pool; deterministic; 0 = a plain random draw.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/sampler.h"

namespace gbad {
namespace {

TEST(HardNegatives, TopShareThenRandomRest) {
  // Pool of 10; scores make 7, 2, 9 the three highest (in that order).
  const std::vector<float> s = {0.1f, 0.2f, 0.8f, 0.0f, 0.3f, 0.05f, 0.15f, 0.9f, 0.25f, 0.7f};
  const auto pick = select_hard_negatives(s, 6, 0.5, 4);
  ASSERT_EQ(pick.size(), 6u);
  EXPECT_EQ(pick[0], 7);
  EXPECT_EQ(pick[1], 2);
  EXPECT_EQ(pick[2], 9);
  std::set<int64_t> rest(pick.begin() + 3, pick.end());
  EXPECT_EQ(rest.size(), 3u);  // distinct, and none of the hard ones again
  for (int64_t i : rest) {
    EXPECT_TRUE(i != 7 && i != 2 && i != 9) << i;
    EXPECT_GE(i, 0);
    EXPECT_LT(i, 10);
  }
  EXPECT_EQ(select_hard_negatives(s, 6, 0.5, 4), pick);  // same seed, same draw
}

TEST(HardNegatives, AllHardIsTheTopAndNoneHardIgnoresScores) {
  const std::vector<float> s = {0.1f, 0.2f, 0.8f, 0.0f, 0.3f, 0.05f, 0.15f, 0.9f, 0.25f, 0.7f};
  EXPECT_EQ(select_hard_negatives(s, 3, 1.0, 1), (std::vector<int64_t>{7, 2, 9}));
  // Fraction 0: the draw does not depend on the scores at all.
  std::vector<float> flat(10, 0.5f);
  EXPECT_EQ(select_hard_negatives(s, 5, 0.0, 9), select_hard_negatives(flat, 5, 0.0, 9));
  // Over many seeds a random draw picks the top item about n/m of the time, the hard one always.
  int top = 0;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    auto p = select_hard_negatives(s, 2, 0.0, seed);
    top += std::count(p.begin(), p.end(), 7);
  }
  EXPECT_NEAR(top / 400.0, 0.2, 0.07);
  // Asking for more than the pool gives the whole pool; bad fractions are errors.
  EXPECT_EQ(select_hard_negatives(s, 50, 0.3, 1).size(), 10u);
  EXPECT_THROW(select_hard_negatives(s, 3, 1.5, 1), std::exception);
  // Ties among the hard: lower index first.
  EXPECT_EQ(select_hard_negatives({0.5f, 0.9f, 0.9f, 0.1f}, 2, 1.0, 1),
            (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace gbad
