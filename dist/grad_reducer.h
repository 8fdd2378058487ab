// Averages a ParamStore's gradients over the ranks of a job: the flat gradient buffer is cut
// into buckets of about `bucket_bytes` (whole parameters, in backward order: the last
// registered parameter, whose gradient backward writes first, opens the first bucket), and
// each bucket is one all-reduce (PyTorch DDP's scheme; its default bucket is 25 MB).
//
// Two ways to run it, with the same sums of the same buckets (bit-identical results on MPI):
//   * Overlapped (what the phase binaries use for one backward per step): arm() before
//     backward; the layers report each parameter gradient they have written (Context::grad_ready,
//     forwarded by DataParallel to grad_ready() here); when the last pending parameter of a bucket
//     is reported, the bucket's all-reduce starts at once, non-blocking (MPI_Iallreduce; on NCCL
//     queued on the communicator's stream behind the gradients, so the GPU reduces it while
//     backward computes the next bucket). Buckets start strictly in index order (a complete
//     bucket waits for the lower ones), so every rank starts the same sums in the same order.
//     finish() starts the buckets backward left incomplete (parameters that got no gradient this
//     step: an unused head), waits for all and divides by the number of ranks.
//   * After backward: reduce() (the buckets one after another, blocking), e.g. when several
//     backward calls accumulate into the gradients (the Bi-GAN's D).
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
  const ParamStore& store() const { return *ps_; }

  void reduce_bucket(Context& ctx, size_t i);  // sum of bucket i over the ranks, then / size
  void reduce(Context& ctx);                   // every bucket, in order
  // Wall time the caller spent in the reductions of the last reduce(), or of the last
  // overlapped step (its starts during backward plus finish()).
  double last_seconds() const { return last_seconds_; }

  // The overlapped step (see above). grad_ready for a parameter whose bucket has already started
  // is an error (its gradient would change under the reduction: a layer run twice in one
  // backward); use reduce() for such a model.
  void arm();
  bool armed() const { return armed_; }
  void grad_ready(Context& ctx, ParamStore::Ref r);
  void finish(Context& ctx);
  size_t buckets_started() const { return next_; }  // in the current overlapped step

 private:
  void start_ready(Context& ctx);  // starts the complete buckets from next_ on, in order

  ParamStore* ps_;
  Communicator* comm_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_of_;  // per registration index: its bucket, -1 when in none
  std::vector<int> pending_;    // per bucket: parameters not yet reported this step
  std::vector<char> reported_;  // per registration index, this step
  size_t next_ = 0;             // the lowest bucket not started yet
  bool armed_ = false;
  double last_seconds_ = 0;
};

}  // namespace gbad
