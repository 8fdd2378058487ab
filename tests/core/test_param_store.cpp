#include <gtest/gtest.h>

#include <cmath>

#include "common/test_util.h"
#include "core/param_store.h"

namespace gbad {
namespace {

TEST(ParamStore, ContiguousLayoutAndViews) {
  ParamStore ps;
  auto w = ps.add_param("conv.weight", {4, 3, 3, 3}, InitSpec::kaiming_normal_fan_out(4 * 9));
  auto b = ps.add_param("conv.bias", {4}, InitSpec::zeros());
  auto rm = ps.add_buffer("bn.running_var", {4}, InitSpec::ones());
  ps.finalize(Device::CPU, 1);
  EXPECT_EQ(ps.num_params(), 4 * 27 + 4);
  EXPECT_EQ(ps.num_buffer_elements(), 4);
  EXPECT_EQ(ps.value(w).f32(), ps.params().f32());
  EXPECT_EQ(ps.value(b).f32(), ps.params().f32() + 108);
  EXPECT_EQ(ps.grad(b).f32(), ps.grads().f32() + 108);
  for (float v : ps.value(rm).to_vector()) EXPECT_EQ(v, 1.f);
  EXPECT_THROW(ps.grad(rm), Error);
  EXPECT_THROW(ps.at("nope"), Error);
  EXPECT_EQ(ps.find("conv.bias"), b);
}

TEST(ParamStore, InitStatisticsAndDeterminism) {
  auto make = [](uint64_t seed) {
    ParamStore ps;
    ps.add_param("w", {256, 64, 3, 3}, InitSpec::kaiming_normal_fan_out(256 * 9));
    ps.finalize(Device::CPU, seed);
    return ps.params().to_vector();
  };
  auto a = make(5), b = make(5), c = make(6);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  double s = 0, s2 = 0;
  for (float v : a) {
    s += v;
    s2 += double(v) * v;
  }
  double var = s2 / a.size() - (s / a.size()) * (s / a.size());
  EXPECT_NEAR(var, 2.0 / (256 * 9), 0.05 * 2.0 / (256 * 9));
}

TEST(ParamStore, ZeroGradAndDuplicateNames) {
  ParamStore ps;
  ps.add_param("a", {3}, InitSpec::ones());
  EXPECT_THROW(ps.add_param("a", {3}, InitSpec::ones()), Error);
  ps.finalize(Device::CPU, 0);
  ps.grads().fill(2.f);
  ps.zero_grad();
  for (float v : ps.grads().to_vector()) EXPECT_EQ(v, 0.f);
  EXPECT_THROW(ps.add_param("b", {1}, InitSpec::ones()), Error);
  Tensor& st = ps.state(2);
  EXPECT_EQ(st.numel(), 6);
}

}  // namespace
}  // namespace gbad
