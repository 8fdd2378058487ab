#include "dist/comm.h"

#include "core/check.h"
#ifdef GBAD_WITH_MPI
#include "dist/mpi_comm.h"
#endif
#ifdef GBAD_WITH_NCCL
#include "dist/nccl_comm.h"
#endif

namespace gbad {

bool mpi_built() {
#ifdef GBAD_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool nccl_built() {
#ifdef GBAD_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string data_parallel_unavailable_reason() {
  if (mpi_built()) return "";
  return "data parallel is unavailable: this gbad was built without MPI (install libopenmpi-dev "
         "and openmpi-bin, e.g. with scripts/deps.sh, then configure and build again)";
}

std::unique_ptr<Communicator> make_communicator(const std::string& name, Context& ctx) {
  GBAD_CHECK(name == "auto" || name == "mpi" || name == "nccl", "--dist-backend '", name,
             "': expected auto, mpi or nccl");
  const std::string why = data_parallel_unavailable_reason();
  GBAD_CHECK(why.empty(), why);
  const bool nccl = name == "nccl" || (name == "auto" && ctx.is_cuda() && nccl_built());
  if (nccl) {
    GBAD_CHECK(nccl_built(),
               "--dist-backend nccl: this gbad was built without NCCL (it needs "
               "the CUDA toolkit's nccl.h and libnccl)");
    GBAD_CHECK(ctx.is_cuda(), "--dist-backend nccl needs --device cuda (use mpi on the CPU)");
#ifdef GBAD_WITH_NCCL
    return std::make_unique<NcclCommunicator>(ctx);
#endif
  }
#ifdef GBAD_WITH_MPI
  return std::make_unique<MpiCommunicator>();
#else
  GBAD_FAIL(why);
#endif
}

}  // namespace gbad
