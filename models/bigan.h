// The Bi-GAN of Zenati et al. ("Efficient GAN-based anomaly detection"), vector-data version,
// with GBAD's reconstruction term (facts.md section 3):
//   E: x -> 64 (LeakyReLU 0.1) -> latent (linear)
//   G: z -> 64 (ReLU) -> 128 (ReLU) -> x_dim (linear)
//   D(x, z): x -> 128 (LeakyReLU, dropout); z -> 128 (LeakyReLU, dropout);
//            concat -> 128 (LeakyReLU, dropout) = f_D -> 1 logit
// No batch norm, Xavier init, z ~ N(0, I) drawn on the host from the Philox stream
// (ctx.rng().seed(), ctx.rng().next()), so the CPU and the CUDA run draw the same z.
// Inputs are standardised with the mean/std of the training negatives' features (stored with
// the model); R and FM are measured in that standardised space.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/param_store.h"
#include "core/tensor.h"
#include "nn/layers.h"
#include "nn/optim.h"

namespace gbad {

struct BiGanConfig {
  int64_t x_dim = 0;
  int64_t latent = 32;
  int64_t enc_hidden = 64;
  std::vector<int64_t> gen_hidden = {64, 128};
  int64_t dis_hidden = 128;
  float leaky = 0.1f;
  float dropout = 0.2f;
  float lr = 1e-5f;
  float beta1 = 0.5f;
  float beta2 = 0.999f;
  // Weight of the reconstruction term in G's loss. The L1 term is the MEAN absolute error over
  // all N x x_dim elements, so lambda = 1 weighs it like one BCE term.
  float recon_weight = 1.0f;
  float ema_decay = 0.f;  // 0 = off; Zenati et al. score with 0.9999
  uint64_t seed = 0;
};

// E: x (N, x_dim) -> z (N, latent)
class BiGanEncoder {
 public:
  BiGanEncoder(ParamStore& ps, const BiGanConfig& c);
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& backward(Context& ctx, const Tensor& dz);  // -> dx

 private:
  Linear fc1_, fc2_;
  LeakyReLU act_;
};

// G: z (N, latent) -> x (N, x_dim)
class BiGanGenerator {
 public:
  BiGanGenerator(ParamStore& ps, const BiGanConfig& c);
  const Tensor& forward(Context& ctx, const Tensor& z);
  const Tensor& backward(Context& ctx, const Tensor& dx);  // -> dz

 private:
  std::vector<Linear> fc_;
  std::vector<ReLU> act_;
};

// D: (x, z) -> logit (N, 1); features() = f_D (N, dis_hidden) of the last forward.
class BiGanDiscriminator {
 public:
  BiGanDiscriminator(ParamStore& ps, const BiGanConfig& c);
  const Tensor& forward(Context& ctx, const Tensor& x, const Tensor& z);
  const Tensor& features() const { return f_; }
  // Accumulates parameter gradients; then dx() and dz() hold the input gradients.
  // dfeatures, when given, is an extra gradient on f_D (N, dis_hidden).
  void backward(Context& ctx, const Tensor& dlogit, const Tensor* dfeatures = nullptr);
  const Tensor& dx() const { return dx_; }
  const Tensor& dz() const { return dz_; }
  void set_training(bool t);

 private:
  Linear fx_, fz_, fj_, out_;
  LeakyReLU ax_, az_, aj_;
  Dropout dropx_, dropz_, dropj_;
  Tensor cat_, f_, df_, dx_, dz_, dcat_x_, dcat_z_;
};

struct BiGanLosses {
  float loss_d = 0, loss_g = 0, loss_e = 0, loss_recon = 0;
};

class BiGan {
 public:
  BiGan(const BiGanConfig& cfg, Device device);
  ~BiGan();
  const BiGanConfig& config() const { return cfg_; }

  // Standardisation: per-dimension mean/std of the training negatives' features (N, x_dim).
  // Dimensions with std < 1e-6 get std 1. Until set, the identity.
  void fit_standardization(const Tensor& features);
  void set_standardization(const std::vector<float>& mean, const std::vector<float>& std);
  const std::vector<float>& feature_mean() const { return mean_; }
  const std::vector<float>& feature_std() const { return std_; }
  void standardize(Tensor& out, const Tensor& x) const;  // out (N, x_dim), any device

  // One step on a batch of raw features x (N, x_dim): (1) D on real (x, E(x)) -> 1 and fake
  // (G(z), z) -> 0; (2) G: fake -> 1 plus recon_weight x L1(x, G(E(x))), E: real -> 0. Adam per
  // network; D's gradients from (2) are discarded. Updates the EMA weights when enabled.
  // With `device_losses` (4 f32 on the context's device) the losses D, G, E, recon are written
  // there (added in the same order; a GPU may fuse G's sum differently in the last bit) and none
  // is read to the host: the
  // returned struct is then all zeros, and the caller reads them when it likes.
  BiGanLosses train_step(Context& ctx, const Tensor& x, Tensor* device_losses = nullptr);

  // Anomaly scores of raw features x (N, x_dim), D in eval mode (no dropout), EMA weights when
  // enabled: r[i] = |x_i - G(E(x_i))|_1, fm[i] = |f_D(x_i, E(x_i)) - f_D(G(E(x_i)), E(x_i))|_2.
  // r and fm are resized to (N) on the context's device.
  void scores(Context& ctx, const Tensor& x, Tensor& r, Tensor& fm);

  // Everything (E, G, D, EMA copies, Adam state, step count, standardisation) in one
  // safetensors file with the config in its metadata.
  void save(const std::string& path, const std::map<std::string, std::string>& extra = {});
  void load(const std::string& path);
  static BiGanConfig read_config(const std::string& path);

  ParamStore& encoder_params() { return ps_e_; }
  ParamStore& generator_params() { return ps_g_; }
  ParamStore& discriminator_params() { return ps_d_; }
  BiGanEncoder& encoder() { return *enc_; }
  BiGanGenerator& generator() { return *gen_; }
  BiGanDiscriminator& discriminator() { return *dis_; }
  int64_t steps() const { return steps_; }

  // Called with each network's store once its gradients of a step are complete, before its
  // optimiser step: data-parallel training averages them over the processes there (dist/).
  using GradHook = std::function<void(Context&, ParamStore&)>;
  void set_grad_hook(GradHook hook) { grad_hook_ = std::move(hook); }

  // z ~ N(0, I) (n, latent) on ctx's device from the Philox stream.
  void sample_z(Context& ctx, Tensor& z, int64_t n) const;

 private:
  struct Optim;
  void swap_ema();
  BiGanConfig cfg_;
  ParamStore ps_e_, ps_g_, ps_d_;
  std::unique_ptr<BiGanEncoder> enc_;
  std::unique_ptr<BiGanGenerator> gen_;
  std::unique_ptr<BiGanDiscriminator> dis_;
  std::unique_ptr<Optim> opt_;
  std::vector<float> mean_, std_;
  Ema ema_e_, ema_g_, ema_d_;  // used when cfg_.ema_decay > 0
  int64_t steps_ = 0;
  GradHook grad_hook_;
  Tensor xs_, z_, ones_, zeros_, loss_, dlogit_, drec_, fm_real_;
};

}  // namespace gbad
