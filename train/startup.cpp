#include "train/startup.h"

#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/check.h"

namespace gbad {

void tune_cpu_runtime(char** argv) {
  if (std::getenv("GBAD_NO_REEXEC") != nullptr) return;
  bool change = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    change = true;
  }
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma")) {
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    ::setenv("OPENBLAS_CORETYPE", avx512 ? "SkylakeX" : "Haswell", 1);
    change = true;
  }
  if (!change) return;
  ::setenv("GBAD_NO_REEXEC", "1", 1);  // never loop
  ::execv("/proc/self/exe", argv);
  // exec failed: carry on with the defaults (slower, still correct).
}

Device select_device(const std::string& opt) {
  if (opt != "auto" && opt != "cpu" && opt != "cuda")
    throw UsageError("--device '" + opt + "': expected cpu, cuda or auto");
  // The choice and its reason live in core (choose_device): --device cuda without a usable GPU
  // throws there with the reason (driver, device or cuDNN versions); every choice is said once.
  const DeviceChoice c = choose_device(opt);
  std::fprintf(stderr, "device: %s (%s)\n", device_name(c.device), c.reason.c_str());
  return c.device;
}

Phase::Phase(std::string program, std::string summary, int argc, char** argv)
    : program_(program), argc_(argc), argv_(argv), cli_(std::move(program), std::move(summary)) {}

bool Phase::parse() {
  // After the binary's own options, so --help and config.json list them last.
  cli_.option("device", "auto", "cpu, cuda, or auto (CUDA when a GPU is present)")
      .option("seed", "1", "random seed (initialisation, sampling, augmentation)")
      .option("threads", "0", "CPU threads for OpenMP loops (0 = all cores)");
  // --config FILE (options under the command line) is handled by Cli::parse for every binary.
  if (!cli_.parse(argc_, argv_)) {
    std::fputs(cli_.help().c_str(), stdout);
    return false;
  }
  const long long threads = cli_.get_int("threads");
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  seed_ = static_cast<uint64_t>(cli_.get_int("seed"));
  device_ = select_device(cli_.get("device"));
  ctx_ = std::make_unique<Context>(device_, seed_);
  return true;
}

Context& Phase::ctx() {
  GBAD_CHECK(ctx_, "Phase::ctx() before parse()");
  return *ctx_;
}

RunDir& Phase::open_run_dir(const std::string& out, const std::string& phase,
                            const ConfigList& extra) {
  dir_ = std::make_unique<RunDir>(out, phase);
  dir_->write_command(argc_, argv_);
  dir_->write_config(cli_.resolved(), extra);
  dir_->write_versions(ctx());
  return *dir_;
}

RunDir& Phase::dir() {
  GBAD_CHECK(dir_, "Phase::dir() before open_run_dir()");
  return *dir_;
}

int run_main(int argc, char** argv, const char* program, const std::function<int()>& body) {
  (void)argc;
  tune_cpu_runtime(argv);
  try {
    return body();
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 1;
  }
}

int phase_main(int argc, char** argv, const char* program, const std::string& summary,
               const std::function<int(Phase&)>& body) {
  return run_main(argc, argv, program, [&] {
    Phase phase(program, summary, argc, argv);
    return body(phase);
  });
}

}  // namespace gbad
