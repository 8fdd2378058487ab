// Context: everything an op needs besides its tensors: the device, the CUDA stream and the
// cuBLAS / cuDNN handles (created on first use), a reusable workspace, and the random stream.
// There is no global context: each caller owns one and passes it down.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/tensor.h"

// Opaque CUDA handle types, so this header needs no CUDA headers.
struct CUstream_st;
struct cublasContext;
struct cudnnContext;

namespace gbad {

// Counter-based random stream: a seed plus an offset that every draw advances. Ops that need
// randomness take (seed, offset) so the CPU and the CUDA versions draw identical numbers.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves one stream for a draw and returns its offset.
  uint64_t next() { return offset_++; }
  // Host-side draws (initialisers, sampling), on the same Philox generator.
  float uniform();  // [0, 1)
  float normal();

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  uint64_t host_counter_ = 0;
};

class Context {
 public:
  explicit Context(Device device = Device::CPU, uint64_t seed = 0, int cuda_device = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;

  Device device() const { return device_; }
  bool is_cuda() const { return device_ == Device::CUDA; }
  Rng& rng() { return rng_; }

  // CUDA only (throw on a CPU context or a build without CUDA).
  CUstream_st* stream();
  cublasContext* cublas();
  cudnnContext* cudnn();
  // A scratch buffer on this context's device of at least `bytes`; grows, never shrinks.
  // Valid until the next call.
  void* workspace(size_t bytes);
  size_t workspace_bytes() const;
  void synchronize();
  std::string device_description() const;  // "cpu (N threads)" or the GPU's name

  // Per-context cache for backends (e.g. cuDNN algorithm choices keyed by a shape string).
  struct Cache {
    std::unordered_map<std::string, std::shared_ptr<void>> entries;
  };
  Cache& cache() { return cache_; }

 private:
  struct Impl;
  Device device_;
  Rng rng_;
  std::unique_ptr<Impl> impl_;
  Cache cache_;
};

}  // namespace gbad
