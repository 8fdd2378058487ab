// Learning-rate schedules of gbad-train-cnn (--schedule constant|cosine|step).
#pragma once

#include <cstdint>
#include <string>

namespace gbad {

class LrSchedule {
 public:
  // constant: base at every step.
  // cosine:   base * (1 + cos(pi * step / total_steps)) / 2, from base at step 0 towards 0 at
  //           total_steps (constant when total_steps <= 0).
  // step:     base * gamma^floor(epoch / step_epochs), epoch = step / steps_per_epoch.
  // Throws naming the schedule when it is none of these.
  LrSchedule(const std::string& kind, float base, int64_t total_steps, int64_t steps_per_epoch,
             int step_epochs, float gamma);
  float lr(int64_t step) const;

 private:
  enum class Kind { Constant, Cosine, Step } kind_;
  float base_;
  int64_t total_, per_epoch_;
  int step_epochs_;
  float gamma_;
};

}  // namespace gbad
