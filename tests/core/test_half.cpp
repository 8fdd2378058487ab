// fp16 / bf16 storage conversions, pinned bit for bit on the CPU (the CUDA kernels run the same
// GBAD_HD bodies): every half value round-trips, every midpoint between neighbours rounds to
// the even one, subnormals, overflow to inf and NaN behave as IEEE 754 round-to-nearest-even.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/half.h"

namespace gbad {
namespace {

bool is_nan16(uint16_t h) {
  return (h & 0x7C00u) == 0x7C00u && (h & 0x3FFu) != 0;
}

TEST(Precision, F16KnownValues) {
  EXPECT_EQ(float_to_f16_bits(0.f), 0x0000);
  EXPECT_EQ(float_to_f16_bits(-0.f), 0x8000);
  EXPECT_EQ(float_to_f16_bits(1.f), 0x3C00);
  EXPECT_EQ(float_to_f16_bits(-2.f), 0xC000);
  EXPECT_EQ(float_to_f16_bits(65504.f), 0x7BFF);     // largest finite
  EXPECT_EQ(float_to_f16_bits(65519.996f), 0x7BFF);  // just below the midpoint
  EXPECT_EQ(float_to_f16_bits(65520.f), 0x7C00);     // midpoint ties to even: inf
  EXPECT_EQ(float_to_f16_bits(1e9f), 0x7C00);
  EXPECT_EQ(float_to_f16_bits(-std::numeric_limits<float>::infinity()), 0xFC00);
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.f, -14)), 0x0400);      // smallest normal
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.f, -24)), 0x0001);      // smallest subnormal
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.f, -25)), 0x0000);      // tie to even (zero)
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1.5f, -25)), 0x0001);     // above the tie
  EXPECT_EQ(float_to_f16_bits(std::ldexp(3.f, -25)), 0x0002);      // 1.5 ulp ties to even (2)
  EXPECT_EQ(float_to_f16_bits(std::ldexp(1023.5f, -24)), 0x0400);  // rounds up into normals
  EXPECT_EQ(float_to_f16_bits(1e-10f), 0x0000);
  EXPECT_EQ(float_to_f16_bits(-1e-10f), 0x8000);
  EXPECT_TRUE(is_nan16(float_to_f16_bits(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(f16_bits_to_float(0x7E00)));
  EXPECT_EQ(f16_bits_to_float(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(f16_bits_to_float(0x3555), 0.333251953125f);
}

TEST(Precision, F16EveryValueRoundTrips) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t b = static_cast<uint16_t>(h);
    const float f = f16_bits_to_float(b);
    if (is_nan16(b)) {
      EXPECT_TRUE(std::isnan(f));
      EXPECT_TRUE(is_nan16(float_to_f16_bits(f)));
      continue;
    }
    ASSERT_EQ(float_to_f16_bits(f), b) << "half 0x" << std::hex << h;
  }
}

TEST(Precision, F16MidpointsTieToEven) {
  // Between each pair of neighbouring positive finite halves: the midpoint goes to the even
  // one, one float above it to the upper, one float below it to the lower.
  for (uint16_t lo = 0; lo < 0x7BFF; ++lo) {
    const uint16_t hi = static_cast<uint16_t>(lo + 1);
    const double mid = (double(f16_bits_to_float(lo)) + double(f16_bits_to_float(hi))) / 2;
    const float m = static_cast<float>(mid);
    ASSERT_EQ(double(m), mid);  // exact in float
    const uint16_t even = (lo & 1u) ? hi : lo;
    ASSERT_EQ(float_to_f16_bits(m), even) << "lo 0x" << std::hex << lo;
    ASSERT_EQ(float_to_f16_bits(std::nextafter(m, 1e9f)), hi);
    ASSERT_EQ(float_to_f16_bits(std::nextafter(m, 0.f)), lo);
    ASSERT_EQ(float_to_f16_bits(-m), static_cast<uint16_t>(even | 0x8000u));
  }
}

TEST(Precision, Bf16KnownValuesAndTies) {
  EXPECT_EQ(float_to_bf16_bits(1.f), 0x3F80);
  EXPECT_EQ(float_to_bf16_bits(-0.f), 0x8000);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::max()), 0x7F80);  // rounds to inf
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(float_to_bf16_bits(std::numeric_limits<float>::denorm_min()), 0x0000);
  EXPECT_EQ(float_to_bf16_bits(f32_from_bits(0x00018000u)), 0x0002);    // subnormal tie, odd up
  EXPECT_EQ(float_to_bf16_bits(f32_from_bits(0x3F808000u)), 0x3F80);    // tie, even stays
  EXPECT_EQ(float_to_bf16_bits(f32_from_bits(0x3F818000u)), 0x3F82);    // tie, odd rounds up
  EXPECT_EQ(float_to_bf16_bits(f32_from_bits(0x3F808001u)), 0x3F81);    // above the tie
  const uint16_t nan = float_to_bf16_bits(f32_from_bits(0x7F800001u));  // signalling NaN
  EXPECT_TRUE((nan & 0x7F80u) == 0x7F80u && (nan & 0x7Fu) != 0);        // stays NaN, not inf
  EXPECT_TRUE(std::isnan(bf16_bits_to_float(nan)));
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t b = static_cast<uint16_t>(h);
    const float f = bf16_bits_to_float(b);
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_bf16_bits(f), b) << "bf16 0x" << std::hex << h;
  }
}

TEST(Precision, RoundHelpersAreIdempotent) {
  for (float v : {0.1f, -3.14159f, 1e-6f, 70000.f, 1e-30f}) {
    EXPECT_EQ(round_to_f16(round_to_f16(v)), round_to_f16(v));
    EXPECT_EQ(round_to_bf16(round_to_bf16(v)), round_to_bf16(v));
  }
  EXPECT_TRUE(std::isinf(round_to_f16(70000.f)));
  EXPECT_EQ(round_to_f16(0.1f), 0.0999755859375f);
  EXPECT_EQ(round_to_bf16(0.1f), 0.10009765625f);
}

}  // namespace
}  // namespace gbad
