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

}  // namespace gbad
