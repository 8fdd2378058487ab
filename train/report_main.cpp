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
#include "io/json.h"
#include "train/pipeline.h"
#include "train/report_html.h"
#include "train/startup.h"

using namespace gbad;

namespace {

struct Row {
  std::string name, dir;  // dir: the first seed's run
  std::vector<std::string> dirs;
  std::vector<double> ap;
  double map = NAN, map_voc07 = NAN, roc = NAN, pr = NAN, p = NAN, r = NAN, f1 = NAN;
  double map_sd = NAN;  // over seeds (NaN for one seed)
  // From DIR/method.json when present (written by gbad-train-ganomaly, or by hand):
  // {"params": N, "train_seconds": S, "tables": "binary"}; "binary" keeps a method whose
  // score is not per class (an anomaly detector) out of the per-class AP tables.
  double params = NAN, train_seconds = NAN;
  bool binary_only = false;
};

void read_method_info(Row& r) {
  const std::string path = r.dir + "/method.json";
  if (!file_exists(path)) return;
  const Json j = read_json_file(path);
  r.params = json_number_or_nan(json_find(j, "params"));
  r.train_seconds = json_number_or_nan(json_find(j, "train_seconds"));
  const Json* t = json_find(j, "tables");
  r.binary_only = t && t->is_string() && t->get<std::string>() == "binary";
}

std::string fmt_params(double v) {
  if (!std::isfinite(v)) return "-";
  char b[32];
  if (v >= 1e6)
    std::snprintf(b, sizeof b, "%.2f M", v / 1e6);
  else
    std::snprintf(b, sizeof b, "%.1f k", v / 1e3);
  return b;
}

std::string fmt_seconds(double v) {
  if (!std::isfinite(v)) return "-";
  char b[32];
  if (v >= 3600)
    std::snprintf(b, sizeof b, "%.1f h", v / 3600);
  else if (v >= 60)
    std::snprintf(b, sizeof b, "%.1f min", v / 60);
  else
    std::snprintf(b, sizeof b, "%.0f s", v);
  return b;
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

Json json_diff(const DiffInterval& d) {
  Json j = Json::object();
  j["estimate"] = d.estimate;
  j["lo"] = d.lo;
  j["hi"] = d.hi;
  j["valid"] = d.valid;
  j["seed_sd"] = d.seed_sd;
  j["includes_zero"] = d.includes_zero();
  j["words"] = describe_diff(d);
  return j;
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
      .option("json", "", "also write the table and the differences as JSON to this file")
      .option("html", "",
              "also write a self-contained HTML page (tables, intervals, curves, training "
              "curves, the anomaly scores with the SVM's decision region, CAMs) to this file")
      .option("cams", "", "a gbad-predict --cam directory whose overlays the HTML page shows");
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
      const Json j = read_json_file(path);
      const Json* ap = json_find(j, "ap");
      GBAD_CHECK(ap && ap->is_object(), path, " has no \"ap\" object");
      for (const char* c : kClassNames) one.ap.push_back(json_number_or_nan(json_find(*ap, c)));
      one.map = json_number_or_nan(json_find(j, "map"));
      one.map_voc07 = json_number_or_nan(json_find(j, "map_voc07"));
      if (const Json* b = json_find(j, "binary")) {
        one.roc = json_number_or_nan(json_find(*b, "roc_auc"));
        one.pr = json_number_or_nan(json_find(*b, "pr_auc"));
        one.p = json_number_or_nan(json_find(*b, "precision"));
        one.r = json_number_or_nan(json_find(*b, "recall"));
        one.f1 = json_number_or_nan(json_find(*b, "f1"));
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
    read_method_info(r);
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
    if (r.binary_only) continue;
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
  bool any_info = false;
  for (const Row& r : rows) any_info |= std::isfinite(r.params) || std::isfinite(r.train_seconds);
  if (any_info) {
    t << "\nModel size and training time (from each run's method.json)\n";
    std::snprintf(line, sizeof line, "%-28s %12s %12s\n", "Method", "Parameters", "Training");
    t << line;
    for (const Row& r : rows) {
      std::snprintf(line, sizeof line, "%-28s %12s %12s\n", r.name.c_str(),
                    fmt_params(r.params).c_str(), fmt_seconds(r.train_seconds).c_str());
      t << line;
    }
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
      const bool bin = rows[i].binary_only;  // no per-class scores: mAP means nothing
      std::snprintf(
          line, sizeof line, "%-28s %-24s %-24s %-24s %s\n", rows[i].name.c_str(),
          bin ? "-" : format_diff(d.map).c_str(), format_diff(d.pr_auc, 100).c_str(),
          format_diff(d.f1, 100).c_str(),
          bin ? ("PR AUC: " + describe_diff(d.pr_auc)).c_str() : describe_diff(d.map).c_str());
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
      if (rows[i].name == cmp.reference || rows[i].binary_only) continue;
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
    Json j = Json::object();
    j["title"] = cli.get("title");
    j["reference"] = bootstrap ? cmp.reference : std::string();
    j["resamples"] = int64_t(cli.get_int("resamples"));
    j["bootstrap_seed"] = int64_t(cli.get_int("bootstrap-seed"));
    j["level"] = cli.get_double("level");
    j["n_images"] = cmp.n_images;
    Json methods = Json::array();
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      Json m = Json::object();
      m["name"] = r.name;
      m["dirs"] = r.dirs;
      Json ap = Json::object();
      for (int c = 0; c < kNumClasses; ++c) ap[kClassNames[c]] = r.ap[c];
      m["ap"] = ap;
      m["map"] = r.map;
      m["map_sd"] = r.map_sd;
      m["map_voc07"] = r.map_voc07;
      m["roc_auc"] = r.roc;
      m["pr_auc"] = r.pr;
      m["precision"] = r.p;
      m["recall"] = r.r;
      m["f1"] = r.f1;
      m["params"] = r.params;
      m["train_seconds"] = r.train_seconds;
      m["binary_only"] = r.binary_only;
      if (bootstrap) {
        const PairedComparison& d = cmp.diffs[i];
        Json diff = Json::object(), dap = Json::object();
        for (int c = 0; c < kNumClasses; ++c) dap[kClassNames[c]] = json_diff(d.ap[c]);
        diff["ap"] = dap;
        diff["map"] = json_diff(d.map);
        diff["roc_auc"] = json_diff(d.roc_auc);
        diff["pr_auc"] = json_diff(d.pr_auc);
        diff["f1"] = json_diff(d.f1);
        m["diff"] = diff;
      }
      methods.push_back(m);
    }
    j["methods"] = methods;
    write_json_file(cli.get("json"), j);
  }

  std::string markdown;
  {
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
      if (r.binary_only) continue;
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
    if (any_info) {
      md << "\n## Model size and training time\n\nFrom each run's `method.json`; training time "
            "is wall-clock on the machine that ran it.\n\n| Method | Parameters | Training |\n"
            "|---|---:|---:|\n";
      for (const Row& r : rows)
        md << "| " << r.name << " | " << fmt_params(r.params) << " | "
           << fmt_seconds(r.train_seconds) << " |\n";
    }
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
        const bool bin = rows[i].binary_only;  // no per-class scores: mAP means nothing
        md << "| " << rows[i].name << " | " << (bin ? "-" : format_diff(d.map)) << " | "
           << format_diff(d.pr_auc, 100) << " | " << format_diff(d.roc_auc, 100) << " | "
           << format_diff(d.f1, 100) << " | "
           << (bin ? "PR AUC: " + describe_diff(d.pr_auc) : describe_diff(d.map)) << " |";
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
        if (rows[i].name == cmp.reference || rows[i].binary_only) continue;
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
    markdown = md.str();
  }
  if (!cli.get("out").empty()) {
    write_file_atomic(cli.get("out"), markdown);
    std::printf("\nreport: %s\n", cli.get("out").c_str());
  }
  if (!cli.get("html").empty()) {
    HtmlReportInput in;
    in.title = cli.get("title");
    in.markdown = markdown;
    in.base_dir = ".";  // the --runs directories are relative to the working directory
    for (const Row& r : rows) in.runs.emplace_back(r.name, r.dir);
    in.cams_dir = cli.get("cams");
    write_file_atomic(cli.get("html"), html_report(in));
    std::printf("html report: %s\n", cli.get("html").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main(argc, argv, "gbad-report", [&] { return run(argc, argv); });
}
