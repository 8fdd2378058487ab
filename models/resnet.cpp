#include "models/resnet.h"

#include "core/comm.h"
#include "kernels/amp.h"
#include "kernels/elementwise.h"
#include "kernels/nhwc.h"

namespace gbad {

namespace {

// y = a + b where a gradient path joins: half NHWC tensors add into half, f32 ones are stored
// at the run's precision (amp_store: the emulation of the same storage point).
void add_grads(Context& ctx, Tensor& y, const Tensor& a, const Tensor& b) {
  y.resize_like(a.shape(), a);
  if (a.is_nhwc()) return half_nhwc_add(ctx, y, a, b);
  add(ctx, y, a, b);
  amp_store(ctx, y);
}

bool has_values(const Tensor& t) {
  return t.defined() && !t.empty();
}

Shape pool_shape(const Shape& x, int k, int s, int p) {
  return {x[0], x[1], (x[2] + 2 * p - k) / s + 1, (x[3] + 2 * p - k) / s + 1};
}

void conv_row(const Conv2d& conv, const std::string& name, Shape& x, const ParamStore& ps,
              std::vector<LayerSummary>& rows) {
  Shape y = conv.output_shape(x);
  rows.push_back({name, "Conv2d", y, count_params(ps, name), conv.macs(x)});
  x = y;
}

void bn_row(const std::string& name, const Shape& x, const ParamStore& ps,
            std::vector<LayerSummary>& rows) {
  rows.push_back({name, "BatchNorm2d", x, count_params(ps, name), 0});
}

}  // namespace

int64_t count_params(const ParamStore& ps, const std::string& prefix) {
  const std::string p = prefix.empty() ? "" : prefix + ".";
  int64_t n = 0;
  for (const auto& e : ps.entries())
    if (e.trainable && e.name.compare(0, p.size(), p) == 0) n += e.numel;
  return n;
}

bool resnet_is_bottleneck(int depth) {
  resnet_blocks(depth);
  return depth >= 50;
}

std::array<int, 4> resnet_blocks(int depth) {
  switch (depth) {
    case 18:
      return {2, 2, 2, 2};
    case 34:
      return {3, 4, 6, 3};
    case 50:
      return {3, 4, 6, 3};
    case 101:
      return {3, 4, 23, 3};
    default:
      GBAD_FAIL("unsupported ResNet depth ", depth, " (expected 18, 34, 50 or 101)");
  }
}

// ---- ResNetBlock -----------------------------------------------------------------------------

ResNetBlock::ResNetBlock(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t planes,
                         int stride, bool bottleneck)
    : prefix_(prefix), bottleneck_(bottleneck) {
  if (bottleneck) {
    cout_ = planes * 4;
    conv1_ = Conv2d(ps, join_name(prefix, "conv1"), cin, planes, 1, 1, 0, false);
    bn1_ = BatchNorm2d(ps, join_name(prefix, "bn1"), planes);
    conv2_ = Conv2d(ps, join_name(prefix, "conv2"), planes, planes, 3, stride, 1, false);
    bn2_ = BatchNorm2d(ps, join_name(prefix, "bn2"), planes);
    conv3_ = Conv2d(ps, join_name(prefix, "conv3"), planes, cout_, 1, 1, 0, false);
    bn3_ = BatchNorm2d(ps, join_name(prefix, "bn3"), cout_);
  } else {
    cout_ = planes;
    conv1_ = Conv2d(ps, join_name(prefix, "conv1"), cin, planes, 3, stride, 1, false);
    bn1_ = BatchNorm2d(ps, join_name(prefix, "bn1"), planes);
    conv2_ = Conv2d(ps, join_name(prefix, "conv2"), planes, planes, 3, 1, 1, false);
    bn2_ = BatchNorm2d(ps, join_name(prefix, "bn2"), planes);
  }
  has_down_ = stride != 1 || cin != cout_;
  if (has_down_) {
    down_conv_ = Conv2d(ps, join_name(prefix, "downsample.0"), cin, cout_, 1, stride, 0, false);
    down_bn_ = BatchNorm2d(ps, join_name(prefix, "downsample.1"), cout_);
  }
}

const Tensor& ResNetBlock::forward(Context& ctx, const Tensor& x) {
  act_last_ = training_;
  if (training_) {
    // relu(bn1(conv1 x)) -> [relu(bn2(conv2 .)) ->] relu(bn(conv .) + identity), each BN + ReLU
    // (+ add) one pass.
    const Tensor& identity = has_down_ ? down_bn_.forward(ctx, down_conv_.forward(ctx, x)) : x;
    const Tensor* h = &bn1_.forward_act(ctx, conv1_.forward(ctx, x), nullptr, true);
    if (!bottleneck_) return bn2_.forward_act(ctx, conv2_.forward(ctx, *h), &identity, true);
    h = &bn2_.forward_act(ctx, conv2_.forward(ctx, *h), nullptr, true);
    return bn3_.forward_act(ctx, conv3_.forward(ctx, *h), &identity, true);
  }
  const Tensor* h = &relu1_.forward(ctx, bn1_.forward(ctx, conv1_.forward(ctx, x)));
  h = &bn2_.forward(ctx, conv2_.forward(ctx, *h));
  if (bottleneck_) h = &bn3_.forward(ctx, conv3_.forward(ctx, relu2_.forward(ctx, *h)));
  const Tensor& identity = has_down_ ? down_bn_.forward(ctx, down_conv_.forward(ctx, x)) : x;
  sum_.resize(h->shape(), h->device());
  add(ctx, sum_, *h, identity);
  return relu_out_.forward(ctx, sum_);
}

const Tensor& ResNetBlock::forward_fused_eval(Context& ctx, const Tensor& x) {
  const Tensor& identity =
      has_down_ ? down_conv_.forward_bn_eval(ctx, x, down_bn_, nullptr, false) : x;
  const Tensor& h = conv1_.forward_bn_eval(ctx, x, bn1_, nullptr, true);
  if (!bottleneck_) return conv2_.forward_bn_eval(ctx, h, bn2_, &identity, true);
  const Tensor& h2 = conv2_.forward_bn_eval(ctx, h, bn2_, nullptr, true);
  return conv3_.forward_bn_eval(ctx, h2, bn3_, &identity, true);
}

const Tensor& ResNetBlock::backward(Context& ctx, const Tensor& dy) {
  if (act_last_) {
    BatchNorm2d& last = bottleneck_ ? bn3_ : bn2_;
    const Tensor* g = &last.backward_act(ctx, dy, true);
    const Tensor& d = last.residual_grad();  // dL/d(sum) = dL/d(identity)
    if (bottleneck_) g = &bn2_.backward_act(ctx, conv3_.backward(ctx, *g), false);
    g = &bn1_.backward_act(ctx, conv2_.backward(ctx, *g), false);
    g = &conv1_.backward(ctx, *g);
    const Tensor& did = has_down_ ? down_conv_.backward(ctx, down_bn_.backward(ctx, d)) : d;
    add_grads(ctx, dx_, *g, did);
    return dx_;
  }
  const Tensor& d = relu_out_.backward(ctx, dy);
  const Tensor* g = &d;
  if (bottleneck_) g = &relu2_.backward(ctx, conv3_.backward(ctx, bn3_.backward(ctx, *g)));
  g = &conv2_.backward(ctx, bn2_.backward(ctx, *g));
  g = &conv1_.backward(ctx, bn1_.backward(ctx, relu1_.backward(ctx, *g)));
  const Tensor& did = has_down_ ? down_conv_.backward(ctx, down_bn_.backward(ctx, d)) : d;
  add_grads(ctx, dx_, *g, did);
  return dx_;
}

void ResNetBlock::set_training(bool t) {
  training_ = t;
  for (Layer* l :
       std::initializer_list<Layer*>{&conv1_, &conv2_, &conv3_, &down_conv_, &bn1_, &bn2_, &bn3_,
                                     &down_bn_, &relu1_, &relu2_, &relu_out_})
    l->set_training(t);
}

Shape ResNetBlock::summarize(const Shape& x, const ParamStore& ps,
                             std::vector<LayerSummary>& rows) const {
  Shape h = x;
  conv_row(conv1_, join_name(prefix_, "conv1"), h, ps, rows);
  bn_row(join_name(prefix_, "bn1"), h, ps, rows);
  conv_row(conv2_, join_name(prefix_, "conv2"), h, ps, rows);
  bn_row(join_name(prefix_, "bn2"), h, ps, rows);
  if (bottleneck_) {
    conv_row(conv3_, join_name(prefix_, "conv3"), h, ps, rows);
    bn_row(join_name(prefix_, "bn3"), h, ps, rows);
  }
  if (has_down_) {
    Shape s = x;
    conv_row(down_conv_, join_name(prefix_, "downsample.0"), s, ps, rows);
    bn_row(join_name(prefix_, "downsample.1"), s, ps, rows);
  }
  return h;
}

// ---- ResNet ----------------------------------------------------------------------------------

ResNet::ResNet(ParamStore& ps, const ResNetConfig& cfg) : cfg_(cfg) {
  GBAD_CHECK(cfg.width > 0, "ResNet width must be positive, got ", cfg.width);
  const bool bottleneck = resnet_is_bottleneck(cfg.depth);
  const std::array<int, 4> blocks = resnet_blocks(cfg.depth);
  conv1_ = Conv2d(ps, "conv1", 3, cfg.width, 7, 2, 3, false);
  conv1_.set_input_grad(cfg.input_grad);
  bn1_ = BatchNorm2d(ps, "bn1", cfg.width);
  int64_t cin = cfg.width;
  for (int s = 0; s < 4; ++s) {
    const int64_t planes = cfg.width << s;
    stages_[s].reserve(static_cast<size_t>(blocks[s]));
    for (int b = 0; b < blocks[s]; ++b) {
      const std::string name = "layer" + std::to_string(s + 1) + "." + std::to_string(b);
      stages_[s].emplace_back(ps, name, cin, planes, (b == 0 && s > 0) ? 2 : 1, bottleneck);
      cin = stages_[s].back().out_channels();
    }
    channels_[s] = cin;
  }
}

std::array<Tensor, 4> ResNet::forward(Context& ctx, const Tensor& x) {
  GBAD_CHECK(x.ndim() == 4 && x.c() == 3, "ResNet expects (N,3,H,W) images, got ", x.str());
  x_ = x;
  fused_last_ = !training_ && fuse_eval_;
  return forward_impl(ctx, x, fused_last_);
}

std::array<Tensor, 4> ResNet::forward_impl(Context& ctx, const Tensor& in, bool fused) {
  stem_act_ = training_;
  // Half NHWC activations where every layer has that form: training forwards of one process's
  // BatchNorm statistics, and fused eval forwards (the unfused eval one stays NCHW).
  nhwc_ = ctx.half_nhwc() && (training_ || fused) &&
          !(training_ && ctx.bn_comm() && ctx.bn_comm()->size() > 1);
  // The input is stored in half at fp16/bf16: converted into half NHWC, or rounded for the
  // emulation (as the boundary layout's first convolution converts it on the GPU).
  if (nhwc_) {
    to_half_nhwc(ctx, x_store_, in);
  } else if (stores_half(ctx.precision())) {
    x_store_.resize_like(in.shape(), in);
    x_store_.copy_from(in);
    amp_store(ctx, x_store_);
  }
  const Tensor& x = nhwc_ || stores_half(ctx.precision()) ? x_store_ : in;
  const Tensor* h = fused       ? &conv1_.forward_bn_eval(ctx, x, bn1_, nullptr, true)
                    : training_ ? &bn1_.forward_act(ctx, conv1_.forward(ctx, x), nullptr, true)
                                : &relu_.forward(ctx, bn1_.forward(ctx, conv1_.forward(ctx, x)));
  h = &pool_.forward(ctx, *h);
  std::array<Tensor, 4> c;
  for (int s = 0; s < 4; ++s) {
    for (auto& b : stages_[s]) h = fused ? &b.forward_fused_eval(ctx, *h) : &b.forward(ctx, *h);
    c[s] = *h;
  }
  return c;
}

const Tensor& ResNet::backward(Context& ctx, const std::array<Tensor, 4>& dc) {
  // The fused eval forward keeps no intermediates: recompute them the unfused way (eval-mode
  // gradients are rare: feature attribution, tests).
  if (fused_last_) {
    forward_impl(ctx, x_, false);
    fused_last_ = false;
  }
  Tensor d;  // gradient wrt the output of the current stage
  for (int s = 3; s >= 0; --s) {
    if (has_values(dc[s])) {
      const Tensor* g = &dc[s];
      // The heads hand the gradients of C2..C5 over stored in half (f32 ones from the CHR
      // head, converted into half NHWC here).
      if (nhwc_ && !dc[s].is_nhwc()) {
        to_half_nhwc(ctx, dc_store_[s], dc[s]);
        g = &dc_store_[s];
      } else if (!nhwc_ && dc[s].is_nhwc()) {
        // Half NHWC gradients of a fused NHWC eval forward, whose backward runs the unfused
        // (NCHW) recompute above: back to f32 (exact: they are half values).
        from_half_nhwc(ctx, dc_store_[s], dc[s]);
        g = &dc_store_[s];
      }
      if (d.defined()) {
        add_grads(ctx, dsum_[s], d, *g);
        d = dsum_[s];
      } else {
        d = *g;
      }
    }
    if (!d.defined()) continue;  // nothing above this stage depends on the loss
    for (auto it = stages_[s].rbegin(); it != stages_[s].rend(); ++it) d = it->backward(ctx, d);
  }
  GBAD_CHECK(d.defined(), "ResNet::backward: every gradient dC2..dC5 is empty");
  d = pool_.backward(ctx, d);
  if (stem_act_) {
    d = bn1_.backward_act(ctx, d, false);
  } else {
    d = relu_.backward(ctx, d);
    d = bn1_.backward(ctx, d);
  }
  const Tensor& dx = conv1_.backward(ctx, d);
  if (!cfg_.input_grad) return empty_;
  if (!dx.is_nhwc()) return dx;
  from_half_nhwc(ctx, dx32_, dx);
  return dx32_;
}

void ResNet::set_training(bool t) {
  training_ = t;
  conv1_.set_training(t);
  bn1_.set_training(t);
  relu_.set_training(t);
  pool_.set_training(t);
  for (auto& st : stages_)
    for (auto& b : st) b.set_training(t);
}

std::array<Shape, 4> ResNet::summarize(const Shape& x, const ParamStore& ps,
                                       std::vector<LayerSummary>& rows) const {
  Shape h = x;
  conv_row(conv1_, "conv1", h, ps, rows);
  bn_row("bn1", h, ps, rows);
  h = pool_shape(h, 3, 2, 1);
  rows.push_back({"maxpool", "MaxPool2d", h, 0, 0});
  std::array<Shape, 4> c;
  for (int s = 0; s < 4; ++s) {
    for (const auto& b : stages_[s]) h = b.summarize(h, ps, rows);
    c[s] = h;
  }
  return c;
}

}  // namespace gbad
