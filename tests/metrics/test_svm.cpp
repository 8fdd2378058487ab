// models::Svm over libsvm: separable data, save/load bit-identical, class weights, orientation,
// reproducibility, and bad inputs.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "core/check.h"
#include "models/svm.h"

namespace gbad {
namespace {

using Points = std::vector<std::array<float, 2>>;

// n_pos points around (mp, mp) and n_neg around (mn, mn), Gaussian with sd, shuffled.
void blobs(Points& x, std::vector<int>& y, int n_pos, int n_neg, float mp, float mn, float sd,
           uint32_t seed, bool negatives_first = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.f, sd);
  x.clear();
  y.clear();
  for (int i = 0; i < n_pos + n_neg; ++i) {
    const bool pos = negatives_first ? i >= n_neg : i < n_pos;
    const float m = pos ? mp : mn;
    x.push_back({m + g(rng), m + g(rng)});
    y.push_back(pos ? 1 : -1);
  }
}

std::string temp_path(const char* name) {
  return std::string("/tmp/gbad_svm_") + std::to_string(::getpid()) + "_" + name;
}

TEST(Svm, SeparableDataClassifiedPerfectly) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 100, 150, 3.f, -3.f, 0.5f, 1);
  for (SvmKernel k : {SvmKernel::Rbf, SvmKernel::Linear}) {
    SvmConfig c;
    c.kernel = k;
    Svm svm(c);
    svm.train(x, y);
    EXPECT_EQ(svm.predict(x), y) << to_string(k);
    // Fresh points from the same blobs.
    Points xt;
    std::vector<int> yt;
    blobs(xt, yt, 50, 50, 3.f, -3.f, 0.5f, 2);
    EXPECT_EQ(svm.predict(xt), yt) << to_string(k);
    EXPECT_GT(svm.num_support_vectors(), 0);
    EXPECT_DOUBLE_EQ(svm.gamma(), 0.5);  // 1 / num_features
  }
}

TEST(Svm, DecisionSignDoesNotDependOnClassOrder) {
  // libsvm orders classes by first appearance; our decision value must still mean +1 > 0.
  Points a, b;
  std::vector<int> ya, yb;
  blobs(a, ya, 60, 60, 2.f, -2.f, 0.5f, 3, false);
  blobs(b, yb, 60, 60, 2.f, -2.f, 0.5f, 3, true);
  Svm sa, sb;
  sa.train(a, ya);
  sb.train(b, yb);
  const Points probe = {{2.f, 2.f}, {-2.f, -2.f}};
  const auto da = sa.decision_values(probe), db = sb.decision_values(probe);
  EXPECT_GT(da[0], 0);
  EXPECT_LT(da[1], 0);
  EXPECT_GT(db[0], 0);
  EXPECT_LT(db[1], 0);
}

TEST(Svm, SaveLoadRoundTripIsBitIdentical) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 80, 320, 1.f, 0.f, 1.f, 4, true);  // overlapping: many support vectors
  SvmConfig c;
  c.C = 2.5;
  c.gamma = 0.7;
  c.class_weight = SvmClassWeight::Balanced;
  c.probability = true;
  c.seed = 11;
  Svm svm(c);
  svm.train(x, y);
  const std::string p = temp_path("model.safetensors");
  svm.save(p);
  const Svm back = Svm::load(p);
  Points probe;
  blobs(probe, y, 100, 100, 1.f, 0.f, 1.5f, 5);
  const auto d0 = svm.decision_values(probe), d1 = back.decision_values(probe);
  ASSERT_EQ(d0.size(), d1.size());
  for (size_t i = 0; i < d0.size(); ++i) EXPECT_EQ(d0[i], d1[i]) << i;  // bit-identical
  const auto p0 = svm.probability(probe[0].data(), 200, 2);
  const auto p1 = back.probability(probe[0].data(), 200, 2);
  for (size_t i = 0; i < p0.size(); ++i) EXPECT_EQ(p0[i], p1[i]) << i;
  EXPECT_EQ(svm.predict(probe), back.predict(probe));
  EXPECT_EQ(back.config().C, 2.5);
  EXPECT_EQ(back.config().class_weight, SvmClassWeight::Balanced);
  EXPECT_EQ(back.config().seed, 11u);
  EXPECT_EQ(back.mean(), svm.mean());
  EXPECT_EQ(back.stddev(), svm.stddev());
  EXPECT_EQ(back.num_support_vectors(), svm.num_support_vectors());
  // Probabilities mean P(+1): higher for the positive blob's centre.
  const Points centres = {{1.f, 1.f}, {0.f, 0.f}};
  const auto pc = back.probability(centres[0].data(), 2, 2);
  EXPECT_GT(pc[0], pc[1]);
  std::remove(p.c_str());
}

TEST(Svm, CorruptedModelFilesAreErrors) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 20, 20, 2.f, -2.f, 0.5f, 6);
  Svm svm;
  svm.train(x, y);
  const std::string p = temp_path("corrupt.safetensors");
  svm.save(p);
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string good = ss.str();
  auto expect_load_error = [&](const std::string& bytes, const std::string& needle) {
    std::ofstream(p, std::ios::trunc | std::ios::binary) << bytes;
    try {
      Svm::load(p);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_load_error(good.substr(0, good.size() - 8), "truncated");
  std::string other = good;
  other.replace(other.find("gbad-svm"), 8, "gbad-xxx");
  expect_load_error(other, "not a gbad SVM model");
  std::string version = good;
  version.replace(version.find("\"format_version\":\"2\""), 20, "\"format_version\":\"9\"");
  expect_load_error(version, "format version 9");
  // A metadata number that is not one: an Error naming the key (not std::stoul's "stoul").
  std::string seed = good;
  seed[seed.find("\"seed\":\"") + 8] = 'x';
  expect_load_error(seed, "metadata 'seed'");
  expect_load_error("hello\n", p);
  EXPECT_THROW(Svm::load(temp_path("missing.txt")), Error);
  std::remove(p.c_str());
}

// The checksummed text format of earlier runs (tests/fixtures/old-run/svm/svm.model) is still
// read, and its damage is still detected.
TEST(Svm, OldTextFormatStillLoadsAndIsChecked) {
  const std::string old = std::string(GBAD_SOURCE_DIR) + "/tests/fixtures/old-run/svm/svm.model";
  std::ifstream f(old);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string good = ss.str();
  ASSERT_EQ(good.rfind("gbad-svm 1\n", 0), 0u);
  const Svm svm = Svm::load(old);
  EXPECT_EQ(svm.num_features(), 2);
  EXPECT_EQ(svm.num_support_vectors(), 70);
  // Re-saved as safetensors: the same decisions, bit for bit.
  const std::string p = temp_path("resaved.safetensors");
  svm.save(p);
  const Svm back = Svm::load(p);
  Points probe;
  std::vector<int> y;
  blobs(probe, y, 50, 50, 1.f, -1.f, 2.f, 8);
  const auto d0 = svm.decision_values(probe), d1 = back.decision_values(probe);
  for (size_t i = 0; i < d0.size(); ++i) EXPECT_EQ(d0[i], d1[i]) << i;
  const std::string t = temp_path("old.txt");
  auto expect_load_error = [&](const std::string& text, const std::string& needle) {
    std::ofstream(t, std::ios::trunc) << text;
    try {
      Svm::load(t);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string flipped = good;
  flipped[good.find("rho ") + 5] ^= 1;
  expect_load_error(flipped, "checksum mismatch");
  expect_load_error(good.substr(0, good.size() / 2), "no checksum line");
  std::remove(p.c_str());
  std::remove(t.c_str());
}

TEST(Svm, BalancedWeightsPredictMorePositives) {
  // 5% positives overlapping the negatives: unweighted, the SVM mostly says -1; balanced
  // weights push the boundary into the negatives and recover most positives.
  Points x;
  std::vector<int> y;
  blobs(x, y, 50, 950, 1.f, 0.f, 0.7f, 7);
  SvmConfig c;
  Svm plain(c);
  plain.train(x, y);
  c.class_weight = SvmClassWeight::Balanced;
  Svm balanced(c);
  balanced.train(x, y);
  Points xt;
  std::vector<int> yt;
  blobs(xt, yt, 500, 500, 1.f, 0.f, 0.7f, 8);
  const auto a = plain.predict(xt), b = balanced.predict(xt);
  int pos_a = 0, pos_b = 0, hit_a = 0, hit_b = 0;
  for (size_t i = 0; i < yt.size(); ++i) {
    pos_a += a[i] == 1;
    pos_b += b[i] == 1;
    hit_a += a[i] == 1 && yt[i] == 1;
    hit_b += b[i] == 1 && yt[i] == 1;
  }
  EXPECT_GT(pos_b, pos_a + 200) << pos_a << " vs " << pos_b;
  EXPECT_GT(hit_b, 300);  // recall > 0.6 on the positive blob
  EXPECT_LT(hit_a, 150);
  // Explicit weights equal to the balanced ones give the same model.
  c.class_weight = SvmClassWeight::Explicit;
  c.w_pos = 1000.0 / (2 * 50);
  c.w_neg = 1000.0 / (2 * 950);
  Svm explicit_w(c);
  explicit_w.train(x, y);
  EXPECT_EQ(explicit_w.decision_values(xt), balanced.decision_values(xt));
}

TEST(Svm, SameSeedSameModel) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 40, 160, 1.f, 0.f, 1.f, 9);
  SvmConfig c;
  c.probability = true;
  c.seed = 3;
  Svm a(c), b(c);
  a.train(x, y);
  std::srand(12345);  // disturb the global state in between
  b.train(x, y);
  EXPECT_EQ(a.probability(x[0].data(), 200, 2), b.probability(x[0].data(), 200, 2));
}

TEST(Svm, BadInputsAreErrors) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 5, 5, 1.f, 0.f, 1.f, 10);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  Svm svm;
  Points bad = x;
  bad[3][1] = NAN;
  EXPECT_NE(message([&] { svm.train(bad, y); }).find("feature 1 of row 3 is nan"),
            std::string::npos);
  bad[3][1] = INFINITY;
  EXPECT_NE(message([&] { svm.train(bad, y); }).find("feature 1 of row 3 is inf"),
            std::string::npos);
  EXPECT_NE(message([&] { svm.train(x, std::vector<int>(10, 1)); }).find("only one class"),
            std::string::npos);
  EXPECT_NE(message([&] { svm.train(Points{}, {}); }).find("empty training set"),
            std::string::npos);
  EXPECT_NE(message([&] { svm.train(x, std::vector<int>(9, 1)); }).find("10 rows but 9 labels"),
            std::string::npos);
  std::vector<int> y0 = y;
  y0[0] = 0;
  EXPECT_NE(message([&] { svm.train(x, y0); }).find("expected +1 or -1"), std::string::npos);
  EXPECT_THROW(svm.predict(x), Error);  // not trained
  svm.train(x, y);
  EXPECT_THROW(svm.decision_values(std::vector<float>(6, 0.f), 3), Error);  // wrong width
  EXPECT_THROW(svm.probability(x[0].data(), 10, 2), Error);  // trained without probability
  SvmConfig c;
  c.C = 0;
  EXPECT_THROW(Svm(c).train(x, y), Error);
}

// Timing for the closing note, not a unit test: run with --gtest_also_run_disabled_tests.
TEST(Timing, DISABLED_Svm60kPoints) {
  Points x;
  std::vector<int> y;
  blobs(x, y, 9000, 51000, 1.5f, 0.f, 1.f, 12);
  SvmConfig c;
  c.class_weight = SvmClassWeight::Balanced;
  c.standardize = true;
  Svm svm(c);
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  svm.train(x, y);
  const double cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;  // libsvm trains on one thread
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto t1 = std::chrono::steady_clock::now();
  const auto pred = svm.predict(x);
  const double psec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  int correct = 0;
  for (size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
  std::printf(
      "Svm train (60,000 x 2, 15%% positive, RBF, balanced, standardized): %.2f s "
      "(CPU %.2f s), %lld SVs, train accuracy %.3f; predict 60,000: %.2f s\n",
      sec, cpu, static_cast<long long>(svm.num_support_vectors()), correct / 60000.0, psec);
}

}  // namespace
}  // namespace gbad
