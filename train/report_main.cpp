// gbad-report: collects the metrics.json of several gbad-eval output directories into one
// table in the form of the paper's Tables 1-3 (per-class AP and mAP, one row per method) plus
// the Table 4 binary metrics, printed and written as a Markdown report with the plots.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "data/sixray.h"
#include "io/json.h"
#include "train/pipeline.h"

using namespace gbad;

namespace {

struct Row {
  std::string name, dir;
  std::vector<double> ap;
  double map = NAN, map_voc07 = NAN, roc = NAN, pr = NAN, p = NAN, r = NAN, f1 = NAN;
  // From DIR/method.json when present (written by gbad-train-ganomaly, or by hand):
  // {"params": N, "train_seconds": S, "tables": "binary"}; "binary" keeps a method whose
  // score is not per class (an anomaly detector) out of the per-class AP table.
  double params = NAN, train_seconds = NAN;
  bool binary_only = false;
};

std::string fmt(double v, const char* f = "%.2f") {
  if (!std::isfinite(v)) return "-";
  char b[32];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

void read_method_info(Row& r) {
  const std::string path = r.dir + "/method.json";
  if (!file_exists(path)) return;
  JsonValue j = parse_json(read_file(path), path);
  r.params = num(j.find("params"));
  r.train_seconds = num(j.find("train_seconds"));
  const JsonValue* t = j.find("tables");
  r.binary_only = t && t->kind == JsonValue::Kind::String && t->s == "binary";
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

int run(int argc, char** argv) {
  Cli cli("gbad-report",
          "Builds the comparison table of several gbad-eval runs. --runs takes\n"
          "'NAME=DIR' items separated by ';' (DIR is a gbad-eval --out directory).");
  cli.option("runs", "", "NAME=DIR;NAME=DIR;...", true)
      .option("title", "GBAD on SIXray", "report title")
      .option("out", "", "write the Markdown report to this file (plots are linked relative)")
      .option("notes", "", "a paragraph added under the title");
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
    r.dir = item.substr(eq + 1);
    std::string path = r.dir + "/metrics.json";
    const Json j = read_json_file(path);
    const Json* ap = json_find(j, "ap");
    GBAD_CHECK(ap && ap->is_object(), path, " has no \"ap\" object");
    for (const char* c : kClassNames) r.ap.push_back(json_number_or_nan(json_find(*ap, c)));
    r.map = json_number_or_nan(json_find(j, "map"));
    r.map_voc07 = json_number_or_nan(json_find(j, "map_voc07"));
    if (const Json* b = json_find(j, "binary")) {
      r.roc = json_number_or_nan(json_find(*b, "roc_auc"));
      r.pr = json_number_or_nan(json_find(*b, "pr_auc"));
      r.p = json_number_or_nan(json_find(*b, "precision"));
      r.r = json_number_or_nan(json_find(*b, "recall"));
      r.f1 = json_number_or_nan(json_find(*b, "f1"));
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
    std::snprintf(line, sizeof line, " %8s\n", fmt(r.map).c_str());
    t << line;
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
  std::fputs(t.str().c_str(), stdout);

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
      if (r.binary_only) continue;
      md << "| " << r.name << " |";
      for (double v : r.ap) md << " " << fmt(v) << " |";
      md << " **" << fmt(r.map) << "** | " << fmt(r.map_voc07) << " |\n";
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
  return run_main(argc, argv, "gbad-report", [&] { return run(argc, argv); });
}
