// The synthetic generator (layout, naming, CSV format, counts, determinism) and the CLI parser.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include "data/sixray.h"
#include "data/synth.h"
#include "data_test_util.h"
#include "core/check.h"
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
