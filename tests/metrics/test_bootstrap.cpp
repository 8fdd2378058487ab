// Paired bootstrap: hand-computed differences, identical methods, agreement of the weighted
// (counts) metrics with evaluate() on the expanded list, and determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/test_util.h"
#include "eval/bootstrap.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace gbad {
namespace {

using test::Tol;

ClassScores only_gun(float s) {
  ClassScores r{};
  r[0] = s;
  return r;
}
ClassLabels gun_label(int y) {
  ClassLabels r;
  r.fill(-1);
  r[0] = int8_t(y);
  return r;
}

// Three images, Gun labels (+, -, +); the other classes have no positive (left out of mAP), and
// their scores are 0, so the binary score is the Gun score.
// A ranks the positives first (AP 1); B ranks the negative second (AP (1/1 + 2/3) / 2 = 5/6).
struct Hand {
  std::vector<ClassLabels> labels{gun_label(1), gun_label(-1), gun_label(1)};
  std::vector<ClassScores> a{only_gun(0.9f), only_gun(0.1f), only_gun(0.8f)};
  std::vector<ClassScores> b{only_gun(0.9f), only_gun(0.8f), only_gun(0.1f)};
};

TEST(Bootstrap, HandComputedPointDifference) {
  Hand h;
  BootstrapOptions o;
  o.resamples = 200;
  const PairedComparison c = paired_bootstrap(h.a, h.b, h.labels, o);
  EXPECT_NEAR(c.ap[0].estimate, 100.0 * (1 - 5.0 / 6), Tol::kHand);
  EXPECT_NEAR(c.map.estimate, 100.0 * (1 - 5.0 / 6), Tol::kHand);
  // B's binary PR AUC: thresholds 0.9 (R 1/2, P 1), 0.8 (no new positive), 0.1 (R 1, P 2/3).
  EXPECT_NEAR(c.pr_auc.estimate, 1 - (0.5 + 0.5 * 2.0 / 3), Tol::kHand);
  // B's ROC AUC: pairs (0.9 > 0.8) and (0.1 < 0.8): 1/2.
  EXPECT_NEAR(c.roc_auc.estimate, 0.5, Tol::kHand);
  // F1 at 0.5: A perfect (1); B tp = fp = fn = 1, tn = 0: F1+ = 1/2, F1- = 0 -> 1/4.
  EXPECT_NEAR(c.f1.estimate, 0.75, Tol::kHand);
  for (int k = 1; k < kNumClasses; ++k) EXPECT_TRUE(std::isnan(c.ap[k].estimate));
  EXPECT_EQ(c.ap[1].valid, 0);
  EXPECT_EQ(describe_diff(c.ap[1]), "undefined");
}

TEST(Bootstrap, HandComputedResamples) {
  Hand h;
  // Copies {0, 2, 1}: list (N, N, P2). A: P2 (0.8) first -> AP 1. B: N, N (0.8) before P2 (0.1)
  // -> AP 1/3.
  SampleStats a = weighted_stats(h.a, h.labels, {0, 2, 1});
  SampleStats b = weighted_stats(h.b, h.labels, {0, 2, 1});
  EXPECT_NEAR(a.ap[0], 100.0, Tol::kHand);
  EXPECT_NEAR(b.ap[0], 100.0 / 3, Tol::kHand);
  EXPECT_NEAR(b.roc_auc, 0.0, Tol::kHand);
  // Copies {2, 0, 1}: (P1, P1, P2), no negative: AP 1 for both, ROC AUC undefined.
  a = weighted_stats(h.a, h.labels, {2, 0, 1});
  b = weighted_stats(h.b, h.labels, {2, 0, 1});
  EXPECT_NEAR(a.map - b.map, 0.0, Tol::kHand);
  EXPECT_TRUE(std::isnan(a.roc_auc));
  // Copies {0, 3, 0}: no positive: AP and mAP undefined.
  b = weighted_stats(h.b, h.labels, {0, 3, 0});
  EXPECT_TRUE(std::isnan(b.ap[0]));
  EXPECT_TRUE(std::isnan(b.map));
  EXPECT_TRUE(std::isnan(b.pr_auc));
}

TEST(Bootstrap, PercentileHandComputed) {
  // numpy.percentile([1..5], [2.5, 97.5]) = [1.1, 4.9]; the ends and the median exactly.
  std::vector<double> v = {5, 3, 1, 4, 2};
  EXPECT_NEAR(percentile(v, 0.025), 1.1, Tol::kHand);
  EXPECT_NEAR(percentile(v, 0.975), 4.9, Tol::kHand);
  EXPECT_EQ(percentile(v, 0.0), 1.0);
  EXPECT_EQ(percentile(v, 0.5), 3.0);
  EXPECT_EQ(percentile(v, 1.0), 5.0);
  std::vector<double> one = {7};
  EXPECT_EQ(percentile(one, 0.975), 7.0);
}

std::vector<ClassScores> random_scores(size_t n, std::mt19937& rng, int levels) {
  std::uniform_int_distribution<int> q(0, levels - 1);
  std::vector<ClassScores> s(n);
  for (auto& r : s)
    for (float& v : r) v = float(q(rng)) / float(levels);  // few levels: many ties
  return s;
}

std::vector<ClassLabels> random_labels(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> u(0, 9);
  std::vector<ClassLabels> l(n);
  for (auto& r : l)
    for (int8_t& v : r) {
      const int x = u(rng);
      v = x < 3 ? 1 : x == 3 ? 0 : -1;
    }
  return l;
}

TEST(Bootstrap, IdenticalScoresGiveExactlyZero) {
  std::mt19937 rng(3);
  const size_t n = 60;
  auto s = random_scores(n, rng, 7);
  auto l = random_labels(n, rng);
  const PairedComparison c = paired_bootstrap(s, s, l);
  EXPECT_EQ(c.options.resamples, 1000);
  for (const DiffInterval* d : {&c.map, &c.roc_auc, &c.pr_auc, &c.f1, &c.ap[0], &c.ap[4]}) {
    EXPECT_EQ(d->estimate, 0.0);
    EXPECT_EQ(d->lo, 0.0);
    EXPECT_EQ(d->hi, 0.0);
    EXPECT_EQ(d->valid, 1000);
    EXPECT_TRUE(d->includes_zero());
    EXPECT_EQ(format_diff(*d), "+0.00 [+0.00, +0.00]");
    EXPECT_EQ(describe_diff(*d), "no clear difference (interval includes 0)");
  }
}

TEST(Bootstrap, WeightedStatsEqualEvaluateOnExpandedList) {
  // The counts shortcut must give what evaluate() gives on the resampled list itself (copies
  // adjacent, in input order), including ties, label-0 items and zero counts.
  std::mt19937 rng(11);
  const size_t n = 80;
  auto s = random_scores(n, rng, 9);
  auto l = random_labels(n, rng);
  for (uint64_t b = 0; b < 5; ++b) {
    const std::vector<uint32_t> w = bootstrap_counts(n, 99, b);
    std::vector<ClassScores> es;
    std::vector<ClassLabels> el;
    for (size_t i = 0; i < n; ++i)
      for (uint32_t j = 0; j < w[i]; ++j) {
        es.push_back(s[i]);
        el.push_back(l[i]);
      }
    const EvalReport r = evaluate(es, el);
    const SampleStats ws = weighted_stats(s, l, w);
    for (int c = 0; c < kNumClasses; ++c) EXPECT_DOUBLE_EQ(ws.ap[c], r.ap[c]) << "class " << c;
    EXPECT_DOUBLE_EQ(ws.map, r.map);
    EXPECT_DOUBLE_EQ(ws.roc_auc, r.binary.roc_auc);
    EXPECT_DOUBLE_EQ(ws.pr_auc, r.binary.pr_auc);
    EXPECT_DOUBLE_EQ(ws.f1, r.binary.at_threshold.f1);
  }
  // All ones = the test set itself.
  const EvalReport r = evaluate(s, l);
  const SampleStats ws = weighted_stats(s, l, std::vector<uint32_t>(n, 1));
  EXPECT_DOUBLE_EQ(ws.map, r.map);
  EXPECT_DOUBLE_EQ(ws.pr_auc, r.binary.pr_auc);
}

TEST(Bootstrap, CountsAreAResampleAndSeeded) {
  const size_t n = 50;
  std::vector<double> mean(n, 0);
  for (uint64_t b = 0; b < 400; ++b) {
    const auto w = bootstrap_counts(n, 5, b);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; ++i) {
      sum += w[i];
      mean[i] += w[i] / 400.0;
    }
    EXPECT_EQ(sum, n);
  }
  // Each image is drawn once per resample on average (sd of the mean ~ 0.05).
  for (size_t i = 0; i < n; ++i) EXPECT_NEAR(mean[i], 1.0, 0.25) << "image " << i;
  EXPECT_EQ(bootstrap_counts(n, 5, 7), bootstrap_counts(n, 5, 7));
  EXPECT_NE(bootstrap_counts(n, 5, 7), bootstrap_counts(n, 6, 7));
  EXPECT_NE(bootstrap_counts(n, 5, 7), bootstrap_counts(n, 5, 8));
}

TEST(Bootstrap, IntervalIsThePercentileOfPairedResamples) {
  std::mt19937 rng(21);
  const size_t n = 40;
  auto l = random_labels(n, rng);
  auto a = random_scores(n, rng, 50);
  auto b = random_scores(n, rng, 50);
  BootstrapOptions o;
  o.resamples = 101;
  o.seed = 4;
  const PairedComparison c = paired_bootstrap(a, b, l, o);
  std::vector<double> d;
  for (int k = 0; k < o.resamples; ++k) {
    const auto w = bootstrap_counts(n, o.seed, uint64_t(k));
    const double v = weighted_stats(a, l, w).map - weighted_stats(b, l, w).map;
    if (!std::isnan(v)) d.push_back(v);
  }
  EXPECT_EQ(c.map.valid, int(d.size()));
  EXPECT_DOUBLE_EQ(c.map.lo, percentile(d, 0.025));
  EXPECT_DOUBLE_EQ(c.map.hi, percentile(d, 0.975));
  EXPECT_NEAR(c.map.estimate, evaluate(a, l).map - evaluate(b, l).map, 1e-9);
}

TEST(Bootstrap, SameForAnyThreadCount) {
  std::mt19937 rng(8);
  const size_t n = 100;
  auto l = random_labels(n, rng);
  auto a = random_scores(n, rng, 20);
  auto b = random_scores(n, rng, 20);
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  const PairedComparison one = paired_bootstrap(a, b, l);
#ifdef _OPENMP
  omp_set_num_threads(3);
#endif
  const PairedComparison three = paired_bootstrap(a, b, l);
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
  EXPECT_EQ(one.map.lo, three.map.lo);
  EXPECT_EQ(one.map.hi, three.map.hi);
  EXPECT_EQ(one.f1.lo, three.f1.lo);
}

TEST(Bootstrap, ClearImprovementExcludesZero) {
  // A = perfect scores, B = noise, 200 images: A is clearly higher.
  std::mt19937 rng(2);
  const size_t n = 200;
  auto l = random_labels(n, rng);
  auto b = random_scores(n, rng, 100);
  std::vector<ClassScores> a(n);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < kNumClasses; ++c) a[i][c] = l[i][c] == 1 ? 1.0f : 0.0f;
  const PairedComparison c = paired_bootstrap(a, b, l);
  EXPECT_GT(c.map.lo, 0);
  EXPECT_FALSE(c.map.includes_zero());
  EXPECT_EQ(describe_diff(c.map), "higher (interval above 0)");
  const PairedComparison r = paired_bootstrap(b, a, l);
  EXPECT_LT(r.map.hi, 0);
  EXPECT_EQ(describe_diff(r.map), "lower (interval below 0)");
}

TEST(Bootstrap, SeedsAverageTheDifferenceAndReportTheirSpread) {
  std::mt19937 rng(31);
  const size_t n = 60;
  auto l = random_labels(n, rng);
  std::vector<std::vector<ClassScores>> a, b;
  for (int s = 0; s < 3; ++s) {
    a.push_back(random_scores(n, rng, 30));
    b.push_back(random_scores(n, rng, 30));
  }
  BootstrapOptions o;
  o.resamples = 50;
  const PairedComparison c = paired_bootstrap(a, b, l, o);
  EXPECT_EQ(c.seeds, 3);
  std::vector<double> d;
  for (int s = 0; s < 3; ++s) d.push_back(evaluate(a[s], l).map - evaluate(b[s], l).map);
  const double mean = (d[0] + d[1] + d[2]) / 3;
  double ss = 0;
  for (double v : d) ss += (v - mean) * (v - mean);
  EXPECT_NEAR(c.map.estimate, mean, 1e-9);
  EXPECT_NEAR(c.map.seed_sd, std::sqrt(ss / 2), 1e-9);
  // Resample 0's statistic is the mean of the three seeds' differences on that resample.
  const auto w = bootstrap_counts(n, o.seed, 0);
  double r0 = 0;
  for (int s = 0; s < 3; ++s)
    r0 += (weighted_stats(a[s], l, w).map - weighted_stats(b[s], l, w).map) / 3;
  EXPECT_GE(r0, c.map.lo - 1e-9);
  EXPECT_LE(r0, c.map.hi + 1e-9);
  // One seed: no spread.
  EXPECT_EQ(paired_bootstrap(a[0], b[0], l, o).map.seed_sd, 0.0);
  // Seed counts must match.
  EXPECT_THROW(paired_bootstrap(a, {b[0]}, l, o), std::exception);
}

TEST(Bootstrap, BadInputsAreErrors) {
  Hand h;
  std::vector<ClassScores> short_a(h.a.begin(), h.a.begin() + 2);
  EXPECT_THROW(paired_bootstrap(short_a, h.b, h.labels), std::exception);
  BootstrapOptions o;
  o.resamples = 0;
  EXPECT_THROW(paired_bootstrap(h.a, h.b, h.labels, o), std::exception);
  o.resamples = 10;
  o.level = 1.0;
  EXPECT_THROW(paired_bootstrap(h.a, h.b, h.labels, o), std::exception);
}

}  // namespace
}  // namespace gbad
