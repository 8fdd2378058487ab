// The same command gives the same table: a miniature pipeline (phase 1 on a practical and an
// ideal set, Bi-GAN, SVM, gated and ungated evaluation) run twice, with 1 and with 3 OpenMP
// threads, must write byte-identical weights, scores and metrics. (Two runs of the demo once
// gave different tables because the conv filter gradient was summed in per-thread partials.)
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/run_binary.h"
#include "io/io.h"
#include "io/json.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

using test::kBin;

// Runs `cmd`; its output (stdout + stderr) in *out, its exit status returned.
int run(const std::string& cmd, std::string* out) {
  const test::CommandResult r = test::run_command(cmd);
  *out = r.out;
  return r.code;
}

TEST(Reproducible, TinyPipelineTwiceGivesIdenticalFiles) {
  const fs::path root =
      fs::path(GBAD_BINARY_DIR) / "tests" / ("tmp_repro_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  std::string out;
  const std::string data = (root / "data").string();
  ASSERT_EQ(run(kBin + "gbad-synth --out " + data +
                    " --positives 24 --ratios 10 --size 48 --quiet --seed 3",
                &out),
            0)
      << out;
  const std::string model =
      " --width 4 --fpn-channels 8 --head-dim 8 --resize 40 --crop 32 --test-size 32 --batch 8"
      " --workers 2 --device cpu --seed 5 --data " +
      data + " --subset 10";
  for (const char* threads : {"1", "3"}) {
    const std::string d = (root / (std::string("t") + threads)).string();
    const std::string common = std::string(" --device cpu --seed 5 --threads ") + threads;
    const std::string steps[] = {
        "gbad-train-cnn --out " + d + "/plain --arch resnet18-plain --train-set practical" +
            " --epochs 1 --threads " + threads + model,
        "gbad-train-cnn --out " + d + "/cnn --arch resnet18-fpn --epochs 2 --threads " + threads +
            model,
        "gbad-train-bigan --cnn " + d + "/cnn --out " + d + "/gan --negatives 60 --epochs 2" +
            " --batch 10 --lr 1e-4" + common,
        "gbad-train-svm --cnn " + d + "/cnn --bigan " + d + "/gan --out " + d + "/svm" + common,
        "gbad-eval --cnn " + d + "/plain --no-gate --out " + d + "/eval_plain" + common,
        "gbad-eval --cnn " + d + "/cnn --bigan " + d + "/gan --svm " + d + "/svm --out " + d +
            "/eval_gbad" + common,
    };
    for (const std::string& s : steps) ASSERT_EQ(run(kBin + s, &out), 0) << s << "\n" << out;
  }
  for (const char* f :
       {"plain/model.safetensors", "cnn/model.safetensors", "svm/svm.safetensors", "svm/scores.csv",
        "eval_plain/scores.csv", "eval_plain/metrics.json", "eval_gbad/scores.csv",
        "eval_gbad/anomaly.csv", "eval_gbad/metrics.json"}) {
    const std::string a = read_file((root / "t1" / f).string());
    const std::string b = read_file((root / "t3" / f).string());
    EXPECT_FALSE(a.empty()) << f;
    EXPECT_TRUE(a == b) << f << " differs between the run with 1 thread and with 3";
  }

  // gbad-report through its binary: identical runs differ by exactly 0 with interval [0, 0];
  // a reference that is not a method is an error.
  const std::string t1 = (root / "t1").string(), t3 = (root / "t3").string();
  const std::string json = (root / "report.json").string();
  ASSERT_EQ(run(kBin + "gbad-report --runs 'A=" + t1 + "/eval_gbad;B=" + t3 + "/eval_gbad;P=" + t1 +
                    "/eval_plain' --resamples 200 --json " + json,
                &out),
            0)
      << out;
  EXPECT_NE(out.find("Difference from A"), std::string::npos) << out;
  const Json j = read_json_file(json);
  const Json& b = j.at("methods").at(1);
  EXPECT_EQ(b.at("name").get<std::string>(), "B");
  for (const char* k : {"map", "pr_auc", "f1"}) {
    const Json* d = json_find(b.at("diff"), k);
    ASSERT_TRUE(d) << k;
    EXPECT_EQ(d->at("estimate").get<double>(), 0.0) << k;
    EXPECT_EQ(d->at("lo").get<double>(), 0.0) << k;
    EXPECT_EQ(d->at("hi").get<double>(), 0.0) << k;
    EXPECT_EQ(d->at("words").get<std::string>(), "no clear difference (interval includes 0)") << k;
  }
  EXPECT_EQ(j.at("resamples").get<int64_t>(), 200);
  EXPECT_NE(run(kBin + "gbad-report --runs 'A=" + t1 + "/eval_gbad' --reference Z", &out), 0);
  EXPECT_NE(out.find("--reference 'Z' is not a NAME of --runs"), std::string::npos) << out;

  if (!::testing::Test::HasFailure()) fs::remove_all(root);
}

TEST(GateStudy, OptionsRunEndToEnd) {
  // Hard-negative Bi-GAN, recall-targeted gate threshold and per-class gate through the
  // binaries, on a miniature run; the paper's gate stays the default.
  const fs::path root =
      fs::path(GBAD_BINARY_DIR) / "tests" / ("tmp_gate_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  std::string out;
  const std::string d = root.string(), data = d + "/data";
  const std::string common = " --device cpu --seed 2";
  ASSERT_EQ(run(kBin + "gbad-synth --out " + data + " --positives 20 --ratios 10 --size 40" +
                    " --quiet --seed 4",
                &out),
            0)
      << out;
  const std::string steps[] = {
      "gbad-train-cnn --data " + data + " --subset 10 --out " + d + "/cnn --arch resnet18-fpn" +
          " --width 4 --fpn-channels 8 --head-dim 8 --resize 40 --crop 32 --test-size 32" +
          " --batch 8 --epochs 1" + common,
      "gbad-train-bigan --cnn " + d + "/cnn --out " + d + "/gan --negatives 40 --hard-negatives" +
          " 0.5 --hard-pool 100 --epochs 1 --batch 10" + common,
      "gbad-train-svm --cnn " + d + "/cnn --bigan " + d + "/gan --out " + d + "/svm" + common,
      "gbad-eval --cnn " + d + "/cnn --bigan " + d + "/gan --svm " + d + "/svm --out " + d +
          "/paper" + common,
      "gbad-eval --cnn " + d + "/cnn --bigan " + d + "/gan --svm " + d + "/svm --out " + d +
          "/recall --gate-recall 1" + common,
      "gbad-eval --cnn " + d + "/cnn --bigan " + d + "/gan --svm " + d + "/svm --out " + d +
          "/perclass --gate per-class --claim-threshold 0" + common,
  };
  std::string logs[6];
  for (int i = 0; i < 6; ++i) ASSERT_EQ(run(kBin + steps[i], &logs[i]), 0) << steps[i] << logs[i];
  EXPECT_NE(logs[1].find("hard negatives: kept 40 of 100 (50% the CNN's highest-scoring)"),
            std::string::npos)
      << logs[1];
  // Recall 1 keeps every training positive: the threshold is their lowest decision value.
  EXPECT_NE(logs[4].find("keeps 100% of phase 3's 16 training positives"), std::string::npos)
      << logs[4];
  // A claim threshold of 0 makes the per-class gate suppress every class of a normal image:
  // the same scores as the paper's per-image gate.
  EXPECT_EQ(read_file(d + "/perclass/scores.csv"), read_file(d + "/paper/scores.csv"));
  EXPECT_NE(run(kBin + "gbad-eval --cnn " + d + "/cnn --bigan " + d + "/gan --svm " + d +
                    "/svm --out " + d + "/bad --gate per-box" + common,
                &out),
            0);
  EXPECT_NE(out.find("gate mode 'per-box' is neither per-image nor per-class"), std::string::npos)
      << out;
  if (!::testing::Test::HasFailure()) fs::remove_all(root);
}

}  // namespace
}  // namespace gbad
