// Index math of channel_copy (kernels/channels.h), host-callable so the CPU tests drive the
// same body the CUDA kernel runs.
#pragma once

#include <cstdint>

#include "core/philox.h"
#include "kernels/channels.h"

namespace gbad {

// Element j of the copied block (N, count, H, W) -> its flat indices in dst and src.
GBAD_HD void channel_copy_index(int64_t j, const ChannelCopyGeom& g, int64_t* di, int64_t* si) {
  const int64_t per = g.count * g.hw;
  const int64_t n = j / per, r = j - n * per;
  *di = (n * g.cd + g.dst_c0) * g.hw + r;
  *si = (n * g.cs + g.src_c0) * g.hw + r;
}

}  // namespace gbad
