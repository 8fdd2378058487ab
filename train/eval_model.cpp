#include "train/eval_model.h"

#include <cstdio>
#include <memory>

#include "eval/gate.h"
#include "eval/plot.h"
#include "eval/scores_csv.h"
#include "io/io.h"
#include "train/pipeline.h"

namespace gbad {

void write_eval_outputs(const std::string& dir, const EvalReport& report,
                        const std::string& title) {
  make_dirs(dir + "/curves");
  make_dirs(dir + "/plots");
  write_file_atomic(dir + "/metrics.json", eval_report_json(report));
  auto put = [&](const std::string& stem, const Curve& roc, const Curve& pr) {
    write_file_atomic(dir + "/curves/" + stem + "_roc.csv", curve_csv(roc, "fpr", "tpr"));
    write_file_atomic(dir + "/curves/" + stem + "_pr.csv", curve_csv(pr, "recall", "precision"));
  };
  for (int c = 0; c < kNumClasses; ++c) put(kClassNames[c], report.roc[c], report.pr[c]);
  put("binary", report.binary_roc, report.binary_pr);

  char name[96];
  std::vector<PlotSeries> pr, roc;
  for (int c = 0; c < kNumClasses; ++c) {
    std::snprintf(name, sizeof name, "%s (AP %.1f)", kClassNames[c], report.ap[c]);
    pr.push_back({name, report.pr[c].x, report.pr[c].y});
    roc.push_back({kClassNames[c], report.roc[c].x, report.roc[c].y});
  }
  PlotOptions o;
  o.title = title + ": per-class PR";
  o.xlabel = "recall";
  o.ylabel = "precision";
  write_file_atomic(dir + "/plots/class_pr.svg", svg_line_plot(pr, o));
  o.title = title + ": per-class ROC";
  o.xlabel = "false positive rate";
  o.ylabel = "true positive rate";
  o.diagonal = true;
  write_file_atomic(dir + "/plots/class_roc.svg", svg_line_plot(roc, o));
  o.title = title + ": any-threat ROC";
  std::snprintf(name, sizeof name, "any threat (AUC %.3f)", report.binary.roc_auc);
  write_file_atomic(dir + "/plots/binary_roc.svg",
                    svg_line_plot({{name, report.binary_roc.x, report.binary_roc.y}}, o));
  o.title = title + ": any-threat PR";
  o.xlabel = "recall";
  o.ylabel = "precision";
  o.diagonal = false;
  std::snprintf(name, sizeof name, "any threat (AP %.3f)", report.binary.pr_auc);
  write_file_atomic(dir + "/plots/binary_pr.svg",
                    svg_line_plot({{name, report.binary_pr.x, report.binary_pr.y}}, o));
}

int eval_model_main(Phase& p) {
  Cli& cli = p.cli();
  cli.option("cnn", "", "phase-1 run directory", true)
      .option("bigan", "", "phase-2 run directory")
      .option("svm", "", "phase-3 run directory")
      .flag("no-gate", "evaluate the classifier alone")
      .option("out", "", "output directory", true)
      .option("data", "", "SIXray root (default: phase 1's)")
      .option("subset", "", "ImageSet subset (default: phase 1's)")
      .option("split", "test", "split CSV to evaluate")
      .option("epsilon", "1e-4", "factor for the confidences of normal images")
      .option("threshold", "0.5", "binary decision threshold")
      .option("batch", "32", "images per forward pass")
      .option("workers", "4", "image decoding threads")
      .option("title", "", "title of the plots (default: the output directory)")
      .option("gate", "per-image",
              "gate study: per-image (the paper: all confidences of a normal image) or "
              "per-class (only its confidences >= --claim-threshold)")
      .option("claim-threshold", "0.5", "per-class gate: confidences the CNN claims")
      .option("gate-recall", "0",
              "gate study: call an image anomalous when its SVM decision reaches the value "
              "that keeps this share of phase 3's training positives (0 = the SVM's sign)")
      .flag("skip-missing", "skip CSV rows whose image is missing");
  if (!p.parse()) return 0;
  const bool gate = !cli.get_flag("no-gate");
  GBAD_CHECK(!gate || (!cli.get("bigan").empty() && !cli.get("svm").empty()),
             "the GBAD gate needs --bigan RUN2 and --svm RUN3 (or --no-gate for the "
             "classifier alone)");
  const Device device = p.device();
  Context& ctx = p.ctx();
  CnnRun cnn = load_cnn_run(cli.get("cnn"), device);
  // The gate's inputs are read (and checked) before the images are evaluated, so a damaged
  // phase-2/3 run fails at once rather than after the whole split.
  std::unique_ptr<RunConfig> gan_run, svm_run;
  std::unique_ptr<BiGan> bigan;
  std::unique_ptr<Svm> svm;
  const double recall = cli.get_double("gate-recall");
  double cut = 0;
  if (gate) {
    gan_run = std::make_unique<RunConfig>(cli.get("bigan"), "train-bigan");
    svm_run = std::make_unique<RunConfig>(cli.get("svm"), "train-svm");
    bigan = std::make_unique<BiGan>(BiGan::read_config(gan_run->file("bigan.safetensors")), device);
    bigan->load(gan_run->file("bigan.safetensors"));
    svm = std::make_unique<Svm>(load_svm_run(*svm_run));
    // Anomalous iff decision > 0 (the SVM's sign), or >= a threshold that keeps
    // --gate-recall of phase 3's training positives.
    GBAD_CHECK(recall >= 0 && recall <= 1, "--gate-recall ", recall, " must be in [0, 1]");
    if (recall > 0) {
      std::vector<double> pos;
      const SvmScoreTable trained = read_svm_scores_csv(svm_run->file("scores.csv"));
      for (size_t k = 0; k < trained.label.size(); ++k)
        if (trained.label[k] > 0) pos.push_back(trained.decision[k]);
      cut = recall_threshold(pos, recall);
      std::printf("gate threshold %.6g: keeps %.0f%% of phase 3's %zu training positives\n", cut,
                  100 * recall, pos.size());
    }
  }
  const std::string data = cli.get("data").empty() ? cnn.data : cli.get("data");
  const std::string subset = cli.get("subset").empty() ? cnn.subset : cli.get("subset");
  RunDir& dir = p.open_run_dir(cli.get("out"), "eval", {{"data", data}, {"subset", subset}});

  ImageIndex index = index_images(data);
  std::vector<Sample> samples =
      load_split(index, subset, cli.get("split"), cli.get_flag("skip-missing"), nullptr);
  std::printf("evaluating %s on %s/%s (%zu images)%s\n", cnn.model->arch().c_str(), subset.c_str(),
              cli.get("split").c_str(), samples.size(), gate ? " with the GBAD gate" : "");
  Tensor feats =
      extract_features(ctx, *cnn.model, samples,
                       eval_loader_config(cnn.image_size, static_cast<int>(cli.get_int("batch")),
                                          static_cast<int>(cli.get_int("workers"))),
                       "eval");
  ScoreTable table;
  table.scores = confidences(feats);
  for (const Sample& s : samples) table.names.push_back(s.stem);
  if (gate) {
    GBAD_CHECK(bigan->config().x_dim == feats.size(1), "the Bi-GAN of ", cli.get("bigan"),
               " takes ", bigan->config().x_dim, " features but the classifier gives ",
               feats.size(1));
    AnomalyScores sc = anomaly_scores(ctx, *bigan, feats);
    std::vector<double> dv = svm->decision_values(svm_rows(sc, svm_uses_log_scores(*svm_run)), 2);
    auto is_anomalous = [&](double v) { return recall > 0 ? v >= cut : v > 0; };
    std::vector<int> anomalous;
    std::string csv = "name,R,FM,svm_decision,anomalous\n";
    char buf[96];
    int64_t n_anom = 0, pos_anom = 0, npos = 0;
    for (size_t i = 0; i < dv.size(); ++i) {
      const bool a = is_anomalous(dv[i]);
      anomalous.push_back(a ? 1 : -1);
      n_anom += a;
      npos += samples[i].positive();
      pos_anom += samples[i].positive() && a;
      std::snprintf(buf, sizeof buf, ",%.6g,%.6g,%.6g,%d\n", double(sc.r[i]), double(sc.fm[i]),
                    dv[i], a ? 1 : 0);
      csv += samples[i].stem + buf;
    }
    write_file_atomic(dir.file("anomaly.csv"), csv);
    const long long suppressed = apply_gate_mode(
        table.scores, anomalous, static_cast<float>(cli.get_double("epsilon")),
        parse_gate_mode(cli.get("gate")), static_cast<float>(cli.get_double("claim-threshold")));
    std::printf("gate (%s): %lld confidences suppressed\n", cli.get("gate").c_str(), suppressed);
    std::printf("gate: %lld of %zu images called anomalous (%lld of %lld positives)\n",
                (long long)n_anom, dv.size(), (long long)pos_anom, (long long)npos);
  }
  write_scores_csv(dir.file("scores.csv"), table);
  std::vector<ClassLabels> labels;
  for (const Sample& s : samples) labels.push_back(s.labels);
  EvalOptions eo;
  eo.threshold = cli.get_double("threshold");
  eo.curves = true;
  eo.max_curve_points = 2000;
  EvalReport report = evaluate(table.scores, labels, eo);
  std::fputs(eval_report_table(report).c_str(), stdout);
  std::string title = cli.get("title").empty() ? cli.get("out") : cli.get("title");
  write_eval_outputs(dir.path(), report, title);
  std::printf("wrote %s (metrics.json, scores.csv, curves/, plots/)\n", dir.path().c_str());
  return 0;
}

}  // namespace gbad
