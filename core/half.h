// IEEE 754 binary16 (fp16) and bfloat16 (bf16) storage conversions, written as host/device
// bodies so the CPU tests pin them bit for bit and the CUDA kernels run the same code.
// float -> half rounds to nearest, ties to even, as CUDA's __float2half_rn and
// __float2bfloat16_rn do: subnormals are kept, values past the largest finite half overflow to
// infinity, NaN stays NaN (quiet, sign kept). half -> float is exact.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/philox.h"  // GBAD_HD

namespace gbad {

GBAD_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

GBAD_HD float f32_from_bits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// ---- bfloat16: the top 16 bits of a float, rounded to nearest even ----------------------------
GBAD_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // NaN
  const uint32_t lsb = (u >> 16) & 1u;
  u += 0x7FFFu + lsb;  // may carry into the exponent: rounds up to the next binade or to inf
  return static_cast<uint16_t>(u >> 16);
}

GBAD_HD float bf16_bits_to_float(uint16_t h) {
  return f32_from_bits(static_cast<uint32_t>(h) << 16);
}

// ---- binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits ---------------------------------
GBAD_HD uint16_t float_to_f16_bits(float f) {
  const uint32_t u = f32_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u | ((abs >> 13) & 0x3FFu));
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // >= 65520: inf
  if (abs < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal half m * 2^-24, m in [0, 1023], or 0.
    if (abs < 0x33000000u) return sign;  // < 2^-25: rounds to zero (2^-25 itself ties to 0)
    const uint32_t exp = abs >> 23;      // 102 .. 112
    const uint32_t mant = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - exp;  // 14 .. 24: value = mant * 2^(exp-150) = m * 2^-24
    uint32_t m = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (m & 1u))) ++m;  // may become 1024 = smallest normal
    return static_cast<uint16_t>(sign | m);
  }
  // Normal: rebias the exponent (127 -> 15) and round the 13 dropped mantissa bits.
  uint32_t h = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // carry may reach inf: correct
  return static_cast<uint16_t>(sign | h);
}

GBAD_HD float f16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0x1Fu) return f32_from_bits(sign | 0x7F800000u | (mant << 13));  // inf / NaN
  if (exp == 0) {
    if (mant == 0) return f32_from_bits(sign);
    // Subnormal: mant * 2^-24, exact in float.
    float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

// Rounding through a storage type and back: what the CPU backend does at the places where a
// GPU run would store half values (emulated precision).
GBAD_HD float round_to_f16(float f) {
  return f16_bits_to_float(float_to_f16_bits(f));
}
GBAD_HD float round_to_bf16(float f) {
  return bf16_bits_to_float(float_to_bf16_bits(f));
}

}  // namespace gbad
