// The fast training path's machinery on a GPU (issue 12), fp32:
//   fastpath/step/<model>/eager|graph    one training step (forward, BCE, backward, SGD with
//                                      momentum) run eagerly, or replayed from a CUDA graph
//                                      captured once (core/cuda_graph.h); CUDA-event time
//   fastpath/input/<model>/sync|async    4 batches through data/stager.h and the training step:
//                                      cudaMemcpy before each step, or page-locked staging and a
//                                      copy stream overlapping the step; wall time of 4
// Models: the demo model (resnet18-fpn width 16, 96 px, batch 32: small kernels, where launch
// overhead counts) and resnet34-fpn at 224 px, batch 32. CUDA only (nothing to measure on the
// CPU: graphs and copies do not exist there). Not under "/cuda/", so scripts/gpu-check.sh runs
// them in a stage of their own (7b) rather than in the 20 s of its stage 5.
#include <memory>
#include <string>

#include "bench/bench_common.h"
#include "core/cuda_graph.h"
#include "data/stager.h"
#include "kernels/loss.h"
#include "models/classifier.h"
#include "nn/optim.h"

namespace gbad::bench {
namespace {

struct StepModel {
  std::string label, arch;
  ClassifierOptions opt;
  int64_t size, batch;
};

StepModel demo_model() {
  StepModel m{"demo-resnet18-fpn-w16", "resnet18-fpn", {}, 96, 32};
  m.opt.width = 16;
  m.opt.fpn_channels = 64;
  m.opt.head_dim = 64;
  return m;
}

StepModel resnet34() {
  return {"resnet34-fpn", "resnet34-fpn", {}, 224, 32};
}

// A model, its optimiser and one batch's device tensors, on a context with its own stream.
struct StepRun {
  explicit StepRun(const StepModel& m)
      : ctx(Device::CUDA, 1),
        // (the own stream, before the model or anything else makes the cuBLAS/cuDNN handles)
        model((ctx.use_own_stream(), m.arch), m.opt, Device::CUDA, 1),
        sgd(model.param_store(), SgdConfig{}),
        x(random_tensor({m.batch, 3, m.size, m.size}, 1, -2.f, 2.f, Device::CUDA)),
        y(random_binary({m.batch, 5}, 2, Device::CUDA)),
        loss({1}, Device::CUDA) {
    model.set_training(true);
  }
  void step(const Tensor& in, const Tensor& target) {
    model.param_store().zero_grad();
    const Tensor& z = model.forward(ctx, in, true);
    bce_with_logits(ctx, loss, dlogits, z, target);
    model.backward(ctx, dlogits);
    sgd.step(ctx);
  }
  Context ctx;
  Classifier model;
  Sgd sgd;
  Tensor x, y, loss, dlogits;
};

void bench_step(benchmark::State& state, const StepModel& m, bool graph) {
  StepRun run(m);
  TensorStreamScope on(run.ctx.stream());
  for (int i = 0; i < 2; ++i) run.step(run.x, run.y);  // warm-up: allocations, algorithms
  CudaGraph g;
  if (graph) {
    g.begin_capture(run.ctx.stream());
    try {
      run.step(run.x, run.y);
    } catch (const std::exception& e) {
      g.abort(e.what());
    }
    if (!g.capturing() || !g.end_capture()) {
      state.SkipWithError(("the step could not be captured: " + g.reason()).c_str());
      return;
    }
  }
  run_timed(
      state, run.ctx,
      [&] {
        if (graph)
          g.launch(run.ctx.stream());
        else
          run.step(run.x, run.y);
      },
      2);
  set_items_rate(state, "img/s", double(m.batch));
}

// 4 host batches through the stager and the step per iteration; the device drained at the end.
void bench_input(benchmark::State& state, const StepModel& m, bool async) {
  StepRun run(m);
  TensorStreamScope on(run.ctx.stream());
  constexpr int kBatches = 4;
  std::vector<Batch> host(2);
  for (size_t i = 0; i < host.size(); ++i) {
    host[i].images = random_tensor({m.batch, 3, m.size, m.size}, 10 + i, -2.f, 2.f);
    host[i].labels = random_binary({m.batch, 5}, 20 + i);
    host[i].mask = Tensor({m.batch, 5});
    host[i].mask.fill(1.f);
    host[i].stems.assign(static_cast<size_t>(m.batch), "x");
    host[i].indices.assign(static_cast<size_t>(m.batch), 0);
  }
  BatchStager st(run.ctx, async ? BatchStager::Mode::Async : BatchStager::Mode::Sync);
  auto loop = [&] {
    int staged = 0;
    while (st.can_stage() && staged < kBatches) st.stage(host[size_t(staged++ % 2)]);
    while (!st.empty()) {
      const DeviceBatch& b = st.front();
      run.step(b.images, b.labels);
      st.release();
      if (staged < kBatches) st.stage(host[size_t(staged++ % 2)]);
    }
    run.ctx.synchronize();
  };
  loop();  // warm-up
  for (auto _ : state) loop();
  set_items_rate(state, "img/s", double(m.batch * kBatches));
}

}  // namespace

void register_step_benchmarks(bool cuda) {
  if (!cuda) return;
  for (const StepModel& m : {demo_model(), resnet34()}) {
    const std::string tail =
        "/" + m.label + "/" + std::to_string(m.size) + "px/n:" + std::to_string(m.batch);
    for (bool graph : {false, true})
      add("fastpath/step" + tail + (graph ? "/graph" : "/eager"), Device::CUDA,
          [m, graph](benchmark::State& s) { bench_step(s, m, graph); });
    for (bool async : {false, true})
      benchmark::RegisterBenchmark(("fastpath/input" + tail + (async ? "/async" : "/sync")).c_str(),
                                   [m, async](benchmark::State& s) { bench_input(s, m, async); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace gbad::bench
