// Dispatchers and shape helpers for kernels/conv_transpose.h.
#include "kernels/conv_transpose.h"

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_named_devices;

int64_t conv_transpose2d_out_size(int64_t in, int64_t k, int stride, int pad) {
  return (in - 1) * stride - 2 * int64_t(pad) + k;
}

Conv2dShape conv_transpose2d_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  GBAD_CHECK(x.size() == 4, "conv_transpose2d: x must be (N,Cin,H,W), got ", shape_str(x));
  GBAD_CHECK(w.size() == 4, "conv_transpose2d: w must be (Cin,Cout,R,S), got ", shape_str(w));
  GBAD_CHECK(x[1] == w[0], "conv_transpose2d: x ", shape_str(x), " has ", x[1], " channels but w ",
             shape_str(w), " expects ", w[0]);
  GBAD_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
             "conv_transpose2d: bad stride ", p.stride_h, "x", p.stride_w, " or padding ", p.pad_h,
             "x", p.pad_w);
  Conv2dShape s;
  s.n = x[0];
  s.k = x[1];
  s.p = x[2];
  s.q = x[3];
  s.c = w[1];
  s.r = w[2];
  s.s = w[3];
  s.sh = p.stride_h;
  s.sw = p.stride_w;
  s.ph = p.pad_h;
  s.pw = p.pad_w;
  s.h = conv_transpose2d_out_size(s.p, s.r, s.sh, s.ph);
  s.w = conv_transpose2d_out_size(s.q, s.s, s.sw, s.pw);
  GBAD_CHECK(s.h >= 1 && s.w >= 1, "conv_transpose2d: padding ", p.pad_h, "x", p.pad_w,
             " leaves no output for x ", shape_str(x), " and w ", shape_str(w));
  return s;
}

Shape conv_transpose2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Conv2dShape s = conv_transpose2d_shape(x, w, p);
  return {s.n, s.c, s.h, s.w};
}

void conv_transpose2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                              const Tensor* bias, const Conv2dParams& p) {
  check_named_devices(ctx, "conv_transpose2d_forward",
                      {{"y", &y}, {"x", &x}, {"w", &w}, {"bias", bias}});
  Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(y.shape() == Shape({s.n, s.c, s.h, s.w}), "conv_transpose2d_forward: y is ", y.str(),
             ", expected ", shape_str({s.n, s.c, s.h, s.w}));
  GBAD_CHECK(!bias || bias->numel() == s.c, "conv_transpose2d_forward: bias ", bias->str(),
             " needs ", s.c, " values");
  GBAD_DISPATCH(ctx, conv_transpose2d_forward, ctx, y, x, w, bias, p);
}

void conv_transpose2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                               const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  check_named_devices(ctx, "conv_transpose2d_backward",
                      {{"dx", dx}, {"dw", dw}, {"db", db}, {"dy", &dy}, {"x", &x}, {"w", &w}});
  Conv2dShape s = conv_transpose2d_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(dy.shape() == Shape({s.n, s.c, s.h, s.w}), "conv_transpose2d_backward: dy is ",
             dy.str(), ", expected ", shape_str({s.n, s.c, s.h, s.w}));
  GBAD_CHECK(!dx || dx->shape() == x.shape(), "conv_transpose2d_backward: dx ", dx->str(), " vs x ",
             x.str());
  GBAD_CHECK(!dw || dw->shape() == w.shape(), "conv_transpose2d_backward: dw ", dw->str(), " vs w ",
             w.str());
  GBAD_CHECK(!db || db->numel() == s.c, "conv_transpose2d_backward: db ", db->str(), " needs ", s.c,
             " values");
  GBAD_DISPATCH(ctx, conv_transpose2d_backward, ctx, dx, dw, db, dy, x, w, p);
}

}  // namespace gbad
