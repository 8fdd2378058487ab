// Run by ctest under `mpirun -np 2` (tests/dist/CMakeLists.txt; one ctest per TEST, named
// DataParallel.<test>). Every rank also computes the single-process reference itself, so each
// compares locally and a failure on any rank fails the job.
//   * the MPI communicator's sums and broadcasts, the bucketed gradient average;
//   * the demo classifier (resnet18-fpn, width 4) trained 3 SGD steps on a global batch of 8,
//     4 images per rank: with synchronised BatchNorm it must end where one process with the
//     whole batch ends; with per-rank BatchNorm where one process ends that runs forward and
//     backward on each half-batch separately (BatchNorm normalising each half alone), adds the
//     gradients and halves them. Both reduce the gradient buckets during backward (overlap);
//   * the same training with the buckets reduced after backward instead ends with bit-identical
//     weights (the same sums of the same buckets, only started earlier).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "common/test_util.h"
#include "dist/data_parallel.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace gbad {
namespace {

DataParallel& dp_for(Context& ctx, bool sync_bn, double bucket_mb = 25, bool overlap = true) {
  static std::unique_ptr<DataParallel> dp;
  dp.reset();
  DataParallelOptions o;
  o.backend = "mpi";
  o.sync_bn = sync_bn;
  o.bucket_mb = bucket_mb;
  o.overlap = overlap;
  dp = std::make_unique<DataParallel>(launch_env(), ctx, o);
  return *dp;
}

TEST(DataParallel, AllReduceBroadcastAndBuckets) {
  Context ctx(Device::CPU, 1);
  DataParallel& dp = dp_for(ctx, false, 0.001);  // 1 KB buckets: many of them
  ASSERT_TRUE(dp.active()) << "run this binary under mpirun -np 2";
  ASSERT_EQ(dp.size(), 2);
  const int r = dp.rank();
  std::vector<double> h = {1.0 + r, 10.0 * r};
  dp.sum(h);
  EXPECT_EQ(h[0], 3.0);
  EXPECT_EQ(h[1], 10.0);
  EXPECT_EQ(dp.first_failed_rank(r != 1), 1);
  EXPECT_EQ(dp.first_failed_rank(true), -1);

  ParamStore ps;
  for (int i = 0; i < 5; ++i) ps.add_param("p" + std::to_string(i), {300 + 7 * i}, {});
  ps.add_buffer("buf", {3}, InitSpec::constant(float(r)));
  ps.finalize(Device::CPU, 100 + r);  // different weights per rank before attach
  dp.attach(ctx, ps);
  EXPECT_GT(dp.reducer()->buckets().size(), 3u);
  ParamStore ref;
  for (int i = 0; i < 5; ++i) ref.add_param("p" + std::to_string(i), {300 + 7 * i}, {});
  ref.add_buffer("buf", {3}, InitSpec::constant(0.f));
  ref.finalize(Device::CPU, 100);  // rank 0's
  EXPECT_EQ(ps.params().to_vector(), ref.params().to_vector());
  EXPECT_EQ(ps.buffers().to_vector(), ref.buffers().to_vector());
  std::vector<float> g(static_cast<size_t>(ps.num_params()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 13) * (r ? 3.f : 1.f) - float(r);
  ps.grads().set_from(g);
  dp.average_gradients(ctx);
  const std::vector<float> avg = ps.grads().to_vector();
  for (size_t i = 0; i < g.size(); ++i)
    ASSERT_EQ(avg[i], (float(i % 13) + float(i % 13) * 3.f - 1.f) / 2.f) << i;
}

struct Data {
  Tensor x, y, mask;
};

// The global batch: 8 images of 32x32, random labels (the same on every rank).
Data global_batch(int step) {
  Data d;
  d.x = test::random_tensor({8, 3, 32, 32}, 1000 + uint64_t(step), -1.f, 1.f);
  std::vector<float> y = test::random_vector(8 * 5, 2000 + uint64_t(step), 0.f, 1.f);
  for (float& v : y) v = v > 0.6f ? 1.f : 0.f;
  d.y = Tensor::from_vector(y, {8, 5});
  d.mask = Tensor::zeros({8, 5});
  d.mask.fill(1.f);
  return d;
}

Data rows(const Data& d, int64_t lo, int64_t hi) {
  return {d.x.slice0(lo, hi).clone(), d.y.slice0(lo, hi).clone(), d.mask.slice0(lo, hi).clone()};
}

ClassifierOptions demo_options() {
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  return o;
}

void step(Context& ctx, Classifier& m, const Data& d, Tensor& loss, Tensor& dlogits) {
  m.forward(ctx, d.x, true);
  m.training_loss(ctx, loss, dlogits, d.y, &d.mask);
  m.backward(ctx, dlogits);
}

// Largest |a - b| over the parameters, relative to the largest |a|.
double rel_diff(const ParamStore& a, const ParamStore& b) {
  std::vector<float> va = const_cast<ParamStore&>(a).params().to_vector();
  std::vector<float> vb = const_cast<ParamStore&>(b).params().to_vector();
  double d = 0, s = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    d = std::max(d, std::fabs(double(va[i]) - vb[i]));
    s = std::max(s, std::fabs(double(va[i])));
  }
  return d / s;
}

void train_and_compare(bool sync_bn) {
  Context ctx(Device::CPU, 1), ref_ctx(Device::CPU, 1);
  DataParallel& dp = dp_for(ctx, sync_bn);
  ASSERT_EQ(dp.size(), 2) << "run this binary under mpirun -np 2";
  Classifier model("resnet18-fpn", demo_options(), Device::CPU, 3);
  Classifier ref("resnet18-fpn", demo_options(), Device::CPU, 3);
  dp.attach(ctx, model.param_store());
  SgdConfig sc;
  sc.lr = 0.05f;
  Sgd opt(model.param_store(), sc), ref_opt(ref.param_store(), sc);
  Tensor loss({1}), dl, rloss({1}), rdl;
  const double initial = rel_diff(model.param_store(), ref.param_store());
  ASSERT_EQ(initial, 0.0);
  for (int s = 0; s < 3; ++s) {
    const Data g = global_batch(s);
    model.param_store().zero_grad();
    dp.begin_backward(ctx);
    step(ctx, model, rows(g, 4 * dp.rank(), 4 * dp.rank() + 4), loss, dl);
    EXPECT_EQ(dp.reducer()->buckets_started(), dp.reducer()->buckets().size());
    dp.average_gradients(ctx);
    opt.step(ctx);
    ParamStore& rps = ref.param_store();
    rps.zero_grad();
    if (sync_bn) {
      step(ref_ctx, ref, g, rloss, rdl);
    } else {
      step(ref_ctx, ref, rows(g, 0, 4), rloss, rdl);
      step(ref_ctx, ref, rows(g, 4, 8), rloss, rdl);
      for (float *p = rps.grads().f32(), *e = p + rps.num_params(); p < e; ++p) *p *= 0.5f;
    }
    ref_opt.step(ref_ctx);
  }
  // Tolerance: the sums over the batch run in another order (two halves, all-reduced), and
  // synchronised BatchNorm takes the variance as E[x^2] - mean^2 over the ranks in double;
  // float32 rounding, three steps of lr 0.05.
  const double d = rel_diff(model.param_store(), ref.param_store());
  EXPECT_LT(d, 2e-4) << "rank " << dp.rank();
  // ...and the steps moved the weights well beyond that tolerance.
  Classifier init("resnet18-fpn", demo_options(), Device::CPU, 3);
  EXPECT_GT(rel_diff(model.param_store(), init.param_store()), 1e-2);
}

TEST(DataParallel, SyncBatchNormMatchesOneProcessWithTheWholeBatch) {
  train_and_compare(true);
}

TEST(DataParallel, PerRankBatchNormMatchesOneProcessNormalisingEachHalf) {
  train_and_compare(false);
}

// Three steps of the demo model with 10 KB buckets, overlapped, then reduced after backward
// (--no-overlap): bit-identical weights, and every bucket started before backward returned.
std::vector<float> train_demo(Context& ctx, DataParallel& dp, size_t* started_in_backward,
                              size_t* nbuckets) {
  Classifier model("resnet18-fpn", demo_options(), Device::CPU, 3);
  dp.attach(ctx, model.param_store());
  *nbuckets = dp.reducer()->buckets().size();
  SgdConfig sc;
  sc.lr = 0.05f;
  Sgd opt(model.param_store(), sc);
  Tensor loss({1}), dl;
  *started_in_backward = 0;
  for (int s = 0; s < 3; ++s) {
    const Data g = global_batch(s);
    model.param_store().zero_grad();
    dp.begin_backward(ctx);
    step(ctx, model, rows(g, 4 * dp.rank(), 4 * dp.rank() + 4), loss, dl);
    if (dp.reducer()->armed()) *started_in_backward += dp.reducer()->buckets_started();
    dp.average_gradients(ctx);
    opt.step(ctx);
  }
  return model.param_store().params().to_vector();
}

TEST(DataParallel, OverlapGivesBitIdenticalWeightsToReducingAfterBackward) {
  size_t overlapped = 0, after = 0, nbuckets = 0;
  Context ctx(Device::CPU, 1), ctx2(Device::CPU, 1);
  DataParallel& dp = dp_for(ctx, false, 0.01, true);  // owns MPI: finalises it last
  DataParallelOptions o;
  o.backend = "mpi";
  o.bucket_mb = 0.01;
  o.overlap = false;
  DataParallel no_overlap(launch_env(), ctx2, o);
  const std::vector<float> a = train_demo(ctx, dp, &overlapped, &nbuckets);
  const std::vector<float> b = train_demo(ctx2, no_overlap, &after, &nbuckets);
  EXPECT_EQ(overlapped, 3 * nbuckets) << "buckets started during backward over 3 steps";
  EXPECT_GT(nbuckets, 4u);
  EXPECT_EQ(after, 0u);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_EQ(a[i], b[i]) << "parameter element " << i;
}

}  // namespace
}  // namespace gbad
