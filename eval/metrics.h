// The SIXray evaluation protocol: per-class AP (CHR style and Pascal VOC 2007 11-point), mAP,
// and the paper's binary "any threat" metrics (ROC AUC, PR AUC, macro precision/recall/F1),
// plus ROC and PR curve points for plotting.
//
// Labels follow the SIXray split CSVs: 1 = present, -1 = absent, 0 = difficult (ignored: an
// item labelled 0 is dropped before anything is ranked, as the CHR code does).
//
// Tie rule (one rule, everywhere): items are ranked by score descending with a STABLE sort,
// so items with equal scores keep their input order. The per-item walks (CHR AP, VOC07 AP)
// depend on that order when positives and negatives tie; the threshold-based quantities (ROC
// AUC, PR AUC, curves, P/R/F1 at a threshold) group equal scores into one threshold and do not
// depend on order. Scores must not be NaN (an Error names the index); +-inf are allowed.
//
// Everything is O(n log n) (one sort per class and one for the binary score).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/classes.h"

namespace gbad {

// ---- one class / one binary problem: scores[i] with labels[i] in {1, 0, -1} ----------------
// AP values are fractions in [0, 1]; NaN when there is no positive (AP undefined).

// CHR-style non-interpolated AP: walk down the ranking, average precision@rank over positives.
double average_precision_chr(const std::vector<float>& scores, const std::vector<int>& labels);

// Pascal VOC 2007 11-point AP: mean over t = 0, 0.1, ..., 1 of max precision at recall >= t
// (0 when no rank reaches t), over the same per-item ranking as the CHR AP. The thresholds are
// t = i * 0.1 in double, exactly as numpy.arange(0, 1.1, 0.1) in the Python VOC07 code
// everyone copies (so t = 0.30000000000000004 etc.; a recall of exactly 0.3 does not reach it).
double average_precision_voc07(const std::vector<float>& scores, const std::vector<int>& labels);

// ROC AUC, exact with ties (trapezoid over distinct thresholds = Mann-Whitney U / (P N) with
// tied pairs counted half). NaN when either class is empty.
double roc_auc(const std::vector<float>& scores, const std::vector<int>& labels);

// PR AUC as scikit-learn's average_precision_score: sum_k (R_k - R_{k-1}) P_k over the distinct
// thresholds (ties grouped), R_0 = 0. NaN when there is no positive.
double pr_auc(const std::vector<float>& scores, const std::vector<int>& labels);

// Precision, recall and F1 at a threshold (score >= threshold predicts positive), each the
// unweighted mean over the positive and the negative class (scikit-learn average="macro": F1
// is the mean of the two per-class F1s). A 0/0 ratio counts as 0 (scikit-learn's
// zero_division default).
struct ThresholdMetrics {
  double threshold = 0.5;
  double precision = 0, recall = 0, f1 = 0;  // macro
  double precision_pos = 0, recall_pos = 0, f1_pos = 0;
  double precision_neg = 0, recall_neg = 0, f1_neg = 0;
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};
ThresholdMetrics threshold_metrics(const std::vector<float>& scores, const std::vector<int>& labels,
                                   double threshold);

// Curve points for plotting, one per distinct threshold.
//   ROC: x = fpr, y = tpr, from the highest threshold down: starts at (0, 0) with threshold
//        +inf, ends at (1, 1) (scikit-learn's roc_curve with drop_intermediate=False).
//   PR:  x = recall, y = precision, from the lowest threshold up (decreasing recall), then
//        scikit-learn's extra point (recall 0, precision 1, threshold +inf), as
//        precision_recall_curve in scikit-learn >= 1.1.
// max_points > 0 decimates to at most that many points (always keeping the first and last).
struct Curve {
  std::vector<double> x, y, threshold;
  size_t size() const { return x.size(); }
};
Curve roc_curve(const std::vector<float>& scores, const std::vector<int>& labels,
                size_t max_points = 0);
Curve pr_curve(const std::vector<float>& scores, const std::vector<int>& labels,
               size_t max_points = 0);

// ---- the whole protocol over n images x 5 classes ------------------------------------------
using ClassScores = std::array<float, kNumClasses>;
using ClassLabels = std::array<int8_t, kNumClasses>;  // 1 / 0 / -1

// Binary "any threat" view: score = max of the 5 class scores; label = 1 if any class label is
// 1, else -1 (0 labels count as "not present" here).
void binary_view(std::vector<float>& scores, std::vector<int>& labels,
                 const std::vector<ClassScores>& class_scores,
                 const std::vector<ClassLabels>& class_labels);

struct BinaryMetrics {
  double roc_auc = 0, pr_auc = 0;  // in [0, 1]
  ThresholdMetrics at_threshold;   // macro precision / recall / F1 in [0, 1]
  int64_t n_pos = 0, n_neg = 0;
};

struct EvalOptions {
  double threshold = 0.5;       // binary decision threshold (score >= threshold: threat)
  bool curves = false;          // fill EvalReport's curves
  size_t max_curve_points = 0;  // 0 = every distinct threshold
};

struct EvalReport {
  // Percent (0-100). NaN for a class without positives; such a class is left out of the means
  // (and a warning says so). mAP is NaN when no class has a positive.
  std::array<double, kNumClasses> ap{}, ap_voc07{};
  double map = 0, map_voc07 = 0;
  std::array<int64_t, kNumClasses> n_pos{}, n_neg{}, n_ignored{};
  BinaryMetrics binary;
  int64_t n_images = 0;
  std::vector<std::string> warnings;
  // Only when EvalOptions::curves: per class (labels 0 skipped) and for the binary view.
  std::array<Curve, kNumClasses> roc, pr;
  Curve binary_roc, binary_pr;
};

EvalReport evaluate(const std::vector<ClassScores>& scores, const std::vector<ClassLabels>& labels,
                    const EvalOptions& options = {});

// The JSON document gbad-eval writes:
// {"ap": {"Gun": .., ...}, "map": .., "ap_voc07": {...}, "map_voc07": .., "binary": {"roc_auc":
// .., "pr_auc": .., "precision": .., "recall": .., "f1": ..}, ...extra keys}; NaN -> null.
std::string eval_report_json(const EvalReport& report);

// A plain-text table of the report (what gbad-eval prints).
std::string eval_report_table(const EvalReport& report);

// "x_name,y_name,threshold\n" then one line per point.
std::string curve_csv(const Curve& curve, const char* x_name, const char* y_name);

}  // namespace gbad
