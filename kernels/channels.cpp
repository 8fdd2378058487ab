// Dispatcher for kernels/channels.h.
#include "kernels/channels.h"

#include "kernels/op_checks.h"

namespace gbad {

void channel_copy(Context& ctx, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate) {
  detail::check_devices(ctx, "channel_copy", {&dst, &src});
  GBAD_CHECK(dst.ndim() == 4 && src.ndim() == 4 && dst.n() == src.n() && dst.h() == src.h() &&
                 dst.w() == src.w(),
             "channel_copy: expects NCHW tensors with the same N, H, W, got ", dst.str(), " and ",
             src.str());
  GBAD_CHECK(count >= 0 && dst_c0 >= 0 && src_c0 >= 0 && dst_c0 + count <= dst.c() &&
                 src_c0 + count <= src.c(),
             "channel_copy: channels [", src_c0, ", ", src_c0 + count, ") of ", src.str(), " -> [",
             dst_c0, ", ", dst_c0 + count, ") of ", dst.str(), " out of range");
  GBAD_CHECK(dst.raw() != src.raw(), "channel_copy: dst and src share storage");
  if (count == 0 || dst.n() == 0) return;
  GBAD_DISPATCH(ctx, channel_copy, ctx, dst, dst_c0, src, src_c0, count, accumulate);
}

}  // namespace gbad
