// CUDA, cuBLAS and cuDNN error checks. Include only from .cu files or CUDA-aware .cpp files
// (compiled when GBAD_WITH_CUDA is defined).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/check.h"

namespace gbad {
const char* cublas_status_string(cublasStatus_t s);
}

#define CUDA_CHECK(expr)                                                                         \
  do {                                                                                           \
    cudaError_t gbad_err_ = (expr);                                                              \
    if (gbad_err_ != cudaSuccess)                                                                \
      ::gbad::throw_error(                                                                       \
          __FILE__, __LINE__,                                                                    \
          ::gbad::detail::concat("CUDA error in " #expr ": ", cudaGetErrorName(gbad_err_), " (", \
                                 cudaGetErrorString(gbad_err_), ")"));                           \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                 \
  do {                                                                                     \
    cublasStatus_t gbad_st_ = (expr);                                                      \
    if (gbad_st_ != CUBLAS_STATUS_SUCCESS)                                                 \
      ::gbad::throw_error(__FILE__, __LINE__,                                              \
                          ::gbad::detail::concat("cuBLAS error in " #expr ": ",            \
                                                 ::gbad::cublas_status_string(gbad_st_))); \
  } while (0)

#define CUDNN_CHECK(expr)                                                                       \
  do {                                                                                          \
    cudnnStatus_t gbad_st_ = (expr);                                                            \
    if (gbad_st_ != CUDNN_STATUS_SUCCESS)                                                       \
      ::gbad::throw_error(                                                                      \
          __FILE__, __LINE__,                                                                   \
          ::gbad::detail::concat("cuDNN error in " #expr ": ", cudnnGetErrorString(gbad_st_))); \
  } while (0)

// After every kernel launch: catches bad launch configurations at the launch site.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
