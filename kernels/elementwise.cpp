// Dispatchers for kernels/elementwise.h: check devices and shapes, call the backend.
#include "kernels/elementwise.h"

#include "kernels/op_checks.h"

namespace gbad {

using detail::check_devices;
using detail::check_same_shape;

void relu_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "relu_forward", {&y, &x});
  check_same_shape("relu_forward", y, "y", x, "x");
  GBAD_DISPATCH(ctx, relu_forward, ctx, y, x);
}

void relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  check_devices(ctx, "relu_backward", {&dx, &dy, &y});
  check_same_shape("relu_backward", dx, "dx", dy, "dy");
  check_same_shape("relu_backward", dy, "dy", y, "y");
  GBAD_DISPATCH(ctx, relu_backward, ctx, dx, dy, y);
}

void leaky_relu_forward(Context& ctx, Tensor& y, const Tensor& x, float slope) {
  check_devices(ctx, "leaky_relu_forward", {&y, &x});
  check_same_shape("leaky_relu_forward", y, "y", x, "x");
  GBAD_DISPATCH(ctx, leaky_relu_forward, ctx, y, x, slope);
}

void leaky_relu_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, float slope) {
  check_devices(ctx, "leaky_relu_backward", {&dx, &dy, &x});
  check_same_shape("leaky_relu_backward", dx, "dx", dy, "dy");
  check_same_shape("leaky_relu_backward", dy, "dy", x, "x");
  GBAD_DISPATCH(ctx, leaky_relu_backward, ctx, dx, dy, x, slope);
}

void sigmoid_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "sigmoid_forward", {&y, &x});
  check_same_shape("sigmoid_forward", y, "y", x, "x");
  GBAD_DISPATCH(ctx, sigmoid_forward, ctx, y, x);
}

void sigmoid_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  check_devices(ctx, "sigmoid_backward", {&dx, &dy, &y});
  check_same_shape("sigmoid_backward", dx, "dx", dy, "dy");
  check_same_shape("sigmoid_backward", dy, "dy", y, "y");
  GBAD_DISPATCH(ctx, sigmoid_backward, ctx, dx, dy, y);
}

void tanh_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "tanh_forward", {&y, &x});
  check_same_shape("tanh_forward", y, "y", x, "x");
  GBAD_DISPATCH(ctx, tanh_forward, ctx, y, x);
}

void tanh_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& y) {
  check_devices(ctx, "tanh_backward", {&dx, &dy, &y});
  check_same_shape("tanh_backward", dx, "dx", dy, "dy");
  check_same_shape("tanh_backward", dy, "dy", y, "y");
  GBAD_DISPATCH(ctx, tanh_backward, ctx, dx, dy, y);
}

void add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "add", {&y, &a, &b});
  check_same_shape("add", y, "y", a, "a");
  check_same_shape("add", a, "a", b, "b");
  GBAD_DISPATCH(ctx, add, ctx, y, a, b);
}

void add_inplace(Context& ctx, Tensor& y, const Tensor& x) {
  check_devices(ctx, "add_inplace", {&y, &x});
  check_same_shape("add_inplace", y, "y", x, "x");
  GBAD_DISPATCH(ctx, add_inplace, ctx, y, x);
}

void scale_inplace(Context& ctx, Tensor& y, float s) {
  check_devices(ctx, "scale_inplace", {&y});
  GBAD_DISPATCH(ctx, scale_inplace, ctx, y, s);
}

void axpby(Context& ctx, Tensor& y, float a, const Tensor& x, float b) {
  check_devices(ctx, "axpby", {&y, &x});
  check_same_shape("axpby", y, "y", x, "x");
  GBAD_DISPATCH(ctx, axpby, ctx, y, a, x, b);
}

namespace {
// a (N,Ca,...) and b (N,Cb,...) concatenate to y (N,Ca+Cb,...).
void check_concat_shapes(const char* op, const Tensor& y, const Tensor& a, const Tensor& b) {
  GBAD_CHECK(y.ndim() >= 2 && a.ndim() == y.ndim() && b.ndim() == y.ndim(), op,
             ": expects 2-D to 4-D tensors of one rank, got ", shape_str(y.shape()), ", ",
             shape_str(a.shape()), ", ", shape_str(b.shape()));
  bool ok = y.size(0) == a.size(0) && y.size(0) == b.size(0) && y.size(1) == a.size(1) + b.size(1);
  for (int d = 2; d < y.ndim(); ++d) ok = ok && y.size(d) == a.size(d) && y.size(d) == b.size(d);
  GBAD_CHECK(ok, op, ": ", shape_str(a.shape()), " + ", shape_str(b.shape()),
             " along dim 1 does not give ", shape_str(y.shape()));
}
}  // namespace

void concat1(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  check_devices(ctx, "concat1", {&y, &a, &b});
  check_concat_shapes("concat1", y, a, b);
  GBAD_DISPATCH(ctx, concat1, ctx, y, a, b);
}

void split1(Context& ctx, Tensor& da, Tensor& db, const Tensor& dy) {
  GBAD_CHECK(da.defined() || db.defined(), "split1: both outputs are undefined");
  check_devices(ctx, "split1", {&dy});
  if (da.defined()) check_devices(ctx, "split1 (da)", {&da});
  if (db.defined()) check_devices(ctx, "split1 (db)", {&db});
  // An undefined output still needs its shape for the check: derive it from the other.
  if (da.defined() && db.defined()) {
    check_concat_shapes("split1", dy, da, db);
  } else {
    const Tensor& t = da.defined() ? da : db;
    GBAD_CHECK(t.ndim() == dy.ndim() && t.ndim() >= 2 && t.size(0) == dy.size(0) &&
                   t.size(1) <= dy.size(1),
               "split1: ", shape_str(t.shape()), " is not a part of ", shape_str(dy.shape()));
  }
  GBAD_DISPATCH(ctx, split1, ctx, da, db, dy);
}

void dropout_forward(Context& ctx, Tensor& y, Tensor& mask, const Tensor& x, float p, uint64_t seed,
                     uint64_t offset) {
  check_devices(ctx, "dropout_forward", {&y, &mask, &x});
  check_same_shape("dropout_forward", y, "y", x, "x");
  check_same_shape("dropout_forward", mask, "mask", x, "x");
  GBAD_CHECK(p >= 0.f && p < 1.f, "dropout_forward: p must be in [0, 1), got ", p);
  GBAD_DISPATCH(ctx, dropout_forward, ctx, y, mask, x, p, seed, offset);
}

void dropout_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& mask) {
  check_devices(ctx, "dropout_backward", {&dx, &dy, &mask});
  check_same_shape("dropout_backward", dx, "dx", dy, "dy");
  check_same_shape("dropout_backward", dy, "dy", mask, "mask");
  GBAD_DISPATCH(ctx, dropout_backward, ctx, dx, dy, mask);
}

}  // namespace gbad
