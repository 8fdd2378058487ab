#include "core/nvtx.h"

#include <atomic>
#include <string>

namespace gbad {

namespace {
std::atomic<int64_t> g_layout_conversions{0};
}  // namespace

int64_t layout_conversions() {
  return g_layout_conversions.load(std::memory_order_relaxed);
}
void reset_layout_conversions() {
  g_layout_conversions.store(0, std::memory_order_relaxed);
}
void count_layout_conversion() {
  g_layout_conversions.fetch_add(1, std::memory_order_relaxed);
}

LayoutConversion::LayoutConversion(const char* what) {
  count_layout_conversion();
#ifdef GBAD_WITH_CUDA
  // A few conversions a step: building the name each time costs nothing that shows.
  const std::string name = std::string("layout ") + what;
  nvtxRangePushA(name.c_str());
#else
  (void)what;
#endif
}

LayoutConversion::~LayoutConversion() {
#ifdef GBAD_WITH_CUDA
  nvtxRangePop();
#endif
}

}  // namespace gbad
