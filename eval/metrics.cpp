#include "eval/metrics.h"

#include "io/json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <limits>
#include <numeric>

#include "core/check.h"

namespace gbad {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_inputs(const std::vector<float>& scores, const std::vector<int>& labels) {
  GBAD_CHECK(scores.size() == labels.size(), "metrics: ", scores.size(), " scores but ",
             labels.size(), " labels");
  for (size_t i = 0; i < scores.size(); ++i) {
    GBAD_CHECK(!std::isnan(scores[i]), "metrics: score ", i, " is NaN");
    GBAD_CHECK(labels[i] == 1 || labels[i] == 0 || labels[i] == -1, "metrics: label ", i, " is ",
               labels[i], " (expected 1, 0 or -1)");
  }
}

// Indices of the items with a non-zero label, by score descending; ties keep input order.
std::vector<int64_t> ranking(const std::vector<float>& scores, const std::vector<int>& labels) {
  std::vector<int64_t> order;
  order.reserve(scores.size());
  for (size_t i = 0; i < scores.size(); ++i)
    if (labels[i] != 0) order.push_back(int64_t(i));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return scores[a] > scores[b]; });
  return order;
}

// Cumulative true/false positive counts at the end of each group of equal scores.
struct Groups {
  std::vector<double> threshold;
  std::vector<int64_t> tp, fp;
  int64_t pos = 0, neg = 0;
};

Groups group_by_threshold(const std::vector<float>& scores, const std::vector<int>& labels,
                          const std::vector<int64_t>& order) {
  Groups g;
  int64_t tp = 0, fp = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    const int64_t i = order[k];
    if (labels[i] == 1)
      ++tp;
    else
      ++fp;
    // Close the group when the next score differs (or at the end).
    if (k + 1 == order.size() || scores[order[k + 1]] != scores[i]) {
      g.threshold.push_back(scores[i]);
      g.tp.push_back(tp);
      g.fp.push_back(fp);
    }
  }
  g.pos = tp;
  g.neg = fp;
  return g;
}

double ap_chr_ranked(const std::vector<int>& labels, const std::vector<int64_t>& order) {
  int64_t pos = 0;
  double sum = 0;
  for (size_t k = 0; k < order.size(); ++k) {
    if (labels[order[k]] != 1) continue;
    ++pos;
    sum += double(pos) / double(k + 1);
  }
  return pos == 0 ? kNaN : sum / double(pos);
}

double ap_voc07_ranked(const std::vector<int>& labels, const std::vector<int64_t>& order) {
  const size_t n = order.size();
  int64_t npos = 0;
  for (int64_t i : order) npos += labels[i] == 1;
  if (npos == 0) return kNaN;
  std::vector<double> prec(n), rec(n);
  int64_t tp = 0;
  for (size_t k = 0; k < n; ++k) {
    tp += labels[order[k]] == 1;
    prec[k] = double(tp) / double(k + 1);
    rec[k] = double(tp) / double(npos);
  }
  // Suffix maximum of precision: max precision over ranks >= k.
  for (size_t k = n - 1; k-- > 0;) prec[k] = std::max(prec[k], prec[k + 1]);
  double ap = 0;
  size_t k = 0;
  for (int i = 0; i <= 10; ++i) {
    const double t = double(i) * 0.1;  // as numpy.arange(0., 1.1, 0.1)
    while (k < n && rec[k] < t) ++k;   // recall is non-decreasing in k
    ap += (k < n ? prec[k] : 0.0) / 11.0;
  }
  return ap;
}

double roc_auc_grouped(const Groups& g) {
  if (g.pos == 0 || g.neg == 0) return kNaN;
  double area = 0;  // in units of (positives x negatives): exact integers / 2
  int64_t tp0 = 0, fp0 = 0;
  for (size_t k = 0; k < g.tp.size(); ++k) {
    area += double(g.fp[k] - fp0) * double(g.tp[k] + tp0);
    tp0 = g.tp[k];
    fp0 = g.fp[k];
  }
  return area / 2.0 / (double(g.pos) * double(g.neg));
}

double pr_auc_grouped(const Groups& g) {
  if (g.pos == 0) return kNaN;
  double ap = 0;
  int64_t tp0 = 0;
  for (size_t k = 0; k < g.tp.size(); ++k) {
    const double precision = double(g.tp[k]) / double(g.tp[k] + g.fp[k]);
    ap += double(g.tp[k] - tp0) / double(g.pos) * precision;
    tp0 = g.tp[k];
  }
  return ap;
}

Curve decimate(Curve c, size_t max_points) {
  if (max_points == 0 || c.size() <= max_points) return c;
  max_points = std::max<size_t>(max_points, 2);
  Curve d;
  const size_t n = c.size();
  for (size_t i = 0; i < max_points; ++i) {
    const size_t j = size_t(std::llround(double(i) * double(n - 1) / double(max_points - 1)));
    d.x.push_back(c.x[j]);
    d.y.push_back(c.y[j]);
    d.threshold.push_back(c.threshold[j]);
  }
  return d;
}

Curve roc_curve_grouped(const Groups& g, size_t max_points) {
  Curve c;
  const double inf = std::numeric_limits<double>::infinity();
  c.x.push_back(0);
  c.y.push_back(0);
  c.threshold.push_back(inf);
  for (size_t k = 0; k < g.tp.size(); ++k) {
    c.x.push_back(g.neg ? double(g.fp[k]) / double(g.neg) : kNaN);
    c.y.push_back(g.pos ? double(g.tp[k]) / double(g.pos) : kNaN);
    c.threshold.push_back(g.threshold[k]);
  }
  return decimate(std::move(c), max_points);
}

Curve pr_curve_grouped(const Groups& g, size_t max_points) {
  // scikit-learn (>= 1.1): every distinct threshold, listed by decreasing recall, then the
  // extra point (recall 0, precision 1).
  Curve c;
  if (g.tp.empty()) return c;
  const size_t last = g.tp.size() - 1;
  for (size_t k = last + 1; k-- > 0;) {
    c.x.push_back(g.pos ? double(g.tp[k]) / double(g.pos) : kNaN);
    c.y.push_back(double(g.tp[k]) / double(g.tp[k] + g.fp[k]));
    c.threshold.push_back(g.threshold[k]);
  }
  c.x.push_back(0);
  c.y.push_back(1);
  c.threshold.push_back(std::numeric_limits<double>::infinity());
  return decimate(std::move(c), max_points);
}

double safe_div(double a, double b) {
  return b == 0 ? 0.0 : a / b;
}

double f1_of(double p, double r) {
  return safe_div(2 * p * r, p + r);
}

// Everything one sort gives for one class (or the binary view).
struct Ranked {
  double ap_chr = kNaN, ap_voc07 = kNaN, roc_auc = kNaN, pr_auc = kNaN;
  int64_t pos = 0, neg = 0;
  Curve roc, pr;
};

Ranked rank_all(const std::vector<float>& scores, const std::vector<int>& labels, bool curves,
                size_t max_points) {
  Ranked r;
  const auto order = ranking(scores, labels);
  const Groups g = group_by_threshold(scores, labels, order);
  r.ap_chr = ap_chr_ranked(labels, order);
  r.ap_voc07 = ap_voc07_ranked(labels, order);
  r.roc_auc = roc_auc_grouped(g);
  r.pr_auc = pr_auc_grouped(g);
  r.pos = g.pos;
  r.neg = g.neg;
  if (curves) {
    r.roc = roc_curve_grouped(g, max_points);
    r.pr = pr_curve_grouped(g, max_points);
  }
  return r;
}

}  // namespace

double average_precision_chr(const std::vector<float>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  return ap_chr_ranked(labels, ranking(scores, labels));
}

double average_precision_voc07(const std::vector<float>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  return ap_voc07_ranked(labels, ranking(scores, labels));
}

double roc_auc(const std::vector<float>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  return roc_auc_grouped(group_by_threshold(scores, labels, ranking(scores, labels)));
}

double pr_auc(const std::vector<float>& scores, const std::vector<int>& labels) {
  check_inputs(scores, labels);
  return pr_auc_grouped(group_by_threshold(scores, labels, ranking(scores, labels)));
}

Curve roc_curve(const std::vector<float>& scores, const std::vector<int>& labels,
                size_t max_points) {
  check_inputs(scores, labels);
  return roc_curve_grouped(group_by_threshold(scores, labels, ranking(scores, labels)), max_points);
}

Curve pr_curve(const std::vector<float>& scores, const std::vector<int>& labels,
               size_t max_points) {
  check_inputs(scores, labels);
  return pr_curve_grouped(group_by_threshold(scores, labels, ranking(scores, labels)), max_points);
}

ThresholdMetrics threshold_metrics(const std::vector<float>& scores, const std::vector<int>& labels,
                                   double threshold) {
  check_inputs(scores, labels);
  ThresholdMetrics m;
  m.threshold = threshold;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (labels[i] == 0) continue;
    const bool predicted = double(scores[i]) >= threshold;
    if (labels[i] == 1)
      (predicted ? m.tp : m.fn)++;
    else
      (predicted ? m.fp : m.tn)++;
  }
  m.precision_pos = safe_div(double(m.tp), double(m.tp + m.fp));
  m.recall_pos = safe_div(double(m.tp), double(m.tp + m.fn));
  m.f1_pos = f1_of(m.precision_pos, m.recall_pos);
  m.precision_neg = safe_div(double(m.tn), double(m.tn + m.fn));
  m.recall_neg = safe_div(double(m.tn), double(m.tn + m.fp));
  m.f1_neg = f1_of(m.precision_neg, m.recall_neg);
  m.precision = (m.precision_pos + m.precision_neg) / 2;
  m.recall = (m.recall_pos + m.recall_neg) / 2;
  m.f1 = (m.f1_pos + m.f1_neg) / 2;
  return m;
}

void binary_view(std::vector<float>& scores, std::vector<int>& labels,
                 const std::vector<ClassScores>& class_scores,
                 const std::vector<ClassLabels>& class_labels) {
  GBAD_CHECK(class_scores.size() == class_labels.size(), "metrics: ", class_scores.size(),
             " score rows but ", class_labels.size(), " label rows");
  const size_t n = class_scores.size();
  scores.resize(n);
  labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float s = class_scores[i][0];
    int any = 0;
    for (int c = 0; c < kNumClasses; ++c) {
      s = std::max(s, class_scores[i][c]);
      any |= class_labels[i][c] == 1;
    }
    scores[i] = s;
    labels[i] = any ? 1 : -1;
  }
}

EvalReport evaluate(const std::vector<ClassScores>& scores, const std::vector<ClassLabels>& labels,
                    const EvalOptions& options) {
  GBAD_CHECK(scores.size() == labels.size(), "evaluate: ", scores.size(), " score rows but ",
             labels.size(), " label rows");
  const size_t n = scores.size();
  // One problem per class, then the binary view (index kNumClasses).
  std::vector<std::vector<float>> s(kNumClasses + 1, std::vector<float>(n));
  std::vector<std::vector<int>> l(kNumClasses + 1, std::vector<int>(n));
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < kNumClasses; ++c) {
      const float v = scores[i][c];
      const int y = labels[i][c];
      GBAD_CHECK(!std::isnan(v), "evaluate: score of row ", i, " class ", kClassNames[c],
                 " is NaN");
      GBAD_CHECK(y == 1 || y == 0 || y == -1, "evaluate: label of row ", i, " class ",
                 kClassNames[c], " is ", y, " (expected 1, 0 or -1)");
      s[c][i] = v;
      l[c][i] = y;
    }
  binary_view(s[kNumClasses], l[kNumClasses], scores, labels);

  std::vector<Ranked> ranked(kNumClasses + 1);
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1)
  for (int c = 0; c <= kNumClasses; ++c) {
    try {
      ranked[c] = rank_all(s[c], l[c], options.curves, options.max_curve_points);
    } catch (...) {
#pragma omp critical
      failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);

  EvalReport r;
  r.n_images = int64_t(n);
  double sum = 0, sum07 = 0;
  int counted = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    r.ap[c] = 100.0 * ranked[c].ap_chr;
    r.ap_voc07[c] = 100.0 * ranked[c].ap_voc07;
    r.n_pos[c] = ranked[c].pos;
    r.n_neg[c] = ranked[c].neg;
    r.n_ignored[c] = int64_t(n) - ranked[c].pos - ranked[c].neg;
    if (ranked[c].pos == 0) {
      r.warnings.push_back(std::string("class ") + kClassNames[c] +
                           " has no positive image: its AP is undefined (null) and left out "
                           "of the mAP");
      continue;
    }
    sum += r.ap[c];
    sum07 += r.ap_voc07[c];
    ++counted;
  }
  r.map = counted ? sum / counted : kNaN;
  r.map_voc07 = counted ? sum07 / counted : kNaN;

  const Ranked& b = ranked[kNumClasses];
  r.binary.roc_auc = b.roc_auc;
  r.binary.pr_auc = b.pr_auc;
  r.binary.n_pos = b.pos;
  r.binary.n_neg = b.neg;
  r.binary.at_threshold = threshold_metrics(s[kNumClasses], l[kNumClasses], options.threshold);
  if (b.pos == 0 || b.neg == 0)
    r.warnings.push_back(std::string("binary view has no ") +
                         (b.pos == 0 ? "positive" : "negative") + " image: ROC AUC" +
                         (b.pos == 0 ? " and PR AUC are" : " is") + " undefined (null)");
  if (options.curves) {
    for (int c = 0; c < kNumClasses; ++c) {
      r.roc[c] = std::move(ranked[c].roc);
      r.pr[c] = std::move(ranked[c].pr);
    }
    r.binary_roc = std::move(ranked[kNumClasses].roc);
    r.binary_pr = std::move(ranked[kNumClasses].pr);
  }
  return r;
}

std::string eval_report_json(const EvalReport& r) {
  // NaN (no AP: a class without positives) is written as null.
  auto per_class = [](const auto& v) {
    Json o = Json::object();
    for (int c = 0; c < kNumClasses; ++c) o[kClassNames[c]] = v[c];
    return o;
  };
  const ThresholdMetrics& t = r.binary.at_threshold;
  const Json j = {{"ap", per_class(r.ap)},
                  {"map", r.map},
                  {"ap_voc07", per_class(r.ap_voc07)},
                  {"map_voc07", r.map_voc07},
                  {"binary",
                   {{"roc_auc", r.binary.roc_auc},
                    {"pr_auc", r.binary.pr_auc},
                    {"precision", t.precision},
                    {"recall", t.recall},
                    {"f1", t.f1},
                    {"threshold", t.threshold},
                    {"n_pos", r.binary.n_pos},
                    {"n_neg", r.binary.n_neg},
                    {"tp", t.tp},
                    {"fp", t.fp},
                    {"tn", t.tn},
                    {"fn", t.fn}}},
                  {"ap_kind", "chr (non-interpolated, stable sort: ties keep input order)"},
                  {"ap_voc07_kind", "voc07 11-point interpolated"},
                  {"units", "ap/map in percent, binary in [0, 1]"},
                  {"n_images", r.n_images},
                  {"n_pos", per_class(r.n_pos)},
                  {"n_ignored", per_class(r.n_ignored)},
                  {"warnings", r.warnings}};
  return json_text(j, 2) + "\n";
}

std::string eval_report_table(const EvalReport& r) {
  auto num = [](double v, const char* f) {
    if (std::isnan(v)) return std::string("n/a");
    char buf[40];
    std::snprintf(buf, sizeof buf, f, v);
    return std::string(buf);
  };
  char line[200];
  std::string o;
  std::snprintf(line, sizeof line, "%lld images\n", static_cast<long long>(r.n_images));
  o += line;
  std::snprintf(line, sizeof line, "%-10s %12s %12s %8s %8s %8s\n", "class", "AP CHR %",
                "AP VOC07 %", "pos", "neg", "ignored");
  o += line;
  for (int c = 0; c < kNumClasses; ++c) {
    std::snprintf(line, sizeof line, "%-10s %12s %12s %8lld %8lld %8lld\n", kClassNames[c],
                  num(r.ap[c], "%.2f").c_str(), num(r.ap_voc07[c], "%.2f").c_str(),
                  static_cast<long long>(r.n_pos[c]), static_cast<long long>(r.n_neg[c]),
                  static_cast<long long>(r.n_ignored[c]));
    o += line;
  }
  std::snprintf(line, sizeof line, "%-10s %12s %12s\n", "mAP", num(r.map, "%.2f").c_str(),
                num(r.map_voc07, "%.2f").c_str());
  o += line;
  const ThresholdMetrics& t = r.binary.at_threshold;
  std::snprintf(line, sizeof line,
                "binary (any threat; image score = max over classes): %lld positive, %lld "
                "negative\n",
                static_cast<long long>(r.binary.n_pos), static_cast<long long>(r.binary.n_neg));
  o += line;
  o += "  ROC AUC    " + num(r.binary.roc_auc, "%.4f") + "\n";
  o += "  PR AUC     " + num(r.binary.pr_auc, "%.4f") + "  (average precision, step-wise)\n";
  std::snprintf(line, sizeof line, "  at threshold %g (macro over positive and negative class):\n",
                t.threshold);
  o += line;
  o += "  precision  " + num(t.precision, "%.4f") + "\n";
  o += "  recall     " + num(t.recall, "%.4f") + "\n";
  o += "  F1         " + num(t.f1, "%.4f") + "\n";
  for (const auto& w : r.warnings) o += "warning: " + w + "\n";
  return o;
}

std::string curve_csv(const Curve& curve, const char* x_name, const char* y_name) {
  std::string o = std::string(x_name) + "," + y_name + ",threshold\n";
  char line[100];
  for (size_t i = 0; i < curve.size(); ++i) {
    std::snprintf(line, sizeof line, "%.9g,%.9g,%.9g\n", curve.x[i], curve.y[i],
                  curve.threshold[i]);
    o += line;
  }
  return o;
}

}  // namespace gbad
