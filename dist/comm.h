// The communicators of data-parallel training (the interface is core/comm.h):
//   MpiCommunicator   MPI_COMM_WORLD; any memory (CUDA buffers are staged through the host,
//                     so a CUDA-unaware MPI works); the only backend for CPU processes.
//   NcclCommunicator  NCCL between the GPUs of the job (one per rank); its unique id is
//                     broadcast over MPI, which also carries its host-side reductions. The
//                     all-reduce runs on its own CUDA stream, ordered after the caller's stream
//                     by events, so the caller's stream keeps computing while a bucket reduces.
// Each is compiled only when its library is found (GBAD_WITH_MPI, GBAD_WITH_NCCL).
#pragma once

#include <memory>
#include <string>

#include "core/comm.h"
#include "core/context.h"
#include "dist/launch.h"

namespace gbad {

bool mpi_built();   // this build has the MPI backend
bool nccl_built();  // ... and the NCCL one
// Why data parallel cannot run in this build ("" when it can), for --help and errors.
std::string data_parallel_unavailable_reason();

// Backend for `name`: "mpi", "nccl", or "auto" (NCCL for a CUDA context when built, else MPI).
// Starts MPI (MPI_Init) and, for NCCL, the NCCL communicator on ctx's GPU. Throws with the
// reason when the backend is not built or does not fit the device.
std::unique_ptr<Communicator> make_communicator(const std::string& name, Context& ctx);

}  // namespace gbad
