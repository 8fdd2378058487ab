// CUDA, cuBLAS and cuDNN error checks. Include only from .cu files or CUDA-aware .cpp files
// (compiled when GBAD_WITH_CUDA is defined).
//
// GBAD_CUDA_SYNC=1 in the environment makes every checked call (launches, cuBLAS, cuDNN, CUDA
// runtime calls) synchronise the device afterwards, so an asynchronous fault (an illegal
// address in a kernel, a failing cuDNN kernel) is reported at the call that caused it rather
// than at some later, unrelated call. Slow; for debugging and scripts/gpu-check.sh.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/check.h"

namespace gbad {
const char* cublas_status_string(cublasStatus_t s);
// True when GBAD_CUDA_SYNC=1 (read once per process).
bool cuda_sync_each_call();
// Synchronises the device; throws naming `expr` and file:line if anything before failed.
void cuda_sync_after(const char* expr, const char* file, int line);
}  // namespace gbad

#define GBAD_CUDA_SYNC_POINT(expr)                                                        \
  do {                                                                                    \
    if (::gbad::cuda_sync_each_call()) ::gbad::cuda_sync_after(expr, __FILE__, __LINE__); \
  } while (0)

#define CUDA_CHECK(expr)                                                                         \
  do {                                                                                           \
    cudaError_t gbad_err_ = (expr);                                                              \
    if (gbad_err_ != cudaSuccess)                                                                \
      ::gbad::throw_error(                                                                       \
          __FILE__, __LINE__,                                                                    \
          ::gbad::detail::concat("CUDA error in " #expr ": ", cudaGetErrorName(gbad_err_), " (", \
                                 cudaGetErrorString(gbad_err_), ")"));                           \
    GBAD_CUDA_SYNC_POINT(#expr);                                                                 \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                     \
    cublasStatus_t gbad_st_ = (expr);                                                      \
    if (gbad_st_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::gbad::throw_error(__FILE__, __LINE__,                                              \
                          ::gbad::detail::concat("cuBLAS error in " #expr ": ",            \
                                                 ::gbad::cublas_status_string(gbad_st_))); \
    GBAD_CUDA_SYNC_POINT(#expr);                                                           \
  } while (0)

#define CUDNN_CHECK(expr)                                                                       \
  do {                                                                                          \
    cudnnStatus_t gbad_st_ = (expr);                                                            \
    if (gbad_st_ != CUDNN_STATUS_SUCCESS)                                                       \
      ::gbad::throw_error(                                                                      \
          __FILE__, __LINE__,                                                                   \
          ::gbad::detail::concat("cuDNN error in " #expr ": ", cudnnGetErrorString(gbad_st_))); \
    GBAD_CUDA_SYNC_POINT(#expr);                                                                \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site (and, with
// GBAD_CUDA_SYNC=1, faults inside the kernel).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
