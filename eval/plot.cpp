#include "eval/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace gbad {

namespace {
const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                          "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else
      o += c;
  }
  return o;
}

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}
}  // namespace

std::string svg_line_plot(const std::vector<PlotSeries>& series, const PlotOptions& o,
                          size_t max_points) {
  const double ml = 56, mr = 16, mt = 30, mb = 44;
  const double pw = o.width - ml - mr, ph = o.height - mt - mb;
  auto X = [&](double x) { return ml + (x - o.xmin) / (o.xmax - o.xmin) * pw; };
  auto Y = [&](double y) { return mt + ph - (y - o.ymin) / (o.ymax - o.ymin) * ph; };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << o.width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">"
    << esc(o.title) << "</text>\n";
  // grid and ticks
  for (int i = 0; i <= 5; ++i) {
    double fx = o.xmin + (o.xmax - o.xmin) * i / 5.0, fy = o.ymin + (o.ymax - o.ymin) * i / 5.0;
    s << "<line x1=\"" << num(X(fx)) << "\" y1=\"" << num(mt) << "\" x2=\"" << num(X(fx))
      << "\" y2=\"" << num(mt + ph) << "\" stroke=\"#ddd\"/>\n";
    s << "<line x1=\"" << num(ml) << "\" y1=\"" << num(Y(fy)) << "\" x2=\"" << num(ml + pw)
      << "\" y2=\"" << num(Y(fy)) << "\" stroke=\"#ddd\"/>\n";
    // Up to 7 digits without an exponent: "%.4g" writes 10270 as "1.027e+04", wider than the
    // left margin (throughput axes).
    char lx[24], ly[24];
    std::snprintf(lx, sizeof lx, std::fabs(fx) >= 1e3 && std::fabs(fx) < 1e7 ? "%.0f" : "%.4g", fx);
    std::snprintf(ly, sizeof ly, std::fabs(fy) >= 1e3 && std::fabs(fy) < 1e7 ? "%.0f" : "%.4g", fy);
    s << "<text x=\"" << num(X(fx)) << "\" y=\"" << num(mt + ph + 16)
      << "\" text-anchor=\"middle\">" << lx << "</text>\n";
    s << "<text x=\"" << num(ml - 6) << "\" y=\"" << num(Y(fy) + 4) << "\" text-anchor=\"end\">"
      << ly << "</text>\n";
  }
  s << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
    << "\" fill=\"none\" stroke=\"black\"/>\n";
  s << "<text x=\"" << num(ml + pw / 2) << "\" y=\"" << o.height - 8 << "\" text-anchor=\"middle\">"
    << esc(o.xlabel) << "</text>\n";
  s << "<text transform=\"translate(14," << num(mt + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << esc(o.ylabel) << "</text>\n";
  if (o.diagonal)
    s << "<line x1=\"" << num(X(o.xmin)) << "\" y1=\"" << num(Y(o.ymin)) << "\" x2=\""
      << num(X(o.xmax)) << "\" y2=\"" << num(Y(o.ymax))
      << "\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n";
  for (size_t k = 0; k < series.size(); ++k) {
    const PlotSeries& ser = series[k];
    size_t n = std::min(ser.x.size(), ser.y.size());
    size_t step = n > max_points ? (n + max_points - 1) / max_points : 1;
    s << "<polyline fill=\"none\" stroke-width=\"1.8\" stroke=\"" << kColours[k % 8]
      << "\" points=\"";
    for (size_t i = 0; i < n; i += step) {
      double x = std::clamp(ser.x[i], o.xmin, o.xmax), y = std::clamp(ser.y[i], o.ymin, o.ymax);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      s << num(X(x)) << "," << num(Y(y)) << " ";
    }
    if (n > 0 && (n - 1) % step != 0)
      s << num(X(std::clamp(ser.x[n - 1], o.xmin, o.xmax))) << ","
        << num(Y(std::clamp(ser.y[n - 1], o.ymin, o.ymax)));
    s << "\"/>\n";
    // legend
    double ly = mt + 14 + 16.0 * static_cast<double>(k);
    s << "<line x1=\"" << num(ml + pw - 150) << "\" y1=\"" << num(ly - 4) << "\" x2=\""
      << num(ml + pw - 130) << "\" y2=\"" << num(ly - 4) << "\" stroke=\"" << kColours[k % 8]
      << "\" stroke-width=\"2\"/>\n";
    s << "<text x=\"" << num(ml + pw - 126) << "\" y=\"" << num(ly) << "\">" << esc(ser.name)
      << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace gbad
