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

}  // namespace
}  // namespace gbad
