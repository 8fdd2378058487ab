#include "train/schedule.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace gbad {

LrSchedule::LrSchedule(const std::string& kind, float base, int64_t total_steps,
                       int64_t steps_per_epoch, int step_epochs, float gamma)
    : base_(base),
      total_(total_steps),
      per_epoch_(steps_per_epoch),
      step_epochs_(std::max(1, step_epochs)),
      gamma_(gamma) {
  if (kind == "constant")
    kind_ = Kind::Constant;
  else if (kind == "cosine")
    kind_ = Kind::Cosine;
  else if (kind == "step")
    kind_ = Kind::Step;
  else
    GBAD_FAIL("unknown --schedule '", kind, "' (constant, cosine or step)");
}

float LrSchedule::lr(int64_t step) const {
  switch (kind_) {
    case Kind::Constant:
      return base_;
    case Kind::Cosine:
      if (total_ <= 0) return base_;
      return 0.5f * base_ *
             (1.f +
              std::cos(3.14159265358979f * static_cast<float>(step) / static_cast<float>(total_)));
    case Kind::Step: {
      const int64_t epoch = per_epoch_ > 0 ? step / per_epoch_ : 0;
      return base_ * std::pow(gamma_, static_cast<float>(epoch / step_epochs_));
    }
  }
  return base_;
}

}  // namespace gbad
