// gbad-eval end to end on small files written to a temporary folder: the CSV readers, name
// matching, errors with file:line, and the gbad-eval binary itself.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "core/check.h"
#include "eval/metrics.h"
#include "eval/scores_csv.h"
#include "io/json.h"

namespace gbad {
namespace {

class EvalFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/gbad_eval_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    const std::string cmd = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  // Runs gbad-eval with `args`; returns the exit status, output (stdout + stderr) in *out.
  int run_eval(const std::string& args, std::string* out) {
    const std::string log = dir_ + "/out.txt";
    const std::string cmd =
        std::string(GBAD_BINARY_DIR) + "/bin/gbad-eval " + args + " > '" + log + "' 2>&1";
    const int st = std::system(cmd.c_str());
    *out = slurp(log);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::string dir_;
};

const char* kLabels =
    "name,Gun,Knife,Wrench,Pliers,Scissors\n"
    "P00001,1,-1,-1,-1,-1\n"
    "P00002,-1,1,-1,-1,1\r\n"  // CRLF tolerated
    "N0000001,-1,-1,-1,-1,-1\n"
    "P00003,1,-1,1,1,0\n"
    "\n"
    "N0000002,-1,-1,-1,-1,-1\n";

// Rows in another order than the labels.
const char* kScores =
    "name,Gun,Knife,Wrench,Pliers,Scissors\n"
    "N0000002,0.1,0.2,0.1,0.1,0.1\n"
    "P00003,0.8,0.1,0.9,0.7,0.5\n"
    "P00001,0.9,0.1,0.2,0.2,0.1\n"
    "N0000001,0.2,0.3,0.3,0.1,0.2\n"
    "P00002,0.3,0.6,0.1,0.3,0.4\n";

TEST_F(EvalFiles, ReadMatchEvaluate) {
  const ScoreTable s = read_scores_csv(write("s.csv", kScores));
  const LabelTable l = read_label_csv(write("l.csv", kLabels));
  ASSERT_EQ(s.names.size(), 5u);
  ASSERT_EQ(l.names.size(), 5u);
  EXPECT_EQ(l.names[1], "P00002");
  EXPECT_EQ(l.labels[1][4], 1);
  EXPECT_EQ(l.labels[3][4], 0);
  const auto matched = match_labels(s, l);
  EXPECT_EQ(matched[1], l.labels[3]);  // P00003
  const EvalReport r = evaluate(s.scores, matched);
  // Gun: ranking 0.9 P1(+), 0.8 P3(+), 0.3 P2(-), 0.2, 0.1 -> AP 100.
  EXPECT_NEAR(r.ap[0], 100.0, 1e-9);
  // Scissors: P3 (0.5) ignored; P2 (0.4) is the top of the rest -> 100.
  EXPECT_NEAR(r.ap[4], 100.0, 1e-9);
  EXPECT_EQ(r.n_ignored[4], 1);
  EXPECT_NEAR(r.binary.roc_auc, 1.0, 1e-12);

  // Round trip of the scores writer.
  const std::string p2 = dir_ + "/s2.csv";
  write_scores_csv(p2, s);
  const ScoreTable s2 = read_scores_csv(p2);
  EXPECT_EQ(s2.names, s.names);
  EXPECT_EQ(s2.scores, s.scores);
}

TEST_F(EvalFiles, MissingNamesAreNamedAndCounted) {
  std::string scores = kScores;
  scores += "P09999,0.1,0.1,0.1,0.1,0.1\n";
  const ScoreTable s = read_scores_csv(write("s.csv", scores));
  LabelTable l = read_label_csv(write("l.csv", kLabels));
  try {
    match_labels(s, l);
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("1 scored image(s) have no label (P09999)"), std::string::npos) << m;
  }
  l.names.push_back("N0000777");
  l.labels.push_back({-1, -1, -1, -1, -1});
  try {
    match_labels(s, l);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("1 labelled image(s) have no score (N0000777)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(EvalFiles, MalformedRowsNameFileAndLine) {
  auto expect_error = [&](const std::string& text, bool scores, const std::string& needle) {
    const std::string p = write("bad.csv", text);
    try {
      if (scores)
        read_scores_csv(p);
      else
        read_label_csv(p);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string h = "name,Gun,Knife,Wrench,Pliers,Scissors\n";
  expect_error(h + "A,1,2,3,4,5\nB,1,2,x,4,5\n", true, "bad.csv:3: score for Wrench is 'x'");
  expect_error(h + "A,1,2,3,4\n", true, "bad.csv:2: expected 6 comma-separated fields");
  expect_error(h + "A,1,2,3,4,nan\n", true, "bad.csv:2: score for Scissors is NaN");
  expect_error(h + "A,1,2,3,4,5\nA,1,2,3,4,5\n", true, "bad.csv:3: image 'A' appears twice");
  expect_error("name,Gun,Knife\nA,1,2\n", true, "bad.csv:1: scores header");
  expect_error("", true, "is empty");
  expect_error(h + "A,1,-1,2,-1,-1\n", false, "bad.csv:2: label for Wrench is '2'");
  EXPECT_THROW(read_scores_csv(dir_ + "/does-not-exist.csv"), Error);
}

// Phase 3's scores.csv: what gbad-train-svm writes reads back; damage names file:line.
TEST_F(EvalFiles, SvmScoresRoundTripAndMalformedRows) {
  SvmScoreTable t;
  t.stems = {"P00001", "N00002"};
  t.label = {1, -1};
  t.r = {0.125, 3.5};
  t.fm = {2.0, 0.25};
  t.decision = {1.5, -0.75};
  const std::string p = dir_ + "/scores.csv";
  write_svm_scores_csv(p, t);
  EXPECT_EQ(slurp(p).rfind("stem,label,R,FM,decision\nP00001,1,0.125,2,1.5\n", 0), 0u);
  const SvmScoreTable back = read_svm_scores_csv(p);
  EXPECT_EQ(back.stems, t.stems);
  EXPECT_EQ(back.label, t.label);
  EXPECT_EQ(back.r, t.r);
  EXPECT_EQ(back.fm, t.fm);
  EXPECT_EQ(back.decision, t.decision);

  auto expect_error = [&](const std::string& text, const std::string& needle) {
    const std::string bad = write("svm-bad.csv", text);
    try {
      read_svm_scores_csv(bad);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::string h = "stem,label,R,FM,decision\n";
  expect_error(h + "a,1,1,2,3\nb,-1,1,x,3\n", "svm-bad.csv:3: FM is 'x', not a number");
  expect_error(h + "a,1,1,2\n", "svm-bad.csv:2: expected 5 comma-separated fields");
  expect_error(h + "a,0,1,2,3\n", "svm-bad.csv:2: label is '0'");
  expect_error(h + "a,1,1,2,nan\n", "svm-bad.csv:2: decision is 'nan'");
  expect_error("name,Gun\n", "svm-bad.csv:1: header is 'name,Gun'");
  expect_error("", "is empty");
  EXPECT_THROW(read_svm_scores_csv(dir_ + "/does-not-exist.csv"), Error);
}

TEST_F(EvalFiles, CommandLine) {
  const std::string s = write("s.csv", kScores), l = write("l.csv", kLabels);
  std::string out;
  ASSERT_EQ(run_eval("--scores " + s + " --labels " + l + " --json " + dir_ + "/r.json --curves " +
                         dir_ + "/curves --threshold 0.45",
                     &out),
            0)
      << out;
  EXPECT_NE(out.find("mAP"), std::string::npos) << out;
  EXPECT_NE(out.find("ROC AUC"), std::string::npos) << out;
  const Json j = read_json_file(dir_ + "/r.json");
  EXPECT_EQ(j.begin().key(), "ap");
  EXPECT_EQ(j["ap"]["Gun"].get<double>(), 100.0);
  EXPECT_TRUE(j.contains("map_voc07"));
  EXPECT_EQ(j["binary"]["threshold"].get<double>(), 0.45);
  EXPECT_EQ(slurp(dir_ + "/curves/binary_roc.csv").rfind("fpr,tpr,threshold\n", 0), 0u);
  EXPECT_EQ(slurp(dir_ + "/curves/Gun_pr.csv").rfind("recall,precision,threshold\n", 0), 0u);

  // A name missing from the labels: exit 1 and the name in the message.
  write("s3.csv", std::string(kScores) + "P04242,0.1,0.1,0.1,0.1,0.1\n");
  EXPECT_EQ(run_eval("--scores " + dir_ + "/s3.csv --labels " + l, &out), 1);
  EXPECT_NE(out.find("error: "), std::string::npos) << out;
  EXPECT_NE(out.find("P04242"), std::string::npos) << out;
  // A malformed row: file:line.
  write("s4.csv", std::string(kScores) + "P04243,0.1,0.1\n");
  EXPECT_EQ(run_eval("--scores " + dir_ + "/s4.csv --labels " + l, &out), 1);
  EXPECT_NE(out.find("s4.csv:7:"), std::string::npos) << out;
  // Usage errors and help.
  EXPECT_EQ(run_eval("--scores " + s, &out), 2);
  EXPECT_EQ(run_eval("--help", &out), 0);
  EXPECT_NE(out.find("Scores CSV"), std::string::npos);
  EXPECT_NE(out.find("Labels CSV"), std::string::npos);
}

}  // namespace
}  // namespace gbad
