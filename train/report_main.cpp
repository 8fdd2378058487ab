// gbad-report: collects the metrics.json of several gbad-eval output directories into one
// table in the form of the paper's Tables 1-3 (per-class AP and mAP, one row per method) plus
// the Table 4 binary metrics, printed and written as a Markdown report with the plots.
#include <cmath>
#include <cstdio>
#include <sstream>

#include "data/sixray.h"
#include "io/io.h"
#include "train/pipeline.h"
#include "train/report_html.h"

using namespace gbad;

namespace {

struct Row {
  std::string name, dir;
  std::vector<double> ap;
  double map = NAN, map_voc07 = NAN, roc = NAN, pr = NAN, p = NAN, r = NAN, f1 = NAN;
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

int run(int argc, char** argv) {
  Cli cli("gbad-report",
          "Builds the comparison table of several gbad-eval runs. --runs takes\n"
          "'NAME=DIR' items separated by ';' (DIR is a gbad-eval --out directory).");
  cli.option("runs", "", "NAME=DIR;NAME=DIR;...", true)
      .option("title", "GBAD on SIXray", "report title")
      .option("out", "", "write the Markdown report to this file (plots are linked relative)")
      .option("notes", "", "a paragraph added under the title")
      .option("html", "",
              "also write a self-contained HTML page (tables, curves, training curves, the "
              "anomaly scores with the SVM's decision region, CAMs) to this file")
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
    r.dir = item.substr(eq + 1);
    std::string path = r.dir + "/metrics.json";
    JsonValue j = parse_json(read_file(path), path);
    const JsonValue* ap = j.find("ap");
    GBAD_CHECK(ap && ap->is_object(), path, " has no \"ap\" object");
    for (const char* c : kClassNames) r.ap.push_back(num(ap->find(c)));
    r.map = num(j.find("map"));
    r.map_voc07 = num(j.find("map_voc07"));
    if (const JsonValue* b = j.find("binary")) {
      r.roc = num(b->find("roc_auc"));
      r.pr = num(b->find("pr_auc"));
      r.p = num(b->find("precision"));
      r.r = num(b->find("recall"));
      r.f1 = num(b->find("f1"));
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
  std::fputs(t.str().c_str(), stdout);

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
    in.base_dir = ".";  // the --runs directories are given relative to the working directory
    for (const Row& r : rows) in.runs.emplace_back(r.name, r.dir);
    in.cams_dir = cli.get("cams");
    write_file_atomic(cli.get("html"), html_report(in));
    std::printf("html report: %s\n", cli.get("html").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_main("gbad-report", [&] { return run(argc, argv); });
}
