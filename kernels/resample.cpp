// Dispatchers for kernels/resample.h: check devices and shapes, call the backend.
#include "kernels/resample.h"

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;

namespace {
void check_planes(const char* op, const Tensor& big, const char* bn, const Tensor& small,
                  const char* sn) {
  GBAD_CHECK(big.ndim() == 4 && small.ndim() == 4, op, ": ", bn, " ", big.str(), " and ", sn, " ",
             small.str(), " must be NCHW");
  GBAD_CHECK(big.n() == small.n() && big.c() == small.c(), op, ": ", bn, " ", big.str(), " and ",
             sn, " ", small.str(), " differ in N or C");
  GBAD_CHECK(big.h() > 0 && big.w() > 0 && small.h() > 0 && small.w() > 0, op,
             ": empty spatial size in ", bn, " ", big.str(), " or ", sn, " ", small.str());
}
}  // namespace

void upsample_bilinear_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "upsample_bilinear_forward", {&y, &x});
  check_planes("upsample_bilinear_forward", y, "y", x, "x");
  GBAD_DISPATCH(ctx, upsample_bilinear_forward, ctx, y, x);
}

void upsample_bilinear_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  check_devices(ctx, "upsample_bilinear_backward", {&dx, &dy});
  check_planes("upsample_bilinear_backward", dy, "dy", dx, "dx");
  GBAD_DISPATCH(ctx, upsample_bilinear_backward, ctx, dx, dy);
}

}  // namespace gbad
