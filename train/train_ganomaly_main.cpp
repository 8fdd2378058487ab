// gbad-train-ganomaly: the image-space GAN anomaly detectors of the paper's Table 4,
// GANomaly and Skip-GANomaly (models/ganomaly.h). Trains on negative training images only,
// resized to --image-size and scaled to [-1, 1], then scores the evaluation split and writes
// the scores min-max normalised over that split as a scores CSV that gbad-eval --scores reads.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "data/image.h"
#include "data/sampler.h"
#include "eval/scores_csv.h"
#include "io/checkpoint.h"
#include "io/json.h"
#include "models/ganomaly.h"
#include "train/pipeline.h"
#include "train/progress.h"

using namespace gbad;

namespace {

const std::vector<std::string> kResumeKeys = {
    "data", "subset", "variant", "image-size", "nz", "ngf", "ndf", "batch", "seed", "negatives"};

// Loader output ((v/255 - mean) / std per channel) -> 2 v/255 - 1 in [-1, 1], in place.
void to_minus_one_one(Tensor& images) {
  const int64_t n = images.n(), hw = images.h() * images.w();
  float* p = images.f32();
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < 3; ++c) {
      float* q = p + (i * 3 + c) * hw;
      for (int64_t j = 0; j < hw; ++j)
        q[j] = 2.f * (q[j] * kImageNetStd[c] + kImageNetMean[c]) - 1.f;
    }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

const char* kSummary =
    "Table 4 baselines: GANomaly (--variant ganomaly) or Skip-GANomaly (--variant skip),\n"
    "trained on negative training images only (resized to --image-size, scaled to\n"
    "[-1, 1]); then every image of --eval-split is scored (GANomaly: mean squared latent\n"
    "difference; Skip-GANomaly: 0.9 x image MSE + 0.1 x discriminator-feature MSE) and\n"
    "the scores, min-max normalised over that split, are written to\n"
    "OUT/eval<SUBSET>/scores.csv (the same value in all five class columns) for\n"
    "gbad-eval --scores, with raw_scores.csv and method.json (parameters, training\n"
    "seconds; read by gbad-report) beside it. Also writes OUT/model.safetensors,\n"
    "OUT/checkpoint.safetensors (for --resume), config.json, command.txt, versions.json\n"
    "and metrics.jsonl.";

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("data", "", "SIXray root (JPEGImage/ anywhere below, ImageSet/<subset>/)", true)
      .option("subset", "100", "ImageSet subset: 10, 100, 1000 (or another folder name)")
      .option("out", "", "run directory to write", true)
      .option("variant", "ganomaly", "ganomaly or skip (Skip-GANomaly)")
      .option("image-size", "32", "input size: 32, 64 or 128 (a power of two; skip: >= 32)")
      .option("nz", "100", "GANomaly latent size")
      .option("ngf", "64", "generator base channels")
      .option("ndf", "64", "discriminator base channels")
      .option("negatives", "0", "random negative training images to train on (0 = all)")
      .option("epochs", "15", "training epochs")
      .option("batch", "64", "batch size")
      .option("lr", "2e-4", "Adam learning rate (G and D)")
      .option("beta1", "0.5", "Adam beta1")
      .option("w-adv", "1", "weight of the adversarial term of G's loss")
      .option("w-con", "50", "weight of the L1 reconstruction term of G's loss")
      .option("w-lat", "1", "weight of the latent (GANomaly) / feature (Skip) L2 term")
      .option("eval-split", "test", "split CSV to score after training")
      .option("eval-subsets", "",
              "subsets whose --eval-split to score, comma-separated (default: "
              "--subset); each gets OUT/eval<S>/")
      .option("workers", "4", "image decoding threads")
      .option("max-steps-per-epoch", "0", "stop each epoch after this many steps (0 = all)")
      .option("log-every", "10", "metrics.jsonl line every N steps")
      .flag("skip-missing", "skip CSV rows whose image is missing (default: stop with an error)")
      .flag("resume", "continue an interrupted run in --out from its last epoch checkpoint");
  if (!p.parse()) return 0;
  GanomalyConfig gc;
  gc.variant = parse_gan_variant(cli.get("variant"));
  gc.isize = cli.get_int("image-size");
  gc.nz = cli.get_int("nz");
  gc.ngf = cli.get_int("ngf");
  gc.ndf = cli.get_int("ndf");
  gc.lr = static_cast<float>(cli.get_double("lr"));
  gc.beta1 = static_cast<float>(cli.get_double("beta1"));
  gc.w_adv = static_cast<float>(cli.get_double("w-adv"));
  gc.w_con = static_cast<float>(cli.get_double("w-con"));
  gc.w_lat = static_cast<float>(cli.get_double("w-lat"));
  const uint64_t seed = p.seed();
  gc.seed = seed;
  Ganomaly probe(gc, Device::CPU, /*allocate=*/false);  // bad sizes fail before any data is read
  const std::string out = cli.get("out");
  const bool resume = check_resume(cli, out, "train-ganomaly", kResumeKeys);
  const Device device = p.device();
  Context& ctx = p.ctx();
  p.force_precision(Precision::Fp32, "the GANomaly baselines train in fp32");
  RunDir& dir = p.open_run_dir(out, "train-ganomaly");

  // Data: negatives of the train split.
  ImageIndex index = index_images(cli.get("data"));
  const bool skip_missing = cli.get_flag("skip-missing");
  std::vector<Sample> train = load_split(index, cli.get("subset"), "train", skip_missing, nullptr);
  SamplerConfig scfg;
  scfg.kind = SamplerKind::Negatives;
  scfg.num_negatives = cli.get_int("negatives") > 0 ? cli.get_int("negatives") : INT64_MAX / 2;
  scfg.fresh_negatives = false;  // the same negatives every epoch, reshuffled
  scfg.seed = seed;
  const int64_t per_epoch = static_cast<int64_t>(sample_epoch(train, scfg, 0).size());
  LoaderConfig lcfg;
  lcfg.batch = static_cast<int>(cli.get_int("batch"));
  lcfg.workers = static_cast<int>(cli.get_int("workers"));
  lcfg.train_aug = false;  // resize only, as the public code (no crop or flip)
  lcfg.resize = lcfg.crop = static_cast<int>(gc.isize);
  lcfg.seed = seed;
  lcfg.drop_last = true;
  GBAD_CHECK(lcfg.batch >= 2, "--batch must be at least 2 (BatchNorm)");
  GBAD_CHECK(per_epoch >= lcfg.batch, "the train split has ", per_epoch,
             " negatives, fewer than one batch (", lcfg.batch, ")");
  int64_t steps_per_epoch = per_epoch / lcfg.batch;
  if (cli.get_int("max-steps-per-epoch") > 0)
    steps_per_epoch = std::min<int64_t>(steps_per_epoch, cli.get_int("max-steps-per-epoch"));

  Ganomaly gan(gc, device);
  const int64_t pg = gan.generator_param_count(), pd = gan.discriminator_param_count();
  std::printf(
      "%s %lldx%lld: generator %lld, discriminator %lld parameters; %lld negatives, "
      "%lld steps per epoch; device %s\n",
      gan_variant_name(gc.variant), (long long)gc.isize, (long long)gc.isize, (long long)pg,
      (long long)pd, (long long)per_epoch, (long long)steps_per_epoch,
      ctx.device_description().c_str());

  const std::string ckpt = dir.file("checkpoint.safetensors");
  int start_epoch = 0;
  double train_seconds = 0;
  if (resume && file_exists(ckpt)) {
    gan.load(ckpt);
    const auto meta = read_metadata(ckpt);
    start_epoch = int(metadata_int(meta, "epoch", ckpt, 0, 1 << 30));
    train_seconds = metadata_float(meta, "train_seconds", ckpt);
    std::printf("resumed from %s after epoch %d\n", ckpt.c_str(), start_epoch);
  }

  const int epochs = static_cast<int>(cli.get_int("epochs"));
  const int64_t log_every = std::max<long long>(1, cli.get_int("log-every"));
  MetricsLog log(dir.file("metrics.jsonl"), resume);
  Loader loader(train, lcfg);
  Tensor x_dev;
  Batch b;
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> order = sample_epoch(train, scfg, epoch);
    order.resize(static_cast<size_t>(steps_per_epoch * lcfg.batch));
    loader.start_epoch(epoch, order);
    char label[64];
    std::snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, epochs);
    Progress progress(label, steps_per_epoch * lcfg.batch, "img");
    GanStepLosses sum;
    int64_t step = 0;
    while (loader.next(b)) {
      to_minus_one_one(b.images);
      const Tensor* x = &b.images;
      if (ctx.is_cuda()) {
        x_dev.resize(b.images.shape(), device);
        x_dev.copy_from(b.images);
        x = &x_dev;
      }
      GanStepLosses l = gan.train_step(ctx, *x);
      if (!std::isfinite(l.g) || !std::isfinite(l.d))
        GBAD_FAIL("loss is not finite at epoch ", epoch + 1, ", step ", step + 1, " (G ", l.g,
                  ", D ", l.d, "); the last good checkpoint is ",
                  file_exists(ckpt) ? ckpt : std::string("(none yet)"));
      ++step;
      sum.g += l.g, sum.g_adv += l.g_adv, sum.g_con += l.g_con, sum.g_lat += l.g_lat, sum.d += l.d;
      char extra[96];
      std::snprintf(extra, sizeof extra, "G %.3f (adv %.3f con %.3f lat %.4f) D %.3f%s", l.g,
                    l.g_adv, l.g_con, l.g_lat, l.d, l.d_reinitialised ? " D re-init" : "");
      progress.update(step * lcfg.batch, extra);
      if (gan.steps() % log_every == 0) {
        Json j = Json::object();
        j["epoch"] = epoch + 1;
        j["step"] = gan.steps();
        j["loss_g"] = l.g;
        j["loss_g_adv"] = l.g_adv;
        j["loss_g_con"] = l.g_con;
        j["loss_g_lat"] = l.g_lat;
        j["loss_d"] = l.d;
        j["d_reinitialised"] = l.d_reinitialised;
        j["images_per_s"] = progress.rate();
        log.write(j);
      }
    }
    progress.finish();
    const double secs = seconds_since(t0);
    train_seconds += secs;
    const double k = step > 0 ? 1.0 / static_cast<double>(step) : 0.0;
    Json j = Json::object();
    j["epoch"] = epoch + 1;
    j["step"] = gan.steps();
    j["epoch_loss_g"] = sum.g * k;
    j["epoch_loss_g_con"] = sum.g_con * k;
    j["epoch_loss_d"] = sum.d * k;
    j["d_reinits"] = gan.d_reinits();
    j["seconds"] = secs;
    log.write(j);
    char ts[32];
    std::snprintf(ts, sizeof ts, "%.3f", train_seconds);
    gan.save(ckpt, {{"epoch", std::to_string(epoch + 1)}, {"train_seconds", ts}});
  }
  gan.save(dir.file("model.safetensors"), {{"epochs", std::to_string(epochs)}});

  // Scores of each evaluation split, min-max normalised over it.
  std::vector<std::string> subsets;
  {
    std::string list =
        cli.get("eval-subsets").empty() ? cli.get("subset") : cli.get("eval-subsets");
    size_t pos = 0;
    while (pos <= list.size()) {
      const size_t comma = std::min(list.find(',', pos), list.size());
      if (comma > pos) subsets.push_back(list.substr(pos, comma - pos));
      pos = comma + 1;
    }
    GBAD_CHECK(!subsets.empty(), "--eval-subsets names no subset");
  }
  for (const std::string& subset : subsets) {
    std::vector<Sample> evals =
        load_split(index, subset, cli.get("eval-split"), skip_missing, nullptr);
    GBAD_CHECK(!evals.empty(), "the ", subset, "/", cli.get("eval-split"), " split is empty");
    LoaderConfig ecfg = lcfg;
    ecfg.drop_last = false;
    Loader eval_loader(evals, ecfg);
    std::vector<int64_t> all(evals.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
    eval_loader.start_epoch(0, all);
    std::vector<float> raw(evals.size());
    Progress progress("scoring " + subset, static_cast<int64_t>(evals.size()), "img");
    int64_t done = 0;
    while (eval_loader.next(b)) {
      to_minus_one_one(b.images);
      const Tensor* x = &b.images;
      if (ctx.is_cuda()) {
        x_dev.resize(b.images.shape(), device);
        x_dev.copy_from(b.images);
        x = &x_dev;
      }
      std::vector<float> sc = gan.scores(ctx, *x);
      for (size_t i = 0; i < sc.size(); ++i) raw[static_cast<size_t>(b.indices[i])] = sc[i];
      done += b.size();
      progress.update(done, "");
    }
    progress.finish();
    const auto [lo, hi] = std::minmax_element(raw.begin(), raw.end());
    const float mn = *lo, range = *hi - *lo;
    ScoreTable table;
    std::string raw_csv = "name,score,positive\n";
    for (size_t i = 0; i < evals.size(); ++i) {
      const float v = range > 0.f ? (raw[i] - mn) / range : 0.f;
      table.names.push_back(evals[i].stem);
      ClassScores cs;
      cs.fill(v);
      table.scores.push_back(cs);
      char buf[64];
      std::snprintf(buf, sizeof buf, ",%.9g,%d\n", double(raw[i]), evals[i].positive() ? 1 : 0);
      raw_csv += evals[i].stem + buf;
    }
    const std::string sub = dir.file("eval" + subset);
    make_dirs(sub);
    write_scores_csv(sub + "/scores.csv", table);
    write_file_atomic(sub + "/raw_scores.csv", raw_csv);
    Json m = Json::object();
    m["method"] = gan_variant_name(gc.variant);
    m["params"] = pg + pd;
    m["generator_params"] = pg;
    m["discriminator_params"] = pd;
    m["train_seconds"] = train_seconds;
    m["image_size"] = gc.isize;
    m["epochs"] = epochs;
    m["tables"] = "binary";
    write_json_file(sub + "/method.json", m);
    std::printf(
        "wrote %s/scores.csv (%zu images, min-max normalised); evaluate with\n"
        "  gbad-eval --scores %s/scores.csv --labels %s/ImageSet/%s/%s.csv "
        "--json %s/metrics.json\n",
        sub.c_str(), evals.size(), sub.c_str(), cli.get("data").c_str(), subset.c_str(),
        cli.get("eval-split").c_str(), sub.c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-train-ganomaly", kSummary, run);
}
