// CPU reference for kernels/resample.h: plain loops over (n, c) planes, OpenMP across planes.
// The backward scatters each output's gradient to its four taps (the readable form); the CUDA
// twin gathers.
#include <algorithm>

#include "kernels/resample.h"
#include "kernels/resample_body.h"

namespace gbad::cpu {

template <typename T>
void upsample_bilinear_forward(T* y, const T* x, int64_t planes, int64_t h, int64_t w, int64_t ho,
                               int64_t wo) {
#pragma omp parallel for if (planes * ho * wo > (1 << 15))
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = x + p * h * w;
    T* yp = y + p * ho * wo;
    for (int64_t oh = 0; oh < ho; ++oh) {
      const BilinearTap<T> th = bilinear_tap<T>(oh, h, ho);
      for (int64_t ow = 0; ow < wo; ++ow) {
        const BilinearTap<T> tw = bilinear_tap<T>(ow, w, wo);
        yp[oh * wo + ow] = th.l0 * (tw.l0 * xp[th.i0 * w + tw.i0] + tw.l1 * xp[th.i0 * w + tw.i1]) +
                           th.l1 * (tw.l0 * xp[th.i1 * w + tw.i0] + tw.l1 * xp[th.i1 * w + tw.i1]);
      }
    }
  }
}

template <typename T>
void upsample_bilinear_backward(T* dx, const T* dy, int64_t planes, int64_t h, int64_t w,
                                int64_t ho, int64_t wo) {
#pragma omp parallel for if (planes * ho * wo > (1 << 15))
  for (int64_t p = 0; p < planes; ++p) {
    T* dxp = dx + p * h * w;
    const T* dyp = dy + p * ho * wo;
    std::fill(dxp, dxp + h * w, T(0));
    for (int64_t oh = 0; oh < ho; ++oh) {
      const BilinearTap<T> th = bilinear_tap<T>(oh, h, ho);
      for (int64_t ow = 0; ow < wo; ++ow) {
        const BilinearTap<T> tw = bilinear_tap<T>(ow, w, wo);
        const T g = dyp[oh * wo + ow];
        dxp[th.i0 * w + tw.i0] += th.l0 * tw.l0 * g;
        dxp[th.i0 * w + tw.i1] += th.l0 * tw.l1 * g;
        dxp[th.i1 * w + tw.i0] += th.l1 * tw.l0 * g;
        dxp[th.i1 * w + tw.i1] += th.l1 * tw.l1 * g;
      }
    }
  }
}

template void upsample_bilinear_forward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                               int64_t, int64_t);
template void upsample_bilinear_forward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                                int64_t, int64_t);
template void upsample_bilinear_backward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                                int64_t, int64_t);
template void upsample_bilinear_backward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                                 int64_t, int64_t);

void upsample_bilinear_forward(Context&, Tensor& y, const Tensor& x) {
  upsample_bilinear_forward<float>(y.f32(), x.f32(), x.n() * x.c(), x.h(), x.w(), y.h(), y.w());
}

void upsample_bilinear_backward(Context&, Tensor& dx, const Tensor& dy) {
  upsample_bilinear_backward<float>(dx.f32(), dy.f32(), dx.n() * dx.c(), dx.h(), dx.w(), dy.h(),
                                    dy.w());
}

}  // namespace gbad::cpu
