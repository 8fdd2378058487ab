// Context: everything an op needs besides its tensors: the device, the CUDA stream and the
// cuBLAS / cuDNN handles (created on first use), a reusable workspace, and the random stream.
// There is no global context: each caller owns one and passes it down.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/precision.h"
#include "core/tensor.h"

// Opaque CUDA handle types, so this header needs no CUDA headers.
struct CUstream_st;
struct cublasContext;
struct cudnnContext;

namespace gbad {

class Communicator;  // core/comm.h
class Context;
class ParamStore;  // core/param_store.h

// Told by the layers as soon as their backward has finished writing a parameter's gradient
// (entry `ref` of `ps`), so data-parallel training can start reducing a bucket of gradients while
// backward goes on (dist/grad_reducer.h). Context::grad_ready calls it; none is set by default.
class GradReadyListener {
 public:
  virtual ~GradReadyListener() = default;
  virtual void grad_ready(Context& ctx, const ParamStore& ps, int ref) = 0;
};

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

// ---- Is a GPU usable, and if not, why ---------------------------------------------------------
// What the CUDA runtime and the libraries report, gathered once per process (cuda_probe()).
// Plain numbers and names, so the wording below is tested on machines without a GPU.
struct CudaProbe {
  bool built_with_cuda = false;
  int device_count = 0;          // valid only when error_name is empty
  std::string error_name;        // cudaGetErrorName of cudaGetDeviceCount's error, "" on success
  std::string error_string;      // cudaGetErrorString of it
  int driver_version = 0;        // cudaDriverGetVersion: 0 when no driver is installed
  int runtime_version = 0;       // CUDART_VERSION we were compiled against (e.g. 13000)
  int cudnn_cudart_version = 0;  // cudnnGetCudartVersion: the CUDA cuDNN was built for
  int cudnn_version = 0;         // cudnnGetVersion (library), e.g. 91900
  int cudnn_header_version = 0;  // CUDNN_VERSION (header we compiled against)
};
// The facts of this process (first call queries the runtime; later calls are cached). Never
// throws and never touches the runtime in a build without CUDA.
const CudaProbe& cuda_probe();
// Why no CUDA device can be used according to `p`, in words naming the versions involved, or ""
// when one can: no driver, a driver older than the runtime, no device, cuDNN built for another
// CUDA major version, a cuDNN library that is not the one of the header.
std::string cuda_unusable_reason(const CudaProbe& p);
// cuda_unavailable_reason() (core/tensor.h) applies it to this process.
// "CUDA 13.0" from 13000.
std::string cuda_version_str(int v);

// ---- Device choice for --device cpu|cuda|auto ------------------------------------------------
struct DeviceChoice {
  Device device = Device::CPU;
  std::string reason;  // why, in words ("--device auto: no usable GPU (...), using the CPU")
};
// "cpu" -> CPU; "cuda" -> CUDA, or throws an error naming why no GPU is usable; "auto" -> CUDA
// when a GPU is usable, else the CPU, with the reason. Anything else is an error.
DeviceChoice choose_device(const std::string& requested);

// How the cuDNN convolution algorithms are chosen (kernels/cuda/conv2d.cu).
//   Deterministic (default): deterministic algorithms only, no FFT / Winograd, exact fp32
//     (CUDNN_FMA_MATH): two runs give bit-identical results.
//   Fastest: whatever cuDNN's Find API times fastest (once per shape, cached), still without
//     TF32; results may differ run to run in the last bits.
// The default comes from the environment variable GBAD_CONV_ALGO (deterministic|fastest).
enum class ConvAlgo { Deterministic, Fastest };
ConvAlgo parse_conv_algo(const std::string& s);  // "deterministic" | "fastest"
const char* conv_algo_name(ConvAlgo a);

// Where the activations of a half-precision (fp16/bf16) run live between layers
// (docs/mixed-precision.md):
//   Nhwc: 16-bit NHWC tensors through the ResNet backbones (kernels/nhwc.h), converted only at
//     the edges (the input batch, the C2..C5 taps the heads read); cuDNN's tensor-core kernels
//     and fused BatchNorm + add + ReLU on the GPU. The CPU runs the same storage points through
//     its fp32 ops (bit-identical to Boundary there, slower: for tests).
//   Boundary: fp32 NCHW tensors holding half-rounded values, each convolution converting its
//     operands at its own boundary (the CPU emulation's layout).
// Auto (default): Nhwc on the GPU, Boundary on the CPU. The default comes from the environment
// variable GBAD_HALF_LAYOUT (auto|nhwc|boundary). Ignored at fp32/tf32.
enum class HalfLayout { Auto, Nhwc, Boundary };
HalfLayout parse_half_layout(const std::string& s);  // "auto" | "nhwc" | "boundary"
const char* half_layout_name(HalfLayout l);

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
  ConvAlgo conv_algo() const { return conv_algo_; }
  void set_conv_algo(ConvAlgo a) { conv_algo_ = a; }
  // The run's precision (core/precision.h; default fp32). Layers round their stored outputs
  // through it (kernels/amp.h amp_store); on the GPU tf32 switches cuBLAS to TF32 math.
  Precision precision() const { return precision_; }
  void set_precision(Precision p);
  HalfLayout half_layout() const { return half_layout_; }
  void set_half_layout(HalfLayout l) { half_layout_ = l; }
  // Do half-precision activations flow as 16-bit NHWC tensors (HalfLayout above, resolved for
  // this context's device and precision)?
  bool half_nhwc() const;
  // major*10 + minor of this context's GPU; 0 on the CPU.
  int compute_capability() const;

  // CUDA only (throw on a CPU context or a build without CUDA).
  // The stream this context's kernels, cuBLAS and cuDNN run on: the legacy default stream
  // (nullptr), unless use_own_stream() was called.
  CUstream_st* stream();
  // Runs this context's work on a stream of its own instead of the legacy default stream, as
  // capturing a CUDA graph needs (core/cuda_graph.h): a blocking stream, so the cudaMemcpy and
  // cudaMemset calls on the legacy default stream still order with it. Before the first
  // cublas()/cudnn() (their handles are bound to the stream when made). No-op on the CPU.
  void use_own_stream();
  bool has_own_stream() const;
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

  // Synchronised BatchNorm (nn/batchnorm.cpp): when set, training-mode BatchNorm2d layers
  // all-reduce their batch statistics (forward) and the sums their input gradient needs
  // (backward) over this communicator, so N processes normalise as one batch. Not owned.
  Communicator* bn_comm() const { return bn_comm_; }
  void set_bn_comm(Communicator* comm) { bn_comm_ = comm; }

  // Gradient-ready notifications (GradReadyListener above; not owned, null by default). A layer
  // calls grad_ready once for each parameter gradient its backward writes, after writing it.
  GradReadyListener* grad_listener() const { return grad_listener_; }
  void set_grad_listener(GradReadyListener* l) { grad_listener_ = l; }
  void grad_ready(const ParamStore& ps, int ref) {
    if (grad_listener_) grad_listener_->grad_ready(*this, ps, ref);
  }

 private:
  struct Impl;
  Device device_;
  Rng rng_;
  ConvAlgo conv_algo_ = ConvAlgo::Deterministic;
  Precision precision_ = Precision::Fp32;
  HalfLayout half_layout_ = HalfLayout::Auto;
  std::unique_ptr<Impl> impl_;
  Cache cache_;
  Communicator* bn_comm_ = nullptr;
  GradReadyListener* grad_listener_ = nullptr;
};

// Runs a scope at another precision and restores the context's afterwards: the parts that stay
// fp32 in a mixed-precision run (the Bi-GAN, the SVM features' scores).
class PrecisionScope {
 public:
  PrecisionScope(Context& ctx, Precision p) : ctx_(ctx), saved_(ctx.precision()) {
    ctx.set_precision(p);
  }
  ~PrecisionScope() { ctx_.set_precision(saved_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  Context& ctx_;
  Precision saved_;
};

}  // namespace gbad
