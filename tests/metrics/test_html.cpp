// The HTML report's building blocks: base64 (RFC 4648 test vectors), escaping, tables, plots.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "eval/html.h"

namespace gbad {
namespace {

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

TEST(Html, Base64Rfc4648Vectors) {
  EXPECT_EQ(html::base64(""), "");
  EXPECT_EQ(html::base64("f"), "Zg==");
  EXPECT_EQ(html::base64("fo"), "Zm8=");
  EXPECT_EQ(html::base64("foo"), "Zm9v");
  EXPECT_EQ(html::base64("foob"), "Zm9vYg==");
  EXPECT_EQ(html::base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(html::base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(html::base64(std::string("\xff\x00\x80", 3)), "/wCA");
}

TEST(Html, EscapeAndTable) {
  EXPECT_EQ(html::escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  std::string t = html::table({"method", "mAP"}, {{"GBAD <x>", "66.14"}, {"CHR", "64.54"}});
  EXPECT_EQ(count(t, "<tr>"), 3u);
  EXPECT_EQ(count(t, "<td class=\"num\">"), 2u);
  EXPECT_NE(t.find("GBAD &lt;x&gt;"), std::string::npos);
}

TEST(Html, ScatterShadesTheDecisionSide) {
  html::ScatterSeries neg{"negatives", "#1f77b4", {0, 1, 2}, {0, 1, 2}};
  html::ScatterSeries pos{"positives", "#d62728", {3, 4}, {3, 4}};
  html::ScatterOptions o;
  o.title = "R vs FM";
  const std::string plain = html::svg_scatter({neg, pos}, o);
  EXPECT_EQ(count(plain, "<circle"), 5u);
  EXPECT_EQ(count(plain, "fill=\"#fbd5d5\""), 0u);
  // x + y > 4: the upper-right part of the plane is shaded, the rest is not.
  const std::string gated =
      html::svg_scatter({neg, pos}, o, [](double x, double y) { return x + y - 4; });
  const size_t shaded = count(gated, "fill=\"#fbd5d5\"");
  EXPECT_GT(shaded, 96u * 80u / 4);
  EXPECT_LT(shaded, 96u * 80u * 3 / 4);
  EXPECT_EQ(count(gated, "<svg"), 1u);
  EXPECT_EQ(count(gated, "</svg>"), 1u);
}

TEST(Html, HistogramsNormaliseToDensities) {
  html::ScatterSeries a{"a", "blue", {0, 0, 0, 1}, {}};
  html::ScatterSeries b{"b", "red", {1, 1}, {}};
  html::ScatterOptions o;
  const std::string svg = html::svg_histograms({a, b}, o, 2);
  EXPECT_EQ(count(svg, "<rect x="), 3u + 2u + 1u);  // 3 bars, 2 legend swatches, the frame
  EXPECT_THROW(html::svg_histograms({a}, o, 0), std::exception);
}

TEST(Html, EmbedImageAndPage) {
  const std::string path = ::testing::TempDir() + "gbad_html_test.svg";
  {
    std::ofstream f(path);
    f << "<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
  }
  const std::string img = html::embed_image(path, "a plot");
  EXPECT_EQ(img.rfind("<img src=\"data:image/svg+xml;base64,", 0), 0u);
  std::remove(path.c_str());
  EXPECT_THROW(html::embed_image(path, "gone"), std::exception);
  EXPECT_THROW(html::embed_image("notes.txt", "text"), std::exception);
  EXPECT_EQ(html::inline_svg("<?xml version=\"1.0\"?>\n<svg/>"), "<svg/>");
  const std::string p = html::page("Run <1>", "<p>body</p>");
  EXPECT_EQ(p.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(p.find("<title>Run &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(p.find("<p>body</p>"), std::string::npos);
}

TEST(Html, MarkdownSubsetWithEmbeddedPlots) {
  const std::string dir = ::testing::TempDir();
  {
    std::ofstream f(dir + "/gbad_md_plot.svg");
    f << "<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"><rect/></svg>";
  }
  const std::string md =
      "# Title\n\n## Per-class AP\n\nSome **bold** text\nand `code`.\n\n"
      "| Method | Gun | mean |\n|---|---:|---:|\n| CHR <x> | 1.00 | **2.00** |\n| GBAD | 3 | 4 "
      "|\n\n"
      "![plot](gbad_md_plot.svg)\n";
  const std::string h = html::markdown_to_html(md, dir);
  EXPECT_NE(h.find("<h2>Title</h2>"), std::string::npos);
  EXPECT_NE(h.find("<h3>Per-class AP</h3>"), std::string::npos);
  EXPECT_NE(h.find("<p>Some <b>bold</b> text and <code>code</code>.</p>"), std::string::npos);
  EXPECT_EQ(count(h, "<tr>"), 3u);
  EXPECT_EQ(count(h, "<td class=\"num\">"), 4u);
  EXPECT_NE(h.find("<td>CHR &lt;x&gt;</td>"), std::string::npos);
  EXPECT_NE(h.find("<td class=\"num\"><b>2.00</b></td>"), std::string::npos);
  EXPECT_NE(h.find("<svg xmlns"), std::string::npos);  // inlined, prolog dropped
  EXPECT_EQ(h.find("<?xml"), std::string::npos);
  std::remove((dir + "/gbad_md_plot.svg").c_str());
  EXPECT_THROW(html::markdown_to_html(md, dir), std::exception);  // the plot is gone
}

}  // namespace
}  // namespace gbad
