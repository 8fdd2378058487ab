// Shared pieces of gbad-bench: registration entry points of each file, the timing loop (wall
// clock on the CPU, CUDA events and manual time on a GPU) and small tensor helpers.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad::bench {

// Each bench/*.cpp registers its cases from main() at run time (never at static-init time, so
// nothing touches the CUDA runtime before cuda_available() has been asked). With `cuda` false
// the CUDA twins are not registered at all.
void register_kernel_benchmarks(bool cuda);
void register_conv_benchmarks(bool cuda);
void register_model_benchmarks(bool cuda);
void register_pipeline_benchmarks(bool cuda);
void register_step_benchmarks(bool cuda);  // bench_step.cpp: graphs, async input

// gbad-bench --precision fp32|tf32|fp16|bf16|auto (default fp32), taken off the command line
// by main() before Google Benchmark parses it. The model cases run at it (core/precision.h:
// on the CPU fp16/bf16 are emulated by rounding, so they measure the emulation's cost).
void set_precision_option(const std::string& value);
const std::string& precision_option();
// The option resolved for a context's device ("auto": bf16 on sm_80+, fp16 on sm_7x, else fp32).
Precision bench_precision(const Context& ctx);

// "cpu" | "cuda", for benchmark names.
inline const char* dev_tag(Device d) {
  return d == Device::CUDA ? "cuda" : "cpu";
}

// Runs `fn` once per benchmark iteration after `warmup` untimed calls. CPU: the library's wall
// clock (register with UseRealTime()). CUDA: each call is bracketed by CUDA events on the
// context's stream and reported with SetIterationTime (register with UseManualTime()).
void run_timed(benchmark::State& state, Context& ctx, const std::function<void()>& fn,
               int warmup = 1);

// Uniform random values in [lo, hi) on `device` (host Philox stream, deterministic).
Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.f, float hi = 1.f,
                     Device device = Device::CPU);
// Random 0/1 values.
Tensor random_binary(const Shape& shape, uint64_t seed, Device device = Device::CPU);
// True when every element is finite (copies to the host).
bool all_finite(const Tensor& t);

// Counters. bytes: read + written bytes of one call; flops: floating-point operations of one
// call; items: images / samples of one call. All rates per second of benchmark time.
void set_bytes_rate(benchmark::State& state, double bytes);
void set_flops_rate(benchmark::State& state, double flops);
void set_items_rate(benchmark::State& state, const char* name, double items);

// Registers a benchmark with the time unit and clock that fit its device.
benchmark::internal::Benchmark* add(const std::string& name, Device device,
                                    std::function<void(benchmark::State&)> fn);

}  // namespace gbad::bench
