// What the classifier heads need from a backbone (ResNet, InceptionV3, DenseNet): four feature
// levels C2..C5 (strides about 4, 8, 16, 32) for the GBAD head's FPN, the last of which feeds
// the plain head, and a summary of its layers.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/param_store.h"
#include "core/tensor.h"

namespace gbad {

// One row of a model summary (gbad-summary). MACs count the multiply-adds of convolutions and
// fully connected layers (the convention behind the usual "ResNet-50: 4.1 G" figures);
// BatchNorm, activations, pooling and additions count 0.
struct LayerSummary {
  std::string name;  // parameter prefix, e.g. "layer1.0.conv1"
  std::string kind;  // "Conv2d", "BatchNorm2d", "Linear", "MaxPool2d", ...
  Shape output;      // for the batch size the summary was asked for
  int64_t params = 0;
  int64_t macs = 0;
  bool training_only = false;  // InceptionV3's auxiliary head: not in the inference MACs
};

// Trainable parameters registered under `prefix` ("<prefix>.*"), from shapes only.
int64_t count_params(const ParamStore& ps, const std::string& prefix);

class Backbone {
 public:
  virtual ~Backbone() = default;
  // x (N,3,H,W) -> C2..C5, handles to tensors the backbone owns (valid until the next forward).
  virtual std::array<Tensor, 4> forward(Context& ctx, const Tensor& x) = 0;
  // dc[i] = dL/dC(i+2); an undefined or empty tensor means zero. Accumulates parameter
  // gradients; returns dL/dx (empty unless the backbone was built with input_grad).
  virtual const Tensor& backward(Context& ctx, const std::array<Tensor, 4>& dc) = 0;
  virtual void set_training(bool t) = 0;
  virtual std::array<int64_t, 4> channels() const = 0;
  // Output shapes of C2..C5 for input shape x; appends one row per layer.
  virtual std::array<Shape, 4> summarize(const Shape& x, const ParamStore& ps,
                                         std::vector<LayerSummary>& rows) const = 0;
};

}  // namespace gbad
