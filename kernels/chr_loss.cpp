// Dispatcher for kernels/chr_loss.h.
#include "kernels/chr_loss.h"

#include "kernels/op_checks.h"

namespace gbad {

void chr_bce_with_logits(Context& ctx, Tensor& loss, Tensor& dlogits, const Tensor& logits,
                         const Tensor& targets, const Tensor* mask) {
  detail::check_devices(ctx, "chr_bce_with_logits", {&loss, &logits, &targets});
  detail::check_named_devices(ctx, "chr_bce_with_logits", {{"dlogits", &dlogits}, {"mask", mask}});
  GBAD_CHECK(loss.numel() == 1, "chr_bce_with_logits: loss must hold one value, got ", loss.str());
  detail::check_same_shape("chr_bce_with_logits", logits, "logits", targets, "targets");
  if (dlogits.defined())
    detail::check_same_shape("chr_bce_with_logits", logits, "logits", dlogits, "dlogits");
  if (mask) detail::check_same_shape("chr_bce_with_logits", logits, "logits", *mask, "mask");
  GBAD_DISPATCH(ctx, chr_bce_with_logits, ctx, loss, dlogits, logits, targets, mask);
}

}  // namespace gbad
