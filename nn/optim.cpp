#include "nn/optim.h"

#include "core/cuda_graph.h"
#include "kernels/optim.h"

namespace gbad {

float read_scalar(const Tensor& t) {
  GBAD_CHECK(t.numel() == 1, "read_scalar: expects a 1-element tensor, got ", t.str());
  float v = 0.f;
  copy_bytes(&v, Device::CPU, t.raw(), t.device(), sizeof v);  // synchronous for device memory
  return v;
}

namespace {
ParamStore& checked(ParamStore& ps, const char* who) {
  GBAD_CHECK(ps.finalized(), who, ": the ParamStore must be finalized before stepping");
  return ps;
}
}  // namespace

Sgd::Sgd(ParamStore& ps, const SgdConfig& cfg) : ps_(&ps), cfg_(cfg) {
  GBAD_CHECK(cfg.lr >= 0.f && cfg.momentum >= 0.f && cfg.weight_decay >= 0.f,
             "Sgd: lr, momentum and weight_decay must be non-negative");
}

void Sgd::step(Context& ctx, const Tensor* amp_state) {
  ParamStore& ps = checked(*ps_, "Sgd::step");
  if (ps.num_params() == 0) return;
  ++steps_;
  Tensor none;
  Tensor& buf = cfg_.momentum != 0.f ? ps.state(1) : none;
  sgd_step(ctx, ps.params(), ps.grads(), buf, steps_, cfg_.lr, cfg_.momentum, cfg_.weight_decay,
           cfg_.dampening, cfg_.nesterov, amp_state, lr_dev_.defined() ? &lr_dev_ : nullptr);
}

void Sgd::use_device_lr(Context& ctx) {
  lr_dev_ = Tensor({1}, ctx.device());
  upload_lr(ctx);
}

void Sgd::upload_lr(Context& ctx) {
  GBAD_CHECK(lr_dev_.defined(), "Sgd::upload_lr: call use_device_lr first");
  GBAD_CHECK(!capturing_on_this_thread(),
             "Sgd::upload_lr: inside a CUDA graph capture the rate would be baked into the graph");
  TensorStreamScope on(ctx.is_cuda() ? ctx.stream() : nullptr);
  lr_dev_.fill(cfg_.lr);
}

Adam::Adam(ParamStore& ps, const AdamConfig& cfg) : ps_(&ps), cfg_(cfg) {
  GBAD_CHECK(cfg.lr >= 0.f && cfg.eps >= 0.f && cfg.weight_decay >= 0.f,
             "Adam: lr, eps and weight_decay must be non-negative");
}

void Adam::step(Context& ctx, const Tensor* amp_state) {
  ParamStore& ps = checked(*ps_, "Adam::step");
  const int64_t n = ps.num_params();
  if (n == 0) return;
  ++steps_;
  Tensor& state = ps.state(2);
  Tensor m = state.view(0, {n}), v = state.view(n, {n});
  adam_step(ctx, ps.params(), ps.grads(), m, v, steps_, cfg_.lr, cfg_.beta1, cfg_.beta2, cfg_.eps,
            cfg_.weight_decay, cfg_.decoupled, amp_state);
}

Ema::Ema(ParamStore& ps, float decay) : decay_(decay) {
  reset(ps);
}

void Ema::reset(ParamStore& ps) {
  GBAD_CHECK(ps.finalized(), "Ema: the ParamStore must be finalized first");
  values_ = ps.params().clone();
}

void Ema::update(Context& ctx, ParamStore& ps) {
  GBAD_CHECK(values_.defined(), "Ema::update before the average was initialised");
  Tensor& p = ps.params();
  if (values_.device() != p.device()) values_ = values_.to(p.device());
  ema_update(ctx, values_, p, decay_);
}

void Ema::copy_to(ParamStore& ps) const {
  GBAD_CHECK(values_.defined(), "Ema::copy_to before the average was initialised");
  ps.params().copy_from(values_);
}

}  // namespace gbad
