// Optimisers over a ParamStore's flat buffers: one kernel per step (kernels/optim.h). Their
// state lives in the store (ps.state(1) for SGD momentum, ps.state(2) = [m | v] for Adam), so
// a checkpoint of the store plus steps() resumes training exactly.
#pragma once

#include <cstdint>

#include "core/context.h"
#include "core/param_store.h"
#include "core/tensor.h"

namespace gbad {

// Copies a 1-element tensor (e.g. a fused loss) to the host; waits for the device.
float read_scalar(const Tensor& t);

struct SgdConfig {
  float lr = 0.01f;
  float momentum = 0.9f;
  float weight_decay = 1e-4f;
  bool nesterov = false;
  float dampening = 0.f;
};

// torch.optim.SGD over every trainable parameter of the store.
class Sgd {
 public:
  Sgd(ParamStore& ps, const SgdConfig& cfg);
  // p -= lr * update(grad); reads the gradients as they are (the caller zeroes them).
  // `amp_state` (MixedPrecision::skip_state()): the kernel changes nothing when its found_inf
  // flag is set, decided on the device. steps() still counts the call (the host does not learn
  // of the skip); with torch's zero dampening a skipped first step leaves the same momentum as
  // torch's lazily created buffer.
  void step(Context& ctx, const Tensor* amp_state = nullptr);
  void set_lr(float lr) { cfg_.lr = lr; }
  float lr() const { return cfg_.lr; }
  const SgdConfig& config() const { return cfg_; }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }

  // The learning rate on the device: from now on step() makes the kernel read it from a
  // 1-element tensor on ctx's device, which upload_lr() writes (on ctx's stream) before each
  // step, outside any capture. A step captured in a CUDA graph then replays with the current
  // rate instead of the one it was captured with, so a schedule that changes the rate every
  // step (cosine) can be replayed. Values are the same as with the rate passed by value.
  void use_device_lr(Context& ctx);
  bool device_lr() const { return lr_dev_.defined(); }
  void upload_lr(Context& ctx);

 private:
  ParamStore* ps_;
  SgdConfig cfg_;
  int64_t steps_ = 0;
  Tensor lr_dev_;
};

struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.f;
  bool decoupled = false;  // AdamW
};

// torch.optim.Adam / AdamW over every trainable parameter of the store.
class Adam {
 public:
  Adam(ParamStore& ps, const AdamConfig& cfg);
  // `amp_state` as Sgd::step; a skipped step still advances the bias correction's count.
  void step(Context& ctx, const Tensor* amp_state = nullptr);
  void set_lr(float lr) { cfg_.lr = lr; }
  float lr() const { return cfg_.lr; }
  const AdamConfig& config() const { return cfg_; }
  int64_t steps() const { return steps_; }
  void set_steps(int64_t s) { steps_ = s; }

 private:
  ParamStore* ps_;
  AdamConfig cfg_;
  int64_t steps_ = 0;
};

// Exponential moving average of a store's parameters, held in its own buffer on the store's
// device: ema = decay*ema + (1-decay)*p after each update().
class Ema {
 public:
  Ema() = default;
  // Starts from a copy of the store's current parameters.
  Ema(ParamStore& ps, float decay);
  void update(Context& ctx, ParamStore& ps);
  // Writes the averaged values into the store's parameters (e.g. before evaluation).
  void copy_to(ParamStore& ps) const;
  // Restarts the average from the store's current parameters.
  void reset(ParamStore& ps);
  const Tensor& values() const { return values_; }
  Tensor& values() { return values_; }
  float decay() const { return decay_; }
  void set_decay(float d) { decay_ = d; }

 private:
  Tensor values_;
  float decay_ = 0.9999f;
};

}  // namespace gbad
