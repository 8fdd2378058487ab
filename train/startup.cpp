#include "train/startup.h"

#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "core/check.h"
#include "dist/launch.h"

namespace gbad {

namespace {

// The 1-minute load average at least the number of online cores (or unreadable).
bool machine_is_busy() {
  double load = 0;
  std::FILE* f = std::fopen("/proc/loadavg", "r");
  const bool ok = f != nullptr && std::fscanf(f, "%lf", &load) == 1;
  if (f) std::fclose(f);
  const long cores = ::sysconf(_SC_NPROCESSORS_ONLN);
  return !ok || cores < 1 || load >= double(cores);
}

}  // namespace

void tune_cpu_runtime(char** argv) {
  if (std::getenv("GBAD_NO_REEXEC") != nullptr) return;
  bool change = false;
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    if (machine_is_busy())
      ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    else
      ::setenv("GOMP_SPINCOUNT", kOmpSpinCount, 1);
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

Precision select_precision(const std::string& opt, const Context& ctx) {
  if (opt != "auto" && opt != "fp32" && opt != "tf32" && opt != "fp16" && opt != "bf16")
    throw UsageError("--precision '" + opt + "': expected fp32, tf32, fp16, bf16 or auto");
  const int cc = ctx.compute_capability();
  const Precision p = resolve_precision(opt, ctx.device(), cc);
  std::string how = opt == "auto" ? "--precision auto, " : "";
  how += ctx.is_cuda() ? "sm_" + std::to_string(cc) : std::string("the CPU");
  if (ctx.is_cuda() && stores_half(p))
    how += ctx.half_layout() == HalfLayout::Boundary
               ? ", tensor-core half arithmetic, activations fp32 NCHW holding half values "
                 "(GBAD_HALF_LAYOUT=boundary)"
               : ", tensor-core half arithmetic, ResNet activations 16-bit NHWC";
  if (!ctx.is_cuda() && stores_half(p)) how += ": emulated, rounded at the half storage points";
  if (!ctx.is_cuda() && p == Precision::Tf32) how += ": exact fp32 (TF32 is a GPU math mode)";
  std::fprintf(stderr, "precision: %s (%s)\n", precision_name(p), how.c_str());
  return p;
}

Phase::Phase(std::string program, std::string summary, int argc, char** argv)
    : program_(program), argc_(argc), argv_(argv), cli_(std::move(program), std::move(summary)) {}

bool Phase::parse() {
  // After the binary's own options, so --help and config.json list them last.
  cli_.option("device", "auto", "cpu, cuda, or auto (CUDA when a GPU is present)")
      .option("seed", "1", "random seed (initialisation, sampling, augmentation)")
      .option("threads", "0", "CPU threads for OpenMP loops (0 = all cores)")
      .option("precision", "fp32",
              "fp32, tf32, fp16, bf16 or auto (bf16 on GPUs of compute capability >= 8.0, fp16 "
              "on 7.x, else fp32): fp16/bf16 store activations, weight copies and gradients in "
              "16 bits with fp32 master weights (fp16 with dynamic loss scaling); the CPU "
              "emulates them by rounding (README \"Mixed precision\")");
  // --config FILE (options under the command line) is handled by Cli::parse for every binary.
  if (!cli_.parse(argc_, argv_)) {
    std::fputs(cli_.help().c_str(), stdout);
    return false;
  }
  {
    // Only binaries that declare the data-parallel options (train/data_parallel.h) split their
    // work over the processes of a job; any other would do all of it N times, writing the same
    // files.
    const LaunchEnv env = launch_env();
    bool dp = false;
    for (const auto& kv : cli_.resolved()) dp = dp || kv.first == "bucket-mb";
    if (env.size > 1 && !dp)
      throw UsageError(program_ + " does not run data parallel (started as " +
                       std::to_string(env.size) + " processes by " + env.launcher +
                       "): run it as one process, without mpirun/srun");
  }
  const long long threads = cli_.get_int("threads");
  if (threads < 0) throw UsageError("--threads must be >= 0");
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
  seed_ = static_cast<uint64_t>(cli_.get_int("seed"));
  device_ = select_device(cli_.get("device"));
  // Under a launcher (mpirun, srun) each rank takes the GPU of its local rank (dist/launch.h).
  ctx_ = std::make_unique<Context>(device_, seed_,
                                   rank_cuda_device(launch_env(), device_, cuda_device_count()));
  ctx_->set_precision(select_precision(cli_.get("precision"), *ctx_));
  cli_.set("precision", precision_name(ctx_->precision()));  // config.json: what ran
  return true;
}

void Phase::force_precision(Precision p, const std::string& why) {
  if (ctx().precision() == p) return;
  std::fprintf(stderr, "precision: %s instead of %s (%s)\n", precision_name(p),
               precision_name(ctx().precision()), why.c_str());
  ctx().set_precision(p);
  cli_.set("precision", precision_name(p));
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

namespace {

// "rank 1/2: " when one of several processes of a job (mpirun, srun), so the job's one error
// names the rank that failed.
std::string error_rank_prefix() {
  try {
    return rank_prefix(launch_env());
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

int run_main(int argc, char** argv, const char* program, const std::function<int()>& body) {
  (void)argc;
  tune_cpu_runtime(argv);
  try {
    return body();
  } catch (const UsageError& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s%s\n", program, error_rank_prefix().c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: error: %s%s\n", program, error_rank_prefix().c_str(), e.what());
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
