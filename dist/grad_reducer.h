// Averages a ParamStore's gradients over the ranks of a job: the flat gradient buffer is cut
// into buckets of about `bucket_bytes` (whole parameters, in backward order: the last
// registered parameter, whose gradient backward writes first, opens the first bucket), and
// each bucket is one all-reduce (PyTorch DDP's scheme; its default bucket is 25 MB).
//
// When buckets start: reduce_bucket(i) may be called as soon as backward has written bucket i
// (on NCCL the reduction runs on its own stream, overlapping the rest of backward). The phase
// binaries call reduce() after the model's backward returns, which starts the buckets one after
// another: our models run backward as one call without per-layer hooks, so on the CPU (MPI,
// blocking) there is no overlap; on NCCL each bucket is queued asynchronously behind backward's
// work on the compute stream, so the GPU overlaps a bucket's reduction with queuing the next.
#pragma once

#include <cstdint>
#include <vector>

#include "core/comm.h"
#include "core/context.h"
#include "core/param_store.h"

namespace gbad {

class GradReducer {
 public:
  struct Bucket {
    int64_t begin = 0, end = 0;           // element range of the flat gradient buffer
    int first_entry = 0, last_entry = 0;  // registration indices covered (inclusive)
  };
  GradReducer(ParamStore& ps, Communicator& comm, int64_t bucket_bytes);
  const std::vector<Bucket>& buckets() const { return buckets_; }

  void reduce_bucket(Context& ctx, size_t i);  // sum of bucket i over the ranks, then / size
  void reduce(Context& ctx);                   // every bucket, in order
  double last_seconds() const { return last_seconds_; }  // wall time of the last reduce()

 private:
  ParamStore* ps_;
  Communicator* comm_;
  std::vector<Bucket> buckets_;
  double last_seconds_ = 0;
};

}  // namespace gbad
