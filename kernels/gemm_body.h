// Per-element bodies of the Linear helper kernels, shared by the CUDA kernels
// (kernels/cuda/gemm.cu) and a CPU loop in the tests.
#pragma once

#include <cstdint>

#include "core/philox.h"

namespace gbad {

// y (rows, cols) += b (cols), element i.
GBAD_HD void add_row_bias_body(int64_t i, float* y, const float* b, int64_t cols) {
  y[i] += b[i % cols];
}

// db[j] += sum over rows of dy[:, j]; one thread per column j (reads are coalesced across j).
GBAD_HD void sum_rows_body(int64_t j, float* db, const float* dy, int64_t rows, int64_t cols) {
  float s = 0.f;
  for (int64_t r = 0; r < rows; ++r) s += dy[r * cols + j];
  db[j] += s;
}

}  // namespace gbad
