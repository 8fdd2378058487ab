// Dispatchers of kernels/layout.h: check devices, dtypes and sizes, call the backend.
#include "kernels/layout.h"

#include "kernels/op_checks.h"

namespace gbad {

namespace {

void check(Context& ctx, const char* op, const Tensor& dst, const Tensor& src, int64_t n, int64_t c,
           int64_t hw) {
  GBAD_CHECK(dst.defined() && src.defined(), op, ": undefined tensor");
  GBAD_CHECK(n >= 0 && c >= 0 && hw >= 0, op, ": negative size ", n, " x ", c, " x ", hw);
  const int64_t count = n * c * hw;
  GBAD_CHECK(src.numel() == count && dst.numel() == count, op, ": ", src.str(), " -> ", dst.str(),
             " must both hold ", n, " x ", c, " x ", hw, " = ", count, " values");
  detail::check_named_devices(ctx, op, {{"dst", &dst}, {"src", &src}});
  GBAD_CHECK(dst.device() == ctx.device() && src.device() == ctx.device(), op,
             ": tensors not on the context's device (", device_name(ctx.device()), ")");
}

void check_f32(const char* op, const char* name, const Tensor* t, int64_t numel) {
  if (!t) return;
  GBAD_CHECK(t->dtype() == DType::F32 && t->numel() == numel, op, ": ", name, " ", t->str(),
             " must be f32 with ", numel, " values");
}

}  // namespace

void nchw_to_nhwc_half(Context& ctx, Tensor& dst, const Tensor& src, int64_t n, int64_t c,
                       int64_t hw, const Tensor* scale) {
  const char* op = "nchw_to_nhwc_half";
  check(ctx, op, dst, src, n, c, hw);
  GBAD_CHECK(src.dtype() == DType::F32 && dst.dtype() != DType::F32, op, ": ", src.str(), " -> ",
             dst.str(), ": converts f32 into f16/bf16");
  check_f32(op, "scale", scale, n);
  detail::check_named_devices(ctx, op, {{"scale", scale}});
  if (dst.numel() == 0) return;
  const bool fp16 = dst.dtype() == DType::F16;
  const float* s = scale ? scale->f32() : nullptr;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) return cuda::nchw_to_nhwc_half(ctx, dst.u16(), src.f32(), n, c, hw, s, fp16);
#endif
  GBAD_CHECK(!ctx.is_cuda(), op, ": CUDA tensors, but gbad was built without CUDA");
  cpu::nchw_to_nhwc_half(dst.u16(), src.f32(), n, c, hw, s, fp16);
}

void nhwc_half_to_nchw(Context& ctx, Tensor& dst, const Tensor& src, int64_t n, int64_t c,
                       int64_t hw, const Tensor* shift, const Tensor* residual, bool relu,
                       bool accumulate) {
  const char* op = "nhwc_half_to_nchw";
  check(ctx, op, dst, src, n, c, hw);
  GBAD_CHECK(src.dtype() != DType::F32 && dst.dtype() == DType::F32, op, ": ", src.str(), " -> ",
             dst.str(), ": converts f16/bf16 into f32");
  check_f32(op, "shift", shift, c);
  check_f32(op, "residual", residual, n * c * hw);
  detail::check_named_devices(ctx, op, {{"shift", shift}, {"residual", residual}});
  GBAD_CHECK(residual != &dst, op, ": residual must not alias dst");
  if (dst.numel() == 0) return;
  const bool fp16 = src.dtype() == DType::F16;
  FromNhwcEpilogue e;
  e.shift = shift ? shift->f32() : nullptr;
  e.residual = residual ? residual->f32() : nullptr;
  e.relu = relu;
  e.accumulate = accumulate;
#ifdef GBAD_WITH_CUDA
  if (ctx.is_cuda()) return cuda::nhwc_half_to_nchw(ctx, dst.f32(), src.u16(), n, c, hw, e, fp16);
#endif
  GBAD_CHECK(!ctx.is_cuda(), op, ": CUDA tensors, but gbad was built without CUDA");
  cpu::nhwc_half_to_nchw(dst.f32(), src.u16(), n, c, hw, e, fp16);
}

}  // namespace gbad
