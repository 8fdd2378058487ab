// NCCL backend (dist/comm.h). Only in builds with CUDA, NCCL and MPI (GBAD_WITH_NCCL).
#pragma once

#include <memory>

#include "core/comm.h"

namespace gbad {

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(Context& ctx);  // on ctx's GPU; the unique id comes over MPI
  ~NcclCommunicator() override;
  int rank() const override;
  int size() const override;
  const char* backend() const override { return "nccl"; }
  void allreduce_sum(Context& ctx, float* data, int64_t n, Device device) override;
  // Queued on the reductions' stream behind the work ctx's stream has queued so far; wait_all
  // makes ctx's stream wait for every sum queued there.
  void allreduce_sum_start(Context& ctx, float* data, int64_t n, Device device) override;
  void wait_all(Context& ctx) override;
  void allreduce_sum_host(double* data, int64_t n) override;
  void broadcast(Context& ctx, float* data, int64_t n, Device device, int root) override;
  void barrier() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gbad
