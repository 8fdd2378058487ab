// Whole classifier steps. Counters: img/s, and FLOP/s from the model's own MAC count
// (Classifier::summary): 2 x MACs per image for inference, 3 x that for a training step
// (forward + data and filter gradients; nominal, the stem's data gradient is never computed).
//   train: forward (batch statistics), BCE-with-logits, zero_grad, backward, SGD momentum.
//   infer: eval-mode forward (running statistics).
// CPU: the demo model (resnet18-fpn, width 16, FPN 64, head 64, 96x96) at batch 32, 8 and 2
// (CI-sized), and resnet34-fpn at 224 (full width) at batch 8; InceptionV3 / DenseNet-121 at
// width 16 (FPN 64, head 64; 139 and 96 pixels) at batch 8, -fpn and -plain. CUDA:
// resnet34/50/101-fpn at 224, batch 32, the demo model, and full-size inceptionv3 (299, with
// the auxiliary head, loss weight 0.4) and densenet121 (224), -fpn and -plain, batch 32. Same
// models and shapes as tools/bench_pytorch.py.
#include <memory>

#include "bench/bench_common.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "models/classifier.h"
#include "models/inception.h"
#include "nn/loss_scaler.h"
#include "nn/optim.h"

namespace gbad::bench {
namespace {

struct ModelSpec {
  std::string label;  // in the benchmark name
  std::string arch;
  ClassifierOptions opt;
  int64_t size = 224;
  int64_t batch = 32;
};

ModelSpec demo(int64_t batch) {
  ModelSpec m{"demo-resnet18-fpn-w16", "resnet18-fpn", {}, 96, batch};
  m.opt.width = 16;
  m.opt.fpn_channels = 64;
  m.opt.head_dim = 64;
  return m;
}

ModelSpec full(const char* arch, int64_t batch) {
  return {arch, arch, {}, default_input_size(arch), batch};
}

// InceptionV3 / DenseNet-121 at width 16 (DenseNet growth 8), FPN 64, head 64.
ModelSpec reduced(const std::string& arch, int64_t size, int64_t batch) {
  ModelSpec m{arch + "-w16", arch, {}, size, batch};
  m.opt.width = 16;
  m.opt.fpn_channels = 64;
  m.opt.head_dim = 64;
  return m;
}

// Everything one benchmark needs, built once and kept while that benchmark runs (Google
// Benchmark calls the function several times while it sizes the iteration count).
Context& with_bench_precision(Context& ctx) {
  ctx.set_precision(bench_precision(ctx));
  return ctx;
}

struct ModelRun {
  explicit ModelRun(const ModelSpec& m, Device d)
      : ctx(d, 1),
        model(m.arch, m.opt, d, 1),
        sgd(model.param_store(), SgdConfig{}),
        x(random_tensor({m.batch, 3, m.size, m.size}, 11, -2.f, 2.f, d)),
        targets(random_binary({m.batch, m.opt.num_classes}, 12, d)),
        loss({1}, d),
        dlogits({m.batch, m.opt.num_classes}, d) {
    mp.store_input(ctx, x);  // the input batch in half (fp16/bf16)
    // InceptionV3's auxiliary classifier trains when the input allows (>= 299), weight 0.4.
    if (model.has_aux() && m.size >= InceptionV3::kMinAuxInput) model.set_aux_enabled(true);
    int64_t macs = 0;
    for (const auto& r : model.summary(1, m.size, m.size))
      if (!r.training_only) macs += r.macs;  // inference MACs (the aux head adds ~0.1 %)
    macs_per_image = double(macs);
  }
  // gbad-train-cnn's step, with its mixed-precision calls (no-ops at fp32).
  void train_step() {
    const Tensor& logits = model.forward(ctx, x, true);
    bce_with_logits(ctx, loss, dlogits, logits, targets);
    mp.scale_loss_grad(ctx, dlogits);
    const Tensor& aux = model.aux_logits();
    if (!aux.empty()) {
      daux.resize(aux.shape(), aux.device());
      bce_with_logits(ctx, aux_loss, daux, aux, targets);
      scale_inplace(ctx, daux, 0.4f);
      mp.scale_loss_grad(ctx, daux);
    }
    model.param_store().zero_grad();
    model.backward(ctx, dlogits, aux.empty() ? nullptr : &daux);
    mp.unscale_grads(ctx);
    sgd.step(ctx, mp.skip_state());
    mp.end_step(ctx);
  }
  const Tensor& infer() { return model.forward(ctx, x, false); }

  Context ctx;
  Classifier model;
  Sgd sgd;
  MixedPrecision mp{with_bench_precision(ctx), model.param_store()};
  Tensor x, targets, loss, dlogits, aux_loss{{1}, ctx.device()}, daux;
  double macs_per_image = 0;
};

// One slot: the last benchmark's setup, freed when another benchmark starts.
std::shared_ptr<ModelRun> cached_run(const std::string& key, const ModelSpec& m, Device d,
                                     bool* fresh) {
  static std::string slot_key;
  static std::shared_ptr<ModelRun> slot;
  *fresh = slot_key != key;
  if (*fresh) {
    slot.reset();
    slot = std::make_shared<ModelRun>(m, d);
    slot_key = key;
  }
  return slot;
}

void run_model(benchmark::State& state, const std::string& key, const ModelSpec& m, Device d,
               bool train) {
  bool fresh = false;
  std::shared_ptr<ModelRun> run = cached_run(key, m, d, &fresh);
  if (fresh) {
    // Warm-up (workspaces, cuDNN algorithm choice) and a validity check of the outputs.
    if (train) {
      run->train_step();
      if (!all_finite(run->loss) || !all_finite(run->model.forward(run->ctx, run->x, true))) {
        state.SkipWithError("non-finite loss or logits after a training step");
        return;
      }
    } else if (!all_finite(run->infer())) {
      state.SkipWithError("non-finite logits");
      return;
    }
  }
  const int warmup = d == Device::CUDA && fresh ? 2 : 0;
  if (train) {
    run_timed(
        state, run->ctx, [&] { run->train_step(); }, warmup);
  } else {
    run_timed(
        state, run->ctx, [&] { run->infer(); }, warmup);
  }
  set_items_rate(state, "img/s", double(m.batch));
  set_flops_rate(state, 2.0 * run->macs_per_image * double(m.batch) * (train ? 3.0 : 1.0));
}

void add_model(const ModelSpec& m, Device d) {
  for (bool train : {true, false}) {
    const std::string name = std::string("model/") + (train ? "train" : "infer") + "/" +
                             dev_tag(d) + "/" + m.label + "/" + std::to_string(m.size) +
                             "px/n:" + std::to_string(m.batch) +
                             (precision_option() == "fp32" ? "" : "/" + precision_option());
    add(name, d, [name, m, d, train](benchmark::State& s) { run_model(s, name, m, d, train); });
  }
}

}  // namespace

void register_model_benchmarks(bool cuda) {
  for (int64_t b : {2, 8, 32}) add_model(demo(b), Device::CPU);
  add_model(full("resnet34-fpn", 8), Device::CPU);
  for (const char* head : {"-fpn", "-plain"}) {
    add_model(reduced(std::string("inceptionv3") + head, 139, 8), Device::CPU);
    add_model(reduced(std::string("densenet121") + head, 96, 8), Device::CPU);
  }
  if (!cuda) return;
  for (const char* arch :
       {"inceptionv3-fpn", "inceptionv3-plain", "densenet121-fpn", "densenet121-plain"})
    add_model(full(arch, 32), Device::CUDA);
  add_model(demo(32), Device::CUDA);
  for (const char* arch : {"resnet34-fpn", "resnet50-fpn", "resnet101-fpn"}) {
    add_model(full(arch, 8), Device::CUDA);
    add_model(full(arch, 32), Device::CUDA);
  }
}

}  // namespace gbad::bench
