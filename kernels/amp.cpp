// Dispatchers for kernels/amp.h: check devices and sizes, call the backend.
#include "kernels/amp.h"

#include "kernels/amp_body.h"
#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;

namespace {
void check_state(const char* op, const Tensor& state) {
  GBAD_CHECK(state.numel() == kAmpStateSize, op, ": the loss-scale state must hold ", kAmpStateSize,
             " floats, got ", state.str());
}
}  // namespace

void amp_unscale(Context& ctx, Tensor& grads, Tensor& state) {
  check_devices(ctx, "amp_unscale", {&grads, &state});
  check_state("amp_unscale", state);
  GBAD_DISPATCH(ctx, amp_unscale, ctx, grads, state);
}

void amp_update(Context& ctx, Tensor& state, float growth, float backoff, int64_t interval) {
  check_devices(ctx, "amp_update", {&state});
  check_state("amp_update", state);
  GBAD_CHECK(growth > 1.f && backoff > 0.f && backoff < 1.f && interval >= 1,
             "amp_update: needs growth > 1, 0 < backoff < 1 and interval >= 1, got ", growth, ", ",
             backoff, ", ", interval);
  GBAD_DISPATCH(ctx, amp_update, ctx, state, growth, backoff, interval);
}

void amp_scale(Context& ctx, Tensor& t, const Tensor& state) {
  check_devices(ctx, "amp_scale", {&t, &state});
  check_state("amp_scale", state);
  if (t.numel() == 0) return;
  GBAD_DISPATCH(ctx, amp_scale, ctx, t, state);
}

void amp_cast(Context& ctx, Tensor& dst, const Tensor& src) {
  const char* op = "amp_cast";
  GBAD_CHECK(dst.defined() && src.defined(), op, ": undefined tensor");
  GBAD_CHECK(dst.device() == ctx.device() && src.device() == ctx.device(), op, ": ", src.str(),
             " -> ", dst.str(), " not on the context's device (", device_name(ctx.device()), ")");
  GBAD_CHECK(dst.numel() == src.numel(), op, ": ", src.str(), " -> ", dst.str(),
             ": different element counts");
  GBAD_CHECK((dst.dtype() == DType::F32) != (src.dtype() == DType::F32), op, ": ", src.str(),
             " -> ", dst.str(), ": casts f32 to f16/bf16 or back");
  if (dst.numel() == 0) return;
  GBAD_DISPATCH(ctx, amp_cast, ctx, dst, src);
}

void amp_round(Context& ctx, Tensor& t, Precision p) {
  if (!stores_half(p) || t.numel() == 0) return;
  check_devices(ctx, "amp_round", {&t});
  GBAD_DISPATCH(ctx, amp_round, ctx, t, p);
}

}  // namespace gbad
