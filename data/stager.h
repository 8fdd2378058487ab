// The loader's batches on the compute device, double-buffered: the copy of batch k+1 to the GPU
// overlaps the compute of batch k.
//
//   BatchStager stager(ctx, BatchStager::Mode::Async);
//   while (stager.can_stage() && loader.next(b)) stager.stage(b);   // fill both slots
//   while (!stager.empty()) {
//     const DeviceBatch& x = stager.front();   // the compute stream waits for its copy
//     ... enqueue the step that reads x ...
//     stager.release();                        // its slot is free once that step has run
//     if (loader.next(b)) stager.stage(b);     // copied while the step runs
//   }
//
// Two slots, used in turn. Async on a CUDA context: stage() copies the host batch into the
// slot's page-locked buffer (after the slot's previous copy out of it has finished) and starts
// cudaMemcpyAsync on a copy stream of the stager's own, ordered after the compute that last read
// the slot (an event recorded by release()); front() makes the compute stream wait for the
// copy's event. Sync on a CUDA context: stage() copies at once with cudaMemcpy (the reference
// and the comparison). On a CPU context the "device" batch is the host batch itself (no copy at
// all); the slots, their order and their checks are the same in every mode, so the logic runs
// in CPU tests.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/async_copy.h"
#include "core/context.h"
#include "core/tensor.h"
#include "data/loader.h"

namespace gbad {

// A batch on the stager's device: the images, labels and mask of a Batch (same shapes).
struct DeviceBatch {
  Tensor images, labels, mask;
  std::vector<std::string> stems;
  std::vector<int64_t> indices;
  int slot = -1;  // which of the two slots holds it
  int64_t size() const { return static_cast<int64_t>(stems.size()); }
};

class BatchStager {
 public:
  enum class Mode { Sync, Async };
  // `ctx` must outlive the stager; its device is the batches' device.
  BatchStager(Context& ctx, Mode mode);
  ~BatchStager();
  BatchStager(const BatchStager&) = delete;
  BatchStager& operator=(const BatchStager&) = delete;

  // Async and on a CUDA context: the copies overlap the compute.
  bool async() const { return async_; }
  bool can_stage() const { return count_ < 2; }
  bool empty() const { return count_ == 0; }
  int staged() const { return count_; }
  // Copies a host batch (f32 images, labels and mask) into the free slot. Fails when both slots
  // are staged and not released.
  void stage(const Batch& b);
  // The oldest staged batch. Fails when none is staged.
  const DeviceBatch& front();
  // The compute reading front() has been enqueued: its slot takes the batch after next.
  void release();
  // Host bytes of the page-locked buffers (0 unless async).
  size_t pinned_bytes() const;

 private:
  struct Slot;
  Context& ctx_;
  bool async_;
  std::unique_ptr<CopyStream> copy_;
  std::array<std::unique_ptr<Slot>, 2> slots_;
  int head_ = 0, count_ = 0;
};

BatchStager::Mode parse_input_copy(const std::string& s);  // "sync" | "async"

}  // namespace gbad
