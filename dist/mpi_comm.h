// MPI backend (dist/comm.h). Only in builds with MPI (GBAD_WITH_MPI).
#pragma once

#include <vector>

#include "core/comm.h"

namespace gbad {

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator();  // MPI_Init unless already done; errors stop the whole job (fatal handler)
  // MPI_Finalize, except while an exception unwinds: the failing rank then exits non-zero
  // without finalising, and the launcher ends every other rank (which may be waiting in a
  // collective for it) instead of letting them hang.
  ~MpiCommunicator() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  const char* backend() const override { return "mpi"; }
  void allreduce_sum(Context& ctx, float* data, int64_t n, Device device) override;
  // MPI_Iallreduce (CUDA data is copied to a host buffer of its own first and back in wait_all).
  void allreduce_sum_start(Context& ctx, float* data, int64_t n, Device device) override;
  void progress() override;
  void wait_all(Context& ctx) override;
  void allreduce_sum_host(double* data, int64_t n) override;
  void broadcast(Context& ctx, float* data, int64_t n, Device device, int root) override;
  void barrier() override;
  // Raw broadcast of bytes from `root` (the NCCL unique id).
  void broadcast_bytes(void* data, int64_t bytes, int root);

 private:
  int rank_ = 0, size_ = 1;
  bool owns_init_ = false;
  std::vector<float> staging_;  // host copy of CUDA data
  struct Pending;               // one started sum (dist/mpi_comm.cpp)
  std::vector<Pending> pending_;
};

}  // namespace gbad
