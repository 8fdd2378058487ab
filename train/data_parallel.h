// The phase binaries' side of data-parallel training (the machinery is dist/): the options,
// and starting it from the launcher's environment after the command line is parsed.
//   mpirun -np N gbad-train-cnn ... / srun gbad-train-cnn ...
// A single process (no launcher) runs exactly as before.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "dist/data_parallel.h"
#include "train/cli.h"
#include "train/startup.h"

namespace gbad {

// --sync-bn, --bucket-mb, --no-overlap, --dist-backend (their help says when this build has no
// MPI).
void add_data_parallel_options(Cli& cli);

// After Phase::parse: the job's communicator (none for one process), with --sync-bn put into
// the Context. `global_batch` (--batch) must divide by the number of processes; without
// --sync-bn each process's share must be at least 2 (BatchNorm over one image is undefined).
// `min_per_process`: the smallest share without --sync-bn (2 for models with BatchNorm).
std::unique_ptr<DataParallel> start_data_parallel(Phase& p, int64_t global_batch,
                                                  int64_t min_per_process = 2);

// The checkpoint metadata key holding the number of processes, and the check that a resumed
// run has as many (the epoch order is split by rank, and per-rank BatchNorm depends on it).
extern const char* const kWorldSizeKey;
void check_resume_world_size(const std::map<std::string, std::string>& meta,
                             const std::string& ckpt, int size);

}  // namespace gbad
