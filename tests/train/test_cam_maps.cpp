// Class activation maps of a real (tiny) model: trained here in seconds to say whether a scan
// holds a bright rectangle, its map for that class must peak inside the rectangle, for the
// GBAD head (Grad-CAM over P2..P5, combined) and the plain head (classic CAM of C5). Then the
// files of gbad-predict --cam: PNG overlays of each image's own size, and an index.csv that
// gbad-report's reader parses.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include "common/test_util.h"
#include "cuda/cuda_test_util.h"
#include "data/image.h"
#include "eval/cam.h"
#include "io/io.h"
#include "kernels/loss.h"
#include "nn/optim.h"
#include "train/cam_maps.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

// Scans of 160 x 128 (not square: maps must come back to the scan's size) seen by the network
// at 128 x 128, where C5 (stride 32) is 4 x 4 and P2 (stride 4) 32 x 32.
constexpr int kW = 160, kH = 128;
constexpr int kInput = 128;

// A bright rectangle of w x h at (x0, y0).
struct Box {
  int w = 0, h = 0, x0 = 0, y0 = 0;
  bool contains(int x, int y) const { return x >= x0 && x < x0 + w && y >= y0 && y < y0 + h; }
};
// Sizes: a little over one C5 cell for the FPN head (whose P2..P4 see finer), two cells for
// the plain head (its classic CAM has only C5's 4 x 4 cells: a box of two cells always holds
// one whole cell, whose centre is where the upsampled map peaks).
constexpr Box kFpnBox{48, 40}, kPlainBox{80, 64};
constexpr int kSteps = 30;

// A dark noisy scan, with a bright rectangle at a random place when `box`.
Image make_scan(std::mt19937& rng, Box* box) {
  Image im{kW, kH, std::vector<uint8_t>(size_t(kW) * kH * 3)};
  for (size_t i = 0; i < im.pixels.size(); i += 4) {  // 20..83, four pixels per draw
    const uint32_t r = static_cast<uint32_t>(rng());
    for (size_t k = 0; k < 4 && i + k < im.pixels.size(); ++k)
      im.pixels[i + k] = static_cast<uint8_t>(20 + ((r >> (8 * k)) & 63));
  }
  if (box) {
    box->x0 = std::uniform_int_distribution<int>(0, kW - box->w)(rng);
    box->y0 = std::uniform_int_distribution<int>(0, kH - box->h)(rng);
    for (int y = box->y0; y < box->y0 + box->h; ++y)
      for (int x = box->x0; x < box->x0 + box->w; ++x)
        for (int c = 0; c < 3; ++c) im.pixels[(size_t(y) * kW + x) * 3 + c] = 240;
  }
  return im;
}

Preprocess test_pre() {
  Preprocess p;
  p.resize = p.crop = kInput;
  p.train = false;
  return p;
}

ClassifierOptions tiny() {
  ClassifierOptions o;
  o.width = 8;
  o.fpn_channels = 16;
  o.head_dim = 16;
  return o;
}

// Trains class 0 = "a bright rectangle is present" (the other classes: never) on fresh random
// scans, half with a rectangle, with SGD.
void train(Context& ctx, Classifier& m, int steps, Box size) {
  std::mt19937 rng(7);
  const int n = 16;
  SgdConfig sc;
  sc.lr = 0.05f;
  sc.momentum = 0.9f;
  sc.weight_decay = 0.f;
  Sgd opt(m.param_store(), sc);
  Tensor x({n, 3, kInput, kInput}), target({n, kNumClasses}), loss({1}), dlogits;
  for (int s = 0; s < steps; ++s) {
    target.zero();
    for (int i = 0; i < n; ++i) {
      Box b = size;
      const bool pos = i % 2 == 0;
      preprocess_image(x.f32() + int64_t(i) * 3 * kInput * kInput,
                       make_scan(rng, pos ? &b : nullptr), test_pre(), Augment{});
      target.f32()[i * kNumClasses] = pos ? 1.f : 0.f;
    }
    m.param_store().zero_grad();
    m.forward(ctx, x, true);
    m.training_loss(ctx, loss, dlogits, target, nullptr);
    m.backward(ctx, dlogits);
    opt.step(ctx);
  }
  m.set_training(false);
}

// For `count` fresh scans with a rectangle: how many maps of class 0 peak inside it, and the
// mean confidence.
std::pair<int, float> peaks_inside(Context& ctx, Classifier& m, int count, Box size) {
  std::mt19937 rng(1234);
  std::vector<Box> boxes(static_cast<size_t>(count), size);
  Tensor x({count, 3, kInput, kInput});
  for (int i = 0; i < count; ++i)
    preprocess_image(x.f32() + int64_t(i) * 3 * kInput * kInput, make_scan(rng, &boxes[size_t(i)]),
                     test_pre(), Augment{});
  const auto cams = class_activation_maps(
      ctx, m, x, [](int64_t, const std::vector<float>&) { return std::vector<int>{0}; });
  int inside = 0;
  float conf = 0;
  for (int i = 0; i < count; ++i) {
    const ClassCams& c = cams[size_t(i)].at(0);
    EXPECT_EQ(c.cls, 0);
    EXPECT_EQ(c.levels.size(), m.cam_level_names().size());
    const CamMap map = combine_cams(c.levels, kH, kW);
    const auto peak = std::max_element(map.v.begin(), map.v.end()) - map.v.begin();
    inside += boxes[size_t(i)].contains(int(peak % kW), int(peak / kW)) ? 1 : 0;
    conf += c.confidence / float(count);
  }
  return {inside, conf};
}

TEST(Cam, GradCamOfTheFpnLevelsPeaksInsideTheBrightRectangle) {
  Context ctx(Device::CPU, 1);
  Classifier m("resnet18-fpn", tiny(), Device::CPU, 1);
  train(ctx, m, kSteps, kFpnBox);
  auto [inside, conf] = peaks_inside(ctx, m, 16, kFpnBox);
  EXPECT_GT(conf, 0.9f) << "the tiny model did not learn the rectangle";
  // By chance a peak falls inside with probability the rectangle's share of the scan (9% and
  // 25%); one miss is tolerated for other CPUs' rounding.
  EXPECT_GE(inside, 15) << "of 16 maps peak inside the rectangle";
}

TEST(Cam, ClassicCamOfThePlainHeadPeaksInsideTheBrightRectangle) {
  Context ctx(Device::CPU, 1);
  Classifier m("resnet18-plain", tiny(), Device::CPU, 1);
  ASSERT_NE(m.cam_linear_weight(), nullptr);
  train(ctx, m, kSteps, kPlainBox);
  auto [inside, conf] = peaks_inside(ctx, m, 16, kPlainBox);
  EXPECT_GT(conf, 0.9f) << "the tiny model did not learn the rectangle";
  // By chance a peak falls inside with probability the rectangle's share of the scan (9% and
  // 25%); one miss is tolerated for other CPUs' rounding.
  EXPECT_GE(inside, 15) << "of 16 maps peak inside the rectangle";
}

TEST(Cam, OverlaysArePngsOfTheImageSizeListedInTheReportIndex) {
  const fs::path dir =
      fs::path(GBAD_BINARY_DIR) / "tests" / ("tmp_cam_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "scans");
  Context ctx(Device::CPU, 1);
  Classifier m("resnet18-fpn", tiny(), Device::CPU, 1);
  train(ctx, m, 15, kFpnBox);  // enough for confident rectangles
  // Three scans of different sizes (a rectangle in two), as PNG and JPEG files.
  std::mt19937 rng(99);
  std::vector<CamImage> images;
  for (int i = 0; i < 3; ++i) {
    Box b = kFpnBox;
    Image im = make_scan(rng, i < 2 ? &b : nullptr);
    if (i == 1) {  // a larger scan: nearest-neighbour 2x
      Image big{2 * kW, 2 * kH, std::vector<uint8_t>(size_t(4) * kW * kH * 3)};
      for (int y = 0; y < big.height; ++y)
        for (int x = 0; x < big.width; ++x)
          for (int c = 0; c < 3; ++c)
            big.pixels[(size_t(y) * big.width + x) * 3 + c] =
                im.pixels[(size_t(y / 2) * kW + x / 2) * 3 + c];
      im = big;
    }
    CamImage ci;
    ci.stem = "scan" + std::to_string(i);
    ci.path = (dir / "scans" / (ci.stem + (i == 1 ? ".jpg" : ".png"))).string();
    const std::vector<uint8_t> bytes = i == 1 ? encode_jpeg(im, 95) : encode_png(im);
    write_file_atomic(ci.path, std::string(bytes.begin(), bytes.end()));
    if (i == 2) {  // labelled: a map for Knife although the model never predicts it
      ci.labelled = true;
      ci.labels = {-1, 1, -1, -1, -1};
    }
    images.push_back(ci);
  }
  CamWriteOptions opt;
  opt.image_size = kInput;
  opt.threshold = 0.5f;
  opt.batch = 2;  // two batches
  opt.levels = true;
  const std::vector<CamIndexRow> written =
      write_cam_overlays(ctx, m, images, opt, (dir / "cams").string());
  const std::vector<CamIndexRow> rows = read_cam_index((dir / "cams").string());
  ASSERT_EQ(rows.size(), written.size());
  std::set<std::string> seen;
  for (const CamIndexRow& r : rows) seen.insert(r.image + ":" + r.cls);
  EXPECT_TRUE(seen.count("scan0:Gun")) << "a confident rectangle gets a map";
  EXPECT_TRUE(seen.count("scan1:Gun"));
  EXPECT_TRUE(seen.count("scan2:Knife")) << "a labelled class gets a map";
  EXPECT_FALSE(seen.count("scan2:Gun")) << "no rectangle, below the threshold";
  for (const CamIndexRow& r : rows) {
    const std::string path = (dir / "cams" / r.overlay).string();
    const std::string bytes = read_file(path);
    ASSERT_GE(bytes.size(), 8u);
    EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << path;
    const Image png = decode_image(path);  // stb_image
    const int scale = r.image == "scan1" ? 2 : 1;
    EXPECT_EQ(png.width, scale * kW) << path;
    EXPECT_EQ(png.height, scale * kH) << path;
    EXPECT_NE(r.overlay.find(r.cls + "_" + r.confidence), std::string::npos) << r.overlay;
    for (const char* level : {"P2", "P3", "P4", "P5"}) {
      const fs::path lp =
          dir / "cams" / (r.overlay.substr(0, r.overlay.size() - 4) + "_" + level + ".png");
      EXPECT_TRUE(fs::exists(lp)) << lp;
    }
  }
  // The reader refuses what is not an index, naming the file and line.
  write_file_atomic((dir / "cams" / "index.csv").string(),
                    "image,class,confidence,overlay\nscan0,Gun\n");
  try {
    read_cam_index((dir / "cams").string());
    ADD_FAILURE() << "a short row was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("index.csv:2"), std::string::npos) << e.what();
  }
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

// The same maps on the GPU (the model's forward and the head's backward through the CUDA ops)
// as on the CPU, for the three heads, same weights (initialisation does not depend on the
// device), every class.
// At bf16 the half NHWC layout (kernels/nhwc.h; the GPU's default, forced here on the CPU where
// it is the emulation bit for bit) hands the CAM levels and their gradients over as half NHWC
// tensors; cam_levels / cam_gradients convert them, so the maps are the boundary layout's.
TEST(Cam, HalfNhwcLevelsGiveTheSameMaps) {
  const Tensor x = test::random_tensor({2, 3, 96, 96}, 12);
  auto all = [](int64_t, const std::vector<float>&) { return std::vector<int>{0, 2, 4}; };
  for (const char* arch : {"resnet18-fpn", "resnet18-plain", "resnet18-chr"}) {
    SCOPED_TRACE(arch);
    std::vector<std::vector<ClassCams>> maps[2];
    for (int layout = 0; layout < 2; ++layout) {
      Context ctx(Device::CPU, 1);
      ctx.set_precision(Precision::Bf16);
      ctx.set_half_layout(layout ? HalfLayout::Nhwc : HalfLayout::Boundary);
      Classifier m(arch, tiny(), Device::CPU, 1);
      maps[layout] = class_activation_maps(ctx, m, x, all);
    }
    ASSERT_EQ(maps[0].size(), maps[1].size());
    for (size_t i = 0; i < maps[0].size(); ++i)
      for (size_t k = 0; k < maps[0][i].size(); ++k) {
        EXPECT_EQ(maps[1][i][k].confidence, maps[0][i][k].confidence);
        ASSERT_EQ(maps[1][i][k].levels.size(), maps[0][i][k].levels.size());
        for (size_t l = 0; l < maps[0][i][k].levels.size(); ++l)
          EXPECT_EQ(maps[1][i][k].levels[l].v, maps[0][i][k].levels[l].v)
              << "image " << i << " class " << k << " level " << l;
      }
  }
}

TEST(Cam, CudaMapsMatchTheCpu) {
  GBAD_REQUIRE_CUDA();
  const Tensor x = test::random_tensor({3, 3, 96, 96}, 11);
  auto all = [](int64_t, const std::vector<float>&) { return std::vector<int>{0, 1, 2, 3, 4}; };
  for (const char* arch : {"resnet18-fpn", "resnet18-plain", "resnet18-chr"}) {
    SCOPED_TRACE(arch);
    Context cpu(Device::CPU, 1), gpu(Device::CUDA, 1);
    Classifier a(arch, tiny(), Device::CPU, 1), b(arch, tiny(), Device::CUDA, 1);
    const auto ca = class_activation_maps(cpu, a, x, all);
    const auto cb = class_activation_maps(gpu, b, x.to(Device::CUDA), all);
    ASSERT_EQ(ca.size(), cb.size());
    for (size_t i = 0; i < ca.size(); ++i)
      for (size_t k = 0; k < ca[i].size(); ++k) {
        EXPECT_NEAR(cb[i][k].confidence, ca[i][k].confidence, 1e-4f);
        ASSERT_EQ(ca[i][k].levels.size(), cb[i][k].levels.size());
        for (size_t l = 0; l < ca[i][k].levels.size(); ++l)
          test::expect_close_to_max(cb[i][k].levels[l].v, ca[i][k].levels[l].v, 2e-3,
                                    "image " + std::to_string(i) + " class " + std::to_string(k) +
                                        " level " + std::to_string(l));
      }
  }
}

}  // namespace
}  // namespace gbad
