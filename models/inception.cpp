#include "models/inception.h"

#include "kernels/channels.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"

namespace gbad {

// ---- BasicConv2d -------------------------------------------------------------------------------

struct InceptionBasicConv {
  std::string prefix;
  Conv2d conv;
  BatchNorm2d bn;
  ReLU relu;
  InceptionBasicConv(ParamStore& ps, const std::string& p, int64_t cin, int64_t cout, int kh,
                     int kw, int sh, int sw, int ph, int pw)
      : prefix(p),
        conv(ps, p + ".conv", cin, cout, kh, kw, sh, sw, ph, pw, false),
        bn(ps, p + ".bn", cout, 1e-3f) {}
  const Tensor& forward(Context& ctx, const Tensor& x) {
    return relu.forward(ctx, bn.forward(ctx, conv.forward(ctx, x)));
  }
  const Tensor& backward(Context& ctx, const Tensor& dy) {
    return conv.backward(ctx, bn.backward(ctx, relu.backward(ctx, dy)));
  }
  void set_training(bool t) {
    conv.set_training(t);
    bn.set_training(t);
    relu.set_training(t);
  }
  int64_t cout() const { return conv.cout(); }
  Shape summarize(const Shape& x, const ParamStore& ps, std::vector<LayerSummary>& rows,
                  bool training_only = false) const {
    const Shape y = conv.output_shape(x);
    rows.push_back({prefix + ".conv", "Conv2d", y, count_params(ps, prefix + ".conv"), conv.macs(x),
                    training_only});
    rows.push_back(
        {prefix + ".bn", "BatchNorm2d", y, count_params(ps, prefix + ".bn"), 0, training_only});
    return y;
  }
};

namespace {

using BC = InceptionBasicConv;

bool has_values(const Tensor& t) {
  return t.defined() && !t.empty();
}

}  // namespace

// ---- Mixed blocks: branches written into channel ranges of one output --------------------------

// A branch: an optional pool, a chain of BasicConv2d, and optionally a fork of two
// BasicConv2d on the chain's output whose outputs are both concatenated (InceptionE).
struct InceptionBranch {
  enum Pool { kNone, kAvg, kMax } pool = kNone;
  AvgPool2d avg{3, 1, 1, true};
  MaxPool2d max{3, 2, 0};
  std::vector<std::unique_ptr<BC>> chain, fork;
  int64_t cin = 0;
  Tensor dfork;

  int64_t out_channels() const {
    if (!fork.empty()) return fork[0]->cout() + fork[1]->cout();
    return chain.empty() ? cin : chain.back()->cout();
  }
};

class InceptionMixed {
 public:
  InceptionMixed(std::string name, int64_t cin) : name_(std::move(name)), cin_(cin) {}
  InceptionBranch& branch(InceptionBranch::Pool pool = InceptionBranch::kNone) {
    branches_.push_back(std::make_unique<InceptionBranch>());
    branches_.back()->pool = pool;
    branches_.back()->cin = cin_;
    return *branches_.back();
  }
  int64_t out_channels() const {
    int64_t c = 0;
    for (const auto& b : branches_) c += b->out_channels();
    return c;
  }
  const std::string& name() const { return name_; }

  const Tensor& forward(Context& ctx, const Tensor& x) {
    int64_t c0 = 0;
    for (auto& bp : branches_) {
      InceptionBranch& b = *bp;
      const Tensor* h = &x;
      if (b.pool == InceptionBranch::kAvg) h = &b.avg.forward(ctx, *h);
      if (b.pool == InceptionBranch::kMax) h = &b.max.forward(ctx, *h);
      for (auto& c : b.chain) h = &c->forward(ctx, *h);
      std::vector<const Tensor*> outs;
      if (b.fork.empty()) {
        outs.push_back(h);
      } else {
        for (auto& f : b.fork) outs.push_back(&f->forward(ctx, *h));
      }
      for (const Tensor* o : outs) {
        if (c0 == 0) out_.resize({x.n(), out_channels(), o->h(), o->w()}, x.device());
        channel_copy(ctx, out_, c0, *o, 0, o->c());
        c0 += o->c();
      }
    }
    x_shape_ = x.shape();
    return out_;
  }

  const Tensor& backward(Context& ctx, const Tensor& dy) {
    int64_t c0 = 0;
    bool first = true;
    dx_.resize(x_shape_, dy.device());
    for (auto& bp : branches_) {
      InceptionBranch& b = *bp;
      Tensor d;
      if (b.fork.empty()) {
        d = slice(ctx, dy, c0, b.out_channels());
        c0 += b.out_channels();
      } else {
        for (size_t i = 0; i < 2; ++i) {
          const int64_t c = b.fork[i]->cout();
          const Tensor& g = b.fork[i]->backward(ctx, slice(ctx, dy, c0, c));
          c0 += c;
          if (i == 0) {
            b.dfork.resize(g.shape(), g.device());
            b.dfork.copy_from(g);
          } else {
            add_inplace(ctx, b.dfork, g);
          }
        }
        d = b.dfork;
      }
      for (auto it = b.chain.rbegin(); it != b.chain.rend(); ++it) d = (*it)->backward(ctx, d);
      if (b.pool == InceptionBranch::kAvg) d = b.avg.backward(ctx, d);
      if (b.pool == InceptionBranch::kMax) d = b.max.backward(ctx, d);
      if (first)
        dx_.copy_from(d);
      else
        add_inplace(ctx, dx_, d);
      first = false;
    }
    return dx_;
  }

  void set_training(bool t) {
    for (auto& b : branches_) {
      b->avg.set_training(t);
      b->max.set_training(t);
      for (auto& c : b->chain) c->set_training(t);
      for (auto& c : b->fork) c->set_training(t);
    }
  }

  Shape summarize(const Shape& x, const ParamStore& ps, std::vector<LayerSummary>& rows) const {
    Shape out;
    for (const auto& bp : branches_) {
      const InceptionBranch& b = *bp;
      Shape h = x;
      if (b.pool == InceptionBranch::kAvg) {
        h = b.avg.output_shape(h);
        rows.push_back({name_ + ".avg_pool", "AvgPool2d", h, 0, 0});
      } else if (b.pool == InceptionBranch::kMax) {
        h = {h[0], h[1], maxpool2d_out_size(h[2], 3, 2, 0), maxpool2d_out_size(h[3], 3, 2, 0)};
        rows.push_back({name_ + ".max_pool", "MaxPool2d", h, 0, 0});
      }
      for (const auto& c : b.chain) h = c->summarize(h, ps, rows);
      for (const auto& c : b.fork) c->summarize(h, ps, rows);
      out = {x[0], out_channels(), h[2], h[3]};
    }
    rows.push_back({name_, "Concat", out, 0, 0});
    return out;
  }

 private:
  // Channels [c0, c0+c) of dy as a contiguous tensor (one scratch per block: layers never
  // keep the gradient they are given).
  const Tensor& slice(Context& ctx, const Tensor& dy, int64_t c0, int64_t c) {
    slice_.resize({dy.n(), c, dy.h(), dy.w()}, dy.device());
    channel_copy(ctx, slice_, 0, dy, c0, c);
    return slice_;
  }

  std::string name_;
  int64_t cin_;
  std::vector<std::unique_ptr<InceptionBranch>> branches_;
  Tensor out_, dx_, slice_;
  Shape x_shape_;
};

// ---- InceptionV3 -------------------------------------------------------------------------------

namespace {

struct Builder {
  ParamStore& ps;
  int64_t width;
  int64_t c(int64_t x) const { return std::max<int64_t>(1, x * width / 64); }
  std::unique_ptr<BC> conv(const std::string& p, int64_t cin, int64_t cout, int kh, int kw,
                           int s = 1, int ph = 0, int pw = 0) const {
    return std::make_unique<BC>(ps, p, cin, cout, kh, kw, s, s, ph, pw);
  }
};

std::unique_ptr<InceptionMixed> inception_a(const Builder& B, const std::string& n, int64_t cin,
                                            int64_t pool_features) {
  auto m = std::make_unique<InceptionMixed>(n, cin);
  m->branch().chain.push_back(B.conv(n + ".branch1x1", cin, B.c(64), 1, 1));
  auto& b5 = m->branch();
  b5.chain.push_back(B.conv(n + ".branch5x5_1", cin, B.c(48), 1, 1));
  b5.chain.push_back(B.conv(n + ".branch5x5_2", B.c(48), B.c(64), 5, 5, 1, 2, 2));
  auto& b3 = m->branch();
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_1", cin, B.c(64), 1, 1));
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_2", B.c(64), B.c(96), 3, 3, 1, 1, 1));
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_3", B.c(96), B.c(96), 3, 3, 1, 1, 1));
  m->branch(InceptionBranch::kAvg)
      .chain.push_back(B.conv(n + ".branch_pool", cin, pool_features, 1, 1));
  return m;
}

std::unique_ptr<InceptionMixed> inception_b(const Builder& B, const std::string& n, int64_t cin) {
  auto m = std::make_unique<InceptionMixed>(n, cin);
  m->branch().chain.push_back(B.conv(n + ".branch3x3", cin, B.c(384), 3, 3, 2));
  auto& b3 = m->branch();
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_1", cin, B.c(64), 1, 1));
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_2", B.c(64), B.c(96), 3, 3, 1, 1, 1));
  b3.chain.push_back(B.conv(n + ".branch3x3dbl_3", B.c(96), B.c(96), 3, 3, 2));
  m->branch(InceptionBranch::kMax);
  return m;
}

std::unique_ptr<InceptionMixed> inception_c(const Builder& B, const std::string& n, int64_t cin,
                                            int64_t c7) {
  auto m = std::make_unique<InceptionMixed>(n, cin);
  m->branch().chain.push_back(B.conv(n + ".branch1x1", cin, B.c(192), 1, 1));
  auto& b7 = m->branch();
  b7.chain.push_back(B.conv(n + ".branch7x7_1", cin, c7, 1, 1));
  b7.chain.push_back(B.conv(n + ".branch7x7_2", c7, c7, 1, 7, 1, 0, 3));
  b7.chain.push_back(B.conv(n + ".branch7x7_3", c7, B.c(192), 7, 1, 1, 3, 0));
  auto& bd = m->branch();
  bd.chain.push_back(B.conv(n + ".branch7x7dbl_1", cin, c7, 1, 1));
  bd.chain.push_back(B.conv(n + ".branch7x7dbl_2", c7, c7, 7, 1, 1, 3, 0));
  bd.chain.push_back(B.conv(n + ".branch7x7dbl_3", c7, c7, 1, 7, 1, 0, 3));
  bd.chain.push_back(B.conv(n + ".branch7x7dbl_4", c7, c7, 7, 1, 1, 3, 0));
  bd.chain.push_back(B.conv(n + ".branch7x7dbl_5", c7, B.c(192), 1, 7, 1, 0, 3));
  m->branch(InceptionBranch::kAvg).chain.push_back(B.conv(n + ".branch_pool", cin, B.c(192), 1, 1));
  return m;
}

std::unique_ptr<InceptionMixed> inception_d(const Builder& B, const std::string& n, int64_t cin) {
  auto m = std::make_unique<InceptionMixed>(n, cin);
  auto& b3 = m->branch();
  b3.chain.push_back(B.conv(n + ".branch3x3_1", cin, B.c(192), 1, 1));
  b3.chain.push_back(B.conv(n + ".branch3x3_2", B.c(192), B.c(320), 3, 3, 2));
  auto& b7 = m->branch();
  b7.chain.push_back(B.conv(n + ".branch7x7x3_1", cin, B.c(192), 1, 1));
  b7.chain.push_back(B.conv(n + ".branch7x7x3_2", B.c(192), B.c(192), 1, 7, 1, 0, 3));
  b7.chain.push_back(B.conv(n + ".branch7x7x3_3", B.c(192), B.c(192), 7, 1, 1, 3, 0));
  b7.chain.push_back(B.conv(n + ".branch7x7x3_4", B.c(192), B.c(192), 3, 3, 2));
  m->branch(InceptionBranch::kMax);
  return m;
}

std::unique_ptr<InceptionMixed> inception_e(const Builder& B, const std::string& n, int64_t cin) {
  auto m = std::make_unique<InceptionMixed>(n, cin);
  m->branch().chain.push_back(B.conv(n + ".branch1x1", cin, B.c(320), 1, 1));
  auto& b3 = m->branch();
  b3.chain.push_back(B.conv(n + ".branch3x3_1", cin, B.c(384), 1, 1));
  b3.fork.push_back(B.conv(n + ".branch3x3_2a", B.c(384), B.c(384), 1, 3, 1, 0, 1));
  b3.fork.push_back(B.conv(n + ".branch3x3_2b", B.c(384), B.c(384), 3, 1, 1, 1, 0));
  auto& bd = m->branch();
  bd.chain.push_back(B.conv(n + ".branch3x3dbl_1", cin, B.c(448), 1, 1));
  bd.chain.push_back(B.conv(n + ".branch3x3dbl_2", B.c(448), B.c(384), 3, 3, 1, 1, 1));
  bd.fork.push_back(B.conv(n + ".branch3x3dbl_3a", B.c(384), B.c(384), 1, 3, 1, 0, 1));
  bd.fork.push_back(B.conv(n + ".branch3x3dbl_3b", B.c(384), B.c(384), 3, 1, 1, 1, 0));
  m->branch(InceptionBranch::kAvg).chain.push_back(B.conv(n + ".branch_pool", cin, B.c(192), 1, 1));
  return m;
}

}  // namespace

InceptionV3::InceptionV3(ParamStore& ps, const InceptionConfig& cfg) : cfg_(cfg) {
  GBAD_CHECK(cfg.width > 0, "InceptionV3 width must be positive, got ", cfg.width);
  GBAD_CHECK(cfg.num_classes > 0, "InceptionV3 needs a positive class count");
  const Builder B{ps, cfg.width};
  stem_.push_back(B.conv("Conv2d_1a_3x3", 3, B.c(32), 3, 3, 2));
  stem_.push_back(B.conv("Conv2d_2a_3x3", B.c(32), B.c(32), 3, 3));
  stem_.push_back(B.conv("Conv2d_2b_3x3", B.c(32), B.c(64), 3, 3, 1, 1, 1));
  stem_.push_back(B.conv("Conv2d_3b_1x1", B.c(64), B.c(80), 1, 1));
  stem_.push_back(B.conv("Conv2d_4a_3x3", B.c(80), B.c(192), 3, 3));
  stem_[0]->conv.set_input_grad(cfg.input_grad);
  int64_t c = B.c(192);
  channels_[0] = c;
  auto add = [&](std::unique_ptr<InceptionMixed> m) {
    c = m->out_channels();
    mixed_.push_back(std::move(m));
  };
  add(inception_a(B, "Mixed_5b", c, B.c(32)));
  add(inception_a(B, "Mixed_5c", c, B.c(64)));
  add(inception_a(B, "Mixed_5d", c, B.c(64)));
  channels_[1] = c;
  add(inception_b(B, "Mixed_6a", c));
  add(inception_c(B, "Mixed_6b", c, B.c(128)));
  add(inception_c(B, "Mixed_6c", c, B.c(160)));
  add(inception_c(B, "Mixed_6d", c, B.c(160)));
  add(inception_c(B, "Mixed_6e", c, B.c(192)));
  channels_[2] = c;
  aux_conv0_ = B.conv("AuxLogits.conv0", c, B.c(128), 1, 1);
  aux_conv1_ = B.conv("AuxLogits.conv1", B.c(128), B.c(768), 5, 5);
  aux_fc_ = Linear(ps, "AuxLogits.fc", B.c(768), cfg.num_classes);
  add(inception_d(B, "Mixed_7a", c));
  add(inception_e(B, "Mixed_7b", c));
  add(inception_e(B, "Mixed_7c", c));
  channels_[3] = c;
}

InceptionV3::~InceptionV3() = default;

std::array<Tensor, 4> InceptionV3::forward(Context& ctx, const Tensor& x) {
  GBAD_CHECK(x.ndim() == 4 && x.c() == 3, "InceptionV3 expects (N,3,H,W) images, got ", x.str());
  GBAD_CHECK(x.h() >= kMinInput && x.w() >= kMinInput, "InceptionV3 needs images of at least ",
             kMinInput, "x", kMinInput, ", got ", x.str());
  const Tensor* h = &x;
  if (cfg_.transform_input) {
    // torchvision: x_c * std_c / 0.5 + (mean_c - 0.5) / 0.5 turns ImageNet-normalised input
    // into the [-1, 1] scaling its ported weights expect.
    if (!ti_w_.defined() || ti_w_.device() != x.device()) {
      const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
      std::vector<float> w(9, 0.f), b(3);
      for (int i = 0; i < 3; ++i) {
        w[size_t(i * 4)] = sd[i] / 0.5f;
        b[size_t(i)] = (mean[i] - 0.5f) / 0.5f;
      }
      ti_w_ = Tensor::from_vector(w, {3, 3, 1, 1}).to(x.device());
      ti_b_ = Tensor::from_vector(b, {3}).to(x.device());
    }
    ti_y_.resize(x.shape(), x.device());
    conv2d_forward(ctx, ti_y_, x, ti_w_, &ti_b_, Conv2dParams{});
    h = &ti_y_;
  }
  std::array<Tensor, 4> c;
  h = &stem_[0]->forward(ctx, *h);
  h = &stem_[1]->forward(ctx, *h);
  h = &pool1_.forward(ctx, stem_[2]->forward(ctx, *h));
  h = &stem_[3]->forward(ctx, *h);
  c[0] = stem_[4]->forward(ctx, *h);
  h = &pool2_.forward(ctx, c[0]);
  for (size_t i = 0; i < mixed_.size(); ++i) {
    h = &mixed_[i]->forward(ctx, *h);
    if (i == 2) c[1] = *h;
    if (i == 7) c[2] = *h;
  }
  c[3] = *h;
  aux_ran_ = false;
  if (aux_on_ && stem_[0]->bn.training()) {
    GBAD_CHECK(c[2].h() >= 17 && c[2].w() >= 17,
               "the InceptionV3 auxiliary classifier needs Mixed_6e of at least 17x17 (inputs of "
               "at least ",
               kMinAuxInput, "), got ", c[2].str(), " from input ", x.str(),
               "; use --aux-weight 0 for smaller inputs");
    const Tensor& a =
        aux_conv1_->forward(ctx, aux_conv0_->forward(ctx, aux_pool_.forward(ctx, c[2])));
    aux_logits_ = aux_fc_.forward(ctx, aux_gap_.forward(ctx, a));
    aux_ran_ = true;
  }
  return c;
}

const Tensor& InceptionV3::backward(Context& ctx, const std::array<Tensor, 4>& dc) {
  Tensor d;
  auto merge = [&](int level) {
    const Tensor& g = dc[size_t(level)];
    if (!has_values(g)) return;
    if (!d.defined()) {
      d = g;
      return;
    }
    dsum_[level].resize(d.shape(), d.device());
    add(ctx, dsum_[level], d, g);
    d = dsum_[level];
  };
  merge(3);
  for (int i = static_cast<int>(mixed_.size()) - 1; i >= 0; --i) {
    if (i == 7) {
      merge(2);
      if (aux_ran_ && has_values(daux_)) {
        const Tensor& da = aux_pool_.backward(
            ctx, aux_conv0_->backward(
                     ctx, aux_conv1_->backward(
                              ctx, aux_gap_.backward(ctx, aux_fc_.backward(ctx, daux_)))));
        if (d.defined()) {
          daux_sum_.resize(d.shape(), d.device());
          add(ctx, daux_sum_, d, da);
          d = daux_sum_;
        } else {
          d = da;
        }
      }
    }
    if (i == 2) merge(1);
    if (d.defined()) d = mixed_[size_t(i)]->backward(ctx, d);
  }
  daux_ = Tensor();
  GBAD_CHECK(d.defined() || has_values(dc[0]), "InceptionV3::backward: every gradient is empty");
  if (d.defined()) d = pool2_.backward(ctx, d);
  merge(0);
  d = stem_[4]->backward(ctx, d);
  d = stem_[3]->backward(ctx, d);
  d = stem_[2]->backward(ctx, pool1_.backward(ctx, d));
  d = stem_[1]->backward(ctx, d);
  const Tensor& dx = stem_[0]->backward(ctx, d);
  if (!cfg_.input_grad) return empty_;
  if (!cfg_.transform_input) return dx;
  ti_dx_.resize(dx.shape(), dx.device());
  conv2d_backward(ctx, &ti_dx_, nullptr, nullptr, dx, ti_y_, ti_w_, Conv2dParams{});
  return ti_dx_;
}

void InceptionV3::set_training(bool t) {
  for (auto& s : stem_) s->set_training(t);
  pool1_.set_training(t);
  pool2_.set_training(t);
  for (auto& m : mixed_) m->set_training(t);
  aux_pool_.set_training(t);
  aux_conv0_->set_training(t);
  aux_conv1_->set_training(t);
  aux_gap_.set_training(t);
  aux_fc_.set_training(t);
}

std::array<Shape, 4> InceptionV3::summarize(const Shape& x, const ParamStore& ps,
                                            std::vector<LayerSummary>& rows) const {
  std::array<Shape, 4> c;
  Shape h = stem_[0]->summarize(x, ps, rows);
  h = stem_[1]->summarize(h, ps, rows);
  h = stem_[2]->summarize(h, ps, rows);
  h = {h[0], h[1], maxpool2d_out_size(h[2], 3, 2, 0), maxpool2d_out_size(h[3], 3, 2, 0)};
  rows.push_back({"maxpool1", "MaxPool2d", h, 0, 0});
  h = stem_[3]->summarize(h, ps, rows);
  c[0] = h = stem_[4]->summarize(h, ps, rows);
  h = {h[0], h[1], maxpool2d_out_size(h[2], 3, 2, 0), maxpool2d_out_size(h[3], 3, 2, 0)};
  rows.push_back({"maxpool2", "MaxPool2d", h, 0, 0});
  for (size_t i = 0; i < mixed_.size(); ++i) {
    h = mixed_[i]->summarize(h, ps, rows);
    if (i == 2) c[1] = h;
    if (i == 7) {
      c[2] = h;
      // The auxiliary head (training only; shapes as at 299x299 when the input is smaller).
      Shape a = h;
      if (a[2] >= 5 && a[3] >= 5) a = aux_pool_.output_shape(a);
      if (a[2] < 5 || a[3] < 5) a = {a[0], a[1], 5, 5};
      rows.push_back({"AuxLogits.avg_pool", "AvgPool2d", a, 0, 0, true});
      a = aux_conv0_->summarize(a, ps, rows, true);
      a = aux_conv1_->summarize(a, ps, rows, true);
      rows.push_back({"AuxLogits.fc",
                      "Linear",
                      {a[0], aux_fc_.out_features()},
                      count_params(ps, "AuxLogits.fc"),
                      a[0] * aux_fc_.in_features() * aux_fc_.out_features(),
                      true});
    }
  }
  c[3] = h;
  return c;
}

}  // namespace gbad
