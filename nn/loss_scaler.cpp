#include "nn/loss_scaler.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/check.h"
#include "kernels/amp.h"
#include "kernels/amp_body.h"

namespace gbad {

LossScaler::LossScaler(Device device, const LossScalerConfig& cfg) : cfg_(cfg) {
  GBAD_CHECK(cfg.init_scale > 0.f && std::isfinite(cfg.init_scale),
             "loss scaler: the initial scale must be positive and finite, got ", cfg.init_scale);
  std::vector<float> s(kAmpStateSize, 0.f);
  s[kAmpScale] = cfg.enabled ? cfg.init_scale : 1.f;
  state_ = Tensor::from_vector(s, {kAmpStateSize}, device);
}

void LossScaler::unscale(Context& ctx, Tensor& grads) {
  if (cfg_.enabled) amp_unscale(ctx, grads, state_);
}

void LossScaler::update(Context& ctx) {
  if (cfg_.enabled) amp_update(ctx, state_, cfg_.growth, cfg_.backoff, cfg_.interval);
}

LossScalerSnapshot LossScaler::snapshot() const {
  Tensor host({kAmpStateSize});
  host.copy_from(state_);
  const float* s = host.f32();
  return {s[kAmpScale], static_cast<int64_t>(s[kAmpGrowthTracker]), s[kAmpFoundInf] != 0.f,
          static_cast<int64_t>(s[kAmpSkipped])};
}

std::map<std::string, std::string> LossScaler::to_metadata() const {
  const LossScalerSnapshot s = snapshot();
  char scale[32];
  std::snprintf(scale, sizeof scale, "%.9g", double(s.scale));  // round-trips a float exactly
  return {{"amp.scale", scale},
          {"amp.growth_tracker", std::to_string(s.growth_tracker)},
          {"amp.skipped_steps", std::to_string(s.skipped_steps)}};
}

void LossScaler::restore(const std::map<std::string, std::string>& meta) {
  auto get = [&](const char* key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  const std::string* scale = get("amp.scale");
  if (!scale) return;  // a checkpoint from an fp32/bf16 run: keep the fresh state
  auto parse = [&](const std::string& text, const char* key) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    GBAD_CHECK(end && *end == '\0' && std::isfinite(v) && v >= 0, "checkpoint metadata ", key,
               " = '", text, "' is not a non-negative number");
    return v;
  };
  std::vector<float> s(kAmpStateSize, 0.f);
  s[kAmpScale] = static_cast<float>(parse(*scale, "amp.scale"));
  GBAD_CHECK(s[kAmpScale] > 0.f, "checkpoint metadata amp.scale must be positive, got ", *scale);
  if (const std::string* g = get("amp.growth_tracker"))
    s[kAmpGrowthTracker] = static_cast<float>(parse(*g, "amp.growth_tracker"));
  if (const std::string* k = get("amp.skipped_steps"))
    s[kAmpSkipped] = static_cast<float>(parse(*k, "amp.skipped_steps"));
  state_.copy_from(Tensor::from_vector(s, {kAmpStateSize}));
}

void refresh_compute_copy(Context& ctx, ParamStore& ps) {
  if (!ps.has_compute_copy()) return;
  ps.compute_params().copy_from(ps.params());
  amp_round(ctx, ps.compute_params(), ctx.precision());
}

namespace {
LossScalerConfig scaler_config(Precision p, LossScalerConfig cfg) {
  cfg.enabled = cfg.enabled && p == Precision::Fp16;  // bf16 has fp32's range: no scaling
  return cfg;
}
}  // namespace

MixedPrecision::MixedPrecision(Context& ctx, ParamStore& ps, LossScalerConfig cfg)
    : ps_(&ps),
      precision_(ctx.precision()),
      scaler_(ctx.device(), scaler_config(ctx.precision(), cfg)) {
  GBAD_CHECK(ps.finalized(), "MixedPrecision: the ParamStore must be finalized first");
  if (!stores_half(precision_)) return;
  ps.enable_compute_copy();
  refresh_compute_copy(ctx, ps);
  // Weight gradients stored in half: every trainable entry but the fp32 ones, as runs of
  // consecutive entries (one rounding launch per run).
  for (const ParamStore::Entry& e : ps.entries()) {
    if (!e.trainable || e.keep_fp32 || e.numel == 0) continue;
    if (!half_grad_runs_.empty() &&
        half_grad_runs_.back().first + half_grad_runs_.back().second == e.offset)
      half_grad_runs_.back().second += e.numel;
    else
      half_grad_runs_.emplace_back(e.offset, e.numel);
  }
}

void MixedPrecision::store_input(Context& ctx, Tensor& x) const {
  if (stores_half(precision_)) amp_round(ctx, x, precision_);
}

void MixedPrecision::scale_loss_grad(Context& ctx, Tensor& dloss) {
  if (scaler_.enabled()) amp_scale(ctx, dloss, scaler_.state());
  if (stores_half(precision_)) amp_round(ctx, dloss, precision_);
}

void MixedPrecision::unscale_grads(Context& ctx) {
  if (!stores_half(precision_)) return;
  for (const auto& [offset, count] : half_grad_runs_) {
    Tensor g = ps_->grads().view(offset, {count});
    amp_round(ctx, g, precision_);
  }
  scaler_.unscale(ctx, ps_->grads());
}

void MixedPrecision::end_step(Context& ctx) {
  scaler_.update(ctx);
  refresh_compute_copy(ctx, *ps_);
}

}  // namespace gbad
