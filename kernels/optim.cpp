// Dispatchers for kernels/optim.h: check devices and sizes, call the backend.
#include "kernels/optim.h"

#include "kernels/amp_body.h"
#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;

namespace {
void check_flat(const char* op, const Tensor& a, const char* an, const Tensor& b, const char* bn) {
  GBAD_CHECK(a.numel() == b.numel(), op, ": ", an, " has ", a.numel(), " elements but ", bn,
             " has ", b.numel());
}
void check_amp_state(Context& ctx, const char* op, const Tensor* s) {
  if (!s) return;
  check_devices(ctx, op, {s});
  GBAD_CHECK(s->numel() == kAmpStateSize, op, ": the loss-scale state must hold ", kAmpStateSize,
             " floats, got ", s->str());
}
}  // namespace

void sgd_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& momentum_buf, int64_t step,
              float lr, float momentum, float weight_decay, float dampening, bool nesterov,
              const Tensor* amp_state, const Tensor* lr_device) {
  const char* op = "sgd_step";
  check_devices(ctx, op, {&params, &grads});
  check_flat(op, params, "params", grads, "grads");
  GBAD_CHECK(step >= 1, op, ": step is 1-based, got ", step);
  GBAD_CHECK(!nesterov || (momentum > 0.f && dampening == 0.f), op,
             ": Nesterov momentum needs momentum > 0 and zero dampening");
  if (momentum != 0.f) {
    check_devices(ctx, op, {&momentum_buf});
    check_flat(op, params, "params", momentum_buf, "momentum_buf");
  }
  check_amp_state(ctx, op, amp_state);
  if (lr_device) {
    check_devices(ctx, op, {lr_device});
    GBAD_CHECK(lr_device->numel() == 1 && lr_device->dtype() == DType::F32, op,
               ": lr_device must be one f32 value, got ", lr_device->str());
  }
  GBAD_DISPATCH(ctx, sgd_step, ctx, params, grads, momentum_buf, step, lr, momentum, weight_decay,
                dampening, nesterov, amp_state, lr_device);
}

void adam_step(Context& ctx, Tensor& params, const Tensor& grads, Tensor& m, Tensor& v,
               int64_t step, float lr, float beta1, float beta2, float eps, float weight_decay,
               bool decoupled, const Tensor* amp_state) {
  const char* op = "adam_step";
  check_devices(ctx, op, {&params, &grads, &m, &v});
  check_flat(op, params, "params", grads, "grads");
  check_flat(op, params, "params", m, "m");
  check_flat(op, params, "params", v, "v");
  GBAD_CHECK(step >= 1, op, ": step is 1-based, got ", step);
  GBAD_CHECK(beta1 >= 0.f && beta1 < 1.f && beta2 >= 0.f && beta2 < 1.f, op,
             ": betas must be in [0, 1), got ", beta1, ", ", beta2);
  check_amp_state(ctx, op, amp_state);
  GBAD_DISPATCH(ctx, adam_step, ctx, params, grads, m, v, step, lr, beta1, beta2, eps, weight_decay,
                decoupled, amp_state);
}

void ema_update(Context& ctx, Tensor& ema, const Tensor& params, float decay) {
  check_devices(ctx, "ema_update", {&ema, &params});
  check_flat("ema_update", ema, "ema", params, "params");
  GBAD_DISPATCH(ctx, ema_update, ctx, ema, params, decay);
}

}  // namespace gbad
