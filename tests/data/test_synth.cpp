// The synthetic generator (layout, naming, CSV format, counts, determinism) and the CLI parser.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "core/check.h"
#include "data/sixray.h"
#include "data/synth.h"
#include "data/synth/objects.h"
#include "data/synth/xray.h"
#include "data_test_util.h"
#include "train/cli.h"

namespace fs = std::filesystem;
using namespace gbad;

namespace {
SynthConfig tiny(const fs::path& out) {
  SynthConfig c;
  c.out = out.string();
  c.positives = 20;
  c.ratios = {2, 5};
  c.size = 48;
  c.size_jitter = 0.3;
  c.seed = 11;
  c.threads = 2;
  return c;
}
}  // namespace

TEST(Synth, LayoutNamingCsvAndCounts) {
  fs::path out = test::fresh_dir();
  SynthSummary sum = generate_synthetic_dataset(tiny(out));
  EXPECT_EQ(sum.positives, 20);
  EXPECT_EQ(sum.negatives, 100);
  std::regex pos("P[0-9]{5}\\.jpg"), neg("N[0-9]{7}\\.jpg");
  int np = 0, nn = 0;
  std::set<std::pair<int, int>> sizes;
  for (const auto& e : fs::directory_iterator(out / "JPEGImage")) {
    std::string f = e.path().filename().string();
    if (std::regex_match(f, pos))
      ++np;
    else if (std::regex_match(f, neg))
      ++nn;
    else
      ADD_FAILURE() << "unexpected file " << f;
  }
  EXPECT_EQ(np, 20);
  EXPECT_EQ(nn, 100);
  std::ifstream csv(out / "ImageSet" / "5" / "train.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "name,Gun,Knife,Wrench,Pliers,Scissors");

  ImageIndex idx = index_images(out.string());
  EXPECT_EQ(list_subsets(out.string()), (std::vector<std::string>{"2", "5"}));
  std::array<int64_t, kNumClasses> cls{};
  for (int ratio : {2, 5}) {
    auto tr = load_split(idx, std::to_string(ratio), "train");
    auto te = load_split(idx, std::to_string(ratio), "test");
    int64_t p = 0, n = 0, pte = 0;
    for (const auto& s : tr) (s.positive() ? p : n)++;
    for (const auto& s : te) {
      (s.positive() ? pte : n)++;
      if (ratio == 2)
        for (int c = 0; c < kNumClasses; ++c) cls[c] += s.labels[c] == 1;
    }
    if (ratio == 2)
      for (const auto& s : tr)
        for (int c = 0; c < kNumClasses; ++c) cls[c] += s.labels[c] == 1;
    EXPECT_EQ(p + pte, 20);
    EXPECT_EQ(pte, 4);  // 80/20
    EXPECT_EQ(n, 20 * ratio);
    // Every image decodes to its recorded kind of size.
    Image img = decode_image(tr.front().path);
    EXPECT_GE(img.width, 33);
    EXPECT_LE(img.width, 63);
  }
  EXPECT_EQ(cls, sum.class_positives);
}

TEST(Synth, DeterministicAndClassFrequencies) {
  fs::path a = test::fresh_dir("a"), b = test::fresh_dir("b");
  SynthConfig ca = tiny(a), cb = tiny(b);
  ca.ratios = cb.ratios = {1};
  cb.threads = 1;  // thread count must not matter
  generate_synthetic_dataset(ca);
  generate_synthetic_dataset(cb);
  for (const auto& e : fs::directory_iterator(a / "JPEGImage"))
    EXPECT_EQ(test::read_bytes(e.path()), test::read_bytes(b / "JPEGImage" / e.path().filename()))
        << e.path();
  EXPECT_EQ(test::read_bytes(a / "ImageSet/1/train.csv"),
            test::read_bytes(b / "ImageSet/1/train.csv"));
  // A different seed gives other images.
  std::array<int8_t, 5> l{1, -1, -1, -1, -1};
  EXPECT_NE(render_scan(1, 0, l, 40, 40, 0.5).pixels, render_scan(2, 0, l, 40, 40, 0.5).pixels);
  // Label draws: 1..3 classes per positive, Pliers most and Scissors least frequent.
  std::array<int, 5> count{};
  for (int i = 0; i < 4000; ++i) {
    auto lab = synth_positive_labels(5, i);
    int k = 0;
    for (int c = 0; c < 5; ++c) k += lab[c] == 1, count[c] += lab[c] == 1;
    ASSERT_GE(k, 1);
    ASSERT_LE(k, 3);
  }
  EXPECT_GT(count[3], count[0]);
  EXPECT_GT(count[0], count[1]);
  EXPECT_LT(count[4], count[1]);
}

TEST(Synth, ThreatsChangeTheImageAndBadSettingsFail) {
  std::array<int8_t, 5> none{-1, -1, -1, -1, -1};
  for (int c = 0; c < 5; ++c) {
    auto l = none;
    l[c] = 1;
    Image with = render_scan(3, 7, l, 96, 80, 0.0), without = render_scan(3, 7, none, 96, 80, 0.0);
    // A threat adds metal: the image gets darker somewhere.
    int darker = 0;
    for (size_t i = 0; i < with.pixels.size(); ++i)
      darker += with.pixels[i] + 40 < without.pixels[i];
    EXPECT_GT(darker, 30) << kClassNames[c];
  }
  SynthConfig c = tiny(test::fresh_dir());
  c.difficulty = 2;
  EXPECT_THROW(generate_synthetic_dataset(c), Error);
  c = tiny(test::fresh_dir());
  c.ratios = {0};
  EXPECT_THROW(generate_synthetic_dataset(c), Error);
  c = tiny(test::fresh_dir());
  c.density = 5;
  EXPECT_THROW(generate_synthetic_dataset(c), Error);
}

namespace {
struct Rgb {
  double r, g, b;
};
Rgb mean_rgb(const Image& img, int x0, int y0, int x1, int y1) {
  Rgb m{0, 0, 0};
  int n = 0;
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x, ++n) {
      const uint8_t* p = &img.pixels[(size_t(y) * img.width + x) * 3];
      m.r += p[0], m.g += p[1], m.b += p[2];
    }
  return {m.r / n, m.g / n, m.b / n};
}
double hue(const Rgb& c) {  // HSV hue in degrees
  double mx = std::max({c.r, c.g, c.b}), mn = std::min({c.r, c.g, c.b}), d = mx - mn;
  if (d <= 0) return 0;
  double h = mx == c.r   ? std::fmod((c.g - c.b) / d, 6.0)
             : mx == c.g ? (c.b - c.r) / d + 2
                         : (c.r - c.g) / d + 4;
  return h < 0 ? h * 60 + 360 : h * 60;
}
}  // namespace

// The scanner model: the low/high attenuation ratio grows with Z, and the pseudo-colour follows
// it (organic orange, mixed green, metal blue, thick metal near black, empty belt white).
TEST(Synth, DualEnergyColourFollowsMaterialAndMass) {
  using namespace synth;
  EXPECT_NEAR(dual_energy_ratio(z::kWater), 1.30, 0.03);
  EXPECT_LT(dual_energy_ratio(z::kWater), dual_energy_ratio(z::kAluminium));
  EXPECT_LT(dual_energy_ratio(z::kAluminium), dual_energy_ratio(z::kSteel));
  EXPECT_NEAR(dual_energy_ratio(z::kSteel), 5.3, 0.2);  // NIST XCOM iron, 50 vs 100 keV
  // Five 20-pixel columns: nothing, 2 g/cm^2 organic, 2 g/cm^2 glass, 1 g/cm^2 steel, 8 g/cm^2
  // steel; the bottom half adds 6 g/cm^2 organic over all of them (an overlap).
  Canvas cv(100, 40);
  const float zs[4] = {z::kFabric, z::kGlass, z::kSteel, z::kSteel};
  const float ms[4] = {2.f, 2.f, 1.f, 8.f};
  for (int i = 0; i < 4; ++i) {
    float x0 = 20.f * (i + 1);
    cv.draw({{zs[i], ms[i], {rect(x0, 0, x0 + 20, 40)}}}, make_xf(0, 1, 0, 0));
  }
  cv.draw({{z::kFabric, 6.f, {rect(0, 20, 100, 40)}}}, make_xf(0, 1, 0, 0));
  Rng noise(1, 2, 3);
  Image img = render_xray(cv, noise);
  ASSERT_EQ(img.width, 100);
  Rgb empty = mean_rgb(img, 4, 4, 16, 16), organic = mean_rgb(img, 24, 4, 36, 16);
  Rgb glass = mean_rgb(img, 44, 4, 56, 16), steel = mean_rgb(img, 64, 4, 76, 16);
  Rgb thick = mean_rgb(img, 84, 4, 96, 16), steel_under = mean_rgb(img, 64, 24, 76, 36);
  EXPECT_GT(empty.r, 240);
  EXPECT_GT(empty.b, 235);
  // The hue bands of the scan-stats tool: orange 10-50, green 50-170, blue 170-270 degrees.
  EXPECT_GT(hue(organic), 10);
  EXPECT_LT(hue(organic), 50);
  EXPECT_GT(hue(glass), 50);
  EXPECT_LT(hue(glass), 170);
  EXPECT_GT(hue(steel), 170);
  EXPECT_LT(hue(steel), 270);
  EXPECT_LT(thick.r + thick.g + thick.b, 60);  // near black
  // Much organic over thin steel: darker than the steel alone, and the mixture's effective Z
  // puts it in the green band, as on real scanners.
  EXPECT_LT(steel_under.r + steel_under.g + steel_under.b, steel.r + steel.g + steel.b);
  EXPECT_GT(hue(steel_under), 50);
  EXPECT_LT(hue(steel_under), 170);
}

// Default scans look like real ones in the large: bags fill most of the image (some white
// margin), the foreground is mostly not orange, and the density setting changes the clutter.
TEST(Synth, DefaultScansAreDenseAndDensityMatters) {
  std::array<int8_t, 5> none{-1, -1, -1, -1, -1};
  auto stats = [&](double density, double& white, double& mean) {
    white = mean = 0;
    size_t n = 0;
    for (uint64_t id = 0; id < 12; ++id) {
      Image img = render_scan(4, id, none, 128, 112, 0.5, density);
      for (size_t i = 0; i < img.pixels.size(); i += 3, ++n) {
        int lo = std::min({img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]});
        int hi = std::max({img.pixels[i], img.pixels[i + 1], img.pixels[i + 2]});
        white += hi > 217 && hi - lo < 0.15 * hi;
        mean += (img.pixels[i] + img.pixels[i + 1] + img.pixels[i + 2]) / 765.0;
      }
    }
    white /= n;
    mean /= n;
  };
  double white1, mean1, white_sparse, mean_sparse, white_dense, mean_dense;
  stats(1.0, white1, mean1);
  stats(0.3, white_sparse, mean_sparse);
  stats(2.5, white_dense, mean_dense);
  EXPECT_GT(white1, 0.08);  // real SIXray: 27% +- 16% near-white
  EXPECT_LT(white1, 0.5);
  EXPECT_GT(mean_sparse, mean1 + 0.02);
  EXPECT_GT(mean1, mean_dense + 0.02);
  EXPECT_THROW(render_scan(4, 0, none, 64, 64, 0.5, 0.0), Error);
}

TEST(Cli, ParsesOptionsFlagsAndErrors) {
  auto make = [] {
    Cli c("prog", "does things");
    c.option("out", "", "folder", true)
        .option("n", "5", "count")
        .option("r", "1,2", "list")
        .flag("v", "verbose");
    return c;
  };
  {
    Cli c = make();
    const char* argv[] = {"prog", "--out", "d", "--n=7", "--v"};
    ASSERT_TRUE(c.parse(5, const_cast<char**>(argv)));
    EXPECT_EQ(c.get("out"), "d");
    EXPECT_EQ(c.get_int("n"), 7);
    EXPECT_TRUE(c.get_flag("v"));
    EXPECT_EQ(c.get_int_list("r"), (std::vector<int>{1, 2}));
  }
  {
    Cli c = make();
    const char* argv[] = {"prog", "--help"};
    EXPECT_FALSE(c.parse(2, const_cast<char**>(argv)));
    std::string h = c.help();
    EXPECT_NE(h.find("--n VALUE"), std::string::npos);
    EXPECT_NE(h.find("(default: 5)"), std::string::npos);
    EXPECT_NE(h.find("(required)"), std::string::npos);
  }
  auto fails = [&](std::vector<const char*> args, const std::string& what) {
    Cli c = make();
    args.insert(args.begin(), "prog");
    try {
      c.parse(static_cast<int>(args.size()), const_cast<char**>(args.data()));
      if (what.find("integer") != std::string::npos) c.get_int("n");
      ADD_FAILURE() << "no error for " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  fails({"--out", "d", "--bogus", "1"}, "unknown option --bogus");
  fails({"--n", "3"}, "missing required option --out");
  fails({"--out"}, "--out needs a value");
  fails({"--out", "d", "--n", "x"}, "not an integer");
}
