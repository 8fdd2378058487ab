#include "models/ganomaly.h"

#include <cmath>

#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"

namespace gbad {

namespace {

bool is_pow2(int64_t v) {
  return v > 0 && (v & (v - 1)) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void conv_row(std::vector<LayerSummary>& rows, const ParamStore& ps, const std::string& name,
              const char* kind, const Shape& y, int64_t macs) {
  rows.push_back({name, kind, y, count_params(ps, name), macs});
}

// y = a * x (y resized to x's shape).
void scaled_copy(Context& ctx, Tensor& y, const Tensor& x, float a) {
  y.resize(x.shape(), x.device());
  y.copy_from(x);
  if (a != 1.f) scale_inplace(ctx, y, a);
}

}  // namespace

GanVariant parse_gan_variant(const std::string& s) {
  if (s == "ganomaly") return GanVariant::Ganomaly;
  if (s == "skip" || s == "skip-ganomaly") return GanVariant::Skip;
  GBAD_FAIL("unknown GAN variant '", s, "' (ganomaly or skip)");
}

const char* gan_variant_name(GanVariant v) {
  return v == GanVariant::Ganomaly ? "ganomaly" : "skip-ganomaly";
}

void ganomaly_init(ParamStore& ps, uint64_t seed, uint64_t stream) {
  for (size_t i = 0; i < ps.entries().size(); ++i) {
    const ParamStore::Entry& e = ps.entries()[i];
    if (!e.trainable) continue;
    InitSpec spec = InitSpec::zeros();
    if (ends_with(e.name, ".weight"))
      spec = e.shape.size() == 4 ? InitSpec::normal(0.f, 0.02f) : InitSpec::normal(1.f, 0.02f);
    std::vector<float> v(static_cast<size_t>(e.numel));
    init_values(v.data(), e.numel, spec, seed, stream * 1000003ull + i);
    ps.value(static_cast<int>(i)).set_from(v);
  }
}

// ---- DcganEncoder ----------------------------------------------------------------------------

DcganEncoder::DcganEncoder(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nz,
                           int64_t nc, int64_t ndf) {
  GBAD_CHECK(is_pow2(isize) && isize >= 16, prefix, ": image size ", isize,
             " must be a power of two >= 16");
  GBAD_CHECK(nz > 0 && nc > 0 && ndf > 0, prefix, ": bad sizes nz ", nz, " nc ", nc, " ndf ", ndf);
  conv0_ = Conv2d(ps, prefix + ".initial.conv", nc, ndf, 4, 2, 1, false);
  int64_t csize = isize / 2, c = ndf;
  for (int i = 0; csize > 4; ++i, csize /= 2, c *= 2) {
    const std::string p = prefix + ".pyramid." + std::to_string(i);
    convs_.emplace_back(ps, p + ".conv", c, c * 2, 4, 2, 1, false);
    bns_.emplace_back(ps, p + ".bn", c * 2);
    acts_.emplace_back(0.2f);
  }
  final_ = Conv2d(ps, prefix + ".final.conv", c, nz, 4, 1, 0, false);
}

const Tensor& DcganEncoder::forward(Context& ctx, const Tensor& x) {
  const Tensor* h = &act0_.forward(ctx, conv0_.forward(ctx, x));
  for (size_t i = 0; i < convs_.size(); ++i)
    h = &acts_[i].forward(ctx, bns_[i].forward(ctx, convs_[i].forward(ctx, *h)));
  feat_ = *h;
  out_ = final_.forward(ctx, *h);
  return out_;
}

const Tensor& DcganEncoder::backward(Context& ctx, const Tensor* dout, const Tensor* dfeat) {
  GBAD_CHECK(dout || dfeat, "DcganEncoder::backward: no gradient given");
  Tensor d;
  if (dout) d = final_.backward(ctx, *dout);
  if (dfeat) {
    if (d.defined()) {
      dfeat_.resize(d.shape(), d.device());
      add(ctx, dfeat_, d, *dfeat);
      d = dfeat_;
    } else {
      d = *dfeat;
    }
  }
  for (size_t i = convs_.size(); i-- > 0;)
    d = convs_[i].backward(ctx, bns_[i].backward(ctx, acts_[i].backward(ctx, d)));
  return conv0_.backward(ctx, act0_.backward(ctx, d));
}

void DcganEncoder::set_training(bool t) {
  for (size_t i = 0; i < convs_.size(); ++i) {
    convs_[i].set_training(t);
    bns_[i].set_training(t);
    acts_[i].set_training(t);
  }
  conv0_.set_training(t);
  final_.set_training(t);
}

Shape DcganEncoder::summarize(const Shape& x, const std::string& prefix, const ParamStore& ps,
                              std::vector<LayerSummary>& rows) const {
  Shape h = conv0_.output_shape(x);
  conv_row(rows, ps, prefix + ".initial.conv", "Conv2d", h, conv0_.macs(x));
  for (size_t i = 0; i < convs_.size(); ++i) {
    const std::string p = prefix + ".pyramid." + std::to_string(i);
    Shape y = convs_[i].output_shape(h);
    conv_row(rows, ps, p + ".conv", "Conv2d", y, convs_[i].macs(h));
    conv_row(rows, ps, p + ".bn", "BatchNorm2d", y, 0);
    h = y;
  }
  Shape y = final_.output_shape(h);
  conv_row(rows, ps, prefix + ".final.conv", "Conv2d", y, final_.macs(h));
  return y;
}

// ---- DcganDecoder ----------------------------------------------------------------------------

DcganDecoder::DcganDecoder(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nz,
                           int64_t nc, int64_t ngf) {
  GBAD_CHECK(is_pow2(isize) && isize >= 16, prefix, ": image size ", isize,
             " must be a power of two >= 16");
  GBAD_CHECK(ngf >= 2 && ngf % 2 == 0, prefix, ": ngf ", ngf, " must be even");
  int64_t c = ngf / 2;
  for (int64_t t = 4; t != isize; t *= 2) c *= 2;
  convs_.emplace_back(ps, prefix + ".initial.convt", nz, c, 4, 1, 0, false);
  bns_.emplace_back(ps, prefix + ".initial.bn", c);
  acts_.emplace_back();
  int i = 0;
  for (int64_t csize = 4; csize < isize / 2; csize *= 2, c /= 2, ++i) {
    const std::string p = prefix + ".pyramid." + std::to_string(i);
    convs_.emplace_back(ps, p + ".convt", c, c / 2, 4, 2, 1, false);
    bns_.emplace_back(ps, p + ".bn", c / 2);
    acts_.emplace_back();
  }
  convs_.emplace_back(ps, prefix + ".final.convt", c, nc, 4, 2, 1, false);
}

const Tensor& DcganDecoder::forward(Context& ctx, const Tensor& z) {
  const Tensor* h = &z;
  for (size_t i = 0; i + 1 < convs_.size(); ++i)
    h = &acts_[i].forward(ctx, bns_[i].forward(ctx, convs_[i].forward(ctx, *h)));
  return tanh_.forward(ctx, convs_.back().forward(ctx, *h));
}

const Tensor& DcganDecoder::backward(Context& ctx, const Tensor& dy) {
  const Tensor* d = &convs_.back().backward(ctx, tanh_.backward(ctx, dy));
  for (size_t i = convs_.size() - 1; i-- > 0;)
    d = &convs_[i].backward(ctx, bns_[i].backward(ctx, acts_[i].backward(ctx, *d)));
  return *d;
}

void DcganDecoder::set_training(bool t) {
  for (auto& l : convs_) l.set_training(t);
  for (auto& l : bns_) l.set_training(t);
}

Shape DcganDecoder::summarize(const Shape& z, const std::string& prefix, const ParamStore& ps,
                              std::vector<LayerSummary>& rows) const {
  Shape h = z;
  for (size_t i = 0; i < convs_.size(); ++i) {
    const bool first = i == 0, last = i + 1 == convs_.size();
    const std::string p = prefix + (first  ? ".initial"
                                    : last ? ".final"
                                           : ".pyramid." + std::to_string(i - 1));
    Shape y = convs_[i].output_shape(h);
    conv_row(rows, ps, p + ".convt", "ConvTranspose2d", y, convs_[i].macs(h));
    if (!last) conv_row(rows, ps, p + ".bn", "BatchNorm2d", y, 0);
    h = y;
  }
  return h;
}

// ---- UnetGenerator ---------------------------------------------------------------------------

UnetGenerator::UnetGenerator(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nc,
                             int64_t ngf) {
  GBAD_CHECK(is_pow2(isize) && isize >= 32, prefix, ": image size ", isize,
             " must be a power of two >= 32 (the U-Net has log2(size) >= 5 levels)");
  GBAD_CHECK(ngf > 0 && nc > 0, prefix, ": bad sizes ngf ", ngf, " nc ", nc);
  int levels = 0;
  for (int64_t s = isize; s > 1; s /= 2) ++levels;
  for (int i = 0; i < levels; ++i) {
    auto L = std::make_unique<Level>();
    L->outermost = i == 0;
    L->innermost = i == levels - 1;
    L->outer = i == 0 ? nc : ngf << std::min(i - 1, 3);
    L->inner = ngf << std::min(i, 3);
    L->input = L->outer;
    const std::string p = prefix + "." + std::to_string(i);
    L->down = Conv2d(ps, p + ".down", L->input, L->inner, 4, 2, 1, false);
    if (!L->outermost && !L->innermost) L->down_bn = BatchNorm2d(ps, p + ".down_bn", L->inner);
    const int64_t up_in = L->innermost ? L->inner : 2 * L->inner;
    L->up = ConvTranspose2d(ps, p + ".up", up_in, L->outer, 4, 2, 1, L->outermost);
    if (!L->outermost) L->up_bn = BatchNorm2d(ps, p + ".up_bn", L->outer);
    if (L->outermost) L->down.set_input_grad(false);
    levels_.push_back(std::move(L));
  }
}

const Tensor& UnetGenerator::level_forward(Context& ctx, size_t i, const Tensor& x) {
  Level& L = *levels_[i];
  const Tensor& h = L.outermost ? x : L.down_act.forward(ctx, x);
  const Tensor* d = &L.down.forward(ctx, h);
  if (!L.outermost && !L.innermost) d = &L.down_bn.forward(ctx, *d);
  const Tensor& s = L.innermost ? *d : level_forward(ctx, i + 1, *d);
  const Tensor& u = L.up.forward(ctx, L.up_act.forward(ctx, s));
  if (L.outermost) return L.tanh.forward(ctx, u);
  const Tensor& o = L.up_bn.forward(ctx, u);
  L.out.resize({h.n(), h.c() + o.c(), h.h(), h.w()}, h.device());
  concat1(ctx, L.out, h, o);
  return L.out;
}

const Tensor& UnetGenerator::level_backward(Context& ctx, size_t i, const Tensor& dret) {
  Level& L = *levels_[i];
  const Tensor* du;
  if (L.outermost) {
    du = &L.tanh.backward(ctx, dret);
  } else {
    L.dsplit_skip.resize({dret.n(), L.input, dret.h(), dret.w()}, dret.device());
    L.dsplit_out.resize({dret.n(), L.outer, dret.h(), dret.w()}, dret.device());
    split1(ctx, L.dsplit_skip, L.dsplit_out, dret);
    du = &L.up_bn.backward(ctx, L.dsplit_out);
  }
  const Tensor& ds = L.up_act.backward(ctx, L.up.backward(ctx, *du));
  const Tensor* dd = L.innermost ? &ds : &level_backward(ctx, i + 1, ds);
  if (!L.outermost && !L.innermost) dd = &L.down_bn.backward(ctx, *dd);
  const Tensor& dh = L.down.backward(ctx, *dd);
  if (L.outermost) return dh;  // empty: no input gradient
  L.dx.resize(dh.shape(), dh.device());
  add(ctx, L.dx, dh, L.dsplit_skip);
  return L.down_act.backward(ctx, L.dx);
}

const Tensor& UnetGenerator::forward(Context& ctx, const Tensor& x) {
  return level_forward(ctx, 0, x);
}

void UnetGenerator::backward(Context& ctx, const Tensor& dy) {
  level_backward(ctx, 0, dy);
}

void UnetGenerator::set_training(bool t) {
  for (auto& L : levels_) {
    L->down.set_training(t);
    L->down_bn.set_training(t);
    L->up.set_training(t);
    L->up_bn.set_training(t);
  }
}

void UnetGenerator::summarize(const Shape& x, const std::string& prefix, const ParamStore& ps,
                              std::vector<LayerSummary>& rows) const {
  std::vector<Shape> in(levels_.size() + 1);
  in[0] = x;
  for (size_t i = 0; i < levels_.size(); ++i) {
    const Level& L = *levels_[i];
    const std::string p = prefix + "." + std::to_string(i);
    Shape y = L.down.output_shape(in[i]);
    conv_row(rows, ps, p + ".down", "Conv2d", y, L.down.macs(in[i]));
    if (!L.outermost && !L.innermost) conv_row(rows, ps, p + ".down_bn", "BatchNorm2d", y, 0);
    in[i + 1] = y;
  }
  for (size_t i = levels_.size(); i-- > 0;) {
    const Level& L = *levels_[i];
    const std::string p = prefix + "." + std::to_string(i);
    Shape s = in[i + 1];
    if (!L.innermost) s[1] = 2 * L.inner;
    Shape y = L.up.output_shape(s);
    conv_row(rows, ps, p + ".up", "ConvTranspose2d", y, L.up.macs(s));
    if (!L.outermost) conv_row(rows, ps, p + ".up_bn", "BatchNorm2d", y, 0);
  }
}

// ---- Ganomaly --------------------------------------------------------------------------------

Ganomaly::Ganomaly(const GanomalyConfig& cfg, Device device, bool allocate) : cfg_(cfg) {
  GBAD_CHECK(cfg.nc > 0 && cfg.nz > 0 && cfg.ngf > 0 && cfg.ndf > 0, "GANomaly: bad sizes");
  if (cfg.variant == GanVariant::Ganomaly) {
    enc1_ = DcganEncoder(ps_g_, "netg.encoder1", cfg.isize, cfg.nz, cfg.nc, cfg.ngf);
    enc1_.set_input_grad(false);
    dec_ = DcganDecoder(ps_g_, "netg.decoder", cfg.isize, cfg.nz, cfg.nc, cfg.ngf);
    enc2_ = DcganEncoder(ps_g_, "netg.encoder2", cfg.isize, cfg.nz, cfg.nc, cfg.ngf);
  } else {
    unet_ = std::make_unique<UnetGenerator>(ps_g_, "netg.unet", cfg.isize, cfg.nc, cfg.ngf);
  }
  netd_ = DcganEncoder(ps_d_, "netd", cfg.isize, 1, cfg.nc, cfg.ndf);
  if (!allocate) return;
  ps_g_.finalize(device, cfg.seed);
  ps_d_.finalize(device, cfg.seed);
  ganomaly_init(ps_g_, cfg.seed, 1);
  ganomaly_init(ps_d_, cfg.seed, 2);
  AdamConfig ac;
  ac.lr = cfg.lr;
  ac.beta1 = cfg.beta1;
  ac.beta2 = cfg.beta2;
  adam_g_ = std::make_unique<Adam>(ps_g_, ac);
  adam_d_ = std::make_unique<Adam>(ps_d_, ac);
  ps_g_.state(2);
  ps_d_.state(2);
}

Ganomaly::~Ganomaly() = default;

int64_t Ganomaly::generator_param_count() const {
  return count_params(ps_g_, "netg");
}
int64_t Ganomaly::discriminator_param_count() const {
  return count_params(ps_d_, "netd");
}

void Ganomaly::set_g_training(bool t) {
  if (unet_) {
    unet_->set_training(t);
  } else {
    enc1_.set_training(t);
    dec_.set_training(t);
    enc2_.set_training(t);
  }
}

void Ganomaly::set_d_training(bool t) {
  netd_.set_training(t);
}

const Tensor& Ganomaly::latent_in() const {
  GBAD_CHECK(!unet_, "Skip-GANomaly has no latent codes");
  return enc1_.output();
}

const Tensor& Ganomaly::latent_out() const {
  GBAD_CHECK(!unet_, "Skip-GANomaly has no latent codes");
  return enc2_.output();
}

const Tensor& Ganomaly::generator_forward(Context& ctx, const Tensor& x, bool training) {
  GBAD_CHECK(ps_g_.finalized(), "GANomaly built without parameters");
  GBAD_CHECK(x.ndim() == 4 && x.c() == cfg_.nc && x.h() == cfg_.isize && x.w() == cfg_.isize,
             gan_variant_name(cfg_.variant), " expects (N,", cfg_.nc, ",", cfg_.isize, ",",
             cfg_.isize, ") images, got ", x.str());
  set_g_training(training);
  if (unet_) return fake_ = unet_->forward(ctx, x);
  fake_ = dec_.forward(ctx, enc1_.forward(ctx, x));
  enc2_.forward(ctx, fake_);
  return fake_;
}

void Ganomaly::generator_backward(Context& ctx, const Tensor& dfake, const Tensor* dlat_out,
                                  const Tensor* dlat_in) {
  if (unet_) {
    unet_->backward(ctx, dfake);
    return;
  }
  const Tensor* d = &dfake;
  if (dlat_out) {
    const Tensor& d2 = enc2_.backward(ctx, dlat_out, nullptr);
    dtmp_.resize(dfake.shape(), dfake.device());
    add(ctx, dtmp_, dfake, d2);
    d = &dtmp_;
  }
  const Tensor& dz = dec_.backward(ctx, *d);
  if (dlat_in) {
    dlat_i_sum_.resize(dz.shape(), dz.device());
    add(ctx, dlat_i_sum_, dz, *dlat_in);
    enc1_.backward(ctx, &dlat_i_sum_, nullptr);
  } else {
    enc1_.backward(ctx, &dz, nullptr);
  }
}

GanStepLosses Ganomaly::train_step(Context& ctx, const Tensor& x) {
  GanStepLosses L;
  const Device dev = x.device();
  const int64_t n = x.n();
  loss_.resize({1}, dev);
  tmp_loss_.resize({1}, dev);
  ones_.resize({n, 1, 1, 1}, dev);
  ones_.fill(1.f);
  zeros_.resize({n, 1, 1, 1}, dev);
  zeros_.zero();

  // ---- generator
  const Tensor& fake = generator_forward(ctx, x, true);
  set_d_training(true);
  netd_.set_input_grad(true);
  netd_.forward(ctx, x);
  feat_real_.resize(netd_.features().shape(), dev);
  feat_real_.copy_from(netd_.features());
  const Tensor& logit_f = netd_.forward(ctx, fake);
  const Tensor& feat_f = netd_.features();
  ps_g_.zero_grad();
  dtmp2_.resize(fake.shape(), dev);
  dfeat_.resize(feat_f.shape(), dev);
  l1_loss(ctx, tmp_loss_, dtmp2_, fake, x);
  L.g_con = read_scalar(tmp_loss_);
  scaled_copy(ctx, dfake_, dtmp2_, cfg_.w_con);
  if (cfg_.variant == GanVariant::Ganomaly) {
    l2_loss(ctx, tmp_loss_, dfeat_, feat_f, feat_real_);
    L.g_adv = read_scalar(tmp_loss_);
    scale_inplace(ctx, dfeat_, cfg_.w_adv);
    add_inplace(ctx, dfake_, netd_.backward(ctx, nullptr, &dfeat_));
    dlat_o_.resize(enc2_.output().shape(), dev);
    l2_loss(ctx, tmp_loss_, dlat_o_, enc2_.output(), enc1_.output());
    L.g_lat = read_scalar(tmp_loss_);
    scale_inplace(ctx, dlat_o_, cfg_.w_lat);
    scaled_copy(ctx, dlat_i_, dlat_o_, -1.f);
    generator_backward(ctx, dfake_, &dlat_o_, &dlat_i_);
  } else {
    dlogit_.resize(logit_f.shape(), dev);
    bce_with_logits(ctx, tmp_loss_, dlogit_, logit_f, ones_);
    L.g_adv = read_scalar(tmp_loss_);
    scale_inplace(ctx, dlogit_, cfg_.w_adv);
    l2_loss(ctx, tmp_loss_, dfeat_, feat_f, feat_real_);
    L.g_lat = read_scalar(tmp_loss_);
    scale_inplace(ctx, dfeat_, cfg_.w_lat);
    add_inplace(ctx, dfake_, netd_.backward(ctx, &dlogit_, &dfeat_));
    generator_backward(ctx, dfake_, nullptr, nullptr);
  }
  L.g = cfg_.w_adv * L.g_adv + cfg_.w_con * L.g_con + cfg_.w_lat * L.g_lat;
  adam_g_->step(ctx);

  // ---- discriminator, on the reconstructions made before the generator's update
  ps_d_.zero_grad();
  netd_.set_input_grad(false);
  float d_sum = 0.f;
  for (int real = 1; real >= 0; --real) {
    const Tensor& logit = netd_.forward(ctx, real ? x : fake);
    dlogit_.resize(logit.shape(), dev);
    bce_with_logits(ctx, tmp_loss_, dlogit_, logit, real ? ones_ : zeros_);
    d_sum += read_scalar(tmp_loss_);
    scale_inplace(ctx, dlogit_, 0.5f);
    netd_.backward(ctx, &dlogit_, nullptr);
  }
  netd_.set_input_grad(true);
  L.d = 0.5f * d_sum;
  adam_d_->step(ctx);
  if (L.d < cfg_.d_reinit_below) {
    reinit_discriminator(static_cast<uint64_t>(3 + d_reinits_));
    ++d_reinits_;
    L.d_reinitialised = true;
  }
  return L;
}

void Ganomaly::reinit_discriminator(uint64_t stream) {
  ganomaly_init(ps_d_, cfg_.seed, stream);
}

const Tensor& Ganomaly::reconstruct(Context& ctx, const Tensor& x) {
  return generator_forward(ctx, x, false);
}

std::vector<float> Ganomaly::scores(Context& ctx, const Tensor& x) {
  const Tensor& fake = generator_forward(ctx, x, false);
  const int64_t n = x.n();
  std::vector<float> out(static_cast<size_t>(n));
  auto row_mse = [n](const std::vector<float>& a, const std::vector<float>& b, int64_t i) {
    const size_t d = a.size() / static_cast<size_t>(n);
    double s = 0;
    for (size_t j = 0; j < d; ++j) {
      const double t = double(a[size_t(i) * d + j]) - b[size_t(i) * d + j];
      s += t * t;
    }
    return s / static_cast<double>(d);
  };
  if (!unet_) {
    const std::vector<float> zi = enc1_.output().to_vector(), zo = enc2_.output().to_vector();
    for (int64_t i = 0; i < n; ++i) out[size_t(i)] = static_cast<float>(row_mse(zi, zo, i));
    return out;
  }
  const std::vector<float> xf = fake.to_vector(), xr = x.to_vector();
  set_d_training(false);
  netd_.forward(ctx, x);
  const std::vector<float> fr = netd_.features().to_vector();
  netd_.forward(ctx, fake);
  const std::vector<float> ff = netd_.features().to_vector();
  for (int64_t i = 0; i < n; ++i)
    out[size_t(i)] = static_cast<float>(0.9 * row_mse(xr, xf, i) + 0.1 * row_mse(fr, ff, i));
  return out;
}

std::vector<LayerSummary> Ganomaly::generator_summary(int64_t n) const {
  std::vector<LayerSummary> rows;
  const Shape x = {n, cfg_.nc, cfg_.isize, cfg_.isize};
  if (unet_) {
    unet_->summarize(x, "netg.unet", ps_g_, rows);
  } else {
    Shape z = enc1_.summarize(x, "netg.encoder1", ps_g_, rows);
    Shape y = dec_.summarize(z, "netg.decoder", ps_g_, rows);
    enc2_.summarize(y, "netg.encoder2", ps_g_, rows);
  }
  return rows;
}

std::vector<LayerSummary> Ganomaly::discriminator_summary(int64_t n) const {
  std::vector<LayerSummary> rows;
  netd_.summarize({n, cfg_.nc, cfg_.isize, cfg_.isize}, "netd", ps_d_, rows);
  return rows;
}

// ---- checkpoints -----------------------------------------------------------------------------

namespace {
constexpr const char* kGanFormat = "gbad-ganomaly";
}

void Ganomaly::save(const std::string& path, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = extra;
  meta["model"] = kGanFormat;
  meta["variant"] = gan_variant_name(cfg_.variant);
  meta["isize"] = std::to_string(cfg_.isize);
  meta["nc"] = std::to_string(cfg_.nc);
  meta["nz"] = std::to_string(cfg_.nz);
  meta["ngf"] = std::to_string(cfg_.ngf);
  meta["ndf"] = std::to_string(cfg_.ndf);
  meta["lr"] = std::to_string(cfg_.lr);
  meta["beta1"] = std::to_string(cfg_.beta1);
  meta["beta2"] = std::to_string(cfg_.beta2);
  meta["w_adv"] = std::to_string(cfg_.w_adv);
  meta["w_con"] = std::to_string(cfg_.w_con);
  meta["w_lat"] = std::to_string(cfg_.w_lat);
  meta["seed"] = std::to_string(cfg_.seed);
  meta["steps_g"] = std::to_string(adam_g_->steps());
  meta["steps_d"] = std::to_string(adam_d_->steps());
  meta["d_reinits"] = std::to_string(d_reinits_);
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (size_t i = 0; i < ps_d_.entries().size(); ++i)
    tensors.emplace_back(ps_d_.entries()[i].name, ps_d_.value(static_cast<int>(i)));
  tensors.emplace_back("adam.generator", ps_g_.state(2));
  tensors.emplace_back("adam.discriminator", ps_d_.state(2));
  save_params(path, ps_g_, meta, tensors);
}

GanomalyConfig Ganomaly::read_config(const std::string& path) {
  const auto meta = read_metadata(path);
  auto get = [&](const char* k) {
    auto it = meta.find(k);
    GBAD_CHECK(it != meta.end(), path, ": not a GANomaly checkpoint (no '", k,
               "' in its metadata)");
    return it->second;
  };
  GBAD_CHECK(get("model") == kGanFormat, path, ": not a GANomaly checkpoint (model '", get("model"),
             "')");
  GanomalyConfig c;
  c.variant = parse_gan_variant(get("variant"));
  c.isize = metadata_int(meta, "isize", path, 1, 1 << 16);
  c.nc = metadata_int(meta, "nc", path, 1, 1 << 16);
  c.nz = metadata_int(meta, "nz", path, 1, 1 << 16);
  c.ngf = metadata_int(meta, "ngf", path, 1, 1 << 16);
  c.ndf = metadata_int(meta, "ndf", path, 1, 1 << 16);
  c.lr = metadata_float(meta, "lr", path);
  c.beta1 = metadata_float(meta, "beta1", path);
  c.beta2 = metadata_float(meta, "beta2", path);
  c.w_adv = metadata_float(meta, "w_adv", path);
  c.w_con = metadata_float(meta, "w_con", path);
  c.w_lat = metadata_float(meta, "w_lat", path);
  c.seed = metadata_u64(meta, "seed", path);
  return c;
}

void Ganomaly::load(const std::string& path) {
  const GanomalyConfig c = read_config(path);
  GBAD_CHECK(c.variant == cfg_.variant && c.isize == cfg_.isize && c.nc == cfg_.nc &&
                 c.nz == cfg_.nz && c.ngf == cfg_.ngf && c.ndf == cfg_.ndf,
             path, ": a ", gan_variant_name(c.variant), " of size ", c.isize, " (nz ", c.nz,
             ", ngf ", c.ngf, ", ndf ", c.ndf, ") does not fit this ",
             gan_variant_name(cfg_.variant), " of size ", cfg_.isize, " (nz ", cfg_.nz, ", ngf ",
             cfg_.ngf, ", ndf ", cfg_.ndf, ")");
  SafeTensorsFile f = SafeTensorsFile::open(path);
  load_params(f, ps_g_);
  for (size_t i = 0; i < ps_d_.entries().size(); ++i) {
    const auto& e = ps_d_.entries()[i];
    GBAD_CHECK(f.has(e.name), path, ": tensor '", e.name, "' missing");
    std::vector<float> v = f.read_f32(e.name);
    GBAD_CHECK(static_cast<int64_t>(v.size()) == e.numel, path, ": tensor '", e.name, "' has ",
               v.size(), " values, expected ", e.numel);
    ps_d_.value(static_cast<int>(i)).set_from(v);
  }
  ps_g_.state(2).set_from(f.read_f32("adam.generator"));
  ps_d_.state(2).set_from(f.read_f32("adam.discriminator"));
  const auto meta = read_metadata(path);
  adam_g_->set_steps(metadata_int(meta, "steps_g", path, 0, int64_t(1) << 62));
  adam_d_->set_steps(metadata_int(meta, "steps_d", path, 0, int64_t(1) << 62));
  d_reinits_ = metadata_int(meta, "d_reinits", path, 0, int64_t(1) << 62);
}
}  // namespace gbad
