// Communicator: what data-parallel training needs from the processes of one job (the backends,
// MPI between CPU processes and NCCL between GPUs, live in dist/). Declared here so that the
// Context can carry one and a layer (synchronised BatchNorm, nn/batchnorm.cpp) can reduce its
// statistics without knowing which backend runs underneath.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace gbad {

class Context;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* backend() const = 0;  // "mpi", "nccl", "single"

  // In place: data[0..n) becomes the sum over all ranks. `data` lives on `device` (host memory
  // for Device::CPU); CUDA data is ordered after the work already queued on ctx's stream.
  virtual void allreduce_sum(Context& ctx, float* data, int64_t n, Device device) = 0;
  // The same sum, started without waiting (gradient buckets during backward): `data` must not be
  // touched until wait_all(ctx) returns (CUDA data: until work queued on ctx's stream after it).
  // Every rank starts the same sums in the same order. By default: allreduce_sum, done at once.
  virtual void allreduce_sum_start(Context& ctx, float* data, int64_t n, Device device) {
    allreduce_sum(ctx, data, n, device);
  }
  // Lets started sums advance (MPI progresses a non-blocking collective only inside MPI calls).
  virtual void progress() {}
  // Completes every started sum.
  virtual void wait_all(Context& ctx) { (void)ctx; }
  // Small host vectors (losses, counts, flags): summed in double precision, blocking.
  virtual void allreduce_sum_host(double* data, int64_t n) = 0;
  // data[0..n) of rank `root` copied to every rank.
  virtual void broadcast(Context& ctx, float* data, int64_t n, Device device, int root) = 0;
  virtual void barrier() = 0;
};

}  // namespace gbad
