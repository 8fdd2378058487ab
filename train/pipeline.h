// Pieces shared by the phase binaries (gbad-train-cnn, gbad-train-bigan, gbad-train-svm,
// gbad-eval, gbad-predict), after start-up (train/startup.h): the dataset/run-dir plumbing,
// feature extraction with the frozen classifier, anomaly scoring and the gate.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "data/loader.h"
#include "data/sixray.h"
#include "models/bigan.h"
#include "models/classifier.h"
#include "models/svm.h"
#include "train/cli.h"
#include "train/run_dir.h"
#include "train/startup.h"

namespace gbad {

// Removes `<name>.tmp.<pid>` files in dir whose writing process no longer exists (a SIGKILL
// during an atomic write leaves one; the real file is intact).
void remove_stale_temp_files(const std::string& dir);

// For phases that can resume: with --resume, `out` must hold a run of `phase` whose options
// `keys` equal the current ones (else an error names the option); without it, `out` must not
// already hold a checkpoint. Returns whether to resume.
bool check_resume(const Cli& cli, const std::string& out, const std::string& phase,
                  const std::vector<std::string>& keys);

// The classifier of a phase-1 run directory, built with the options recorded in its
// config.json and loaded from its model.safetensors.
struct CnnRun {
  std::unique_ptr<RunConfig> run;
  std::unique_ptr<Classifier> model;
  std::string data, subset;
  int image_size = 224;  // test-time input size
};
CnnRun load_cnn_run(const std::string& dir, Device device);

// Test-time loader settings for feature extraction and evaluation.
LoaderConfig eval_loader_config(int image_size, int batch, int workers);

// Classifier outputs over `samples` in eval mode: features (N, D) on the host; the last
// kNumClasses columns are sigmoid(logits), the class confidences.
Tensor extract_features(Context& ctx, Classifier& model, const std::vector<Sample>& samples,
                        const LoaderConfig& cfg, const std::string& label);

// Per-sample anomaly scores (R, FM) of host features (N, D), computed in batches on ctx.
struct AnomalyScores {
  std::vector<float> r, fm;
};
AnomalyScores anomaly_scores(Context& ctx, BiGan& bigan, const Tensor& features,
                             int64_t batch = 1024);

// SVM input rows (n x 2, row-major): [R, FM], or [log R, log FM] with log_scores. R and FM are
// heavy-tailed (a few anomalies score 100x the typical negative), which squashes everything
// else together after standardisation; the log spreads them out. The choice is recorded in
// the phase-3 run directory (option "log-scores") and applied the same way at evaluation.
std::vector<float> svm_rows(const AnomalyScores& s, bool log_scores);
// The phase-3 run's SVM: svm.safetensors, or svm.model (the text format of earlier runs).
Svm load_svm_run(const RunConfig& svm_run);
// Reads the phase-3 run's log-scores setting.
bool svm_uses_log_scores(const RunConfig& svm_run);

// The gate: confidences of images the SVM calls normal are multiplied by epsilon.
// anomalous[i] is +1 (anomalous: keep) or -1 (normal: suppress).
void apply_gate(std::vector<std::array<float, kNumClasses>>& scores,
                const std::vector<int>& anomalous, float epsilon);

// Class confidences (the last kNumClasses columns of features) as rows.
std::vector<std::array<float, kNumClasses>> confidences(const Tensor& features);

// Features of a phase-2 run: the negatives' features and their stems.
void save_features(const std::string& path, const Tensor& features,
                   const std::vector<std::string>& stems);
Tensor load_features(const std::string& path, std::vector<std::string>* stems);

}  // namespace gbad
