// gbad-report's self-contained HTML page: the Markdown report's tables and curves, plus what
// only a page can show well: the training curves of every run behind the compared methods
// (from their metrics.jsonl), the Bi-GAN's anomaly scores of the SVM's training images
// (negatives vs positives) with the SVM's decision region in the (R, FM) plane, and a grid of
// class activation maps written by `gbad-predict --cam`. Every image is inline: the file opens
// offline, on its own, from anywhere.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace gbad {

struct HtmlReportInput {
  std::string title;
  std::string markdown;  // the Markdown report (tables with intervals, curves)
  std::string base_dir;  // where the Markdown's relative image paths resolve
  std::vector<std::pair<std::string, std::string>> runs;  // (method name, gbad-eval directory)
  std::string cams_dir;  // optional: a `gbad-predict --cam` directory (index.csv + PNGs)
  int max_cams = 24;
};

// The page as a string (throws naming any file it needs and cannot read).
std::string html_report(const HtmlReportInput& in);

}  // namespace gbad
