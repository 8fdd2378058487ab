#include "train/loss_log.h"

#include <cmath>

#include "core/check.h"
#include "kernels/elementwise.h"

namespace gbad {

LossLog::LossLog(int64_t capacity, Device device, int64_t width) : width_(width) {
  GBAD_CHECK(capacity >= 1 && width >= 1, "LossLog: capacity and width must be >= 1, got ",
             capacity, " and ", width);
  slots_ = Tensor::zeros({capacity * width}, device);
}

void LossLog::record_row(Context& ctx, const Tensor& row) {
  GBAD_CHECK(!full(), "LossLog: ", capacity(), " steps recorded without a read");
  GBAD_CHECK(row.numel() == width_ && row.device() == slots_.device() && row.dtype() == DType::F32,
             "LossLog: a step's row must be ", width_, " f32 on ", device_name(slots_.device()),
             ", got ", row.str());
  Tensor slot = slots_.view(n_ * width_, {width_});
  axpby(ctx, slot, 1.f, row, 0.f);  // finite old values (see record)
  ++n_;
}

void LossLog::record(Context& ctx, const Tensor& loss, const Tensor* aux, float aux_weight) {
  GBAD_CHECK(width_ == 1, "LossLog: record() of one loss in a log of ", width_, " a step");
  GBAD_CHECK(!full(), "LossLog: ", capacity(), " steps recorded without a read");
  GBAD_CHECK(loss.numel() == 1 && loss.device() == slots_.device() && loss.dtype() == DType::F32,
             "LossLog: the loss must be one f32 on ", device_name(slots_.device()), ", got ",
             loss.str());
  Tensor slot = slots_.view(n_, {1});
  // slot = loss: the slot's old value is finite (read() zeroes the slots after a non-finite
  // one), so 0 * it adds nothing.
  axpby(ctx, slot, 1.f, loss, 0.f);
  if (aux) {
    GBAD_CHECK(aux->numel() == 1 && aux->device() == slots_.device(),
               "LossLog: the auxiliary loss must be one value on the log's device, got ",
               aux->str());
    axpby(ctx, slot, aux_weight, *aux, 1.f);
  }
  ++n_;
}

std::vector<float> LossLog::read() {
  std::vector<float> v = slots_.view(0, {std::max<int64_t>(n_ * width_, 1)}).to_vector();
  v.resize(static_cast<size_t>(n_ * width_));
  // A non-finite value would survive axpby's 0 * y at the slot's next use (0 * NaN = NaN).
  if (first_non_finite(v) >= 0) slots_.zero();
  n_ = 0;
  return v;
}

int64_t first_non_finite(const std::vector<float>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) return static_cast<int64_t>(i);
  return -1;
}

}  // namespace gbad
