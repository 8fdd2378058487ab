// gbad-train-svm: phase 3. Anomaly scores (R, FM) of every positive training image and of the
// phase-2 negatives, then an SVM that separates them (anomalous = +1, normal = -1).
#include <cstdio>
#include <filesystem>

#include "eval/scores_csv.h"
#include "train/pipeline.h"

using namespace gbad;

namespace {

const char* kSummary =
    "Phase 3 of GBAD: train the SVM on the anomaly scores (R, FM) of all positive\n"
    "training images (anomalous, +1) and the phase-2 negatives (normal, -1).\n"
    "Writes OUT/svm.safetensors, OUT/scores.csv (stem,label,R,FM,decision) and the run files.";

int run(Phase& p) {
  Cli& cli = p.cli();
  cli.option("cnn", "", "phase-1 run directory", true)
      .option("bigan", "", "phase-2 run directory", true)
      .option("out", "", "run directory to write", true)
      .option("data", "", "SIXray root (default: the one phase 1 used)")
      .option("subset", "", "ImageSet subset (default: the one phase 1 used)")
      .option("kernel", "rbf", "rbf or linear")
      .option("C", "1", "SVM cost")
      .option("gamma", "0", "RBF gamma (0 = 1/num_features on the standardised scores)")
      .option("class-weight", "balanced", "none or balanced (weights inverse to class counts)")
      .option("log-scores", "1", "train on log R and log FM (1) or on R and FM (0)")
      .option("standardize", "1", "standardise R and FM with the training mean/std (1 or 0)")
      .option("workers", "4", "image decoding threads")
      .option("feature-batch", "32", "batch size of the feature extraction")
      .flag("skip-missing", "skip CSV rows whose image is missing");
  if (!p.parse()) return 0;
  const Device device = p.device();
  const uint64_t seed = p.seed();
  Context& ctx = p.ctx();
  CnnRun cnn = load_cnn_run(cli.get("cnn"), device);
  RunConfig gan_run(cli.get("bigan"), "train-bigan");
  {
    std::error_code ec;
    GBAD_CHECK(std::filesystem::equivalent(gan_run.option("cnn"), cli.get("cnn"), ec),
               "the Bi-GAN run ", cli.get("bigan"), " was trained on the features of ",
               gan_run.option("cnn"), ", not of ", cli.get("cnn"));
  }
  const std::string data = cli.get("data").empty() ? cnn.data : cli.get("data");
  const std::string subset = cli.get("subset").empty() ? cnn.subset : cli.get("subset");
  RunDir& dir = p.open_run_dir(cli.get("out"), "train-svm", {{"data", data}, {"subset", subset}});

  BiGan bigan(BiGan::read_config(gan_run.file("bigan.safetensors")), device);
  bigan.load(gan_run.file("bigan.safetensors"));
  std::vector<std::string> neg_stems;
  Tensor neg = load_features(gan_run.file("negatives.safetensors"), &neg_stems);
  GBAD_CHECK(neg.size(1) == cnn.model->feature_dim(), "feature size of ",
             gan_run.file("negatives.safetensors"), " (", neg.size(1),
             ") differs from the classifier's (", cnn.model->feature_dim(), ")");

  ImageIndex index = index_images(data);
  std::vector<Sample> train =
      load_split(index, subset, "train", cli.get_flag("skip-missing"), nullptr);
  std::vector<Sample> pos;
  for (const Sample& s : train)
    if (s.positive()) pos.push_back(s);
  GBAD_CHECK(!pos.empty(), "the train split of subset ", subset, " has no positives");
  std::printf("scoring %zu positives and %lld negatives\n", pos.size(), (long long)neg.size(0));
  Tensor pos_feat = extract_features(
      ctx, *cnn.model, pos,
      eval_loader_config(cnn.image_size, static_cast<int>(cli.get_int("feature-batch")),
                         static_cast<int>(cli.get_int("workers"))),
      "features");
  AnomalyScores sp = anomaly_scores(ctx, bigan, pos_feat);
  AnomalyScores sn = anomaly_scores(ctx, bigan, neg);

  const bool log_scores = cli.get_int("log-scores") != 0;
  std::vector<float> x = svm_rows(sp, log_scores), xn = svm_rows(sn, log_scores);
  x.insert(x.end(), xn.begin(), xn.end());
  std::vector<int> y(sp.r.size(), 1);
  y.insert(y.end(), sn.r.size(), -1);

  SvmConfig scfg;
  scfg.kernel = svm_kernel_from_string(cli.get("kernel"));
  scfg.C = cli.get_double("C");
  scfg.gamma = cli.get_double("gamma");
  scfg.class_weight = svm_class_weight_from_string(cli.get("class-weight"));
  scfg.standardize = cli.get_int("standardize") != 0;
  scfg.seed = static_cast<uint32_t>(seed);
  Svm svm(scfg);
  svm.train(x, 2, y);
  svm.save(dir.file("svm.safetensors"));

  std::vector<double> dv = svm.decision_values(x, 2);
  int64_t tp = 0, tn = 0;
  SvmScoreTable table;
  const std::vector<float> raw_p = svm_rows(sp, false), raw_n = svm_rows(sn, false);
  for (size_t i = 0; i < y.size(); ++i) {
    bool anomalous = dv[i] > 0;
    tp += (y[i] > 0 && anomalous);
    tn += (y[i] < 0 && !anomalous);
    const float* raw = i < pos.size() ? &raw_p[2 * i] : &raw_n[2 * (i - pos.size())];
    table.stems.push_back(i < pos.size() ? pos[i].stem : neg_stems[i - pos.size()]);
    table.label.push_back(y[i]);
    table.r.push_back(raw[0]);
    table.fm.push_back(raw[1]);
    table.decision.push_back(dv[i]);
  }
  write_svm_scores_csv(dir.file("scores.csv"), table);
  std::printf(
      "SVM (%s, C %g, %lld support vectors): on its training set %lld/%zu positives "
      "called anomalous, %lld/%zu negatives called normal\n",
      cli.get("kernel").c_str(), scfg.C, (long long)svm.num_support_vectors(), (long long)tp,
      sp.r.size(), (long long)tn, sn.r.size());
  write_json_file(
      dir.file("summary.json"),
      {{"positives", sp.r.size()},
       {"negatives", sn.r.size()},
       {"train_recall_anomalous", sp.r.empty() ? 0.0 : double(tp) / double(sp.r.size())},
       {"train_specificity", sn.r.empty() ? 0.0 : double(tn) / double(sn.r.size())},
       {"support_vectors", svm.num_support_vectors()}});
  std::printf("wrote %s\n", dir.file("svm.safetensors").c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return phase_main(argc, argv, "gbad-train-svm", kSummary, run);
}
