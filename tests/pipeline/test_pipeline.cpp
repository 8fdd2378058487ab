// End-to-end tests of the phase binaries on a miniature synthetic dataset: every phase, gated
// evaluation, prediction and the report; resume equivalence; a killed run's checkpoint;
// bad inputs to each binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/run_binary.h"
#include "data/image.h"
#include "eval/cam.h"
#include "io/checkpoint.h"
#include "io/io.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "models/classifier.h"

namespace fs = std::filesystem;

namespace gbad {
namespace {

using test::kBin;
using Result = test::CommandResult;
const auto& run = test::run_command;

// Shared miniature dataset and phase-1..3 runs, made once for the suite.
//
// A failed suite set-up must FAIL every test: a fatal failure inside SetUpTestSuite makes
// GoogleTest skip the tests, and gtest_discover_tests turns "[  SKIPPED ]" into a ctest skip,
// so the run could pass. SetUpTestSuite therefore only records what went wrong, and SetUp()
// fails each test with it.
class Pipeline : public ::testing::Test {
 protected:
  static fs::path root_;
  static std::string model_opts_;
  static std::string setup_error_;

  void SetUp() override {
    if (!setup_error_.empty()) FAIL() << "suite set-up failed: " << setup_error_;
  }

  static void SetUpTestSuite() {
    setup_error_.clear();
    // ctest runs each test in its own process, possibly in parallel: one folder per process.
    root_ = fs::path(GBAD_BINARY_DIR) / "tests" / ("tmp_pipeline_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    model_opts_ =
        " --arch resnet18-fpn --width 4 --fpn-channels 8 --head-dim 8 --resize 40 --crop 32"
        " --test-size 32 --batch 8 --workers 2 --device cpu ";
    Result r = run(kBin + "gbad-synth --out " + d("data") +
                   " --positives 24 --ratios 10 --size 48 --quiet --seed 3");
    if (r.code != 0)
      setup_error_ = "gbad-synth exited with " + std::to_string(r.code) + ":\n" + r.out;
  }
  static void TearDownTestSuite() {
    if (!::testing::UnitTest::GetInstance()->Failed()) fs::remove_all(root_);
  }
  static std::string d(const std::string& rel) { return (root_ / rel).string(); }

  // Phase 1 with the miniature model into `out`; extra options appended.
  static Result train_cnn(const std::string& out, const std::string& extra = "") {
    return run(kBin + "gbad-train-cnn --data " + d("data") + " --subset 10 --out " + d(out) +
               model_opts_ + extra);
  }
};
fs::path Pipeline::root_;
std::string Pipeline::model_opts_;
std::string Pipeline::setup_error_;

TEST_F(Pipeline, EveryPhaseGatedEvalPredictAndReport) {
  Result r = train_cnn("cnn", "--epochs 2");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* f : {"model.safetensors", "checkpoint.safetensors", "config.json", "command.txt",
                        "versions.json", "metrics.jsonl"})
    EXPECT_TRUE(fs::exists(d("cnn/") + f)) << f;
  const Json cfg = read_json_file(d("cnn/config.json"));
  EXPECT_EQ(cfg["phase"], "train-cnn");
  EXPECT_EQ(cfg["options"]["arch"], "resnet18-fpn");

  r = run(kBin + "gbad-train-bigan --cnn " + d("cnn") + " --out " + d("gan") +
          " --negatives 60 --epochs 2 --batch 10 --lr 1e-4 --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(d("gan/bigan.safetensors")));
  EXPECT_TRUE(fs::exists(d("gan/negatives.safetensors")));

  r = run(kBin + "gbad-train-svm --cnn " + d("cnn") + " --bigan " + d("gan") + " --out " +
          d("svm") + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(fs::exists(d("svm/svm.safetensors")));
  EXPECT_NE(r.out.find("support vectors"), std::string::npos) << r.out;

  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm") +
          " --out " + d("eval_gbad") + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  // A damaged phase-3 scores.csv (read for --gate-recall) is refused before any image is
  // evaluated, naming file and line, and leaves no output folder.
  fs::copy(d("svm"), d("svm_bad"), fs::copy_options::recursive);
  std::string csv = read_file(d("svm_bad/scores.csv"));
  const size_t row2 = csv.find('\n') + 1, comma = csv.find(',', csv.find(',', row2) + 1);
  csv.replace(comma + 1, csv.find(',', comma + 1) - comma - 1, "abc");
  write_file_atomic(d("svm_bad/scores.csv"), csv);
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm_bad") +
          " --gate-recall 0.9 --out " + d("eval_bad") + " --device cpu");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("scores.csv:2: R is 'abc'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("eval "), std::string::npos) << "evaluated before failing:\n" << r.out;
  EXPECT_FALSE(fs::exists(d("eval_bad")));
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --no-gate --out " + d("eval_cnn") +
          " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  for (const char* e : {"eval_gbad", "eval_cnn"}) {
    const Json m = read_json_file(d(e) + "/metrics.json");
    ASSERT_TRUE(m.contains("ap") && m["ap"].contains("Gun")) << e;
    ASSERT_TRUE(m.contains("binary") && m["binary"].contains("roc_auc")) << e;
    for (const char* p : {"binary_pr.svg", "binary_roc.svg", "class_pr.svg", "class_roc.svg"})
      EXPECT_TRUE(fs::exists(d(e) + "/plots/" + p)) << e << " " << p;
    // scores.csv: header + one row per test image (the subset's test split).
    std::string scores = read_file(d(e) + "/scores.csv");
    std::string labels = read_file(d("data/ImageSet/10/test.csv"));
    EXPECT_EQ(std::count(scores.begin(), scores.end(), '\n'),
              std::count(labels.begin(), labels.end(), '\n'));
  }
  // Gated confidences: images the SVM calls normal were multiplied by epsilon.
  std::string anomaly = read_file(d("eval_gbad/anomaly.csv"));
  EXPECT_EQ(anomaly.rfind("name,R,FM,svm_decision,anomalous\n", 0), 0u);

  // The file mode of gbad-eval reads what the model mode wrote.
  r = run(kBin + "gbad-eval --scores " + d("eval_cnn/scores.csv") + " --labels " +
          d("data/ImageSet/10/test.csv") + " --json " + d("file_mode.json"));
  ASSERT_EQ(r.code, 0) << r.out;
  const Json a = read_json_file(d("file_mode.json"));
  const Json b = read_json_file(d("eval_cnn/metrics.json"));
  EXPECT_DOUBLE_EQ(a["map"].get<double>(), b["map"].get<double>());

  r = run(kBin + "gbad-predict --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm") +
          " --images " + d("data/JPEGImage/P00001.jpg") + "," + d("data/JPEGImage/N0000001.jpg") +
          " --csv " + d("predict.csv") + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string pred = read_file(d("predict.csv"));
  EXPECT_EQ(std::count(pred.begin(), pred.end(), '\n'), 3) << pred;
  EXPECT_NE(pred.find("P00001.jpg"), std::string::npos);

  r = run(kBin + "gbad-report --runs 'CNN=" + d("eval_cnn") + ";GBAD=" + d("eval_gbad") +
          "' --out " + d("report.md"));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(read_file(d("report.md")).find("| GBAD |"), std::string::npos);

  // Bad inputs to the later phases.
  r = run(kBin + "gbad-train-bigan --cnn " + d("no_such_run") + " --out " + d("x1"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("does not exist"), std::string::npos) << r.out;
  r = run(kBin + "gbad-train-svm --cnn " + d("gan") + " --bigan " + d("gan") + " --out " + d("x2"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("expected a 'train-cnn' run directory"), std::string::npos) << r.out;
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --bigan " + d("gan") + " --out " + d("x3"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--svm"), std::string::npos) << r.out;
}

TEST_F(Pipeline, ResumeEndsWithTheSameWeights) {
  const std::string opts = "--epochs 2 --checkpoint-every 3 --ideal-negatives fresh";
  Result r = train_cnn("straight", opts);
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("interrupted", opts + " --stop-after 5");
  ASSERT_EQ(r.code, 3) << r.out;  // stopped as if killed: last checkpoint after step 3
  EXPECT_FALSE(fs::exists(d("interrupted/model.safetensors")));
  r = train_cnn("interrupted", opts + " --resume");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resumed from"), std::string::npos) << r.out;
  SafeTensorsFile a = SafeTensorsFile::open(d("straight/model.safetensors"));
  SafeTensorsFile b = SafeTensorsFile::open(d("interrupted/model.safetensors"));
  ASSERT_EQ(a.names(), b.names());
  for (const std::string& n : a.names())
    EXPECT_EQ(a.read_f32(n), b.read_f32(n)) << "tensor " << n << " differs after resume";

  // A resume with another architecture or batch is refused by name.
  r = train_cnn("interrupted", "--epochs 2 --resume --batch 4");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--batch"), std::string::npos) << r.out;
  // Starting a new run over an existing one is refused.
  r = train_cnn("straight", "--epochs 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("already holds a run"), std::string::npos) << r.out;
}

TEST_F(Pipeline, KilledRunLeavesALoadableCheckpoint) {
  fs::remove_all(d("killed"));
  std::string cmd = kBin + "gbad-train-cnn --data " + d("data") + " --subset 10 --out " +
                    d("killed") + model_opts_ + "--epochs 50 --checkpoint-every 1";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  const std::string ckpt = d("killed/checkpoint.safetensors");
  auto t0 = std::chrono::steady_clock::now();
  while (!fs::exists(ckpt) && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60))
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(ckpt)) << "no checkpoint within 60 s";
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // kill mid-way through a save
  ::kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  Classifier model("resnet18-fpn", o);
  EXPECT_NO_THROW(load_params(ckpt, model.param_store(), LoadOptions{})) << "checkpoint of a "
                                                                            "killed run";
  // The killed run resumes (a temporary file left by the kill is removed) and finishes.
  Result r = train_cnn("killed", "--epochs 1 --checkpoint-every 1 --resume");
  EXPECT_EQ(r.code, 0) << r.out;
  for (const auto& e : fs::directory_iterator(d("killed")))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(Pipeline, BadInputsGiveOneClearError) {
  // Missing data root, unknown subset, unknown architecture, batch too small.
  Result r = run(kBin + "gbad-train-cnn --data " + d("nope") + " --out " + d("b1"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("error:"), std::string::npos) << r.out;
  r = train_cnn("b2", "--subset 55 --epochs 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("55"), std::string::npos) << r.out;
  r = run(kBin + "gbad-train-cnn --data " + d("data") + " --out " + d("b3") +
          " --arch resnet19-fpn");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("resnet19-fpn"), std::string::npos) << r.out;
  r = run(kBin + "gbad-train-cnn --data " + d("data") + " --out " + d("b4") + " --bogus 1");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("--bogus"), std::string::npos) << r.out;

  // A checkpoint of another architecture in a run directory: the loader names both.
  r = train_cnn("plain", "--epochs 1 --arch resnet18-plain");
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("fpn", "--epochs 1");
  ASSERT_EQ(r.code, 0) << r.out;
  // A corrupt image named in the error.
  write_file_atomic(d("corrupt.jpg"), "\xff\xd8\xff\xe0 not really a jpeg");
  r = run(kBin + "gbad-predict --cnn " + d("fpn") + " --images " + d("corrupt.jpg") +
          " --device cpu");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("corrupt.jpg"), std::string::npos) << r.out;

  fs::copy_file(d("plain/model.safetensors"), d("fpn/model.safetensors"),
                fs::copy_options::overwrite_existing);
  r = run(kBin + "gbad-eval --cnn " + d("fpn") + " --no-gate --out " + d("b5") + " --device cpu");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("resnet18-plain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("resnet18-fpn"), std::string::npos) << r.out;

  // A truncated model file.
  std::string bytes = read_file(d("plain/model.safetensors"));
  write_file_atomic(d("plain/model.safetensors"), bytes.substr(0, bytes.size() / 2));
  r = run(kBin + "gbad-predict --cnn " + d("plain") + " --images " +
          d("data/JPEGImage/P00001.jpg") + " --device cpu");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;
}

TEST_F(Pipeline, NanLossStopsAndKeepsTheLastGoodCheckpoint) {
  Result r = train_cnn("nan", "--epochs 1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string good = read_file(d("nan/checkpoint.safetensors"));
  r = train_cnn("nan", "--epochs 3 --resume --lr 1e30 --momentum 0");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("training loss is"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checkpoint.safetensors"), std::string::npos) << r.out;
  // Either the first steps already diverged (nothing saved) or an epoch finished before the
  // loss went non-finite; the checkpoint on disk loads and holds finite weights.
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  Classifier model("resnet18-fpn", o);
  ASSERT_NO_THROW(load_params(d("nan/checkpoint.safetensors"), model.param_store(), {}));
  for (float v : model.param_store().params().to_vector()) ASSERT_TRUE(std::isfinite(v));
  (void)good;
}

// The losses stay on the device between reads (train/loss_log.h): how often they are read
// (--log-every) changes neither the logged losses nor the epoch means.
TEST_F(Pipeline, LossReadIntervalDoesNotChangeTheLoggedLosses) {
  Result r = train_cnn("read1", "--epochs 2 --log-every 1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("read4", "--epochs 2 --log-every 4");
  ASSERT_EQ(r.code, 0) << r.out;
  // step -> loss, and the epochs' means, from metrics.jsonl.
  auto parse = [&](const std::string& dir, std::vector<double>& means) {
    std::map<int64_t, double> loss;
    const std::string text = read_file(d(dir + "/metrics.jsonl"));
    size_t pos = 0;
    while (pos < text.size()) {
      const size_t end = text.find('\n', pos);
      const Json j = parse_json(text.substr(pos, end - pos));
      pos = end == std::string::npos ? text.size() : end + 1;
      if (j.contains("epoch_mean_loss")) means.push_back(j["epoch_mean_loss"].get<double>());
      if (j.contains("loss")) loss[j["step"].get<int64_t>()] = j["loss"].get<double>();
    }
    return loss;
  };
  std::vector<double> m1, m4;
  const std::map<int64_t, double> l1 = parse("read1", m1), l4 = parse("read4", m4);
  ASSERT_EQ(m1.size(), 2u);
  EXPECT_EQ(m1, m4);  // bit for bit: the same floats, summed in the same order
  ASSERT_GE(l4.size(), 2u);
  for (const auto& [step, v] : l4) {
    EXPECT_EQ(step % 4, 0);
    ASSERT_TRUE(l1.count(step)) << step;
    EXPECT_EQ(l1.at(step), v) << step;
  }
}

// A NaN loss at step 3 (--debug-nan-step): with the losses read every 4 steps it is noticed at
// step 4, after its update wrote NaN weights; the run stops naming step 3, and the checkpoint
// of step 2 is the one on disk (none is written from the later steps).
TEST_F(Pipeline, NanLossAtStepKIsCaughtAtTheNextReadAndNotCheckpointed) {
  Result r = train_cnn("nank", "--epochs 2 --log-every 4 --checkpoint-every 2 --debug-nan-step 3");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("training loss is nan at epoch 1, step 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("after global step 4"), std::string::npos) << r.out;
  const std::string ckpt = d("nank/checkpoint.safetensors");
  ASSERT_TRUE(file_exists(ckpt)) << r.out;
  EXPECT_EQ(read_metadata(ckpt).at("global_step"), "2");
  ClassifierOptions o;
  o.width = 4;
  o.fpn_channels = 8;
  o.head_dim = 8;
  Classifier model("resnet18-fpn", o);
  ASSERT_NO_THROW(load_params(ckpt, model.param_store(), {}));
  for (float v : model.param_store().params().to_vector()) ASSERT_TRUE(std::isfinite(v));

  // Read only at the epoch's end (--log-every 100): still caught before its checkpoint.
  r = train_cnn("nank2", "--epochs 2 --log-every 100 --debug-nan-step 2");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("training loss is nan at epoch 1, step 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(none yet)"), std::string::npos) << r.out;
  EXPECT_FALSE(file_exists(d("nank2/checkpoint.safetensors")));
}

// gbad-pack and gbad-train-cnn --pack on the miniature dataset: training as from the JPEGs, and
// a pack of another size or split refused with the reason.
class Pack : public Pipeline {};

TEST_F(Pack, TrainCnnReadsThePackAsTheJpegs) {
  const std::string pack = d("train40.pack");
  Result r = run(kBin + "gbad-pack --data " + d("data") + " --subset 10 --split train --size 40 " +
                 "--out " + pack);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote " + pack), std::string::npos) << r.out;
  const std::string steps = "--epochs 1 --max-steps-per-epoch 2 --log-every 1 ";
  r = train_cnn("jpeg", steps);
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("pack", steps + "--pack " + pack);
  ASSERT_EQ(r.code, 0) << r.out;
  auto first_loss = [&](const std::string& run_dir) {
    const std::string log = read_file(d(run_dir + "/metrics.jsonl"));
    return parse_json(log.substr(0, log.find('\n')))["loss"].get<double>();
  };
  // The same images, augmentation and batches; the inputs differ by the uint8 rounding of the
  // resized images (at most 0.009 after normalisation, exactly checked by
  // Pack.SameBatchesAsJpegUpToRounding), which moves the first step's loss of this small random
  // network by a few 1e-3 (measured 3e-3 to 5e-3); other images or batches move it by more.
  EXPECT_NEAR(first_loss("jpeg"), first_loss("pack"), 2e-2);

  // A pack of another size, or of another split, is refused naming the pack and what differs.
  r = train_cnn("bad1", steps + "--resize 48 --pack " + pack);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("resized to 40x40; this loader needs 48x48"), std::string::npos) << r.out;
  r = run(kBin + "gbad-pack --data " + d("data") + " --subset 10 --split test --size 40 --out " +
          d("test40.pack"));
  ASSERT_EQ(r.code, 0) << r.out;
  r = train_cnn("bad2", steps + "--pack " + d("test40.pack"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("pack " + d("test40.pack") + " does not match"), std::string::npos) << r.out;
}

// The self-contained page of a tiny run, with the CAM grid of gbad-predict --cam: every link and
// image in it resolves. data: URIs must be well-formed base64 of what their type says (PNG and
// JPEG decode with stb_image, SVG is SVG), relative paths must exist beside the page, #anchors
// must name an element's id, and nothing may point outside (the page must open offline).
class ReportHtml : public Pipeline {};

// The values of every href= and src= attribute (quoted with " or '), in order. A scan by hand:
// std::regex matches [^"]* recursively, one stack frame per character, and the page's data: URIs
// are hundreds of kilobytes long (a stack overflow under the sanitizers).
std::vector<std::string> html_links(const std::string& html) {
  std::vector<std::string> links;
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (const std::string attr : {"href", "src"}) {
    for (size_t at = html.find(attr); at != std::string::npos; at = html.find(attr, at + 1)) {
      if (at > 0 && word_char(html[at - 1])) continue;
      size_t i = at + attr.size();
      while (i < html.size() && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
      if (i >= html.size() || html[i] != '=') continue;
      ++i;
      while (i < html.size() && std::isspace(static_cast<unsigned char>(html[i]))) ++i;
      if (i >= html.size() || (html[i] != '"' && html[i] != '\'')) continue;
      const size_t end = html.find(html[i], i + 1);
      if (end == std::string::npos) continue;
      links.push_back(html.substr(i + 1, end - i - 1));
    }
  }
  return links;
}

// RFC 4648 base64 (padding required) -> bytes; false when malformed.
bool decode_base64(const std::string& in, std::string& out) {
  static const std::string abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (in.empty() || in.size() % 4 != 0) return false;
  out.clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=') {
        if (i + 4 != in.size() || k < 2) return false;  // padding only at the very end
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad) return false;  // data after '='
      const auto pos = abc.find(c);
      if (pos == std::string::npos) return false;
      v = (v << 6) | uint32_t(pos);
    }
    out += char((v >> 16) & 255);
    if (pad < 2) out += char((v >> 8) & 255);
    if (pad < 1) out += char(v & 255);
  }
  return true;
}

TEST_F(ReportHtml, AllLinksResolve) {
  Result r = train_cnn("cnn", "--epochs 1");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-train-bigan --cnn " + d("cnn") + " --out " + d("gan") +
          " --negatives 40 --epochs 1 --batch 10 --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-train-svm --cnn " + d("cnn") + " --bigan " + d("gan") + " --out " +
          d("svm") + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --bigan " + d("gan") + " --svm " + d("svm") +
          " --out " + d("eval_gbad") + " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-eval --cnn " + d("cnn") + " --no-gate --out " + d("eval_cnn") +
          " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  // Maps of every class (threshold 0) for three scans, labelled ones included.
  r = run(kBin + "gbad-predict --cnn " + d("cnn") + " --images " + d("data/JPEGImage/P00001.jpg") +
          "," + d("data/JPEGImage/P00002.jpg") + "," + d("data/JPEGImage/N0000001.jpg") +
          " --cam " + d("cams") + " --cam-threshold 0 --labels " + d("data/ImageSet/10/test.csv") +
          " --device cpu");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(read_cam_index(d("cams")).size(), 15u) << "3 images x 5 classes";
  r = run("cd " + d("") + " && " + kBin + "gbad-report --runs 'CNN=eval_cnn;GBAD=eval_gbad'" +
          " --out report.md --html report.html --cams cams");
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string html = read_file(d("report.html"));

  std::set<std::string> ids;
  const std::regex id_re(R"re(\bid="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), id_re);
       it != std::sregex_iterator(); ++it)
    ids.insert((*it)[1]);
  int data_uris = 0, anchors = 0, pngs = 0;
  for (const std::string& url : html_links(html)) {
    SCOPED_TRACE(url.substr(0, 80));
    ASSERT_FALSE(url.empty()) << "an empty link";
    if (url.rfind("data:", 0) == 0) {
      const auto comma = url.find(',');
      ASSERT_NE(comma, std::string::npos) << "data: URI without a comma";
      const std::string meta = url.substr(5, comma - 5);
      ASSERT_TRUE(meta.size() > 7 && meta.substr(meta.size() - 7) == ";base64") << meta;
      const std::string mime = meta.substr(0, meta.size() - 7);
      std::string bytes;
      ASSERT_TRUE(decode_base64(url.substr(comma + 1), bytes))
          << "malformed base64 (" << mime << ")";
      if (mime == "image/png" || mime == "image/jpeg") {
        const Image img =
            decode_image_memory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), mime);
        EXPECT_GT(img.width, 0);
        pngs += mime == "image/png";
      } else if (mime == "image/svg+xml") {
        EXPECT_NE(bytes.find("<svg"), std::string::npos);
      } else {
        ADD_FAILURE() << "unexpected data: type " << mime;
      }
      ++data_uris;
    } else if (url[0] == '#') {
      EXPECT_TRUE(ids.count(url.substr(1))) << "no element with id " << url;
      ++anchors;
    } else {
      EXPECT_EQ(url.find(':'), std::string::npos) << "points outside the page";
      EXPECT_TRUE(fs::exists(root_ / url)) << "missing file beside the page";
    }
  }
  EXPECT_GE(anchors, 4) << "the navigation links";
  EXPECT_GE(pngs, 15) << "the CAM grid";
  EXPECT_GE(data_uris, pngs);
  EXPECT_NE(html.find("id=\"cams\""), std::string::npos);

  // The check itself catches what it must: a broken anchor, bad base64, a missing file.
  std::string bad;
  EXPECT_FALSE(decode_base64("iVBORw0KGgo=A", bad));
  EXPECT_FALSE(decode_base64("iV=ORw0K", bad));
  EXPECT_TRUE(decode_base64("TWFu", bad));
  EXPECT_EQ(bad, "Man");
}

// --config: a run directory's config.json reruns the run; the command line overrides it;
// unknown names and a config.json of another phase are one clear error naming the file.
class Config : public Pipeline {};

TEST_F(Config, RunConfigJsonRerunsTheRunWithIdenticalWeights) {
  Result r = train_cnn("x", "--epochs 1 --max-steps-per-epoch 4");
  ASSERT_EQ(r.code, 0) << r.out;
  r = run(kBin + "gbad-train-cnn --config " + d("x/config.json") + " --out " + d("y"));
  ASSERT_EQ(r.code, 0) << r.out;
  Json a = read_json_file(d("x/config.json")), b = read_json_file(d("y/config.json"));
  EXPECT_EQ(b["options"]["out"], d("y"));
  EXPECT_FALSE(b["options"].contains("config")) << "the options are recorded, not the file";
  // Equal apart from the output path and the time each was written.
  for (Json* j : {&a, &b}) {
    (*j)["options"].erase("out");
    j->erase("written");
  }
  EXPECT_EQ(a.dump(2), b.dump(2));
  EXPECT_EQ(read_file(d("x/model.safetensors")), read_file(d("y/model.safetensors")))
      << "the rerun's weights differ";

  // The command line overrides the file; a plain object of options works too.
  write_file_atomic(d("opts.json"), R"({"epochs": 2, "lr": 0.02, "resume": false})");
  r = run(kBin + "gbad-train-cnn --data " + d("data") + " --subset 10 --out " + d("z") +
          model_opts_ + " --max-steps-per-epoch 1 --config " + d("opts.json") + " --epochs 1");
  ASSERT_EQ(r.code, 0) << r.out;
  const Json z = read_json_file(d("z/config.json"));
  EXPECT_EQ(z["options"]["epochs"], "1");
  EXPECT_EQ(z["options"]["lr"], "0.02");

  // Unknown option, wrong phase, malformed file: exit 2 and one error naming file and key.
  write_file_atomic(d("bad.json"), R"({"lr": 0.1, "learning-rate": 0.1})");
  r = run(kBin + "gbad-train-cnn --config " + d("bad.json") + " --data " + d("data") + " --out " +
          d("w"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("bad.json: unknown option 'learning-rate'"), std::string::npos) << r.out;
  r = run(kBin + "gbad-train-bigan --config " + d("x/config.json") + " --out " + d("w"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("'train-cnn' run, not of gbad-train-bigan"), std::string::npos) << r.out;
  write_file_atomic(d("broken.json"), "{\"lr\": ");
  r = run(kBin + "gbad-report --config " + d("broken.json"));
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("broken.json"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(d("w")));
}

}  // namespace
}  // namespace gbad
