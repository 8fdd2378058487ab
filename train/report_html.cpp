#include "train/report_html.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "eval/cam.h"
#include "eval/html.h"
#include "eval/plot.h"
#include "eval/scores_csv.h"
#include "io/io.h"
#include "models/svm.h"
#include "train/pipeline.h"

namespace gbad {

namespace {

// Every numeric field of metrics.jsonl against "step", one series per key.
std::map<std::string, PlotSeries> read_metrics_jsonl(const std::string& path) {
  std::map<std::string, PlotSeries> series;
  std::ifstream in(path);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    GBAD_CHECK(!j.is_discarded() && j.is_object(), path, ":", lineno, ": not a JSON object");
    if (!j.contains("step") || !j["step"].is_number()) continue;
    const double step = j["step"].get<double>();
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == "step" || it.key() == "epoch" || !it.value().is_number()) continue;
      PlotSeries& s = series[it.key()];
      s.name = it.key();
      s.x.push_back(step);
      s.y.push_back(it.value().get<double>());
    }
  }
  return series;
}

std::string chart(const std::string& title, const std::string& ylabel,
                  const std::vector<PlotSeries>& series) {
  PlotOptions o;
  o.title = title;
  o.xlabel = "step";
  o.ylabel = ylabel;
  o.xmin = INFINITY, o.xmax = -INFINITY, o.ymin = INFINITY, o.ymax = -INFINITY;
  for (const auto& s : series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      o.xmin = std::min(o.xmin, s.x[i]);
      o.xmax = std::max(o.xmax, s.x[i]);
      o.ymin = std::min(o.ymin, s.y[i]);
      o.ymax = std::max(o.ymax, s.y[i]);
    }
  if (!std::isfinite(o.xmin)) return "";
  if (o.xmax <= o.xmin) o.xmax = o.xmin + 1;
  if (o.ymin > 0 && o.ymin < 0.5 * o.ymax) o.ymin = 0;
  if (o.ymax <= o.ymin) o.ymax = o.ymin + 1;
  o.ymax += 0.05 * (o.ymax - o.ymin);
  return html::inline_svg(svg_line_plot(series, o));
}

// Loss-like keys in one chart, learning rates in a second, throughput in a third.
std::string training_section(const std::string& label, const std::string& dir) {
  const std::string path = dir + "/metrics.jsonl";
  if (!file_exists(path)) return "";
  std::map<std::string, PlotSeries> all = read_metrics_jsonl(path);
  std::vector<PlotSeries> loss, lr, rate, other;
  for (auto& [key, s] : all) {
    if (key.find("loss") != std::string::npos)
      loss.push_back(s);
    else if (key == "lr" || key.rfind("lr_", 0) == 0)
      lr.push_back(s);
    else if (key.find("per_s") != std::string::npos)
      rate.push_back(s);
    else if (key != "seconds")
      other.push_back(s);
  }
  std::ostringstream out;
  out << "<h3>" << html::escape(label) << "</h3>\n<p class=\"note\">" << html::escape(path)
      << "</p>\n<div class=\"plots\">\n";
  if (!loss.empty()) out << chart("loss", "loss", loss);
  if (!lr.empty()) out << chart("learning rate", "lr", lr);
  if (!rate.empty()) out << chart("throughput", "per second", rate);
  if (!other.empty()) out << chart("other", "value", other);
  out << "</div>\n";
  return out.str();
}

std::string anomaly_section(const std::string& name, const RunConfig& eval) {
  const std::string svm_dir = eval.option_or("svm", ""), bigan_dir = eval.option_or("bigan", "");
  if (svm_dir.empty() || eval.option_or("no-gate", "0") == "1") return "";
  RunConfig svm_run(svm_dir, "train-svm");
  const bool logs = svm_uses_log_scores(svm_run);
  const SvmScoreTable rows = read_svm_scores_csv(svm_run.file("scores.csv"));
  Svm svm = load_svm_run(svm_run);
  auto tr = [&](double v) { return logs ? std::log(std::max(v, 1e-12)) : v; };
  html::ScatterSeries neg{"negatives", "#1f77b4", {}, {}}, pos{"positives", "#d62728", {}, {}};
  html::ScatterSeries rn{"negatives", "#1f77b4", {}, {}}, rp{"positives", "#d62728", {}, {}};
  html::ScatterSeries fn{"negatives", "#1f77b4", {}, {}}, fp{"positives", "#d62728", {}, {}};
  for (size_t i = 0; i < rows.r.size(); ++i) {
    const bool p = rows.label[i] > 0;
    (p ? pos : neg).x.push_back(tr(rows.r[i]));
    (p ? pos : neg).y.push_back(tr(rows.fm[i]));
    (p ? rp : rn).x.push_back(tr(rows.r[i]));
    (p ? fp : fn).x.push_back(tr(rows.fm[i]));
  }
  html::ScatterOptions o;
  o.title = "SVM decision region (shaded: anomalous)";
  o.xlabel = logs ? "log R (reconstruction)" : "R (reconstruction)";
  o.ylabel = logs ? "log FM (feature matching)" : "FM (feature matching)";
  auto decide = [&](double x, double y) {
    return svm.decision_values(
        std::vector<std::array<float, 2>>{{static_cast<float>(x), static_cast<float>(y)}})[0];
  };
  html::ScatterOptions hr, hf;
  hr.title = "R of the SVM's training images";
  hr.xlabel = o.xlabel;
  hr.ylabel = "density";
  hf.title = "FM of the SVM's training images";
  hf.xlabel = o.ylabel;
  hf.ylabel = "density";
  std::ostringstream out;
  out << "<h3>" << html::escape(name) << "</h3>\n<p class=\"note\">Bi-GAN "
      << html::escape(bigan_dir) << ", SVM " << html::escape(svm_dir) << ": " << neg.x.size()
      << " negatives, " << pos.x.size() << " positives.</p>\n<div class=\"plots\">\n"
      << html::inline_svg(html::svg_scatter({neg, pos}, o, decide))
      << html::inline_svg(html::svg_histograms({rn, rp}, hr))
      << html::inline_svg(html::svg_histograms({fn, fp}, hf)) << "</div>\n";
  return out.str();
}

// A `gbad-predict --cam` directory: its index.csv (eval/cam.h) and the overlays it names.
std::string cam_section(const std::string& dir, int max_cams) {
  std::ostringstream out;
  out << "<div class=\"grid\">\n";
  int shown = 0;
  for (const CamIndexRow& r : read_cam_index(dir)) {
    if (shown == max_cams) break;
    out << "<figure>" << html::embed_image(dir + "/" + r.overlay, r.image + ": " + r.cls)
        << "<figcaption>" << html::escape(r.image) << ": " << html::escape(r.cls) << " "
        << html::escape(r.confidence) << "</figcaption></figure>\n";
    ++shown;
  }
  out << "</div>\n";
  return shown ? out.str() : "<p>No overlays listed in " + html::escape(dir) + "/index.csv.</p>\n";
}

}  // namespace

std::string html_report(const HtmlReportInput& in) {
  std::ostringstream body;
  body << "<nav><a href=\"#tables\">Tables and curves</a> | <a href=\"#training\">Training</a> | "
          "<a href=\"#anomaly\">Anomaly scores</a>"
       << (in.cams_dir.empty() ? "" : " | <a href=\"#cams\">Where the network looks</a>")
       << "</nav>\n<section id=\"tables\">\n";
  // The Markdown's own title is the page title.
  std::string md = in.markdown;
  if (md.rfind("# ", 0) == 0)
    md = md.substr(md.find('\n') == std::string::npos ? md.size() : md.find('\n'));
  body << html::markdown_to_html(md, in.base_dir) << "</section>\n";

  std::set<std::string> seen;
  std::ostringstream training, anomaly;
  for (const auto& [name, dir] : in.runs) {
    // Score-file evaluations (the GAN baselines, gbad-eval --scores) have no run chain to show.
    if (!file_exists(dir + "/config.json")) continue;
    RunConfig eval(dir, "eval");
    for (const char* key : {"cnn", "bigan"}) {
      const std::string run = eval.option_or(key, "");
      if (run.empty() || !seen.insert(run).second) continue;
      training << training_section(
          std::string(key) == "cnn" ? "CNN of " + name : "Bi-GAN of " + name, run);
    }
    anomaly << anomaly_section(name, eval);
  }
  body << "<section id=\"training\"><h2>Training</h2>\n"
       << (training.str().empty() ? "<p>No training logs found.</p>" : training.str())
       << "</section>\n<section id=\"anomaly\"><h2>Anomaly scores and the SVM gate</h2>\n"
       << (anomaly.str().empty() ? "<p>No gated method in this report.</p>" : anomaly.str())
       << "</section>\n";
  if (!in.cams_dir.empty())
    body << "<section id=\"cams\"><h2>Where the network looks (class activation maps)</h2>\n"
         << cam_section(in.cams_dir, in.max_cams) << "</section>\n";
  return html::page(in.title, body.str());
}

}  // namespace gbad
