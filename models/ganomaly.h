// The image-space GAN anomaly detectors of the paper's Table 4, as in their authors' public
// code (DCGAN-style nets, 3 channels, images scaled to [-1, 1]):
//  * GANomaly: generator = encoder1 (x -> z, nz = 100) -> decoder (z -> x') -> encoder2
//    (x' -> z'); discriminator = an encoder with one output whose penultimate features f_D are
//    used for feature matching. G loss = w_adv L2(f_D(x), f_D(x')) + w_con L1(x', x) +
//    w_lat L2(z, z') (L2 = mean squared error); score = mean_j (z_j - z'_j)^2.
//  * Skip-GANomaly: U-Net generator (log2(size) stride-2 levels, 64 base channels, skip
//    concatenations, BatchNorm, Tanh), the same discriminator. G loss = w_adv BCE(D(x'), real)
//    + w_con L1(x', x) + w_lat L2(f_D(x), f_D(x')); score = 0.9 MSE(x, x') + 0.1 MSE(f_D(x),
//    f_D(x')).
// Both: D loss = (BCE(D(x), 1) + BCE(D(x'), 0)) / 2, D re-initialised when that falls below
// 1e-5; Adam (2e-4, betas 0.5, 0.999) for G and D; weights N(0, 0.02), BatchNorm weights
// N(1, 0.02), biases 0. Generator and discriminator each own a ParamStore ("netg.*",
// "netd.*").
//
// Encoder (DCGAN): conv 4/2/1 (no bias) + LeakyReLU 0.2; while the size is above 4: conv 4/2/1
// + BN + LeakyReLU 0.2 (channels doubling); conv 4/1/0 to nz. Decoder: its mirror with
// transposed convolutions, BN + ReLU, and Tanh. Sizes: a multiple of 16 (GANomaly) or a power
// of two >= 32 (Skip-GANomaly).
//
// U-Net (pix2pix's UnetGenerator, which Skip-GANomaly uses): level 0 (outermost) .. L-1
// (innermost), channels (outer, inner) = (3, 64), (64, 128), (128, 256), (256, 512), then
// (512, 512). A non-outermost level maps its input x to [h, BN(upconv(ReLU(inner(down(h)))))]
// with h = LeakyReLU_0.2(x) — the skip carries h, because the public code's in-place LeakyReLU
// overwrites x before the concatenation; down = conv 4/2/1 (+ BN except innermost), upconv =
// transposed conv 4/2/1 (no BN at the outermost, whose upconv has a bias and ends in Tanh).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/resnet.h"
#include "nn/conv_transpose.h"
#include "nn/optim.h"

namespace gbad {

enum class GanVariant { Ganomaly, Skip };
GanVariant parse_gan_variant(const std::string& s);  // "ganomaly" | "skip" (or "skip-ganomaly")
const char* gan_variant_name(GanVariant v);          // "ganomaly" | "skip-ganomaly"

struct GanomalyConfig {
  GanVariant variant = GanVariant::Ganomaly;
  int64_t isize = 32;  // input size (square)
  int64_t nc = 3;      // image channels
  int64_t nz = 100;    // GANomaly latent size
  int64_t ngf = 64;    // generator base channels
  int64_t ndf = 64;    // discriminator base channels
  float lr = 2e-4f, beta1 = 0.5f, beta2 = 0.999f;
  float w_adv = 1.f, w_con = 50.f, w_lat = 1.f;
  float d_reinit_below = 1e-5f;
  uint64_t seed = 0;
};

// DCGAN encoder (GANomaly's Encoder): forward -> (N, nz, 1, 1); features() is the output of
// the last LeakyReLU (the discriminator's f_D).
class DcganEncoder {
 public:
  DcganEncoder() = default;
  DcganEncoder(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nz, int64_t nc,
               int64_t ndf);
  const Tensor& forward(Context& ctx, const Tensor& x);
  const Tensor& features() const { return feat_; }
  const Tensor& output() const { return out_; }  // of the last forward
  // Gradients of the output and/or of features() (null = zero) -> dL/dx (empty when the input
  // gradient is off). Accumulates parameter gradients.
  const Tensor& backward(Context& ctx, const Tensor* dout, const Tensor* dfeat);
  void set_training(bool t);
  void set_input_grad(bool g) { conv0_.set_input_grad(g); }
  Shape summarize(const Shape& x, const std::string& prefix, const ParamStore& ps,
                  std::vector<LayerSummary>& rows) const;

 private:
  Conv2d conv0_, final_;
  LeakyReLU act0_{0.2f};
  std::vector<Conv2d> convs_;
  std::vector<BatchNorm2d> bns_;
  std::vector<LeakyReLU> acts_;
  Tensor feat_, out_, dfeat_;
};

// DCGAN decoder (GANomaly's Decoder): (N, nz, 1, 1) -> (N, nc, isize, isize) in [-1, 1].
class DcganDecoder {
 public:
  DcganDecoder() = default;
  DcganDecoder(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nz, int64_t nc,
               int64_t ngf);
  const Tensor& forward(Context& ctx, const Tensor& z);
  const Tensor& backward(Context& ctx, const Tensor& dy);
  void set_training(bool t);
  Shape summarize(const Shape& z, const std::string& prefix, const ParamStore& ps,
                  std::vector<LayerSummary>& rows) const;

 private:
  std::vector<ConvTranspose2d> convs_;  // initial, pyramid..., final
  std::vector<BatchNorm2d> bns_;        // one per convs_ but the last
  std::vector<ReLU> acts_;
  Tanh tanh_;
};

// pix2pix U-Net generator (Skip-GANomaly's), see the file comment.
class UnetGenerator {
 public:
  UnetGenerator() = default;
  UnetGenerator(ParamStore& ps, const std::string& prefix, int64_t isize, int64_t nc, int64_t ngf);
  const Tensor& forward(Context& ctx, const Tensor& x);
  void backward(Context& ctx, const Tensor& dy);  // parameter gradients only
  void set_training(bool t);
  void summarize(const Shape& x, const std::string& prefix, const ParamStore& ps,
                 std::vector<LayerSummary>& rows) const;

 private:
  struct Level {
    int64_t outer = 0, inner = 0, input = 0;
    bool outermost = false, innermost = false;
    LeakyReLU down_act{0.2f};
    Conv2d down;
    BatchNorm2d down_bn;  // middle levels
    ReLU up_act;
    ConvTranspose2d up;
    BatchNorm2d up_bn;  // all but the outermost
    Tanh tanh;          // outermost
    Tensor out, dsplit_skip, dsplit_out, dx;
  };
  const Tensor& level_forward(Context& ctx, size_t i, const Tensor& x);
  const Tensor& level_backward(Context& ctx, size_t i, const Tensor& dret);
  std::vector<std::unique_ptr<Level>> levels_;
};

struct GanStepLosses {
  float g = 0, g_adv = 0, g_con = 0, g_lat = 0, d = 0;
  bool d_reinitialised = false;
};

class Ganomaly {
 public:
  // With `allocate` false only shapes exist (parameter counts and summaries).
  Ganomaly(const GanomalyConfig& cfg, Device device = Device::CPU, bool allocate = true);
  ~Ganomaly();
  Ganomaly(const Ganomaly&) = delete;
  Ganomaly& operator=(const Ganomaly&) = delete;

  const GanomalyConfig& config() const { return cfg_; }
  ParamStore& generator_params() { return ps_g_; }
  ParamStore& discriminator_params() { return ps_d_; }
  int64_t generator_param_count() const;
  int64_t discriminator_param_count() const;

  // One optimisation step on a batch of normal images x (N, nc, isize, isize) in [-1, 1]:
  // G (forward, loss, backward, Adam), then D on the same reconstructions.
  GanStepLosses train_step(Context& ctx, const Tensor& x);
  // Eval-mode anomaly scores of a batch (host values, before min-max normalisation).
  std::vector<float> scores(Context& ctx, const Tensor& x);
  // Eval-mode reconstruction G(x) (owned by the model).
  const Tensor& reconstruct(Context& ctx, const Tensor& x);
  // GANomaly: latent codes z = encoder1(x), z' = encoder2(G(x)) of the last generator forward.
  const Tensor& latent_in() const;
  const Tensor& latent_out() const;

  // Layer rows of the generator and of the discriminator for a batch of n.
  std::vector<LayerSummary> generator_summary(int64_t n) const;
  std::vector<LayerSummary> discriminator_summary(int64_t n) const;

  // Weights, BN statistics, Adam state and step counts in one safetensors file.
  void save(const std::string& path, const std::map<std::string, std::string>& extra = {});
  void load(const std::string& path);
  static GanomalyConfig read_config(const std::string& path);
  int64_t steps() const { return adam_g_ ? adam_g_->steps() : 0; }
  int64_t d_reinits() const { return d_reinits_; }
  // Re-draws the discriminator's weights (GANomaly's weights_init) from `stream`.
  void reinit_discriminator(uint64_t stream);
  // The generator's forward (training or eval mode) -> G(x).
  const Tensor& generator_forward(Context& ctx, const Tensor& x, bool training);
  // Backward of the generator given dL/dG(x) and, for GANomaly, dL/dz' and dL/dz (null = 0).
  void generator_backward(Context& ctx, const Tensor& dfake, const Tensor* dlat_out,
                          const Tensor* dlat_in);

 private:
  void set_g_training(bool t);
  void set_d_training(bool t);
  GanomalyConfig cfg_;
  ParamStore ps_g_, ps_d_;
  DcganEncoder enc1_, enc2_, netd_;
  DcganDecoder dec_;
  std::unique_ptr<UnetGenerator> unet_;
  std::unique_ptr<Adam> adam_g_, adam_d_;
  int64_t d_reinits_ = 0;
  Tensor fake_, feat_real_, loss_, tmp_loss_, dfake_, dtmp_, dtmp2_, dlat_o_, dlat_i_, dlat_i_sum_,
      dfeat_, dlogit_, ones_, zeros_;
};

// GANomaly's weights_init on every entry of `ps`: conv / transposed-conv weights (4-D)
// N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0. Buffers are left alone.
void ganomaly_init(ParamStore& ps, uint64_t seed, uint64_t stream);

}  // namespace gbad
