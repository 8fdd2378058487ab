// gbad-train-cnn: phase 1. Trains a classifier on a SIXray split: GBAD's balanced "ideal" set
// (every positive + as many random negatives) or the whole imbalanced "practical" split (the
// paper's plain-CNN baseline). BCE-with-logits on the 5 labels, SGD with momentum.
#include <cmath>
#include <cstdio>

#include "core/cuda_graph.h"
#include "core/nvtx.h"
#include "data/sampler.h"
#include "data/stager.h"
#include "io/checkpoint.h"
#include "kernels/elementwise.h"
#include "kernels/loss.h"
#include "models/inception.h"
#include "nn/loss_scaler.h"
#include "nn/optim.h"
#include "train/data_parallel.h"
#include "train/loss_log.h"
#include "train/pipeline.h"
#include "train/progress.h"
#include "train/schedule.h"
#include "train/step_graph.h"

using namespace gbad;

namespace {

// Options that must match when a run is resumed.
const std::vector<std::string> kResumeKeys = {
    "data",  "subset", "arch", "width",  "fpn-channels",    "head-dim",  "train-set",
    "batch", "seed",   "crop", "resize", "ideal-negatives", "aux-weight"};

const char* kSummary =
    "Phase 1 of GBAD: train the ResNet(+FPN) multi-label classifier on a SIXray split.\n"
    "--train-set ideal (default) is GBAD's balanced set; practical is the whole split\n"
    "(the plain-CNN baseline of the paper's Tables 1-3). Writes OUT/model.safetensors,\n"
    "OUT/checkpoint.safetensors (for --resume), config.json, command.txt, versions.json\n"
    "and metrics.jsonl.";

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("data", "", "SIXray root (JPEGImage/ anywhere below, ImageSet/<subset>/)", true)
      .option("subset", "100", "ImageSet subset: 10, 100, 1000 (or another folder name)")
      .option("out", "", "run directory to write", true)
      .option("arch", "resnet34-fpn",
              "resnet{18,34,50,101}-{fpn,plain,chr}, inceptionv3-{fpn,plain}, "
              "densenet121-{fpn,plain}; fpn = GBAD head, plain = GAP+FC baseline, chr = the CHR "
              "baseline (train it with --train-set practical)")
      .option("width", "64",
              "backbone stem width (64 = torchvision; smaller for CPU runs; DenseNet growth = "
              "width/2, InceptionV3 scales every layer by width/64)")
      .option("aux-weight", "0.4",
              "InceptionV3: weight of the auxiliary classifier's loss (needs --crop >= 299; 0 = "
              "off)")
      .option("fpn-channels", "256", "FPN output channels")
      .option("head-dim", "256", "size of the GBAD head's FC1..FC4 outputs (feature f)")
      .option("train-set", "ideal", "ideal (all positives + as many negatives) or practical")
      .option("ideal-negatives", "fresh",
              "ideal set negatives: fresh (new draw each epoch) or fixed")
      .option("epochs", "15", "training epochs")
      .option("batch", "32",
              "batch size (the global batch under mpirun/srun: N processes take 1/N each)")
      .option("lr", "0.01", "SGD learning rate")
      .option("momentum", "0.9", "SGD momentum")
      .option("weight-decay", "1e-4", "SGD weight decay")
      .option("schedule", "cosine", "learning-rate schedule: constant, cosine or step")
      .option("step-epochs", "5", "step schedule: epochs between decays")
      .option("step-gamma", "0.1", "step schedule: decay factor")
      .option("resize", "auto",
              "train: resize to this square size (aspect ignored); auto = 256, 342 for "
              "InceptionV3")
      .option("crop", "auto",
              "train: random crop size (the network input); auto = 224, 299 for "
              "InceptionV3")
      .option("test-size", "auto",
              "test-time input size (resize only), used by later phases; auto = the crop")
      .option("workers", "4", "image decoding threads")
      .option("pack", "",
              "read the training images from this gbad-pack file (--size = --resize) "
              "instead of decoding the JPEGs")
      .option("input-copy", "async",
              "how batches reach the GPU: async (page-locked buffers, two slots, a copy stream "
              "of its own: the copy of the next batch overlaps the current step) or sync "
              "(cudaMemcpy before each step); the same batches either way, and no copy at all "
              "on the CPU")
      .option("cuda-graphs", "auto",
              "capture the training step in a CUDA graph after 2 warm-up steps and replay it "
              "for every full batch (the last partial batch runs eagerly): on, off or auto "
              "(auto = on a GPU unless the run has what a replay cannot reproduce: data "
              "parallelism, --debug-nan-step; on = the same, said as a warning; the learning "
              "rate is then read on the device, so every schedule replays one graph). A "
              "step that cannot be captured (it allocates, synchronises or reads to the host) is "
              "logged once and the run goes on eagerly")
      .option("max-steps-per-epoch", "0", "stop each epoch after this many steps (0 = all)")
      .option("checkpoint-every", "0", "also checkpoint every N steps (0 = at epoch ends)")
      .option("log-every", "10",
              "metrics.jsonl line every N steps; the losses stay on the device between these "
              "reads (and the reads before each checkpoint and at each epoch's end), so a "
              "non-finite loss is noticed at the next read, up to N steps after it: the run then "
              "stops, and no checkpoint is ever written after it (the last good one is kept)")
      .option("stop-after", "0",
              "exit after this many steps of this invocation, as if interrupted (for testing "
              "--resume; 0 = never)")
      .option("loss-scale", "65536",
              "--precision fp16: initial dynamic loss scale (PyTorch GradScaler's 2^16)")
      .option("loss-scale-interval", "2000",
              "--precision fp16: double the loss scale after this many steps without overflow")
      .option("debug-nan-step", "0",
              "for testing: make the loss and its gradient of global step N NaN (0 = never)")
      .option("pretrained", "", "torchvision weights converted with tools/convert_torchvision.py")
      .flag("skip-missing", "skip CSV rows whose image is missing (default: stop with an error)")
      .flag("resume", "continue an interrupted run in --out from its checkpoint");
  add_data_parallel_options(cli);
  if (!p.parse()) return 0;
  // Data parallel under mpirun/srun (one process: dp is inactive and changes nothing).
  std::unique_ptr<DataParallel> dp = start_data_parallel(p, cli.get_int("batch"));
  parse_arch(cli.get("arch"));  // a bad name fails before any data is read
  {
    // Input sizes chosen from the architecture unless given (torchvision's: 256 -> 224, and
    // 342 -> 299 for InceptionV3).
    const int size = default_input_size(cli.get("arch"));
    if (cli.get("crop") == "auto") cli.set("crop", std::to_string(size));
    if (cli.get("resize") == "auto") cli.set("resize", std::to_string(size == 299 ? 342 : 256));
    if (cli.get("test-size") == "auto") cli.set("test-size", cli.get("crop"));
  }
  const std::string out = cli.get("out");
  const bool resume = check_resume(cli, out, "train-cnn", kResumeKeys);
  const Device device = p.device();
  const uint64_t seed = p.seed();
  Context& ctx = p.ctx();
  // --cuda-graphs: decided before anything makes the cuBLAS/cuDNN handles (use_own_stream).
  StepGraphFacts gfacts;
  gfacts.cuda = ctx.is_cuda();
  gfacts.world_size = dp->size();
  gfacts.debug_nan = cli.get_int("debug-nan-step") > 0;
  const GraphMode graph_mode = parse_cuda_graphs(cli.get("cuda-graphs"));
  const GraphDecision graph_decision = decide_cuda_graphs(graph_mode, gfacts);
  std::fprintf(graph_mode == GraphMode::On && !graph_decision.capture ? stderr : stdout, "%s\n",
               graph_decision.line.c_str());
  if (graph_decision.capture) ctx.use_own_stream();  // the legacy stream cannot be captured
  if (dp->root()) p.open_run_dir(out, "train-cnn");  // rank 0 alone writes the run directory
  auto out_file = [&](const char* name) { return out + "/" + name; };

  // Data.
  ImageIndex index = index_images(cli.get("data"));
  int64_t skipped = 0;
  std::vector<Sample> train =
      load_split(index, cli.get("subset"), "train", cli.get_flag("skip-missing"), &skipped);
  if (skipped) std::printf("skipped %lld CSV rows without an image\n", (long long)skipped);
  int64_t npos = 0;
  for (const Sample& s : train) npos += s.positive();
  SamplerConfig scfg;
  scfg.kind = parse_sampler_kind(cli.get("train-set"));
  GBAD_CHECK(scfg.kind == SamplerKind::Ideal || scfg.kind == SamplerKind::Practical,
             "--train-set must be ideal or practical");
  scfg.fresh_negatives = cli.get("ideal-negatives") == "fresh";
  GBAD_CHECK(scfg.fresh_negatives || cli.get("ideal-negatives") == "fixed",
             "--ideal-negatives must be fresh or fixed");
  scfg.seed = seed;
  const int64_t per_epoch = static_cast<int64_t>(sample_epoch(train, scfg, 0).size());
  std::printf("train split %s/%s: %zu images (%lld positives); %s set: %lld images per epoch\n",
              cli.get("subset").c_str(), "train", train.size(), (long long)npos,
              cli.get("train-set").c_str(), (long long)per_epoch);

  LoaderConfig lcfg;
  const int64_t global_batch = cli.get_int("batch");
  lcfg.batch = static_cast<int>(global_batch / dp->size());  // this process's share
  lcfg.workers = static_cast<int>(cli.get_int("workers"));
  lcfg.train_aug = true;
  lcfg.resize = static_cast<int>(cli.get_int("resize"));
  lcfg.crop = static_cast<int>(cli.get_int("crop"));
  lcfg.seed = seed;
  lcfg.pack = cli.get("pack");
  lcfg.drop_last = true;  // BatchNorm dislikes a batch of 1
  GBAD_CHECK(global_batch >= 2, "--batch must be at least 2 (BatchNorm)");
  GBAD_CHECK(per_epoch >= global_batch, "the training set (", per_epoch,
             " images) is smaller than one batch (", global_batch, ")");

  // Model and optimiser.
  ClassifierOptions mopt;
  mopt.width = cli.get_int("width");
  mopt.fpn_channels = cli.get_int("fpn-channels");
  mopt.head_dim = cli.get_int("head-dim");
  mopt.num_classes = kNumClasses;
  // torchvision's InceptionV3 ImageNet weights expect its transform_input re-normalisation.
  mopt.transform_input =
      parse_arch(cli.get("arch")).family == "inceptionv3" && !cli.get("pretrained").empty();
  Classifier model(cli.get("arch"), mopt, device, seed);
  const float aux_weight = static_cast<float>(cli.get_double("aux-weight"));
  GBAD_CHECK(aux_weight >= 0.f, "--aux-weight must be >= 0");
  model.set_aux_enabled(aux_weight > 0.f);
  if (model.has_aux() && aux_weight > 0.f)
    GBAD_CHECK(cli.get_int("crop") >= InceptionV3::kMinAuxInput, "--aux-weight ", aux_weight,
               ": InceptionV3's auxiliary classifier needs inputs of at least ",
               InceptionV3::kMinAuxInput, " (--crop is ", cli.get("crop"),
               "); use --aux-weight 0 for smaller inputs");
  ParamStore& ps = model.param_store();
  std::printf("model %s: %lld parameters, device %s\n", model.arch().c_str(),
              (long long)ps.num_params(), ctx.device_description().c_str());
  if (!cli.get("pretrained").empty() && !resume) {
    PretrainedReport rep = model.load_pretrained(cli.get("pretrained"));
    std::printf("pretrained: %d tensors loaded, %d skipped, %d left at initial values\n",
                rep.loaded, rep.skipped, rep.missing);
  }
  SgdConfig ocfg;
  ocfg.lr = static_cast<float>(cli.get_double("lr"));
  ocfg.momentum = static_cast<float>(cli.get_double("momentum"));
  ocfg.weight_decay = static_cast<float>(cli.get_double("weight-decay"));
  Sgd sgd(ps, ocfg);
  // A replayed graph reads the learning rate the loop writes to the device before each step.
  if (graph_decision.capture) sgd.use_device_lr(ctx);
  // --precision fp16/bf16: half weight copies, half activations and gradients, fp16 loss scaling
  // (README "Mixed precision"); fp32/tf32: every MixedPrecision call is a no-op.
  LossScalerConfig lscfg;
  lscfg.init_scale = static_cast<float>(cli.get_double("loss-scale"));
  lscfg.interval = cli.get_int("loss-scale-interval");
  GBAD_CHECK(lscfg.init_scale > 0.f && std::isfinite(lscfg.init_scale),
             "--loss-scale must be positive and finite, got ", cli.get("loss-scale"));
  GBAD_CHECK(lscfg.interval >= 1, "--loss-scale-interval must be >= 1, got ",
             cli.get("loss-scale-interval"));
  MixedPrecision mp(ctx, ps, lscfg);

  const int epochs = static_cast<int>(cli.get_int("epochs"));
  int64_t steps_per_epoch = per_epoch / global_batch;
  const int64_t max_steps = cli.get_int("max-steps-per-epoch");
  if (max_steps > 0) steps_per_epoch = std::min(steps_per_epoch, max_steps);
  const int64_t total_steps = steps_per_epoch * epochs;
  const int64_t ckpt_every = cli.get_int("checkpoint-every");
  const int64_t log_every = std::max<long long>(1, cli.get_int("log-every"));
  const std::string ckpt = out_file("checkpoint.safetensors");
  LrSchedule schedule(cli.get("schedule"), ocfg.lr, total_steps, steps_per_epoch,
                      static_cast<int>(cli.get_int("step-epochs")),
                      static_cast<float>(cli.get_double("step-gamma")));

  // Resume state: completed epochs and steps into the current epoch.
  int start_epoch = 0;
  int64_t start_batch = 0, global_step = 0;
  if (resume && file_exists(ckpt)) {
    load_params(ckpt, ps, LoadOptions{});
    auto meta = read_metadata(ckpt);
    GBAD_CHECK(meta.count("arch") && meta.at("arch") == model.arch(), ckpt,
               " holds another architecture");
    check_resume_world_size(meta, ckpt, dp->size());
    start_epoch = static_cast<int>(metadata_int(meta, "epoch", ckpt, 0, 1 << 30));
    start_batch = metadata_int(meta, "batch_in_epoch", ckpt, 0, steps_per_epoch);
    global_step = metadata_int(meta, "global_step", ckpt, 0, INT64_MAX);
    sgd.set_steps(metadata_int(meta, "optim_steps", ckpt, 0, INT64_MAX));
    ps.state(1).copy_from(read_extra_tensor(ckpt, "optim.state", Device::CPU));
    if (mp.scaler().enabled()) mp.scaler().restore(meta);  // the loss scale continues
    mp.refresh_weights(ctx);
    std::printf("resumed from %s: epoch %d, step %lld of the epoch\n", ckpt.c_str(),
                start_epoch + 1, (long long)start_batch);
  }
  // Every rank starts from rank 0's weights; gradient buckets cut.
  dp->attach(ctx, ps);
  auto save_checkpoint = [&](int epoch, int64_t batch_in_epoch) {
    if (!dp->root()) return;
    auto meta = model.metadata();
    meta["epoch"] = std::to_string(epoch);
    meta["batch_in_epoch"] = std::to_string(batch_in_epoch);
    meta["global_step"] = std::to_string(global_step);
    meta["optim_steps"] = std::to_string(sgd.steps());
    meta["seed"] = std::to_string(seed);
    if (mp.scaler().enabled())
      for (const auto& [k, v] : mp.scaler().to_metadata()) meta[k] = v;
    meta[kWorldSizeKey] = std::to_string(dp->size());
    save_params(ckpt, ps, meta, {{"optim.state", ps.state(1)}});
  };

  const int64_t stop_after = cli.get_int("stop-after");
  int64_t steps_this_run = 0;
  std::unique_ptr<MetricsLog> log;
  if (dp->root()) log = std::make_unique<MetricsLog>(out_file("metrics.jsonl"), resume);
  double allreduce_s = 0;  // since the last log line
  Tensor loss({1}, device), dlogits, aux_loss({1}, device), daux;
  const int64_t nan_step = cli.get_int("debug-nan-step");
  // The steps' losses stay on the device until the next read (train/loss_log.h): every
  // --log-every steps, before every checkpoint and at each epoch's end.
  struct PendingStep {
    int epoch;
    int64_t step_in_epoch, global_step;
    float lr;
  };
  std::vector<PendingStep> pending;
  LossLog loss_log(log_every, device);
  double loss_sum = 0;  // this epoch's, over the steps read so far
  int64_t loss_n = 0;
  float last_loss = NAN;  // the last loss read, for the progress line
  // Reads the recorded losses: stops the run at a non-finite one (before anything is saved),
  // adds them to the epoch's mean and writes the metrics lines of the steps that have one.
  auto read_losses = [&](const Progress& progress) {
    const std::vector<float> v = loss_log.read();
    GBAD_CHECK(v.size() == pending.size(), "internal: ", v.size(), " losses for ", pending.size(),
               " steps");
    for (size_t i = 0; i < v.size(); ++i) {
      const PendingStep& st = pending[i];
      // The global batch's loss (the mean of the processes'), and which process failed if any.
      const DataParallel::CheckedMean lm = dp->mean_if_finite(v[i]);
      if (lm.failed_rank >= 0)
        GBAD_FAIL("training loss is ", dp->rank() == lm.failed_rank ? v[i] : NAN,
                  dp->size() > 1 ? " on rank " + std::to_string(lm.failed_rank) : std::string(),
                  " at epoch ", st.epoch + 1, ", step ", st.step_in_epoch + 1, " (lr ", st.lr,
                  "), noticed at the read after global step ", global_step,
                  " (losses are read every --log-every steps and before each checkpoint); no "
                  "checkpoint was written after it. The last good checkpoint is ",
                  file_exists(ckpt) ? ckpt : std::string("(none yet)"),
                  "; try a lower --lr, then --resume");
      const float l = static_cast<float>(lm.mean);
      loss_sum += l;
      ++loss_n;
      last_loss = l;
      if (st.global_step % log_every == 0 && log) {
        Json line = {{"epoch", st.epoch + 1},
                     {"step", st.global_step},
                     {"loss", l},
                     {"lr", st.lr},
                     {"images_per_s", progress.rate()}};
        if (mp.scaler().enabled()) {  // one read of the device state every --log-every steps
          const LossScalerSnapshot sc = mp.scaler().snapshot();
          line["loss_scale"] = sc.scale;
          line["skipped_steps"] = sc.skipped_steps;
        }
        if (dp->size() > 1) line["allreduce_s_per_step"] = allreduce_s / double(log_every);
        log->write(line);
      }
    }
    pending.clear();
  };
  Loader loader(train, lcfg);
  // The batches on the device, double-buffered (data/stager.h; --input-copy).
  BatchStager stager(ctx, parse_input_copy(cli.get("input-copy")));
  // One training step on device tensors: forward, loss, backward, optimiser step, scaler
  // update. Device work only (no host reads), so it can be captured in a CUDA graph.
  auto run_step = [&](const Tensor& x, const Tensor& y, const Tensor* m) {
    {
      GBAD_NVTX_RANGE("forward");
      model.forward(ctx, x, true);
    }
    NvtxRange loss_range("loss");
    model.training_loss(ctx, loss, dlogits, y, m);      // BCE; CHR: sum over its three heads
    if (nan_step > 0 && global_step + 1 == nan_step) {  // --debug-nan-step
      loss.fill(NAN);
      if (dlogits.dtype() == DType::F32) dlogits.fill(NAN);
    }
    mp.scale_loss_grad(ctx, dlogits);
    const Tensor& aux = model.aux_logits();  // InceptionV3 in training: loss + w * aux loss
    if (!aux.empty()) {
      daux.resize(aux.shape(), device);
      bce_with_logits(ctx, aux_loss, daux, aux, y, m);
      scale_inplace(ctx, daux, aux_weight);
      mp.scale_loss_grad(ctx, daux);
    }
    loss_range.end();
    ps.zero_grad();
    dp->begin_backward(ctx);  // buckets reduce during backward (--no-overlap: after it)
    {
      GBAD_NVTX_RANGE("backward");
      model.backward(ctx, dlogits, aux.empty() ? nullptr : &daux);
    }
    // The gradients averaged over the processes first: an inf/NaN on any process then reaches
    // every process, so all of them skip the same fp16 step.
    dp->average_gradients(ctx);
    mp.unscale_grads(ctx);  // fp16: inf/NaN raises the device flag ...
    GBAD_NVTX_RANGE("optimiser step");
    sgd.step(ctx, mp.skip_state());  // ... and the kernel skips the update
    mp.end_step(ctx);                // scale halved/grown; half weights refreshed
  };
  // --cuda-graphs: the step's graph, its inputs at fixed addresses, and when to use it.
  StepGraphPolicy graph_policy(graph_decision.capture);
  CudaGraph graph;
  Tensor gx, gy, gm;  // the graph's input batch (copied in from the stager's slot)
  // One step: eager, captured (then launched) or replayed, as graph_policy says.
  auto step_on = [&](const DeviceBatch& db, float lr) {
    const bool full = db.size() == lcfg.batch;
    char key[48];
    // The host values the graph bakes in: none with the rate on the device (--cuda-graphs).
    if (sgd.device_lr())
      std::snprintf(key, sizeof key, "device-lr");
    else
      std::snprintf(key, sizeof key, "%a", static_cast<double>(lr));
    const StepGraphPolicy::Action action = graph_policy.next(full, key);
    if (action == StepGraphPolicy::Action::Eager) {
      TensorStreamScope on(ctx.is_cuda() ? ctx.stream() : nullptr);
      run_step(db.images, db.labels, &db.mask);
      return;
    }
    TensorStreamScope on(ctx.stream());  // Tensor::zero/fill/copies on the step's stream
    if (!gx.defined()) {
      gx = Tensor(db.images.shape(), device);
      gy = Tensor(db.labels.shape(), device);
      gm = Tensor(db.mask.shape(), device);
    }
    gx.copy_from(db.images);  // device to device, on the step's stream
    gy.copy_from(db.labels);
    gm.copy_from(db.mask);
    if (action == StepGraphPolicy::Action::Replay) {
      GBAD_NVTX_RANGE("graph replay");
      graph.launch(ctx.stream());
      sgd.set_steps(sgd.steps() + 1);  // what the captured host code did once
      return;
    }
    // Capture: the host state the step changes is put back if the capture fails, and the step
    // then runs eagerly (none of the captured work has run).
    const int64_t saved_steps = sgd.steps();
    const uint64_t saved_seed = ctx.rng().seed(), saved_offset = ctx.rng().offset();
    bool ok = false;
    try {
      GBAD_NVTX_RANGE("graph capture");
      graph.begin_capture(ctx.stream());
      run_step(gx, gy, &gm);
      ok = graph.end_capture();
      if (ok && ctx.rng().offset() != saved_offset) {  // e.g. dropout: a replay would repeat it
        graph.reset();
        graph.abort("the step draws random numbers, which a replay would repeat");
        ok = false;
      }
    } catch (const std::exception& e) {
      graph.abort(std::string("capture failed: ") + e.what());
    }
    graph_policy.captured(ok, graph.reason());
    if (ok) {
      graph.launch(ctx.stream());
      return;
    }
    std::printf("CUDA graphs: off for the rest of the run (%s); running eagerly\n",
                graph.reason().c_str());
    sgd.set_steps(saved_steps);
    ctx.rng().set_state(saved_seed, saved_offset);
    run_step(db.images, db.labels, &db.mask);
  };
  model.set_training(true);
  for (int epoch = start_epoch; epoch < epochs; ++epoch) {
    std::vector<int64_t> order = sample_epoch(train, scfg, epoch);
    order.resize(static_cast<size_t>(steps_per_epoch * global_batch));
    order = dp->shard(order, global_batch);  // this process's share of every global batch
    int64_t first = epoch == start_epoch ? start_batch : 0;
    order.erase(order.begin(), order.begin() + first * lcfg.batch);
    loader.start_epoch(epoch, order);
    char label[64];
    std::snprintf(label, sizeof label, "epoch %d/%d", epoch + 1, epochs);
    Progress progress(label, steps_per_epoch * global_batch, "img", dp->progress_stream());
    loss_sum = 0;
    loss_n = 0;
    Batch b;
    int64_t step_in_epoch = first;
    // Fills the stager's free slots from the loader: the copy of the next batch runs while
    // the step before it computes (--input-copy async on a GPU).
    auto stage_next = [&] {
      while (stager.can_stage()) {
        {
          GBAD_NVTX_RANGE("data wait");
          if (!loader.next(b)) return;
        }
        mp.store_input(ctx, b.images);  // the input batch in half (fp16/bf16), on the host
        GBAD_NVTX_RANGE("h2d copy");
        stager.stage(b);
      }
    };
    stage_next();
    while (!stager.empty()) {
      GBAD_NVTX_RANGE("train step");
      const float lr = schedule.lr(global_step);
      sgd.set_lr(lr);
      if (sgd.device_lr()) sgd.upload_lr(ctx);  // outside the graph, on the step's stream
      step_on(stager.front(), lr);
      allreduce_s += dp->take_allreduce_seconds();
      loss_log.record(ctx, loss, model.aux_logits().empty() ? nullptr : &aux_loss, aux_weight);
      pending.push_back({epoch, step_in_epoch, global_step + 1, lr});
      stager.release();  // the step that reads the batch is enqueued ...
      stage_next();      // ... and the next batch's copy runs while it computes
      ++global_step;
      ++step_in_epoch;
      if (global_step % log_every == 0 || loss_log.full()) read_losses(progress);
      char extra[64];
      std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e", last_loss, lr);
      progress.update(step_in_epoch * global_batch, extra);
      if (global_step % log_every == 0) allreduce_s = 0;
      if (ckpt_every > 0 && global_step % ckpt_every == 0) {
        read_losses(progress);  // never a checkpoint after a non-finite loss
        save_checkpoint(epoch, step_in_epoch);
      }
      if (stop_after > 0 && ++steps_this_run >= stop_after) {
        read_losses(progress);
        std::printf("stopping after %lld steps (--stop-after); resume with --resume\n",
                    (long long)steps_this_run);
        return 3;
      }
    }
    read_losses(progress);  // the epoch's last steps, before its checkpoint
    double mean_loss = loss_n ? loss_sum / static_cast<double>(loss_n) : 0.0;
    char extra[64];
    std::snprintf(extra, sizeof extra, "mean loss %.4f", mean_loss);
    progress.finish(extra);
    save_checkpoint(epoch + 1, 0);
    if (log)
      log->write({{"epoch", epoch + 1},
                  {"step", global_step},
                  {"epoch_mean_loss", mean_loss},
                  {"images_per_s", progress.rate()},
                  {"seconds", progress.elapsed_s()}});
  }
  if (graph_decision.capture)
    std::printf("CUDA graphs: %lld captures, %lld replays, %lld eager steps%s%s\n",
                (long long)graph_policy.captures(), (long long)graph_policy.replays(),
                (long long)graph_policy.eager_steps(), graph_policy.failed() ? "; " : "",
                graph_policy.failure().c_str());
  if (dp->root()) {
    model.save(out_file("model.safetensors"), {{"epochs", std::to_string(epochs)}});
    std::printf("wrote %s\n", out_file("model.safetensors").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-train-cnn", kSummary, run);
}
