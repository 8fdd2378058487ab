// Paired bootstrap over test images: how sure are we that method A beats reference B?
//
// Each resample draws n images with replacement from the n test images; both methods are
// scored on the SAME resample (the pairing removes the image-to-image variance both methods
// share, which dominates at small test sets). The statistic is the difference A - B in each
// class's AP, in mAP, and in the binary ("any threat") ROC AUC, PR AUC and macro F1, computed
// exactly as eval/metrics.h computes them on the resampled list. The interval is the
// percentile interval of the resampled differences (linear interpolation between order
// statistics, numpy's default "linear" method); the point estimate is the difference on the
// test set as given.
//
// A resample is a vector of counts: counts[i] copies of image i. Its list is the images in
// input order, each repeated counts[i] times, so the stable-sort tie rule of eval/metrics.h
// applies to it unchanged (copies of one image are adjacent and tie with each other). Metrics
// are computed from counts over a ranking sorted once per method, O(n) per resample.
//
// Random draws: Philox4x32-10 (core/philox.h) keyed by the seed, counter (resample, draw), one
// 64-bit draw per image mapped to [0, n) by the multiply-shift (Lemire) method, whose bias is
// below n / 2^64. Resample b is the same for every thread count, machine and standard library.
//
// A statistic that is undefined on a resample (a class with no positive drawn) is left out for
// that resample; DiffInterval::valid says how many resamples remain.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "eval/metrics.h"

namespace gbad {

struct BootstrapOptions {
  int resamples = 1000;
  uint64_t seed = 20201;   // fixed default: the same command gives the same interval
  double level = 0.95;     // two-sided percentile interval
  double threshold = 0.5;  // binary decision threshold for F1 (as EvalOptions)
};

// Method minus reference for one statistic, in the statistic's units (AP and mAP in percent
// points; ROC AUC and PR AUC in [0, 1] units; F1 as a fraction).
struct DiffInterval {
  double estimate = 0;    // on the test set as given (NaN when undefined there)
  double lo = 0, hi = 0;  // percentile interval (NaN when no resample is valid)
  int valid = 0;          // resamples on which the statistic was defined
  double seed_sd = 0;     // sample sd over seeds of the per-seed difference (0 for one seed)
  bool includes_zero() const { return !(lo > 0) && !(hi < 0); }
};

struct PairedComparison {
  std::array<DiffInterval, kNumClasses> ap;
  DiffInterval map, roc_auc, pr_auc, f1;
  BootstrapOptions options;
  int64_t n_images = 0;
  int seeds = 1;
};

// The metrics one resample yields for one method (units as EvalReport: AP and mAP in percent).
struct SampleStats {
  std::array<double, kNumClasses> ap{};
  double map = 0, roc_auc = 0, pr_auc = 0, f1 = 0;
};

// Counts of resample `b` over n images (sum n).
std::vector<uint32_t> bootstrap_counts(size_t n, uint64_t seed, uint64_t b);

// The metrics of `scores` on the list given by `counts` (all ones = the test set itself); equal
// to evaluate() on the expanded list.
SampleStats weighted_stats(const std::vector<ClassScores>& scores,
                           const std::vector<ClassLabels>& labels,
                           const std::vector<uint32_t>& counts, double threshold = 0.5);

// Percentile q in [0, 1] of values (sorted in place), linear between order statistics.
double percentile(std::vector<double>& values, double q);

// The paired bootstrap of method - reference. Both score tables are in the order of `labels`.
PairedComparison paired_bootstrap(const std::vector<ClassScores>& method,
                                  const std::vector<ClassScores>& reference,
                                  const std::vector<ClassLabels>& labels,
                                  const BootstrapOptions& options = {});

// K training seeds of each (method[s] paired with reference[s], all on the same test images):
// the statistic is the mean over seeds of method[s] - reference[s], every seed scored on the
// same resample. The interval covers the test-set sampling of the seed-averaged difference;
// the spread across seeds (training noise) is reported separately (seed_sd).
PairedComparison paired_bootstrap(const std::vector<std::vector<ClassScores>>& method,
                                  const std::vector<std::vector<ClassScores>>& reference,
                                  const std::vector<ClassLabels>& labels,
                                  const BootstrapOptions& options = {});

// "+1.23 [-0.50, +2.96]" with `scale` applied (100 for fractions shown in percent).
std::string format_diff(const DiffInterval& d, double scale = 1, int decimals = 2);

// Plain words for a difference: "A is higher (interval above 0)", "no clear difference (the
// interval includes 0)" or "A is lower (interval below 0)".
std::string describe_diff(const DiffInterval& d);

}  // namespace gbad
