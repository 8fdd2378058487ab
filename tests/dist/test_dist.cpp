// dist/ without MPI: the launcher's variables, the shard of an epoch order, the gradient
// buckets, and synchronised BatchNorm's arithmetic (with a stand-in communicator whose peer
// holds the same batch, so the union's statistics are the batch's own and the result must equal
// plain BatchNorm). The multi-process tests are tests/dist/test_dist_mpi.cpp and
// test_dp_train.cpp (DataParallel.*, registered when MPI is found).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "common/test_util.h"
#include "core/comm.h"
#include "dist/data_parallel.h"
#include "dist/grad_reducer.h"
#include "dist/launch.h"
#include "kernels/batchnorm.h"
#include "nn/layers.h"

namespace gbad {
namespace {

LaunchEnv env_of(const std::map<std::string, std::string>& vars) {
  return launch_env_from([&](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

TEST(Dist, LaunchEnvFromEachLauncher) {
  EXPECT_FALSE(env_of({}).launched());
  LaunchEnv o = env_of({{"OMPI_COMM_WORLD_SIZE", "4"},
                        {"OMPI_COMM_WORLD_RANK", "3"},
                        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(o.launcher, "openmpi");
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.size, 4);
  EXPECT_EQ(o.local_rank, 1);
  EXPECT_EQ(o.local_size, 2);
  LaunchEnv s = env_of({{"SLURM_PROCID", "5"},
                        {"SLURM_NTASKS", "8"},
                        {"SLURM_LOCALID", "1"},
                        {"SLURM_TASKS_PER_NODE", "4(x2)"}});
  EXPECT_EQ(s.launcher, "slurm");
  EXPECT_EQ(s.rank, 5);
  EXPECT_EQ(s.local_size, 4);
  EXPECT_EQ(rank_prefix(s), "rank 5/8: ");
  LaunchEnv p = env_of(
      {{"PMI_SIZE", "2"}, {"PMI_RANK", "1"}, {"MPI_LOCALRANKID", "1"}, {"MPI_LOCALNRANKS", "2"}});
  EXPECT_EQ(p.launcher, "pmi");
  EXPECT_EQ(p.rank, 1);
  EXPECT_THROW(env_of({{"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "2"}}), Error);
  EXPECT_THROW(env_of({{"OMPI_COMM_WORLD_SIZE", "x"}}), Error);
}

TEST(Dist, OneGpuPerRank) {
  LaunchEnv e = env_of({{"OMPI_COMM_WORLD_SIZE", "4"},
                        {"OMPI_COMM_WORLD_RANK", "3"},
                        {"OMPI_COMM_WORLD_LOCAL_RANK", "1"},
                        {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(rank_cuda_device(e, Device::CUDA, 2), 1);
  EXPECT_EQ(rank_cuda_device(e, Device::CPU, 0), 0);
  try {
    rank_cuda_device(e, Device::CUDA, 1);
    FAIL() << "two ranks on one GPU were accepted";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("one GPU per rank"), std::string::npos) << err.what();
  }
}

TEST(Dist, ShardsTakeSlicesOfEachGlobalBatch) {
  std::vector<int64_t> order;
  for (int i = 0; i < 11; ++i) order.push_back(100 + i);
  EXPECT_EQ(shard_order(order, 4, 0, 2), (std::vector<int64_t>{100, 101, 104, 105}));
  EXPECT_EQ(shard_order(order, 4, 1, 2), (std::vector<int64_t>{102, 103, 106, 107}));
  EXPECT_EQ(shard_order(order, 4, 0, 1),
            (std::vector<int64_t>{100, 101, 102, 103, 104, 105, 106, 107}));
  EXPECT_THROW(shard_order(order, 5, 0, 2), Error);  // the global batch must divide by N
}

TEST(Dist, BucketsCoverTheGradientsInBackwardOrder) {
  ParamStore ps;
  for (int i = 0; i < 6; ++i) ps.add_param("p" + std::to_string(i), {100 * (i + 1)}, {});
  ps.add_buffer("b", {7}, {});
  ps.finalize(Device::CPU, 1);
  struct One : Communicator {
    int rank() const override { return 0; }
    int size() const override { return 1; }
    const char* backend() const override { return "single"; }
    void allreduce_sum(Context&, float*, int64_t, Device) override {}
    void allreduce_sum_host(double*, int64_t) override {}
    void broadcast(Context&, float*, int64_t, Device, int) override {}
    void barrier() override {}
  } one;
  // 500 floats: p5 (600) alone, p4 (500) alone, p3+p2 (400+300), then p1+p0 (what is left).
  GradReducer r(ps, one, 2000);
  ASSERT_EQ(r.buckets().size(), 4u);
  EXPECT_EQ(r.buckets()[0].first_entry, 5);
  EXPECT_EQ(r.buckets()[0].end, ps.num_params());
  EXPECT_EQ(r.buckets()[1].first_entry, 4);
  EXPECT_EQ(r.buckets()[2].first_entry, 2);
  EXPECT_EQ(r.buckets()[2].last_entry, 3);
  EXPECT_EQ(r.buckets()[3].begin, 0);
  for (size_t i = 1; i < r.buckets().size(); ++i)
    EXPECT_EQ(r.buckets()[i].end, r.buckets()[i - 1].begin);
}

// A peer with the same batch: every sum doubles.
struct MirrorComm : Communicator {
  int rank() const override { return 0; }
  int size() const override { return 2; }
  const char* backend() const override { return "mirror"; }
  void allreduce_sum(Context&, float* d, int64_t n, Device) override {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  }
  void allreduce_sum_host(double* d, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) d[i] *= 2;
  }
  void broadcast(Context&, float*, int64_t, Device, int) override {}
  void barrier() override {}
};

TEST(Dist, SyncBatchNormWithAMirroredPeerIsBatchNorm) {
  const int64_t n = 3, c = 4, h = 5, w = 2;
  Tensor x = test::random_tensor({n, c, h, w}, 1, -2.f, 3.f);
  Tensor dy = test::random_tensor({n, c, h, w}, 2);
  Tensor res = test::random_tensor({n, c, h, w}, 3);
  for (int variant = 0; variant < 2; ++variant) {  // forward/backward, forward_act/backward_act
    ParamStore pa, pb;
    BatchNorm2d a(pa, "bn", c), b(pb, "bn", c);
    pa.finalize(Device::CPU, 7);
    pb.finalize(Device::CPU, 7);
    pa.value(pa.at("bn.weight")).set_from({0.5f, 1.5f, -1.f, 2.f});
    pb.value(pb.at("bn.weight")).set_from({0.5f, 1.5f, -1.f, 2.f});
    pa.zero_grad();
    pb.zero_grad();
    Context plain(Device::CPU, 1), synced(Device::CPU, 1);
    MirrorComm mirror;
    synced.set_bn_comm(&mirror);
    const Tensor& ya = variant ? a.forward_act(plain, x, &res, true) : a.forward(plain, x);
    const Tensor& yb = variant ? b.forward_act(synced, x, &res, true) : b.forward(synced, x);
    const std::vector<float> va = ya.to_vector(), vb = yb.to_vector();
    for (size_t i = 0; i < va.size(); ++i) ASSERT_NEAR(va[i], vb[i], 1e-5) << "y " << i;
    // Running mean as plain; the variance is unbiased over the union (2M values, not M).
    const double m = double(n * h * w);
    const std::vector<float> rva = pa.value(pa.at("bn.running_var")).to_vector();
    const std::vector<float> rvb = pb.value(pb.at("bn.running_var")).to_vector();
    for (int64_t k = 0; k < c; ++k) {
      const double batch_var = (rva[size_t(k)] - 0.9) / 0.1 * (m - 1) / m;
      EXPECT_NEAR(rvb[size_t(k)], 0.9 + 0.1 * batch_var * 2 * m / (2 * m - 1), 1e-5);
    }
    const std::vector<float> rma = pa.value(pa.at("bn.running_mean")).to_vector();
    const std::vector<float> rmb = pb.value(pb.at("bn.running_mean")).to_vector();
    for (int64_t k = 0; k < c; ++k) EXPECT_NEAR(rma[size_t(k)], rmb[size_t(k)], 1e-7);
    const Tensor& dxa = variant ? a.backward_act(plain, dy, true) : a.backward(plain, dy);
    const Tensor& dxb = variant ? b.backward_act(synced, dy, true) : b.backward(synced, dy);
    const std::vector<float> ga = dxa.to_vector(), gb = dxb.to_vector();
    double norm = 0, err = 0;
    for (size_t i = 0; i < ga.size(); ++i) {
      norm += double(ga[i]) * ga[i];
      err += (double(ga[i]) - gb[i]) * (double(ga[i]) - gb[i]);
    }
    ASSERT_GT(norm, 0);
    EXPECT_LT(std::sqrt(err / norm), 1e-5) << "dx, variant " << variant;
    if (variant) {
      EXPECT_EQ(a.residual_grad().to_vector(), b.residual_grad().to_vector());
    }
    const std::vector<float> gwa = pa.grads().to_vector(), gwb = pb.grads().to_vector();
    for (size_t i = 0; i < gwa.size(); ++i) EXPECT_NEAR(gwa[i], gwb[i], 1e-4) << "grad " << i;
  }
}

TEST(Dist, SingleProcessHasNoCommunicator) {
  Context ctx(Device::CPU, 1);
  DataParallelOptions o;
  o.sync_bn = true;
  DataParallel dp(LaunchEnv{}, ctx, o);
  EXPECT_FALSE(dp.active());
  EXPECT_EQ(dp.size(), 1);
  EXPECT_EQ(ctx.bn_comm(), nullptr);
  EXPECT_EQ(dp.first_failed_rank(true), -1);
  EXPECT_EQ(dp.first_failed_rank(false), 0);
  EXPECT_EQ(dp.sum(2.5), 2.5);
}

}  // namespace
}  // namespace gbad
