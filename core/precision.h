// The numeric precision a run trains and infers in (--precision, train/startup.h):
//   fp32  exact fp32 everywhere (the reference; the CPU path is bit-identical to before);
//   tf32  fp32 storage, TF32 tensor-core math in cuBLAS/cuDNN on GPUs of compute capability
//         8.0+ (the CPU computes exact fp32: TF32 is a GPU math mode, not a storage format);
//   fp16  activations, the forward's weight copies and the weight gradients stored in IEEE
//         binary16, fp32 master weights and optimiser state, dynamic loss scaling;
//   bf16  the same storage points in bfloat16, no loss scaling (fp32's exponent range).
// The CPU backend emulates fp16/bf16 by rounding to nearest even at those storage points
// (core/half.h), so every part of the mixed-precision step but the GPU arithmetic runs in CI.
#pragma once

#include <string>

#include "core/check.h"
#include "core/tensor.h"

namespace gbad {

enum class Precision { Fp32, Tf32, Fp16, Bf16 };

inline const char* precision_name(Precision p) {
  switch (p) {
    case Precision::Fp32:
      return "fp32";
    case Precision::Tf32:
      return "tf32";
    case Precision::Fp16:
      return "fp16";
    case Precision::Bf16:
      return "bf16";
  }
  return "?";
}

// fp16 or bf16: values are stored in 16 bits at the storage points.
inline bool stores_half(Precision p) {
  return p == Precision::Fp16 || p == Precision::Bf16;
}

// "fp32" | "tf32" | "fp16" | "bf16" ("auto" is resolve_precision's).
inline Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::Fp32;
  if (s == "tf32") return Precision::Tf32;
  if (s == "fp16") return Precision::Fp16;
  if (s == "bf16") return Precision::Bf16;
  GBAD_FAIL("precision '", s, "': expected fp32, tf32, fp16, bf16 or auto");
}

// A --precision value for a device: "auto" is bf16 on compute capability 8.0 and newer (tensor
// cores with bf16), fp16 on 7.x (tensor cores, fp16 only), fp32 on older GPUs and on the CPU.
// `compute_capability` is major*10 + minor (0 for the CPU).
inline Precision resolve_precision(const std::string& s, Device device, int compute_capability) {
  if (s != "auto") return parse_precision(s);
  if (device != Device::CUDA) return Precision::Fp32;
  if (compute_capability >= 80) return Precision::Bf16;
  if (compute_capability >= 70) return Precision::Fp16;
  return Precision::Fp32;
}

}  // namespace gbad
