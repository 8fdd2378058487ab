#include "train/pipeline.h"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <filesystem>

#include <cmath>
#include <cstdio>
#include <exception>
#include <sstream>

#include "core/nvtx.h"
#include "data/stager.h"
#include "io/checkpoint.h"
#include "io/io.h"
#include "io/safetensors.h"
#include "kernels/amp.h"
#include "nn/loss_scaler.h"
#include "train/progress.h"

namespace gbad {

void remove_stale_temp_files(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    auto pos = name.rfind(".tmp.");
    if (pos == std::string::npos || pos + 5 >= name.size()) continue;
    const std::string pid = name.substr(pos + 5);
    // At most 9 digits: any pid_t, and no overflow.
    if (pid.size() > 9 || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    // Left by a writer that was killed (its process is gone): never a file anyone reads.
    if (::kill(static_cast<pid_t>(std::strtol(pid.c_str(), nullptr, 10)), 0) != 0 &&
        errno == ESRCH) {
      std::filesystem::remove(e.path(), ec);
      std::printf("removed %s, left by an interrupted write\n", e.path().c_str());
    }
  }
}

bool check_resume(const Cli& cli, const std::string& out, const std::string& phase,
                  const std::vector<std::string>& keys) {
  const bool resume = cli.get_flag("resume");
  if (resume) {
    RunConfig prev(out, phase);
    remove_stale_temp_files(out);
    for (const std::string& k : keys)
      GBAD_CHECK(prev.option(k) == cli.get(k), "--resume: option --", k, " was '", prev.option(k),
                 "' in ", out, "/config.json but is '", cli.get(k), "' now");
  } else {
    GBAD_CHECK(!file_exists(out + "/checkpoint.safetensors"), out,
               " already holds a run; use --resume to continue it or choose another --out");
  }
  return resume;
}

namespace {

// An integer option of a run directory's config.json (edited by hand, perhaps): parsed in full
// and bounded, else an error naming the directory and the option.
int64_t run_option_int(const RunConfig& run, const std::string& name, int64_t lo, int64_t hi) {
  const std::string v = run.option(name);
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v.c_str(), &end, 10);
  GBAD_CHECK(!v.empty() && errno == 0 && end == v.c_str() + v.size() && x >= lo && x <= hi,
             run.dir(), "/config.json: option '", name, "' is '", v, "', expected an integer in [",
             lo, ", ", hi, "]");
  return x;
}

}  // namespace

CnnRun load_cnn_run(const std::string& dir, Device device) {
  CnnRun r;
  r.run = std::make_unique<RunConfig>(dir, "train-cnn");
  ClassifierOptions opt;
  opt.width = run_option_int(*r.run, "width", 1, 4096);
  opt.fpn_channels = run_option_int(*r.run, "fpn-channels", 1, 65536);
  opt.head_dim = run_option_int(*r.run, "head-dim", 1, 65536);
  opt.num_classes = kNumClasses;
  r.image_size = static_cast<int>(run_option_int(*r.run, "test-size", 1, kMaxImageSide));
  const std::string arch = r.run->option("arch");
  const std::string model_path = r.run->file("model.safetensors");
  {
    // The sizes come from a file (edited by hand, perhaps): before a model of them is
    // allocated, it must be of the order of model.safetensors' size. A near miss (another
    // architecture of similar size) is left to Classifier::load, which names both.
    Classifier shapes(arch, opt, Device::CPU, 0, /*allocate=*/false);
    const ParamStore& ps = shapes.param_store();
    const double need = 4.0 * double(ps.num_params());
    const double have = double(std::filesystem::file_size(model_path));
    GBAD_CHECK(need <= 2 * have + double(16 << 20), dir, "/config.json declares a ", arch, " of ",
               need, " bytes of weights, far more than ", model_path, " holds (", have, " bytes)");
  }
  const auto meta = read_metadata(model_path);
  if (meta.count("transform_input")) opt.transform_input = meta.at("transform_input") == "1";
  r.model = std::make_unique<Classifier>(arch, opt, device, 0);
  r.model->load(model_path);
  r.data = r.run->option("data");
  r.subset = r.run->option("subset");
  return r;
}

LoaderConfig eval_loader_config(int image_size, int batch, int workers) {
  LoaderConfig c;
  c.batch = batch;
  c.workers = workers;
  c.train_aug = false;
  c.resize = image_size;
  c.crop = image_size;
  c.flip = false;
  c.drop_last = false;
  return c;
}

Tensor extract_features(Context& ctx, Classifier& model, const std::vector<Sample>& samples,
                        const LoaderConfig& cfg, const std::string& label) {
  const int64_t n = static_cast<int64_t>(samples.size());
  const int64_t d = model.feature_dim();
  Tensor out({n, d}, Device::CPU);
  if (n == 0) return out;
  model.set_training(false);
  // fp16/bf16: the forward reads half copies of the weights (refreshed here, after loading).
  if (stores_half(ctx.precision())) {
    model.param_store().enable_compute_copy();
    refresh_compute_copy(ctx, model.param_store());
  }
  Loader loader(samples, cfg);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  loader.start_epoch(0, order);
  Progress progress(label, n, "img");
  Batch b;
  // Double-buffered device batches (data/stager.h): the next batch is copied while this one's
  // forward runs.
  BatchStager stager(ctx, BatchStager::Mode::Async);
  auto stage_next = [&] {
    while (stager.can_stage()) {
      {
        GBAD_NVTX_RANGE("data wait");
        if (!loader.next(b)) return;
      }
      amp_store(ctx, b.images);  // the input batch in half (fp16/bf16)
      GBAD_NVTX_RANGE("h2d copy");
      stager.stage(b);
    }
  };
  int64_t done = 0;
  stage_next();
  while (!stager.empty()) {
    const DeviceBatch& db = stager.front();
    const Tensor& f = model.features(ctx, db.images);
    const std::vector<int64_t> indices = db.indices;
    stager.release();
    stage_next();  // copied while the forward above runs
    // Rows of this batch go to their sample indices (the loader keeps order, but be exact).
    std::vector<float> host = f.to_vector();
    for (size_t i = 0; i < indices.size(); ++i) {
      const int64_t row = indices[i];
      std::copy(host.begin() + static_cast<int64_t>(i) * d,
                host.begin() + static_cast<int64_t>(i + 1) * d, out.f32() + row * d);
    }
    done += static_cast<int64_t>(indices.size());
    progress.update(done);
  }
  progress.finish();
  return out;
}

AnomalyScores anomaly_scores(Context& ctx, BiGan& bigan, const Tensor& features, int64_t batch) {
  PrecisionScope fp32(ctx, Precision::Fp32);  // the Bi-GAN stays fp32 (README "Mixed precision")
  AnomalyScores s;
  const int64_t n = features.size(0), d = features.size(1);
  s.r.resize(static_cast<size_t>(n));
  s.fm.resize(static_cast<size_t>(n));
  Tensor xb, r, fm;
  for (int64_t i = 0; i < n; i += batch) {
    int64_t m = std::min(batch, n - i);
    Tensor rows = features.slice0(i, i + m);
    xb.resize({m, d}, ctx.device());
    xb.copy_from(rows);
    bigan.scores(ctx, xb, r, fm);
    std::vector<float> rv = r.to_vector(), fv = fm.to_vector();
    std::copy(rv.begin(), rv.end(), s.r.begin() + i);
    std::copy(fv.begin(), fv.end(), s.fm.begin() + i);
  }
  return s;
}

std::vector<float> svm_rows(const AnomalyScores& s, bool log_scores) {
  std::vector<float> x(s.r.size() * 2);
  auto f = [&](float v) { return log_scores ? std::log(std::max(v, 0.f) + 1e-6f) : v; };
  for (size_t i = 0; i < s.r.size(); ++i) {
    x[2 * i] = f(s.r[i]);
    x[2 * i + 1] = f(s.fm[i]);
  }
  return x;
}

Svm load_svm_run(const RunConfig& svm_run) {
  const std::string st = svm_run.dir() + "/svm.safetensors";
  return Svm::load(file_exists(st) ? st : svm_run.file("svm.model"));
}

bool svm_uses_log_scores(const RunConfig& svm_run) {
  return svm_run.option_or("log-scores", "0") != "0";
}

void apply_gate(std::vector<std::array<float, kNumClasses>>& scores,
                const std::vector<int>& anomalous, float epsilon) {
  GBAD_CHECK(scores.size() == anomalous.size(), "gate: ", scores.size(), " score rows but ",
             anomalous.size(), " anomaly decisions");
  for (size_t i = 0; i < scores.size(); ++i)
    if (anomalous[i] <= 0)
      for (float& v : scores[i]) v *= epsilon;
}

std::vector<std::array<float, kNumClasses>> confidences(const Tensor& features) {
  GBAD_CHECK(features.ndim() == 2 && features.size(1) >= kNumClasses, "confidences: features ",
             features.str(), " have fewer than ", kNumClasses, " columns");
  const int64_t n = features.size(0), d = features.size(1);
  std::vector<float> h = features.to_vector();
  std::vector<std::array<float, kNumClasses>> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < kNumClasses; ++k)
      out[static_cast<size_t>(i)][k] = h[static_cast<size_t>(i * d + d - kNumClasses + k)];
  return out;
}

void save_features(const std::string& path, const Tensor& features,
                   const std::vector<std::string>& stems) {
  GBAD_CHECK(features.size(0) == static_cast<int64_t>(stems.size()),
             "save_features: ", features.size(0), " rows, ", stems.size(), " names");
  SafeTensorsWriter w;
  w.add("features", features);
  std::string joined;
  for (size_t i = 0; i < stems.size(); ++i) joined += (i ? "," : "") + stems[i];
  w.set_metadata("format", "gbad-features");
  w.set_metadata("stems", joined);
  w.write(path);
}

Tensor load_features(const std::string& path, std::vector<std::string>* stems) {
  SafeTensorsFile f = SafeTensorsFile::open(path);
  auto it = f.metadata().find("format");
  GBAD_CHECK(it != f.metadata().end() && it->second == "gbad-features", path,
             " is not a gbad features file");
  Tensor t = f.read_tensor("features", Device::CPU);
  if (stems) {
    stems->clear();
    auto s = f.metadata().find("stems");
    GBAD_CHECK(s != f.metadata().end(), path, " has no stems");
    std::stringstream ss(s->second);
    std::string item;
    while (std::getline(ss, item, ',')) stems->push_back(item);
    GBAD_CHECK(static_cast<int64_t>(stems->size()) == t.size(0), path, ": ", stems->size(),
               " stems for ", t.size(0), " feature rows");
  }
  return t;
}

}  // namespace gbad
