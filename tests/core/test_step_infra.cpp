// The CPU side of the GPU step's infrastructure: NVTX ranges and the layout-conversion count
// (core/nvtx.h), host staging buffers (core/async_copy.h), the thread's tensor stream and a
// CUDA graph's refusals (core/cuda_graph.h).
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "core/async_copy.h"
#include "core/check.h"
#include "core/cuda_graph.h"
#include "core/nvtx.h"
#include "core/tensor.h"

namespace gbad {
namespace {

TEST(StepInfra, NvtxRangesNestAndLayoutConversionsAreCounted) {
  reset_layout_conversions();
  {
    GBAD_NVTX_RANGE("outer");
    NvtxRange inner("inner");
    inner.end();
    inner.end();  // once only
    LayoutConversion a("NCHW->NHWC input");
    LayoutConversion b("NHWC->NCHW fpn");
  }
  count_layout_conversion();
  EXPECT_EQ(layout_conversions(), 3);
  std::thread t([] { LayoutConversion c("other thread"); });
  t.join();
  EXPECT_EQ(layout_conversions(), 4);
  reset_layout_conversions();
  EXPECT_EQ(layout_conversions(), 0);
}

TEST(StepInfra, HostBufferOwnsAndMoves) {
  HostBuffer a(64, false);
  ASSERT_NE(a.data(), nullptr);
  EXPECT_EQ(a.bytes(), 64u);
  EXPECT_FALSE(a.pinned());
  std::memset(a.data(), 7, 64);
  HostBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(static_cast<unsigned char*>(b.data())[63], 7);
  HostBuffer c;
  c = std::move(b);
  EXPECT_EQ(c.bytes(), 64u);
  EXPECT_EQ(HostBuffer(0, false).data(), nullptr);
#ifndef GBAD_WITH_CUDA
  EXPECT_THROW(HostBuffer(64, true), Error);
  EXPECT_THROW(CopyStream(), Error);
  EXPECT_THROW(CudaEvent(), Error);
#endif
}

TEST(StepInfra, TensorStreamScopesNestPerThread) {
  auto* s1 = reinterpret_cast<CUstream_st*>(uintptr_t(0x10));  // never used as a stream here
  auto* s2 = reinterpret_cast<CUstream_st*>(uintptr_t(0x20));
  EXPECT_EQ(tensor_stream(), nullptr);
  {
    TensorStreamScope a(s1);
    EXPECT_EQ(tensor_stream(), s1);
    {
      TensorStreamScope b(s2);
      EXPECT_EQ(tensor_stream(), s2);
      CUstream_st* other = s1;
      std::thread t([&] { other = tensor_stream(); });
      t.join();
      EXPECT_EQ(other, nullptr);  // another thread has its own
    }
    EXPECT_EQ(tensor_stream(), s1);
  }
  EXPECT_EQ(tensor_stream(), nullptr);
  // On the CPU the stream plays no part: zero, fill and copies behave as ever.
  TensorStreamScope none(nullptr);
  Tensor t({4});
  t.fill(2.f);
  Tensor u({4});
  u.copy_from(t);
  u.zero();
  EXPECT_EQ(t.to_vector(), (std::vector<float>{2.f, 2.f, 2.f, 2.f}));
  EXPECT_EQ(u.to_vector(), (std::vector<float>{0.f, 0.f, 0.f, 0.f}));
}

TEST(StepInfra, CudaGraphRefusesWhatItCannotDo) {
  CudaGraph g;
  EXPECT_FALSE(capturing_on_this_thread());
  EXPECT_FALSE(g.ready());
  EXPECT_FALSE(g.capturing());
  EXPECT_THROW(g.launch(nullptr), Error);
  EXPECT_THROW(g.begin_capture(nullptr), Error);  // the legacy stream, or no CUDA at all
  g.abort("why");
  EXPECT_EQ(g.reason(), "why");
  EXPECT_FALSE(g.capturing());
  EXPECT_FALSE(capturing_on_this_thread());
}

}  // namespace
}  // namespace gbad
