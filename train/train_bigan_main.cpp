// gbad-train-bigan: phase 2. Extracts the frozen phase-1 classifier's features x = [f,
// sigmoid(logits)] of N random negative training images and trains the Bi-GAN on them
// (adversarial BCE + L1 reconstruction on G, Adam).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/sampler.h"
#include "io/checkpoint.h"
#include "train/data_parallel.h"
#include "train/loss_log.h"
#include "train/pipeline.h"
#include "train/progress.h"

using namespace gbad;

namespace {

const std::vector<std::string> kResumeKeys = {"cnn",  "negatives", "batch",
                                              "seed", "latent",    "recon-weight"};

const char* kSummary =
    "Phase 2 of GBAD: train the Bi-GAN on the phase-1 classifier's features of random\n"
    "negative training images. Writes OUT/bigan.safetensors, OUT/negatives.safetensors\n"
    "(the features, reused by phase 3), OUT/checkpoint.safetensors (for --resume),\n"
    "config.json, command.txt, versions.json and metrics.jsonl.";

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("cnn", "", "phase-1 run directory (gbad-train-cnn --out)", true)
      .option("out", "", "run directory to write", true)
      .option("data", "", "SIXray root (default: the one phase 1 used)")
      .option("subset", "", "ImageSet subset (default: the one phase 1 used)")
      .option("negatives", "50000", "random negative training images (the paper: 50,000)")
      .option("epochs", "100", "passes over the negatives' features")
      .option("batch", "50", "batch size (Zenati et al.: 50; the global batch under mpirun/srun)")
      .option("lr", "1e-5", "Adam learning rate (Zenati et al.: 1e-5)")
      .option("beta1", "0.5", "Adam beta1")
      .option("latent", "32", "latent size of z")
      .option("recon-weight", "1.0",
              "weight of the L1 reconstruction term (mean over elements) in G's loss")
      .option("ema", "0", "EMA decay of the weights used for scoring (0 = off; Zenati: 0.9999)")
      .option("workers", "4", "image decoding threads (feature extraction)")
      .option("feature-batch", "32", "batch size of the feature extraction")
      .option("hard-negatives", "0",
              "gate study: share of the negatives taken as the ones the phase-1 CNN scores "
              "highest (its top class confidence) in a random pool, the rest drawn at random "
              "from that pool (0 = the paper: all random)")
      .option("hard-pool", "0",
              "gate study: size of that pool of random negatives (0 = 4 x --negatives)")
      .flag("skip-missing", "skip CSV rows whose image is missing")
      .flag("resume", "continue an interrupted run in --out");
  add_data_parallel_options(cli);
  if (!p.parse()) return 0;
  // Data parallel under mpirun/srun: the feature extraction is split over the processes, and
  // each takes its share of every global batch (no BatchNorm in the Bi-GAN: 1 is enough).
  std::unique_ptr<DataParallel> dp = start_data_parallel(p, cli.get_int("batch"), 1);
  const std::string out = cli.get("out");
  const bool resume = check_resume(cli, out, "train-bigan", kResumeKeys);
  const Device device = p.device();
  const uint64_t seed = p.seed();
  Context& ctx = p.ctx();
  CnnRun cnn = load_cnn_run(cli.get("cnn"), device);
  const std::string data = cli.get("data").empty() ? cnn.data : cli.get("data");
  const std::string subset = cli.get("subset").empty() ? cnn.subset : cli.get("subset");
  if (dp->root()) p.open_run_dir(out, "train-bigan", {{"data", data}, {"subset", subset}});
  auto out_file = [&](const char* name) { return out + "/" + name; };
  // Each process its own noise (z, dropout): another Philox seed per rank.
  const uint64_t rng_seed = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(dp->rank());
  ctx.rng().set_state(rng_seed, 0);

  // Features of N random negatives (cached in the run directory: a resumed run reuses them).
  const std::string feat_path = out_file("negatives.safetensors");
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
    const int64_t wanted = cli.get_int("negatives");
    const double hard = cli.get_double("hard-negatives");
    GBAD_CHECK(hard >= 0 && hard <= 1, "--hard-negatives ", hard, " must be in [0, 1]");
    const int64_t pool = cli.get_int("hard-pool") > 0 ? cli.get_int("hard-pool") : 4 * wanted;
    GBAD_CHECK(hard == 0 || pool >= wanted, "--hard-pool ", pool, " must be at least --negatives ",
               wanted);
    scfg.num_negatives = hard > 0 ? pool : wanted;
    scfg.fresh_negatives = false;
    scfg.shuffle = false;
    scfg.seed = seed;
    std::vector<int64_t> idx = sample_epoch(train, scfg, 0);
    GBAD_CHECK(!idx.empty(), "the train split of subset ", subset, " has no negatives");
    std::vector<Sample> negs;
    for (int64_t i : idx) negs.push_back(train[static_cast<size_t>(i)]);
    for (const Sample& s : negs) stems.push_back(s.stem);
    std::printf("extracting features of %zu negatives (asked for %lld%s)\n", negs.size(),
                (long long)scfg.num_negatives, hard > 0 ? ": the hard-negative pool" : "");
    {
      // Each process extracts a contiguous 1/N of the images; the rows are gathered by a sum
      // over the processes of zero-padded copies (each row is non-zero on one process only).
      const int64_t total = static_cast<int64_t>(negs.size());
      const int64_t lo = total * dp->rank() / dp->size();
      const int64_t hi = total * (dp->rank() + 1) / dp->size();
      std::vector<Sample> mine(negs.begin() + lo, negs.begin() + hi);
      Tensor part = extract_features(
          ctx, *cnn.model, mine,
          eval_loader_config(cnn.image_size, static_cast<int>(cli.get_int("feature-batch")),
                             static_cast<int>(cli.get_int("workers"))),
          "features");
      if (dp->size() == 1) {
        feats = part;
      } else {
        const int64_t d = cnn.model->feature_dim();
        feats = Tensor::zeros({total, d});
        std::copy(part.f32(), part.f32() + part.numel(), feats.f32() + lo * d);
        dp->comm()->allreduce_sum(ctx, feats.f32(), feats.numel(), Device::CPU);
      }
    }
    if (hard > 0) {
      // The CNN's score of each pooled negative: its highest class confidence.
      std::vector<float> score;
      for (const auto& c : confidences(feats))
        score.push_back(*std::max_element(c.begin(), c.end()));
      const std::vector<int64_t> pick = select_hard_negatives(score, wanted, hard, seed);
      const int64_t d = feats.size(1);
      const std::vector<float> all = feats.to_vector();
      std::vector<float> kept;
      std::vector<std::string> kept_stems;
      double mean_all = 0, mean_kept = 0;
      for (float v : score) mean_all += v / double(score.size());
      for (int64_t i : pick) {
        kept.insert(kept.end(), all.begin() + i * d, all.begin() + (i + 1) * d);
        kept_stems.push_back(stems[static_cast<size_t>(i)]);
        mean_kept += score[static_cast<size_t>(i)] / double(pick.size());
      }
      feats = Tensor::from_vector(kept, {static_cast<int64_t>(pick.size()), d});
      stems = kept_stems;
      std::printf(
          "hard negatives: kept %zu of %zu (%.0f%% the CNN's highest-scoring); mean top "
          "confidence %.4f kept vs %.4f in the pool\n",
          pick.size(), score.size(), 100 * hard, mean_kept, mean_all);
    }
    if (dp->root()) save_features(feat_path, feats, stems);
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
  // --precision applies to the CNN's feature extraction above; the Bi-GAN trains in fp32.
  PrecisionScope bigan_fp32(ctx, Precision::Fp32);
  BiGan bigan(bcfg, device);
  bigan.fit_standardization(feats);
  const std::string ckpt = out_file("checkpoint.safetensors");
  int start_epoch = 0;
  if (resume && file_exists(ckpt)) {
    bigan.load(ckpt);
    const auto meta = read_metadata(ckpt);
    start_epoch = static_cast<int>(metadata_int(meta, "epoch", ckpt, 0, 1 << 30));
    check_resume_world_size(meta, ckpt, dp->size());
    // Every process draws as many numbers per step, so rank 0's offset is everyone's.
    ctx.rng().set_state(rng_seed, metadata_u64(meta, "rng_offset", ckpt));
    std::printf("resumed from %s after epoch %d\n", ckpt.c_str(), start_epoch);
  }

  const int64_t batch = cli.get_int("batch");
  GBAD_CHECK(batch >= 1 && batch <= n, "--batch ", batch, " must be between 1 and the ", n,
             " negatives");
  // Every process starts from rank 0's networks; gradients averaged before each Adam step.
  dp->attach(ctx, bigan.encoder_params());
  dp->attach(ctx, bigan.generator_params());
  dp->attach(ctx, bigan.discriminator_params());
  if (dp->size() > 1)
    bigan.set_grad_hook([&](Context& c, ParamStore& ps) { dp->average_gradients(c, ps); });
  const int64_t local = batch / dp->size();  // this process's share of a global batch
  const int epochs = static_cast<int>(cli.get_int("epochs"));
  const int64_t steps = n / batch;
  std::unique_ptr<MetricsLog> log;
  if (dp->root()) log = std::make_unique<MetricsLog>(out_file("metrics.jsonl"), resume);
  Progress progress("bigan", (epochs - start_epoch) * steps * batch, "vec", dp->progress_stream(),
                    10.0);
  Tensor xb;
  std::vector<float> host = feats.to_vector();
  int64_t done = 0;
  // The losses stay on the device (train/loss_log.h) and are read every 100 steps and at each
  // epoch's end, before its checkpoint: a non-finite loss stops the run there, naming its step,
  // and no checkpoint is written after it.
  LossLog loss_log(std::max<int64_t>(1, std::min<int64_t>(steps, 100)), device, 4);
  Tensor step_losses({4}, device);
  std::vector<int64_t> pending;  // the steps (in the epoch) whose losses are not read yet
  BiGanLosses last;              // the last losses read (progress line)
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    philox_shuffle(order, seed, 1000 + static_cast<uint64_t>(epoch));
    order = dp->shard(order, batch);  // this process's share of every global batch
    BiGanLosses sum;
    auto read_losses = [&] {
      const std::vector<float> v = loss_log.read();
      for (size_t j = 0; j < pending.size(); ++j) {
        const int64_t s = pending[j];
        BiGanLosses l{v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]};
        if (dp->size() > 1) {  // the global batch's losses: the mean over the processes
          float* parts[] = {&l.loss_d, &l.loss_g, &l.loss_e, &l.loss_recon};
          for (float* p : parts) {
            const DataParallel::CheckedMean m = dp->mean_if_finite(*p);
            GBAD_CHECK(m.failed_rank < 0, "Bi-GAN loss is not finite on rank ", m.failed_rank,
                       " at epoch ", epoch + 1, ", step ", s + 1,
                       "; no checkpoint was written after it. The last good checkpoint is ",
                       file_exists(ckpt) ? ckpt : std::string("(none yet)"));
            *p = static_cast<float>(m.mean);
          }
        }
        for (float x : {l.loss_d, l.loss_g, l.loss_e, l.loss_recon})
          if (!std::isfinite(x))
            GBAD_FAIL("Bi-GAN loss is not finite at epoch ", epoch + 1, ", step ", s + 1, " (D ",
                      l.loss_d, ", G ", l.loss_g, ", E ", l.loss_e, ", recon ", l.loss_recon,
                      "); no checkpoint was written after it. The last good checkpoint is ",
                      file_exists(ckpt) ? ckpt : std::string("(none yet)"));
        sum.loss_d += l.loss_d;
        sum.loss_g += l.loss_g;
        sum.loss_e += l.loss_e;
        sum.loss_recon += l.loss_recon;
        last = l;
      }
      pending.clear();
    };
    Tensor hb({local, d}, Device::CPU);
    for (int64_t s = 0; s < steps; ++s) {
      for (int64_t i = 0; i < local; ++i) {
        int64_t row = order[static_cast<size_t>(s * local + i)];
        std::copy(host.begin() + row * d, host.begin() + (row + 1) * d, hb.f32() + i * d);
      }
      xb.resize({local, d}, device);
      xb.copy_from(hb);
      bigan.train_step(ctx, xb, &step_losses);
      loss_log.record_row(ctx, step_losses);
      pending.push_back(s);
      if (loss_log.full()) read_losses();
      done += batch;
      char extra[96];
      std::snprintf(extra, sizeof extra, "epoch %d D %.3f G %.3f E %.3f R %.3f", epoch + 1,
                    last.loss_d, last.loss_g, last.loss_e, last.loss_recon);
      progress.update(done, extra);
    }
    read_losses();  // the epoch's last steps, before its checkpoint
    double k = steps > 0 ? 1.0 / static_cast<double>(steps) : 0.0;
    if (log)
      log->write({{"epoch", epoch + 1},
                  {"step", bigan.steps()},
                  {"loss_d", sum.loss_d * k},
                  {"loss_g", sum.loss_g * k},
                  {"loss_e", sum.loss_e * k},
                  {"loss_recon", sum.loss_recon * k},
                  {"vectors_per_s", progress.rate()}});
    if (dp->root())
      bigan.save(ckpt, {{"epoch", std::to_string(epoch + 1)},
                        {"rng_offset", std::to_string(ctx.rng().offset())},
                        {kWorldSizeKey, std::to_string(dp->size())}});
  }
  progress.finish();
  if (!dp->root()) return 0;  // rank 0 writes the model and scores the negatives
  bigan.save(out_file("bigan.safetensors"), {{"cnn", cli.get("cnn")}});
  AnomalyScores sc = anomaly_scores(ctx, bigan, feats);
  double mr = 0, mf = 0;
  for (size_t i = 0; i < sc.r.size(); ++i) {
    mr += sc.r[i];
    mf += sc.fm[i];
  }
  std::printf("negatives' mean anomaly scores: R %.4f FM %.4f\n", mr / double(n), mf / double(n));
  std::printf("wrote %s\n", out_file("bigan.safetensors").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-train-bigan", kSummary, run);
}
