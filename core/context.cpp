#include "core/context.h"

#include <omp.h>

#include <string>

#include "core/philox.h"

#ifdef GBAD_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace gbad {

float Rng::uniform() {
  return rng_uniform(seed_, ~uint64_t(0), host_counter_++);
}
float Rng::normal() {
  return rng_normal(seed_, ~uint64_t(0) - 1, host_counter_++);
}

struct Context::Impl {
  int cuda_device = 0;
#ifdef GBAD_WITH_CUDA
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
#endif
  std::unique_ptr<Buffer> workspace;

  ~Impl() {
#ifdef GBAD_WITH_CUDA
    if (cudnn) cudnnDestroy(cudnn);
    if (cublas) cublasDestroy(cublas);
    if (stream) cudaStreamDestroy(stream);
#endif
  }
};

Context::Context(Device device, uint64_t seed, int cuda_device)
    : device_(device), rng_(seed), impl_(std::make_unique<Impl>()) {
  impl_->cuda_device = cuda_device;
  if (device == Device::CUDA) {
#ifdef GBAD_WITH_CUDA
    GBAD_CHECK(cuda_available(), "--device cuda requested but no CUDA device is present");
    GBAD_CHECK(cuda_device >= 0 && cuda_device < cuda_device_count(), "CUDA device ", cuda_device,
               " does not exist (", cuda_device_count(), " present)");
    CUDA_CHECK(cudaSetDevice(cuda_device));
#else
    GBAD_FAIL("--device cuda requested but gbad was built without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
}

Context::~Context() = default;
Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

#ifdef GBAD_WITH_CUDA
CUstream_st* Context::stream() {
  GBAD_CHECK(is_cuda(), "stream() on a CPU context");
  // The legacy default stream: host<->device cudaMemcpy calls then order with our kernels.
  return nullptr;
}

cublasContext* Context::cublas() {
  GBAD_CHECK(is_cuda(), "cublas() on a CPU context");
  if (!impl_->cublas) {
    CUBLAS_CHECK(cublasCreate(&impl_->cublas));
    CUBLAS_CHECK(cublasSetStream(impl_->cublas, stream()));
    // Exact fp32: no TF32 unless a caller asks for it explicitly.
    CUBLAS_CHECK(cublasSetMathMode(impl_->cublas, CUBLAS_DEFAULT_MATH));
  }
  return impl_->cublas;
}

cudnnContext* Context::cudnn() {
  GBAD_CHECK(is_cuda(), "cudnn() on a CPU context");
  if (!impl_->cudnn) {
    CUDNN_CHECK(cudnnCreate(&impl_->cudnn));
    CUDNN_CHECK(cudnnSetStream(impl_->cudnn, stream()));
  }
  return impl_->cudnn;
}

void Context::synchronize() {
  if (is_cuda()) CUDA_CHECK(cudaDeviceSynchronize());
}

std::string Context::device_description() const {
  if (!is_cuda()) return "cpu (" + std::to_string(omp_get_max_threads()) + " threads)";
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, impl_->cuda_device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}
#else
CUstream_st* Context::stream() {
  GBAD_FAIL("gbad was built without CUDA");
}
cublasContext* Context::cublas() {
  GBAD_FAIL("gbad was built without CUDA");
}
cudnnContext* Context::cudnn() {
  GBAD_FAIL("gbad was built without CUDA");
}
void Context::synchronize() {}
std::string Context::device_description() const {
  return "cpu (" + std::to_string(omp_get_max_threads()) + " threads)";
}
#endif

void* Context::workspace(size_t bytes) {
  if (!impl_->workspace || impl_->workspace->bytes() < bytes) {
    impl_->workspace.reset();  // free first so peak memory stays at one workspace
    impl_->workspace = std::make_unique<Buffer>(bytes, device_);
  }
  return impl_->workspace->data();
}

size_t Context::workspace_bytes() const {
  return impl_->workspace ? impl_->workspace->bytes() : 0;
}

}  // namespace gbad
