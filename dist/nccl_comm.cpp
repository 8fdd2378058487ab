// NCCL backend (dist/comm.h). Only in builds with CUDA, NCCL and MPI (GBAD_WITH_NCCL).
#include <cuda_runtime.h>
#include <nccl.h>

#include <exception>
#include <memory>

#include "core/check.h"
#include "core/context.h"
#include "dist/mpi_comm.h"
#include "dist/nccl_comm.h"

namespace gbad {

namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  GBAD_FAIL(what, " failed: ", ncclGetErrorString(r), " (", static_cast<int>(r), ")");
}

void cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  GBAD_FAIL(what, " failed: ", cudaGetErrorName(e), ": ", cudaGetErrorString(e));
}

}  // namespace

struct NcclCommunicator::Impl {
  std::unique_ptr<MpiCommunicator> mpi;  // bootstrap and host-side reductions
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;  // the reductions' own stream
  cudaEvent_t ready = nullptr, done = nullptr;
};

NcclCommunicator::NcclCommunicator(Context& ctx) : impl_(std::make_unique<Impl>()) {
  GBAD_CHECK(ctx.is_cuda(), "the NCCL backend needs --device cuda");
  impl_->mpi = std::make_unique<MpiCommunicator>();
  ncclUniqueId id;
  if (impl_->mpi->rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  impl_->mpi->broadcast_bytes(&id, sizeof id, 0);
  ctx.stream();  // makes ctx's GPU current
  nccl_check(ncclCommInitRank(&impl_->comm, impl_->mpi->size(), id, impl_->mpi->rank()),
             "ncclCommInitRank");
  cuda_ok(cudaStreamCreateWithFlags(&impl_->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  cuda_ok(cudaEventCreateWithFlags(&impl_->ready, cudaEventDisableTiming), "cudaEventCreate");
  cuda_ok(cudaEventCreateWithFlags(&impl_->done, cudaEventDisableTiming), "cudaEventCreate");
}

NcclCommunicator::~NcclCommunicator() {
  if (impl_->done) cudaEventDestroy(impl_->done);
  if (impl_->ready) cudaEventDestroy(impl_->ready);
  if (impl_->stream) cudaStreamDestroy(impl_->stream);
  // A failing rank aborts its communicator (a destroy would wait for the peers).
  if (impl_->comm)
    (void)(std::uncaught_exceptions() > 0 ? ncclCommAbort : ncclCommDestroy)(impl_->comm);
}

int NcclCommunicator::rank() const {
  return impl_->mpi->rank();
}
int NcclCommunicator::size() const {
  return impl_->mpi->size();
}

void NcclCommunicator::allreduce_sum(Context& ctx, float* data, int64_t n, Device device) {
  if (device != Device::CUDA) {  // host vectors go over MPI
    impl_->mpi->allreduce_sum(ctx, data, n, device);
    return;
  }
  // ctx's stream waits for the reduction before anything queued after this call.
  allreduce_sum_start(ctx, data, n, device);
  wait_all(ctx);
}

void NcclCommunicator::allreduce_sum_start(Context& ctx, float* data, int64_t n, Device device) {
  if (device != Device::CUDA) {
    impl_->mpi->allreduce_sum(ctx, data, n, device);
    return;
  }
  // The reduction's stream waits for what ctx's stream has queued (the bucket's gradients);
  // ctx's stream goes on with the rest of backward.
  cuda_ok(cudaEventRecord(impl_->ready, ctx.stream()), "cudaEventRecord");
  cuda_ok(cudaStreamWaitEvent(impl_->stream, impl_->ready, 0), "cudaStreamWaitEvent");
  nccl_check(ncclAllReduce(data, data, static_cast<size_t>(n), ncclFloat, ncclSum, impl_->comm,
                           impl_->stream),
             "ncclAllReduce");
}

void NcclCommunicator::wait_all(Context& ctx) {
  cuda_ok(cudaEventRecord(impl_->done, impl_->stream), "cudaEventRecord");
  cuda_ok(cudaStreamWaitEvent(ctx.stream(), impl_->done, 0), "cudaStreamWaitEvent");
}

void NcclCommunicator::allreduce_sum_host(double* data, int64_t n) {
  impl_->mpi->allreduce_sum_host(data, n);
}

void NcclCommunicator::broadcast(Context& ctx, float* data, int64_t n, Device device, int root) {
  if (device != Device::CUDA) {
    impl_->mpi->broadcast(ctx, data, n, device, root);
    return;
  }
  nccl_check(
      ncclBroadcast(data, data, static_cast<size_t>(n), ncclFloat, root, impl_->comm, ctx.stream()),
      "ncclBroadcast");
}

void NcclCommunicator::barrier() {
  impl_->mpi->barrier();
}

}  // namespace gbad
