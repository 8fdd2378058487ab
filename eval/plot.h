// Minimal SVG line plots for PR and ROC curves (no plotting library needed to read a report).
#pragma once

#include <string>
#include <vector>

namespace gbad {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotOptions {
  std::string title, xlabel, ylabel;
  double xmin = 0, xmax = 1, ymin = 0, ymax = 1;
  int width = 480, height = 400;
  bool diagonal = false;  // dashed y = x reference (ROC)
};

// Returns a standalone SVG document. Series with more than `max_points` points are decimated.
std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& opt,
                          size_t max_points = 2000);

}  // namespace gbad
