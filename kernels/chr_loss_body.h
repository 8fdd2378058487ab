// Per-element body of the CHR loss (kernels/chr_loss.h), host-callable so the CUDA kernel's
// logic is tested on the CPU.
#pragma once

#include "kernels/loss_body.h"

namespace gbad {

// BCE term of one element, zero (loss and gradient) for an easy negative.
GBAD_HD LossTerm chr_bce_term(float z, float t) {
  if (t == 0.f && z < -20.f) return LossTerm{0.f, 0.f};
  return bce_term(z, t, 1.f);
}

}  // namespace gbad
