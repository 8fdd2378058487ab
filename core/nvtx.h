// NVTX ranges, so Nsight Systems shows the structure of a step (data wait, H2D copy, forward,
// loss, backward, optimiser step) and of the model (its parts' forward and backward). Built with
// CUDA, a range is nvtx3's nvtxRangePushA/Pop: header-only, and when no tool is attached each
// call returns after one check of a function pointer. Built without CUDA they compile to nothing.
//
//   GBAD_NVTX_RANGE("forward");   // until the end of the enclosing scope
//
// Layout conversions (NCHW <-> NHWC at the edges of a half-precision GPU step) are counted, so a
// profile or a test can tell how many a step made; a LayoutConversion scope counts one and names
// its range "layout <what>".
#pragma once

#include <cstdint>

#ifdef GBAD_WITH_CUDA
#include <nvtx3/nvToolsExt.h>
#endif

namespace gbad {

class NvtxRange {
 public:
  explicit NvtxRange(const char* name) {
#ifdef GBAD_WITH_CUDA
    nvtxRangePushA(name);
#else
    (void)name;
#endif
  }
  ~NvtxRange() {
    end();
  }
  // Ends the range before the scope does (once; the destructor then does nothing).
  void end() {
    if (!open_) return;
    open_ = false;
#ifdef GBAD_WITH_CUDA
    nvtxRangePop();
#endif
  }
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;

 private:
  bool open_ = true;
};

#define GBAD_NVTX_CONCAT2(a, b) a##b
#define GBAD_NVTX_CONCAT(a, b) GBAD_NVTX_CONCAT2(a, b)
#define GBAD_NVTX_RANGE(name) ::gbad::NvtxRange GBAD_NVTX_CONCAT(gbad_nvtx_range_, __LINE__)(name)

// Layout conversions made by this process so far (all threads), and the counter's reset.
int64_t layout_conversions();
void reset_layout_conversions();
void count_layout_conversion();

// Counts one layout conversion and shows it as the range "layout <what>" (what: a string
// literal such as "NCHW->NHWC input"), for the scope of the conversion.
class LayoutConversion {
 public:
  explicit LayoutConversion(const char* what);
  ~LayoutConversion();
  LayoutConversion(const LayoutConversion&) = delete;
  LayoutConversion& operator=(const LayoutConversion&) = delete;
};

}  // namespace gbad
