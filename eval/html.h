// Building blocks of the self-contained HTML report (gbad-report --html): escaping, base64
// data URIs for embedded images, tables, inline SVG, a scatter plot with a decision map (the
// SVM's boundary in the (R, FM) plane) and histograms. Everything is inline: the page opens
// offline from any folder.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gbad::html {

std::string escape(const std::string& s);  // & < > " '
std::string base64(const std::string& bytes);
std::string data_uri(const std::string& mime, const std::string& bytes);
// An <img> whose source is the file's bytes as a data URI (mime from the extension: png, jpg,
// jpeg, svg); throws naming the path when the file cannot be read.
std::string embed_image(const std::string& path, const std::string& alt, int max_width = 0);
// A standalone SVG document without its XML prolog, ready to sit inside HTML.
std::string inline_svg(const std::string& svg);

// <table>: cells are escaped; `numeric` right-aligns every column after the first.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows, bool numeric = true);

struct ScatterSeries {
  std::string name, colour;  // colour: any SVG colour
  std::vector<double> x, y;
};
struct ScatterOptions {
  std::string title, xlabel, ylabel;
  int width = 480, height = 400;
  size_t max_points = 3000;  // per series, evenly decimated
};
// Scatter plot; when `decision` is given, the plane is shaded by its sign on a 96x80 grid
// (positive = "anomalous" side, light red) and the zero level drawn as cells' edges. Axis ranges
// come from the data (with a 5% margin).
std::string svg_scatter(const std::vector<ScatterSeries>& series, const ScatterOptions& opt,
                        const std::function<double(double, double)>& decision = nullptr);

// Overlaid histograms (same bins for every series, counts normalised to densities).
std::string svg_histograms(const std::vector<ScatterSeries>& series, const ScatterOptions& opt,
                           int bins = 40);

// The Markdown subset our reports use, as HTML: '#'..'####' headings, paragraphs, pipe tables
// (with the alignment row), **bold**, `code`, and images ![alt](path) embedded inline (SVG as
// markup, PNG/JPEG as data URIs) with paths relative to `base_dir`. An image that cannot be read
// is an error naming it (a report must not point at nothing).
std::string markdown_to_html(const std::string& md, const std::string& base_dir);

// A full page: <!DOCTYPE html>, <meta charset>, inline CSS, the title as <h1>, then `body`.
std::string page(const std::string& title, const std::string& body);

}  // namespace gbad::html
