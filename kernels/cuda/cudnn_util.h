// Move-only RAII owners of cuDNN descriptors (a copyable owner would destroy twice) and the
// TF32 note shared by the cuDNN-backed ops (conv2d, batchnorm).
//
// Math: CUDNN_FMA_MATH keeps every convolution in exact fp32 on all GPUs. CUDNN_DEFAULT_MATH is
// NOT enough on Ampere and newer (H100/H200), where it permits TF32 tensor cores. At
// --precision tf32/fp16/bf16 the convolutions set CUDNN_TENSOR_OP_MATH (kernels/cuda/conv2d.cu).
#pragma once

#include <cudnn.h>

#include <utility>

#include "core/cuda_check.h"

namespace gbad::cuda {

template <typename H, cudnnStatus_t (*Create)(H*), cudnnStatus_t (*Destroy)(H)>
class CudnnDesc {
 public:
  CudnnDesc() { CUDNN_CHECK(Create(&h_)); }
  ~CudnnDesc() {
    if (h_) Destroy(h_);  // never throw from a destructor
  }
  CudnnDesc(const CudnnDesc&) = delete;
  CudnnDesc& operator=(const CudnnDesc&) = delete;
  CudnnDesc(CudnnDesc&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CudnnDesc& operator=(CudnnDesc&& o) noexcept {
    if (this != &o) {
      if (h_) Destroy(h_);
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  H get() const { return h_; }
  operator H() const { return h_; }

 private:
  H h_ = nullptr;
};

using TensorDesc =
    CudnnDesc<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDesc =
    CudnnDesc<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDesc<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                           cudnnDestroyConvolutionDescriptor>;
using ActivationDesc = CudnnDesc<cudnnActivationDescriptor_t, cudnnCreateActivationDescriptor,
                                 cudnnDestroyActivationDescriptor>;

inline void set_nchw(cudnnTensorDescriptor_t d, int64_t n, int64_t c, int64_t h, int64_t w) {
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(c),
                                         int(h), int(w)));
}

// A 4-D descriptor in either layout: NCHW fp32 (the reference) or NHWC half (tensor cores).
inline void set_4d(cudnnTensorDescriptor_t d, cudnnTensorFormat_t f, cudnnDataType_t t, int64_t n,
                   int64_t c, int64_t h, int64_t w) {
  CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, f, t, int(n), int(c), int(h), int(w)));
}

}  // namespace gbad::cuda
