// A synthetic SIXray-like X-ray baggage generator writing the real release's layout:
//   <out>/JPEGImage/<stem>.jpg            P + 5 digits (positives), N + 7 digits (negatives)
//   <out>/ImageSet/<ratio>/{train,test}.csv  for each ratio (negatives per positive)
// Scenes are a bag outline, overlapping benign objects, threats (gun, knife, wrench, pliers,
// scissors) as parametric silhouettes and benign metal look-alikes, rendered as material
// thickness maps -> Beer-Lambert attenuation per colour channel (organic orange, inorganic
// green, metal blue, overlaps darken) -> edge enhancement, detector noise -> JPEG.
// Deterministic: every image depends only on (seed, image id), whatever the thread count.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/image.h"
#include "data/sixray.h"

namespace gbad {

struct SynthConfig {
  std::string out;
  int64_t positives = 250;
  std::vector<int> ratios = {10, 100};  // negatives per positive; the largest sets the pool
  int size = 128;                       // base image side in pixels
  double size_jitter = 0.25;            // width and height each in size * [1 - j, 1 + j]
  double difficulty = 0.5;              // 0 easy .. 1 hard: clutter, occlusion, look-alikes
  double test_fraction = 0.2;           // of positives and of negatives
  uint64_t seed = 1;
  int threads = 0;   // 0: all hardware threads
  int quality = 90;  // JPEG quality
};

struct SynthSummary {
  int64_t positives = 0, negatives = 0;
  std::array<int64_t, kNumClasses> class_positives{};  // images holding each class
  int64_t bytes = 0;
  double seconds = 0;
};

// Labels of positive number `i` (0-based): 1 to 3 distinct classes, frequencies as in SIXray.
std::array<int8_t, kNumClasses> synth_positive_labels(uint64_t seed, int64_t i);

// Renders one scan. `image_id` selects the scene; labels 1 put that threat class in the image.
Image render_scan(uint64_t seed, uint64_t image_id, const std::array<int8_t, kNumClasses>& labels,
                  int width, int height, double difficulty);

// Writes the whole dataset. `progress(done, total)` is called from worker threads now and then.
SynthSummary generate_synthetic_dataset(const SynthConfig& cfg,
                                        const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace gbad
