#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/cuda_check.h"
#include "core/cuda_graph.h"

namespace gbad {

namespace {
__global__ void fill_kernel(float* p, int64_t n, float v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x)
    p[i] = v;
}
}  // namespace

bool cuda_sync_each_call() {
  static const bool on = [] {
    const char* e = std::getenv("GBAD_CUDA_SYNC");
    return e && std::strcmp(e, "0") != 0 && *e != '\0';
  }();
  return on;
}

void cuda_sync_after(const char* expr, const char* file, int line) {
  if (capturing_on_this_thread()) return;  // would invalidate a CUDA graph's capture
  cudaError_t err = cudaDeviceSynchronize();
  if (err == cudaSuccess) err = cudaGetLastError();
  if (err != cudaSuccess)
    throw_error(file, line,
                detail::concat("CUDA error after ", expr, " (GBAD_CUDA_SYNC=1 synchronised here): ",
                               cudaGetErrorName(err), " (", cudaGetErrorString(err), ")"));
}

// "" when this binary holds code the current device can run, else the runtime's error name.
std::string cuda_kernel_image_error() {
  cudaFuncAttributes attr{};
  cudaError_t err = cudaFuncGetAttributes(&attr, fill_kernel);
  if (err == cudaSuccess) return "";
  cudaGetLastError();
  return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
}

void cuda_fill_f32(float* p, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;  // a grid of zero blocks is an invalid launch
  int threads = 256;
  int blocks = static_cast<int>((n + threads - 1) / threads);
  if (blocks > 65535) blocks = 65535;
  fill_kernel<<<blocks, threads, 0, stream>>>(p, n, value);
  CUDA_CHECK_LAUNCH();
}

const char* cublas_status_string(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS:
      return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED:
      return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE:
      return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR:
      return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED:
      return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR:
      return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED:
      return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR:
      return "CUBLAS_STATUS_LICENSE_ERROR";
    default:
      return "unknown cuBLAS status";
  }
}

}  // namespace gbad
