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

// Fast path for the ResNet stem's 3x3 stride-2 pad-1 pooling, in two passes per output row,
// each a contiguous, branch-free loop that vectorises: (1) the column maxima over the window's
// valid input rows, (2) the maximum of three neighbouring column maxima. The window's scan
// order is row-major, so "the first maximum in scan order" is the maximum with the smallest
// flat index: pass 2 breaks ties by index. NaN: in the reference a NaN wins only as the
// window's first element (nothing compares greater), and is skipped elsewhere; here pass 1
// replaces a NaN column maximum by anything, pass 2 never takes a NaN, and a NaN first element
// overrides the result. Identical values and argmax (tests FastPath.MaxPool*).
void maxpool2d_forward_3x3s2p1(float* yp, float* ap, const float* xp, int64_t planes, int64_t h,
                               int64_t w) {
  const int64_t ho = (h - 1) / 2 + 1, wo = (w - 1) / 2 + 1;
  // Interior outputs (columns 2ow-1, 2ow, 2ow+1 all inside): 1 <= ow < hi.
  const int64_t hi = std::min<int64_t>(wo, w / 2);
#pragma omp parallel if (planes * h * w > (1 << 15))
  {
    std::vector<float> cm(static_cast<size_t>(w));
    std::vector<int32_t> ci(static_cast<size_t>(w)), oi(static_cast<size_t>(wo));
    float* m = cm.data();
    int32_t* mi = ci.data();
    int32_t* o = oi.data();
#pragma omp for schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
      for (int64_t oh = 0; oh < ho; ++oh) {
        // Pass 1: column maxima over the valid rows, in row order (strict >).
        const int64_t ih0 = std::max<int64_t>(2 * oh - 1, 0);
        const int64_t ih1 = std::min<int64_t>(2 * oh + 1, h - 1);
        const float* r = xp + (pl * h + ih0) * w;
        const int32_t off0 = static_cast<int32_t>((pl * h + ih0) * w);
        for (int64_t iw = 0; iw < w; ++iw) {
          m[iw] = r[iw];
          mi[iw] = off0 + static_cast<int32_t>(iw);
        }
        for (int64_t ih = ih0 + 1; ih <= ih1; ++ih) {
          const float* rr = xp + (pl * h + ih) * w;
          const int32_t off = static_cast<int32_t>((pl * h + ih) * w);
          for (int64_t iw = 0; iw < w; ++iw) {
            const float v = rr[iw];
            const bool t = v > m[iw] || m[iw] != m[iw];  // a NaN so far is skipped
            m[iw] = t ? v : m[iw];
            mi[iw] = t ? off + static_cast<int32_t>(iw) : mi[iw];
          }
        }
        // Pass 2: three neighbouring columns; ties to the smaller index (earlier in scan).
        float* y = yp + (pl * ho + oh) * wo;
        auto take = [](float v, int32_t i, float& best, int32_t& bi) {
          const bool t = v > best || (v == best && i < bi);
          best = t ? v : best;
          bi = t ? i : bi;
        };
        // The window's first element, if NaN, is the reference's result.
        auto first_nan = [](float f, int32_t i, float& best, int32_t& bi) {
          const bool t = f != f;
          best = t ? f : best;
          bi = t ? i : bi;
        };
        for (int64_t ow = 1; ow < hi; ++ow) {
          const int64_t c = 2 * ow;
          float best = m[c - 1];
          int32_t bi = mi[c - 1];
          take(m[c], mi[c], best, bi);
          take(m[c + 1], mi[c + 1], best, bi);
          first_nan(r[c - 1], off0 + static_cast<int32_t>(c - 1), best, bi);
          y[ow] = best;
          o[ow] = bi;
        }
        // Clipped columns: ow = 0 (columns 0, 1) and, for odd w... the last (2ow-1, 2ow).
        for (int64_t ow = 0; ow < wo; ow = (ow == 0 ? std::max<int64_t>(hi, 1) : ow + 1)) {
          const int64_t c0 = std::max<int64_t>(2 * ow - 1, 0),
                        c1 = std::min<int64_t>(2 * ow + 1, w - 1);
          float best = m[c0];
          int32_t bi = mi[c0];
          for (int64_t c = c0 + 1; c <= c1; ++c) take(m[c], mi[c], best, bi);
          first_nan(r[c0], off0 + static_cast<int32_t>(c0), best, bi);
          y[ow] = best;
          o[ow] = bi;
        }
        std::memcpy(ap + (pl * ho + oh) * wo, o, static_cast<size_t>(wo) * sizeof(float));
      }
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

// The readable reference: each plane's mean, summed serially in double.
void global_avgpool_forward_ref(float* yp, const float* xp, int64_t planes, int64_t hw) {
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    double s = 0.0;
    for (int64_t j = 0; j < hw; ++j) s += xp[pl * hw + j];
    yp[pl] = static_cast<float>(s / static_cast<double>(hw));
  }
}

// Fast path: the same double sums in 8 independent accumulators (the serial sum is one long
// dependency chain of double additions, ~4 cycles per element; these vectorise). Differs from
// the reference only by the order of double additions (test FastPath.GlobalAvgPool).
void global_avgpool_forward_fast(float* yp, const float* xp, int64_t planes, int64_t hw) {
  constexpr int kAcc = 8;
#pragma omp parallel for if (planes * hw > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* p = xp + pl * hw;
    double acc[kAcc] = {};
    int64_t j = 0;
    for (; j + kAcc <= hw; j += kAcc)
      for (int k = 0; k < kAcc; ++k) acc[k] += p[j + k];
    double s = 0.0;
    for (; j < hw; ++j) s += p[j];
    for (int k = 0; k < kAcc; ++k) s += acc[k];
    yp[pl] = static_cast<float>(s / static_cast<double>(hw));
  }
}

void global_avgpool_forward(Context&, Tensor& y, const Tensor& x) {
  global_avgpool_forward_fast(y.f32(), x.f32(), x.n() * x.c(), x.h() * x.w());
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

// The readable reference of nearest upsampling (the specification): y = add + x[src] with
// src = floor(dst * in / out) on each axis, add optional (null: y = x[src]).
void upsample_nearest_forward_ref(float* yp, const float* xp, const float* add, int64_t planes,
                                  int64_t h, int64_t w, int64_t ho, int64_t wo) {
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
      if (add) {
        const float* ar = add + (pl * ho + oh) * wo;
        for (int64_t ow = 0; ow < wo; ++ow) yr[ow] = ar[ow] + xr[iw[ow]];
      } else {
        for (int64_t ow = 0; ow < wo; ++ow) yr[ow] = xr[iw[ow]];
      }
    }
}

// dx = add + (the sum of dy over each input element's copies, scattered in row-major order of
// dy from zero); add optional (null: just the sum). The sum is complete before add joins it,
// as when the two ops run in sequence (and in the CUDA twin).
void upsample_nearest_backward_ref(float* d, const float* g, const float* add, int64_t planes,
                                   int64_t h, int64_t w, int64_t ho, int64_t wo) {
  if (planes * h * w == 0) return;  // an empty batch (memset of a null pointer is undefined)
  std::memset(d, 0, static_cast<size_t>(planes * h * w) * sizeof(float));
  std::vector<int64_t> src_col(static_cast<size_t>(wo));
  for (int64_t ow = 0; ow < wo; ++ow) src_col[size_t(ow)] = ow * w / wo;
  const int64_t* iw = src_col.data();
#pragma omp parallel for if (planes * ho * wo > (1 << 15))
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t oh = 0; oh < ho; ++oh) {
      const int64_t ih = oh * h / ho;
      float* dr = d + (pl * h + ih) * w;
      const float* gr = g + (pl * ho + oh) * wo;
      for (int64_t ow = 0; ow < wo; ++ow) dr[iw[ow]] += gr[ow];
    }
    if (add)
      for (int64_t i = pl * h * w; i < (pl + 1) * h * w; ++i) d[i] = add[i] + d[i];
  }
}

// Fast paths for the exact 2x factor (every FPN level of the ResNets at even sizes): each input
// row makes two output rows, each element two neighbours, with no index table, so the loops
// vectorise; the backward adds a 2x2 block in the reference's scatter order, then the addend
// (bitwise the same sums). Tests FastPath.Upsample2x*.
void upsample_nearest2x_forward(float* yp, const float* xp, const float* add, int64_t planes,
                                int64_t h, int64_t w) {
  const int64_t wo = 2 * w;
#pragma omp parallel for if (planes * h * w > (1 << 13))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t ih = 0; ih < h; ++ih) {
      const float* xr = xp + (pl * h + ih) * w;
      const int64_t o = (pl * 2 * h + 2 * ih) * wo;
      float* y0 = yp + o;
      float* y1 = y0 + wo;
      if (add) {
        const float* a0 = add + o;
        const float* a1 = a0 + wo;
        for (int64_t j = 0; j < w; ++j) {
          const float v = xr[j];
          y0[2 * j] = a0[2 * j] + v;
          y0[2 * j + 1] = a0[2 * j + 1] + v;
          y1[2 * j] = a1[2 * j] + v;
          y1[2 * j + 1] = a1[2 * j + 1] + v;
        }
      } else {
        for (int64_t j = 0; j < w; ++j) {
          y0[2 * j] = xr[j];
          y0[2 * j + 1] = xr[j];
        }
        std::memcpy(y1, y0, static_cast<size_t>(wo) * sizeof(float));
      }
    }
}

void upsample_nearest2x_backward(float* d, const float* g, const float* add, int64_t planes,
                                 int64_t h, int64_t w) {
  const int64_t wo = 2 * w;
#pragma omp parallel for if (planes * h * w > (1 << 13))
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t ih = 0; ih < h; ++ih) {
      const float* g0 = g + (pl * 2 * h + 2 * ih) * wo;
      const float* g1 = g0 + wo;
      float* dr = d + (pl * h + ih) * w;
      const float* ar = add ? add + (pl * h + ih) * w : nullptr;
      if (ar) {
        for (int64_t j = 0; j < w; ++j)
          dr[j] = ar[j] + (((0.f + g0[2 * j]) + g0[2 * j + 1] + g1[2 * j]) + g1[2 * j + 1]);
      } else {
        for (int64_t j = 0; j < w; ++j)
          dr[j] = ((0.f + g0[2 * j]) + g0[2 * j + 1] + g1[2 * j]) + g1[2 * j + 1];
      }
    }
}

namespace {
void upsample_fwd(Tensor& y, const Tensor& x, const float* add) {
  const int64_t planes = x.n() * x.c(), h = x.h(), w = x.w(), ho = y.h(), wo = y.w();
  if (ho == 2 * h && wo == 2 * w)
    upsample_nearest2x_forward(y.f32(), x.f32(), add, planes, h, w);
  else
    upsample_nearest_forward_ref(y.f32(), x.f32(), add, planes, h, w, ho, wo);
}
void upsample_bwd(Tensor& dx, const Tensor& dy, const float* add) {
  const int64_t planes = dx.n() * dx.c(), h = dx.h(), w = dx.w(), ho = dy.h(), wo = dy.w();
  if (ho == 2 * h && wo == 2 * w)
    upsample_nearest2x_backward(dx.f32(), dy.f32(), add, planes, h, w);
  else
    upsample_nearest_backward_ref(dx.f32(), dy.f32(), add, planes, h, w, ho, wo);
}
}  // namespace

void upsample_nearest_forward(Context&, Tensor& y, const Tensor& x) {
  upsample_fwd(y, x, nullptr);
}
void upsample_nearest_backward(Context&, Tensor& dx, const Tensor& dy) {
  upsample_bwd(dx, dy, nullptr);
}
void upsample_nearest_add_forward(Context&, Tensor& y, const Tensor& lat, const Tensor& x) {
  upsample_fwd(y, x, lat.f32());
}
void upsample_nearest_add_backward(Context&, Tensor& dx, const Tensor& dy, const Tensor& addend) {
  upsample_bwd(dx, dy, addend.f32());
}

}  // namespace gbad::cpu
