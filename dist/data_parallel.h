// Data-parallel training of one model by the processes of a job (mpirun -np N, srun): what a
// training loop needs, in one object.
//   * Each rank holds the whole model. attach() makes every rank's weights rank 0's.
//   * Each rank takes its slice of every global batch of the same epoch order (shard_order), so
//     N ranks see the batches one process with the same --batch would see.
//   * average_gradients() averages the gradients (GradReducer's buckets), so every rank takes
//     the same optimiser step. With begin_backward() before a step's one backward call, each
//     bucket's all-reduce starts during backward as soon as its gradients are written (the
//     layers report them through the Context), overlapping communication with backward, and
//     average_gradients() completes them; without it (or with overlap off) the buckets are
//     reduced after backward.
//   * Synchronised BatchNorm (sync_bn) puts the communicator in the Context (nn/batchnorm.cpp);
//     otherwise each rank normalises its own slice (PyTorch DDP's default).
//   * Host values (loss, rates, failure flags) are summed over the ranks before logging.
// A single process that no launcher started has no communicator: size 1, and every call is a
// no-op, so the binaries run the same code either way.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/comm.h"
#include "core/context.h"
#include "core/param_store.h"
#include "dist/grad_reducer.h"
#include "dist/launch.h"

namespace gbad {

struct DataParallelOptions {
  std::string backend = "auto";  // auto | mpi | nccl
  bool sync_bn = false;
  double bucket_mb = 25;
  bool overlap = true;  // --no-overlap: reduce after backward even after begin_backward()
};

// This rank's slice of an epoch order: the order is cut into global batches of `global_batch`
// (a trailing partial batch is dropped) and rank r takes entries [r*b, (r+1)*b) of each, b =
// global_batch / size.
std::vector<int64_t> shard_order(const std::vector<int64_t>& order, int64_t global_batch, int rank,
                                 int size);

class DataParallel : private GradReadyListener {
 public:
  DataParallel(const LaunchEnv& env, Context& ctx, const DataParallelOptions& opt);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  bool active() const { return comm_ != nullptr; }
  int rank() const { return comm_ ? comm_->rank() : 0; }
  int size() const { return comm_ ? comm_->size() : 1; }
  bool root() const { return rank() == 0; }
  Communicator* comm() { return comm_.get(); }
  const char* backend() const { return comm_ ? comm_->backend() : "none"; }

  // Broadcasts rank 0's parameters and buffers to every rank and cuts the store's gradient
  // buckets. A model of several stores (the Bi-GAN's E, G, D) attaches each.
  void attach(Context& ctx, ParamStore& ps);
  // Averages the gradients of every attached store, or of `ps` alone, over the ranks (no-op for
  // one process).
  void average_gradients(Context& ctx);
  void average_gradients(Context& ctx, ParamStore& ps);
  // Call right before the one backward of a step whose gradients average_gradients() then
  // averages (the gradients zeroed before it): arms every attached store's buckets so they
  // start reducing during backward. A no-op for one process or with overlap off.
  void begin_backward(Context& ctx);
  // Wall time of the reductions since the last call of this function.
  double take_allreduce_seconds();
  const GradReducer* reducer() const {
    return reducers_.empty() ? nullptr : reducers_[0].second.get();
  }

  std::vector<int64_t> shard(const std::vector<int64_t>& order, int64_t global_batch) const {
    return shard_order(order, global_batch, rank(), size());
  }
  void sum(std::vector<double>& values);  // in place, over the ranks
  double sum(double v);
  // The lowest rank whose `ok` is false, or -1 when all are fine: the same answer on every
  // rank, so all of them stop together with one message naming the rank.
  int first_failed_rank(bool ok);
  // The mean over the ranks of a per-rank value (a loss) and the lowest rank where it is not
  // finite (-1: none), in one all-reduce; the same answer on every rank.
  struct CheckedMean {
    double mean = 0;
    int failed_rank = -1;
  };
  CheckedMean mean_if_finite(double v);
  // Where progress lines go: stderr on rank 0, nowhere on the others.
  FILE* progress_stream() const;

 private:
  void grad_ready(Context& ctx, const ParamStore& ps, int ref) override;
  void finish_or_reduce(Context& ctx, GradReducer& r);

  Context* ctx_;
  std::unique_ptr<Communicator> comm_;
  std::vector<std::pair<ParamStore*, std::unique_ptr<GradReducer>>> reducers_;
  double allreduce_s_ = 0;
  DataParallelOptions opt_;
  FILE* devnull_ = nullptr;
};

}  // namespace gbad
