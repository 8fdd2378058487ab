#include "train/data_parallel.h"

#include <cstdio>

#include "core/check.h"
#include "dist/comm.h"

namespace gbad {

const char* const kWorldSizeKey = "world_size";

void add_data_parallel_options(Cli& cli) {
  const std::string why = data_parallel_unavailable_reason();
  const std::string note = why.empty() ? "" : " [" + why + "]";
  cli.flag("sync-bn",
           "data parallel (mpirun -np N / srun): BatchNorm statistics of the whole global batch, "
           "all-reduced across processes (default: each process normalises its own share)" +
               note)
      .option("bucket-mb", "25",
              "data parallel: gradients are averaged in all-reduce buckets of about this many MB")
      .flag("no-overlap",
            "data parallel: reduce the gradient buckets after backward returns (default: each "
            "bucket's all-reduce starts during backward as soon as its gradients are written)")
      .option("dist-backend", "auto",
              "data parallel: auto (NCCL for --device cuda when built with it, else MPI), mpi "
              "or nccl" +
                  note);
}

std::unique_ptr<DataParallel> start_data_parallel(Phase& p, int64_t global_batch,
                                                  int64_t min_per_process) {
  Cli& cli = p.cli();
  DataParallelOptions o;
  o.sync_bn = cli.get_flag("sync-bn");
  o.bucket_mb = cli.get_double("bucket-mb");
  o.overlap = !cli.get_flag("no-overlap");
  o.backend = cli.get("dist-backend");
  auto dp = std::make_unique<DataParallel>(launch_env(), p.ctx(), o);
  const int n = dp->size();
  if (n > 1) {
    GBAD_CHECK(global_batch % n == 0, "--batch ", global_batch,
               " is the global batch and must be a multiple of the number of processes (", n, ")");
    GBAD_CHECK(o.sync_bn || global_batch / n >= min_per_process, "--batch ", global_batch, " over ",
               n, " processes leaves ", global_batch / n,
               " per process: BatchNorm needs 2 (use a larger --batch or --sync-bn)");
    // Rank 0 speaks for the job; the others' stdout (the same lines) goes nowhere. Errors stay
    // on stderr, prefixed with the rank (run_main).
    if (!dp->root()) GBAD_CHECK(std::freopen("/dev/null", "w", stdout), "cannot open /dev/null");
    if (dp->root())
      std::printf(
          "data parallel: %d processes (%s), %lld images per process per step, "
          "BatchNorm %s\n",
          n, dp->backend(), static_cast<long long>(global_batch / n),
          o.sync_bn ? "synchronised" : "per process");
  }
  return dp;
}

void check_resume_world_size(const std::map<std::string, std::string>& meta,
                             const std::string& ckpt, int size) {
  auto it = meta.find(kWorldSizeKey);
  const std::string was = it == meta.end() ? "1" : it->second;
  GBAD_CHECK(was == std::to_string(size), "--resume: ", ckpt, " was written by a run of ", was,
             " process", was == "1" ? "" : "es", " but this one has ", size,
             "; resume with the same number (mpirun -np ", was, ")");
}

}  // namespace gbad
