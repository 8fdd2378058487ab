// Image pipeline (resize, normalisation, augmentation) and the parallel loader.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/sixray.h"
#include "data_test_util.h"

namespace fs = std::filesystem;
using namespace gbad;

TEST(Image, ResizeKeepsConstantsAndNormalises) {
  Image img;
  img.width = 37;
  img.height = 23;
  img.pixels.resize(size_t(37) * 23 * 3);
  const uint8_t rgb[3] = {200, 100, 30};
  for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = rgb[i % 3];
  for (bool train : {false, true}) {
    Preprocess p;
    p.resize = 20;
    p.crop = 16;
    p.train = train;
    std::vector<float> out(3 * 16 * 16);
    preprocess_image(out.data(), img, p, draw_augment(p, 1, 0, 5));
    for (int c = 0; c < 3; ++c) {
      float want = (rgb[c] / 255.f - kImageNetMean[c]) / kImageNetStd[c];
      for (int i = 0; i < 256; ++i) ASSERT_NEAR(out[c * 256 + i], want, 1e-4) << c << " " << i;
    }
  }
}

TEST(Image, BilinearHalfPixelAndFlipCrop) {
  // 2x1 -> 4x1 upsampling with pixel centres at +0.5: 0, 0.25, 0.75, 1 of the way.
  uint8_t src[6] = {0, 0, 0, 200, 200, 200};
  std::vector<float> dst;
  resize_bilinear(dst, 4, 1, src, 2, 1);
  EXPECT_NEAR(dst[0], 0, 1e-4);
  EXPECT_NEAR(dst[3], 50, 1e-4);
  EXPECT_NEAR(dst[6], 150, 1e-4);
  EXPECT_NEAR(dst[9], 200, 1e-4);
  // Crop + flip pick the right pixels (resize to same size is the identity).
  Image img;
  img.width = img.height = 8;
  img.pixels.resize(8 * 8 * 3);
  for (int y = 0; y < 8; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(y * 8 + x) * 3 + c] = static_cast<uint8_t>(x * 10 + y);
  Preprocess p;
  p.resize = 8;
  p.crop = 4;
  p.train = true;
  Augment a;
  a.x0 = 3;
  a.y0 = 2;
  a.flip = true;
  std::vector<float> out(3 * 16);
  preprocess_image(out.data(), img, p, a);
  // Output (y=0, x=0) is source (y0, x0 + crop - 1) when flipped.
  float v = out[0] * kImageNetStd[0] * 255.f + kImageNetMean[0] * 255.f;
  EXPECT_NEAR(v, (3 + 3) * 10 + 2, 1e-3);
  // Augment draws stay in range and depend on (seed, epoch, index) only.
  for (int i = 0; i < 100; ++i) {
    Augment b = draw_augment(p, 9, 2, i);
    EXPECT_GE(b.x0, 0);
    EXPECT_LE(b.x0, 4);
    Augment c = draw_augment(p, 9, 2, i);
    EXPECT_EQ(b.x0, c.x0);
    EXPECT_EQ(b.flip, c.flip);
  }
}

namespace {

std::vector<Sample> loader_samples(const fs::path& root, int n) {
  std::vector<Sample> v;
  for (int i = 0; i < n; ++i) {
    Sample s;
    s.stem = "S" + std::to_string(i);
    s.path = (root / (s.stem + ".jpg")).string();
    test::write_jpeg(s.path, 20 + i % 7, 18 + i % 5, i);
    s.labels.fill(-1);
    s.labels[i % 5] = 1;
    if (i % 3 == 0) s.labels[(i + 1) % 5] = 0;
    v.push_back(s);
  }
  return v;
}

std::vector<Batch> run_epoch(const std::vector<Sample>& s, LoaderConfig cfg, int64_t epoch,
                             std::vector<int64_t> order) {
  Loader l(s, cfg);
  l.start_epoch(epoch, order);
  std::vector<Batch> out;
  Batch b;
  while (l.next(b)) out.push_back(b);
  return out;
}

}  // namespace

TEST(Loader, SameBatchesWithOneAndFourWorkers) {
  fs::path root = test::fresh_dir();
  auto s = loader_samples(root, 23);
  std::vector<int64_t> order;
  for (int i = 22; i >= 0; --i) order.push_back(i);
  LoaderConfig cfg;
  cfg.batch = 5;
  cfg.resize = 20;
  cfg.crop = 16;
  cfg.train_aug = true;
  cfg.seed = 3;
  cfg.workers = 1;
  auto a = run_epoch(s, cfg, 2, order);
  cfg.workers = 4;
  cfg.prefetch = 2;
  auto b = run_epoch(s, cfg, 2, order);
  ASSERT_EQ(a.size(), 5u);  // 23 = 4 * 5 + 3, last batch kept
  ASSERT_EQ(b.size(), a.size());
  EXPECT_EQ(a.back().size(), 3);
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].stems, b[k].stems);
    EXPECT_EQ(a[k].images.to_vector(), b[k].images.to_vector());
    EXPECT_EQ(a[k].labels.to_vector(), b[k].labels.to_vector());
    EXPECT_EQ(a[k].images.shape(), (Shape{a[k].size(), 3, 16, 16}));
  }
  EXPECT_EQ(a[0].stems[0], "S22");  // consumer sees the given order
  // Labels 1/0 and the ignore mask.
  const Batch& b0 = a[0];
  for (int64_t r = 0; r < b0.size(); ++r) {
    const Sample& smp = s[b0.indices[r]];
    for (int c = 0; c < 5; ++c) {
      EXPECT_EQ(b0.labels.to_vector()[r * 5 + c], smp.labels[c] == 1 ? 1.f : 0.f);
      EXPECT_EQ(b0.mask.to_vector()[r * 5 + c], smp.labels[c] == 0 ? 0.f : 1.f);
    }
  }
  // Another epoch draws other crops; drop_last drops the short batch.
  auto c = run_epoch(s, cfg, 3, order);
  EXPECT_NE(c[0].images.to_vector(), a[0].images.to_vector());
  cfg.drop_last = true;
  EXPECT_EQ(run_epoch(s, cfg, 2, order).size(), 4u);
}

TEST(Loader, CorruptImageFailsOrIsSkipped) {
  fs::path root = test::fresh_dir();
  auto s = loader_samples(root, 6);
  test::write_text(s[4].path, "garbage");
  std::vector<int64_t> order = {0, 1, 2, 3, 4, 5};
  LoaderConfig cfg;
  cfg.batch = 3;
  cfg.crop = 8;
  cfg.workers = 2;
  try {
    run_epoch(s, cfg, 0, order);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("S4.jpg"), std::string::npos) << e.what();
  }
  cfg.skip_corrupt = true;
  Loader l(s, cfg);
  l.start_epoch(0, order);
  Batch b;
  int64_t rows = 0;
  while (l.next(b)) rows += b.size();
  EXPECT_EQ(rows, 5);
  ASSERT_EQ(l.skipped().size(), 1u);
  EXPECT_NE(l.skipped()[0].find("S4.jpg"), std::string::npos);
  // Restarting mid-epoch is allowed.
  l.start_epoch(1, order);
  ASSERT_TRUE(l.next(b));
  l.start_epoch(2, {0, 1});
  ASSERT_TRUE(l.next(b));
  EXPECT_EQ(b.size(), 2);
  EXPECT_FALSE(l.next(b));
}
