// Layers over the ops of kernels/conv_transpose.h and kernels/resample.h (the GANomaly decoders
// and the CHR head), under the contract of nn/layers.h.
#pragma once

#include <string>

#include "nn/layers.h"

namespace gbad {

// torch.nn.ConvTranspose2d (groups 1, dilation 1, output_padding 0). Weight (Cin, Cout, K, K),
// optional bias (Cout). Init: torch's default (kaiming_uniform(a=sqrt(5)) over fan_in =
// Cout*K*K, i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the same bound for the bias).
class ConvTranspose2d : public Layer {
 public:
  ConvTranspose2d() = default;
  ConvTranspose2d(ParamStore& ps, const std::string& prefix, int64_t cin, int64_t cout, int k,
                  int stride, int pad, bool bias);
  const Tensor& forward(Context& ctx, const Tensor& x);  // (N,Cin,H,W) -> (N,Cout,Ho,Wo)
  const Tensor& backward(Context& ctx, const Tensor& dy);
  Shape output_shape(const Shape& x) const;
  int64_t macs(const Shape& x) const;  // multiply-adds of one forward (= Cin*Cout*K*K*N*H*W)
  int64_t cin() const { return cin_; }
  int64_t cout() const { return cout_; }

 private:
  ParamStore* ps_ = nullptr;
  ParamStore::Ref w_ = -1, b_ = -1;
  int64_t cin_ = 0, cout_ = 0;
  int k_ = 1, s_ = 1, p_ = 0;
  Tensor x_, y_, dx_;
};

// Bilinear resampling to (H_out, W_out), torch's mode="bilinear", align_corners=False.
class UpsampleBilinear : public Layer {
 public:
  const Tensor& forward(Context& ctx, const Tensor& x, int64_t h_out, int64_t w_out);
  const Tensor& backward(Context& ctx, const Tensor& dy);

 private:
  Tensor y_, dx_;
  Shape x_shape_;
};

}  // namespace gbad
