// The training loss kept on the device, one slot per step, and read to the host every N steps
// (--log-every) and before every checkpoint instead of after every step, so that a step never
// waits for the device to finish it. The floats read are the ones a per-step read gives, so the
// logged losses and means do not depend on N. A non-finite loss is found at the next read, with
// its step; the caller stops there, and since it reads before writing any checkpoint, no
// checkpoint is ever written from the steps that followed it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

class LossLog {
 public:
  // Room for `capacity` steps between two reads (>= 1), on `device`; `width` values a step
  // (several losses: record_row).
  LossLog(int64_t capacity, Device device, int64_t width = 1);

  // Records this step's loss: loss (+ aux_weight * aux when aux is given), {1} f32 tensors on
  // the log's device. Device work only (two small kernels at most), no synchronisation. Fails
  // when full(): read first.
  void record(Context& ctx, const Tensor& loss, const Tensor* aux = nullptr,
              float aux_weight = 0.f);
  // Records this step's `width` values (a {width} f32 tensor on the log's device).
  void record_row(Context& ctx, const Tensor& row);
  int64_t pending() const { return n_; }
  int64_t capacity() const { return slots_.numel() / width_; }
  int64_t width() const { return width_; }
  bool full() const { return n_ >= capacity(); }
  // The losses recorded since the last read, in order, `width` a step (one device->host copy,
  // which waits for the device), and forgets them.
  std::vector<float> read();

 private:
  Tensor slots_;
  int64_t width_ = 1;
  int64_t n_ = 0;
};

// Index of the first non-finite value of v, or -1.
int64_t first_non_finite(const std::vector<float>& v);

}  // namespace gbad
