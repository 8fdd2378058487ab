// gbad-pack files (data/pack.h): the loader reading a pack gives the JPEG path's batches up to
// the uint8 rounding of the resized image; shards partition an epoch; a pack that does not
// match the split, or is truncated or corrupt, is refused with an error saying what.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/check.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/pack.h"
#include "data_test_util.h"

namespace fs = std::filesystem;
using namespace gbad;

namespace {

std::vector<Sample> pack_samples(const fs::path& root, int n) {
  std::vector<Sample> v;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.stem = "P" + std::to_string(1000 + i);
    s.path = (root / (s.stem + ".jpg")).string();
    test::write_jpeg(s.path, 23 + 3 * (i % 5), 19 + 4 * (i % 3), i);  // larger and smaller
    s.labels.fill(-1);
    s.labels[i % 5] = 1;
    if (i % 4 == 0) s.labels[(i + 2) % 5] = 0;
    v.push_back(s);
  }
  return v;
}

std::string csv_for(const fs::path& root) {
  const fs::path p = root / "train.csv";
  test::write_text(p, "name,Gun,Knife,Wrench,Pliers,Scissors\n");
  return p.string();
}

std::vector<Batch> epoch(const std::vector<Sample>& s, const LoaderConfig& cfg, int64_t e,
                         const std::vector<int64_t>& order) {
  Loader l(s, cfg);
  l.start_epoch(e, order);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Pack, WriterReaderRoundTrip) {
  const fs::path root = test::fresh_dir();
  const std::string path = (root / "x.pack").string();
  const int side = 5;
  std::vector<std::vector<uint8_t>> px(3, std::vector<uint8_t>(side * side * 3));
  for (size_t r = 0; r < px.size(); ++r)
    for (size_t i = 0; i < px[r].size(); ++i) px[r][i] = uint8_t(r * 70 + i);
  {
    PackWriter w(path, side, "some/train.csv", 1234);
    for (size_t r = 0; r < px.size(); ++r) {
      std::array<int8_t, kNumClasses> l{};
      l.fill(-1);
      l[r] = 1;
      w.add("S" + std::to_string(r), l, px[r].data());
    }
    w.finish();
  }
  auto p = Pack::open(path);
  ASSERT_EQ(p->count(), 3);
  EXPECT_EQ(p->side(), side);
  EXPECT_EQ(p->source(), "some/train.csv");
  EXPECT_EQ(p->source_checksum(), 1234u);
  EXPECT_EQ(p->resize(), kPackResize);
  EXPECT_EQ(p->find("S1"), 1);
  EXPECT_EQ(p->find("nope"), -1);
  for (int64_t r = 0; r < 3; ++r) {
    EXPECT_EQ(p->stem(r), "S" + std::to_string(r));
    EXPECT_EQ(p->labels(r)[size_t(r)], 1);
    EXPECT_EQ(p->labels(r)[size_t(r + 1)], -1);
    EXPECT_TRUE(std::equal(px[size_t(r)].begin(), px[size_t(r)].end(), p->pixels(r)));
  }
  // An unfinished writer leaves nothing behind.
  { PackWriter w((root / "y.pack").string(), side, "s", 0); }
  EXPECT_FALSE(fs::exists(root / "y.pack"));
}

TEST(Pack, SameBatchesAsJpegUpToRounding) {
  const fs::path root = test::fresh_dir();
  const auto s = pack_samples(root, 19);
  const std::string csv = csv_for(root);
  std::vector<int64_t> order(s.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t((i * 7) % s.size());
  // The largest difference: half a grey level after normalisation.
  const float tol =
      0.5f / (255.f * *std::min_element(kImageNetStd.begin(), kImageNetStd.end())) + 1e-5f;
  for (bool train : {true, false}) {
    LoaderConfig cfg;
    cfg.batch = 4;
    cfg.workers = 2;
    cfg.train_aug = train;
    cfg.resize = train ? 22 : 16;
    cfg.crop = 16;
    cfg.seed = 5;
    const int side = train ? cfg.resize : cfg.crop;
    const std::string pack = (root / ("p" + std::to_string(side) + ".pack")).string();
    write_pack(pack, s, side, csv, 3);
    const auto want = epoch(s, cfg, 2, order);
    cfg.pack = pack;
    const auto got = epoch(s, cfg, 2, order);
    ASSERT_EQ(want.size(), got.size());
    float worst = 0;
    for (size_t b = 0; b < want.size(); ++b) {
      ASSERT_EQ(want[b].stems, got[b].stems);
      ASSERT_EQ(want[b].indices, got[b].indices);
      EXPECT_EQ(want[b].labels.to_vector(), got[b].labels.to_vector());
      EXPECT_EQ(want[b].mask.to_vector(), got[b].mask.to_vector());
      const auto a = want[b].images.to_vector(), c = got[b].images.to_vector();
      ASSERT_EQ(a.size(), c.size());
      for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - c[i]));
    }
    EXPECT_LE(worst, tol) << (train ? "train" : "test");
    EXPECT_GT(worst, 0.f) << "the pack should round (else this test compares nothing)";
  }
}

TEST(Pack, ShardsPartitionTheEpoch) {
  const fs::path root = test::fresh_dir();
  const auto s = pack_samples(root, 17);
  const std::string pack = (root / "p.pack").string();
  write_pack(pack, s, 20, csv_for(root), 2);
  std::vector<int64_t> order(16);
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t((i * 5 + 3) % s.size());
  LoaderConfig cfg;
  cfg.batch = 4;
  cfg.train_aug = true;
  cfg.resize = 20;
  cfg.crop = 18;
  cfg.pack = pack;
  const auto whole = epoch(s, cfg, 1, order);  // global batch 4
  const int ranks = 2;
  cfg.batch = 4 / ranks;
  for (int r = 0; r < ranks; ++r) {
    cfg.shard_start = r;
    cfg.shard_stride = ranks;
    const auto mine = epoch(s, cfg, 1, order);
    ASSERT_EQ(mine.size(), whole.size());
    for (size_t b = 0; b < whole.size(); ++b) {
      const auto all = whole[b].images.to_vector(), part = mine[b].images.to_vector();
      const size_t per = all.size() / 4;
      for (int j = 0; j < 2; ++j) {
        const size_t row = size_t(r + ranks * j);
        EXPECT_EQ(mine[b].stems[size_t(j)], whole[b].stems[row]);
        EXPECT_TRUE(std::equal(part.begin() + long(j * per), part.begin() + long((j + 1) * per),
                               all.begin() + long(row * per)))
            << "rank " << r << " batch " << b << " row " << j;
      }
    }
  }
  cfg.shard_start = 2;
  EXPECT_NE(error_of([&] { Loader l(s, cfg); }).find("shard 2 of stride 2"), std::string::npos);
}

TEST(Pack, MismatchWithTheSplitSaysWhat) {
  const fs::path root = test::fresh_dir();
  auto s = pack_samples(root, 6);
  const std::string pack = (root / "p.pack").string();
  write_pack(pack, s, 16, csv_for(root), 1);
  LoaderConfig cfg;
  cfg.crop = 16;
  cfg.pack = pack;
  auto err = [&](const std::vector<Sample>& v, const LoaderConfig& c) {
    return error_of([&] { Loader l(v, c); });
  };
  EXPECT_EQ(err(s, cfg), "(no error)");
  auto other = s;
  other[3].labels[0] = other[3].labels[0] == 1 ? -1 : 1;
  std::string e = err(other, cfg);
  EXPECT_NE(e.find(pack), std::string::npos) << e;
  EXPECT_NE(e.find("labels of P1003 differ"), std::string::npos) << e;
  other = s;
  other[2].stem = "N9999";
  e = err(other, cfg);
  EXPECT_NE(e.find("image N9999 is not in the pack"), std::string::npos) << e;
  other = s;
  other.pop_back();
  e = err(other, cfg);
  EXPECT_NE(e.find("the pack holds 6 images, the split 5"), std::string::npos) << e;
  EXPECT_NE(e.find("train.csv"), std::string::npos) << e;  // where the pack came from
  LoaderConfig big = cfg;
  big.crop = 20;
  e = err(s, big);
  EXPECT_NE(e.find("resized to 16x16; this loader needs 20x20"), std::string::npos) << e;
}

TEST(Pack, TruncatedOrCorruptPacksAreRefused) {
  const fs::path root = test::fresh_dir();
  const std::string path = (root / "p.pack").string();
  {
    PackWriter w(path, 3, "src.csv", 7);
    std::vector<uint8_t> px(27, 9);
    std::array<int8_t, kNumClasses> l{};
    l.fill(-1);
    w.add("A", l, px.data());
    w.add("B", l, px.data());
    w.finish();
  }
  const std::string good = test::read_bytes(path);
  const std::string bad = (root / "bad.pack").string();
  // Every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    test::write_text(bad, good.substr(0, n));
    const std::string e = error_of([&] { Pack::open(bad); });
    EXPECT_NE(e.find("pack " + bad), std::string::npos) << n << ": " << e;
  }
  // Every single-byte change is refused on open or when the record is read.
  size_t by_checksum = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string b = good;
    b[i] = char(b[i] ^ 0x5A);
    test::write_text(bad, b);
    std::string e = error_of([&] {
      auto p = Pack::open(bad);
      for (int64_t r = 0; r < p->count(); ++r) p->pixels(r);
    });
    if (i >= 12 && i < 64) {  // the head's padding is not read
      continue;
    }
    EXPECT_NE(e.find(bad), std::string::npos) << i << ": " << e;
    by_checksum += e.find("checksum") != std::string::npos;
  }
  EXPECT_GT(by_checksum, 0u);
  test::write_text(bad, std::string(200, 'x'));
  EXPECT_NE(error_of([&] { Pack::open(bad); }).find("is not a gbad pack"), std::string::npos);
  EXPECT_NE(error_of([&] { Pack::open((root / "none.pack").string()); }).find("cannot open pack"),
            std::string::npos);
}
