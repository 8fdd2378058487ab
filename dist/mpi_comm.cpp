#include "dist/mpi_comm.h"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <exception>
#include <string>

#include "core/check.h"
#include "core/context.h"

namespace gbad {

namespace {

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  GBAD_FAIL(what, " failed: ", std::string(msg, static_cast<size_t>(len)));
}

// MPI counts are int: large buffers go in chunks.
constexpr int64_t kChunk = INT_MAX / 2;

}  // namespace

struct MpiCommunicator::Pending {
  std::vector<MPI_Request> requests;  // one per chunk
  float* device_data = nullptr;       // CUDA data: where the sum goes back in wait_all
  std::vector<float> host;            // ... and its host copy, which MPI reduces
};

MpiCommunicator::MpiCommunicator() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    // Only the main thread calls MPI (the loader's threads never do).
    mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init");
    owns_init_ = true;
  }
  // An MPI error anywhere (a peer gone, a broken link) aborts the whole job at once.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  if (!owns_init_ || std::uncaught_exceptions() > 0) return;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

void MpiCommunicator::allreduce_sum(Context& ctx, float* data, int64_t n, Device device) {
  float* host = data;
  if (device == Device::CUDA) {
    ctx.synchronize();
    staging_.resize(static_cast<size_t>(n));
    copy_bytes(staging_.data(), Device::CPU, data, Device::CUDA, sizeof(float) * size_t(n));
    host = staging_.data();
  }
  for (int64_t i = 0; i < n; i += kChunk) {
    const int m = static_cast<int>(std::min(kChunk, n - i));
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, host + i, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
  }
  if (device == Device::CUDA)
    copy_bytes(data, Device::CUDA, staging_.data(), Device::CPU, sizeof(float) * size_t(n));
}

void MpiCommunicator::allreduce_sum_start(Context& ctx, float* data, int64_t n, Device device) {
  Pending p;
  float* host = data;
  if (device == Device::CUDA) {
    ctx.synchronize();
    p.host.resize(static_cast<size_t>(n));
    copy_bytes(p.host.data(), Device::CPU, data, Device::CUDA, sizeof(float) * size_t(n));
    p.device_data = data;
    host = p.host.data();
  }
  for (int64_t i = 0; i < n; i += kChunk) {
    const int m = static_cast<int>(std::min(kChunk, n - i));
    p.requests.emplace_back();
    mpi_check(MPI_Iallreduce(MPI_IN_PLACE, host + i, m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                             &p.requests.back()),
              "MPI_Iallreduce");
  }
  pending_.push_back(std::move(p));
  progress();
}

void MpiCommunicator::progress() {
  int flag = 0;
  for (Pending& p : pending_)
    mpi_check(MPI_Testall(static_cast<int>(p.requests.size()), p.requests.data(), &flag,
                          MPI_STATUSES_IGNORE),
              "MPI_Testall");
}

void MpiCommunicator::wait_all(Context& ctx) {
  (void)ctx;
  for (Pending& p : pending_) {
    mpi_check(
        MPI_Waitall(static_cast<int>(p.requests.size()), p.requests.data(), MPI_STATUSES_IGNORE),
        "MPI_Waitall");
    if (p.device_data)
      copy_bytes(p.device_data, Device::CUDA, p.host.data(), Device::CPU,
                 sizeof(float) * p.host.size());
  }
  pending_.clear();
}

void MpiCommunicator::allreduce_sum_host(double* data, int64_t n) {
  GBAD_CHECK(n <= kChunk, "allreduce_sum_host: ", n, " values is more than a small vector");
  mpi_check(
      MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
      "MPI_Allreduce");
}

void MpiCommunicator::broadcast(Context& ctx, float* data, int64_t n, Device device, int root) {
  float* host = data;
  if (device == Device::CUDA) {
    ctx.synchronize();
    staging_.resize(static_cast<size_t>(n));
    copy_bytes(staging_.data(), Device::CPU, data, Device::CUDA, sizeof(float) * size_t(n));
    host = staging_.data();
  }
  for (int64_t i = 0; i < n; i += kChunk) {
    const int m = static_cast<int>(std::min(kChunk, n - i));
    mpi_check(MPI_Bcast(host + i, m, MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  if (device == Device::CUDA)
    copy_bytes(data, Device::CUDA, staging_.data(), Device::CPU, sizeof(float) * size_t(n));
}

void MpiCommunicator::broadcast_bytes(void* data, int64_t bytes, int root) {
  GBAD_CHECK(bytes <= kChunk, "broadcast_bytes: too large");
  mpi_check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void MpiCommunicator::barrier() {
  mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

}  // namespace gbad
