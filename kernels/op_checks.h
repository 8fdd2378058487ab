// Argument checks shared by the op dispatchers (kernels/<family>.cpp): every tensor an op
// touches must live on the context's device, and shapes must agree. The dispatch macro calls
// the backend that matches the context; in a build without CUDA a CUDA context is an error.
#pragma once

#include <initializer_list>
#include <utility>

#include "core/check.h"
#include "core/context.h"
#include "core/tensor.h"

namespace gbad::detail {

// Each tensor is defined and on ctx's device.
inline void check_devices(const Context& ctx, const char* op,
                          std::initializer_list<const Tensor*> tensors) {
  int i = 0;
  for (const Tensor* t : tensors) {
    GBAD_CHECK(t->defined(), op, ": tensor argument ", i, " is undefined");
    GBAD_CHECK(t->device() == ctx.device(), op, ": tensor argument ", i, " (", t->str(),
               ") is not on the context's device (", device_name(ctx.device()), ")");
    GBAD_CHECK(t->dtype() == DType::F32, op, ": tensor argument ", i, " is not float32");
    ++i;
  }
}

// Named variant for ops with optional arguments: null or undefined tensors are skipped, and
// the error names the argument.
inline void check_named_devices(
    const Context& ctx, const char* op,
    std::initializer_list<std::pair<const char*, const Tensor*>> tensors) {
  for (const auto& [name, t] : tensors) {
    if (!t || !t->defined()) continue;
    GBAD_CHECK(t->device() == ctx.device(), op, ": ", name, " is on ", device_name(t->device()),
               " but the context is ", device_name(ctx.device()));
  }
}

inline void check_same_shape(const char* op, const Tensor& a, const char* an, const Tensor& b,
                             const char* bn) {
  GBAD_CHECK(a.shape() == b.shape(), op, ": ", an, " ", shape_str(a.shape()), " and ", bn, " ",
             shape_str(b.shape()), " must have the same shape");
}

}  // namespace gbad::detail

#ifdef GBAD_WITH_CUDA
#define GBAD_DISPATCH(ctx, name, ...)  \
  do {                                 \
    if ((ctx).is_cuda())               \
      ::gbad::cuda::name(__VA_ARGS__); \
    else                               \
      ::gbad::cpu::name(__VA_ARGS__);  \
  } while (0)
#else
#define GBAD_DISPATCH(ctx, name, ...)                                                        \
  do {                                                                                       \
    if ((ctx).is_cuda()) GBAD_FAIL(#name ": CUDA tensors, but gbad was built without CUDA"); \
    ::gbad::cpu::name(__VA_ARGS__);                                                          \
  } while (0)
#endif
