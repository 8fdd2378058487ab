// Files written by the previous formats (hand-written JSON writer, text SVM model, Bi-GAN with
// its own EMA code) still load: tests/fixtures/old-run, written at commit fc31b45 (see the
// README there).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/test_util.h"
#include "core/philox.h"
#include "io/json.h"
#include "models/bigan.h"
#include "models/svm.h"
#include "train/pipeline.h"

namespace gbad {
namespace {

const std::string kOld = std::string(GBAD_SOURCE_DIR) + "/tests/fixtures/old-run";

TEST(OldFormats, RunDirectoryConfigsLoad) {
  RunConfig cnn(kOld + "/cnn", "train-cnn");
  EXPECT_EQ(cnn.option("arch"), "resnet18-fpn");
  EXPECT_EQ(cnn.option("width"), "4");
  EXPECT_EQ(cnn.option("lr"), "0.01");
  EXPECT_EQ(cnn.option_or("no-such-option", "dflt"), "dflt");
  RunConfig gan(kOld + "/bigan", "train-bigan");
  EXPECT_EQ(gan.option("ema"), "0.9");
  EXPECT_EQ(gan.extra("subset"), "10");
  RunConfig svm(kOld + "/svm", "train-svm");
  EXPECT_TRUE(svm_uses_log_scores(svm));
  // A directory of another phase is still named as such.
  try {
    RunConfig wrong(kOld + "/svm", "train-cnn");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("written by phase 'train-svm'"), std::string::npos);
  }

  const Json summary = read_json_file(kOld + "/svm/summary.json");
  EXPECT_EQ(summary["positives"].get<int64_t>(), 19);
  EXPECT_EQ(summary["support_vectors"].get<int64_t>(), 70);
  EXPECT_DOUBLE_EQ(summary["train_recall_anomalous"].get<double>(), 11.0 / 19.0);
  const Json versions = read_json_file(kOld + "/cnn/versions.json");
  EXPECT_EQ(versions["cuda_compiled"], false);
  const Json metrics = read_json_file(kOld + "/eval/metrics.json");
  EXPECT_TRUE(metrics["ap"].contains("Gun"));
  EXPECT_TRUE(metrics["binary"]["roc_auc"].is_number());
  std::ifstream log(kOld + "/cnn/metrics.jsonl");
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    const Json j = parse_json(line, "metrics.jsonl");
    EXPECT_TRUE(j.contains("epoch") && j.contains("step")) << line;
    ++lines;
  }
  EXPECT_GT(lines, 0);
}

// The classifier of the old run: config.json options + a safetensors header written by the
// hand-written JSON writer.
TEST(OldFormats, ClassifierRunLoadsAndPredicts) {
  CnnRun run = load_cnn_run(kOld + "/cnn", Device::CPU);
  EXPECT_EQ(run.image_size, 32);
  Context ctx(Device::CPU, 1);
  run.model->set_training(false);
  Tensor x = test::random_tensor({2, 3, 32, 32}, 5);
  std::vector<float> f = run.model->features(ctx, x).to_vector();
  ASSERT_EQ(f.size(), 2u * static_cast<size_t>(run.model->feature_dim()));
  for (float v : f) EXPECT_TRUE(std::isfinite(v));
}

std::vector<std::vector<float>> read_rows(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<float>> rows;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    rows.emplace_back();
    for (float v; ls >> v;) rows.back().push_back(v);
  }
  return rows;
}

// The text SVM model of the old run gives the decisions the old code computed, bit for bit.
TEST(OldFormats, TextSvmModelGivesTheOldDecisions) {
  RunConfig run(kOld + "/svm", "train-svm");
  const Svm svm = load_svm_run(run);  // no svm.safetensors there: reads svm.model
  std::ifstream in(kOld + "/svm_old_decisions.txt");
  int rows = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    float x1 = 0, x2 = 0;
    double want = 0;
    ASSERT_EQ(std::sscanf(line.c_str(), "%f %f %lf", &x1, &x2, &want), 3) << line;
    EXPECT_EQ(svm.decision_values({x1, x2}, 2)[0], want) << line;
  }
  EXPECT_EQ(rows, 8);
}

// A Bi-GAN checkpoint with EMA tensors written by the earlier BiGan (its own EMA code) loads
// into the BiGan that uses nn::Ema and scores the same rows identically.
TEST(OldFormats, BiGanCheckpointWithEmaLoads) {
  const std::string path = kOld + "/bigan_old.safetensors";
  const BiGanConfig c = BiGan::read_config(path);
  EXPECT_EQ(c.ema_decay, 0.9f);
  BiGan g(c, Device::CPU);
  g.load(path);
  EXPECT_EQ(g.steps(), 3);
  std::vector<float> v(16 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = rng_normal(7, 0, i) * 2.f + 1.f;
  Context ctx(Device::CPU, 11);
  Tensor r, fm;
  g.scores(ctx, Tensor::from_vector(v, {16, 3}), r, fm);
  const auto want = read_rows(kOld + "/bigan_old_scores.txt");
  ASSERT_EQ(want.size(), 2u);
  test::expect_close(r.to_vector(), want[0], 1e-6, 1e-7, "R");
  test::expect_close(fm.to_vector(), want[1], 1e-6, 1e-7, "FM");
}

}  // namespace
}  // namespace gbad
