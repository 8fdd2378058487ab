// gbad-train-bigan: phase 2. Extracts the frozen phase-1 classifier's features x = [f,
// sigmoid(logits)] of N random negative training images and trains the Bi-GAN on them
// (adversarial BCE + L1 reconstruction on G, Adam).
#include <cmath>
#include <cstdio>

#include "data/sampler.h"
#include "io/checkpoint.h"
#include "train/pipeline.h"
#include "train/progress.h"

using namespace gbad;

namespace {

const std::vector<std::string> kResumeKeys = {"cnn",  "negatives", "batch",
                                              "seed", "latent",    "recon-weight"};

int run(int argc, char** argv) {
  Cli cli("gbad-train-bigan",
          "Phase 2 of GBAD: train the Bi-GAN on the phase-1 classifier's features of random\n"
          "negative training images. Writes OUT/bigan.safetensors, OUT/negatives.safetensors\n"
          "(the features, reused by phase 3), OUT/checkpoint.safetensors (for --resume),\n"
          "config.json, command.txt, versions.json and metrics.jsonl.");
  cli.option("cnn", "", "phase-1 run directory (gbad-train-cnn --out)", true)
      .option("out", "", "run directory to write", true)
      .option("data", "", "SIXray root (default: the one phase 1 used)")
      .option("subset", "", "ImageSet subset (default: the one phase 1 used)")
      .option("negatives", "50000", "random negative training images (the paper: 50,000)")
      .option("epochs", "100", "passes over the negatives' features")
      .option("batch", "50", "batch size (Zenati et al.: 50)")
      .option("lr", "1e-5", "Adam learning rate (Zenati et al.: 1e-5)")
      .option("beta1", "0.5", "Adam beta1")
      .option("latent", "32", "latent size of z")
      .option("recon-weight", "1.0",
              "weight of the L1 reconstruction term (mean over elements) in G's loss")
      .option("ema", "0", "EMA decay of the weights used for scoring (0 = off; Zenati: 0.9999)")
      .option("workers", "4", "image decoding threads (feature extraction)")
      .option("feature-batch", "32", "batch size of the feature extraction")
      .flag("skip-missing", "skip CSV rows whose image is missing")
      .flag("resume", "continue an interrupted run in --out");
  add_device_options(cli);
  if (!cli.parse(argc, argv)) {
    std::fputs(cli.help().c_str(), stdout);
    return 0;
  }
  apply_thread_option(cli);
  const std::string out = cli.get("out");
  const bool resume = check_resume(cli, out, "train-bigan", kResumeKeys);
  Device device = resolve_device(cli.get("device"));
  const uint64_t seed = static_cast<uint64_t>(cli.get_int("seed"));
  Context ctx(device, seed);
  CnnRun cnn = load_cnn_run(cli.get("cnn"), device);
  const std::string data = cli.get("data").empty() ? cnn.data : cli.get("data");
  const std::string subset = cli.get("subset").empty() ? cnn.subset : cli.get("subset");
  RunDir dir(out, "train-bigan");
  dir.write_command(argc, argv);
  dir.write_config(cli_config(cli), {{"data", data}, {"subset", subset}});
  dir.write_versions(ctx);

  // Features of N random negatives (cached in the run directory: a resumed run reuses them).
  const std::string feat_path = dir.file("negatives.safetensors");
  std::vector<std::string> stems;
  Tensor feats;
  if (resume && file_exists(feat_path)) {
    feats = load_features(feat_path, &stems);
    std::printf("reusing %lld negative features from %s\n", (long long)feats.size(0),
                feat_path.c_str());
  } else {
    ImageIndex index = index_images(data);
    std::vector<Sample> train =
        load_split(index, subset, "train", cli.get_flag("skip-missing"), nullptr);
    SamplerConfig scfg;
    scfg.kind = SamplerKind::Negatives;
    scfg.num_negatives = cli.get_int("negatives");
    scfg.fresh_negatives = false;
    scfg.shuffle = false;
    scfg.seed = seed;
    std::vector<int64_t> idx = sample_epoch(train, scfg, 0);
    GBAD_CHECK(!idx.empty(), "the train split of subset ", subset, " has no negatives");
    std::vector<Sample> negs;
    for (int64_t i : idx) negs.push_back(train[static_cast<size_t>(i)]);
    for (const Sample& s : negs) stems.push_back(s.stem);
    std::printf("extracting features of %zu negatives (asked for %lld)\n", negs.size(),
                (long long)scfg.num_negatives);
    feats = extract_features(
        ctx, *cnn.model, negs,
        eval_loader_config(cnn.image_size, static_cast<int>(cli.get_int("feature-batch")),
                           static_cast<int>(cli.get_int("workers"))),
        "features");
    save_features(feat_path, feats, stems);
  }
  const int64_t n = feats.size(0), d = feats.size(1);

  BiGanConfig bcfg;
  bcfg.x_dim = d;
  bcfg.latent = cli.get_int("latent");
  bcfg.lr = static_cast<float>(cli.get_double("lr"));
  bcfg.beta1 = static_cast<float>(cli.get_double("beta1"));
  bcfg.recon_weight = static_cast<float>(cli.get_double("recon-weight"));
  bcfg.ema_decay = static_cast<float>(cli.get_double("ema"));
  bcfg.seed = seed;
  BiGan bigan(bcfg, device);
  bigan.fit_standardization(feats);
  const std::string ckpt = dir.file("checkpoint.safetensors");
  int start_epoch = 0;
  if (resume && file_exists(ckpt)) {
    bigan.load(ckpt);
    const auto meta = read_metadata(ckpt);
    start_epoch = static_cast<int>(metadata_int(meta, "epoch", ckpt, 0, 1 << 30));
    ctx.rng().set_state(seed, metadata_u64(meta, "rng_offset", ckpt));
    std::printf("resumed from %s after epoch %d\n", ckpt.c_str(), start_epoch);
  }

  const int64_t batch = cli.get_int("batch");
  GBAD_CHECK(batch >= 1 && batch <= n, "--batch ", batch, " must be between 1 and the ", n,
             " negatives");
  const int epochs = static_cast<int>(cli.get_int("epochs"));
  const int64_t steps = n / batch;
  MetricsLog log(dir.file("metrics.jsonl"), resume);
  Progress progress("bigan", (epochs - start_epoch) * steps * batch, "vec", stderr, 10.0);
  Tensor xb;
  std::vector<float> host = feats.to_vector();
  int64_t done = 0;
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    philox_shuffle(order, seed, 1000 + static_cast<uint64_t>(epoch));
    BiGanLosses sum;
    Tensor hb({batch, d}, Device::CPU);
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t i = 0; i < batch; ++i) {
        int64_t row = order[static_cast<size_t>(s * batch + i)];
        std::copy(host.begin() + row * d, host.begin() + (row + 1) * d, hb.f32() + i * d);
      }
      xb.resize({batch, d}, device);
      xb.copy_from(hb);
      BiGanLosses l = bigan.train_step(ctx, xb);
      for (float v : {l.loss_d, l.loss_g, l.loss_e, l.loss_recon})
        if (!std::isfinite(v))
          GBAD_FAIL("Bi-GAN loss is not finite at epoch ", epoch + 1, ", step ", s + 1, " (D ",
                    l.loss_d, ", G ", l.loss_g, ", E ", l.loss_e, ", recon ", l.loss_recon,
                    "); the last good checkpoint is ",
                    file_exists(ckpt) ? ckpt : std::string("(none yet)"));
      sum.loss_d += l.loss_d;
      sum.loss_g += l.loss_g;
      sum.loss_e += l.loss_e;
      sum.loss_recon += l.loss_recon;
      done += batch;
      char extra[96];
      std::snprintf(extra, sizeof extra, "epoch %d D %.3f G %.3f E %.3f R %.3f", epoch + 1,
                    l.loss_d, l.loss_g, l.loss_e, l.loss_recon);
      progress.update(done, extra);
    }
    double k = steps > 0 ? 1.0 / static_cast<double>(steps) : 0.0;
    JsonWriter j;
    j.begin_object().key("epoch").value(epoch + 1).key("step").value(bigan.steps());
    j.key("loss_d").value(sum.loss_d * k).key("loss_g").value(sum.loss_g * k);
    j.key("loss_e").value(sum.loss_e * k).key("loss_recon").value(sum.loss_recon * k);
    j.key("vectors_per_s").value(progress.rate()).end_object();
    log.write(j.str());
    bigan.save(ckpt, {{"epoch", std::to_string(epoch + 1)},
                      {"rng_offset", std::to_string(ctx.rng().offset())}});
  }
  progress.finish();
  bigan.save(dir.file("bigan.safetensors"), {{"cnn", cli.get("cnn")}});
  AnomalyScores sc = anomaly_scores(ctx, bigan, feats);
  double mr = 0, mf = 0;
  for (size_t i = 0; i < sc.r.size(); ++i) {
    mr += sc.r[i];
    mf += sc.fm[i];
  }
  std::printf("negatives' mean anomaly scores: R %.4f FM %.4f\n", mr / double(n), mf / double(n));
  std::printf("wrote %s\n", dir.file("bigan.safetensors").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  tune_cpu_runtime(argv);
  return run_main("gbad-train-bigan", [&] { return run(argc, argv); });
}
