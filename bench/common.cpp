// gbad-bench helpers: the timing loop and tensor helpers of bench_common.h.
#include <cmath>

#include "bench/bench_common.h"

#ifdef GBAD_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace gbad::bench {

void run_timed(benchmark::State& state, Context& ctx, const std::function<void()>& fn, int warmup) {
  for (int i = 0; i < warmup; ++i) fn();
  if (!ctx.is_cuda()) {
    for (auto _ : state) fn();
    return;
  }
#ifdef GBAD_WITH_CUDA
  ctx.synchronize();
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  cudaStream_t stream = ctx.stream();
  for (auto _ : state) {
    CUDA_CHECK(cudaEventRecord(start, stream));
    fn();
    CUDA_CHECK(cudaEventRecord(stop, stream));
    CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    state.SetIterationTime(ms * 1e-3);
  }
  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
#else
  state.SkipWithError("no CUDA device");
#endif
}

Tensor random_tensor(const Shape& shape, uint64_t seed, float lo, float hi, Device device) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = lo + (hi - lo) * rng.uniform();
  return Tensor::from_vector(v, shape, device);
}

Tensor random_binary(const Shape& shape, uint64_t seed, Device device) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = rng.uniform() < 0.5f ? 0.f : 1.f;
  return Tensor::from_vector(v, shape, device);
}

bool all_finite(const Tensor& t) {
  for (float x : t.to_vector())
    if (!std::isfinite(x)) return false;
  return true;
}

void set_bytes_rate(benchmark::State& state, double bytes) {
  state.counters["bytes/s"] = benchmark::Counter(
      bytes * double(state.iterations()), benchmark::Counter::kIsRate, benchmark::Counter::kIs1024);
}

void set_flops_rate(benchmark::State& state, double flops) {
  state.counters["FLOP/s"] =
      benchmark::Counter(flops * double(state.iterations()), benchmark::Counter::kIsRate);
}

void set_items_rate(benchmark::State& state, const char* name, double items) {
  state.counters[name] =
      benchmark::Counter(items * double(state.iterations()), benchmark::Counter::kIsRate);
}

benchmark::internal::Benchmark* add(const std::string& name, Device device,
                                    std::function<void(benchmark::State&)> fn) {
  auto* b = benchmark::RegisterBenchmark(name.c_str(), std::move(fn));
  if (device == Device::CUDA) {
    b->UseManualTime();
  } else {
    b->UseRealTime();
  }
  return b->Unit(benchmark::kMillisecond);
}

namespace {
std::string& precision_slot() {
  static std::string value = "fp32";
  return value;
}
}  // namespace

void set_precision_option(const std::string& value) {
  if (value != "auto") parse_precision(value);  // throws naming the bad value
  precision_slot() = value;
}

const std::string& precision_option() {
  return precision_slot();
}

Precision bench_precision(const Context& ctx) {
  return resolve_precision(precision_slot(), ctx.device(), ctx.compute_capability());
}

}  // namespace gbad::bench
