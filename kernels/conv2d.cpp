// Dispatchers and shape helpers for kernels/conv2d.h: check devices and shapes, call the
// backend.
#include "kernels/conv2d.h"

#include <memory>
#include <sstream>

#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/op_checks.h"

namespace gbad {

using detail::check_named_devices;

std::string Conv2dShape::str() const {
  std::ostringstream os;
  os << "n" << n << " c" << c << " h" << h << " w" << w << " k" << k << " r" << r << " s" << s
     << " p" << p << " q" << q << " stride" << sh << "x" << sw << " pad" << ph << "x" << pw;
  return os.str();
}

int64_t conv2d_out_size(int64_t in, int64_t k, int stride, int pad) {
  return (in + 2 * int64_t(pad) - k) / stride + 1;
}

Conv2dShape conv2d_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  GBAD_CHECK(x.size() == 4, "conv2d: x must be (N,C,H,W), got ", shape_str(x));
  GBAD_CHECK(w.size() == 4, "conv2d: w must be (K,C,R,S), got ", shape_str(w));
  GBAD_CHECK(x[1] == w[1], "conv2d: x ", shape_str(x), " has ", x[1], " channels but w ",
             shape_str(w), " expects ", w[1]);
  GBAD_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.pad_h >= 0 && p.pad_w >= 0,
             "conv2d: bad stride ", p.stride_h, "x", p.stride_w, " or padding ", p.pad_h, "x",
             p.pad_w);
  Conv2dShape s;
  s.n = x[0];
  s.c = x[1];
  s.h = x[2];
  s.w = x[3];
  s.k = w[0];
  s.r = w[2];
  s.s = w[3];
  s.sh = p.stride_h;
  s.sw = p.stride_w;
  s.ph = p.pad_h;
  s.pw = p.pad_w;
  GBAD_CHECK(s.h + 2 * s.ph >= s.r && s.w + 2 * s.pw >= s.s, "conv2d: kernel ", s.r, "x", s.s,
             " larger than the padded input ", shape_str(x));
  s.p = conv2d_out_size(s.h, s.r, s.sh, s.ph);
  s.q = conv2d_out_size(s.w, s.s, s.sw, s.pw);
  return s;
}

const char* conv_layout_name(ConvLayout l) {
  return l == ConvLayout::NhwcHalf ? "nhwc-half" : "nchw-f32";
}

ConvLayout conv_layout_for(Device d, Precision p) {
  return d == Device::CUDA && stores_half(p) ? ConvLayout::NhwcHalf : ConvLayout::NchwF32;
}

std::string conv_plan_key(ConvAlgo a, Precision p, ConvLayout l, const Conv2dShape& s) {
  return std::string("cudnn.conv2d ") + conv_algo_name(a) + " " + precision_name(p) + " " +
         conv_layout_name(l) + " " + s.str();
}

HalfPathStats& half_path_stats(Context& ctx) {
  std::shared_ptr<void>& slot = ctx.cache().entries["half_path.stats"];
  if (!slot) slot = std::make_shared<HalfPathStats>();
  return *static_cast<HalfPathStats*>(slot.get());
}

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x, w, p);
  return {s.n, s.k, s.p, s.q};
}

namespace {

Conv2dShape check_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                          const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(y.shape() == Shape({s.n, s.k, s.p, s.q}), "conv2d_forward: y is ", y.str(),
             ", expected ", shape_str({s.n, s.k, s.p, s.q}), " for ", s.str());
  GBAD_CHECK(!bias || bias->numel() == s.k, "conv2d_forward: bias ", bias->str(), " needs ", s.k,
             " values");
  return s;
}

Conv2dShape check_backward(const Tensor* dx, const Tensor* dw, const Tensor* db, const Tensor& dy,
                           const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Conv2dShape s = conv2d_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(dy.shape() == Shape({s.n, s.k, s.p, s.q}), "conv2d_backward: dy is ", dy.str(),
             ", expected ", shape_str({s.n, s.k, s.p, s.q}), " for ", s.str());
  GBAD_CHECK(!dx || dx->shape() == x.shape(), "conv2d_backward: dx ", dx->str(), " vs x ", x.str());
  GBAD_CHECK(!dw || dw->shape() == w.shape(), "conv2d_backward: dw ", dw->str(), " vs w ", w.str());
  GBAD_CHECK(!db || db->numel() == s.k, "conv2d_backward: db ", db->str(), " needs ", s.k,
             " values");
  return s;
}

}  // namespace

void conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w, const Tensor* bias,
                    const Conv2dParams& p, ConvHalfInput* keep) {
  check_named_devices(ctx, "conv2d_forward", {{"y", &y}, {"x", &x}, {"w", &w}, {"bias", bias}});
  check_forward(y, x, w, bias, p);
  if (y.numel() == 0) return;  // an empty batch: nothing to compute on either backend
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) return cuda::conv2d_forward(ctx, y, x, w, bias, p, keep);
#endif
  GBAD_CHECK(!ctx.is_cuda(), "conv2d_forward: CUDA tensors, but gbad was built without CUDA");
  if (keep) keep->x = Tensor();  // the CPU keeps no half copy
  cpu::conv2d_forward(ctx, y, x, w, bias, p);
}

void conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                     const Tensor& x, const Tensor& w, const Conv2dParams& p,
                     const ConvHalfInput* kept) {
  check_named_devices(ctx, "conv2d_backward",
                      {{"dx", dx}, {"dw", dw}, {"db", db}, {"dy", &dy}, {"x", &x}, {"w", &w}});
  check_backward(dx, dw, db, dy, x, w, p);
  if (dy.numel() == 0) {  // an empty batch: no gradient flows; dx (if any) is all zeros
    if (dx) dx->zero();
    return;
  }
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) return cuda::conv2d_backward(ctx, dx, dw, db, dy, x, w, p, kept);
#endif
  (void)kept;  // the CPU converts nothing
  GBAD_CHECK(!ctx.is_cuda(), "conv2d_backward: CUDA tensors, but gbad was built without CUDA");
  cpu::conv2d_backward(ctx, dx, dw, db, dy, x, w, p);
}

void conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                            const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                            const Tensor& running_var, float eps, const Tensor* residual, bool relu,
                            const Conv2dParams& p) {
  check_named_devices(ctx, "conv2d_bn_eval_forward",
                      {{"y", &y},
                       {"x", &x},
                       {"w", &w},
                       {"gamma", &gamma},
                       {"beta", &beta},
                       {"running_mean", &running_mean},
                       {"running_var", &running_var},
                       {"residual", residual}});
  Conv2dShape s = check_forward(y, x, w, nullptr, p);
  for (const Tensor* t : {&gamma, &beta, &running_mean, &running_var})
    GBAD_CHECK(t->numel() == s.k, "conv2d_bn_eval_forward: BatchNorm parameter ", t->str(),
               " needs ", s.k, " values (one per output channel)");
  GBAD_CHECK(!residual || residual->shape() == y.shape(), "conv2d_bn_eval_forward: residual ",
             residual->str(), " vs y ", y.str());
  GBAD_CHECK(residual != &y && &x != &y, "conv2d_bn_eval_forward: y must not alias x or residual");
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda() && conv_layout_for(ctx.device(), ctx.precision()) == ConvLayout::NhwcHalf &&
      cuda::conv2d_bn_eval_forward_half(ctx, y, x, w, gamma, beta, running_mean, running_var, eps,
                                        residual, relu, p))
    return;
  if (ctx.is_cuda()) {
    // Composed from the existing CUDA ops: the convolution into a scratch tensor kept in the
    // context's cache (cuDNN's BatchNorm is not asked to work in place), then element-wise
    // ops, which may.
    std::shared_ptr<void>& slot = ctx.cache().entries["conv2d_bn_eval_forward.tmp"];
    if (!slot) slot = std::make_shared<Tensor>();
    Tensor& tmp = *static_cast<Tensor*>(slot.get());
    tmp.resize(y.shape(), y.device());
    conv2d_forward(ctx, tmp, x, w, nullptr, p);
    batchnorm2d_forward_eval(ctx, y, tmp, gamma, beta, running_mean, running_var, eps);
    if (residual) add(ctx, y, y, *residual);
    if (relu) relu_forward(ctx, y, y);
    return;
  }
#endif
  GBAD_CHECK(!ctx.is_cuda(),
             "conv2d_bn_eval_forward: CUDA tensors, but gbad was built without CUDA");
  cpu::conv2d_bn_eval_forward(ctx, y, x, w, gamma, beta, running_mean, running_var, eps, residual,
                              relu, p);
}

}  // namespace gbad
