// The CUDA pieces of an asynchronous host->device input pipeline (data/loader.h BatchStager):
// page-locked host memory, a copy stream of its own and events to fence the copies against the
// compute. Without CUDA (or on a CPU context) they degrade to plain memory and nothing to wait
// for, so the logic above them runs, and is tested, on the CPU.
#pragma once

#include <cstddef>

struct CUstream_st;
struct CUevent_st;

namespace gbad {

// Host memory for asynchronous copies: page-locked (cudaHostAlloc) when `pinned` (a build with
// CUDA and a usable GPU), else plain (malloc). Move-only.
class HostBuffer {
 public:
  HostBuffer() = default;
  HostBuffer(size_t bytes, bool pinned);
  ~HostBuffer();
  HostBuffer(HostBuffer&& o) noexcept;
  HostBuffer& operator=(HostBuffer&& o) noexcept;
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  void* data() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  bool pinned() const { return pinned_; }

 private:
  void release() noexcept;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
  bool pinned_ = false;
};

// A CUDA stream that does not synchronise with the legacy default stream (the one the kernels
// run on, core/context.cpp), so copies on it overlap them. CUDA builds only: throws otherwise.
class CopyStream {
 public:
  CopyStream();
  ~CopyStream();
  CopyStream(const CopyStream&) = delete;
  CopyStream& operator=(const CopyStream&) = delete;
  CUstream_st* get() const { return s_; }
  // cudaMemcpyAsync host -> device on this stream (src must be page-locked to overlap).
  void copy_to_device(void* dst, const void* src, size_t bytes);

 private:
  CUstream_st* s_ = nullptr;
};

// A CUDA event without timing. CUDA builds only: throws otherwise.
class CudaEvent {
 public:
  CudaEvent();
  ~CudaEvent();
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  // Marks the work enqueued on `stream` so far (nullptr: the legacy default stream).
  void record(CUstream_st* stream);
  // Makes later work on `stream` wait for the marked work (device side; the host goes on).
  void wait_on(CUstream_st* stream) const;
  // Blocks the host until the marked work is done (at once when nothing was recorded).
  void synchronize() const;

 private:
  CUevent_st* e_ = nullptr;
};

}  // namespace gbad
