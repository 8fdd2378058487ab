// Metrics against hand-computed values, scikit-learn's documented values, brute force, and
// properties (perfect / reversed / all-tied rankings).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "common/test_util.h"
#include "core/check.h"
#include "eval/metrics.h"
#include "io/json.h"

namespace gbad {
namespace {

using test::Tol;

// The running example: ranks 1..5, positives at ranks 1, 3, 5.
const std::vector<float> kS5 = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f};
const std::vector<int> kL5 = {1, -1, 1, -1, 1};

TEST(Metrics, ChrApHandComputed) {
  // precision@rank at the positives: 1/1, 2/3, 3/5 -> mean 34/45.
  EXPECT_NEAR(average_precision_chr(kS5, kL5), 34.0 / 45.0, Tol::kHand);
}

TEST(Metrics, ChrApIgnoresZeroLabels) {
  // Label-0 items are removed before ranking, wherever they sit (top, middle, bottom).
  std::vector<float> s = {0.95f, 0.9f, 0.8f, 0.75f, 0.7f, 0.6f, 0.5f, 0.1f};
  std::vector<int> l = {0, 1, -1, 0, 1, -1, 1, 0};
  EXPECT_NEAR(average_precision_chr(s, l), 34.0 / 45.0, Tol::kHand);
  EXPECT_NEAR(average_precision_voc07(s, l), average_precision_voc07(kS5, kL5), Tol::kHand);
  EXPECT_NEAR(roc_auc(s, l), roc_auc(kS5, kL5), Tol::kHand);
  // Turning the 0s into negatives changes the AP (so the test can tell).
  for (int& v : l) v = v == 0 ? -1 : v;
  EXPECT_LT(average_precision_chr(s, l), 34.0 / 45.0 - 0.01);
}

TEST(Metrics, ChrApTiesKeepInputOrder) {
  // Stable sort: tied items keep their input order.
  EXPECT_NEAR(average_precision_chr({0.5f, 0.5f, 0.5f}, {-1, 1, 1}), (1.0 / 2 + 2.0 / 3) / 2,
              Tol::kHand);
  EXPECT_NEAR(average_precision_chr({0.5f, 0.5f, 0.5f}, {1, 1, -1}), 1.0, Tol::kHand);
  // Ties do not reorder against strictly higher scores.
  EXPECT_NEAR(average_precision_chr({0.2f, 0.5f, 0.5f}, {1, -1, 1}), (1.0 / 2 + 2.0 / 3) / 2,
              Tol::kHand);
}

TEST(Metrics, Voc07HandComputed) {
  // recall 1/3,1/3,2/3,2/3,1; precision 1,1/2,2/3,1/2,3/5. Interpolated: t<=1/3 -> 1,
  // 1/3<t<=2/3 -> 2/3, t>2/3 -> 3/5. t = 0,.1,.2,.3 (4 x 1), .4,.5,.6 (3 x 2/3), .7..1 (4 x .6).
  EXPECT_NEAR(average_precision_voc07(kS5, kL5), (4 + 2 + 2.4) / 11, Tol::kHand);
}

TEST(Metrics, Voc07ThresholdsAsNumpyArange) {
  // 10 positives: 3 at the top, 8 negatives, 7 positives. Recall 3/10 == 0.3 does not reach
  // t = 3 * 0.1 = 0.30000000000000004 (numpy.arange), so t = 0.3 takes the max precision over
  // the later ranks, 10/18.
  std::vector<float> s;
  std::vector<int> l;
  for (int i = 0; i < 18; ++i) {
    s.push_back(float(100 - i));
    l.push_back(i < 3 || i >= 11 ? 1 : -1);
  }
  EXPECT_NEAR(average_precision_voc07(s, l), (3 + 8 * 10.0 / 18) / 11, Tol::kHand);
}

TEST(Metrics, RocAucTiesCountHalf) {
  // Pairs (pos, neg): (0.9,0.5) 1, (0.9,0.1) 1, (0.5,0.5) 1/2, (0.5,0.1) 1 -> 3.5 / 4.
  EXPECT_NEAR(roc_auc({0.9f, 0.5f, 0.5f, 0.1f}, {1, 1, -1, -1}), 0.875, Tol::kHand);
  EXPECT_NEAR(roc_auc({0.9f, 0.5f, 0.5f, 0.1f}, {1, -1, 1, -1}), 0.875, Tol::kHand);
  EXPECT_NEAR(roc_auc({0.3f, 0.3f, 0.3f, 0.3f, 0.3f}, {1, -1, -1, 1, -1}), 0.5, Tol::kHand);
  EXPECT_NEAR(roc_auc(kS5, kL5), 0.5, Tol::kHand);  // 3 of 6 pairs ordered right
}

TEST(Metrics, ScikitLearnDocumentedValues) {
  // scikit-learn docs: y_true = [0, 0, 1, 1], y_score = [0.1, 0.4, 0.35, 0.8]:
  // roc_auc_score = 0.75, average_precision_score = 0.8333...
  const std::vector<float> s = {0.1f, 0.4f, 0.35f, 0.8f};
  const std::vector<int> l = {-1, -1, 1, 1};
  EXPECT_NEAR(roc_auc(s, l), 0.75, Tol::kHand);
  EXPECT_NEAR(pr_auc(s, l), 5.0 / 6.0, Tol::kHand);
  // precision_recall_curve: precision [0.5, 2/3, 0.5, 1, 1], recall [1, 1, 0.5, 0.5, 0],
  // thresholds [0.1, 0.35, 0.4, 0.8] (+ our +inf for the extra point).
  const Curve pr = pr_curve(s, l);
  ASSERT_EQ(pr.size(), 5u);
  const double p[] = {0.5, 2.0 / 3, 0.5, 1, 1}, r[] = {1, 1, 0.5, 0.5, 0};
  const float t[] = {0.1f, 0.35f, 0.4f, 0.8f};
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(pr.y[i], p[i], Tol::kHand) << i;
    EXPECT_NEAR(pr.x[i], r[i], Tol::kHand) << i;
    if (i < 4) {
      EXPECT_EQ(pr.threshold[i], double(t[i])) << i;
    }
  }
  EXPECT_TRUE(std::isinf(pr.threshold[4]));
  // roc_curve(drop_intermediate=False): fpr [0,0,.5,.5,1], tpr [0,.5,.5,1,1].
  const Curve roc = roc_curve(s, l);
  ASSERT_EQ(roc.size(), 5u);
  const double fpr[] = {0, 0, 0.5, 0.5, 1}, tpr[] = {0, 0.5, 0.5, 1, 1};
  for (int i = 0; i < 5; ++i) {
    EXPECT_NEAR(roc.x[i], fpr[i], Tol::kHand) << i;
    EXPECT_NEAR(roc.y[i], tpr[i], Tol::kHand) << i;
  }
  EXPECT_TRUE(std::isinf(roc.threshold[0]));
}

TEST(Metrics, PrAucGroupsTies) {
  // Distinct scores: average precision equals the CHR AP (34/45).
  EXPECT_NEAR(pr_auc(kS5, kL5), 34.0 / 45.0, Tol::kHand);
  // Ties: one threshold 0.5 with tp 2, fp 1 -> recall 1 at precision 2/3. The per-item CHR AP
  // of the same input (stable order pos, neg, pos) is (1 + 2/3) / 2.
  const std::vector<float> s = {0.5f, 0.5f, 0.5f, 0.2f};
  const std::vector<int> l = {1, -1, 1, -1};
  EXPECT_NEAR(pr_auc(s, l), 2.0 / 3.0, Tol::kHand);
  EXPECT_NEAR(average_precision_chr(s, l), 5.0 / 6.0, Tol::kHand);
}

TEST(Metrics, Properties) {
  // Perfect ranking: everything is 1.
  std::vector<float> s;
  std::vector<int> l;
  for (int i = 0; i < 20; ++i) {
    s.push_back(float(20 - i));
    l.push_back(i < 6 ? 1 : -1);
  }
  EXPECT_NEAR(average_precision_chr(s, l), 1.0, Tol::kHand);
  EXPECT_NEAR(average_precision_voc07(s, l), 1.0, Tol::kHand);
  EXPECT_NEAR(roc_auc(s, l), 1.0, Tol::kHand);
  EXPECT_NEAR(pr_auc(s, l), 1.0, Tol::kHand);
  // One positive ranked last of 10: precision 1/10 at its rank; AUC 0.
  std::vector<float> s10;
  std::vector<int> l10(10, -1);
  for (int i = 0; i < 10; ++i) s10.push_back(float(10 - i));
  l10[9] = 1;
  EXPECT_NEAR(average_precision_chr(s10, l10), 0.1, Tol::kHand);
  EXPECT_NEAR(average_precision_voc07(s10, l10), 0.1, Tol::kHand);
  EXPECT_NEAR(pr_auc(s10, l10), 0.1, Tol::kHand);
  EXPECT_NEAR(roc_auc(s10, l10), 0.0, Tol::kHand);
  // All tied: ROC AUC 0.5, PR AUC = positive share.
  std::vector<float> tied(10, 0.25f);
  std::vector<int> lt = {1, -1, -1, 1, -1, -1, -1, 1, -1, -1};
  EXPECT_NEAR(roc_auc(tied, lt), 0.5, Tol::kHand);
  EXPECT_NEAR(pr_auc(tied, lt), 0.3, Tol::kHand);
  // No positive: undefined.
  EXPECT_TRUE(std::isnan(average_precision_chr({0.1f, 0.2f}, {-1, -1})));
  EXPECT_TRUE(std::isnan(average_precision_voc07({0.1f, 0.2f}, {-1, 0})));
  EXPECT_TRUE(std::isnan(roc_auc({0.1f, 0.2f}, {1, 1})));
  EXPECT_TRUE(std::isnan(pr_auc({0.1f, 0.2f}, {-1, -1})));
}

TEST(Metrics, AgreesWithBruteForceOnRandomTies) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int n = 50 + trial * 7;
    std::vector<float> s(n);
    std::vector<int> l(n);
    for (int i = 0; i < n; ++i) {
      s[i] = float(rng() % 8) / 8.f;  // many ties
      const int u = int(rng() % 10);
      l[i] = u < 3 ? 1 : (u < 9 ? -1 : 0);
    }
    // Mann-Whitney, O(n^2).
    double wins = 0, pairs = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (l[i] == 1 && l[j] == -1) {
          wins += s[i] > s[j] ? 1 : (s[i] == s[j] ? 0.5 : 0);
          pairs += 1;
        }
    EXPECT_NEAR(roc_auc(s, l), wins / pairs, 1e-12);
    // CHR AP from the definition: rank of item i = 1 + #(non-zero items before it in the
    // stable order), precision = #positives ranked at or above it / rank.
    double sum = 0;
    int npos = 0;
    for (int i = 0; i < n; ++i) {
      if (l[i] != 1) continue;
      ++npos;
      int rank = 1, pos_above = 1;
      for (int j = 0; j < n; ++j) {
        if (j == i || l[j] == 0) continue;
        const bool before = s[j] > s[i] || (s[j] == s[i] && j < i);
        if (!before) continue;
        ++rank;
        pos_above += l[j] == 1;
      }
      sum += double(pos_above) / rank;
    }
    EXPECT_NEAR(average_precision_chr(s, l), sum / npos, 1e-12);
    // PR AUC from the definition: sum over distinct thresholds of delta recall * precision.
    double ap = 0, prev_recall = 0;
    std::vector<float> thr(s);
    std::sort(thr.begin(), thr.end(), std::greater<float>());
    thr.erase(std::unique(thr.begin(), thr.end()), thr.end());
    for (float t : thr) {
      int tp = 0, fp = 0;
      for (int i = 0; i < n; ++i)
        if (s[i] >= t && l[i] != 0) (l[i] == 1 ? tp : fp)++;
      if (tp + fp == 0) continue;
      const double recall = double(tp) / npos;
      ap += (recall - prev_recall) * tp / (tp + fp);
      prev_recall = recall;
    }
    EXPECT_NEAR(pr_auc(s, l), ap, 1e-12);
  }
}

TEST(Metrics, ThresholdMetricsMacro) {
  // t = 0.5, score >= t positive: tp 2 (0.9, 0.6), fp 1 (0.5), tn 2, fn 0.
  // Positive class P 2/3 R 1 F1 0.8; negative class P 1 R 2/3 F1 0.8.
  const auto m = threshold_metrics({0.9f, 0.6f, 0.4f, 0.2f, 0.5f}, {1, 1, -1, -1, -1}, 0.5);
  EXPECT_EQ(m.tp, 2);
  EXPECT_EQ(m.fp, 1);
  EXPECT_EQ(m.tn, 2);
  EXPECT_EQ(m.fn, 0);
  EXPECT_NEAR(m.precision, (2.0 / 3 + 1) / 2, Tol::kHand);
  EXPECT_NEAR(m.recall, (1 + 2.0 / 3) / 2, Tol::kHand);
  EXPECT_NEAR(m.f1, 0.8, Tol::kHand);
  // Nothing predicted positive: positive precision 0/0 counts 0.
  const auto z = threshold_metrics({0.1f, 0.2f}, {1, -1}, 0.5);
  EXPECT_EQ(z.precision_pos, 0.0);
  EXPECT_NEAR(z.precision, 0.25, Tol::kHand);  // (0 + 1/2) / 2
  EXPECT_NEAR(z.recall, 0.5, Tol::kHand);      // (0 + 1) / 2
}

TEST(Metrics, CurveDecimation) {
  std::vector<float> s;
  std::vector<int> l;
  for (int i = 0; i < 1000; ++i) {
    s.push_back(float(i));
    l.push_back(i % 3 == 0 ? 1 : -1);
  }
  const Curve full = roc_curve(s, l);
  EXPECT_EQ(full.size(), 1001u);
  const Curve d = roc_curve(s, l, 100);
  ASSERT_EQ(d.size(), 100u);
  EXPECT_EQ(d.x.front(), 0.0);
  EXPECT_EQ(d.y.front(), 0.0);
  EXPECT_EQ(d.x.back(), 1.0);
  EXPECT_EQ(d.y.back(), 1.0);
  for (size_t i = 1; i < d.size(); ++i) EXPECT_GE(d.x[i], d.x[i - 1]);
  const Curve p = pr_curve(s, l, 50);
  ASSERT_EQ(p.size(), 50u);
  EXPECT_EQ(p.x.back(), 0.0);
  EXPECT_EQ(p.y.back(), 1.0);
}

TEST(Metrics, BadInputsAreErrors) {
  EXPECT_THROW(roc_auc({0.1f, NAN}, {1, -1}), Error);
  EXPECT_THROW(roc_auc({0.1f}, {1, -1}), Error);
  EXPECT_THROW(average_precision_chr({0.1f, 0.2f}, {1, 2}), Error);
  try {
    pr_auc({0.1f, 0.2f, NAN}, {1, -1, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("score 2 is NaN"), std::string::npos) << e.what();
  }
}

TEST(Evaluate, PerClassBinaryAndJson) {
  // 6 images; Scissors has no positive (only -1 and one 0).
  std::vector<ClassScores> s = {{0.9f, 0.1f, 0.2f, 0.1f, 0.3f}, {0.8f, 0.7f, 0.1f, 0.1f, 0.2f},
                                {0.7f, 0.2f, 0.9f, 0.1f, 0.1f}, {0.6f, 0.3f, 0.1f, 0.8f, 0.1f},
                                {0.5f, 0.4f, 0.1f, 0.1f, 0.1f}, {0.1f, 0.1f, 0.1f, 0.1f, 0.1f}};
  std::vector<ClassLabels> l = {{1, -1, -1, -1, -1}, {-1, 1, -1, -1, -1}, {1, -1, 1, -1, 0},
                                {-1, -1, -1, 1, -1}, {1, -1, -1, -1, -1}, {-1, -1, -1, -1, -1}};
  EvalOptions o;
  o.curves = true;
  const EvalReport r = evaluate(s, l, o);
  EXPECT_EQ(r.n_images, 6);
  // Gun: scores 0.9..0.1 with labels 1,-1,1,-1,1,-1: the running example plus a last negative.
  EXPECT_NEAR(r.ap[0], 100 * 34.0 / 45.0, 1e-9);
  EXPECT_NEAR(r.ap_voc07[0], 100 * 8.4 / 11, 1e-9);
  EXPECT_NEAR(r.ap[1], 100.0, 1e-9);  // Knife's positive scores highest (0.7)
  EXPECT_NEAR(r.ap[2], 100.0, 1e-9);
  EXPECT_NEAR(r.ap[3], 100.0, 1e-9);
  EXPECT_TRUE(std::isnan(r.ap[4]));
  EXPECT_EQ(r.n_ignored[4], 1);
  EXPECT_EQ(r.n_pos[0], 3);
  EXPECT_NEAR(r.map, (100 * 34.0 / 45.0 + 300) / 4, 1e-9);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("Scissors"), std::string::npos);
  // Binary: image scores max = 0.9, 0.8, 0.9, 0.8, 0.5, 0.1; labels 1,1,1,1,1,-1 -> AUC 1.
  EXPECT_EQ(r.binary.n_pos, 5);
  EXPECT_EQ(r.binary.n_neg, 1);
  EXPECT_NEAR(r.binary.roc_auc, 1.0, Tol::kHand);
  EXPECT_NEAR(r.binary.pr_auc, 1.0, Tol::kHand);
  EXPECT_EQ(r.binary.at_threshold.tp, 5);  // 0.5 >= 0.5
  EXPECT_EQ(r.binary.at_threshold.tn, 1);
  EXPECT_EQ(r.roc[0].size(), 7u);
  EXPECT_GT(r.binary_pr.size(), 0u);

  const Json j = parse_json(eval_report_json(r), "eval_report_json");
  EXPECT_NEAR(j["ap"]["Gun"].get<double>(), 75.5555555556, 1e-9);
  for (const char* c : {"Knife", "Wrench", "Pliers"}) EXPECT_EQ(j["ap"][c].get<double>(), 100.0);
  EXPECT_TRUE(j["ap"]["Scissors"].is_null());  // no positives: no AP
  EXPECT_NEAR(j["map"].get<double>(), 93.8888888889, 1e-9);
  for (const char* k : {"roc_auc", "pr_auc", "precision", "recall", "f1"})
    EXPECT_EQ(j["binary"][k].get<double>(), 1.0) << k;
  EXPECT_EQ(j["binary"]["tp"].get<int64_t>(), 5);
  EXPECT_NEAR(j["ap_voc07"]["Gun"].get<double>(), 76.3636363636, 1e-9);
  // The key order readers and people see.
  std::vector<std::string> keys;
  for (const auto& kv : j.items()) keys.push_back(kv.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"ap", "map", "ap_voc07", "map_voc07", "binary",
                                            "ap_kind", "ap_voc07_kind", "units", "n_images",
                                            "n_pos", "n_ignored", "warnings"}));
  EXPECT_NE(eval_report_table(r).find("n/a"), std::string::npos);
}

TEST(Evaluate, RejectsBadRows) {
  std::vector<ClassScores> s = {{0.f, 0.f, 0.f, 0.f, NAN}};
  std::vector<ClassLabels> l = {{1, -1, -1, -1, -1}};
  EXPECT_THROW(evaluate(s, l), Error);
  s[0][4] = 0;
  l[0][2] = 3;
  EXPECT_THROW(evaluate(s, l), Error);
  EXPECT_THROW(evaluate(s, {}), Error);
}

// Timing for the closing note, not a unit test: run with --gtest_also_run_disabled_tests.
TEST(Timing, DISABLED_MillionImagesAllMetrics) {
  const int64_t n = 1000000;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<ClassScores> s(n);
  std::vector<ClassLabels> l(n);
  for (int64_t i = 0; i < n; ++i)
    for (int c = 0; c < kNumClasses; ++c) {
      const bool pos = u(rng) < 0.002f;
      l[i][c] = pos ? 1 : -1;
      s[i][c] = std::round(((pos ? 0.3f : 0.f) + 0.7f * u(rng)) * 1e4f) / 1e4f;  // with ties
    }
  EvalOptions o;
  o.curves = true;
  o.max_curve_points = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  const EvalReport r = evaluate(s, l, o);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("evaluate(1,000,000 x 5, both APs, binary, curves): %.3f s (mAP %.2f, AUC %.4f)\n",
              sec, r.map, r.binary.roc_auc);
}

}  // namespace
}  // namespace gbad
