// Dispatchers for kernels/pooling.h: check devices and shapes, call the backend.
#include "kernels/pooling.h"

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;
using detail::check_same_shape;

int64_t maxpool2d_out_size(int64_t in, int k, int s, int p) {
  return (in + 2 * p - k) / s + 1;
}

namespace {
void check_pool_geometry(const char* op, const Tensor& x, const Tensor& y, int k, int s, int p) {
  GBAD_CHECK(k >= 1 && s >= 1 && p >= 0 && 2 * p <= k, op, ": bad kernel ", k, " stride ", s,
             " padding ", p, " (need k >= 1, s >= 1, 0 <= 2p <= k)");
  GBAD_CHECK(x.ndim() == 4 && y.ndim() == 4, op, ": expects NCHW tensors, got ",
             shape_str(x.shape()), " and ", shape_str(y.shape()));
  GBAD_CHECK(x.h() + 2 * p >= k && x.w() + 2 * p >= k, op, ": input ", shape_str(x.shape()),
             " is smaller than the kernel ", k);
  const Shape want = {x.n(), x.c(), maxpool2d_out_size(x.h(), k, s, p),
                      maxpool2d_out_size(x.w(), k, s, p)};
  GBAD_CHECK(y.shape() == want, op, ": output is ", shape_str(y.shape()), ", expected ",
             shape_str(want), " for input ", shape_str(x.shape()));
  GBAD_CHECK(x.numel() < (int64_t(1) << 31), op, ": input too large for int32 argmax indices");
}

void check_avg_geometry(const char* op, const Tensor& x, const Tensor& y,
                        const AvgPool2dParams& p) {
  GBAD_CHECK(p.kh >= 1 && p.kw >= 1 && p.sh >= 1 && p.sw >= 1 && p.ph >= 0 && p.pw >= 0 &&
                 2 * p.ph <= p.kh && 2 * p.pw <= p.kw,
             op, ": bad kernel ", p.kh, "x", p.kw, " stride ", p.sh, "x", p.sw, " padding ", p.ph,
             "x", p.pw, " (need k >= 1, s >= 1, 0 <= 2p <= k)");
  GBAD_CHECK(x.ndim() == 4 && y.ndim() == 4, op, ": expects NCHW tensors, got ",
             shape_str(x.shape()), " and ", shape_str(y.shape()));
  GBAD_CHECK(x.h() + 2 * p.ph >= p.kh && x.w() + 2 * p.pw >= p.kw, op, ": input ",
             shape_str(x.shape()), " is smaller than the kernel ", p.kh, "x", p.kw);
  const Shape want = {x.n(), x.c(), avgpool2d_out_size(x.h(), p.kh, p.sh, p.ph),
                      avgpool2d_out_size(x.w(), p.kw, p.sw, p.pw)};
  GBAD_CHECK(y.shape() == want, op, ": output is ", shape_str(y.shape()), ", expected ",
             shape_str(want), " for input ", shape_str(x.shape()));
}

void check_nc_match(const char* op, const Tensor& a, const Tensor& b) {
  GBAD_CHECK(a.ndim() == 4 && b.ndim() == 4 && a.n() == b.n() && a.c() == b.c(), op,
             ": expects NCHW tensors with the same N and C, got ", shape_str(a.shape()), " and ",
             shape_str(b.shape()));
}
}  // namespace

void maxpool2d_forward(Context& ctx, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s,
                       int p) {
  check_devices(ctx, "maxpool2d_forward", {&y, &argmax, &x});
  check_pool_geometry("maxpool2d_forward", x, y, k, s, p);
  check_same_shape("maxpool2d_forward", y, "y", argmax, "argmax");
  GBAD_DISPATCH(ctx, maxpool2d_forward, ctx, y, argmax, x, k, s, p);
}

void maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& argmax, int k,
                        int s, int p) {
  check_devices(ctx, "maxpool2d_backward", {&dx, &dy, &argmax});
  check_pool_geometry("maxpool2d_backward", dx, dy, k, s, p);
  check_same_shape("maxpool2d_backward", dy, "dy", argmax, "argmax");
  GBAD_DISPATCH(ctx, maxpool2d_backward, ctx, dx, dy, argmax, k, s, p);
}

int64_t avgpool2d_out_size(int64_t in, int k, int s, int p) {
  return (in + 2 * p - k) / s + 1;
}

void avgpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, const AvgPool2dParams& p) {
  check_devices(ctx, "avgpool2d_forward", {&y, &x});
  check_avg_geometry("avgpool2d_forward", x, y, p);
  GBAD_DISPATCH(ctx, avgpool2d_forward, ctx, y, x, p);
}

void avgpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p) {
  check_devices(ctx, "avgpool2d_backward", {&dx, &dy});
  check_avg_geometry("avgpool2d_backward", dx, dy, p);
  GBAD_DISPATCH(ctx, avgpool2d_backward, ctx, dx, dy, p);
}

void global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "global_avgpool_forward", {&y, &x});
  GBAD_CHECK(x.ndim() == 4 && y.ndim() == 2 && y.size(0) == x.n() && y.size(1) == x.c(),
             "global_avgpool_forward: expects x (N,C,H,W) and y (N,C), got ", shape_str(x.shape()),
             " and ", shape_str(y.shape()));
  GBAD_DISPATCH(ctx, global_avgpool_forward, ctx, y, x);
}

void global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  check_devices(ctx, "global_avgpool_backward", {&dx, &dy});
  GBAD_CHECK(dx.ndim() == 4 && dy.ndim() == 2 && dy.size(0) == dx.n() && dy.size(1) == dx.c(),
             "global_avgpool_backward: expects dx (N,C,H,W) and dy (N,C), got ",
             shape_str(dx.shape()), " and ", shape_str(dy.shape()));
  GBAD_DISPATCH(ctx, global_avgpool_backward, ctx, dx, dy);
}

void upsample_nearest_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "upsample_nearest_forward", {&y, &x});
  check_nc_match("upsample_nearest_forward", y, x);
  GBAD_DISPATCH(ctx, upsample_nearest_forward, ctx, y, x);
}

void upsample_nearest_backward(Context& ctx, Tensor& dx, const Tensor& dy) {
  check_devices(ctx, "upsample_nearest_backward", {&dx, &dy});
  check_nc_match("upsample_nearest_backward", dx, dy);
  GBAD_DISPATCH(ctx, upsample_nearest_backward, ctx, dx, dy);
}

void upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat, const Tensor& x) {
  check_devices(ctx, "upsample_nearest_add_forward", {&y, &lat, &x});
  check_nc_match("upsample_nearest_add_forward", y, x);
  check_same_shape("upsample_nearest_add_forward", y, "y", lat, "lat");
  GBAD_DISPATCH(ctx, upsample_nearest_add_forward, ctx, y, lat, x);
}

void upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                   const Tensor& addend) {
  check_devices(ctx, "upsample_nearest_add_backward", {&dx, &dy, &addend});
  check_nc_match("upsample_nearest_add_backward", dx, dy);
  check_same_shape("upsample_nearest_add_backward", dx, "dx", addend, "addend");
  GBAD_DISPATCH(ctx, upsample_nearest_add_backward, ctx, dx, dy, addend);
}

}  // namespace gbad
