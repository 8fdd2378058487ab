// SIXray reader: index over nested folders, CSV validation cases, samplers, real samples.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/check.h"
#include "data/image.h"
#include "data/sampler.h"
#include "data/sixray.h"
#include "data_test_util.h"

namespace fs = std::filesystem;
using namespace gbad;
using gbad::test::fresh_dir;
using gbad::test::write_jpeg;
using gbad::test::write_text;

namespace {

const char* kHeader = "name,Gun,Knife,Wrench,Pliers,Scissors\n";

// root/JPEGImage/{1,2/deeper}/... : P00001, P00002, N0000001..N0000003.
fs::path make_root() {
  fs::path root = fresh_dir();
  write_jpeg(root / "JPEGImage" / "1" / "P00001.jpg", 24, 20, 1);
  write_jpeg(root / "JPEGImage" / "1" / "P00002.jpg", 30, 16, 2);
  write_jpeg(root / "JPEGImage" / "2" / "deeper" / "N0000001.jpg", 16, 16, 3);
  write_jpeg(root / "JPEGImage" / "2" / "N0000002.jpg", 20, 28, 4);
  write_jpeg(root / "JPEGImage" / "N0000003.jpg", 18, 18, 5);
  return root;
}

void write_split(const fs::path& root, const std::string& subset, const std::string& split,
                 const std::string& body) {
  write_text(root / "ImageSet" / subset / (split + ".csv"), body);
}

std::string problems_of(const fs::path& root, const std::string& subset) {
  ImageIndex idx = index_images(root.string());
  SplitReport r = check_split(idx, subset, "train");
  std::string all;
  for (auto& p : r.problems) all += p + "\n";
  return all;
}

}  // namespace

TEST(SixrayReader, IndexesNestedFoldersAndLoadsSplit) {
  fs::path root = make_root();
  write_split(root, "10", "train",
              std::string(kHeader) +
                  "P00001,1,-1,-1,-1,-1\r\nP00002,-1,1,0,1,-1\n"
                  "N0000001,-1,-1,-1,-1,-1\nN0000002,-1,-1,-1,-1,-1\n\n");
  ImageIndex idx = index_images(root.string());
  EXPECT_EQ(idx.paths.size(), 5u);
  EXPECT_TRUE(idx.duplicates.empty());
  SplitReport r = check_split(idx, "10", "train");
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_EQ(r.images, 4);
  EXPECT_EQ(r.positives, 2);
  EXPECT_EQ(r.negatives, 2);
  EXPECT_EQ(r.class_positives[0], 1);
  EXPECT_EQ(r.class_positives[1], 1);
  EXPECT_EQ(r.class_positives[2], 0);
  EXPECT_EQ(r.class_positives[3], 1);
  auto s = load_split(idx, "10", "train");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[1].stem, "P00002");
  EXPECT_EQ(s[1].labels[2], 0);  // "ignore" accepted
  EXPECT_TRUE(s[1].positive());
  EXPECT_FALSE(s[2].positive());
  EXPECT_NE(s[2].path.find("deeper"), std::string::npos);
  EXPECT_EQ(list_subsets(root.string()), std::vector<std::string>{"10"});
}

TEST(SixrayReader, HeaderMissing) {
  fs::path root = make_root();
  write_split(root, "10", "train", "P00001,1,-1,-1,-1,-1\nN0000001,-1,-1,-1,-1,-1\n");
  std::string p = problems_of(root, "10");
  EXPECT_NE(p.find("train.csv:1: header missing"), std::string::npos) << p;
  EXPECT_THROW(load_split(index_images(root.string()), "10", "train"), Error);
}

TEST(SixrayReader, HeaderWithOtherColumns) {
  fs::path root = make_root();
  write_split(root, "10", "train", "name,Gun,Knife,Wrench,Pliers,Hammer\nP00001,1,-1,-1,-1,-1\n");
  EXPECT_NE(problems_of(root, "10").find("header has other columns"), std::string::npos);
  write_split(root, "10", "train", "name,Gun,Knife\nP00001,1,-1\n");
  EXPECT_NE(problems_of(root, "10").find("header has other columns"), std::string::npos);
}

TEST(SixrayReader, BadRowsNameFileAndLine) {
  fs::path root = make_root();
  write_split(root, "10", "train",
              std::string(kHeader) +
                  "P00001,1,-1,-1,-1,-1\nP00002,1,-1,-1\n"
                  "N0000001,-1,x,-1,-1,-1\nN0000002,-1,-1,2,-1,-1\n"
                  "N0000003,-1,-1,-1,-1,-1,1\n");
  std::string p = problems_of(root, "10");
  EXPECT_NE(p.find("train.csv:3: expected 6 fields, found 4"), std::string::npos) << p;
  EXPECT_NE(p.find("train.csv:4: label Knife 'x' is not an integer"), std::string::npos) << p;
  EXPECT_NE(p.find("train.csv:5: label Wrench is 2"), std::string::npos) << p;
  EXPECT_NE(p.find("train.csv:6: expected 6 fields, found 7"), std::string::npos) << p;
  try {
    load_split(index_images(root.string()), "10", "train");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("train.csv:3"), std::string::npos) << m;
    EXPECT_NE(m.find("3 more problems"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
  }
}

TEST(SixrayReader, DuplicateStems) {
  fs::path root = make_root();
  write_split(root, "10", "train",
              std::string(kHeader) +
                  "P00001,1,-1,-1,-1,-1\nN0000001,-1,-1,-1,-1,-1\n"
                  "P00001,1,-1,-1,-1,-1\n");
  EXPECT_NE(problems_of(root, "10").find("train.csv:4: duplicate stem P00001 (first at line 2)"),
            std::string::npos);
  // The same image twice in the tree.
  write_split(root, "10", "train", std::string(kHeader) + "P00001,1,-1,-1,-1,-1\n");
  write_jpeg(root / "JPEGImage" / "copy" / "P00001.jpg");
  ImageIndex idx = index_images(root.string());
  ASSERT_EQ(idx.duplicates.size(), 1u);
  EXPECT_EQ(idx.duplicates.begin()->first, "P00001");
  EXPECT_NE(problems_of(root, "10").find("ambiguous"), std::string::npos);
}

TEST(SixrayReader, MissingImagesStopOrAreSkipped) {
  fs::path root = make_root();
  write_split(root, "10", "train",
              std::string(kHeader) +
                  "P00001,1,-1,-1,-1,-1\nP08900,1,-1,-1,-1,-1\n"
                  "N0000001,-1,-1,-1,-1,-1\nN0999999,-1,-1,-1,-1,-1\n");
  ImageIndex idx = index_images(root.string());
  SplitReport r = check_split(idx, "10", "train");
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.missing, (std::vector<std::string>{"P08900", "N0999999"}));
  EXPECT_FALSE(r.usable(false));
  EXPECT_TRUE(r.usable(true));
  try {
    load_split(idx, "10", "train");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("2 CSV rows have no image"), std::string::npos) << m;
    EXPECT_NE(m.find("P08900, N0999999"), std::string::npos) << m;
    EXPECT_NE(m.find("--skip-missing"), std::string::npos) << m;
  }
  int64_t skipped = -1;
  auto s = load_split(idx, "10", "train", true, &skipped);
  EXPECT_EQ(skipped, 2);
  EXPECT_EQ(s.size(), 2u);
}

TEST(SixrayReader, EmptySplitAndNoPositives) {
  fs::path root = make_root();
  write_split(root, "10", "train", kHeader);
  EXPECT_NE(problems_of(root, "10").find("is empty"), std::string::npos);
  write_split(root, "10", "train", "");
  EXPECT_NE(problems_of(root, "10").find("file is empty"), std::string::npos);
  write_split(root, "10", "train", std::string(kHeader) + "N0000001,-1,-1,-1,-1,-1\n");
  EXPECT_NE(problems_of(root, "10").find("has no positives"), std::string::npos);
  EXPECT_NE(problems_of(root, "nope").find("not found"), std::string::npos);
  EXPECT_THROW(index_images((root / "no-such-dir").string()), Error);
}

TEST(SixrayReader, TruncatedJpegIsNamed) {
  fs::path root = make_root();
  fs::path p = root / "JPEGImage" / "1" / "P00001.jpg";
  std::string bytes = test::read_bytes(p);
  write_text(p, bytes.substr(0, bytes.size() * 2 / 3));
  try {
    decode_image(p.string());
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("P00001.jpg"), std::string::npos) << m;
    EXPECT_NE(m.find("truncated"), std::string::npos) << m;
  }
  write_text(p, "not an image at all");
  EXPECT_THROW(decode_image(p.string()), Error);
  EXPECT_THROW(decode_image((root / "absent.jpg").string()), Error);
}

TEST(SixrayReader, RealSamplesIndexAndDecode) {
  // Ten real SIXray scans committed with the tests (tests/fixtures/sixray-samples/README.md).
  const std::string root = std::string(GBAD_SOURCE_DIR) + "/tests/fixtures/sixray-samples";
  ASSERT_TRUE(fs::is_directory(root)) << root;
  ImageIndex idx = index_images(root);
  EXPECT_EQ(idx.paths.size(), 10u);
  auto s = load_split(idx, "sample", "test");
  ASSERT_EQ(s.size(), 10u);
  int pos = 0;
  for (const Sample& x : s) {
    pos += x.positive();
    Image img = decode_image(x.path);
    EXPECT_GE(img.width, 190);
    EXPECT_GE(img.height, 200);
    EXPECT_EQ(img.pixels.size(), size_t(img.width) * img.height * 3);
  }
  EXPECT_EQ(pos, 5);
  EXPECT_EQ(s[1].stem, "P00781");
  EXPECT_EQ(s[1].labels, (std::array<int8_t, 5>{1, 1, 1, 1, -1}));
}

// ---- samplers ----------------------------------------------------------------------------------

namespace {
std::vector<Sample> fake_samples(int pos, int neg) {
  std::vector<Sample> v;
  for (int i = 0; i < pos + neg; ++i) {
    Sample s;
    s.stem = (i < pos ? "P" : "N") + std::to_string(i);
    s.labels.fill(-1);
    if (i < pos) s.labels[i % 5] = 1;
    v.push_back(s);
  }
  // interleave so positives are not simply the first rows
  std::rotate(v.begin(), v.begin() + pos / 2, v.end());
  return v;
}
}  // namespace

TEST(Sampler, IdealIsBalancedAndHoldsEveryPositive) {
  auto s = fake_samples(30, 500);
  SamplerConfig c;
  c.kind = SamplerKind::Ideal;
  c.seed = 7;
  auto e0 = sample_epoch(s, c, 0);
  ASSERT_EQ(e0.size(), 60u);
  std::set<int64_t> uniq(e0.begin(), e0.end());
  EXPECT_EQ(uniq.size(), 60u);
  int npos = 0;
  for (int64_t i : e0) npos += s[i].positive();
  EXPECT_EQ(npos, 30);
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i].positive()) {
      EXPECT_TRUE(uniq.count(static_cast<int64_t>(i)));
    }
  // Reproducible; fresh negatives per epoch unless fixed.
  EXPECT_EQ(sample_epoch(s, c, 0), e0);
  auto neg_set = [&](const std::vector<int64_t>& v) {
    std::set<int64_t> r;
    for (int64_t i : v)
      if (!s[i].positive()) r.insert(i);
    return r;
  };
  auto e1 = sample_epoch(s, c, 1);
  EXPECT_NE(neg_set(e1), neg_set(e0));
  c.fresh_negatives = false;
  EXPECT_EQ(neg_set(sample_epoch(s, c, 1)), neg_set(sample_epoch(s, c, 0)));
  c.seed = 8;
  c.fresh_negatives = true;
  EXPECT_NE(sample_epoch(s, c, 0), e0);
}

TEST(Sampler, PracticalNegativesAndSvm) {
  auto s = fake_samples(10, 100);
  SamplerConfig c;
  c.shuffle = false;
  auto all = sample_epoch(s, c, 0);
  ASSERT_EQ(all.size(), 110u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], static_cast<int64_t>(i));
  c.shuffle = true;
  auto sh = sample_epoch(s, c, 3);
  EXPECT_NE(sh, all);
  std::sort(sh.begin(), sh.end());
  EXPECT_EQ(sh, all);
  c.kind = SamplerKind::Negatives;
  c.num_negatives = 40;
  auto n = sample_epoch(s, c, 0);
  EXPECT_EQ(n.size(), 40u);
  for (int64_t i : n) EXPECT_FALSE(s[i].positive());
  c.num_negatives = 50000;  // capped at what exists
  EXPECT_EQ(sample_epoch(s, c, 0).size(), 100u);
  c.kind = SamplerKind::PositivesPlusNegatives;
  c.num_negatives = 25;
  auto v = sample_epoch(s, c, 0);
  EXPECT_EQ(v.size(), 35u);
  EXPECT_EQ(parse_sampler_kind("ideal"), SamplerKind::Ideal);
  EXPECT_THROW(parse_sampler_kind("bogus"), Error);
}
