// Where this process stands in a job, from the variables its launcher exports: OpenMPI's
// mpirun (OMPI_COMM_WORLD_*), Slurm's srun (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID,
// SLURM_NTASKS_PER_NODE / SLURM_TASKS_PER_NODE), and PMI launchers such as MPICH's hydra
// (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID, MPI_LOCALNRANKS). Read before MPI starts, so the GPU of a
// rank can be chosen before any CUDA context exists.
#pragma once

#include <functional>
#include <string>

#include "core/tensor.h"

namespace gbad {

struct LaunchEnv {
  int rank = 0, size = 1;              // in the whole job
  int local_rank = 0, local_size = 1;  // on this node
  std::string launcher;                // "openmpi", "slurm", "pmi", or "" (none: one process)
  bool launched() const { return !launcher.empty(); }
};

// From a variable lookup (tests pass a map); throws naming the variable when one is malformed
// or the numbers contradict each other (rank >= size).
LaunchEnv launch_env_from(const std::function<const char*(const char*)>& getenv_fn);
LaunchEnv launch_env();  // from the process environment

// The CUDA device of this rank for `device` CUDA: its local rank. Throws with a clear error when
// more ranks run on this node than it has GPUs (several ranks per GPU are refused), given
// `gpus` visible devices. 0 for the CPU or a single process.
int rank_cuda_device(const LaunchEnv& env, Device device, int gpus);

// "rank 1/2: " under a launcher with more than one process, "" otherwise: the prefix of every
// error and progress line a rank prints.
std::string rank_prefix(const LaunchEnv& env);

}  // namespace gbad
