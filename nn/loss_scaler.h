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
#include <utility>
#include <vector>

#include "core/context.h"
#include "core/param_store.h"
#include "core/precision.h"
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

// Fills the store's compute copy from the fp32 master weights, rounded at the context's
// precision (nothing when the store has no compute copy).
void refresh_compute_copy(Context& ctx, ParamStore& ps);

// The mixed-precision parts of one training step, at ctx.precision() (read at construction):
//
//   mp.store_input(ctx, x);                    // the input batch, stored in half
//   forward; loss (reads half logits, accumulates fp32) -> dlogits
//   mp.scale_loss_grad(ctx, dlogits);          // * loss scale (fp16), stored in half
//   ps.zero_grad(); backward                   // activations' gradients stored in half
//   mp.unscale_grads(ctx);                     // weight grads stored in half, / scale, inf check
//   sgd.step(ctx, mp.skip_state());            // the kernel skips on the device flag
//   mp.end_step(ctx);                          // scale update; half weights refreshed
//
// fp16/bf16: the store gets a compute copy (the forward's half weights; ParamStore::keep_fp32
// entries, BatchNorm's, read the master). fp16 also scales the loss (LossScaler, GradScaler's
// semantics). fp32/tf32: every call is a no-op and the step is exactly the fp32 step.
class MixedPrecision {
 public:
  MixedPrecision(Context& ctx, ParamStore& ps, LossScalerConfig cfg = {});
  Precision precision() const { return precision_; }
  LossScaler& scaler() { return scaler_; }
  const LossScaler& scaler() const { return scaler_; }

  void store_input(Context& ctx, Tensor& x) const;
  void scale_loss_grad(Context& ctx, Tensor& dloss);
  void unscale_grads(Context& ctx);
  // The scaler's device state for the optimiser's skip (null when not scaling).
  const Tensor* skip_state() const { return scaler_.enabled() ? &scaler_.state() : nullptr; }
  void end_step(Context& ctx);
  // After the master weights change outside a step (checkpoint or pretrained weights loaded).
  void refresh_weights(Context& ctx) { refresh_compute_copy(ctx, *ps_); }

 private:
  ParamStore* ps_;
  Precision precision_;
  LossScaler scaler_;
  std::vector<std::pair<int64_t, int64_t>> half_grad_runs_;  // (offset, count) in grads()
};

}  // namespace gbad
