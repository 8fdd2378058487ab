// Per-element bodies of the mixed-precision loss-scaling kernels (kernels/amp.h), host-callable
// so CPU tests drive exactly what the CUDA kernels run.
//
// The scaler's state lives on the device in 4 floats, so neither the overflow check nor the
// scale update needs the host (no per-step synchronisation):
//   [0] scale            the loss multiplier (PyTorch GradScaler: initial 2^16)
//   [1] growth_tracker   clean steps since the last change of scale
//   [2] found_inf        1 when a gradient of the current step is inf or NaN, else 0
//   [3] skipped_steps    steps skipped so far (for logs; read with the loss every N steps)
#pragma once

#include "core/half.h"  // GBAD_HD, f32_bits

namespace gbad {

enum AmpState { kAmpScale = 0, kAmpGrowthTracker = 1, kAmpFoundInf = 2, kAmpSkipped = 3 };
constexpr int kAmpStateSize = 4;

// g *= inv_scale; a non-finite result raises *found_inf (only ever written with 1, so
// concurrent writers agree and no atomics are needed).
GBAD_HD void amp_unscale_body(float* g, float inv_scale, float* found_inf) {
  const float v = *g * inv_scale;
  *g = v;
  if ((f32_bits(v) & 0x7F800000u) == 0x7F800000u) *found_inf = 1.f;  // inf or NaN
}

// GradScaler.update(): after an overflow halve (backoff) and restart the count; after
// `interval` clean steps in a row double (growth). Clears found_inf for the next step.
GBAD_HD void amp_update_body(float* s, float growth, float backoff, float interval) {
  if (s[kAmpFoundInf] != 0.f) {
    s[kAmpScale] *= backoff;
    s[kAmpGrowthTracker] = 0.f;
    s[kAmpSkipped] += 1.f;
  } else {
    s[kAmpGrowthTracker] += 1.f;
    if (s[kAmpGrowthTracker] >= interval) {
      s[kAmpScale] *= growth;
      s[kAmpGrowthTracker] = 0.f;
    }
  }
  s[kAmpFoundInf] = 0.f;
}

// One element of amp_cast: f32 -> f16/bf16 bits and back.
GBAD_HD uint16_t amp_to_half_body(float v, bool fp16) {
  return fp16 ? float_to_f16_bits(v) : float_to_bf16_bits(v);
}
GBAD_HD float amp_from_half_body(uint16_t h, bool fp16) {
  return fp16 ? f16_bits_to_float(h) : bf16_bits_to_float(h);
}

// Rounding through half storage: fp16 when `fp16`, else bf16 (kernels/amp.h amp_round).
GBAD_HD float amp_round_body(float v, bool fp16) {
  return fp16 ? round_to_f16(v) : round_to_bf16(v);
}

}  // namespace gbad
