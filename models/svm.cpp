#include "models/svm.h"

#include "io/checkpoint.h"
#include "io/io.h"
#include "io/safetensors.h"

#include <svm.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/check.h"

namespace gbad {
namespace {

constexpr const char* kFormat = "gbad-svm";
constexpr int kVersion = 1;  // the checksummed text format (read only)
constexpr int kSafetensorsVersion = 2;

void print_silent(const char*) {}
void print_stderr(const char* s) {
  std::fputs(s, stderr);
}

std::string fmt(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // reads back bit-identical
  return buf;
}

uint64_t fnv1a(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) {
    h ^= uint8_t(p[i]);
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

// A two-class libsvm model whose arrays all live in this struct (free_sv = 0 semantics: we
// own everything, libsvm only reads it). Both a freshly trained model (copied out of libsvm's
// result, whose SVs point into the training problem) and a loaded one end up here, so both
// predict through exactly the same numbers.
struct Svm::Model {
  int64_t d = 0;
  int kernel_type = RBF;
  double gamma = 0;
  std::vector<svm_node> sv_nodes;  // l rows of d + 1 nodes (index -1 terminates)
  std::vector<svm_node*> sv_rows;
  std::vector<double> sv_coef;  // l
  double* sv_coef_rows[1] = {nullptr};
  double rho[1] = {0};
  bool has_probability = false;
  double prob_a[1] = {0}, prob_b[1] = {0};
  int label[2] = {1, -1};  // libsvm's class order
  int n_sv[2] = {0, 0};
  svm_model m{};

  int64_t l() const { return int64_t(sv_coef.size()); }
  // +1 when libsvm's decision value already means "+1 class"; -1 otherwise.
  double sign() const { return label[0] == 1 ? 1.0 : -1.0; }

  // Points m at our arrays; call after the vectors are filled.
  void bind() {
    sv_rows.resize(size_t(l()));
    for (int64_t i = 0; i < l(); ++i) sv_rows[i] = &sv_nodes[size_t(i * (d + 1))];
    sv_coef_rows[0] = sv_coef.data();
    m = svm_model{};
    m.param.svm_type = C_SVC;
    m.param.kernel_type = kernel_type;
    m.param.degree = 3;
    m.param.gamma = gamma;
    m.param.coef0 = 0;
    m.nr_class = 2;
    m.l = int(l());
    m.SV = sv_rows.data();
    m.sv_coef = sv_coef_rows;
    m.rho = rho;
    m.probA = has_probability ? prob_a : nullptr;
    m.probB = has_probability ? prob_b : nullptr;
    m.sv_indices = nullptr;
    m.label = label;
    m.nSV = n_sv;
    m.free_sv = 0;
  }
};

const char* to_string(SvmKernel k) {
  return k == SvmKernel::Rbf ? "rbf" : "linear";
}

const char* to_string(SvmClassWeight w) {
  switch (w) {
    case SvmClassWeight::None:
      return "none";
    case SvmClassWeight::Balanced:
      return "balanced";
    case SvmClassWeight::Explicit:
      return "explicit";
  }
  return "?";
}

SvmKernel svm_kernel_from_string(const std::string& s) {
  if (s == "rbf") return SvmKernel::Rbf;
  if (s == "linear") return SvmKernel::Linear;
  GBAD_FAIL("unknown SVM kernel '", s, "' (expected rbf or linear)");
}

SvmClassWeight svm_class_weight_from_string(const std::string& s) {
  if (s == "none") return SvmClassWeight::None;
  if (s == "balanced") return SvmClassWeight::Balanced;
  if (s == "explicit") return SvmClassWeight::Explicit;
  GBAD_FAIL("unknown SVM class weight '", s, "' (expected none, balanced or explicit)");
}

Svm::Svm(SvmConfig config) : config_(config) {}
Svm::~Svm() = default;
Svm::Svm(Svm&&) noexcept = default;
Svm& Svm::operator=(Svm&&) noexcept = default;

bool Svm::trained() const {
  return model_ != nullptr;
}
int64_t Svm::num_features() const {
  return model_ ? model_->d : 0;
}
int64_t Svm::num_support_vectors() const {
  return model_ ? model_->l() : 0;
}
double Svm::gamma() const {
  return model_ ? model_->gamma : 0.0;
}

void Svm::train(const std::vector<float>& x, int64_t d, const std::vector<int>& labels) {
  GBAD_CHECK(d > 0, "Svm::train: ", d, " features per row");
  GBAD_CHECK(int64_t(x.size()) % d == 0, "Svm::train: ", x.size(),
             " values is not a whole number of rows of ", d, " features");
  train(x.data(), int64_t(x.size()) / d, d, labels);
}

void Svm::train(const std::vector<std::array<float, 2>>& x, const std::vector<int>& labels) {
  train(x.empty() ? nullptr : x[0].data(), int64_t(x.size()), 2, labels);
}

void Svm::train(const float* x, int64_t n, int64_t d, const std::vector<int>& labels) {
  const SvmConfig& c = config_;
  GBAD_CHECK(n > 0, "Svm::train: empty training set");
  GBAD_CHECK(d > 0, "Svm::train: ", d, " features per row");
  GBAD_CHECK(int64_t(labels.size()) == n, "Svm::train: ", n, " rows but ", labels.size(),
             " labels");
  GBAD_CHECK(n < (int64_t(1) << 31) / (d + 1), "Svm::train: ", n, " rows is too many for libsvm");
  GBAD_CHECK(c.C > 0, "Svm::train: C must be > 0, is ", c.C);
  GBAD_CHECK(c.eps > 0 && c.cache_mb > 0, "Svm::train: eps and cache_mb must be > 0");
  int64_t n_pos = 0, n_neg = 0;
  for (int64_t i = 0; i < n; ++i) {
    GBAD_CHECK(labels[i] == 1 || labels[i] == -1, "Svm::train: label of row ", i, " is ", labels[i],
               " (expected +1 or -1)");
    (labels[i] == 1 ? n_pos : n_neg)++;
  }
  GBAD_CHECK(n_pos > 0 && n_neg > 0, "Svm::train: only one class present (", n_pos, " positive, ",
             n_neg, " negative rows); an SVM needs both +1 and -1");
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      GBAD_CHECK(std::isfinite(x[i * d + j]), "Svm::train: feature ", j, " of row ", i, " is ",
                 x[i * d + j], " (NaN/inf not allowed)");

  // Standardisation (a constant feature keeps std 1 so it maps to 0).
  // Kept in locals until training succeeds, so a failed train() leaves the object unchanged.
  std::vector<double> mean(size_t(d), 0.0), stddev(size_t(d), 1.0);
  if (c.standardize) {
    for (int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += x[i * d + j];
      const double mu = s / double(n);
      double v = 0;
      for (int64_t i = 0; i < n; ++i) v += (x[i * d + j] - mu) * (x[i * d + j] - mu);
      const double sd = std::sqrt(v / double(n));
      mean[j] = mu;
      stddev[j] = sd > 0 ? sd : 1.0;
    }
  }

  // The problem: dense rows of d + 1 nodes. libsvm's trained model points into x_space.
  std::vector<svm_node> x_space(size_t(n * (d + 1)));
  std::vector<svm_node*> rows(static_cast<size_t>(n));
  std::vector<double> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    svm_node* r = &x_space[size_t(i * (d + 1))];
    for (int64_t j = 0; j < d; ++j)
      r[j] = {int(j + 1), (double(x[i * d + j]) - mean[j]) / stddev[j]};
    r[d] = {-1, 0.0};
    rows[i] = r;
    y[i] = labels[i];
  }
  svm_problem prob{int(n), y.data(), rows.data()};

  double w_pos = 1, w_neg = 1;
  if (c.class_weight == SvmClassWeight::Balanced) {
    w_pos = double(n) / (2.0 * double(n_pos));
    w_neg = double(n) / (2.0 * double(n_neg));
  } else if (c.class_weight == SvmClassWeight::Explicit) {
    GBAD_CHECK(c.w_pos > 0 && c.w_neg > 0, "Svm::train: explicit class weights must be > 0 (w_pos ",
               c.w_pos, ", w_neg ", c.w_neg, ")");
    w_pos = c.w_pos;
    w_neg = c.w_neg;
  }
  int weight_label[2] = {1, -1};
  double weight[2] = {w_pos, w_neg};

  svm_parameter p{};
  p.svm_type = C_SVC;
  p.kernel_type = c.kernel == SvmKernel::Rbf ? RBF : LINEAR;
  p.degree = 3;
  p.gamma = c.gamma > 0 ? c.gamma : 1.0 / double(d);
  p.coef0 = 0;
  p.cache_size = c.cache_mb;
  p.eps = c.eps;
  p.C = c.C;
  p.nr_weight = 2;
  p.weight_label = weight_label;
  p.weight = weight;
  p.nu = 0.5;
  p.p = 0.1;
  p.shrinking = 1;
  p.probability = c.probability ? 1 : 0;
  if (const char* err = svm_check_parameter(&prob, &p))
    GBAD_FAIL("libsvm rejects the settings: ", err);

  svm_set_print_string_function(c.verbose ? print_stderr : print_silent);
  std::srand(c.seed);  // libsvm draws the probability-CV folds with rand()
  svm_model* trained = svm_train(&prob, &p);
  GBAD_CHECK(trained, "libsvm's svm_train failed");
  // RAII for libsvm's result; free_sv == 0, so its SVs (pointers into x_space) are not freed.
  std::unique_ptr<svm_model*, void (*)(svm_model**)> guard(&trained, svm_free_and_destroy_model);

  auto m = std::make_unique<Model>();
  m->d = d;
  m->kernel_type = p.kernel_type;
  m->gamma = p.gamma;
  GBAD_CHECK(trained->nr_class == 2, "libsvm returned ", trained->nr_class, " classes");
  const int64_t l = trained->l;
  m->sv_nodes.resize(size_t(l * (d + 1)));
  m->sv_coef.resize(size_t(l));
  for (int64_t i = 0; i < l; ++i) {
    const svm_node* s = trained->SV[i];
    svm_node* dst = &m->sv_nodes[size_t(i * (d + 1))];
    for (int64_t j = 0; j < d; ++j) {
      GBAD_CHECK(s[j].index == j + 1, "unexpected libsvm support vector layout");
      dst[j] = s[j];
    }
    dst[d] = {-1, 0.0};
    m->sv_coef[i] = trained->sv_coef[0][i];
  }
  m->rho[0] = trained->rho[0];
  m->has_probability = c.probability && trained->probA && trained->probB;
  if (m->has_probability) {
    m->prob_a[0] = trained->probA[0];
    m->prob_b[0] = trained->probB[0];
  }
  for (int k = 0; k < 2; ++k) {
    m->label[k] = trained->label[k];
    m->n_sv[k] = trained->nSV[k];
  }
  m->bind();
  model_ = std::move(m);
  mean_ = std::move(mean);
  std_ = std::move(stddev);
}

void Svm::check_trained(int64_t d) const {
  GBAD_CHECK(model_, "Svm: predict before train or load");
  GBAD_CHECK(d == model_->d, "Svm: model has ", model_->d, " features, input rows have ", d);
}

std::vector<double> Svm::decision_values(const float* x, int64_t n, int64_t d) const {
  check_trained(d);
  GBAD_CHECK(n >= 0 && (n == 0 || x), "Svm::decision_values: bad input");
  std::vector<double> out(static_cast<size_t>(n));
  const Model& m = *model_;
  const double sign = m.sign();
#pragma omp parallel
  {
    std::vector<svm_node> node(size_t(d + 1));
    node[d] = {-1, 0.0};
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j)
        node[j] = {int(j + 1), (double(x[i * d + j]) - mean_[j]) / std_[j]};
      double dec = 0;
      svm_predict_values(&m.m, node.data(), &dec);
      out[i] = sign * dec;
    }
  }
  return out;
}

std::vector<double> Svm::decision_values(const std::vector<float>& x, int64_t d) const {
  GBAD_CHECK(d > 0 && int64_t(x.size()) % d == 0, "Svm::decision_values: ", x.size(),
             " values is not a whole number of rows of ", d);
  return decision_values(x.data(), int64_t(x.size()) / d, d);
}

std::vector<double> Svm::decision_values(const std::vector<std::array<float, 2>>& x) const {
  return decision_values(x.empty() ? nullptr : x[0].data(), int64_t(x.size()), 2);
}

std::vector<int> Svm::predict(const float* x, int64_t n, int64_t d) const {
  const auto dec = decision_values(x, n, d);
  std::vector<int> out(dec.size());
  for (size_t i = 0; i < dec.size(); ++i) out[i] = dec[i] > 0 ? 1 : -1;
  return out;
}

std::vector<int> Svm::predict(const std::vector<std::array<float, 2>>& x) const {
  return predict(x.empty() ? nullptr : x[0].data(), int64_t(x.size()), 2);
}

std::vector<double> Svm::probability(const float* x, int64_t n, int64_t d) const {
  check_trained(d);
  GBAD_CHECK(model_->has_probability,
             "Svm::probability: the model was trained without probability = true");
  const Model& m = *model_;
  const int pos = m.label[0] == 1 ? 0 : 1;
  std::vector<double> out(static_cast<size_t>(n));
#pragma omp parallel
  {
    std::vector<svm_node> node(size_t(d + 1));
    node[d] = {-1, 0.0};
    double prob[2];
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < d; ++j)
        node[j] = {int(j + 1), (double(x[i * d + j]) - mean_[j]) / std_[j]};
      svm_predict_probability(&m.m, node.data(), prob);
      out[i] = prob[pos];
    }
  }
  return out;
}

namespace {

std::string f64_bytes(const std::vector<double>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

std::vector<double> read_f64(const SafeTensorsFile& f, const std::string& name, int64_t numel) {
  GBAD_CHECK(f.has(name), "SVM model file ", f.path(), ": tensor '", name, "' is missing");
  const SafeTensorInfo& in = f.info(name);
  GBAD_CHECK(in.dtype == "F64" && in.numel() == numel, "SVM model file ", f.path(), ": tensor '",
             name, "' is ", in.dtype, " ", shape_str(in.shape), ", expected F64 with ", numel,
             " values");
  const std::string raw = f.read_raw(name);
  std::vector<double> v(static_cast<size_t>(numel));
  if (numel) std::memcpy(v.data(), raw.data(), raw.size());
  return v;
}

}  // namespace

void Svm::save(const std::string& path) const {
  GBAD_CHECK(model_, "Svm::save: model not trained");
  const Model& m = *model_;
  const SvmConfig& c = config_;
  SafeTensorsWriter w;
  // Every number a prediction uses is an F64 tensor (bit-exact); settings are metadata.
  std::vector<double> sv(static_cast<size_t>(m.l() * m.d));
  for (int64_t i = 0; i < m.l(); ++i)
    for (int64_t j = 0; j < m.d; ++j)
      sv[size_t(i * m.d + j)] = m.sv_nodes[size_t(i * (m.d + 1) + j)].value;
  w.add_raw("support_vectors", "F64", {m.l(), m.d}, f64_bytes(sv));
  w.add_raw("coef", "F64", {m.l()}, f64_bytes(m.sv_coef));
  w.add_raw("rho", "F64", {1}, f64_bytes({m.rho[0]}));
  w.add_raw("gamma", "F64", {1}, f64_bytes({m.gamma}));
  w.add_raw("standardize.mean", "F64", {m.d}, f64_bytes(mean_));
  w.add_raw("standardize.std", "F64", {m.d}, f64_bytes(std_));
  if (m.has_probability) w.add_raw("prob_ab", "F64", {2}, f64_bytes({m.prob_a[0], m.prob_b[0]}));
  w.set_metadata("format", kFormat);
  w.set_metadata("format_version", std::to_string(kSafetensorsVersion));
  w.set_metadata("kernel", to_string(c.kernel));
  w.set_metadata("C", fmt(c.C));
  w.set_metadata("gamma_setting", fmt(c.gamma));
  w.set_metadata("class_weight", to_string(c.class_weight));
  w.set_metadata("w_pos", fmt(c.w_pos));
  w.set_metadata("w_neg", fmt(c.w_neg));
  w.set_metadata("standardize", std::to_string(int(c.standardize)));
  w.set_metadata("probability", std::to_string(int(m.has_probability)));
  w.set_metadata("seed", std::to_string(c.seed));
  w.set_metadata("cache_mb", fmt(c.cache_mb));
  w.set_metadata("eps", fmt(c.eps));
  w.set_metadata("label", std::to_string(m.label[0]) + "," + std::to_string(m.label[1]));
  w.set_metadata("nsv", std::to_string(m.n_sv[0]) + "," + std::to_string(m.n_sv[1]));
  w.write(path);
}

namespace {

// Line-by-line reader of our model file with errors that name path:line.
class ModelReader {
 public:
  ModelReader(std::string path, const std::string& text) : path_(std::move(path)), in_(text) {}

  // Next line, which must start with `key`; returns the rest split into words.
  std::vector<std::string> expect(const char* key) {
    std::string line;
    ++line_;
    if (!std::getline(in_, line)) fail(std::string("file ends early, expected '") + key + "'");
    std::istringstream ls(line);
    std::string k;
    ls >> k;
    if (k != key) fail(std::string("expected '") + key + "', found '" + line.substr(0, 40) + "'");
    std::vector<std::string> words;
    for (std::string w; ls >> w;) words.push_back(w);
    return words;
  }
  std::vector<std::string> expect(const char* key, size_t count) {
    auto w = expect(key);
    if (w.size() != count)
      fail(std::string("'") + key + "' needs " + std::to_string(count) + " value(s), found " +
           std::to_string(w.size()));
    return w;
  }
  void expect_end() {
    std::string line;
    while (std::getline(in_, line)) {
      ++line_;
      if (!line.empty()) fail("unexpected line '" + line.substr(0, 40) + "'");
    }
  }
  double number(const std::string& s) {
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size()) fail("'" + s + "' is not a number");
    return v;
  }
  int64_t integer(const std::string& s) {
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size()) fail("'" + s + "' is not an integer");
    return v;
  }
  [[noreturn]] void fail(const std::string& what) const {
    GBAD_FAIL("corrupted SVM model file ", path_, ":", line_, ": ", what);
  }

 private:
  std::string path_;
  std::istringstream in_;
  int64_t line_ = 0;
};

}  // namespace

Svm Svm::load_safetensors(const std::string& path, std::string bytes) {
  SafeTensorsFile f = SafeTensorsFile::parse(std::move(bytes), path);
  const auto& meta = f.metadata();
  auto get = [&](const char* key) -> const std::string& {
    auto it = meta.find(key);
    GBAD_CHECK(it != meta.end(), "SVM model file ", path, ": metadata has no '", key, "'");
    return it->second;
  };
  GBAD_CHECK(meta.count("format") && meta.at("format") == kFormat, "file ", path,
             " is not a gbad SVM model (neither the text format nor safetensors with format '",
             kFormat, "')");
  GBAD_CHECK(get("format_version") == std::to_string(kSafetensorsVersion), "SVM model file ", path,
             ": format version ", get("format_version"), ", this build reads version ",
             kSafetensorsVersion);
  auto number = [&](const char* key) {
    const std::string& v = get(key);
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    GBAD_CHECK(!v.empty() && *end == '\0', "SVM model file ", path, ": metadata '", key, "' = '", v,
               "' is not a number");
    return d;
  };
  auto pair = [&](const char* key) {
    const std::string& v = get(key);
    int a = 0, b = 0;
    char tail = 0;
    GBAD_CHECK(std::sscanf(v.c_str(), "%d,%d%c", &a, &b, &tail) == 2, "SVM model file ", path,
               ": metadata '", key, "' = '", v, "' is not two integers");
    return std::pair<int, int>(a, b);
  };
  SvmConfig c;
  c.kernel = svm_kernel_from_string(get("kernel"));
  c.C = number("C");
  c.gamma = number("gamma_setting");
  c.class_weight = svm_class_weight_from_string(get("class_weight"));
  c.w_pos = number("w_pos");
  c.w_neg = number("w_neg");
  c.standardize = get("standardize") != "0";
  c.probability = get("probability") != "0";
  c.seed = uint32_t(metadata_int(meta, "seed", path, 0, 0xffffffffll));
  c.cache_mb = number("cache_mb");
  c.eps = number("eps");

  GBAD_CHECK(f.has("support_vectors") && f.info("support_vectors").shape.size() == 2,
             "SVM model file ", path, ": no 2-D tensor 'support_vectors'");
  const int64_t l = f.info("support_vectors").shape[0], d = f.info("support_vectors").shape[1];
  GBAD_CHECK(d > 0, "SVM model file ", path, ": support vectors of ", d, " features");
  Svm svm(c);
  svm.mean_ = read_f64(f, "standardize.mean", d);
  svm.std_ = read_f64(f, "standardize.std", d);
  for (double v : svm.std_)
    GBAD_CHECK(v > 0, "SVM model file ", path, ": a standard deviation is ", v, " (must be > 0)");
  auto m = std::make_unique<Model>();
  m->d = d;
  m->kernel_type = c.kernel == SvmKernel::Rbf ? RBF : LINEAR;
  m->gamma = read_f64(f, "gamma", 1)[0];
  m->rho[0] = read_f64(f, "rho", 1)[0];
  m->sv_coef = read_f64(f, "coef", l);
  const auto lab = pair("label"), nsv = pair("nsv");
  m->label[0] = lab.first;
  m->label[1] = lab.second;
  GBAD_CHECK((lab.first == 1 && lab.second == -1) || (lab.first == -1 && lab.second == 1),
             "SVM model file ", path, ": labels must be 1 and -1");
  m->n_sv[0] = nsv.first;
  m->n_sv[1] = nsv.second;
  GBAD_CHECK(nsv.first >= 0 && nsv.second >= 0 && int64_t(nsv.first) + nsv.second == l,
             "SVM model file ", path, ": nsv ", get("nsv"), " does not add up to ", l,
             " support vectors");
  m->has_probability = c.probability;
  if (m->has_probability) {
    const auto ab = read_f64(f, "prob_ab", 2);
    m->prob_a[0] = ab[0];
    m->prob_b[0] = ab[1];
  }
  const std::vector<double> sv = read_f64(f, "support_vectors", l * d);
  m->sv_nodes.resize(size_t(l * (d + 1)));
  for (int64_t i = 0; i < l; ++i) {
    svm_node* dst = &m->sv_nodes[size_t(i * (d + 1))];
    for (int64_t j = 0; j < d; ++j) dst[j] = {int(j + 1), sv[size_t(i * d + j)]};
    dst[d] = {-1, 0.0};
  }
  m->bind();
  svm.model_ = std::move(m);
  return svm;
}

Svm Svm::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  GBAD_CHECK(f.good(), "cannot open SVM model file ", path, ": ", std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (text.compare(0, std::strlen(kFormat), kFormat) != 0) return load_safetensors(path, text);
  // The checksum line covers every byte before it.
  const size_t pos = text.rfind("checksum ");
  GBAD_CHECK(pos != std::string::npos && pos > 0 && text[pos - 1] == '\n',
             "corrupted SVM model file ", path, ": no checksum line (truncated?)");
  char expect_sum[40];
  std::snprintf(expect_sum, sizeof expect_sum, "checksum %016llx\n",
                static_cast<unsigned long long>(fnv1a(text.data(), pos)));
  GBAD_CHECK(text.compare(pos, std::string::npos, expect_sum) == 0, "corrupted SVM model file ",
             path, ": checksum mismatch (the file was modified or damaged)");

  ModelReader r(path, text.substr(0, pos));
  const auto head = r.expect(kFormat, 1);
  if (r.integer(head[0]) != kVersion)
    r.fail("format version " + head[0] + ", this build reads version " + std::to_string(kVersion));
  SvmConfig c;
  c.kernel = svm_kernel_from_string(r.expect("kernel", 1)[0]);
  c.C = r.number(r.expect("C", 1)[0]);
  c.gamma = r.number(r.expect("gamma_setting", 1)[0]);
  const auto cw = r.expect("class_weight", 3);
  c.class_weight = svm_class_weight_from_string(cw[0]);
  c.w_pos = r.number(cw[1]);
  c.w_neg = r.number(cw[2]);
  c.standardize = r.integer(r.expect("standardize", 1)[0]) != 0;
  c.probability = r.integer(r.expect("probability", 1)[0]) != 0;
  c.seed = uint32_t(r.integer(r.expect("seed", 1)[0]));
  c.cache_mb = r.number(r.expect("cache_mb", 1)[0]);
  c.eps = r.number(r.expect("eps", 1)[0]);
  const int64_t d = r.integer(r.expect("num_features", 1)[0]);
  if (d <= 0 || d > 1000000) r.fail("bad num_features " + std::to_string(d));

  Svm svm(c);
  for (const auto& w : r.expect("mean", size_t(d))) svm.mean_.push_back(r.number(w));
  for (const auto& w : r.expect("std", size_t(d))) {
    svm.std_.push_back(r.number(w));
    if (!(svm.std_.back() > 0)) r.fail("std must be > 0");
  }
  auto m = std::make_unique<Model>();
  m->d = d;
  m->kernel_type = c.kernel == SvmKernel::Rbf ? RBF : LINEAR;
  m->gamma = r.number(r.expect("gamma", 1)[0]);
  const auto lab = r.expect("label", 2);
  m->label[0] = int(r.integer(lab[0]));
  m->label[1] = int(r.integer(lab[1]));
  if (!((m->label[0] == 1 && m->label[1] == -1) || (m->label[0] == -1 && m->label[1] == 1)))
    r.fail("labels must be 1 and -1");
  const auto nsv = r.expect("nsv", 2);
  m->n_sv[0] = int(r.integer(nsv[0]));
  m->n_sv[1] = int(r.integer(nsv[1]));
  m->rho[0] = r.number(r.expect("rho", 1)[0]);
  const auto pr = r.expect("prob", 3);
  m->has_probability = r.integer(pr[0]) != 0;
  m->prob_a[0] = r.number(pr[1]);
  m->prob_b[0] = r.number(pr[2]);
  const int64_t l = r.integer(r.expect("sv_count", 1)[0]);
  if (l < 0 || m->n_sv[0] < 0 || m->n_sv[1] < 0 || l != int64_t(m->n_sv[0]) + m->n_sv[1])
    r.fail("sv_count " + std::to_string(l) + " does not match nsv");
  // Each support vector is one line: a count beyond the file's lines is damage, and must not
  // size an allocation.
  if (l > int64_t(std::count(text.begin(), text.begin() + pos, '\n')))
    r.fail("sv_count " + std::to_string(l) + " is more than the file has lines");
  m->sv_nodes.resize(size_t(l * (d + 1)));
  m->sv_coef.resize(size_t(l));
  for (int64_t i = 0; i < l; ++i) {
    const auto w = r.expect("sv", size_t(d + 1));
    m->sv_coef[i] = r.number(w[0]);
    svm_node* dst = &m->sv_nodes[size_t(i * (d + 1))];
    for (int64_t j = 0; j < d; ++j) dst[j] = {int(j + 1), r.number(w[j + 1])};
    dst[d] = {-1, 0.0};
  }
  r.expect_end();
  m->bind();
  svm.model_ = std::move(m);
  return svm;
}

}  // namespace gbad
