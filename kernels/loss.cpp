// Dispatchers for kernels/loss.h: check devices and shapes, call the backend.
#include "kernels/loss.h"

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;
using detail::check_same_shape;

namespace {
void check_loss_out(const char* op, const Tensor& loss) {
  GBAD_CHECK(loss.numel() == 1, op, ": the loss output must hold 1 element, got ",
             shape_str(loss.shape()));
}
void check_grad(Context& ctx, const char* op, const Tensor& g, const Tensor& like) {
  if (!g.defined()) return;
  check_devices(ctx, op, {&g});
  check_same_shape(op, g, "gradient", like, "input");
}
void check_per_sample(const char* op, const Tensor& out, const Tensor& a) {
  GBAD_CHECK(a.ndim() >= 1 && out.numel() == a.size(0), op, ": out ", shape_str(out.shape()),
             " must hold one value per row of ", shape_str(a.shape()));
}
}  // namespace

void bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                     const Tensor& targets, const Tensor* mask, const Tensor* pos_weight) {
  const char* op = "bce_with_logits";
  check_devices(ctx, op, {&loss, &logits, &targets});
  check_loss_out(op, loss);
  check_same_shape(op, logits, "logits", targets, "targets");
  check_grad(ctx, op, dlogits, logits);
  if (mask) {
    check_devices(ctx, op, {mask});
    check_same_shape(op, *mask, "mask", logits, "logits");
  }
  if (pos_weight) {
    check_devices(ctx, op, {pos_weight});
    GBAD_CHECK(logits.ndim() >= 1 && pos_weight->numel() == logits.size(-1), op, ": pos_weight ",
               shape_str(pos_weight->shape()), " must hold one value per class of ",
               shape_str(logits.shape()));
  }
  GBAD_DISPATCH(ctx, bce_with_logits, ctx, loss, dlogits, logits, targets, mask, pos_weight);
}

void l1_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "l1_loss", {&loss, &a, &b});
  check_loss_out("l1_loss", loss);
  check_same_shape("l1_loss", a, "a", b, "b");
  check_grad(ctx, "l1_loss", da, a);
  GBAD_CHECK(a.numel() > 0, "l1_loss: empty input");
  GBAD_DISPATCH(ctx, l1_loss, ctx, loss, da, a, b);
}

void l1_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "l1_per_sample", {&out, &a, &b});
  check_same_shape("l1_per_sample", a, "a", b, "b");
  check_per_sample("l1_per_sample", out, a);
  if (a.numel() == 0) return;
  GBAD_DISPATCH(ctx, l1_per_sample, ctx, out, a, b);
}

void l2_loss(Context& ctx, Tensor& loss, Tensor& da, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "l2_loss", {&loss, &a, &b});
  check_loss_out("l2_loss", loss);
  check_same_shape("l2_loss", a, "a", b, "b");
  check_grad(ctx, "l2_loss", da, a);
  GBAD_CHECK(a.numel() > 0, "l2_loss: empty input");
  GBAD_DISPATCH(ctx, l2_loss, ctx, loss, da, a, b);
}

void l2_per_sample(Context& ctx, Tensor& out, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "l2_per_sample", {&out, &a, &b});
  check_same_shape("l2_per_sample", a, "a", b, "b");
  check_per_sample("l2_per_sample", out, a);
  if (a.numel() == 0) return;
  GBAD_DISPATCH(ctx, l2_per_sample, ctx, out, a, b);
}

void l2_per_sample_backward(Context& ctx, Tensor& da, const Tensor& dout, const Tensor& a,
                            const Tensor& b, const Tensor& out) {
  const char* op = "l2_per_sample_backward";
  check_devices(ctx, op, {&da, &dout, &a, &b, &out});
  check_same_shape(op, a, "a", b, "b");
  check_same_shape(op, da, "da", a, "a");
  check_per_sample(op, out, a);
  check_per_sample(op, dout, a);
  if (a.numel() == 0) return;
  GBAD_DISPATCH(ctx, l2_per_sample_backward, ctx, da, dout, a, b, out);
}

}  // namespace gbad
