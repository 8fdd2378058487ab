// gbad-eval: the SIXray evaluation protocol on any model's scores.
#include <cstdio>
#include <string>

#include "core/check.h"
#include "eval/metrics.h"
#include "eval/scores_csv.h"
#include "io/io.h"
#include "train/eval_model.h"
#include "train/pipeline.h"

namespace {

const char* kHelp =
    R"(usage: gbad-eval --scores S.csv --labels L.csv [--json OUT.json] [--threshold T]
                 [--curves DIR] [--curve-points N]
       gbad-eval --cnn RUN1 [--bigan RUN2 --svm RUN3 | --no-gate] --out DIR [options]

Evaluates per-image class scores with the SIXray protocol and prints a table.

Model mode (--cnn): runs the phase-1 classifier on a split (default: the test split of the
subset phase 1 trained on) and, with --bigan and --svm, the GBAD gate: the confidences of
images the SVM calls normal are multiplied by --epsilon. Writes into --out DIR: scores.csv,
metrics.json, anomaly.csv (name,R,FM,svm_decision,anomalous; gated runs), curves/*.csv and
plots/*.svg (PR and ROC, per class and binary), and prints the table. Options:
  --cnn RUN1         phase-1 run directory (gbad-train-cnn --out)
  --bigan RUN2       phase-2 run directory (gbad-train-bigan --out)
  --svm RUN3         phase-3 run directory (gbad-train-svm --out)
  --no-gate          evaluate the classifier alone (no --bigan/--svm needed)
  --out DIR          output directory (required)
  --data DIR         SIXray root (default: the one phase 1 used)
  --subset S         ImageSet subset (default: the one phase 1 used)
  --split NAME       split CSV to evaluate (default test)
  --epsilon E        factor for the confidences of normal images (default 1e-4)
  --gate G           per-image (default, the paper: every confidence of a normal image is
                     multiplied by E) or per-class (only its confidences >= --claim-threshold,
                     the classes the CNN claims)
  --claim-threshold C  per-class gate: the claimed classes (default 0.5)
  --gate-recall R    call an image anomalous when its SVM decision value reaches the value that
                     keeps the share R of phase 3's training positives (svm run's scores.csv)
                     instead of the SVM's sign (default 0 = the sign)
  --threshold T      as below (default 0.5)
  --batch N          images per forward pass (default 32)
  --workers N        image decoding threads (default 4)
  --device D         cpu, cuda or auto (default auto)
  --precision P      fp32, tf32, fp16, bf16 or auto (default fp32; auto = bf16 on GPUs of
                     compute capability >= 8.0, fp16 on 7.x, else fp32): the classifier's
                     forward in that precision (emulated by rounding on the CPU), recorded in
                     DIR/config.json and DIR/versions.json; the Bi-GAN and the SVM stay fp32
  --skip-missing     skip CSV rows whose image is missing (default: stop with an error)

File mode (--scores/--labels): metrics from the numbers in two files, no network runs, so
there is no --precision (nor --device) here:

  --scores S.csv     scores, one row per image (format below)
  --labels L.csv     a SIXray split CSV, e.g. ImageSet/100/test.csv (format below)
  --json OUT.json    also write the results as JSON (written atomically)
  --threshold T      binary decision threshold for precision/recall/F1 (default 0.5;
                     an image is called a threat when its score >= T)
  --curves DIR       write ROC and PR curve points (CSV) for each class and the binary view:
                     DIR/<Class>_roc.csv, DIR/<Class>_pr.csv, DIR/binary_roc.csv,
                     DIR/binary_pr.csv (columns fpr,tpr,threshold / recall,precision,threshold)
  --curve-points N   decimate each curve to at most N points (default 2000; 0 = all)
  -h, --help         this text

Scores CSV (S.csv):
  name,Gun,Knife,Wrench,Pliers,Scissors
  P00001,0.93,0.02,0.10,0.01,0.00
  N0000123,0.01,0.03,0.00,0.02,0.01
  Header exactly as shown; then <image name>,<5 scores> per row. Scores are any real numbers
  (probabilities, logits, ...; higher = more likely present). NaN is an error.

Labels CSV (L.csv), the SIXray split format:
  name,Gun,Knife,Wrench,Pliers,Scissors
  P02552,1,-1,-1,-1,-1
  N0678859,-1,-1,-1,-1,-1
  Labels: 1 = present, -1 = absent, 0 = difficult (that image is ignored for that class).

Both files: rows are matched by image name, in any order; every name must appear in both
files (an error names the missing ones and counts them); a repeated name or a malformed row is
an error naming file:line. Blank lines and CRLF line ends are accepted.

Metrics:
  AP (CHR)     per class, non-interpolated: rank images by score (descending, stable sort:
               equal scores keep the scores file's row order), average the precision at each
               positive's rank; label-0 images skipped. This is the default AP (CHR code).
  AP (VOC07)   Pascal VOC 2007 11-point interpolated AP over the same ranking.
  mAP          mean over the classes, in percent. A class without positives has no AP (null
               in JSON) and is left out of the mean, with a warning.
  binary       "any threat": image score = max of its 5 scores, positive if any label is 1.
               ROC AUC (exact with ties), PR AUC (average precision as scikit-learn's
               average_precision_score), and precision/recall/F1 at the threshold, each the
               unweighted mean over the positive and the negative class. Values in [0, 1].

Both modes take --config FILE: a JSON object of options, or a run directory's config.json
(gbad-eval --config RUN/config.json --out DIR repeats an evaluation); the command line overrides
it.
JSON: {"ap": {"Gun": .., ...}, "map": .., "ap_voc07": {...}, "map_voc07": .., "binary":
       {"roc_auc": .., "pr_auc": .., "precision": .., "recall": .., "f1": .., ...}, ...}
)";

// The file mode: --scores and --labels.
int file_mode(int argc, char** argv) {
  using namespace gbad;
  Cli cli("gbad-eval", "file mode; see gbad-eval --help");
  cli.option("scores", "", "scores CSV", true)
      .option("labels", "", "SIXray split CSV", true)
      .option("json", "", "also write the results as JSON")
      .option("threshold", "0.5", "binary decision threshold")
      .option("curves", "", "folder for ROC and PR curve points")
      .option("curve-points", "2000", "at most this many points per curve (0 = all)");
  cli.parse(argc, argv);  // --help never reaches here (main prints kHelp)
  const std::string scores_path = cli.get("scores"), labels_path = cli.get("labels");
  const std::string json_path = cli.get("json"), curves_dir = cli.get("curves");
  const long long curve_points = cli.get_int("curve-points");
  if (curve_points < 0) throw UsageError("--curve-points needs a whole number >= 0");
  EvalOptions options;
  options.threshold = cli.get_double("threshold");
  options.curves = !curves_dir.empty();
  options.max_curve_points = size_t(curve_points);

  const ScoreTable scores = read_scores_csv(scores_path);
  const LabelTable labels = read_label_csv(labels_path);
  const auto matched = match_labels(scores, labels);
  const EvalReport report = evaluate(scores.scores, matched, options);
  std::printf("scores %s, labels %s\n", scores_path.c_str(), labels_path.c_str());
  std::fputs(eval_report_table(report).c_str(), stdout);
  if (!json_path.empty()) {
    write_file_atomic(json_path, eval_report_json(report));
    std::printf("wrote %s\n", json_path.c_str());
  }
  if (!curves_dir.empty()) {
    make_dirs(curves_dir);
    auto put = [&](const std::string& stem, const Curve& roc, const Curve& pr) {
      write_file_atomic(curves_dir + "/" + stem + "_roc.csv", curve_csv(roc, "fpr", "tpr"));
      write_file_atomic(curves_dir + "/" + stem + "_pr.csv", curve_csv(pr, "recall", "precision"));
    };
    for (int c = 0; c < kNumClasses; ++c) put(kClassNames[c], report.roc[c], report.pr[c]);
    put("binary", report.binary_roc, report.binary_pr);
    std::printf("wrote curves to %s\n", curves_dir.c_str());
  }
  return 0;
}

// Model mode when --cnn is given, on the command line or in a --config file.
bool model_mode(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--cnn" || a.rfind("--cnn=", 0) == 0) return true;
    std::string file;
    if (a == "--config" && i + 1 < argc) file = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) file = a.substr(9);
    if (!file.empty())
      for (const auto& [name, value] : gbad::read_config_options(file, "gbad-eval"))
        if (name == "cnn" && !value.empty()) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kHelp, stdout);
      return 0;
    }
  }
  return gbad::run_main(argc, argv, "gbad-eval", [&] {
    if (!model_mode(argc, argv)) return file_mode(argc, argv);
    gbad::Phase phase("gbad-eval", "model mode; see gbad-eval --help", argc, argv);
    return gbad::eval_model_main(phase);
  });
}
