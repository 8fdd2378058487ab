// Dispatchers of kernels/nhwc.h and the twin: every op converts its half NHWC operands to fp32
// NCHW, runs the fp32 op of its family and rounds the results back into half NHWC. On the GPU
// the cuDNN forms run first (kernels/cuda/nhwc.cu, kernels/cuda/conv2d.cu); the twin is their
// fallback where cuDNN refuses a configuration.
#include "kernels/nhwc.h"

#include <cstdio>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "core/check.h"
#include "kernels/amp.h"
#include "kernels/batchnorm.h"
#include "kernels/layout.h"
#include "kernels/nhwc_body.h"
#include "kernels/op_checks.h"
#include "kernels/pooling.h"

namespace gbad {

namespace {

DType half_of(const Context& ctx) {
  GBAD_CHECK(stores_half(ctx.precision()), "half NHWC activations need --precision fp16 or bf16, ",
             "not ", precision_name(ctx.precision()));
  return ctx.precision() == Precision::Fp16 ? DType::F16 : DType::BF16;
}

void check_half(const Context& ctx, const char* op, const char* name, const Tensor& t) {
  GBAD_CHECK(is_half_nhwc(t), op, ": ", name, " ", t.str(), " is not a half NHWC tensor");
  GBAD_CHECK(t.device() == ctx.device(), op, ": ", name, " ", t.str(),
             " is not on the context's device (", device_name(ctx.device()), ")");
  GBAD_CHECK(t.dtype() == half_of(ctx), op, ": ", name, " ", t.str(), " is not ",
             precision_name(ctx.precision()), ", the context's precision");
}

void check_f32(const Context& ctx, const char* op, const char* name, const Tensor* t) {
  if (!t) return;
  GBAD_CHECK(t->defined() && t->dtype() == DType::F32 && t->device() == ctx.device(), op, ": ",
             name, " ", t->str(), " must be f32 on ", device_name(ctx.device()));
}

// A per-channel fp32 parameter or statistic of a BatchNorm over `x` (C values on its device).
void check_channels(const Context& ctx, const char* op, const char* name, const Tensor* t,
                    const Tensor& x) {
  if (!t) return;
  check_f32(ctx, op, name, t);
  GBAD_CHECK(t->numel() == x.c(), op, ": ", name, " ", t->str(), " must hold ", x.c(),
             " values, one per channel of ", x.str());
}

// out must not share memory with an input the op still reads.
void check_no_alias(const char* op, const Tensor& out, std::initializer_list<const Tensor*> ins) {
  for (const Tensor* in : ins)
    GBAD_CHECK(!in || !in->defined() || !out.defined() || out.raw() != in->raw(), op,
               ": the output ", out.str(), " aliases an input");
}

// The twin's fp32 NCHW copy of a half NHWC tensor (exact).
Tensor f32_of(Context& ctx, const Tensor& h) {
  Tensor t(h.shape(), h.device());
  nhwc_half_to_nchw(ctx, t, h, h.n(), h.c(), h.h() * h.w());
  return t;
}

// Rounds the fp32 NCHW result `f` into the half NHWC tensor `h` (already of f's shape).
void store(Context& ctx, Tensor& h, const Tensor& f) {
  nchw_to_nhwc_half(ctx, h, f, f.n(), f.c(), f.h() * f.w());
}

#ifdef GBAD_WITH_CUDA
// Says once per op and shape that the GPU ran the twin instead of cuDNN's NHWC form.
void note_fallback(const char* op, const Tensor& x) {
  static std::mutex mu;
  static std::set<std::string> said;
  const std::string key = std::string(op) + " " + shape_str(x.shape());
  std::lock_guard<std::mutex> lock(mu);
  if (!said.insert(key).second) return;
  std::fprintf(stderr,
               "warning: %s %s %s: cuDNN has no NHWC form for this configuration; it runs "
               "through fp32 NCHW with the same storage rounding\n",
               op, dtype_name(x.dtype()), shape_str(x.shape()).c_str());
}
#endif

}  // namespace

namespace {
void native(Context& ctx) {
  ++nhwc_stats(ctx).native_ops;
}
}  // namespace

NhwcStats& nhwc_stats(Context& ctx) {
  std::shared_ptr<void>& slot = ctx.cache().entries["nhwc.stats"];
  if (!slot) slot = std::make_shared<NhwcStats>();
  return *static_cast<NhwcStats*>(slot.get());
}

void to_half_nhwc(Context& ctx, Tensor& dst, const Tensor& src) {
  GBAD_CHECK(src.defined() && src.ndim() == 4 && src.dtype() == DType::F32 && !src.is_nhwc(),
             "to_half_nhwc: ", src.str(), " is not a 4-D f32 NCHW tensor");
  dst.resize(src.shape(), src.device(), half_of(ctx), Layout::NHWC);
  ++nhwc_stats(ctx).edge_conversions;
  nchw_to_nhwc_half(ctx, dst, src, src.n(), src.c(), src.h() * src.w());
}

void from_half_nhwc(Context& ctx, Tensor& dst, const Tensor& src, bool accumulate) {
  check_half(ctx, "from_half_nhwc", "src", src);
  if (accumulate) {
    GBAD_CHECK(
        dst.defined() && dst.dtype() == DType::F32 && !dst.is_nhwc() && dst.shape() == src.shape(),
        "from_half_nhwc: accumulating into ", dst.str(), " from ", src.str());
  } else {
    dst.resize(src.shape(), src.device(), DType::F32, Layout::NCHW);
  }
  ++nhwc_stats(ctx).edge_conversions;
  nhwc_half_to_nchw(ctx, dst, src, src.n(), src.c(), src.h() * src.w(), nullptr, nullptr, false,
                    accumulate);
}

void half_nhwc_add(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  const char* op = "half_nhwc_add";
  check_half(ctx, op, "a", a);
  check_half(ctx, op, "b", b);
  check_half(ctx, op, "y", y);
  GBAD_CHECK(a.shape() == b.shape() && a.shape() == y.shape() && a.dtype() == b.dtype() &&
                 a.dtype() == y.dtype(),
             op, ": ", y.str(), " = ", a.str(), " + ", b.str());
  const bool fp16 = y.dtype() == DType::F16;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::half_nhwc_add(ctx, y.u16(), a.u16(), b.u16(), y.numel(), fp16);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).native_ops;  // the CPU adds half values directly too
  uint16_t* py = y.u16();
  const uint16_t *pa = a.u16(), *pb = b.u16();
  for (int64_t i = 0; i < y.numel(); ++i) half_add_body(i, py, pa, pb, fp16);
}

// ---- convolution ------------------------------------------------------------------------------

void nhwc_conv2d_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                         const Tensor* bias, const Conv2dParams& p) {
  const char* op = "nhwc_conv2d_forward";
  check_half(ctx, op, "x", x);
  check_f32(ctx, op, "w", &w);
  check_f32(ctx, op, "bias", bias);
  const Shape ys = conv2d_output_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(!bias || bias->numel() == w.size(0), op, ": bias ", bias->str(), " for ", w.size(0),
             " filters");
  check_no_alias(op, y, {&x});
  y.resize_like(ys, x);
  if (y.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    if (cuda::nhwc_conv2d_forward(ctx, y, x, w, bias, p)) return native(ctx);
    note_fallback("conv2d", x);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor yf(ys, x.device());
  conv2d_forward(ctx, yf, f32_of(ctx, x), w, bias, p);
  store(ctx, y, yf);
}

void nhwc_conv2d_backward(Context& ctx, Tensor* dx, Tensor* dw, Tensor* db, const Tensor& dy,
                          const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  const char* op = "nhwc_conv2d_backward";
  check_half(ctx, op, "dy", dy);
  check_half(ctx, op, "x", x);
  check_f32(ctx, op, "w", &w);
  check_f32(ctx, op, "dw", dw);
  check_f32(ctx, op, "db", db);
  GBAD_CHECK(dy.shape() == conv2d_output_shape(x.shape(), w.shape(), p), op, ": dy ", dy.str(),
             " does not match x ", x.str(), " and w ", w.str());
  GBAD_CHECK(!dw || dw->shape() == w.shape(), op, ": dw ", dw ? dw->str() : "", " is not like w ",
             w.str());
  GBAD_CHECK(!db || db->numel() == w.size(0), op, ": db ", db ? db->str() : "", " for ", w.size(0),
             " filters");
  if (dx) check_no_alias(op, *dx, {&x, &dy});
  if (dx) dx->resize_like(x.shape(), x);
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    if (cuda::nhwc_conv2d_backward(ctx, dx, dw, db, dy, x, w, p)) return native(ctx);
    note_fallback("conv2d backward", x);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor dxf;
  if (dx) dxf = Tensor(x.shape(), x.device());
  conv2d_backward(ctx, dx ? &dxf : nullptr, dw, db, f32_of(ctx, dy), f32_of(ctx, x), w, p);
  if (dx) store(ctx, *dx, dxf);
}

void nhwc_conv2d_bn_eval_forward(Context& ctx, Tensor& y, const Tensor& x, const Tensor& w,
                                 const Tensor& gamma, const Tensor& beta,
                                 const Tensor& running_mean, const Tensor& running_var, float eps,
                                 const Tensor* residual, bool relu, const Conv2dParams& p) {
  const char* op = "nhwc_conv2d_bn_eval_forward";
  check_half(ctx, op, "x", x);
  if (residual) check_half(ctx, op, "residual", *residual);
  const Shape ys = conv2d_output_shape(x.shape(), w.shape(), p);
  GBAD_CHECK(!residual || residual->shape() == ys, op, ": residual ", residual->str(),
             " is not the output's shape ", shape_str(ys));
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma},
                                {"beta", &beta},
                                {"running_mean", &running_mean},
                                {"running_var", &running_var}}) {
    check_f32(ctx, op, name, t);
    GBAD_CHECK(t->numel() == ys[1], op, ": ", name, " ", t->str(), " must hold ", ys[1],
               " values, one per filter");
  }
  check_no_alias(op, y, {&x, residual});
  y.resize_like(ys, x);
  if (y.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    if (cuda::nhwc_conv2d_bn_eval_forward(ctx, y, x, w, gamma, beta, running_mean, running_var, eps,
                                          residual, relu, p))
      return native(ctx);
    note_fallback("conv2d + BatchNorm (eval)", x);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor yf(ys, x.device()), rf;
  if (residual) rf = f32_of(ctx, *residual);
  conv2d_bn_eval_forward(ctx, yf, f32_of(ctx, x), w, gamma, beta, running_mean, running_var, eps,
                         residual ? &rf : nullptr, relu, p);
  store(ctx, y, yf);
}

// ---- BatchNorm ---------------------------------------------------------------------------------

void nhwc_batchnorm2d_forward_train(Context& ctx, Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                    Tensor& running_mean, Tensor& running_var, const Tensor& x,
                                    const Tensor& gamma, const Tensor& beta, float eps,
                                    float momentum, const Tensor* residual, bool relu,
                                    BnNhwcState& state) {
  const char* op = "nhwc_batchnorm2d_forward_train";
  check_half(ctx, op, "x", x);
  if (residual) {
    check_half(ctx, op, "residual", *residual);
    GBAD_CHECK(residual->shape() == x.shape() && residual->dtype() == x.dtype(), op, ": residual ",
               residual->str(), " is not like x ", x.str());
  }
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma},
                                {"beta", &beta},
                                {"running_mean", &running_mean},
                                {"running_var", &running_var},
                                {"save_mean", &save_mean},
                                {"save_invstd", &save_invstd}})
    check_channels(ctx, op, name, t, x);
  GBAD_CHECK(x.n() * x.h() * x.w() > 1, op, ": needs more than one value per channel, got ",
             x.str());
  check_no_alias(op, y, {&x, residual});
  y.resize_like(x.shape(), x);
  state.relu = relu;
  state.residual = residual != nullptr;
  state.native = false;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    if (cuda::nhwc_batchnorm2d_forward_train(ctx, y, save_mean, save_invstd, running_mean,
                                             running_var, x, gamma, beta, eps, momentum, residual,
                                             relu, state)) {
      state.native = true;
      return native(ctx);
    }
    note_fallback("BatchNorm (training)", x);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor yf(x.shape(), x.device()), xf = f32_of(ctx, x), rf;
  if (residual || relu) {
    if (residual) rf = f32_of(ctx, *residual);
    batchnorm2d_forward_train_act(ctx, yf, save_mean, save_invstd, running_mean, running_var, xf,
                                  gamma, beta, eps, momentum, residual ? &rf : nullptr, relu);
  } else {
    batchnorm2d_forward_train(ctx, yf, save_mean, save_invstd, running_mean, running_var, xf, gamma,
                              beta, eps, momentum);
  }
  store(ctx, y, yf);
}

void nhwc_batchnorm2d_backward(Context& ctx, Tensor* dx, Tensor* dz, Tensor* dgamma, Tensor* dbeta,
                               const Tensor& dy, const Tensor& y, const Tensor& x,
                               const Tensor& gamma, const Tensor& beta, const Tensor& save_mean,
                               const Tensor& save_invstd, float eps, const BnNhwcState& state) {
  const char* op = "nhwc_batchnorm2d_backward";
  check_half(ctx, op, "dy", dy);
  check_half(ctx, op, "y", y);
  check_half(ctx, op, "x", x);
  GBAD_CHECK(dy.shape() == x.shape() && y.shape() == x.shape(), op, ": dy ", dy.str(), ", y ",
             y.str(), " and x ", x.str(), " differ");
  GBAD_CHECK(!dz || state.relu, op, ": dz is the ReLU's masked gradient; without it, it is dy");
  for (const auto& [name, t] : {std::pair<const char*, const Tensor*>{"gamma", &gamma},
                                {"beta", &beta},
                                {"save_mean", &save_mean},
                                {"save_invstd", &save_invstd},
                                {"dgamma", dgamma},
                                {"dbeta", dbeta}})
    check_channels(ctx, op, name, t, x);
  if (dx) check_no_alias(op, *dx, {&x, &y, &dy});
  if (dz) check_no_alias(op, *dz, {&x, &y, &dy, dx});
  if (dx) dx->resize_like(x.shape(), x);
  if (dz) dz->resize_like(x.shape(), x);
#ifdef GBAD_WITH_CUDA
  if (state.native) {
    GBAD_CHECK(ctx.is_cuda(), op, ": a native forward on a CPU context");
    cuda::nhwc_batchnorm2d_backward(ctx, dx, dz, dgamma, dbeta, dy, y, x, gamma, beta, save_mean,
                                    save_invstd, eps, state);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor dxf, dzf;
  if (dx) dxf = Tensor(x.shape(), x.device());
  if (dz) dzf = Tensor(x.shape(), x.device());
  if (state.relu) {
    batchnorm2d_backward_act(ctx, dx ? &dxf : nullptr, dz ? &dzf : nullptr, dgamma, dbeta,
                             f32_of(ctx, dy), f32_of(ctx, y), f32_of(ctx, x), gamma, save_mean,
                             save_invstd, eps, true);
  } else {
    batchnorm2d_backward(ctx, dx ? &dxf : nullptr, dgamma, dbeta, f32_of(ctx, dy), f32_of(ctx, x),
                         gamma, save_mean, save_invstd, eps);
  }
  if (dx) store(ctx, *dx, dxf);
  if (dz) store(ctx, *dz, dzf);
}

// ---- max pooling -------------------------------------------------------------------------------

void nhwc_maxpool2d_forward(Context& ctx, Tensor& y, const Tensor& x, int k, int s, int p,
                            MaxPoolNhwcState& state) {
  check_half(ctx, "nhwc_maxpool2d_forward", "x", x);
  GBAD_CHECK(k > 0 && s > 0 && p >= 0 && 2 * p <= k, "nhwc_maxpool2d_forward: bad kernel ", k,
             ", stride ", s, " or padding ", p);
  GBAD_CHECK(x.h() + 2 * p >= k && x.w() + 2 * p >= k, "nhwc_maxpool2d_forward: input ", x.str(),
             " is smaller than the ", k, "x", k, " window");
  const Shape ys = {x.n(), x.c(), maxpool2d_out_size(x.h(), k, s, p),
                    maxpool2d_out_size(x.w(), k, s, p)};
  y.resize_like(ys, x);
  state.argmax.resize(ys, x.device());
  state.native = ctx.is_cuda();
  if (y.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_maxpool2d_forward(ctx, y.u16(), state.argmax.f32(), x.u16(), x.n(), x.c(),
                                 PoolGeom{x.h(), x.w(), ys[2], ys[3], k, s, p},
                                 x.dtype() == DType::F16);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor yf(ys, x.device());
  maxpool2d_forward(ctx, yf, state.argmax, f32_of(ctx, x), k, s, p);
  store(ctx, y, yf);
}

void nhwc_maxpool2d_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x, int k,
                             int s, int p, const MaxPoolNhwcState& state) {
  const char* op = "nhwc_maxpool2d_backward";
  check_half(ctx, op, "dy", dy);
  GBAD_CHECK(
      state.argmax.defined() && state.argmax.shape() == dy.shape() && state.native == ctx.is_cuda(),
      op, ": called before its forward on this device");
  GBAD_CHECK(x.size() == 4 && x[0] == dy.n() && x[1] == dy.c() &&
                 maxpool2d_out_size(x[2], k, s, p) == dy.h() &&
                 maxpool2d_out_size(x[3], k, s, p) == dy.w(),
             op, ": input ", shape_str(x), " does not pool to ", dy.str());
  dx.resize_like(x, dy);
  if (dx.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_maxpool2d_backward(ctx, dx.u16(), dy.u16(), state.argmax.f32(), dx.n(), dx.c(),
                                  PoolGeom{dx.h(), dx.w(), dy.h(), dy.w(), k, s, p},
                                  dy.dtype() == DType::F16);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor dxf(dx.shape(), dx.device());
  maxpool2d_backward(ctx, dxf, f32_of(ctx, dy), state.argmax, k, s, p);
  store(ctx, dx, dxf);
}

// ---- the FPN's top-down merge and global average pooling -------------------------------------

void nhwc_upsample_nearest_add_forward(Context& ctx, Tensor& y, const Tensor& lat,
                                       const Tensor& x) {
  const char* op = "nhwc_upsample_nearest_add_forward";
  check_half(ctx, op, "lat", lat);
  check_half(ctx, op, "x", x);
  GBAD_CHECK(lat.n() == x.n() && lat.c() == x.c() && lat.h() >= x.h() && lat.w() >= x.w(), op,
             ": x ", x.str(), " does not upsample to lat ", lat.str());
  check_no_alias(op, y, {&lat, &x});
  y.resize_like(lat.shape(), lat);
  if (y.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_upsample_nearest_add_forward(ctx, y, lat, x);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor yf(lat.shape(), lat.device());
  upsample_nearest_add_forward(ctx, yf, f32_of(ctx, lat), f32_of(ctx, x));
  store(ctx, y, yf);
}

void nhwc_upsample_nearest_add_backward(Context& ctx, Tensor& dx, const Tensor& dy,
                                        const Tensor& addend) {
  const char* op = "nhwc_upsample_nearest_add_backward";
  check_half(ctx, op, "dy", dy);
  check_half(ctx, op, "addend", addend);
  GBAD_CHECK(
      dy.n() == addend.n() && dy.c() == addend.c() && dy.h() >= addend.h() && dy.w() >= addend.w(),
      op, ": dy ", dy.str(), " is not the upsampled size of ", addend.str());
  check_no_alias(op, dx, {&dy, &addend});
  dx.resize_like(addend.shape(), addend);
  if (dx.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_upsample_nearest_add_backward(ctx, dx, dy, addend);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor dxf(addend.shape(), addend.device());
  upsample_nearest_add_backward(ctx, dxf, f32_of(ctx, dy), f32_of(ctx, addend));
  store(ctx, dx, dxf);
}

void nhwc_global_avgpool_forward(Context& ctx, Tensor& y, const Tensor& x) {
  check_half(ctx, "nhwc_global_avgpool_forward", "x", x);
  GBAD_CHECK(x.h() * x.w() > 0, "nhwc_global_avgpool_forward: empty planes in ", x.str());
  y.resize({x.n(), x.c()}, x.device(), DType::F32, Layout::NCHW);
  if (y.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_global_avgpool_forward(ctx, y, x);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  global_avgpool_forward(ctx, y, f32_of(ctx, x));
  amp_round(ctx, y, ctx.precision());  // the storage point: half values in fp32
}

void nhwc_global_avgpool_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Shape& x) {
  const char* op = "nhwc_global_avgpool_backward";
  check_f32(ctx, op, "dy", &dy);
  GBAD_CHECK(x.size() == 4 && dy.shape() == Shape({x[0], x[1]}), op, ": dy ", dy.str(),
             " is not (N, C) of the input ", shape_str(x));
  dx.resize(x, dy.device(), half_of(ctx), Layout::NHWC);
  if (dx.numel() == 0) return;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) {
    cuda::nhwc_global_avgpool_backward(ctx, dx, dy);
    return native(ctx);
  }
#endif
  ++nhwc_stats(ctx).twin_ops;
  Tensor dxf(x, dy.device());
  global_avgpool_backward(ctx, dxf, dy);
  store(ctx, dx, dxf);
}

}  // namespace gbad
