// Pieces shared by the phase binaries (gbad-train-cnn, gbad-train-bigan, gbad-train-svm,
// gbad-eval, gbad-predict): device choice, the main() wrapper, the dataset/run-dir plumbing,
// feature extraction with the frozen classifier, anomaly scoring and the gate.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "data/loader.h"
#include "data/sixray.h"
#include "models/bigan.h"
#include "models/classifier.h"
#include "models/svm.h"
#include "core/context.h"
#include "train/cli.h"
#include "train/run_dir.h"

namespace gbad {

// Call first in main(). Two runtime settings that libgomp and OpenBLAS read only when they
// load, so the program re-executes itself once when it changes either (set them yourself to
// skip this; GBAD_NO_REEXEC=1 disables it):
//  * OMP_WAIT_POLICY=PASSIVE when unset: busy-waiting OpenMP threads starve OpenBLAS and the
//    loader threads (measured 18x slower training steps on a 2-core machine);
//  * OPENBLAS_CORETYPE when unset: OpenBLAS 0.3.21 does not know recent Xeons and falls back to
//    its slowest (Prescott) kernels. SkylakeX (AVX-512) when the CPU has AVX-512 F/BW/DQ/VL,
//    else Haswell when it has AVX2 and FMA (measured 2.4x for Haswell over Prescott, and 1.7x
//    GEMM, 1.3-1.6x resnet34-fpn training for SkylakeX over Haswell: bench/RESULTS.md).
void tune_cpu_runtime(char** argv);

// Runs `body`, printing "error: <what>" and returning 1 on any exception; returns body's code.
int run_main(const char* program, const std::function<int()>& body);

// "auto" (CUDA when a GPU is present, else the CPU), "cpu" or "cuda".
Device resolve_device(const std::string& opt);

// Every option of a parsed Cli with its resolved value (given or default), for config.json.
ConfigList cli_config(const Cli& cli);

// Common option groups, so every binary spells them the same way.
void add_device_options(Cli& cli);  // --device, --seed, --threads
void apply_thread_option(const Cli& cli);

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
