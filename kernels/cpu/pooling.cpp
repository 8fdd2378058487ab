// CPU reference for kernels/pooling.h: plain loops over (n, c) planes, OpenMP across planes.
// Backward passes scatter (the readable form); the CUDA twin gathers.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/pooling.h"

namespace gbad::cpu {

namespace {
int64_t avg_out(int64_t in, int k, int s, int p) {
  return (in + 2 * p - k) / s + 1;
}
// torch's divisor (see avgpool2d_divisor in pooling_body.h, which the CUDA twin uses).
int64_t avg_divisor(int64_t h0, int64_t w0, int64_t h, int64_t w, const AvgPool2dParams& p) {
  const int64_t h1 = std::min<int64_t>(h0 + p.kh, h + p.ph);
  const int64_t w1 = std::min<int64_t>(w0 + p.kw, w + p.pw);
  if (p.count_include_pad) return (h1 - h0) * (w1 - w0);
  return (std::min(h1, h) - std::max<int64_t>(h0, 0)) *
         (std::min(w1, w) - std::max<int64_t>(w0, 0));
}
}  // namespace

template <typename T>
void avgpool2d_forward(T* y, const T* x, int64_t planes, int64_t h, int64_t w,
                       const AvgPool2dParams& p) {
  const int64_t ho = avg_out(h, p.kh, p.sh, p.ph), wo = avg_out(w, p.kw, p.sw, p.pw);
#pragma omp parallel for if (planes * h * w > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow) {
        const int64_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
        T sum = 0;
        for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min<int64_t>(h0 + p.kh, h); ++ih)
          for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min<int64_t>(w0 + p.kw, w); ++iw)
            sum += x[(pl * h + ih) * w + iw];
        y[(pl * ho + oh) * wo + ow] = sum / static_cast<T>(avg_divisor(h0, w0, h, w, p));
      }
}

template <typename T>
void avgpool2d_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                        const AvgPool2dParams& p) {
  const int64_t ho = avg_out(h, p.kh, p.sh, p.ph), wo = avg_out(w, p.kw, p.sw, p.pw);
  std::fill(dx, dx + planes * h * w, T(0));
#pragma omp parallel for if (planes * h * w > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t oh = 0; oh < ho; ++oh)
      for (int64_t ow = 0; ow < wo; ++ow) {
        const int64_t h0 = oh * p.sh - p.ph, w0 = ow * p.sw - p.pw;
        const T g = dy[(pl * ho + oh) * wo + ow] / static_cast<T>(avg_divisor(h0, w0, h, w, p));
        for (int64_t ih = std::max<int64_t>(h0, 0); ih < std::min<int64_t>(h0 + p.kh, h); ++ih)
          for (int64_t iw = std::max<int64_t>(w0, 0); iw < std::min<int64_t>(w0 + p.kw, w); ++iw)
            dx[(pl * h + ih) * w + iw] += g;
      }
}

template void avgpool2d_forward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                       const AvgPool2dParams&);
template void avgpool2d_forward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                        const AvgPool2dParams&);
template void avgpool2d_backward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                        const AvgPool2dParams&);
template void avgpool2d_backward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                         const AvgPool2dParams&);

void avgpool2d_forward(Context&, Tensor& y, const Tensor& x, const AvgPool2dParams& p) {
  avgpool2d_forward<float>(y.f32(), x.f32(), x.n() * x.c(), x.h(), x.w(), p);
}

void avgpool2d_backward(Context&, Tensor& dx, const Tensor& dy, const AvgPool2dParams& p) {
  avgpool2d_backward<float>(dx.f32(), dy.f32(), dx.n() * dx.c(), dx.h(), dx.w(), p);
}

// The readable reference (the specification of every max-pool path): each output scans its
// window in row-major order; padding never wins; ties go to the first maximum (strict >), so a
// NaN wins only as the first real element of its window.
void maxpool2d_forward_ref(float* yp, float* ap, const float* xp, int64_t planes, int64_t h,
                           int64_t w, int k, int s, int p) {
  const int64_t ho = (h + 2 * p - k) / s + 1, wo = (w + 2 * p - k) / s + 1;
#pragma omp parallel for if (planes * h * w > (1 << 15))
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

namespace {
// One output row of the 3x3 stride-2 pad-1 fast path from its R valid input rows (R = 3
// inside, 2 at a clipped top or bottom, 1 for a one-row input), given in scan order with their
// flat offsets. Interior columns take the nine (or six, three) candidates in scan order with a
// branch-free select, which the compiler vectorises over ow; the clipped first and last
// columns repeat the reference's scan with the padding skipped.
template <int R>
void maxpool_row_3x3s2(float* y, int32_t* idx, const float* const* rows, const int64_t* offs,
                       int64_t w, int64_t wo) {
  auto edge = [&](int64_t ow) {
    float best = 0.f;
    int32_t bi = -1;
    for (int r = 0; r < R; ++r)
      for (int64_t iw = 2 * ow - 1; iw <= 2 * ow + 1; ++iw) {
        if (iw < 0 || iw >= w) continue;
        if (bi < 0 || rows[r][iw] > best) {
          best = rows[r][iw];
          bi = static_cast<int32_t>(offs[r] + iw);
        }
      }
    y[ow] = best;
    idx[ow] = bi;
  };
  edge(0);
  // Interior: 2*ow - 1 >= 0 and 2*ow + 1 < w.
  const int64_t hi = std::min<int64_t>(wo, w / 2);
  const float* r0 = rows[0];
  const float* r1 = R > 1 ? rows[1] : rows[0];
  const float* r2 = R > 2 ? rows[2] : rows[0];
  const int32_t o0 = static_cast<int32_t>(offs[0]);
  const int32_t o1 = static_cast<int32_t>(R > 1 ? offs[1] : offs[0]);
  const int32_t o2 = static_cast<int32_t>(R > 2 ? offs[2] : offs[0]);
#pragma omp simd
  for (int64_t ow = 1; ow < hi; ++ow) {
    const int32_t c = static_cast<int32_t>(2 * ow);
    float best = r0[c - 1];
    int32_t bi = o0 + c - 1;
    auto take = [&](float v, int32_t i) {
      const bool m = v > best;
      best = m ? v : best;
      bi = m ? i : bi;
    };
    take(r0[c], o0 + c);
    take(r0[c + 1], o0 + c + 1);
    if (R > 1) {
      take(r1[c - 1], o1 + c - 1);
      take(r1[c], o1 + c);
      take(r1[c + 1], o1 + c + 1);
    }
    if (R > 2) {
      take(r2[c - 1], o2 + c - 1);
      take(r2[c], o2 + c);
      take(r2[c + 1], o2 + c + 1);
    }
    y[ow] = best;
    idx[ow] = bi;
  }
  for (int64_t ow = std::max<int64_t>(hi, 1); ow < wo; ++ow) edge(ow);
}
}  // namespace

// Fast path for the ResNet stem's 3x3 stride-2 pad-1 pooling; same results as the reference
// (values and argmax, ties and NaNs included: tests FastPath.MaxPool*).
void maxpool2d_forward_3x3s2p1(float* yp, float* ap, const float* xp, int64_t planes, int64_t h,
                               int64_t w) {
  const int64_t ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
#pragma omp parallel for if (planes * h * w > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    std::vector<int32_t> idx(static_cast<size_t>(wo));
    for (int64_t oh = 0; oh < ho; ++oh) {
      const float* rows[3];
      int64_t offs[3];
      int nr = 0;
      for (int64_t ih = 2 * oh - 1; ih <= 2 * oh + 1; ++ih) {
        if (ih < 0 || ih >= h) continue;
        offs[nr] = (pl * h + ih) * w;
        rows[nr] = xp + offs[nr];
        ++nr;
      }
      float* y = yp + (pl * ho + oh) * wo;
      if (nr == 3)
        maxpool_row_3x3s2<3>(y, idx.data(), rows, offs, w, wo);
      else if (nr == 2)
        maxpool_row_3x3s2<2>(y, idx.data(), rows, offs, w, wo);
      else
        maxpool_row_3x3s2<1>(y, idx.data(), rows, offs, w, wo);
      std::memcpy(ap + (pl * ho + oh) * wo, idx.data(), static_cast<size_t>(wo) * sizeof(float));
    }
  }
}

void maxpool2d_forward(Context&, Tensor& y, Tensor& argmax, const Tensor& x, int k, int s, int p) {
  if (k == 3 && s == 2 && p == 1)
    maxpool2d_forward_3x3s2p1(y.f32(), argmax.f32(), x.f32(), x.n() * x.c(), x.h(), x.w());
  else
    maxpool2d_forward_ref(y.f32(), argmax.f32(), x.f32(), x.n() * x.c(), x.h(), x.w(), k, s, p);
}

void maxpool2d_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& argmax, int, int,
                        int) {
  const int64_t planes = dx.n() * dx.c(), out_plane = dy.h() * dy.w();
  const float *g = dy.f32(), *ap = argmax.f32();
  float* d = dx.f32();
  if (dx.numel() == 0) return;  // an empty batch (memset of a null pointer is undefined)
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
  if (dx.numel() == 0) return;  // an empty batch (memset of a null pointer is undefined)
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
