#include "eval/bootstrap.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"
#include "core/philox.h"

namespace gbad {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One ranking problem (a class, or the binary view) sorted once: the items with a non-zero
// label by score descending (stable), their labels, and where each group of equal scores ends.
struct Problem {
  std::vector<int64_t> order;
  std::vector<int8_t> positive;  // per position in order
  std::vector<uint8_t> group_end;
};

// Everything one method needs per resample.
struct Prepared {
  std::array<Problem, kNumClasses + 1> problems;  // [kNumClasses] = binary view
  std::vector<int8_t> binary_label;               // 1 / -1 per image
  std::vector<uint8_t> predicted;                 // binary score >= threshold
};

Problem make_problem(const std::vector<float>& s, const std::vector<int>& l) {
  Problem p;
  for (size_t i = 0; i < s.size(); ++i)
    if (l[i] != 0) p.order.push_back(int64_t(i));
  std::stable_sort(p.order.begin(), p.order.end(),
                   [&](int64_t a, int64_t b) { return s[a] > s[b]; });
  const size_t m = p.order.size();
  p.positive.resize(m);
  p.group_end.resize(m);
  for (size_t k = 0; k < m; ++k) {
    p.positive[k] = l[p.order[k]] == 1;
    p.group_end[k] = k + 1 == m || s[p.order[k + 1]] != s[p.order[k]];
  }
  return p;
}

Prepared prepare(const std::vector<ClassScores>& scores, const std::vector<ClassLabels>& labels,
                 double threshold) {
  GBAD_CHECK(scores.size() == labels.size(), "bootstrap: ", scores.size(), " score rows but ",
             labels.size(), " label rows");
  const size_t n = scores.size();
  Prepared p;
  std::vector<float> s(n);
  std::vector<int> l(n);
  for (int c = 0; c < kNumClasses; ++c) {
    for (size_t i = 0; i < n; ++i) {
      s[i] = scores[i][c];
      l[i] = labels[i][c];
      GBAD_CHECK(!std::isnan(s[i]), "bootstrap: score of row ", i, " class ", kClassNames[c],
                 " is NaN");
      GBAD_CHECK(l[i] == 1 || l[i] == 0 || l[i] == -1, "bootstrap: label of row ", i, " class ",
                 kClassNames[c], " is ", l[i], " (expected 1, 0 or -1)");
    }
    p.problems[c] = make_problem(s, l);
  }
  binary_view(s, l, scores, labels);
  p.problems[kNumClasses] = make_problem(s, l);
  p.binary_label.resize(n);
  p.predicted.resize(n);
  for (size_t i = 0; i < n; ++i) {
    p.binary_label[i] = int8_t(l[i]);
    p.predicted[i] = double(s[i]) >= threshold;
  }
  return p;
}

// CHR AP of the expanded list: the same sums in the same order as eval/metrics.cpp.
double ap_chr(const Problem& p, const std::vector<uint32_t>& w) {
  int64_t pos = 0, rank = 0;
  double sum = 0;
  for (size_t k = 0; k < p.order.size(); ++k) {
    const uint32_t c = w[p.order[k]];
    if (!p.positive[k]) {
      rank += c;
      continue;
    }
    for (uint32_t j = 0; j < c; ++j) {
      ++pos;
      ++rank;
      sum += double(pos) / double(rank);
    }
  }
  return pos == 0 ? kNaN : sum / double(pos);
}

// ROC AUC and PR AUC over groups of equal scores, as eval/metrics.cpp.
void grouped(const Problem& p, const std::vector<uint32_t>& w, double* roc, double* pr) {
  int64_t tp = 0, fp = 0;
  for (size_t k = 0; k < p.order.size(); ++k) (p.positive[k] ? tp : fp) += w[p.order[k]];
  const int64_t npos = tp, nneg = fp;
  double area = 0, ap = 0;
  int64_t tp0 = 0, fp0 = 0;
  tp = fp = 0;
  for (size_t k = 0; k < p.order.size(); ++k) {
    (p.positive[k] ? tp : fp) += w[p.order[k]];
    if (!p.group_end[k] || tp + fp == tp0 + fp0) continue;  // no copy drawn: no threshold
    area += double(fp - fp0) * double(tp + tp0);
    if (npos > 0) ap += double(tp - tp0) / double(npos) * (double(tp) / double(tp + fp));
    tp0 = tp;
    fp0 = fp;
  }
  *roc = npos == 0 || nneg == 0 ? kNaN : area / 2.0 / (double(npos) * double(nneg));
  *pr = npos == 0 ? kNaN : ap;
}

double safe_div(double a, double b) {
  return b == 0 ? 0.0 : a / b;
}

double macro_f1(const Prepared& p, const std::vector<uint32_t>& w) {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    if (p.binary_label[i] == 1)
      (p.predicted[i] ? tp : fn) += w[i];
    else
      (p.predicted[i] ? fp : tn) += w[i];
  }
  auto f1 = [](double pr, double re) { return safe_div(2 * pr * re, pr + re); };
  const double f_pos =
      f1(safe_div(double(tp), double(tp + fp)), safe_div(double(tp), double(tp + fn)));
  const double f_neg =
      f1(safe_div(double(tn), double(tn + fn)), safe_div(double(tn), double(tn + fp)));
  return (f_pos + f_neg) / 2;
}

SampleStats stats_of(const Prepared& p, const std::vector<uint32_t>& w) {
  SampleStats s;
  double sum = 0;
  int counted = 0;
  for (int c = 0; c < kNumClasses; ++c) {
    s.ap[c] = 100.0 * ap_chr(p.problems[c], w);
    if (std::isnan(s.ap[c])) continue;
    sum += s.ap[c];
    ++counted;
  }
  s.map = counted ? sum / counted : kNaN;
  grouped(p.problems[kNumClasses], w, &s.roc_auc, &s.pr_auc);
  s.f1 = macro_f1(p, w);
  return s;
}

DiffInterval interval(double estimate, std::vector<double> diffs, double level) {
  DiffInterval d;
  d.estimate = estimate;
  diffs.erase(std::remove_if(diffs.begin(), diffs.end(), [](double v) { return std::isnan(v); }),
              diffs.end());
  d.valid = int(diffs.size());
  if (diffs.empty()) {
    d.lo = d.hi = kNaN;
    return d;
  }
  const double tail = (1 - level) / 2;
  d.lo = percentile(diffs, tail);
  d.hi = percentile(diffs, 1 - tail);
  return d;
}

}  // namespace

std::vector<uint32_t> bootstrap_counts(size_t n, uint64_t seed, uint64_t b) {
  std::vector<uint32_t> counts(n, 0);
  for (size_t j = 0; j < n; ++j) {
    const U32x4 r = philox4x32(seed, uint64_t(j), b);
    const uint64_t x = (uint64_t(r.v[1]) << 32) | r.v[0];
    const size_t i = size_t((static_cast<unsigned __int128>(x) * n) >> 64);
    ++counts[i];
  }
  return counts;
}

SampleStats weighted_stats(const std::vector<ClassScores>& scores,
                           const std::vector<ClassLabels>& labels,
                           const std::vector<uint32_t>& counts, double threshold) {
  GBAD_CHECK(counts.size() == scores.size(), "bootstrap: ", counts.size(), " counts for ",
             scores.size(), " images");
  return stats_of(prepare(scores, labels, threshold), counts);
}

double percentile(std::vector<double>& v, double q) {
  GBAD_CHECK(!v.empty(), "percentile of no values");
  GBAD_CHECK(q >= 0 && q <= 1, "percentile: q = ", q, " is outside [0, 1]");
  std::sort(v.begin(), v.end());
  const double h = q * double(v.size() - 1);
  const size_t k = size_t(std::floor(h));
  if (k + 1 >= v.size()) return v.back();
  const double f = h - double(k);
  return f == 0 ? v[k] : v[k] + f * (v[k + 1] - v[k]);
}

PairedComparison paired_bootstrap(const std::vector<ClassScores>& method,
                                  const std::vector<ClassScores>& reference,
                                  const std::vector<ClassLabels>& labels,
                                  const BootstrapOptions& options) {
  return paired_bootstrap(std::vector<std::vector<ClassScores>>{method},
                          std::vector<std::vector<ClassScores>>{reference}, labels, options);
}

PairedComparison paired_bootstrap(const std::vector<std::vector<ClassScores>>& method,
                                  const std::vector<std::vector<ClassScores>>& reference,
                                  const std::vector<ClassLabels>& labels,
                                  const BootstrapOptions& options) {
  GBAD_CHECK(!method.empty() && method.size() == reference.size(), "bootstrap: ", method.size(),
             " method seeds but ", reference.size(), " reference seeds");
  GBAD_CHECK(options.resamples >= 1, "bootstrap: resamples must be >= 1, got ", options.resamples);
  GBAD_CHECK(options.level > 0 && options.level < 1, "bootstrap: level must be in (0, 1), got ",
             options.level);
  const size_t n = labels.size();
  GBAD_CHECK(n > 0, "bootstrap: no images");
  const size_t K = method.size();
  std::vector<Prepared> pm, pr;
  for (size_t s = 0; s < K; ++s) {
    GBAD_CHECK(method[s].size() == n && reference[s].size() == n, "bootstrap: seed ", s,
               ": the method has ", method[s].size(), " images, the reference ",
               reference[s].size(), " and the labels ", n, " (they must be the same images)");
    pm.push_back(prepare(method[s], labels, options.threshold));
    pr.push_back(prepare(reference[s], labels, options.threshold));
  }

  constexpr int kStats = kNumClasses + 4;  // ap[5], map, roc, pr, f1
  using Row = std::array<double, kStats>;
  auto flatten = [](const SampleStats& a, const SampleStats& b) {
    Row d;
    for (int c = 0; c < kNumClasses; ++c) d[c] = a.ap[c] - b.ap[c];
    d[kNumClasses] = a.map - b.map;
    d[kNumClasses + 1] = a.roc_auc - b.roc_auc;
    d[kNumClasses + 2] = a.pr_auc - b.pr_auc;
    d[kNumClasses + 3] = a.f1 - b.f1;
    return d;
  };
  // Mean over seeds of the per-seed differences on one resample (weights w).
  auto mean_diff = [&](const std::vector<uint32_t>& w, std::vector<Row>* per_seed) {
    Row m{};
    for (size_t s = 0; s < K; ++s) {
      const Row d = flatten(stats_of(pm[s], w), stats_of(pr[s], w));
      if (per_seed) per_seed->push_back(d);
      for (int k = 0; k < kStats; ++k) m[k] += d[k] / double(K);
    }
    return m;
  };
  std::vector<Row> seeds;
  const Row est = mean_diff(std::vector<uint32_t>(n, 1), &seeds);

  const int B = options.resamples;
  std::vector<Row> diffs(static_cast<size_t>(B));
  // Each resample depends only on (seed, b): the result is the same for any thread count.
#pragma omp parallel for schedule(dynamic, 8)
  for (int b = 0; b < B; ++b)
    diffs[size_t(b)] = mean_diff(bootstrap_counts(n, options.seed, uint64_t(b)), nullptr);

  PairedComparison out;
  out.options = options;
  out.n_images = int64_t(n);
  out.seeds = int(K);
  std::array<DiffInterval, kStats> iv;
  std::vector<double> column(static_cast<size_t>(B));
  for (int k = 0; k < kStats; ++k) {
    for (int b = 0; b < B; ++b) column[size_t(b)] = diffs[size_t(b)][k];
    iv[k] = interval(est[k], column, options.level);
    if (K > 1) {
      double ss = 0;
      for (const Row& d : seeds) ss += (d[k] - est[k]) * (d[k] - est[k]);
      iv[k].seed_sd = std::sqrt(ss / double(K - 1));
    }
  }
  for (int c = 0; c < kNumClasses; ++c) out.ap[c] = iv[c];
  out.map = iv[kNumClasses];
  out.roc_auc = iv[kNumClasses + 1];
  out.pr_auc = iv[kNumClasses + 2];
  out.f1 = iv[kNumClasses + 3];
  return out;
}

std::string format_diff(const DiffInterval& d, double scale, int decimals) {
  auto num = [&](double v) -> std::string {
    if (!std::isfinite(v)) return "-";
    char b[48];
    // +0.00 for an exact zero (never "-0.00").
    std::snprintf(b, sizeof b, "%+.*f", decimals, v * scale == 0 ? 0.0 : v * scale);
    return b;
  };
  return num(d.estimate) + " [" + num(d.lo) + ", " + num(d.hi) + "]";
}

std::string describe_diff(const DiffInterval& d) {
  if (d.valid == 0 || std::isnan(d.lo) || std::isnan(d.estimate)) return "undefined";
  if (d.lo > 0) return "higher (interval above 0)";
  if (d.hi < 0) return "lower (interval below 0)";
  return "no clear difference (interval includes 0)";
}

}  // namespace gbad
