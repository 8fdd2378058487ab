// gbad-bench-allreduce: times the data-parallel gradient all-reduce (dist/) under a launcher:
//   mpirun -np 2 gbad-bench-allreduce                       (CPU processes, MPI)
//   mpirun -np 8 gbad-bench-allreduce --device cuda         (one GPU per rank, NCCL)
// For each message size: the median time of one in-place sum over the ranks, the algorithm
// bandwidth (bytes / time) and the bus bandwidth (algbw x 2 (N-1) / N, nccl-tests' figure: what
// a ring moves per link, comparable across N). Then, with --arch, the bucketed average of a
// model's whole gradient (GradReducer, --bucket-mb), as gbad-train-cnn runs it every step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dist/comm.h"
#include "dist/data_parallel.h"
#include "models/classifier.h"
#include "train/cli.h"
#include "train/startup.h"

using namespace gbad;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("sizes-mb", "0.25,1,4,16,64", "message sizes in MB (comma separated, integers ok)")
      .option("iters", "10", "timed repetitions per size (after 2 warm-up ones)")
      .option("arch", "resnet34-fpn", "model whose gradient is reduced in buckets ('' = skip)")
      .option("width", "64", "its stem width")
      .option("bucket-mb", "25", "bucket size of the model's gradient reduce")
      .option("dist-backend", "auto", "auto, mpi or nccl");
  if (!p.parse()) return 0;
  Context& ctx = p.ctx();
  DataParallelOptions o;
  o.backend = cli.get("dist-backend");
  o.bucket_mb = cli.get_double("bucket-mb");
  DataParallel dp(launch_env(), ctx, o);
  GBAD_CHECK(dp.active(), "run under a launcher: mpirun -np N gbad-bench-allreduce");
  const int n = dp.size();
  const int iters = static_cast<int>(cli.get_int("iters"));
  GBAD_CHECK(iters >= 1, "--iters must be >= 1");
  auto timed = [&](const std::function<void()>& f) {
    std::vector<double> t;
    for (int i = 0; i < iters + 2; ++i) {
      dp.comm()->barrier();
      ctx.synchronize();
      const auto t0 = std::chrono::steady_clock::now();
      f();
      ctx.synchronize();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 2) t.push_back(s);
    }
    // Every rank's median, then the slowest rank's: the step waits for it.
    double m = median(t);
    std::vector<double> all(static_cast<size_t>(n), 0.0);
    all[static_cast<size_t>(dp.rank())] = m;
    dp.sum(all);
    return *std::max_element(all.begin(), all.end());
  };
  if (dp.root())
    std::printf("all-reduce over %d ranks (%s, %s)\n%12s %12s %12s %12s\n", n, dp.backend(),
                ctx.device_description().c_str(), "MB", "ms", "algbw GB/s", "busbw GB/s");
  std::string sizes = cli.get("sizes-mb");
  std::stringstream ss(sizes);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const double mb = std::stod(item);
    const int64_t count = std::max<int64_t>(1, static_cast<int64_t>(mb * 1024 * 1024 / 4));
    Tensor buf({count}, ctx.device());
    buf.fill(1.f);
    const double s = timed([&] { dp.comm()->allreduce_sum(ctx, buf.f32(), count, buf.device()); });
    const double alg = 4.0 * double(count) / s / 1e9;
    if (dp.root())
      std::printf("%12.2f %12.3f %12.3f %12.3f\n", 4.0 * double(count) / 1048576.0, s * 1e3, alg,
                  alg * 2.0 * (n - 1) / n);
  }
  if (!cli.get("arch").empty()) {
    ClassifierOptions mo;
    mo.width = cli.get_int("width");
    Classifier model(cli.get("arch"), mo, ctx.device(), 1);
    ParamStore& ps = model.param_store();
    dp.attach(ctx, ps);
    ps.grads().fill(1.f);
    const double s = timed([&] { dp.average_gradients(ctx, ps); });
    const double bytes = 4.0 * double(ps.num_params());
    if (dp.root())
      std::printf(
          "%s gradient: %lld parameters (%.1f MB) in %zu buckets of ~%s MB: %.3f ms per "
          "step, busbw %.3f GB/s\n",
          model.arch().c_str(), (long long)ps.num_params(), bytes / 1048576.0,
          dp.reducer()->buckets().size(), cli.get("bucket-mb").c_str(), s * 1e3,
          bytes / s / 1e9 * 2.0 * (n - 1) / n);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-bench-allreduce",
                    "Times the data-parallel all-reduce across the ranks of a job.", run);
}
