// The scores CSV (what our predictors write and gbad-eval reads) and a minimal reader of SIXray
// split CSVs for matching labels to scores by image name.
//
// Scores CSV:  header `name,Gun,Knife,Wrench,Pliers,Scissors`, then one row per image:
//              `<name>,<5 floats>` (any strtod float; NaN not allowed).
// SIXray split CSV: the same header, then `<name>,<5 labels>` with labels 1 / 0 / -1.
// Both: a trailing CR per line and blank lines are tolerated; a name must not repeat; a
// malformed row is an Error naming file:line.
//
// The full SIXray reader lives in data/; this one is deliberately small and self-contained.
#pragma once

#include <string>
#include <vector>

#include "eval/metrics.h"

namespace gbad {

struct ScoreTable {
  std::vector<std::string> names;
  std::vector<ClassScores> scores;
};

struct LabelTable {
  std::vector<std::string> names;
  std::vector<ClassLabels> labels;
};

ScoreTable read_scores_csv(const std::string& path);
LabelTable read_label_csv(const std::string& path);

// Writes the scores CSV atomically (floats with 9 significant digits: they read back exactly).
void write_scores_csv(const std::string& path, const ScoreTable& table);

// Puts the labels in the order of the scores by name. Every score name must have a label and
// every label name a score; otherwise an Error says how many are missing on each side and
// names the first few.
std::vector<ClassLabels> match_labels(const ScoreTable& scores, const LabelTable& labels);

// Phase 3's training scores (OUT/scores.csv of gbad-train-svm): header
// `stem,label,R,FM,decision`, then one row per training image: its stem, label +1 (threat) or
// -1 (negative), the raw reconstruction and feature-matching scores, and the SVM's decision
// value. A malformed row is an Error naming file:line.
struct SvmScoreTable {
  std::vector<std::string> stems;
  std::vector<int> label;
  std::vector<double> r, fm, decision;
};

SvmScoreTable read_svm_scores_csv(const std::string& path);
void write_svm_scores_csv(const std::string& path, const SvmScoreTable& table);

}  // namespace gbad
