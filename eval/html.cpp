#include "eval/html.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/check.h"
#include "io/io.h"

namespace gbad::html {

namespace {

std::string n1(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string tick(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

struct Range {
  double lo = 0, hi = 1;
};

Range range_of(const std::vector<ScatterSeries>& series, bool x) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& s : series)
    for (double v : x ? s.x : s.y)
      if (std::isfinite(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (!std::isfinite(lo)) return {0, 1};
  if (hi - lo < 1e-12) {
    lo -= 0.5;
    hi += 0.5;
  }
  const double m = 0.05 * (hi - lo);
  return {lo - m, hi + m};
}

// The frame, grid, ticks, title and axis labels of a plot area.
struct Frame {
  double ml = 56, mr = 16, mt = 30, mb = 44, pw, ph;
  Range rx, ry;
  Frame(const ScatterOptions& o, Range x, Range y)
      : pw(o.width - ml - mr), ph(o.height - mt - mb), rx(x), ry(y) {}
  double X(double x) const { return ml + (x - rx.lo) / (rx.hi - rx.lo) * pw; }
  double Y(double y) const { return mt + ph - (y - ry.lo) / (ry.hi - ry.lo) * ph; }
  void open(std::ostringstream& s, const ScatterOptions& o) const {
    s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\""
      << o.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << o.width / 2 << "\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">"
      << escape(o.title) << "</text>\n";
  }
  void axes(std::ostringstream& s, const ScatterOptions& o) const {
    for (int i = 0; i <= 5; ++i) {
      double fx = rx.lo + (rx.hi - rx.lo) * i / 5.0, fy = ry.lo + (ry.hi - ry.lo) * i / 5.0;
      s << "<line x1=\"" << n1(X(fx)) << "\" y1=\"" << n1(mt) << "\" x2=\"" << n1(X(fx))
        << "\" y2=\"" << n1(mt + ph) << "\" stroke=\"#ccc\" stroke-opacity=\"0.6\"/>\n"
        << "<line x1=\"" << n1(ml) << "\" y1=\"" << n1(Y(fy)) << "\" x2=\"" << n1(ml + pw)
        << "\" y2=\"" << n1(Y(fy)) << "\" stroke=\"#ccc\" stroke-opacity=\"0.6\"/>\n"
        << "<text x=\"" << n1(X(fx)) << "\" y=\"" << n1(mt + ph + 16)
        << "\" text-anchor=\"middle\">" << tick(fx) << "</text>\n"
        << "<text x=\"" << n1(ml - 6) << "\" y=\"" << n1(Y(fy) + 4) << "\" text-anchor=\"end\">"
        << tick(fy) << "</text>\n";
    }
    s << "<rect x=\"" << ml << "\" y=\"" << mt << "\" width=\"" << pw << "\" height=\"" << ph
      << "\" fill=\"none\" stroke=\"black\"/>\n"
      << "<text x=\"" << n1(ml + pw / 2) << "\" y=\"" << o.height - 8
      << "\" text-anchor=\"middle\">" << escape(o.xlabel) << "</text>\n"
      << "<text transform=\"translate(14," << n1(mt + ph / 2)
      << ") rotate(-90)\" text-anchor=\"middle\">" << escape(o.ylabel) << "</text>\n";
  }
  void legend(std::ostringstream& s, const std::vector<ScatterSeries>& series) const {
    for (size_t k = 0; k < series.size(); ++k) {
      const double ly = mt + 14 + 16.0 * static_cast<double>(k);
      s << "<rect x=\"" << n1(ml + pw - 150) << "\" y=\"" << n1(ly - 9) << "\" width=\"10\" "
        << "height=\"10\" fill=\"" << escape(series[k].colour) << "\"/>\n"
        << "<text x=\"" << n1(ml + pw - 134) << "\" y=\"" << n1(ly) << "\">"
        << escape(series[k].name) << "</text>\n";
    }
  }
};

}  // namespace

std::string escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      case '\'':
        o += "&#39;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string base64(const std::string& bytes) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) |
                       (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint32_t(uint8_t(bytes[i + 2]));
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? a[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string data_uri(const std::string& mime, const std::string& bytes) {
  return "data:" + mime + ";base64," + base64(bytes);
}

std::string embed_image(const std::string& path, const std::string& alt, int max_width) {
  std::string ext = path.substr(path.find_last_of('.') + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string mime = ext == "png"                    ? "image/png"
                     : ext == "jpg" || ext == "jpeg" ? "image/jpeg"
                     : ext == "svg"                  ? "image/svg+xml"
                                                     : "";
  GBAD_CHECK(!mime.empty(), "embed_image: ", path, " is not a PNG, JPEG or SVG file");
  std::string style =
      max_width > 0 ? " style=\"max-width:" + std::to_string(max_width) + "px\"" : "";
  return "<img src=\"" + data_uri(mime, read_file(path)) + "\" alt=\"" + escape(alt) + "\"" +
         style + ">";
}

std::string inline_svg(const std::string& svg) {
  size_t at = svg.find("<svg");
  return at == std::string::npos ? svg : svg.substr(at);
}

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, bool numeric) {
  std::ostringstream s;
  s << "<table>\n<thead><tr>";
  for (const auto& h : header) s << "<th>" << escape(h) << "</th>";
  s << "</tr></thead>\n<tbody>\n";
  for (const auto& r : rows) {
    s << "<tr>";
    for (size_t i = 0; i < r.size(); ++i)
      s << (numeric && i > 0 ? "<td class=\"num\">" : "<td>") << escape(r[i]) << "</td>";
    s << "</tr>\n";
  }
  s << "</tbody></table>\n";
  return s.str();
}

std::string svg_scatter(const std::vector<ScatterSeries>& series, const ScatterOptions& o,
                        const std::function<double(double, double)>& decision) {
  Frame f(o, range_of(series, true), range_of(series, false));
  std::ostringstream s;
  f.open(s, o);
  if (decision) {
    const int gx = 96, gy = 80;
    const double cw = f.pw / gx, ch = f.ph / gy;
    for (int j = 0; j < gy; ++j)
      for (int i = 0; i < gx; ++i) {
        const double x = f.rx.lo + (i + 0.5) / gx * (f.rx.hi - f.rx.lo);
        const double y = f.ry.lo + (gy - j - 0.5) / gy * (f.ry.hi - f.ry.lo);
        if (decision(x, y) > 0)
          s << "<rect x=\"" << n1(f.ml + i * cw) << "\" y=\"" << n1(f.mt + j * ch) << "\" width=\""
            << n1(cw + 0.3) << "\" height=\"" << n1(ch + 0.3) << "\" fill=\"#fbd5d5\"/>\n";
      }
  }
  f.axes(s, o);
  for (const auto& ser : series) {
    const size_t n = std::min(ser.x.size(), ser.y.size());
    const size_t step = n > o.max_points ? (n + o.max_points - 1) / o.max_points : 1;
    s << "<g fill=\"" << escape(ser.colour) << "\" fill-opacity=\"0.6\">\n";
    for (size_t i = 0; i < n; i += step) {
      if (!std::isfinite(ser.x[i]) || !std::isfinite(ser.y[i])) continue;
      s << "<circle cx=\"" << n1(f.X(ser.x[i])) << "\" cy=\"" << n1(f.Y(ser.y[i]))
        << "\" r=\"2\"/>\n";
    }
    s << "</g>\n";
  }
  f.legend(s, series);
  s << "</svg>\n";
  return s.str();
}

std::string svg_histograms(const std::vector<ScatterSeries>& series, const ScatterOptions& o,
                           int bins) {
  GBAD_CHECK(bins >= 1, "svg_histograms: bins must be positive, got ", bins);
  Range rx = range_of(series, true);
  std::vector<std::vector<double>> dens(series.size(), std::vector<double>(bins, 0.0));
  double top = 0;
  const double w = (rx.hi - rx.lo) / bins;
  for (size_t k = 0; k < series.size(); ++k) {
    size_t n = 0;
    for (double v : series[k].x)
      if (std::isfinite(v)) {
        int b = std::clamp(static_cast<int>((v - rx.lo) / w), 0, bins - 1);
        dens[k][b] += 1;
        ++n;
      }
    for (double& d : dens[k]) {
      d = n ? d / (double(n) * w) : 0;
      top = std::max(top, d);
    }
  }
  Frame f(o, rx, Range{0, top > 0 ? top * 1.05 : 1});
  std::ostringstream s;
  f.open(s, o);
  f.axes(s, o);
  for (size_t k = 0; k < series.size(); ++k) {
    s << "<g fill=\"" << escape(series[k].colour) << "\" fill-opacity=\"0.45\">\n";
    for (int b = 0; b < bins; ++b) {
      if (dens[k][b] <= 0) continue;
      const double x0 = f.X(rx.lo + b * w), x1 = f.X(rx.lo + (b + 1) * w), y = f.Y(dens[k][b]);
      s << "<rect x=\"" << n1(x0) << "\" y=\"" << n1(y) << "\" width=\"" << n1(x1 - x0)
        << "\" height=\"" << n1(f.Y(0) - y) << "\"/>\n";
    }
    s << "</g>\n";
  }
  f.legend(s, series);
  s << "</svg>\n";
  return s.str();
}

namespace {

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t"), b = s.find_last_not_of(" \t");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

bool is_abs(const std::string& p) {
  return !p.empty() && p[0] == '/';
}

// Inline markup of one line: images, **bold**, `code`; everything else escaped.
std::string inline_md(const std::string& line, const std::string& base_dir) {
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    if (line.compare(i, 2, "![") == 0) {
      const size_t close = line.find("](", i + 2), end = line.find(')', close + 2);
      if (close != std::string::npos && end != std::string::npos) {
        const std::string alt = line.substr(i + 2, close - i - 2);
        const std::string path = line.substr(close + 2, end - close - 2);
        const std::string full = is_abs(path) || base_dir.empty() ? path : base_dir + "/" + path;
        if (full.size() > 4 && full.compare(full.size() - 4, 4, ".svg") == 0)
          out += "<span class=\"svg\">" + inline_svg(read_file(full)) + "</span>";
        else
          out += embed_image(full, alt);
        i = end + 1;
        continue;
      }
    }
    if (line.compare(i, 2, "**") == 0) {
      const size_t end = line.find("**", i + 2);
      if (end != std::string::npos) {
        out += "<b>" + escape(line.substr(i + 2, end - i - 2)) + "</b>";
        i = end + 2;
        continue;
      }
    }
    if (line[i] == '`') {
      const size_t end = line.find('`', i + 1);
      if (end != std::string::npos) {
        out += "<code>" + escape(line.substr(i + 1, end - i - 1)) + "</code>";
        i = end + 1;
        continue;
      }
    }
    out += escape(std::string(1, line[i]));
    ++i;
  }
  return out;
}

std::vector<std::string> table_cells(const std::string& line) {
  std::string t = trim(line);
  if (!t.empty() && t.front() == '|') t.erase(0, 1);
  if (!t.empty() && t.back() == '|') t.pop_back();
  std::vector<std::string> cells;
  std::stringstream ss(t);
  std::string c;
  while (std::getline(ss, c, '|')) cells.push_back(trim(c));
  return cells;
}

}  // namespace

std::string markdown_to_html(const std::string& md, const std::string& base_dir) {
  std::vector<std::string> lines;
  {
    std::stringstream ss(md);
    std::string l;
    while (std::getline(ss, l)) lines.push_back(l);
  }
  std::ostringstream out;
  std::string para;
  auto flush = [&] {
    if (!trim(para).empty()) out << "<p>" << para << "</p>\n";
    para.clear();
  };
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string t = trim(lines[i]);
    if (t.empty()) {
      flush();
      continue;
    }
    if (t[0] == '#') {
      flush();
      size_t level = t.find_first_not_of('#');
      if (level != std::string::npos && level <= 4 && t[level] == ' ') {
        // h1 is the page title: report headings start at h2.
        const size_t h = std::min<size_t>(level + 1, 6);
        out << "<h" << h << ">" << inline_md(trim(t.substr(level)), base_dir) << "</h" << h
            << ">\n";
        continue;
      }
    }
    if (t[0] == '|' && i + 1 < lines.size() && trim(lines[i + 1]).rfind("|-", 0) == 0) {
      flush();
      const std::vector<std::string> head = table_cells(t);
      const std::vector<std::string> align = table_cells(lines[i + 1]);
      out << "<table>\n<thead><tr>";
      for (const auto& c : head) out << "<th>" << inline_md(c, base_dir) << "</th>";
      out << "</tr></thead>\n<tbody>\n";
      i += 2;
      for (; i < lines.size() && trim(lines[i]).rfind("|", 0) == 0; ++i) {
        const std::vector<std::string> cells = table_cells(lines[i]);
        out << "<tr>";
        for (size_t k = 0; k < cells.size(); ++k) {
          const bool right = k < align.size() && !align[k].empty() && align[k].back() == ':';
          out << (right ? "<td class=\"num\">" : "<td>") << inline_md(cells[k], base_dir)
              << "</td>";
        }
        out << "</tr>\n";
      }
      out << "</tbody></table>\n";
      --i;
      continue;
    }
    para += (para.empty() ? "" : " ") + inline_md(t, base_dir);
  }
  flush();
  return out.str();
}

std::string page(const std::string& title, const std::string& body) {
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>"
    << escape(title) << "</title>\n<style>\n"
    << "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}\n"
    << "table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px}\n"
    << "th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    << ".plots{display:flex;flex-wrap:wrap;gap:12px}.grid{display:flex;flex-wrap:wrap;gap:10px}\n"
    << "figure{margin:0}figcaption{font-size:12px;max-width:240px}\n"
    // CAM thumbnails at one width whatever the scan's size, so the grid lines up.
    << ".grid img{width:180px;height:auto}.grid figcaption{max-width:180px}\n"
    << ".note{color:#555;font-size:14px}\n</style>\n</head>\n<body>\n<h1>" << escape(title)
    << "</h1>\n"
    << body << "\n</body>\n</html>\n";
  return s.str();
}

}  // namespace gbad::html
