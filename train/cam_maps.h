// gbad-predict --cam: class activation maps of a trained classifier (eval/cam.h has the
// arithmetic, models/classifier.h the hook that exposes the feature maps and runs the head's
// backward), overlaid on the scans and written as PNGs with an index.csv for gbad-report.
//   GBAD head (*-fpn):   Grad-CAM on each FPN level P2..P5 (the gradient of the class logit
//                        with respect to the level, by the head's hand-written backward); the
//                        overlay shows their combination: each level's map resized to the
//                        image, normalised to [0, 1], averaged, normalised again.
//   plain head:          the classic CAM of the last stage, sum_c fc.weight[k, c] C5_c.
//   CHR head:            Grad-CAM on C5 through the head's o1 branch (its test-time score).
// The same code runs on the CPU and on CUDA: the model's forward and backward go through the
// ops of the model's device; only the small per-image maps are computed on the host.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/classes.h"
#include "core/context.h"
#include "eval/cam.h"
#include "models/classifier.h"

namespace gbad {

// The maps of one (image, class): one per level of cam_level_names(), at the level's
// resolution, not normalised.
struct ClassCams {
  int cls = 0;
  float confidence = 0.f;  // sigmoid of the class logit
  std::vector<CamMap> levels;
};

// Chooses the classes to map for image i from its confidences (K values, sigmoid of logits).
using CamChooser = std::function<std::vector<int>(int64_t i, const std::vector<float>& conf)>;

// x (N,3,S,S) on the model's device, already normalised. Runs one eval forward and one head
// backward per distinct chosen class. Returns, per image, one ClassCams per chosen class (in
// the order chosen).
std::vector<std::vector<ClassCams>> class_activation_maps(Context& ctx, Classifier& model,
                                                          const Tensor& x,
                                                          const CamChooser& choose);

// Which classes get a map: those with confidence >= threshold, and those labelled present
// (labels[k] == 1) when given; in class order.
std::vector<int> cam_classes(const std::array<float, kNumClasses>& confidence, float threshold,
                             const std::array<int8_t, kNumClasses>* labels);

struct CamImage {
  std::string path, stem;
  bool labelled = false;
  std::array<int8_t, kNumClasses> labels{};  // 1 present, -1 absent, 0 difficult
};

struct CamWriteOptions {
  int image_size = 224;  // the network's test-time input size
  float threshold = 0.5f;
  int batch = 8;
  bool levels = false;  // also one overlay per level (FPN levels)
  float alpha = 0.6f;   // colour map opacity at the hottest point
};

// Decodes each image, runs the model, writes into `dir` (created) one PNG per (image, class)
// at the image's own size, named <stem>_<class>_<confidence>.png (and ..._<level>.png with
// `levels`), and dir/index.csv (eval/cam.h). Returns the index rows.
std::vector<CamIndexRow> write_cam_overlays(Context& ctx, Classifier& model,
                                            const std::vector<CamImage>& images,
                                            const CamWriteOptions& opt, const std::string& dir);

}  // namespace gbad
