#include "dist/launch.h"

#include <cerrno>
#include <cstdlib>

#include "core/check.h"

namespace gbad {

namespace {

// An integer variable, or `fallback` when unset. A set but malformed value is an error.
int env_int(const std::function<const char*(const char*)>& get, const char* name, int fallback) {
  const char* v = get(name);
  if (v == nullptr || *v == '\0') return fallback;
  errno = 0;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  GBAD_CHECK(errno == 0 && *end == '\0' && x >= 0 && x < (1L << 24), "environment variable ", name,
             "='", v, "' is not a rank or process count");
  return static_cast<int>(x);
}

// SLURM_TASKS_PER_NODE is "2(x3),1": the first node's count is enough for a uniform job;
// SLURM_NTASKS_PER_NODE, when given, is plain.
int slurm_local_size(const std::function<const char*(const char*)>& get, int fallback) {
  int n = env_int(get, "SLURM_NTASKS_PER_NODE", -1);
  if (n > 0) return n;
  const char* t = get("SLURM_TASKS_PER_NODE");
  if (t == nullptr) return fallback;
  const long x = std::strtol(t, nullptr, 10);
  return x > 0 ? static_cast<int>(x) : fallback;
}

}  // namespace

LaunchEnv launch_env_from(const std::function<const char*(const char*)>& get) {
  LaunchEnv e;
  if (get("OMPI_COMM_WORLD_SIZE") != nullptr) {
    e.launcher = "openmpi";
    e.size = env_int(get, "OMPI_COMM_WORLD_SIZE", 1);
    e.rank = env_int(get, "OMPI_COMM_WORLD_RANK", 0);
    e.local_rank = env_int(get, "OMPI_COMM_WORLD_LOCAL_RANK", 0);
    e.local_size = env_int(get, "OMPI_COMM_WORLD_LOCAL_SIZE", 1);
  } else if (get("PMI_SIZE") != nullptr) {
    e.launcher = "pmi";
    e.size = env_int(get, "PMI_SIZE", 1);
    e.rank = env_int(get, "PMI_RANK", 0);
    e.local_rank = env_int(get, "MPI_LOCALRANKID", 0);
    e.local_size = env_int(get, "MPI_LOCALNRANKS", 1);
  } else if (get("SLURM_PROCID") != nullptr && get("SLURM_NTASKS") != nullptr) {
    e.launcher = "slurm";
    e.size = env_int(get, "SLURM_NTASKS", 1);
    e.rank = env_int(get, "SLURM_PROCID", 0);
    e.local_rank = env_int(get, "SLURM_LOCALID", 0);
    e.local_size = slurm_local_size(get, 1);
  }
  GBAD_CHECK(e.size >= 1 && e.rank < e.size, e.launcher, " launcher: rank ", e.rank,
             " is not below the job size ", e.size);
  GBAD_CHECK(e.local_size >= 1 && e.local_rank < e.local_size, e.launcher, " launcher: local rank ",
             e.local_rank, " is not below the node's process count ", e.local_size);
  return e;
}

LaunchEnv launch_env() {
  return launch_env_from([](const char* name) { return std::getenv(name); });
}

int rank_cuda_device(const LaunchEnv& env, Device device, int gpus) {
  if (device != Device::CUDA || !env.launched()) return 0;
  GBAD_CHECK(gpus >= 1, "rank ", env.rank, ": no CUDA device visible");
  GBAD_CHECK(env.local_size <= gpus, env.local_size, " ranks run on this node but it has ", gpus,
             " visible GPU", gpus == 1 ? "" : "s",
             "; data parallel uses one GPU per rank: launch at most ", gpus,
             " ranks per node (mpirun --map-by ppr:", gpus, ":node, srun --ntasks-per-node=", gpus,
             ") or use --device cpu");
  return env.local_rank;
}

std::string rank_prefix(const LaunchEnv& env) {
  if (!env.launched() || env.size <= 1) return "";
  return "rank " + std::to_string(env.rank) + "/" + std::to_string(env.size) + ": ";
}

}  // namespace gbad
