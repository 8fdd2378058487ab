// CPU reference for kernels/pooling.h: plain loops over (n, c) planes, OpenMP across planes.
// Backward passes scatter (the readable form); the CUDA twin gathers.
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/pooling.h"

namespace gbad::cpu {

void maxpool2d_forward(Context&, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s, int p) {
  const int64_t planes = x.n() * x.c(), h = x.h(), w = x.w(), ho = y.h(), wo = y.w();
  const float* xp = x.f32();
  float *yp = y.f32(), *ap = argmax.f32();
#pragma omp parallel for if (x.numel() > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t oh = 0; oh < ho; ++oh) {
      for (int64_t ow = 0; ow < wo; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t best_i = -1;
        for (int64_t ih = oh * s - p; ih < oh * s - p + k; ++ih) {
          for (int64_t iw = ow * s - p; iw < ow * s - p + k; ++iw) {
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;  // padding never wins
            const int64_t idx = (pl * h + ih) * w + iw;
            if (best_i < 0 || xp[idx] > best) {  // strict: the first maximum wins ties
              best = xp[idx];
              best_i = static_cast<int32_t>(idx);
            }
          }
        }
        const int64_t o = (pl * ho + oh) * wo + ow;
        yp[o] = best;
        std::memcpy(&ap[o], &best_i, sizeof(float));  // int32 bits in a float slot
      }
    }
  }
}

void maxpool2d_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& argmax, int, int,
                        int) {
  const int64_t planes = dx.n() * dx.c(), out_plane = dy.h() * dy.w();
  const float *g = dy.f32(), *ap = argmax.f32();
  float* d = dx.f32();
  std::memset(d, 0, static_cast<size_t>(dx.numel()) * sizeof(float));
  // Planes are disjoint, so threads over planes never write the same element.
#pragma omp parallel for if (dx.numel() > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t j = 0; j < out_plane; ++j) {
      const int64_t o = pl * out_plane + j;
      int32_t idx;
      std::memcpy(&idx, &ap[o], sizeof idx);
      d[idx] += g[o];
    }
  }
}

void global_avgpool_forward(Context&, Tensor& y, const Tensor& x) {
  const int64_t planes = x.n() * x.c(), hw = x.h() * x.w();
  const float* xp = x.f32();
  float* yp = y.f32();
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    double s = 0.0;
    for (int64_t j = 0; j < hw; ++j) s += xp[pl * hw + j];
    yp[pl] = static_cast<float>(s / static_cast<double>(hw));
  }
}

void global_avgpool_backward(Context&, Tensor& dx, const Tensor& dy) {
  const int64_t planes = dx.n() * dx.c(), hw = dx.h() * dx.w();
  const float* g = dy.f32();
  float* d = dx.f32();
  const float inv = 1.f / static_cast<float>(hw);
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t j = 0; j < hw; ++j) d[pl * hw + j] = g[pl] * inv;
}

void upsample_nearest_forward(Context&, Tensor& y, const Tensor& x) {
  const int64_t planes = x.n() * x.c(), h = x.h(), w = x.w(), ho = y.h(), wo = y.w();
  const float* xp = x.f32();
  float* yp = y.f32();
  // Source columns once per call: a 64-bit division per element cost 10x the copy.
  std::vector<int64_t> src_col(static_cast<size_t>(wo));
  for (int64_t ow = 0; ow < wo; ++ow) src_col[size_t(ow)] = ow * w / wo;
  const int64_t* iw = src_col.data();
#pragma omp parallel for if (planes * ho * wo > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < ho; ++oh) {
      const int64_t ih = oh * h / ho;  // floor(dst * in / out)
      const float* xr = xp + (pl * h + ih) * w;
      float* yr = yp + (pl * ho + oh) * wo;
      for (int64_t ow = 0; ow < wo; ++ow) yr[ow] = xr[iw[ow]];
    }
}

void upsample_nearest_backward(Context&, Tensor& dx, const Tensor& dy) {
  const int64_t planes = dx.n() * dx.c(), h = dx.h(), w = dx.w(), ho = dy.h(), wo = dy.w();
  const float* g = dy.f32();
  float* d = dx.f32();
  std::memset(d, 0, static_cast<size_t>(dx.numel()) * sizeof(float));
  std::vector<int64_t> src_col(static_cast<size_t>(wo));
  for (int64_t ow = 0; ow < wo; ++ow) src_col[size_t(ow)] = ow * w / wo;
  const int64_t* iw = src_col.data();
#pragma omp parallel for if (planes * ho * wo > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < ho; ++oh) {
      const int64_t ih = oh * h / ho;
      float* dr = d + (pl * h + ih) * w;
      const float* gr = g + (pl * ho + oh) * wo;
      for (int64_t ow = 0; ow < wo; ++ow) dr[iw[ow]] += gr[ow];
    }
}

}  // namespace gbad::cpu
