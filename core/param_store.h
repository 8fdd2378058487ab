// ParamStore: every parameter of a model in one contiguous buffer, their gradients in a
// second of the same layout, optimiser state in a third (slots x the parameter count), and
// non-trainable buffers (BatchNorm running statistics) in a fourth. Layers register named
// entries while the model is built, then finalize() allocates and initialises everything and
// layers fetch their views. The optimiser is then one kernel over a flat buffer, zero_grad is
// one memset and a checkpoint is one write.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/tensor.h"

namespace gbad {

enum class InitKind {
  Zeros,
  Ones,
  Constant,             // a
  Uniform,              // U(a, b)
  Normal,               // N(a, b^2)
  KaimingNormalFanOut,  // N(0, 2 / fan_out), torchvision's ResNet convolutions
  KaimingUniformFanIn,  // torch.nn.Linear/Conv default weight: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  XavierUniform,        // U(-a, a), a = sqrt(6 / (fan_in + fan_out))
  XavierNormal,         // N(0, 2 / (fan_in + fan_out))
};

struct InitSpec {
  InitKind kind = InitKind::Zeros;
  float a = 0.f, b = 0.f;
  int64_t fan_in = 0, fan_out = 0;
  static InitSpec zeros() { return {InitKind::Zeros}; }
  static InitSpec ones() { return {InitKind::Ones}; }
  static InitSpec constant(float v) { return {InitKind::Constant, v}; }
  static InitSpec uniform(float lo, float hi) { return {InitKind::Uniform, lo, hi}; }
  static InitSpec normal(float mean, float std) { return {InitKind::Normal, mean, std}; }
  static InitSpec kaiming_normal_fan_out(int64_t fan_out) {
    return {InitKind::KaimingNormalFanOut, 0.f, 0.f, 0, fan_out};
  }
  static InitSpec kaiming_uniform_fan_in(int64_t fan_in) {
    return {InitKind::KaimingUniformFanIn, 0.f, 0.f, fan_in, 0};
  }
  static InitSpec xavier_uniform(int64_t fan_in, int64_t fan_out) {
    return {InitKind::XavierUniform, 0.f, 0.f, fan_in, fan_out};
  }
  static InitSpec xavier_normal(int64_t fan_in, int64_t fan_out) {
    return {InitKind::XavierNormal, 0.f, 0.f, fan_in, fan_out};
  }
};

std::string join_name(const std::string& prefix, const std::string& name);  // "a" + "b" -> "a.b"

class ParamStore {
 public:
  using Ref = int;
  struct Entry {
    std::string name;
    Shape shape;
    InitSpec init;
    bool trainable = true;
    int64_t offset = 0;  // in its flat buffer (parameters or buffers)
    int64_t numel = 0;
    bool keep_fp32 = false;  // mixed precision: never stored in half (BatchNorm scale, bias)
  };

  // Register while building the model (before finalize). Names must be unique.
  Ref add_param(const std::string& name, const Shape& shape, InitSpec init);
  Ref add_buffer(const std::string& name, const Shape& shape, InitSpec init);

  // Allocates the flat buffers on `device` and initialises every entry from `seed` (the
  // values depend only on the seed and the entry's registration index, never on the device).
  void finalize(Device device, uint64_t seed);
  bool finalized() const { return finalized_; }
  Device device() const { return device_; }

  Tensor& value(Ref r);
  Tensor& grad(Ref r);  // trainable entries only
  const Entry& entry(Ref r) const { return entries_.at(static_cast<size_t>(r)); }
  const std::vector<Entry>& entries() const { return entries_; }
  Ref find(const std::string& name) const;  // -1 when absent
  Ref at(const std::string& name) const;    // throws naming the entry when absent

  // Flat views of everything.
  Tensor& params() { return params_; }
  Tensor& grads() { return grads_; }
  Tensor& buffers() { return buffers_; }
  int64_t num_params() const { return num_params_; }
  int64_t num_buffer_elements() const { return num_buffers_; }

  // Optimiser state: `slots` x num_params floats, zero-initialised on first request.
  Tensor& state(int slots);
  int state_slots() const { return state_slots_; }

  void zero_grad();

  // ---- Mixed precision (core/precision.h) ----
  // Marks a parameter as fp32 in every precision: BatchNorm's scale and bias (cuDNN derives an
  // fp32 descriptor for half data). Before or after finalize.
  void keep_fp32(Ref r);
  // Allocates the compute copy: a second buffer of the parameters' layout that the forward reads
  // (the half weights of a GPU run), while params() stay the fp32 master weights the optimiser
  // updates. The caller fills and rounds it (nn/loss_scaler.h refresh_compute_copy). Idempotent.
  void enable_compute_copy();
  bool has_compute_copy() const { return compute_.defined(); }
  Tensor& compute_params() { return compute_; }
  // What layers read in their forward and backward-data: the compute copy's view of `r` when
  // there is one and `r` is not keep_fp32, else value(r).
  Tensor& compute_value(Ref r);
  // Moves every buffer (values, grads, state) to another device.
  void to(Device device);
  // Copies values and buffers (not grads/state) from another store of the same layout.
  void copy_values_from(const ParamStore& other);

 private:
  Ref add(const std::string& name, const Shape& shape, InitSpec init, bool trainable);
  void bind_views();

  std::vector<Entry> entries_;
  std::map<std::string, Ref> by_name_;
  std::vector<Tensor> values_, grads_views_, compute_views_;
  Tensor params_, grads_, buffers_, state_, compute_;
  int64_t num_params_ = 0, num_buffers_ = 0;
  int state_slots_ = 0;
  bool finalized_ = false;
  Device device_ = Device::CPU;
};

// Fills `out` (host memory, n values) as `spec` says, drawing from Philox stream (seed, stream).
void init_values(float* out, int64_t n, const InitSpec& spec, uint64_t seed, uint64_t stream);

}  // namespace gbad
