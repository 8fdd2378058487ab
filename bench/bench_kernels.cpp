// Memory-bound kernels: activations and elementwise arithmetic, fused losses (forward and
// backward in one call), optimiser updates, nearest upsampling (and the FPN's fused upsample +
// add), max pooling (the stem's 3x3 stride 2), global average pooling, batch norm. Counter:
// bytes/s, the bytes one call must read plus write (each input and output once; the rate is what
// the kernel achieves against the memory system, not a count of its actual traffic). Sizes: n =
// 2^16 elements (cache resident, CI) and 2^22 (16 MiB per tensor).
// The half path's layout conversions (kernels/layout.h, docs/mixed-precision.md) run on (N, 64,
// 16, 16) images: the overhead every half convolution pays at its boundary.
#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/bench_common.h"
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"
#include "kernels/layout.h"
#include "kernels/loss.h"
#include "kernels/optim.h"
#include "kernels/pooling.h"

namespace gbad::bench {
namespace {

// One kernel call over tensors created for a device: t holds every tensor, run() calls the op,
// t[out] is the output that validation compares, bytes the nominal traffic of one call.
struct KernelCase {
  std::vector<Tensor> t;
  std::function<void(Context&, std::vector<Tensor>&)> run;
  size_t out = 0;
  double bytes = 0;
};
using Maker = std::function<KernelCase(Device, int64_t)>;

Tensor rnd(const Shape& s, uint64_t seed, Device d) {
  return random_tensor(s, seed, -1.f, 1.f, d);
}

// (N, 64, 16, 16) images holding n elements (n a multiple of 2^14).
Shape image_shape(int64_t n) {
  return {std::max<int64_t>(1, n / (64 * 256)), 64, 16, 16};
}

std::vector<std::pair<std::string, Maker>> makers() {
  std::vector<std::pair<std::string, Maker>> m;
  const double f = sizeof(float);
  auto unary = [&](const char* name, std::function<void(Context&, Tensor&, const Tensor&)> op) {
    m.push_back({name, [op, f](Device d, int64_t n) {
                   KernelCase c;
                   c.t = {Tensor({n}, d), rnd({n}, 1, d)};
                   c.run = [op](Context& ctx, std::vector<Tensor>& t) { op(ctx, t[0], t[1]); };
                   c.bytes = 2 * f * double(n);
                   return c;
                 }});
  };
  unary("relu_forward", [](Context& ctx, Tensor& y, const Tensor& x) { relu_forward(ctx, y, x); });
  unary("leaky_relu_forward",
        [](Context& ctx, Tensor& y, const Tensor& x) { leaky_relu_forward(ctx, y, x, 0.1f); });
  unary("sigmoid_forward",
        [](Context& ctx, Tensor& y, const Tensor& x) { sigmoid_forward(ctx, y, x); });
  unary("tanh_forward", [](Context& ctx, Tensor& y, const Tensor& x) { tanh_forward(ctx, y, x); });
  // y updated in place from x: reads y and x, writes y.
  auto inout = [&](const char* name, std::function<void(Context&, Tensor&, const Tensor&)> op) {
    m.push_back({name, [op, f](Device d, int64_t n) {
                   KernelCase c;
                   c.t = {rnd({n}, 2, d), rnd({n}, 1, d)};
                   c.run = [op](Context& ctx, std::vector<Tensor>& t) { op(ctx, t[0], t[1]); };
                   c.bytes = 3 * f * double(n);
                   return c;
                 }});
  };
  inout("add_inplace", [](Context& ctx, Tensor& y, const Tensor& x) { add_inplace(ctx, y, x); });
  inout("axpby", [](Context& ctx, Tensor& y, const Tensor& x) { axpby(ctx, y, 1.f, x, 0.5f); });
  m.push_back({"relu_backward", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {Tensor({n}, d), rnd({n}, 1, d), rnd({n}, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   relu_backward(ctx, t[0], t[1], t[2]);
                 };
                 c.bytes = 3 * f * double(n);
                 return c;
               }});
  m.push_back({"add", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {Tensor({n}, d), rnd({n}, 1, d), rnd({n}, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) { add(ctx, t[0], t[1], t[2]); };
                 c.bytes = 3 * f * double(n);
                 return c;
               }});
  m.push_back({"scale_inplace", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {rnd({n}, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   scale_inplace(ctx, t[0], 0.999f);
                 };
                 c.bytes = 2 * f * double(n);
                 return c;
               }});
  // Fused losses: read both inputs, write the gradient (the 1-element loss is negligible).
  m.push_back({"bce_with_logits", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s{n / 4, 4};
                 c.t = {Tensor({1}, d), Tensor(s, d), random_tensor(s, 1, -4.f, 4.f, d),
                        random_binary(s, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   bce_with_logits(ctx, t[0], t[1], t[2], t[3]);
                 };
                 c.out = 1;
                 c.bytes = 3 * f * double(n);
                 return c;
               }});
  auto loss =
      [&](const char* name,
          std::function<void(Context&, Tensor&, Tensor&, const Tensor&, const Tensor&)> op) {
        m.push_back({name, [op, f](Device d, int64_t n) {
                       KernelCase c;
                       c.t = {Tensor({1}, d), Tensor({n}, d), rnd({n}, 1, d), rnd({n}, 2, d)};
                       c.run = [op](Context& ctx, std::vector<Tensor>& t) {
                         op(ctx, t[0], t[1], t[2], t[3]);
                       };
                       c.out = 1;
                       c.bytes = 3 * f * double(n);
                       return c;
                     }});
      };
  loss("l1_loss", [](Context& ctx, Tensor& l, Tensor& da, const Tensor& a, const Tensor& b) {
    l1_loss(ctx, l, da, a, b);
  });
  loss("l2_loss", [](Context& ctx, Tensor& l, Tensor& da, const Tensor& a, const Tensor& b) {
    l2_loss(ctx, l, da, a, b);
  });
  // Per-sample scores over rows of 64 (the anomaly scores R and FM): read a and b.
  m.push_back({"l1_per_sample", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {Tensor({n / 64}, d), rnd({n / 64, 64}, 1, d), rnd({n / 64, 64}, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   l1_per_sample(ctx, t[0], t[1], t[2]);
                 };
                 c.bytes = 2 * f * double(n);
                 return c;
               }});
  m.push_back({"l2_per_sample_fwd_bwd", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s{n / 64, 64};
                 c.t = {Tensor(s, d), Tensor({n / 64}, d), rnd(s, 1, d), rnd(s, 2, d),
                        random_tensor({n / 64}, 3, 0.5f, 1.f, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   l2_per_sample(ctx, t[1], t[2], t[3]);
                   l2_per_sample_backward(ctx, t[0], t[4], t[2], t[3], t[1]);
                 };
                 c.bytes = 5 * f * double(n);  // forward reads a, b; backward reads a, b, writes da
                 return c;
               }});
  // Optimisers: p, buffers read and written, g read.
  m.push_back({"sgd_step", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {rnd({n}, 1, d), rnd({n}, 2, d), rnd({n}, 3, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   sgd_step(ctx, t[0], t[1], t[2], 2, 0.01f, 0.9f, 1e-4f);
                 };
                 c.bytes = 5 * f * double(n);
                 return c;
               }});
  m.push_back(
      {"adam_step", [f](Device d, int64_t n) {
         KernelCase c;
         c.t = {rnd({n}, 1, d), rnd({n}, 2, d), rnd({n}, 3, d), random_tensor({n}, 4, 0.f, 1.f, d)};
         c.run = [](Context& ctx, std::vector<Tensor>& t) {
           adam_step(ctx, t[0], t[1], t[2], t[3], 2, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.f, false);
         };
         c.bytes = 7 * f * double(n);
         return c;
       }});
  m.push_back({"ema_update", [f](Device d, int64_t n) {
                 KernelCase c;
                 c.t = {rnd({n}, 1, d), rnd({n}, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   ema_update(ctx, t[0], t[1], 0.999f);
                 };
                 c.bytes = 3 * f * double(n);
                 return c;
               }});
  // Nearest 2x upsampling of n input elements: read n, write 4n (backward: the reverse).
  m.push_back({"upsample_nearest_forward", [f](Device d, int64_t n) {
                 KernelCase c;
                 Shape s = image_shape(n), big = s;
                 big[2] *= 2;
                 big[3] *= 2;
                 c.t = {Tensor(big, d), rnd(s, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   upsample_nearest_forward(ctx, t[0], t[1]);
                 };
                 c.bytes = 5 * f * double(shape_numel(s));
                 return c;
               }});
  m.push_back({"upsample_nearest_backward", [f](Device d, int64_t n) {
                 KernelCase c;
                 Shape s = image_shape(n), big = s;
                 big[2] *= 2;
                 big[3] *= 2;
                 c.t = {Tensor(s, d), rnd(big, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   upsample_nearest_backward(ctx, t[0], t[1]);
                 };
                 c.bytes = 5 * f * double(shape_numel(s));
                 return c;
               }});
  // The FPN's top-down merge, lat + up2x(x) with x of n/4 elements: read lat (n) and x (n/4),
  // write n; backward: read dy (n) and the addend (n/4), write n/4.
  m.push_back({"upsample_nearest_add_forward", [f](Device d, int64_t n) {
                 KernelCase c;
                 Shape s = image_shape(n), small = s;
                 small[2] /= 2;
                 small[3] /= 2;
                 c.t = {Tensor(s, d), rnd(s, 1, d), rnd(small, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   upsample_nearest_add_forward(ctx, t[0], t[1], t[2]);
                 };
                 c.bytes = 2.25 * f * double(shape_numel(s));
                 return c;
               }});
  m.push_back({"upsample_nearest_add_backward", [f](Device d, int64_t n) {
                 KernelCase c;
                 Shape s = image_shape(n), small = s;
                 small[2] /= 2;
                 small[3] /= 2;
                 c.t = {Tensor(small, d), rnd(s, 1, d), rnd(small, 2, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   upsample_nearest_add_backward(ctx, t[0], t[1], t[2]);
                 };
                 c.bytes = 1.5 * f * double(shape_numel(s));
                 return c;
               }});
  // Max pooling 3x3 stride 2 pad 1 (the ResNet stem) of n elements: read n, write y and argmax
  // (n/4 each); backward: read dy and argmax (n/4 each), write n.
  m.push_back({"maxpool3x3s2_forward", [f](Device d, int64_t n) {
                 KernelCase c;
                 Shape s = image_shape(n), small = s;
                 small[2] /= 2;
                 small[3] /= 2;
                 c.t = {Tensor(small, d), Tensor(small, d), rnd(s, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   maxpool2d_forward(ctx, t[0], t[1], t[2], 3, 2, 1);
                 };
                 c.bytes = 1.5 * f * double(shape_numel(s));
                 return c;
               }});
  m.push_back(
      {"maxpool3x3s2_backward", [f](Device d, int64_t n) {
         KernelCase c;
         Shape s = image_shape(n), small = s;
         small[2] /= 2;
         small[3] /= 2;
         c.t = {Tensor(s, d), rnd(small, 1, d), Tensor(small, d), rnd(s, 2, d), Tensor(small, d)};
         Context ctx(d);
         maxpool2d_forward(ctx, c.t[4], c.t[2], c.t[3], 3, 2, 1);  // a real argmax
         c.run = [](Context& ctx, std::vector<Tensor>& t) {
           maxpool2d_backward(ctx, t[0], t[1], t[2], 3, 2, 1);
         };
         c.bytes = 1.5 * f * double(shape_numel(s));
         return c;
       }});
  // Global average pooling of n elements in (N, 64, 16, 16): read n, write N*64 (backward:
  // the reverse).
  m.push_back({"global_avgpool_forward", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 c.t = {Tensor({s[0], s[1]}, d), rnd(s, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   global_avgpool_forward(ctx, t[0], t[1]);
                 };
                 c.bytes = f * double(shape_numel(s));
                 return c;
               }});
  m.push_back({"global_avgpool_backward", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 c.t = {Tensor(s, d), rnd({s[0], s[1]}, 1, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   global_avgpool_backward(ctx, t[0], t[1]);
                 };
                 c.bytes = f * double(shape_numel(s));
                 return c;
               }});
  // Batch norm (training statistics) over (N, 64, 16, 16): forward reads x, writes y;
  // backward reads dy and x, writes dx.
  m.push_back({"batchnorm_forward_train", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 c.t = {Tensor(s, d),           rnd(s, 1, d),
                        Tensor({64}, d),        Tensor({64}, d),
                        Tensor::zeros({64}, d), random_tensor({64}, 2, 0.5f, 1.f, d),
                        rnd({64}, 3, d),        rnd({64}, 4, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   batchnorm2d_forward_train(ctx, t[0], t[2], t[3], t[4], t[5], t[1], t[6], t[7],
                                             1e-5f, 0.1f);
                 };
                 c.bytes = 2 * f * double(shape_numel(s));
                 return c;
               }});
  m.push_back({"batchnorm_backward", [f](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 c.t = {Tensor(s, d),
                        rnd(s, 1, d),
                        rnd(s, 2, d),
                        rnd({64}, 3, d),
                        random_tensor({64}, 4, 0.5f, 1.f, d),
                        Tensor::zeros({64}, d),
                        Tensor::zeros({64}, d),
                        rnd({64}, 5, d)};
                 c.run = [](Context& ctx, std::vector<Tensor>& t) {
                   batchnorm2d_backward(ctx, &t[0], &t[5], &t[6], t[2], t[1], t[7], t[3], t[4],
                                        1e-5f);
                 };
                 c.bytes = 3 * f * double(shape_numel(s));
                 return c;
               }});
  // fp32 NCHW -> bf16 NHWC and back (4 + 2 bytes per element each way).
  m.push_back({"nchw_to_nhwc_bf16", [](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 c.t = {Tensor(s, d, DType::BF16), rnd(s, 1, d)};
                 c.run = [s](Context& ctx, std::vector<Tensor>& t) {
                   nchw_to_nhwc_half(ctx, t[0], t[1], s[0], s[1], s[2] * s[3]);
                 };
                 c.bytes = 6.0 * double(shape_numel(s));
                 return c;
               }});
  m.push_back({"nhwc_bf16_to_nchw", [](Device d, int64_t n) {
                 KernelCase c;
                 const Shape s = image_shape(n);
                 Tensor h(s, Device::CPU, DType::BF16);
                 Context cpu;
                 nchw_to_nhwc_half(cpu, h, rnd(s, 1, Device::CPU), s[0], s[1], s[2] * s[3]);
                 c.t = {Tensor(s, d), h.to(d)};
                 c.run = [s](Context& ctx, std::vector<Tensor>& t) {
                   nhwc_half_to_nchw(ctx, t[0], t[1], s[0], s[1], s[2] * s[3]);
                 };
                 c.bytes = 6.0 * double(shape_numel(s));
                 return c;
               }});
  return m;
}

// Max |a - b| / (1 + |b|) over the elements.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  const std::vector<float> va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i)
    worst = std::max(worst, std::fabs(double(va[i]) - vb[i]) / (1.0 + std::fabs(double(vb[i]))));
  return worst;
}

void run_kernel(benchmark::State& state, const Maker& make, Device device, int64_t n) {
  Context ctx(device);
  KernelCase c = make(device, n);
  // Validate once: the CPU result must be finite; the CUDA result must match the CPU's.
  c.run(ctx, c.t);
  if (!all_finite(c.t[c.out])) {
    state.SkipWithError("non-finite output");
    return;
  }
  if (device == Device::CUDA) {
    Context cpu_ctx(Device::CPU);
    KernelCase ref = make(Device::CPU, n);
    ref.run(cpu_ctx, ref.t);
    const double diff = max_rel_diff(c.t[c.out], ref.t[ref.out]);
    if (diff > 1e-3) {
      state.SkipWithError(
          ("CUDA output differs from the CPU's by " + std::to_string(diff)).c_str());
      return;
    }
  }
  run_timed(state, ctx, [&] { c.run(ctx, c.t); });
  set_bytes_rate(state, c.bytes);
}

}  // namespace

void register_kernel_benchmarks(bool cuda) {
  for (const auto& [name, make] : makers()) {
    for (Device d : {Device::CPU, Device::CUDA}) {
      if (d == Device::CUDA && !cuda) continue;
      for (int64_t n : {int64_t(1) << 16, int64_t(1) << 22}) {
        const std::string full = "kernel/" + name + "/" + dev_tag(d) + "/n:" + std::to_string(n);
        add(full, d, [make = make, d, n](benchmark::State& s) {
          run_kernel(s, make, d, n);
        })->Unit(benchmark::kMicrosecond);
      }
    }
  }
}

}  // namespace gbad::bench
