#include "models/bigan.h"

#include <cmath>

#include "core/philox.h"
#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "nn/optim.h"

namespace gbad {

// ---- networks --------------------------------------------------------------------------------

BiGanEncoder::BiGanEncoder(ParamStore& ps, const BiGanConfig& c)
    : fc1_(ps, "encoder.fc1", c.x_dim, c.enc_hidden, true, true),
      fc2_(ps, "encoder.fc2", c.enc_hidden, c.latent, true, true),
      act_(c.leaky) {}

const Tensor& BiGanEncoder::forward(Context& ctx, const Tensor& x) {
  return fc2_.forward(ctx, act_.forward(ctx, fc1_.forward(ctx, x)));
}

const Tensor& BiGanEncoder::backward(Context& ctx, const Tensor& dz) {
  return fc1_.backward(ctx, act_.backward(ctx, fc2_.backward(ctx, dz)));
}

BiGanGenerator::BiGanGenerator(ParamStore& ps, const BiGanConfig& c) {
  int64_t in = c.latent;
  std::vector<int64_t> sizes = c.gen_hidden;
  sizes.push_back(c.x_dim);
  fc_.reserve(sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    fc_.emplace_back(ps, "generator.fc" + std::to_string(i + 1), in, sizes[i], true, true);
    in = sizes[i];
  }
  act_.resize(c.gen_hidden.size());
}

const Tensor& BiGanGenerator::forward(Context& ctx, const Tensor& z) {
  const Tensor* h = &z;
  for (size_t i = 0; i < fc_.size(); ++i) {
    h = &fc_[i].forward(ctx, *h);
    if (i < act_.size()) h = &act_[i].forward(ctx, *h);
  }
  return *h;
}

const Tensor& BiGanGenerator::backward(Context& ctx, const Tensor& dx) {
  const Tensor* d = &dx;
  for (size_t i = fc_.size(); i-- > 0;) {
    if (i < act_.size()) d = &act_[i].backward(ctx, *d);
    d = &fc_[i].backward(ctx, *d);
  }
  return *d;
}

BiGanDiscriminator::BiGanDiscriminator(ParamStore& ps, const BiGanConfig& c)
    : fx_(ps, "discriminator.x", c.x_dim, c.dis_hidden, true, true),
      fz_(ps, "discriminator.z", c.latent, c.dis_hidden, true, true),
      fj_(ps, "discriminator.joint", 2 * c.dis_hidden, c.dis_hidden, true, true),
      out_(ps, "discriminator.out", c.dis_hidden, 1, true, true),
      ax_(c.leaky),
      az_(c.leaky),
      aj_(c.leaky),
      dropx_(c.dropout),
      dropz_(c.dropout),
      dropj_(c.dropout) {}

const Tensor& BiGanDiscriminator::forward(Context& ctx, const Tensor& x, const Tensor& z) {
  const Tensor& hx = dropx_.forward(ctx, ax_.forward(ctx, fx_.forward(ctx, x)));
  const Tensor& hz = dropz_.forward(ctx, az_.forward(ctx, fz_.forward(ctx, z)));
  cat_.resize({hx.size(0), hx.size(1) + hz.size(1)}, hx.device());
  concat1(ctx, cat_, hx, hz);
  f_ = dropj_.forward(ctx, aj_.forward(ctx, fj_.forward(ctx, cat_)));
  return out_.forward(ctx, f_);
}

void BiGanDiscriminator::backward(Context& ctx, const Tensor& dlogit, const Tensor* dfeatures) {
  const Tensor* df = &out_.backward(ctx, dlogit);
  if (dfeatures) {
    df_.resize(df->shape(), df->device());
    add(ctx, df_, *df, *dfeatures);
    df = &df_;
  }
  const Tensor& dcat = fj_.backward(ctx, aj_.backward(ctx, dropj_.backward(ctx, *df)));
  const int64_t n = dcat.size(0), h = dcat.size(1) / 2;
  dcat_x_.resize({n, h}, dcat.device());
  dcat_z_.resize({n, h}, dcat.device());
  split1(ctx, dcat_x_, dcat_z_, dcat);
  dx_ = fx_.backward(ctx, ax_.backward(ctx, dropx_.backward(ctx, dcat_x_)));
  dz_ = fz_.backward(ctx, az_.backward(ctx, dropz_.backward(ctx, dcat_z_)));
}

void BiGanDiscriminator::set_training(bool t) {
  for (Layer* l : std::initializer_list<Layer*>{&fx_, &fz_, &fj_, &out_, &ax_, &az_, &aj_, &dropx_,
                                                &dropz_, &dropj_})
    l->set_training(t);
}

// ---- BiGan -----------------------------------------------------------------------------------

struct BiGan::Optim {
  Adam e, g, d;
  Optim(ParamStore& pe, ParamStore& pg, ParamStore& pd, const AdamConfig& c)
      : e(pe, c), g(pg, c), d(pd, c) {}
};

BiGan::BiGan(const BiGanConfig& cfg, Device device) : cfg_(cfg) {
  GBAD_CHECK(cfg.x_dim > 0 && cfg.latent > 0, "BiGan needs x_dim > 0 and latent > 0, got ",
             cfg.x_dim, " and ", cfg.latent);
  GBAD_CHECK(cfg.dropout >= 0.f && cfg.dropout < 1.f, "BiGan dropout must be in [0, 1), got ",
             cfg.dropout);
  enc_ = std::make_unique<BiGanEncoder>(ps_e_, cfg);
  gen_ = std::make_unique<BiGanGenerator>(ps_g_, cfg);
  dis_ = std::make_unique<BiGanDiscriminator>(ps_d_, cfg);
  // Distinct seeds per network so E, G and D do not start from correlated weights.
  ps_e_.finalize(device, cfg.seed * 3 + 0);
  ps_g_.finalize(device, cfg.seed * 3 + 1);
  ps_d_.finalize(device, cfg.seed * 3 + 2);
  AdamConfig ac;
  ac.lr = cfg.lr;
  ac.beta1 = cfg.beta1;
  ac.beta2 = cfg.beta2;
  opt_ = std::make_unique<Optim>(ps_e_, ps_g_, ps_d_, ac);
  if (cfg.ema_decay > 0.f) {
    ema_e_ = Ema(ps_e_, cfg.ema_decay);
    ema_g_ = Ema(ps_g_, cfg.ema_decay);
    ema_d_ = Ema(ps_d_, cfg.ema_decay);
  }
}

BiGan::~BiGan() = default;

void BiGan::fit_standardization(const Tensor& features) {
  GBAD_CHECK(features.ndim() == 2 && features.size(1) == cfg_.x_dim,
             "fit_standardization expects (N, ", cfg_.x_dim, ") features, got ", features.str());
  const int64_t n = features.size(0), d = cfg_.x_dim;
  GBAD_CHECK(n >= 2, "fit_standardization needs at least 2 rows, got ", n);
  std::vector<float> v = features.to_vector();
  std::vector<double> s(d, 0.0), s2(d, 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) s[j] += v[i * d + j];
  std::vector<float> mean(d), sd(d);
  for (int64_t j = 0; j < d; ++j) mean[j] = static_cast<float>(s[j] / n);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double c = v[i * d + j] - static_cast<double>(mean[j]);
      s2[j] += c * c;
    }
  for (int64_t j = 0; j < d; ++j) sd[j] = static_cast<float>(std::sqrt(s2[j] / (n - 1)));
  set_standardization(mean, sd);
}

void BiGan::set_standardization(const std::vector<float>& mean, const std::vector<float>& sd) {
  GBAD_CHECK(static_cast<int64_t>(mean.size()) == cfg_.x_dim &&
                 static_cast<int64_t>(sd.size()) == cfg_.x_dim,
             "standardisation needs ", cfg_.x_dim, " means and stds, got ", mean.size(), " and ",
             sd.size());
  mean_ = mean;
  std_ = sd;
  for (float& s : std_)
    if (!(s >= 1e-6f)) s = 1.f;
}

// On the host: the feature rows are tiny next to the networks, and one definition serves both
// devices.
void BiGan::standardize(Tensor& out, const Tensor& x) const {
  GBAD_CHECK(x.ndim() == 2 && x.size(1) == cfg_.x_dim, "BiGan expects (N, ", cfg_.x_dim,
             ") features, got ", x.str());
  out.resize(x.shape(), x.device());
  std::vector<float> v = x.to_vector();
  if (!mean_.empty()) {
    const int64_t d = cfg_.x_dim;
    for (size_t i = 0; i < v.size(); ++i) {
      const size_t j = i % static_cast<size_t>(d);
      v[i] = (v[i] - mean_[j]) / std_[j];
    }
  }
  out.set_from(v);
}

void BiGan::sample_z(Context& ctx, Tensor& z, int64_t n) const {
  const uint64_t seed = ctx.rng().seed(), offset = ctx.rng().next();
  std::vector<float> v(static_cast<size_t>(n * cfg_.latent));
  for (size_t i = 0; i < v.size(); ++i) v[i] = rng_normal(seed, offset, i);
  z.resize({n, cfg_.latent}, ctx.device());
  z.set_from(v);
}

BiGanLosses BiGan::train_step(Context& ctx, const Tensor& x, Tensor* device_losses) {
  const int64_t n = x.size(0);
  if (device_losses)
    GBAD_CHECK(device_losses->numel() == 4 && device_losses->device() == ctx.device() &&
                   device_losses->dtype() == DType::F32,
               "BiGan::train_step: device_losses must be 4 f32 on ", device_name(ctx.device()),
               ", got ", device_losses->str());
  // Loss k of the step: read to the host (out), or kept on the device as dst = w * loss_ + b *
  // dst (device_losses[k]).
  auto take = [&](int k, float& host, float w, bool add) {
    if (!device_losses) {
      host = add ? host + w * read_scalar(loss_) : w * read_scalar(loss_);
      return;
    }
    Tensor slot = device_losses->view(k, {1});
    axpby(ctx, slot, w, loss_, add ? 1.f : 0.f);
  };
  standardize(xs_, x);
  dis_->set_training(true);
  ones_.resize({n, 1}, ctx.device());
  ones_.fill(1.f);
  zeros_.resize({n, 1}, ctx.device());
  zeros_.zero();
  loss_.resize({1}, ctx.device());
  dlogit_.resize({n, 1}, ctx.device());
  BiGanLosses out;

  // (1) D: real pair -> 1, fake pair -> 0. Two passes, each backward right after its forward
  // (the layers cache one forward); parameter gradients accumulate.
  ps_d_.zero_grad();
  sample_z(ctx, z_, n);
  {
    const Tensor& e = enc_->forward(ctx, xs_);
    const Tensor& logit = dis_->forward(ctx, xs_, e);
    bce_with_logits(ctx, loss_, dlogit_, logit, ones_, nullptr, nullptr);
    if (device_losses) device_losses->zero();  // axpby's 0 * y must not meet a stale NaN
    take(0, out.loss_d, 1.f, false);
    dis_->backward(ctx, dlogit_);
    const Tensor& gz = gen_->forward(ctx, z_);
    const Tensor& logit_f = dis_->forward(ctx, gz, z_);
    bce_with_logits(ctx, loss_, dlogit_, logit_f, zeros_, nullptr, nullptr);
    take(0, out.loss_d, 1.f, true);
    dis_->backward(ctx, dlogit_);
  }
  if (grad_hook_) grad_hook_(ctx, ps_d_);
  opt_->d.step(ctx);

  // (2) G: fake pair -> 1 plus lambda x L1(x, G(E(x))); E: real pair -> 0.
  ps_g_.zero_grad();
  ps_e_.zero_grad();
  {
    const Tensor& gz = gen_->forward(ctx, z_);
    const Tensor& logit_f = dis_->forward(ctx, gz, z_);
    bce_with_logits(ctx, loss_, dlogit_, logit_f, ones_, nullptr, nullptr);
    take(1, out.loss_g, 1.f, false);
    dis_->backward(ctx, dlogit_);
    gen_->backward(ctx, dis_->dx());

    // The reconstruction term trains G only (it is G's objective, eq. 3): no gradient into E.
    const Tensor& e = enc_->forward(ctx, xs_);
    const Tensor& rec = gen_->forward(ctx, e);
    drec_.resize(rec.shape(), rec.device());
    l1_loss(ctx, loss_, drec_, rec, xs_);
    take(3, out.loss_recon, 1.f, false);
    // G's loss + recon_weight x recon (on the device: from loss_, the same float).
    if (device_losses) {
      Tensor g = device_losses->view(1, {1});
      axpby(ctx, g, cfg_.recon_weight, loss_, 1.f);
    } else {
      out.loss_g += cfg_.recon_weight * out.loss_recon;
    }
    scale_inplace(ctx, drec_, cfg_.recon_weight);
    gen_->backward(ctx, drec_);

    const Tensor& e2 = enc_->forward(ctx, xs_);
    const Tensor& logit_r = dis_->forward(ctx, xs_, e2);
    bce_with_logits(ctx, loss_, dlogit_, logit_r, zeros_, nullptr, nullptr);
    take(2, out.loss_e, 1.f, false);
    dis_->backward(ctx, dlogit_);
    enc_->backward(ctx, dis_->dz());
  }
  if (grad_hook_) {
    grad_hook_(ctx, ps_g_);
    grad_hook_(ctx, ps_e_);
  }
  opt_->g.step(ctx);
  opt_->e.step(ctx);
  ps_d_.zero_grad();  // D's gradients from (2) are not D's objective

  ++steps_;
  if (cfg_.ema_decay > 0.f) {
    ema_e_.update(ctx, ps_e_);
    ema_g_.update(ctx, ps_g_);
    ema_d_.update(ctx, ps_d_);
  }
  return out;
}

void BiGan::swap_ema() {
  for (auto [ema, ps] :
       {std::pair<Ema*, ParamStore*>{&ema_e_, &ps_e_}, {&ema_g_, &ps_g_}, {&ema_d_, &ps_d_}}) {
    Tensor tmp = ps->params().clone();
    ema->copy_to(*ps);
    ema->values().copy_from(tmp);
  }
}

void BiGan::scores(Context& ctx, const Tensor& x, Tensor& r, Tensor& fm) {
  const int64_t n = x.size(0);
  standardize(xs_, x);
  const bool ema = cfg_.ema_decay > 0.f;
  if (ema) swap_ema();
  try {
    dis_->set_training(false);
    const Tensor& e = enc_->forward(ctx, xs_);
    const Tensor& rec = gen_->forward(ctx, e);
    r.resize({n}, ctx.device());
    l1_per_sample(ctx, r, xs_, rec);
    dis_->forward(ctx, xs_, e);
    fm_real_.resize(dis_->features().shape(), ctx.device());
    fm_real_.copy_from(dis_->features());
    dis_->forward(ctx, rec, e);
    fm.resize({n}, ctx.device());
    l2_per_sample(ctx, fm, fm_real_, dis_->features());
    dis_->set_training(true);
  } catch (...) {
    if (ema) swap_ema();
    throw;
  }
  if (ema) swap_ema();
}

// ---- files -----------------------------------------------------------------------------------

namespace {

const char* kBiGanFormat = "gbad-bigan";

std::string join_sizes(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// Copies every entry of `ps` from `f` (by name); shapes must match.
void load_store(const SafeTensorsFile& f, ParamStore& ps) {
  for (size_t i = 0; i < ps.entries().size(); ++i) {
    const auto& e = ps.entries()[i];
    GBAD_CHECK(f.has(e.name), f.path(), ": tensor '", e.name, "' is missing");
    GBAD_CHECK(shape_numel(f.info(e.name).shape) == e.numel, f.path(), ": tensor '", e.name,
               "' has shape ", shape_str(f.info(e.name).shape), ", expected ", shape_str(e.shape));
    ps.value(static_cast<int>(i)).set_from(f.read_f32(e.name));
  }
}

}  // namespace

void BiGan::save(const std::string& path, const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> meta = extra;
  meta["model"] = kBiGanFormat;
  meta["x_dim"] = std::to_string(cfg_.x_dim);
  meta["latent"] = std::to_string(cfg_.latent);
  meta["enc_hidden"] = std::to_string(cfg_.enc_hidden);
  meta["gen_hidden"] = join_sizes(cfg_.gen_hidden);
  meta["dis_hidden"] = std::to_string(cfg_.dis_hidden);
  meta["leaky"] = std::to_string(cfg_.leaky);
  meta["dropout"] = std::to_string(cfg_.dropout);
  meta["lr"] = std::to_string(cfg_.lr);
  meta["beta1"] = std::to_string(cfg_.beta1);
  meta["beta2"] = std::to_string(cfg_.beta2);
  meta["recon_weight"] = std::to_string(cfg_.recon_weight);
  meta["ema_decay"] = std::to_string(cfg_.ema_decay);
  meta["seed"] = std::to_string(cfg_.seed);
  meta["steps"] = std::to_string(steps_);

  std::vector<std::pair<std::string, Tensor>> tensors;
  for (ParamStore* ps : {&ps_g_, &ps_d_})
    for (size_t i = 0; i < ps->entries().size(); ++i)
      tensors.emplace_back(ps->entries()[i].name, ps->value(static_cast<int>(i)));
  if (cfg_.ema_decay > 0.f) {
    tensors.emplace_back("ema.encoder", ema_e_.values());
    tensors.emplace_back("ema.generator", ema_g_.values());
    tensors.emplace_back("ema.discriminator", ema_d_.values());
  }
  // Adam keeps [m | v] in each store's state buffer.
  tensors.emplace_back("adam.encoder", ps_e_.state(2));
  tensors.emplace_back("adam.generator", ps_g_.state(2));
  tensors.emplace_back("adam.discriminator", ps_d_.state(2));
  if (!mean_.empty()) {
    tensors.emplace_back("standardize.mean", Tensor::from_vector(mean_, {cfg_.x_dim}));
    tensors.emplace_back("standardize.std", Tensor::from_vector(std_, {cfg_.x_dim}));
  }
  save_params(path, ps_e_, meta, tensors);
}

BiGanConfig BiGan::read_config(const std::string& path) {
  // Everything here comes from a file: parse every number in full, bound every size, and make
  // sure the file is large enough to hold the weights these sizes declare before anyone
  // allocates a model from them.
  const SafeTensorsFile f = SafeTensorsFile::open(path);
  const auto& meta = f.metadata();
  auto it = meta.find("model");
  GBAD_CHECK(it != meta.end() && it->second == kBiGanFormat, path, ": not a Bi-GAN file (model '",
             it == meta.end() ? std::string("(none)") : it->second, "')");
  constexpr int64_t kMaxSize = int64_t(1) << 24;
  BiGanConfig c;
  c.x_dim = metadata_int(meta, "x_dim", path, 1, kMaxSize);
  c.latent = metadata_int(meta, "latent", path, 1, kMaxSize);
  c.enc_hidden = metadata_int(meta, "enc_hidden", path, 1, kMaxSize);
  c.dis_hidden = metadata_int(meta, "dis_hidden", path, 1, kMaxSize);
  c.gen_hidden.clear();
  {
    auto g = meta.find("gen_hidden");
    GBAD_CHECK(g != meta.end(), path, ": metadata has no 'gen_hidden'");
    std::map<std::string, std::string> one;
    size_t start = 0;
    while (start <= g->second.size()) {
      const size_t comma = g->second.find(',', start);
      one["gen_hidden"] =
          g->second.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!one["gen_hidden"].empty())
        c.gen_hidden.push_back(metadata_int(one, "gen_hidden", path, 1, kMaxSize));
      GBAD_CHECK(c.gen_hidden.size() <= 16, path, ": metadata 'gen_hidden' has more than 16 sizes");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  c.leaky = metadata_float(meta, "leaky", path);
  c.dropout = metadata_float(meta, "dropout", path);
  c.lr = metadata_float(meta, "lr", path);
  c.beta1 = metadata_float(meta, "beta1", path);
  c.beta2 = metadata_float(meta, "beta2", path);
  c.recon_weight = metadata_float(meta, "recon_weight", path);
  c.ema_decay = metadata_float(meta, "ema_decay", path);
  c.seed = metadata_u64(meta, "seed", path);
  GBAD_CHECK(c.dropout >= 0.f && c.dropout < 1.f, path, ": metadata 'dropout' is ", c.dropout,
             ", expected [0, 1)");
  // The weights alone (E, G and D as F32) must fit in the file.
  ParamStore pe, pg, pd;
  BiGanEncoder enc(pe, c);
  BiGanGenerator gen(pg, c);
  BiGanDiscriminator dis(pd, c);
  const double weight_bytes =
      4.0 * (double(pe.num_params()) + double(pg.num_params()) + double(pd.num_params()));
  const double file_bytes = double(f.file_bytes());
  GBAD_CHECK(weight_bytes <= file_bytes, path, ": its metadata declares a Bi-GAN of ", weight_bytes,
             " bytes of weights, more than the whole file (", file_bytes, " bytes)");
  return c;
}

void BiGan::load(const std::string& path) {
  const BiGanConfig c = read_config(path);
  GBAD_CHECK(c.x_dim == cfg_.x_dim && c.latent == cfg_.latent && c.enc_hidden == cfg_.enc_hidden &&
                 c.gen_hidden == cfg_.gen_hidden && c.dis_hidden == cfg_.dis_hidden,
             path, ": Bi-GAN sizes (x_dim ", c.x_dim, ", latent ", c.latent,
             ") differ from this model's (x_dim ", cfg_.x_dim, ", latent ", cfg_.latent, ")");
  SafeTensorsFile f = SafeTensorsFile::open(path);
  load_params(f, ps_e_);
  load_store(f, ps_g_);
  load_store(f, ps_d_);
  if (cfg_.ema_decay > 0.f) {
    if (f.has("ema.encoder")) {
      ema_e_.values().set_from(f.read_f32("ema.encoder"));
      ema_g_.values().set_from(f.read_f32("ema.generator"));
      ema_d_.values().set_from(f.read_f32("ema.discriminator"));
    } else {  // saved without EMA: start the average from the loaded weights
      ema_e_.reset(ps_e_);
      ema_g_.reset(ps_g_);
      ema_d_.reset(ps_d_);
    }
  }
  ps_e_.state(2).set_from(f.read_f32("adam.encoder"));
  ps_g_.state(2).set_from(f.read_f32("adam.generator"));
  ps_d_.state(2).set_from(f.read_f32("adam.discriminator"));
  if (f.has("standardize.mean"))
    set_standardization(f.read_f32("standardize.mean"), f.read_f32("standardize.std"));
  steps_ = metadata_int(f.metadata(), "steps", path, 0, INT64_MAX);
  opt_->e.set_steps(steps_);
  opt_->g.set_steps(steps_);
  opt_->d.set_steps(steps_);
}

}  // namespace gbad
