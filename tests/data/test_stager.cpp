// BatchStager (data/stager.h): two slots used in turn, batches out in the order they went in,
// the same contents in every mode; the async CUDA copies give the synchronous ones' batches.
#include <gtest/gtest.h>

#include <vector>

#include "common/test_util.h"
#include "core/context.h"
#include "data/stager.h"

namespace gbad {
namespace {

// A host batch of n images (3 x s x s) whose values encode (k, element).
Batch make_batch(int k, int64_t n, int64_t s = 4) {
  Batch b;
  b.images = Tensor({n, 3, s, s});
  b.labels = Tensor({n, 5});
  b.mask = Tensor({n, 5});
  for (int64_t i = 0; i < b.images.numel(); ++i) b.images.f32()[i] = float(k) * 1000.f + float(i);
  for (int64_t i = 0; i < b.labels.numel(); ++i) {
    b.labels.f32()[i] = float((k + i) % 2);
    b.mask.f32()[i] = float((k * 3 + i) % 3 != 0);
  }
  for (int64_t i = 0; i < n; ++i) {
    b.stems.push_back("b" + std::to_string(k) + "_" + std::to_string(i));
    b.indices.push_back(k * 100 + i);
  }
  return b;
}

void expect_same(const DeviceBatch& d, const Batch& b) {
  EXPECT_EQ(d.images.shape(), b.images.shape());
  EXPECT_EQ(d.labels.shape(), b.labels.shape());
  EXPECT_EQ(d.images.to_vector(), b.images.to_vector());
  EXPECT_EQ(d.labels.to_vector(), b.labels.to_vector());
  EXPECT_EQ(d.mask.to_vector(), b.mask.to_vector());
  EXPECT_EQ(d.stems, b.stems);
  EXPECT_EQ(d.indices, b.indices);
}

// The loop of data/stager.h over batches of sizes `ns` (a smaller last one: the partial batch;
// a larger one after it: the slot grows); every batch comes out equal and in order, from the
// slots 0, 1, 0, 1, ...
void run_loop(Context& ctx, BatchStager::Mode mode, const std::vector<int64_t>& ns) {
  BatchStager st(ctx, mode);
  std::vector<Batch> in;
  for (size_t k = 0; k < ns.size(); ++k) in.push_back(make_batch(int(k), ns[k]));
  size_t next_in = 0, next_out = 0;
  while (st.can_stage() && next_in < in.size()) st.stage(in[next_in++]);
  while (!st.empty()) {
    const DeviceBatch& d = st.front();
    EXPECT_EQ(d.slot, int(next_out % 2));
    EXPECT_EQ(d.images.device(), ctx.device());
    expect_same(d, in[next_out]);
    ++next_out;
    st.release();
    if (next_in < in.size()) st.stage(in[next_in++]);
  }
  EXPECT_EQ(next_out, in.size());
}

TEST(BatchStager, SlotsInTurnBatchesInOrderOnTheCpu) {
  Context ctx;
  for (auto mode : {BatchStager::Mode::Sync, BatchStager::Mode::Async}) {
    BatchStager st(ctx, mode);
    EXPECT_FALSE(st.async());  // nothing to overlap on the CPU
    EXPECT_EQ(st.pinned_bytes(), 0u);
    run_loop(ctx, mode, {4, 4, 4, 2});
    run_loop(ctx, mode, {2, 5, 3, 6, 1});
  }
}

TEST(BatchStager, RefusesAThirdBatchAndAnEmptyFront) {
  Context ctx;
  BatchStager st(ctx, BatchStager::Mode::Async);
  EXPECT_THROW(st.front(), Error);
  EXPECT_THROW(st.release(), Error);
  Batch a = make_batch(0, 2), b = make_batch(1, 2), c = make_batch(2, 2);
  st.stage(a);
  st.stage(b);
  EXPECT_FALSE(st.can_stage());
  EXPECT_EQ(st.staged(), 2);
  EXPECT_THROW(st.stage(c), Error);
  expect_same(st.front(), a);
  st.release();
  st.stage(c);
  expect_same(st.front(), b);
  st.release();
  expect_same(st.front(), c);
  EXPECT_EQ(st.front().slot, 0);  // c took a's slot
  Batch half = make_batch(3, 2);
  half.images = Tensor({2, 3, 4, 4}, Device::CPU, DType::BF16);
  st.release();
  EXPECT_THROW(st.stage(half), Error);  // f32 only
  EXPECT_EQ(parse_input_copy("async"), BatchStager::Mode::Async);
  EXPECT_THROW(parse_input_copy("fast"), Error);
}

// The first GPU run: the asynchronous copies (page-locked, own stream, events) give the batches
// the synchronous copies give, including a partial batch and a slot that grows.
TEST(BatchStagerCuda, AsyncGivesTheSyncBatches) {
  GBAD_REQUIRE_CUDA();
  Context ctx(Device::CUDA);
  run_loop(ctx, BatchStager::Mode::Sync, {4, 4, 4, 2, 6, 3});
  BatchStager st(ctx, BatchStager::Mode::Async);
  EXPECT_TRUE(st.async());
  run_loop(ctx, BatchStager::Mode::Async, {4, 4, 4, 2, 6, 3});
  // A host batch overwritten right after stage(): the device batch keeps what was staged.
  Batch a = make_batch(7, 8, 32), keep = make_batch(7, 8, 32);
  st.stage(a);
  EXPECT_GT(st.pinned_bytes(), 0u);
  a.images.fill(-1.f);
  expect_same(st.front(), keep);
  st.release();
}

}  // namespace
}  // namespace gbad
