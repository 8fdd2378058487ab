// The miniature models the checkpoint fuzz targets load files into, and the configurations the
// seed corpus was written with (fuzz/make_seeds.cpp): change them together.
#pragma once

#include "models/bigan.h"
#include "models/classifier.h"

namespace gbad::fuzz {

inline ClassifierOptions tiny_classifier_options() {
  ClassifierOptions o;
  o.width = 2;
  o.fpn_channels = 4;
  o.head_dim = 4;
  o.num_classes = 5;
  return o;
}
inline constexpr const char* kTinyArch = "resnet18-fpn";
inline constexpr const char* kTinyPlainArch = "resnet18-plain";

inline BiGanConfig tiny_bigan_config() {
  BiGanConfig c;
  c.x_dim = 9;
  c.latent = 3;
  c.enc_hidden = 4;
  c.gen_hidden = {4, 5};
  c.dis_hidden = 4;
  return c;
}

}  // namespace gbad::fuzz
