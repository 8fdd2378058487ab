// C-SVC over libsvm (Debian's libsvm-dev): RBF or linear kernel on small feature vectors, with
// class weights, optional standardisation stored with the model, and optional probabilities.
//
// Labels are +1 (anomalous / threat) and -1 (normal). decision_values() are oriented so that
// a positive value means +1 whatever order libsvm saw the classes in; predict() is +1 exactly
// when the decision value is > 0.
//
// libsvm's printing is routed through svm_set_print_string_function: silent unless
// SvmConfig::verbose (then to stderr). That hook and srand() are process-global, so train
// one Svm at a time (prediction is thread-safe).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gbad {

enum class SvmKernel { Rbf, Linear };
enum class SvmClassWeight { None, Balanced, Explicit };

struct SvmConfig {
  SvmKernel kernel = SvmKernel::Rbf;
  double C = 1.0;
  double gamma = 0.0;  // RBF width; <= 0 means 1 / num_features (libsvm's default)
  // Balanced: w_c = n / (2 n_c) (scikit-learn's rule); Explicit: w_pos / w_neg. libsvm uses
  // C * w_c as the penalty of class c.
  SvmClassWeight class_weight = SvmClassWeight::None;
  double w_pos = 1.0, w_neg = 1.0;
  bool standardize = true;   // (x - mean) / std per feature, from the training set
  bool probability = false;  // Platt scaling (libsvm's internal 5-fold CV; seeded)
  uint32_t seed = 0;         // srand(seed) before training
  double cache_mb = 200;
  double eps = 1e-3;  // solver stopping tolerance
  bool verbose = false;
};

const char* to_string(SvmKernel k);
const char* to_string(SvmClassWeight w);
SvmKernel svm_kernel_from_string(const std::string& s);             // "rbf" | "linear"
SvmClassWeight svm_class_weight_from_string(const std::string& s);  // none|balanced|explicit

class Svm {
 public:
  explicit Svm(SvmConfig config = {});
  ~Svm();
  Svm(Svm&&) noexcept;
  Svm& operator=(Svm&&) noexcept;
  Svm(const Svm&) = delete;
  Svm& operator=(const Svm&) = delete;

  // x: n rows of d features, row-major; labels: n values, each +1 or -1, both present.
  void train(const float* x, int64_t n, int64_t d, const std::vector<int>& labels);
  void train(const std::vector<float>& x, int64_t d, const std::vector<int>& labels);
  void train(const std::vector<std::array<float, 2>>& x, const std::vector<int>& labels);

  // One value per row; > 0 means anomalous (+1).
  std::vector<double> decision_values(const float* x, int64_t n, int64_t d) const;
  std::vector<double> decision_values(const std::vector<float>& x, int64_t d) const;
  std::vector<double> decision_values(const std::vector<std::array<float, 2>>& x) const;
  // +1 / -1 per row.
  std::vector<int> predict(const float* x, int64_t n, int64_t d) const;
  std::vector<int> predict(const std::vector<std::array<float, 2>>& x) const;
  // P(+1 | x) per row; only for a model trained with probability = true.
  std::vector<double> probability(const float* x, int64_t n, int64_t d) const;

  // safetensors like every other model file, written atomically: support vectors, their
  // coefficients, rho, gamma, the standardisation and Platt's A/B as F64 tensors (a round trip
  // is bit-exact), the settings in __metadata__ (format "gbad-svm", format_version 2).
  void save(const std::string& path) const;
  // Reads that, or the checksummed text format "gbad-svm 1" that earlier runs wrote (svm.model).
  static Svm load(const std::string& path);

  bool trained() const;
  int64_t num_features() const;
  int64_t num_support_vectors() const;
  double gamma() const;  // effective gamma (after the <= 0 default)
  const SvmConfig& config() const { return config_; }
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& stddev() const { return std_; }

 private:
  static Svm load_safetensors(const std::string& path, std::string bytes);
  struct Model;  // our copy of the libsvm model (owns every array it points to)
  void check_trained(int64_t d) const;
  SvmConfig config_;
  std::vector<double> mean_, std_;
  std::unique_ptr<Model> model_;
};

}  // namespace gbad
