// gbad-bench: the Google Benchmark suite (kernels, GEMM/conv at ResNet-34 shapes, whole model
// steps, Bi-GAN, SVM, data loader). CPU cases always run; CUDA cases are registered only when a
// GPU is present. The benchmark context (printed and written with --benchmark_out) records the
// CPU runtime settings, the BLAS build and the GPU.
#include <cblas.h>
#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "bench/bench_common.h"
#include "gbad_build_info.h"
#include "train/pipeline.h"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v ? v : fallback;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

int main(int argc, char** argv) {
  // Before anything loads libgomp's or OpenBLAS's settings: may re-execute this program.
  gbad::tune_cpu_runtime(argv);
  // --precision VALUE / --precision=VALUE is ours: taken off before Google Benchmark parses.
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    std::string value;
    if (a == "--precision" && i + 1 < argc)
      value = argv[++i];
    else if (a.rfind("--precision=", 0) == 0)
      value = a.substr(12);
    else {
      argv[kept++] = argv[i];
      continue;
    }
    try {
      gbad::bench::set_precision_option(value);
    } catch (const std::exception& e) {
      std::fprintf(stderr,
                   "gbad-bench: error: --precision '%s': expected fp32, tf32, fp16, bf16 "
                   "or auto\n",
                   value.c_str());
      return 2;
    }
  }
  argc = kept;
  // The environment a Context reads (GBAD_CONV_ALGO, GBAD_HALF_LAYOUT): a bad value is one
  // error here, not an exception out of the first case that makes a Context.
  try {
    gbad::Context probe(gbad::Device::CPU);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gbad-bench: error: %s\n", e.what());
    return 2;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const bool cuda = gbad::cuda_available();
  benchmark::AddCustomContext("gbad_commit", GBAD_GIT_COMMIT);
  benchmark::AddCustomContext("gbad_build_type", GBAD_BUILD_TYPE);
  benchmark::AddCustomContext("precision", gbad::bench::precision_option());
  benchmark::AddCustomContext("cpu_model", cpu_model());
  benchmark::AddCustomContext("GBAD_HALF_LAYOUT", env_or("GBAD_HALF_LAYOUT", "(unset: auto)"));
  benchmark::AddCustomContext("GBAD_CONV_ALGO", env_or("GBAD_CONV_ALGO", "(unset)"));
  benchmark::AddCustomContext("OMP_WAIT_POLICY", env_or("OMP_WAIT_POLICY", "(unset)"));
  benchmark::AddCustomContext("GOMP_SPINCOUNT", env_or("GOMP_SPINCOUNT", "(unset)"));
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", env_or("OPENBLAS_CORETYPE", "(unset)"));
  benchmark::AddCustomContext("OMP_NUM_THREADS", env_or("OMP_NUM_THREADS", "(unset)"));
  benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  benchmark::AddCustomContext("openblas", openblas_get_config());
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  if (cuda) {
    gbad::Context ctx(gbad::Device::CUDA);
    benchmark::AddCustomContext("cuda_device", ctx.device_description());
    benchmark::AddCustomContext("cuda_archs", GBAD_CUDA_ARCHS);
  } else {
    benchmark::AddCustomContext("cuda_device", "none (CUDA cases not registered)");
  }

  gbad::bench::register_kernel_benchmarks(cuda);
  gbad::bench::register_conv_benchmarks(cuda);
  gbad::bench::register_model_benchmarks(cuda);
  gbad::bench::register_pipeline_benchmarks(cuda);
  gbad::bench::register_step_benchmarks(cuda);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
