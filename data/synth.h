// A synthetic SIXray-like X-ray baggage generator writing the real release's layout:
//   <out>/JPEGImage/<stem>.jpg            P + 5 digits (positives), N + 7 digits (negatives)
//   <out>/ImageSet/<ratio>/{train,test}.csv  for each ratio (negatives per positive)
// A scene is one or two bags (or a tray) packed with clutter at real-world scale (clothes,
// cables, electronics, bottles, books, shoes, ...), threats (gun, knife, wrench, pliers,
// scissors) and benign look-alikes; every part has a material (effective atomic number) and a
// mass per area. The scanner model turns that into dual-energy attenuation (Beer-Lambert at a
// low and a high energy), blurs, sharpens and adds detector noise, and colours each pixel the
// way dual-energy scanners do: hue from the low/high attenuation ratio (organic orange, mixed
// green, metal blue), brightness from the attenuation (thick metal near black).
// The pieces: data/synth/raster.* (canvas), objects.* (object library), scene.cpp (composition),
// xray.* (scanner and colour), writer.cpp (dataset files).
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
  double size_jitter = 0.3;             // width and height each in size * [1 - j, 1 + j]
  double difficulty = 0.5;              // 0 easy .. 1 hard: clutter, occlusion, look-alikes
  double density = 1.0;                 // amount of clutter per bag area (1: like real scans)
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
                  int width, int height, double difficulty, double density = 1.0);

// Writes the whole dataset. `progress(done, total)` is called from worker threads now and then.
SynthSummary generate_synthetic_dataset(const SynthConfig& cfg,
                                        const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace gbad
