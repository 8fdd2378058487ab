// Dynamic loss scaling for fp16 training with PyTorch GradScaler's semantics: the loss is
// multiplied by `scale` before backward; unscale() divides the gradients by it and flags inf or
// NaN; the optimiser step is skipped when flagged (the step kernels read the flag on the
// device); update() halves the scale after an overflow and doubles it after `interval` clean
// steps. Initial scale 2^16, growth 2, backoff 0.5, interval 2000 (GradScaler's defaults).
// The state is a 4-float device tensor (kernels/amp_body.h), so no step waits for the host;
// the host reads it only for logs and checkpoints. bf16 and fp32 need no scaling: a disabled
// scaler has scale 1 and never flags.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

struct LossScalerConfig {
  bool enabled = true;
  float init_scale = 65536.f;
  float growth = 2.f;
  float backoff = 0.5f;
  int64_t interval = 2000;
};

struct LossScalerSnapshot {
  float scale = 1.f;
  int64_t growth_tracker = 0;
  bool found_inf = false;
  int64_t skipped_steps = 0;
};

class LossScaler {
 public:
  LossScaler(Device device, const LossScalerConfig& cfg = {});

  bool enabled() const { return cfg_.enabled; }
  // The 4-float state on the device (scale read by the loss kernel and the step kernels).
  Tensor& state() { return state_; }
  const Tensor& state() const { return state_; }

  // grads /= scale and flag non-finite values (no-op when disabled).
  void unscale(Context& ctx, Tensor& grads);
  // End of step: back off or grow, count skips, clear the flag (no-op when disabled).
  void update(Context& ctx);

  // Host copy of the state (synchronises: for logs every N steps and checkpoints only).
  LossScalerSnapshot snapshot() const;
  // Checkpoint metadata: "amp.scale", "amp.growth_tracker", "amp.skipped_steps" as exact
  // decimal strings; restore() reads them back (missing keys: a fresh scaler).
  std::map<std::string, std::string> to_metadata() const;
  void restore(const std::map<std::string, std::string>& meta);

 private:
  LossScalerConfig cfg_;
  Tensor state_;
};

}  // namespace gbad
