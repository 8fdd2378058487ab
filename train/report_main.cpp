// gbad-report: collects the metrics.json of several gbad-eval output directories into one
// table in the form of the paper's Tables 1-3 (per-class AP and mAP, one row per method) plus
// the Table 4 binary metrics, printed and written as a Markdown report with the plots; then,
// for every method against a reference method, the differences with paired-bootstrap 95%
// intervals over the test images (eval/bootstrap.h). A method may name several run
// directories (one per training seed): the table then shows the mean and sd over seeds.
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "data/sixray.h"
#include "eval/bootstrap.h"
#include "eval/scores_csv.h"
#include "io/io.h"
#include "train/pipeline.h"

using namespace gbad;

namespace {

struct Row {
  std::string name, dir;  // dir: the first seed's run
  std::vector<std::string> dirs;
  std::vector<double> ap;
  double map = NAN, map_voc07 = NAN, roc = NAN, pr = NAN, p = NAN, r = NAN, f1 = NAN;
  double map_sd = NAN;  // over seeds (NaN for one seed)
};

double num(const JsonValue* v) {
  if (!v || v->kind != JsonValue::Kind::Number) return NAN;
  return v->is_int ? static_cast<double>(v->i) : v->d;
}

std::string fmt(double v, const char* f = "%.2f") {
  if (!std::isfinite(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// The labels of a gbad-eval run: --labels, else the split its config.json names.
std::string labels_path(const std::string& given, const std::string& dir) {
  if (!given.empty()) return given;
  GBAD_CHECK(file_exists(dir + "/config.json"), dir,
             " has no config.json (not a gbad-eval model run): give the split CSV with --labels");
  RunConfig cfg(dir, "eval");
  return cfg.extra("data") + "/ImageSet/" + cfg.extra("subset") + "/" +
         cfg.option_or("split", "test") + ".csv";
}

// Scores of `dir` in the order of `names` (every name once, and no other).
std::vector<ClassScores> scores_in_order(const std::string& dir,
                                         const std::vector<std::string>& names) {
  const ScoreTable t = read_scores_csv(dir + "/scores.csv");
  std::map<std::string, size_t> at;
  for (size_t i = 0; i < t.names.size(); ++i) at[t.names[i]] = i;
  GBAD_CHECK(t.names.size() == names.size(), dir, "/scores.csv has ", t.names.size(),
             " images but the reference run ", names.size(),
             ": a paired comparison needs the same test images");
  std::vector<ClassScores> out;
  out.reserve(names.size());
  for (const std::string& n : names) {
    auto it = at.find(n);
    GBAD_CHECK(it != at.end(), dir, "/scores.csv has no row for image ", n,
               " of the reference run: a paired comparison needs the same test images");
    out.push_back(t.scores[it->second]);
  }
  return out;
}

void json_diff(JsonWriter& j, const DiffInterval& d) {
  j.begin_object().key("estimate").value(d.estimate).key("lo").value(d.lo).key("hi").value(d.hi);
  j.key("valid").value(d.valid).key("seed_sd").value(d.seed_sd);
  j.key("includes_zero").value(d.includes_zero()).key("words").value(describe_diff(d));
  j.end_object();
}

struct Comparisons {
  std::string reference;
  std::vector<PairedComparison> diffs;  // per row (the reference's own row too: zeros)
  int64_t n_images = 0;
};

Comparisons compare(const Cli& cli, const std::vector<Row>& rows) {
  Comparisons c;
  c.reference = cli.get("reference").empty() ? rows[0].name : cli.get("reference");
  const Row* ref = nullptr;
  for (const Row& r : rows)
    if (r.name == c.reference) ref = &r;
  if (!ref) GBAD_FAIL("--reference '", c.reference, "' is not a NAME of --runs");
  BootstrapOptions o;
  o.resamples = static_cast<int>(cli.get_int("resamples"));
  o.seed = static_cast<uint64_t>(cli.get_int("bootstrap-seed"));
  o.level = cli.get_double("level");
  o.threshold = cli.get_double("threshold");
  const ScoreTable ref_table = read_scores_csv(ref->dir + "/scores.csv");
  const std::vector<ClassLabels> labels =
      match_labels(ref_table, read_label_csv(labels_path(cli.get("labels"), ref->dir)));
  c.n_images = int64_t(labels.size());
  for (const Row& r : rows) {
    // Seed s of the method pairs with seed s of the reference (its last seed when it has
    // fewer).
    std::vector<std::vector<ClassScores>> m, b;
    for (size_t s = 0; s < r.dirs.size(); ++s) {
      m.push_back(scores_in_order(r.dirs[s], ref_table.names));
      b.push_back(scores_in_order(ref->dirs[std::min(s, ref->dirs.size() - 1)], ref_table.names));
    }
    c.diffs.push_back(paired_bootstrap(m, b, labels, o));
  }
  return c;
}

int run(int argc, char** argv) {
  Cli cli("gbad-report",
          "Builds the comparison table of several gbad-eval runs. --runs takes\n"
          "'NAME=DIR' items separated by ';' (DIR is a gbad-eval --out directory;\n"
          "'NAME=DIR1,DIR2,...' gives one directory per training seed: the table shows the\n"
          "mean over seeds). Every method is compared with --reference by a paired bootstrap\n"
          "over the test images (the same resample for both methods), giving the difference\n"
          "in each class's AP, mAP, binary PR AUC, ROC AUC and F1 with a percentile interval;\n"
          "the runs need their scores.csv and must hold the same images.");
  cli.option("runs", "", "NAME=DIR[,DIR...];NAME=DIR;...", true)
      .option("title", "GBAD on SIXray", "report title")
      .option("out", "", "write the Markdown report to this file (plots are linked relative)")
      .option("notes", "", "a paragraph added under the title")
      .option("reference", "",
              "method (a NAME of --runs) the others are compared with (default: the first)")
      .option("resamples", "1000", "paired-bootstrap resamples over test images (0 = none)")
      .option("bootstrap-seed", "20201", "seed of the bootstrap draws")
      .option("level", "0.95", "confidence level of the intervals")
      .option("threshold", "0.5", "binary decision threshold for F1 (as gbad-eval)")
      .option("labels", "",
              "split CSV of the evaluated images (default: from the runs' config.json)")
      .option("json", "", "also write the table and the differences as JSON to this file");
  if (!cli.parse(argc, argv)) {
    std::fputs(cli.help().c_str(), stdout);
    return 0;
  }
  std::vector<Row> rows;
  std::stringstream ss(cli.get("runs"));
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (item.empty()) continue;
    auto eq = item.find('=');
    GBAD_CHECK(eq != std::string::npos, "--runs item '", item, "' is not NAME=DIR");
    Row r;
    r.name = item.substr(0, eq);
    std::stringstream ds(item.substr(eq + 1));
    std::string d;
    while (std::getline(ds, d, ',')) r.dirs.push_back(d);
    GBAD_CHECK(!r.dirs.empty(), "--runs item '", item, "' names no directory");
    r.dir = r.dirs[0];
    // Mean over seeds of every metric; the sd of mAP.
    std::vector<Row> seeds;
    for (const std::string& dir : r.dirs) {
      Row one;
      std::string path = dir + "/metrics.json";
      JsonValue j = parse_json(read_file(path), path);
      const JsonValue* ap = j.find("ap");
      GBAD_CHECK(ap && ap->is_object(), path, " has no \"ap\" object");
      for (const char* c : kClassNames) one.ap.push_back(num(ap->find(c)));
      one.map = num(j.find("map"));
      one.map_voc07 = num(j.find("map_voc07"));
      if (const JsonValue* b = j.find("binary")) {
        one.roc = num(b->find("roc_auc"));
        one.pr = num(b->find("pr_auc"));
        one.p = num(b->find("precision"));
        one.r = num(b->find("recall"));
        one.f1 = num(b->find("f1"));
      }
      seeds.push_back(one);
    }
    const double k = double(seeds.size());
    r.ap.assign(kNumClasses, 0.0);
    r.map = r.map_voc07 = r.roc = r.pr = r.p = r.r = r.f1 = 0;
    for (const Row& o : seeds) {
      for (int c = 0; c < kNumClasses; ++c) r.ap[c] += o.ap[c] / k;
      r.map += o.map / k;
      r.map_voc07 += o.map_voc07 / k;
      r.roc += o.roc / k;
      r.pr += o.pr / k;
      r.p += o.p / k;
      r.r += o.r / k;
      r.f1 += o.f1 / k;
    }
    if (seeds.size() > 1) {
      double sq = 0;
      for (const Row& o : seeds) sq += (o.map - r.map) * (o.map - r.map);
      r.map_sd = std::sqrt(sq / (k - 1));
    }
    rows.push_back(r);
  }
  GBAD_CHECK(!rows.empty(), "--runs names no run");

  std::ostringstream t;  // plain text for the terminal
  t << "Classification AP (%, CHR-style non-interpolated) per class\n";
  char line[256];
  std::snprintf(line, sizeof line, "%-28s", "Method");
  t << line;
  for (const char* c : kClassNames) {
    std::snprintf(line, sizeof line, " %8s", c);
    t << line;
  }
  t << "     mean\n";
  for (const Row& r : rows) {
    std::snprintf(line, sizeof line, "%-28s", r.name.c_str());
    t << line;
    for (double v : r.ap) {
      std::snprintf(line, sizeof line, " %8s", fmt(v).c_str());
      t << line;
    }
    std::snprintf(line, sizeof line, " %8s", fmt(r.map).c_str());
    t << line;
    if (std::isfinite(r.map_sd))
      t << " +- " << fmt(r.map_sd) << " (sd over " << r.dirs.size() << " seeds)";
    t << "\n";
  }
  t << "\nBinary 'any threat' metrics (paper Table 4; P/R/F1 are macro means, in %)\n";
  std::snprintf(line, sizeof line, "%-28s %8s %8s %9s %8s %8s\n", "Method", "ROC AUC", "PR AUC",
                "Precision", "Recall", "F1");
  t << line;
  for (const Row& r : rows) {
    std::snprintf(line, sizeof line, "%-28s %8s %8s %9s %8s %8s\n", r.name.c_str(),
                  fmt(r.roc, "%.4f").c_str(), fmt(r.pr, "%.4f").c_str(), fmt(100 * r.p).c_str(),
                  fmt(100 * r.r).c_str(), fmt(100 * r.f1).c_str());
    t << line;
  }
  if (!cli.get("reference").empty()) {
    bool known = false;
    for (const Row& r : rows) known |= r.name == cli.get("reference");
    if (!known) GBAD_FAIL("--reference '", cli.get("reference"), "' is not a NAME of --runs");
  }
  // Differences need a method besides the reference.
  const bool bootstrap = cli.get_int("resamples") > 0 && rows.size() > 1;
  Comparisons cmp;
  if (bootstrap) cmp = compare(cli, rows);
  const double level_pct = 100 * cli.get_double("level");
  char about[512];
  std::snprintf(about, sizeof about,
                "Paired bootstrap: %lld resamples of the %lld test images (the same resample for "
                "both methods, seed %lld), %g%% percentile intervals. Differences are method "
                "minus %s; AP and mAP in points, PR AUC and ROC AUC x 100, F1 (macro) in "
                "points.",
                (long long)cli.get_int("resamples"), (long long)cmp.n_images,
                (long long)cli.get_int("bootstrap-seed"), level_pct, cmp.reference.c_str());
  bool any_seeds = false;
  for (const Row& r : rows) any_seeds |= r.dirs.size() > 1;
  if (bootstrap) {
    t << "\nDifference from " << cmp.reference << " (" << about << ")\n";
    std::snprintf(line, sizeof line, "%-28s %-24s %-24s %-24s %s\n", "Method", "mAP", "PR AUC",
                  "F1", "mAP in words");
    t << line;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].name == cmp.reference) continue;
      const PairedComparison& d = cmp.diffs[i];
      std::snprintf(line, sizeof line, "%-28s %-24s %-24s %-24s %s\n", rows[i].name.c_str(),
                    format_diff(d.map).c_str(), format_diff(d.pr_auc, 100).c_str(),
                    format_diff(d.f1, 100).c_str(), describe_diff(d.map).c_str());
      t << line;
      if (rows[i].dirs.size() > 1) {
        std::snprintf(line, sizeof line,
                      "%-28s (mean of %zu seeds; sd over seeds: mAP %.2f, PR AUC %.2f, F1 %.2f)\n",
                      "", rows[i].dirs.size(), d.map.seed_sd, 100 * d.pr_auc.seed_sd,
                      100 * d.f1.seed_sd);
        t << line;
      }
    }
    t << "Per-class AP difference from " << cmp.reference << " (points)\n";
    std::snprintf(line, sizeof line, "%-28s", "Method");
    t << line;
    for (const char* c : kClassNames) {
      std::snprintf(line, sizeof line, " %-22s", c);
      t << line;
    }
    t << "\n";
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].name == cmp.reference) continue;
      std::snprintf(line, sizeof line, "%-28s", rows[i].name.c_str());
      t << line;
      for (int c = 0; c < kNumClasses; ++c) {
        std::snprintf(line, sizeof line, " %-22s", format_diff(cmp.diffs[i].ap[c], 1, 1).c_str());
        t << line;
      }
      t << "\n";
    }
  }
  std::fputs(t.str().c_str(), stdout);

  if (!cli.get("json").empty()) {
    JsonWriter j(true);
    j.begin_object().key("title").value(cli.get("title"));
    j.key("reference").value(bootstrap ? cmp.reference : std::string());
    j.key("resamples").value(int64_t(cli.get_int("resamples")));
    j.key("bootstrap_seed").value(int64_t(cli.get_int("bootstrap-seed")));
    j.key("level").value(cli.get_double("level"));
    j.key("n_images").value(cmp.n_images);
    j.key("methods").begin_array();
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      j.begin_object().key("name").value(r.name).key("dirs").begin_array();
      for (const std::string& d : r.dirs) j.value(d);
      j.end_array().key("ap").begin_object();
      for (int c = 0; c < kNumClasses; ++c) j.key(kClassNames[c]).value(r.ap[c]);
      j.end_object().key("map").value(r.map).key("map_sd").value(r.map_sd);
      j.key("map_voc07").value(r.map_voc07).key("roc_auc").value(r.roc).key("pr_auc").value(r.pr);
      j.key("precision").value(r.p).key("recall").value(r.r).key("f1").value(r.f1);
      if (bootstrap) {
        const PairedComparison& d = cmp.diffs[i];
        j.key("diff").begin_object().key("ap").begin_object();
        for (int c = 0; c < kNumClasses; ++c) {
          j.key(kClassNames[c]);
          json_diff(j, d.ap[c]);
        }
        j.end_object().key("map");
        json_diff(j, d.map);
        j.key("roc_auc");
        json_diff(j, d.roc_auc);
        j.key("pr_auc");
        json_diff(j, d.pr_auc);
        j.key("f1");
        json_diff(j, d.f1);
        j.end_object();
      }
      j.end_object();
    }
    j.end_array().end_object();
    write_file_atomic(cli.get("json"), j.str() + "\n");
  }

  if (!cli.get("out").empty()) {
    std::ostringstream md;
    md << "# " << cli.get("title") << "\n\n";
    if (!cli.get("notes").empty()) md << cli.get("notes") << "\n\n";
    md << "## Per-class AP (%)\n\nCHR-style non-interpolated AP (the default of the SIXray "
          "baseline code); mAP is the mean over the five classes. VOC07 11-point mAP in the "
          "last column.\n\n| Method |";
    for (const char* c : kClassNames) md << " " << c << " |";
    md << " mean | mean (VOC07) |\n|---|";
    for (int k = 0; k <= kNumClasses + 1; ++k) md << "---:|";
    md << "\n";
    for (const Row& r : rows) {
      md << "| " << r.name << " |";
      for (double v : r.ap) md << " " << fmt(v) << " |";
      md << " **" << fmt(r.map) << "**";
      if (std::isfinite(r.map_sd))
        md << " ± " << fmt(r.map_sd) << " (" << r.dirs.size() << " seeds)";
      md << " | " << fmt(r.map_voc07) << " |\n";
    }
    md << "\n## Binary 'any threat' metrics (paper Table 4)\n\nImage score = max of its five "
          "class scores; precision, recall and F1 are the unweighted means over the positive "
          "and the negative class (%).\n\n| Method | ROC AUC | PR AUC | Precision | Recall | F1 "
          "|\n|---|---:|---:|---:|---:|---:|\n";
    for (const Row& r : rows)
      md << "| " << r.name << " | " << fmt(r.roc, "%.4f") << " | " << fmt(r.pr, "%.4f") << " | "
         << fmt(100 * r.p) << " | " << fmt(100 * r.r) << " | " << fmt(100 * r.f1) << " |\n";
    if (bootstrap) {
      md << "\n## Difference from " << cmp.reference << " with " << level_pct << "% intervals\n\n"
         << about
         << " An interval that includes 0 means the test set cannot tell the two methods "
            "apart.";
      if (any_seeds)
        md << " A method with several seeds shows the mean over seeds of the per-seed "
              "difference (each seed paired with the reference's seed of the same index), its "
              "bootstrap interval, and the sd of the difference over seeds (training noise, "
              "not in the interval).";
      md << "\n\n| Method | mAP | PR AUC | ROC AUC | F1 | mAP in words |"
         << (any_seeds
                 ? " seeds | sd of mAP diff over seeds |\n|---|---:|---:|---:|---:|---|---:|---:|\n"
                 : "\n|---|---:|---:|---:|---:|---|\n");
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].name == cmp.reference) continue;
        const PairedComparison& d = cmp.diffs[i];
        md << "| " << rows[i].name << " | " << format_diff(d.map) << " | "
           << format_diff(d.pr_auc, 100) << " | " << format_diff(d.roc_auc, 100) << " | "
           << format_diff(d.f1, 100) << " | " << describe_diff(d.map) << " |";
        if (any_seeds)
          md << " " << rows[i].dirs.size() << " | "
             << (rows[i].dirs.size() > 1 ? fmt(d.map.seed_sd) : std::string("-")) << " |";
        md << "\n";
      }
      md << "\nPer-class AP difference (points):\n\n| Method |";
      for (const char* c : kClassNames) md << " " << c << " |";
      md << "\n|---|";
      for (int k = 0; k < kNumClasses; ++k) md << "---:|";
      md << "\n";
      for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].name == cmp.reference) continue;
        md << "| " << rows[i].name << " |";
        for (int c = 0; c < kNumClasses; ++c) md << " " << format_diff(cmp.diffs[i].ap[c]) << " |";
        md << "\n";
      }
    }
    md << "\n## Curves\n\n";
    for (const Row& r : rows) {
      md << "### " << r.name << "\n\n";
      for (const char* p : {"binary_pr.svg", "binary_roc.svg", "class_pr.svg"})
        if (file_exists(r.dir + "/plots/" + p))
          md << "![" << p << "](" << r.dir << "/plots/" << p << ") ";
      md << "\n\n";
    }
    write_file_atomic(cli.get("out"), md.str());
    std::printf("\nreport: %s\n", cli.get("out").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main("gbad-report", [&] { return run(argc, argv); });
}
