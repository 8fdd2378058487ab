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
#include "models/classifier.h"
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

// A peer with the same batch whose sums start now and land in wait_all (as a non-blocking
// all-reduce does), logging when each bucket starts among the layers' gradient notifications.
struct Event {
  char kind;  // 'g' gradient of entry `at` written, 's' sum started at offset `at`, 'r' backward
              // returned, 'w' wait_all
  int64_t at;
};
struct LoggingComm : MirrorComm {
  std::vector<Event>* log = nullptr;
  std::vector<std::pair<float*, int64_t>> started;
  void allreduce_sum_start(Context&, float* d, int64_t n, Device) override {
    log->push_back({'s', d - base});
    started.emplace_back(d, n);
  }
  void wait_all(Context& ctx) override {
    log->push_back({'w', 0});
    for (auto& s : started) allreduce_sum(ctx, s.first, s.second, Device::CPU);
    started.clear();
  }
  float* base = nullptr;
};
struct LoggingListener : GradReadyListener {
  GradReducer* reducer = nullptr;
  std::vector<Event>* log = nullptr;
  void grad_ready(Context& ctx, const ParamStore& ps, int ref) override {
    ASSERT_EQ(&ps, &reducer->store());
    log->push_back({'g', ref});
    reducer->grad_ready(ctx, ref);
  }
};

int bucket_at(const GradReducer& r, int64_t offset) {
  for (size_t i = 0; i < r.buckets().size(); ++i)
    if (r.buckets()[i].begin == offset) return static_cast<int>(i);
  return -1;
}

// Counting: a bucket starts when its last parameter is reported, and only after the buckets
// before it; a parameter never reported (an unused head) holds its bucket until finish().
TEST(Dist, BucketsStartInOrderWhenTheirGradientsAreWritten) {
  ParamStore ps;
  for (int i = 0; i < 6; ++i) ps.add_param("p" + std::to_string(i), {100 * (i + 1)}, {});
  ps.finalize(Device::CPU, 1);
  std::vector<Event> log;
  LoggingComm comm;
  comm.log = &log;
  comm.base = ps.grads().f32();
  GradReducer r(ps, comm, 2000);  // buckets {p5}, {p4}, {p3, p2}, {p1, p0}
  ASSERT_EQ(r.buckets().size(), 4u);
  Context ctx(Device::CPU, 1);
  std::vector<float> g(static_cast<size_t>(ps.num_params()));
  for (size_t i = 0; i < g.size(); ++i) g[i] = float(i % 7) - 3.f;
  ps.grads().set_from(g);
  r.arm();
  auto started = [&] { return r.buckets_started(); };
  r.grad_ready(ctx, 5);
  EXPECT_EQ(started(), 1u);
  r.grad_ready(ctx, 3);
  r.grad_ready(ctx, 2);  // bucket 2 is complete but waits for bucket 1
  EXPECT_EQ(started(), 1u);
  r.grad_ready(ctx, 2);  // a second report before the start is harmless
  r.grad_ready(ctx, 4);
  EXPECT_EQ(started(), 3u);
  EXPECT_THROW(r.grad_ready(ctx, 4), Error);  // written again after its sum started
  r.grad_ready(ctx, 0);                       // p1 is never reported
  EXPECT_EQ(started(), 3u);
  r.finish(ctx);
  EXPECT_FALSE(r.armed());
  std::vector<int> order;
  for (const Event& e : log)
    if (e.kind == 's') order.push_back(bucket_at(r, e.at));
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(ps.grads().to_vector(), g);  // (g + g) / 2 with the mirrored peer
}

// A classifier's backward with an armed reducer: each bucket's all-reduce starts during
// backward, in order, right after its last gradient is written and while backward still writes
// others; a bucket with a parameter backward never writes (InceptionV3's auxiliary head without
// its loss) starts at the end, in order. The averaged gradients are bit-identical to reducing
// after backward. Returns how many buckets started before backward returned, of how many.
std::pair<size_t, size_t> check_overlap(const std::string& arch, int64_t width, int64_t size) {
  ClassifierOptions o;
  o.width = width;
  o.fpn_channels = 8;
  o.head_dim = 8;
  Classifier model(arch, o, Device::CPU, 3);
  ParamStore& ps = model.param_store();
  Tensor x = test::random_tensor({2, 3, size, size}, 5, -1.f, 1.f);
  Tensor y = Tensor::zeros({2, 5}), loss({1}), dl;
  y.set_from({1, 0, 0, 1, 0, 0, 1, 0, 0, 1});
  Context ctx(Device::CPU, 1);
  std::vector<Event> log;
  LoggingComm comm;
  comm.log = &log;
  comm.base = ps.grads().f32();
  GradReducer r(ps, comm, 16 * 1024);
  EXPECT_GE(r.buckets().size(), 4u) << arch;
  auto backward = [&] {
    ps.zero_grad();
    model.forward(ctx, x, true);
    model.training_loss(ctx, loss, dl, y, nullptr);
    model.backward(ctx, dl);
    log.push_back({'r', 0});
  };
  backward();  // after backward
  r.reduce(ctx);
  const std::vector<float> after = ps.grads().to_vector();
  log.clear();
  LoggingListener listen;
  listen.reducer = &r;
  listen.log = &log;
  ctx.set_grad_listener(&listen);
  r.arm();
  backward();  // overlapped
  ctx.set_grad_listener(nullptr);
  r.finish(ctx);
  EXPECT_EQ(ps.grads().to_vector(), after) << arch;

  const size_t nb = r.buckets().size();
  std::vector<size_t> start(nb, 0), last_write(nb, 0);
  std::vector<char> written(ps.entries().size(), 0);
  size_t returned = 0, waited = 0, next = 0, last_any = 0;
  for (size_t k = 0; k < log.size(); ++k) {
    const Event& e = log[k];
    if (e.kind == 's') {
      EXPECT_EQ(bucket_at(r, e.at), static_cast<int>(next)) << arch << ": buckets start in order";
      start[next++] = k;
    } else if (e.kind == 'g') {
      written[static_cast<size_t>(e.at)] = 1;
      last_any = k;
      for (size_t b = 0; b < nb; ++b)
        if (e.at >= r.buckets()[b].first_entry && e.at <= r.buckets()[b].last_entry)
          last_write[b] = k;
    } else if (e.kind == 'r') {
      returned = k;
    } else {
      waited = k;
    }
  }
  EXPECT_EQ(next, nb) << arch;
  EXPECT_GT(waited, returned) << arch;
  size_t in_backward = 0;
  bool complete_so_far = true;
  for (size_t b = 0; b < nb && next == nb; ++b) {
    for (int e = r.buckets()[b].first_entry; e <= r.buckets()[b].last_entry; ++e)
      if (ps.entry(e).trainable && !written[static_cast<size_t>(e)]) complete_so_far = false;
    EXPECT_GT(start[b], last_write[b]) << arch << ": bucket " << b << " started too early";
    if (complete_so_far) {
      EXPECT_LT(start[b], returned) << arch << ": bucket " << b << " waited for backward";
      if (start[b] < last_any) ++in_backward;  // ...and backward went on writing gradients
    } else {
      EXPECT_GT(start[b], returned) << arch << ": bucket " << b;
    }
  }
  return {in_backward, nb};
}

TEST(Dist, OverlappedBucketsStartDuringBackwardAndMatchReducingAfterIt) {
  // Every parameter gets a gradient: all buckets but the last start with backward still running.
  for (const char* arch : {"resnet18-fpn", "resnet18-chr"}) {
    const auto n = check_overlap(arch, 4, 32);
    EXPECT_EQ(n.first + 1, n.second) << arch;
  }
  // DenseNet's layers write their gradients in models/densenet.cpp.
  const auto d = check_overlap("densenet121-plain", 8, 32);
  EXPECT_EQ(d.first + 1, d.second);
  // InceptionV3's auxiliary head (registered after Mixed_6e) gets no gradient without its loss:
  // the buckets from its own on wait for the end of backward and then start, in order.
  const auto i = check_overlap("inceptionv3-plain", 8, 75);
  EXPECT_GT(i.first, 0u);
  EXPECT_LT(i.first + 1, i.second);
}

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
