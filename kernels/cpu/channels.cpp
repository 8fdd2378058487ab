// CPU reference for kernels/channels.h: one contiguous run of count*H*W values per image.
#include <cstring>

#include "kernels/channels.h"

namespace gbad::cpu {

template <typename T>
void channel_copy(T* dst, const T* src, int64_t n, const ChannelCopyGeom& g, bool accumulate) {
  const int64_t run = g.count * g.hw;
#pragma omp parallel for if (n * run > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    T* d = dst + (i * g.cd + g.dst_c0) * g.hw;
    const T* s = src + (i * g.cs + g.src_c0) * g.hw;
    if (accumulate) {
      for (int64_t j = 0; j < run; ++j) d[j] += s[j];
    } else {
      std::memcpy(d, s, static_cast<size_t>(run) * sizeof(T));
    }
  }
}

template void channel_copy<float>(float*, const float*, int64_t, const ChannelCopyGeom&, bool);
template void channel_copy<double>(double*, const double*, int64_t, const ChannelCopyGeom&, bool);

void channel_copy(Context&, Tensor& dst, int64_t dst_c0, const Tensor& src, int64_t src_c0,
                  int64_t count, bool accumulate) {
  const ChannelCopyGeom g{dst.h() * dst.w(), dst.c(), src.c(), dst_c0, src_c0, count};
  channel_copy<float>(dst.f32(), src.f32(), dst.n(), g, accumulate);
}

}  // namespace gbad::cpu
