#include "core/param_store.h"

#include <cmath>

#include "core/philox.h"

namespace gbad {

std::string join_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

void init_values(float* out, int64_t n, const InitSpec& s, uint64_t seed, uint64_t stream) {
  auto uni = [&](int64_t i) { return rng_uniform(seed, stream, static_cast<uint64_t>(i)); };
  auto nrm = [&](int64_t i) { return rng_normal(seed, stream, static_cast<uint64_t>(i)); };
  switch (s.kind) {
    case InitKind::Zeros:
      for (int64_t i = 0; i < n; ++i) out[i] = 0.f;
      break;
    case InitKind::Ones:
      for (int64_t i = 0; i < n; ++i) out[i] = 1.f;
      break;
    case InitKind::Constant:
      for (int64_t i = 0; i < n; ++i) out[i] = s.a;
      break;
    case InitKind::Uniform:
      for (int64_t i = 0; i < n; ++i) out[i] = s.a + (s.b - s.a) * uni(i);
      break;
    case InitKind::Normal:
      for (int64_t i = 0; i < n; ++i) out[i] = s.a + s.b * nrm(i);
      break;
    case InitKind::KaimingNormalFanOut: {
      GBAD_CHECK(s.fan_out > 0, "kaiming init needs fan_out");
      float std = std::sqrt(2.0f / static_cast<float>(s.fan_out));
      for (int64_t i = 0; i < n; ++i) out[i] = std * nrm(i);
      break;
    }
    case InitKind::KaimingUniformFanIn: {
      GBAD_CHECK(s.fan_in > 0, "kaiming init needs fan_in");
      float bound = 1.0f / std::sqrt(static_cast<float>(s.fan_in));
      for (int64_t i = 0; i < n; ++i) out[i] = -bound + 2.f * bound * uni(i);
      break;
    }
    case InitKind::XavierUniform: {
      GBAD_CHECK(s.fan_in + s.fan_out > 0, "xavier init needs fans");
      float a = std::sqrt(6.0f / static_cast<float>(s.fan_in + s.fan_out));
      for (int64_t i = 0; i < n; ++i) out[i] = -a + 2.f * a * uni(i);
      break;
    }
    case InitKind::XavierNormal: {
      GBAD_CHECK(s.fan_in + s.fan_out > 0, "xavier init needs fans");
      float std = std::sqrt(2.0f / static_cast<float>(s.fan_in + s.fan_out));
      for (int64_t i = 0; i < n; ++i) out[i] = std * nrm(i);
      break;
    }
  }
}

ParamStore::Ref ParamStore::add(const std::string& name, const Shape& shape, InitSpec init,
                                bool trainable) {
  GBAD_CHECK(!finalized_, "cannot add '", name, "' after the ParamStore was finalized");
  GBAD_CHECK(!by_name_.count(name), "duplicate parameter name '", name, "'");
  Entry e;
  e.name = name;
  e.shape = shape;
  e.init = init;
  e.trainable = trainable;
  e.numel = shape_numel(shape);
  if (trainable) {
    e.offset = num_params_;
    num_params_ += e.numel;
  } else {
    e.offset = num_buffers_;
    num_buffers_ += e.numel;
  }
  Ref r = static_cast<Ref>(entries_.size());
  entries_.push_back(e);
  by_name_[name] = r;
  return r;
}

ParamStore::Ref ParamStore::add_param(const std::string& name, const Shape& shape, InitSpec init) {
  return add(name, shape, init, true);
}

ParamStore::Ref ParamStore::add_buffer(const std::string& name, const Shape& shape, InitSpec init) {
  return add(name, shape, init, false);
}

void ParamStore::finalize(Device device, uint64_t seed) {
  GBAD_CHECK(!finalized_, "ParamStore finalized twice");
  Tensor hp({num_params_}, Device::CPU), hb({num_buffers_}, Device::CPU);
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    float* base = e.trainable ? hp.f32() : hb.f32();
    init_values(base + e.offset, e.numel, e.init, seed, static_cast<uint64_t>(i));
  }
  device_ = device;
  params_ = hp.to(device);
  buffers_ = hb.to(device);
  grads_ = Tensor::zeros({num_params_}, device);
  finalized_ = true;
  bind_views();
}

void ParamStore::bind_views() {
  values_.clear();
  grads_views_.clear();
  compute_views_.clear();
  for (const Entry& e : entries_) {
    if (e.trainable) {
      values_.push_back(params_.view(e.offset, e.shape));
      grads_views_.push_back(grads_.view(e.offset, e.shape));
    } else {
      values_.push_back(buffers_.view(e.offset, e.shape));
      grads_views_.push_back(Tensor());
    }
    compute_views_.push_back(compute_.defined() && e.trainable && !e.keep_fp32
                                 ? compute_.view(e.offset, e.shape)
                                 : values_.back());
  }
}

void ParamStore::keep_fp32(Ref r) {
  GBAD_CHECK(r >= 0 && r < static_cast<Ref>(entries_.size()), "bad parameter ref ", r);
  entries_[static_cast<size_t>(r)].keep_fp32 = true;
  if (finalized_) bind_views();
}

void ParamStore::enable_compute_copy() {
  GBAD_CHECK(finalized_, "ParamStore::enable_compute_copy before finalize()");
  if (compute_.defined()) return;
  compute_ = params_.clone();
  bind_views();
}

Tensor& ParamStore::compute_value(Ref r) {
  GBAD_CHECK(finalized_, "ParamStore used before finalize()");
  GBAD_CHECK(r >= 0 && r < static_cast<Ref>(entries_.size()), "bad parameter ref ", r);
  return compute_views_[static_cast<size_t>(r)];
}

Tensor& ParamStore::value(Ref r) {
  GBAD_CHECK(finalized_, "ParamStore used before finalize()");
  GBAD_CHECK(r >= 0 && r < static_cast<Ref>(entries_.size()), "bad parameter ref ", r);
  return values_[static_cast<size_t>(r)];
}

Tensor& ParamStore::grad(Ref r) {
  GBAD_CHECK(finalized_, "ParamStore used before finalize()");
  GBAD_CHECK(r >= 0 && r < static_cast<Ref>(entries_.size()), "bad parameter ref ", r);
  GBAD_CHECK(entries_[static_cast<size_t>(r)].trainable, "'", entries_[r].name,
             "' is a buffer and has no gradient");
  return grads_views_[static_cast<size_t>(r)];
}

ParamStore::Ref ParamStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? -1 : it->second;
}

ParamStore::Ref ParamStore::at(const std::string& name) const {
  Ref r = find(name);
  GBAD_CHECK(r >= 0, "no parameter named '", name, "'");
  return r;
}

Tensor& ParamStore::state(int slots) {
  GBAD_CHECK(finalized_, "ParamStore used before finalize()");
  if (slots != state_slots_) {
    state_ = Tensor::zeros({static_cast<int64_t>(slots) * num_params_}, device_);
    state_slots_ = slots;
  }
  return state_;
}

void ParamStore::zero_grad() {
  grads_.zero();
}

void ParamStore::to(Device device) {
  if (device == device_ || !finalized_) {
    device_ = device;
    return;
  }
  params_ = params_.to(device);
  grads_ = grads_.to(device);
  buffers_ = buffers_.to(device);
  if (state_.defined()) state_ = state_.to(device);
  if (compute_.defined()) compute_ = compute_.to(device);
  device_ = device;
  bind_views();
}

void ParamStore::copy_values_from(const ParamStore& o) {
  GBAD_CHECK(o.num_params_ == num_params_ && o.num_buffers_ == num_buffers_ &&
                 o.entries_.size() == entries_.size(),
             "copy_values_from: the two stores have different layouts");
  params_.copy_from(o.params_);
  buffers_.copy_from(o.buffers_);
}

}  // namespace gbad
