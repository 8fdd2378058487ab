// The pipeline's other stages: a Bi-GAN training step and the anomaly scoring of features
// (samples/s), SVM training and prediction (items/s), and the data loader (img/s: decode,
// resize, crop, flip and normalise of synthetic SIXray-like JPEGs, whole epochs; and the same
// from a pack, gbad-pack's pre-resized images).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>

#include "bench/bench_common.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/pack.h"
#include "data/sixray.h"
#include "data/synth.h"
#include "models/bigan.h"
#include "models/svm.h"

namespace gbad::bench {
namespace {

// The demo classifier's feature size: head_dim 64 + 5 confidences.
constexpr int64_t kFeatureDim = 69;

void run_bigan_step(benchmark::State& state, Device d, int64_t batch) {
  Context ctx(d, 1);
  BiGanConfig cfg;
  cfg.x_dim = kFeatureDim;
  BiGan gan(cfg, d);
  Tensor x = random_tensor({batch, kFeatureDim}, 5, -1.f, 1.f, d);
  const BiGanLosses l = gan.train_step(ctx, x);
  if (!std::isfinite(l.loss_d) || !std::isfinite(l.loss_g)) {
    state.SkipWithError("non-finite Bi-GAN losses");
    return;
  }
  run_timed(
      state, ctx, [&] { gan.train_step(ctx, x); }, d == Device::CUDA ? 2 : 0);
  set_items_rate(state, "samples/s", double(batch));
}

void run_bigan_scores(benchmark::State& state, Device d, int64_t n) {
  Context ctx(d, 1);
  BiGanConfig cfg;
  cfg.x_dim = kFeatureDim;
  BiGan gan(cfg, d);
  Tensor x = random_tensor({n, kFeatureDim}, 6, -1.f, 1.f, d), r, fm;
  gan.scores(ctx, x, r, fm);
  if (!all_finite(r) || !all_finite(fm)) {
    state.SkipWithError("non-finite scores");
    return;
  }
  run_timed(
      state, ctx, [&] { gan.scores(ctx, x, r, fm); }, d == Device::CUDA ? 2 : 0);
  set_items_rate(state, "samples/s", double(n));
}

// Two overlapping Gaussian blobs in 2-D (the [R, FM] rows of the pipeline), labels +1 / -1.
void svm_data(int64_t n, std::vector<float>& x, std::vector<int>& y) {
  Rng rng(7);
  x.resize(size_t(2 * n));
  y.resize(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const bool pos = i % 4 == 0;
    y[size_t(i)] = pos ? 1 : -1;
    x[size_t(2 * i)] = rng.normal() + (pos ? 1.5f : 0.f);
    x[size_t(2 * i + 1)] = rng.normal() + (pos ? 1.0f : 0.f);
  }
}

SvmConfig svm_config() {
  SvmConfig c;
  c.class_weight = SvmClassWeight::Balanced;
  return c;
}

void run_svm_train(benchmark::State& state, int64_t n) {
  std::vector<float> x;
  std::vector<int> y;
  svm_data(n, x, y);
  for (auto _ : state) {
    Svm svm(svm_config());
    svm.train(x, 2, y);
    benchmark::DoNotOptimize(svm.num_support_vectors());
  }
  set_items_rate(state, "items/s", double(n));
}

void run_svm_predict(benchmark::State& state, int64_t n) {
  std::vector<float> x, xt;
  std::vector<int> y, yt;
  svm_data(2000, x, y);
  svm_data(n, xt, yt);
  Svm svm(svm_config());
  svm.train(x, 2, y);
  for (auto _ : state) benchmark::DoNotOptimize(svm.decision_values(xt, 2));
  set_items_rate(state, "items/s", double(n));
}

// The synthetic generator's cost per image: scene, dual-energy rendering and JPEG encoding of
// one default scan (a new scene every iteration, positives and negatives alternating).
void run_synth_scan(benchmark::State& state, int size) {
  const std::array<int8_t, kNumClasses> pos{1, -1, -1, 1, -1}, neg{-1, -1, -1, -1, -1};
  uint64_t id = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    Image img = render_scan(1, id, id % 2 ? pos : neg, size, size, 0.5);
    bytes += int64_t(encode_jpeg(img, 90).size());
    ++id;
  }
  if (bytes == 0) state.SkipWithError("no JPEG bytes written");
  state.counters["img/s"] = benchmark::Counter(double(id), benchmark::Counter::kIsRate);
}

double process_cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// A small synthetic dataset in a temporary directory (scans of `size` pixels), generated once
// per process and removed at exit; with a pack of its training split per side on demand.
struct SynthData {
  std::filesystem::path root;
  std::vector<Sample> samples;
  explicit SynthData(int size, int positives) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gbad-bench-XXXXXX").string();
    GBAD_CHECK(::mkdtemp(tmpl.data()) != nullptr,
               "gbad-bench: cannot create a temporary directory");
    root = tmpl;
    SynthConfig cfg;
    cfg.out = root.string();
    cfg.positives = positives;
    cfg.ratios = {3};
    cfg.size = size;
    cfg.test_fraction = 0.25;
    generate_synthetic_dataset(cfg);
    samples = load_split(index_images(root.string()), "3", "train", false);
  }
  std::string pack(int side) {
    const std::string path = (root / ("train-" + std::to_string(side) + ".pack")).string();
    if (!std::filesystem::exists(path))
      write_pack(path, samples, side, (root / "ImageSet" / "3" / "train.csv").string(), 2);
    return path;
  }
  ~SynthData() {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
};

SynthData& synth_data(int size) {
  static SynthData small(160, 16);  // the demo's scale
  static std::unique_ptr<SynthData> large;
  if (size == 160) return small;
  GBAD_CHECK(size == 768, "synth_data: no dataset of ", size, " px");
  if (!large) large = std::make_unique<SynthData>(768, 8);  // SIXray-like scans
  return *large;
}

// Whole training epochs (resize, random crop and flip, normalise) of the synthetic scans of
// `size` px, decoding the JPEGs or reading a pack of the same images at `resize`.
void run_loader(benchmark::State& state, int size, int resize, int crop, int workers, bool pack) {
  SynthData& data = synth_data(size);
  LoaderConfig cfg;
  cfg.batch = 16;
  cfg.workers = workers;
  cfg.train_aug = true;
  cfg.resize = resize;
  cfg.crop = crop;
  if (pack) cfg.pack = data.pack(resize);
  Loader loader(data.samples, cfg);
  std::vector<int64_t> order(data.samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  int64_t epoch = 0, images = 0;
  Batch b;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    loader.start_epoch(epoch++, order);
    while (loader.next(b)) images += b.size();
  }
  state.counters["img/s"] = benchmark::Counter(double(images), benchmark::Counter::kIsRate);
  // Per core: CPU time of the whole process (the workers), robust to a loaded machine.
  state.counters["img/cpu_s"] = double(images) / std::max(1e-9, process_cpu_seconds() - cpu0);
}

}  // namespace

void register_pipeline_benchmarks(bool cuda) {
  for (Device d : {Device::CPU, Device::CUDA}) {
    if (d == Device::CUDA && !cuda) continue;
    const std::string tag = dev_tag(d);
    add("bigan/train_step/" + tag + "/n:50", d, [d](benchmark::State& s) {
      run_bigan_step(s, d, 50);
    })->Unit(benchmark::kMicrosecond);
    add("bigan/scores/" + tag + "/n:4096", d, [d](benchmark::State& s) {
      run_bigan_scores(s, d, 4096);
    })->Unit(benchmark::kMicrosecond);
  }
  for (int64_t n : {500, 2000})
    add("svm/train/cpu/n:" + std::to_string(n), Device::CPU,
        [n](benchmark::State& s) { run_svm_train(s, n); });
  add("svm/predict/cpu/n:100000", Device::CPU,
      [](benchmark::State& s) { run_svm_predict(s, 100000); });
  for (int size : {128, 256})
    add("synth/scan/cpu/" + std::to_string(size) + "px", Device::CPU, [size](benchmark::State& s) {
      run_synth_scan(s, size);
    })->Unit(benchmark::kMillisecond);
  for (int w : {1, 2})
    add("loader/cpu/96px/workers:" + std::to_string(w), Device::CPU,
        [w](benchmark::State& s) { run_loader(s, 160, 110, 96, w, false); });
  // JPEG decode + resize against a pack (gbad-pack), one worker: images/s per core.
  add("loader/cpu/96px/pack/workers:1", Device::CPU,
      [](benchmark::State& s) { run_loader(s, 160, 110, 96, 1, true); });
  add("loader/cpu/768px-224/jpeg/workers:1", Device::CPU,
      [](benchmark::State& s) { run_loader(s, 768, 256, 224, 1, false); });
  add("loader/cpu/768px-224/pack/workers:1", Device::CPU,
      [](benchmark::State& s) { run_loader(s, 768, 256, 224, 1, true); });
}

}  // namespace gbad::bench
