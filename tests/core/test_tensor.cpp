#include <gtest/gtest.h>

#include "common/test_util.h"
#include "core/context.h"
#include "core/philox.h"
#include "core/tensor.h"

namespace gbad {
namespace {

TEST(Tensor, ShapeAndViews) {
  Tensor t({2, 3, 4, 5});
  EXPECT_EQ(t.numel(), 120);
  EXPECT_EQ(t.n(), 2);
  EXPECT_EQ(t.c(), 3);
  EXPECT_EQ(t.h(), 4);
  EXPECT_EQ(t.w(), 5);
  EXPECT_EQ(t.size(-1), 5);
  t.fill(1.5f);
  Tensor v = t.slice0(1, 2);
  EXPECT_EQ(v.numel(), 60);
  v.fill(2.f);
  auto all = t.to_vector();
  EXPECT_EQ(all[59], 1.5f);
  EXPECT_EQ(all[60], 2.f);
  EXPECT_THROW(t.view(100, {30}), Error);
  EXPECT_THROW(Tensor({1, 2, 3, 4, 5}), Error);
  EXPECT_THROW(t.reshape({7}), Error);
}

TEST(Tensor, CopyAliasesCloneDoesNot) {
  Tensor a = Tensor::from_vector({1, 2, 3}, {3});
  Tensor alias = a;
  Tensor deep = a.clone();
  a.f32()[0] = 9;
  EXPECT_EQ(alias.to_vector()[0], 9);
  EXPECT_EQ(deep.to_vector()[0], 1);
}

TEST(Tensor, ResizeReusesStorage) {
  Tensor t({4, 4});
  const float* p = t.f32();
  t.resize({2, 4});
  EXPECT_EQ(t.f32(), p);
  t.resize({8, 8});
  EXPECT_EQ(t.numel(), 64);
}

TEST(Buffer, MoveOnly) {
  static_assert(!std::is_copy_constructible_v<Buffer>);
  Buffer a(128, Device::CPU);
  void* p = a.data();
  Buffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(a.data(), nullptr);
}

TEST(Cuda, AvailabilityNeverCrashes) {
  // On a machine without GPU or driver this is false, not a crash.
  bool ok = cuda_available();
  if (!ok) {
    EXPECT_THROW(Context(Device::CUDA), Error);
    EXPECT_THROW(Tensor({4}, Device::CUDA), Error);
  }
  SUCCEED();
}

TEST(Cuda, HostDeviceRoundTrip) {
  GBAD_REQUIRE_CUDA();
  Tensor h = test::random_tensor({3, 5}, 7);
  Tensor d = h.to(Device::CUDA);
  Tensor back = d.to(Device::CPU);
  EXPECT_EQ(h.to_vector(), back.to_vector());
  d.fill(3.f);
  for (float v : d.to_vector()) EXPECT_EQ(v, 3.f);
}

TEST(Rng, PhiloxKnownAnswer) {
  // Random123 known-answer test for philox4x32-10: counter 0, key 0.
  U32x4 r = philox4x32(0, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
}

TEST(Rng, UniformAndNormalMoments) {
  double su = 0, sn = 0, sn2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    float u = rng_uniform(42, 3, i);
    ASSERT_GE(u, 0.f);
    ASSERT_LT(u, 1.f);
    su += u;
    float z = rng_normal(42, 4, i);
    sn += z;
    sn2 += double(z) * z;
  }
  EXPECT_NEAR(su / n, 0.5, 0.005);
  EXPECT_NEAR(sn / n, 0.0, 0.01);
  EXPECT_NEAR(sn2 / n, 1.0, 0.02);
}

TEST(Check, MessageNamesFileAndExpression) {
  try {
    GBAD_CHECK(1 == 2, "extra ", 42);
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("test_tensor.cpp:"), std::string::npos) << m;
    EXPECT_NE(m.find("1 == 2"), std::string::npos) << m;
    EXPECT_NE(m.find("extra 42"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace gbad
