// Shared by the CPU reference and the CUDA kernels: the host/device qualifier, the
// counter-based random generator (Philox4x32-10) that lets both backends draw the same
// dropout mask and noise, and launch helpers.
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define GBAD_HD __host__ __device__ __forceinline__
#else
#define GBAD_HD inline
#endif

namespace gbad {

struct U32x4 {
  uint32_t v[4];
};

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
GBAD_HD U32x4 philox4x32(uint64_t key, uint64_t counter_lo, uint64_t counter_hi) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0;
    uint64_t p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  U32x4 out;
  out.v[0] = c0;
  out.v[1] = c1;
  out.v[2] = c2;
  out.v[3] = c3;
  return out;
}

// Uniform in [0, 1) with 24 random bits: element `index` of stream (seed, offset).
GBAD_HD float rng_uniform(uint64_t seed, uint64_t offset, uint64_t index) {
  U32x4 r = philox4x32(seed, index, offset);
  return static_cast<float>(r.v[0] >> 8) * (1.0f / 16777216.0f);
}

// Standard normal (Box-Muller on two 32-bit draws) for element `index` of stream (seed, offset).
GBAD_HD float rng_normal(uint64_t seed, uint64_t offset, uint64_t index) {
  U32x4 r = philox4x32(seed, index, offset);
  // u1 in (0, 1] so the log is finite.
  float u1 = (static_cast<float>(r.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f);
  float u2 = static_cast<float>(r.v[1] >> 8) * (1.0f / 16777216.0f);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.28318530717958647692f * u2);
}

}  // namespace gbad
