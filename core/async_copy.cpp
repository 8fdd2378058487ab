#include "core/async_copy.h"

#include <cstdlib>
#include <new>
#include <utility>

#include "core/check.h"
#include "core/tensor.h"

#ifdef GBAD_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace gbad {

HostBuffer::HostBuffer(size_t bytes, bool pinned) : bytes_(bytes) {
  if (bytes == 0) return;
#ifdef GBAD_WITH_CUDA
  if (pinned) {
    CUDA_CHECK(cudaHostAlloc(&ptr_, bytes, cudaHostAllocDefault));
    pinned_ = true;
    return;
  }
#else
  GBAD_CHECK(!pinned, "page-locked host memory needs a build with CUDA");
#endif
  ptr_ = std::malloc(bytes);
  if (!ptr_) throw std::bad_alloc();
}

HostBuffer::~HostBuffer() {
  release();
}

void HostBuffer::release() noexcept {
  if (!ptr_) return;
#ifdef GBAD_WITH_CUDA
  if (pinned_) {
    cudaFreeHost(ptr_);
    ptr_ = nullptr;
    return;
  }
#endif
  std::free(ptr_);
  ptr_ = nullptr;
}

HostBuffer::HostBuffer(HostBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)),
      bytes_(std::exchange(o.bytes_, 0)),
      pinned_(std::exchange(o.pinned_, false)) {}

HostBuffer& HostBuffer::operator=(HostBuffer&& o) noexcept {
  if (this != &o) {
    release();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
    pinned_ = std::exchange(o.pinned_, false);
  }
  return *this;
}

#ifdef GBAD_WITH_CUDA
CopyStream::CopyStream() {
  cudaStream_t s = nullptr;
  CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  s_ = s;
}
CopyStream::~CopyStream() {
  if (s_) cudaStreamDestroy(s_);
}
void CopyStream::copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s_));
}

CudaEvent::CudaEvent() {
  cudaEvent_t e = nullptr;
  CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  e_ = e;
}
CudaEvent::~CudaEvent() {
  if (e_) cudaEventDestroy(e_);
}
void CudaEvent::record(CUstream_st* stream) {
  CUDA_CHECK(cudaEventRecord(e_, stream));
}
void CudaEvent::wait_on(CUstream_st* stream) const {
  CUDA_CHECK(cudaStreamWaitEvent(stream, e_, 0));
}
void CudaEvent::synchronize() const {
  CUDA_CHECK(cudaEventSynchronize(e_));
}
#else
CopyStream::CopyStream() {
  GBAD_FAIL("a CUDA copy stream needs a build with CUDA");
}
CopyStream::~CopyStream() = default;
void CopyStream::copy_to_device(void*, const void*, size_t) {
  GBAD_FAIL("a CUDA copy stream needs a build with CUDA");
}
CudaEvent::CudaEvent() {
  GBAD_FAIL("a CUDA event needs a build with CUDA");
}
CudaEvent::~CudaEvent() {
  e_ = nullptr;  // never set without CUDA
}
void CudaEvent::record(CUstream_st*) {}
void CudaEvent::wait_on(CUstream_st*) const {}
void CudaEvent::synchronize() const {}
#endif

}  // namespace gbad
