#include "models/densenet.h"

#include "kernels/batchnorm.h"
#include "kernels/channels.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"

namespace gbad {

namespace {

constexpr float kEps = 1e-5f, kMomentum = 0.1f;

bool has_values(const Tensor& t) {
  return t.defined() && !t.empty();
}

// BatchNorm2d's parameters and buffers, registered under torchvision's names.
struct BnRefs {
  ParamStore::Ref w = -1, b = -1, rm = -1, rv = -1, nbt = -1;
};

BnRefs add_bn(ParamStore& ps, const std::string& prefix, int64_t c) {
  BnRefs r;
  r.w = ps.add_param(join_name(prefix, "weight"), {c}, InitSpec::ones());
  r.b = ps.add_param(join_name(prefix, "bias"), {c}, InitSpec::zeros());
  r.rm = ps.add_buffer(join_name(prefix, "running_mean"), {c}, InitSpec::zeros());
  r.rv = ps.add_buffer(join_name(prefix, "running_var"), {c}, InitSpec::ones());
  r.nbt = ps.add_buffer(join_name(prefix, "num_batches_tracked"), {}, InitSpec::zeros());
  return r;
}

ParamStore::Ref add_conv(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t cout,
                         int k) {
  return ps.add_param(join_name(prefix, "weight"), {cout, cin, k, k},
                      InitSpec::kaiming_normal_fan_out(cout * k * k));
}

Shape with_channels(const Shape& x, int64_t c) {
  return {x[0], c, x[2], x[3]};
}

}  // namespace

// ---- DenseBlock --------------------------------------------------------------------------------

class DenseBlock {
 public:
  DenseBlock(ParamStore& ps, const std::string& prefix, int64_t cin, int layers, int64_t growth,
             int64_t bn_size)
      : ps_(&ps), prefix_(prefix), cin_(cin), growth_(growth), mid_(bn_size * growth) {
    for (int l = 0; l < layers; ++l) {
      const std::string p = prefix + ".denselayer" + std::to_string(l + 1);
      const int64_t c = in_channels(l);
      Layer L;
      L.n1 = add_bn(ps, p + ".norm1", c);
      L.w1 = add_conv(ps, p + ".conv1", c, mid_, 1);
      L.n2 = add_bn(ps, p + ".norm2", mid_);
      L.w2 = add_conv(ps, p + ".conv2", mid_, growth_, 3);
      layers_.push_back(std::move(L));
    }
  }

  int64_t in_channels(int l) const { return cin_ + l * growth_; }
  int64_t out_channels() const { return in_channels(static_cast<int>(layers_.size())); }
  int64_t max_layer_in() const { return in_channels(static_cast<int>(layers_.size()) - 1); }

  // x (N,Cin,H,W) -> the block's feature buffer (N,Cout,H,W).
  const Tensor& forward(Context& ctx, const Tensor& x, bool training) {
    training_ = training;
    const Device dev = x.device();
    const int64_t n = x.n(), h = x.h(), w = x.w();
    buf_.resize({n, out_channels(), h, w}, dev);
    s_.resize({n, max_layer_in(), h, w}, dev);
    t_.resize({n, max_layer_in(), h, w}, dev);
    g_.resize({n, growth_, h, w}, dev);
    channel_copy(ctx, buf_, 0, x, 0, cin_);
    for (size_t l = 0; l < layers_.size(); ++l) {
      Layer& L = layers_[l];
      const int64_t c = in_channels(static_cast<int>(l));
      Tensor s = s_.view(0, {n, c, h, w}), t = t_.view(0, {n, c, h, w});
      channel_copy(ctx, s, 0, buf_, 0, c);
      if (training) {
        L.mean1.resize({c}, dev);
        L.invstd1.resize({c}, dev);
      }
      norm_relu(ctx, t, s, L.n1, training, L.mean1, L.invstd1, true);
      L.u.resize({n, mid_, h, w}, dev);
      conv2d_forward(ctx, L.u, t, ps_->value(L.w1), nullptr, Conv2dParams{1, 1, 0, 0});
      L.v.resize(L.u.shape(), dev);
      if (training) {
        L.mean2.resize({mid_}, dev);
        L.invstd2.resize({mid_}, dev);
      }
      norm_relu(ctx, L.v, L.u, L.n2, training, L.mean2, L.invstd2, true);
      conv2d_forward(ctx, g_, L.v, ps_->value(L.w2), nullptr, Conv2dParams{1, 1, 1, 1});
      channel_copy(ctx, buf_, c, g_, 0, growth_);
    }
    return buf_;
  }

  // dy (N,Cout,H,W) -> dL/dx (N,Cin,H,W); parameter gradients accumulate.
  const Tensor& backward(Context& ctx, const Tensor& dy) {
    GBAD_CHECK(buf_.defined() && dy.shape() == buf_.shape(), prefix_, ": backward got ", dy.str(),
               " for a block output of ", shape_str(buf_.shape()));
    const Device dev = dy.device();
    const int64_t n = dy.n(), h = dy.h(), w = dy.w();
    dbuf_.resize(dy.shape(), dev);
    dbuf_.copy_from(dy);
    dt_.resize({n, max_layer_in(), h, w}, dev);
    ds_.resize({n, max_layer_in(), h, w}, dev);
    da_.resize({n, mid_, h, w}, dev);
    db_.resize({n, mid_, h, w}, dev);
    for (int l = static_cast<int>(layers_.size()) - 1; l >= 0; --l) {
      Layer& L = layers_[static_cast<size_t>(l)];
      const int64_t c = in_channels(l);
      channel_copy(ctx, g_, 0, dbuf_, c, growth_);  // dL/d(this layer's new channels)
      conv2d_backward(ctx, &da_, &ps_->grad(L.w2), nullptr, g_, L.v, ps_->value(L.w2),
                      Conv2dParams{1, 1, 1, 1});
      ctx.grad_ready(*ps_, L.w2);
      relu_backward(ctx, da_, da_, L.v);
      norm_backward(ctx, db_, da_, L.u, L.n2, L.mean2, L.invstd2);
      // Recompute norm1+ReLU of the layer's input (forward kept only the shared scratch).
      Tensor s = s_.view(0, {n, c, h, w}), t = t_.view(0, {n, c, h, w});
      Tensor dt = dt_.view(0, {n, c, h, w}), ds = ds_.view(0, {n, c, h, w});
      channel_copy(ctx, s, 0, buf_, 0, c);
      norm_relu(ctx, t, s, L.n1, training_, L.mean1, L.invstd1, false);
      conv2d_backward(ctx, &dt, &ps_->grad(L.w1), nullptr, db_, t, ps_->value(L.w1),
                      Conv2dParams{1, 1, 0, 0});
      ctx.grad_ready(*ps_, L.w1);
      relu_backward(ctx, dt, dt, t);
      norm_backward(ctx, ds, dt, s, L.n1, L.mean1, L.invstd1);
      channel_copy(ctx, dbuf_, 0, ds, 0, c, true);
    }
    dx_.resize({n, cin_, h, w}, dev);
    channel_copy(ctx, dx_, 0, dbuf_, 0, cin_);
    return dx_;
  }

  void summarize(Shape& x, const ParamStore& ps, std::vector<LayerSummary>& rows) const {
    for (size_t l = 0; l < layers_.size(); ++l) {
      const std::string p = prefix_ + ".denselayer" + std::to_string(l + 1);
      const int64_t c = in_channels(static_cast<int>(l));
      const int64_t hw = x[0] * x[2] * x[3];
      rows.push_back(
          {p + ".norm1", "BatchNorm2d", with_channels(x, c), count_params(ps, p + ".norm1"), 0});
      rows.push_back({p + ".conv1", "Conv2d", with_channels(x, mid_),
                      count_params(ps, p + ".conv1"), hw * mid_ * c});
      rows.push_back(
          {p + ".norm2", "BatchNorm2d", with_channels(x, mid_), count_params(ps, p + ".norm2"), 0});
      rows.push_back({p + ".conv2", "Conv2d", with_channels(x, growth_),
                      count_params(ps, p + ".conv2"), hw * growth_ * mid_ * 9});
    }
    x = with_channels(x, out_channels());
  }

  // Bytes this block holds for a training step on (n, h, w): buffers and per-layer caches.
  int64_t bytes(int64_t n, int64_t h, int64_t w) const {
    const int64_t hw = n * h * w, L = static_cast<int64_t>(layers_.size());
    int64_t floats = 2 * out_channels() * hw         // feature buffer and its gradient
                     + 4 * max_layer_in() * hw       // s, t, dt, ds scratch
                     + growth_ * hw + 2 * mid_ * hw  // g, da, db scratch
                     + cin_ * hw                     // dx
                     + L * 2 * mid_ * hw;            // u, v per layer
    for (int l = 0; l < L; ++l) floats += 2 * in_channels(l) + 2 * mid_;  // saved statistics
    return floats * static_cast<int64_t>(sizeof(float));
  }

 private:
  struct Layer {
    BnRefs n1, n2;
    ParamStore::Ref w1 = -1, w2 = -1;
    Tensor mean1, invstd1, mean2, invstd2, u, v;
  };

  // y = ReLU(BN(x)) (y may not alias x). Training: batch statistics into mean/invstd and the
  // running statistics updated, unless `update` is false (the backward recomputation, which
  // must leave running statistics and the saved statistics as the forward left them).
  void norm_relu(Context& ctx, Tensor& y, const Tensor& x, const BnRefs& r, bool training,
                 Tensor& mean, Tensor& invstd, bool update) {
    ParamStore& ps = *ps_;
    if (training) {
      if (update) {
        batchnorm2d_forward_train(ctx, y, mean, invstd, ps.value(r.rm), ps.value(r.rv), x,
                                  ps.value(r.w), ps.value(r.b), kEps, kMomentum);
        batchnorm2d_count_batch(ctx, ps.value(r.nbt));
      } else {
        const int64_t c = x.c();
        rm_tmp_.resize({c}, x.device());
        rv_tmp_.resize({c}, x.device());
        m_tmp_.resize({c}, x.device());
        is_tmp_.resize({c}, x.device());
        rm_tmp_.zero();
        rv_tmp_.fill(1.f);
        // Same data, same deterministic reduction: bit-identical to the forward's output.
        batchnorm2d_forward_train(ctx, y, m_tmp_, is_tmp_, rm_tmp_, rv_tmp_, x, ps.value(r.w),
                                  ps.value(r.b), kEps, kMomentum);
      }
    } else {
      batchnorm2d_forward_eval(ctx, y, x, ps.value(r.w), ps.value(r.b), ps.value(r.rm),
                               ps.value(r.rv), kEps);
    }
    relu_forward(ctx, y, y);
  }

  void norm_backward(Context& ctx, Tensor& dx, const Tensor& dy, const Tensor& x, const BnRefs& r,
                     const Tensor& mean, const Tensor& invstd) {
    ParamStore& ps = *ps_;
    if (training_)
      batchnorm2d_backward(ctx, &dx, &ps.grad(r.w), &ps.grad(r.b), dy, x, ps.value(r.w), mean,
                           invstd, kEps);
    else
      batchnorm2d_backward_eval(ctx, &dx, &ps.grad(r.w), &ps.grad(r.b), dy, x, ps.value(r.w),
                                ps.value(r.rm), ps.value(r.rv), kEps);
    ctx.grad_ready(ps, r.w);
    ctx.grad_ready(ps, r.b);
  }

  ParamStore* ps_;
  std::string prefix_;
  int64_t cin_, growth_, mid_;
  bool training_ = true;
  std::vector<Layer> layers_;
  Tensor buf_, dbuf_, s_, t_, g_, dt_, ds_, da_, db_, dx_, rm_tmp_, rv_tmp_, m_tmp_, is_tmp_;
};

// ---- DenseNet ----------------------------------------------------------------------------------

DenseNet::DenseNet(ParamStore& ps, const DenseNetConfig& cfg) : cfg_(cfg) {
  GBAD_CHECK(cfg.growth > 0 && cfg.init_features > 0 && cfg.bn_size > 0,
             "DenseNet growth, initial features and bn_size must be positive, got ", cfg.growth,
             ", ", cfg.init_features, ", ", cfg.bn_size);
  for (int b : cfg.blocks) GBAD_CHECK(b > 0, "DenseNet blocks must have at least one layer");
  conv0_ = Conv2d(ps, "features.conv0", 3, cfg.init_features, 7, 2, 3, false);
  conv0_.set_input_grad(cfg.input_grad);
  norm0_ = BatchNorm2d(ps, "features.norm0", cfg.init_features);
  int64_t c = cfg.init_features;
  for (int b = 0; b < 4; ++b) {
    const std::string bn = std::to_string(b + 1);
    blocks_.push_back(std::make_unique<DenseBlock>(ps, "features.denseblock" + bn, c,
                                                   cfg.blocks[size_t(b)], cfg.growth, cfg.bn_size));
    c = blocks_.back()->out_channels();
    channels_[size_t(b)] = c;
    if (b < 3) {
      const std::string tn = "features.transition" + bn;
      trans_[size_t(b)].norm = BatchNorm2d(ps, tn + ".norm", c);
      trans_[size_t(b)].conv = Conv2d(ps, tn + ".conv", c, c / 2, 1, 1, 0, false);
      c /= 2;
    }
  }
  norm5_ = BatchNorm2d(ps, "features.norm5", c);
}

DenseNet::~DenseNet() = default;

std::array<Tensor, 4> DenseNet::forward(Context& ctx, const Tensor& x) {
  GBAD_CHECK(x.ndim() == 4 && x.c() == 3, "DenseNet expects (N,3,H,W) images, got ", x.str());
  GBAD_CHECK(x.h() >= 29 && x.w() >= 29, "DenseNet needs images of at least 29x29, got ", x.str());
  const bool training = norm0_.training();
  const Tensor* h =
      &pool0_.forward(ctx, relu0_.forward(ctx, norm0_.forward(ctx, conv0_.forward(ctx, x))));
  std::array<Tensor, 4> c;
  for (int b = 0; b < 4; ++b) {
    const Tensor& feat = blocks_[size_t(b)]->forward(ctx, *h, training);
    if (b < 3) {
      Transition& t = trans_[size_t(b)];
      c[size_t(b)] = t.relu.forward(ctx, t.norm.forward(ctx, feat));
      h = &t.pool.forward(ctx, t.conv.forward(ctx, c[size_t(b)]));
    } else {
      c[3] = relu5_.forward(ctx, norm5_.forward(ctx, feat));
    }
  }
  return c;
}

const Tensor& DenseNet::backward(Context& ctx, const std::array<Tensor, 4>& dc) {
  Tensor d;  // gradient wrt the level output C(b+2)
  for (int b = 3; b >= 0; --b) {
    const Tensor& g = dc[size_t(b)];
    if (has_values(g)) {
      if (d.defined()) {
        dsum_[size_t(b)].resize(d.shape(), d.device());
        add(ctx, dsum_[size_t(b)], d, g);
        d = dsum_[size_t(b)];
      } else {
        d = g;
      }
    }
    if (!d.defined()) continue;
    if (b == 3) {
      d = norm5_.backward(ctx, relu5_.backward(ctx, d));
    } else {
      Transition& t = trans_[size_t(b)];
      d = t.norm.backward(ctx, t.relu.backward(ctx, d));
    }
    d = blocks_[size_t(b)]->backward(ctx, d);
    if (b > 0) {
      Transition& t = trans_[size_t(b - 1)];
      d = t.conv.backward(ctx, t.pool.backward(ctx, d));
    }
  }
  GBAD_CHECK(d.defined(), "DenseNet::backward: every gradient dC2..dC5 is empty");
  d = pool0_.backward(ctx, d);
  d = norm0_.backward(ctx, relu0_.backward(ctx, d));
  const Tensor& dx = conv0_.backward(ctx, d);
  return cfg_.input_grad ? dx : empty_;
}

void DenseNet::set_training(bool t) {
  for (Layer* l :
       std::initializer_list<Layer*>{&conv0_, &norm0_, &relu0_, &pool0_, &norm5_, &relu5_})
    l->set_training(t);
  for (auto& tr : trans_)
    for (Layer* l : std::initializer_list<Layer*>{&tr.norm, &tr.relu, &tr.conv, &tr.pool})
      l->set_training(t);
}

std::array<Shape, 4> DenseNet::summarize(const Shape& x, const ParamStore& ps,
                                         std::vector<LayerSummary>& rows) const {
  Shape h = conv0_.output_shape(x);
  rows.push_back(
      {"features.conv0", "Conv2d", h, count_params(ps, "features.conv0"), conv0_.macs(x)});
  rows.push_back({"features.norm0", "BatchNorm2d", h, count_params(ps, "features.norm0"), 0});
  h = {h[0], h[1], maxpool2d_out_size(h[2], 3, 2, 1), maxpool2d_out_size(h[3], 3, 2, 1)};
  rows.push_back({"features.pool0", "MaxPool2d", h, 0, 0});
  std::array<Shape, 4> c;
  for (int b = 0; b < 4; ++b) {
    blocks_[size_t(b)]->summarize(h, ps, rows);
    c[size_t(b)] = h;
    if (b < 3) {
      const Transition& t = trans_[size_t(b)];
      const std::string tn = "features.transition" + std::to_string(b + 1);
      rows.push_back({tn + ".norm", "BatchNorm2d", h, count_params(ps, tn + ".norm"), 0});
      const Shape y = t.conv.output_shape(h);
      rows.push_back({tn + ".conv", "Conv2d", y, count_params(ps, tn + ".conv"), t.conv.macs(h)});
      h = t.pool.output_shape(y);
      rows.push_back({tn + ".pool", "AvgPool2d", h, 0, 0});
    } else {
      rows.push_back({"features.norm5", "BatchNorm2d", h, count_params(ps, "features.norm5"), 0});
    }
  }
  return c;
}

int64_t DenseNet::activation_bytes(const Shape& x) const {
  std::vector<LayerSummary> rows;
  ParamStore empty;
  const std::array<Shape, 4> c = summarize(x, empty, rows);
  const int64_t n = x[0];
  int64_t floats = 0;
  // Stem: conv0, norm0, relu0 outputs and their input gradients, pool0 output + argmax + dx.
  const Shape s0 = conv0_.output_shape(x);
  const int64_t stem = shape_numel(s0);
  floats += 3 * stem + 3 * stem;
  Shape h = {n, s0[1], maxpool2d_out_size(s0[2], 3, 2, 1), maxpool2d_out_size(s0[3], 3, 2, 1)};
  floats += 2 * shape_numel(h);
  int64_t bytes = 0;
  for (int b = 0; b < 4; ++b) {
    bytes += blocks_[size_t(b)]->bytes(n, h[2], h[3]);
    const int64_t e = shape_numel(c[size_t(b)]);
    floats += 2 * e + 2 * e;  // norm and ReLU outputs (transition or norm5/relu5), their grads
    if (b < 3) {
      const Shape y = trans_[size_t(b)].conv.output_shape(c[size_t(b)]);
      h = trans_[size_t(b)].pool.output_shape(y);
      floats += 2 * shape_numel(y) + 2 * shape_numel(h);  // conv out + dx, pool out + dx
    }
  }
  return bytes + floats * static_cast<int64_t>(sizeof(float));
}

}  // namespace gbad
