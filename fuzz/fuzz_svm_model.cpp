// The phase-3 SVM model file through its public API (Svm::load, then predictions), so the
// target survives a change of the file format.
#include <array>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "models/svm.h"

using namespace gbad;

namespace {

void load_and_predict(const std::string& path) {
  fuzz::expect_clean([&] {
    Svm svm = Svm::load(path);
    const int64_t d = svm.num_features();
    if (d <= 0 || !svm.trained()) std::abort();
    if (d > 64) return;
    std::vector<float> x(size_t(3 * d));
    for (size_t i = 0; i < x.size(); ++i) x[i] = float(i % 5) - 2.f;
    const std::vector<double> v = svm.decision_values(x, d);
    const std::vector<int> p = svm.predict(x.data(), 3, d);
    if (v.size() != 3 || p.size() != 3) std::abort();
    for (size_t i = 0; i < 3; ++i)
      if (p[i] != 1 && p[i] != -1) std::abort();
    if (svm.config().probability) (void)svm.probability(x.data(), 3, d);
  });
}

// The text format (until the SVM moves to safetensors) ends with an FNV-1a checksum line that
// random mutations never match; a second pass re-signs the input so the parser behind the
// checksum gets fuzzed too. Harmless for any other format.
std::string resigned(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  const size_t pos = body.rfind("\nchecksum ");
  if (pos != std::string::npos) body.resize(pos + 1);
  if (body.empty() || body.back() != '\n') body += '\n';
  uint64_t h = 1469598103934665603ull;
  for (char c : body) h = (h ^ uint8_t(c)) * 1099511628211ull;
  char line[40];
  std::snprintf(line, sizeof line, "checksum %016llx\n", static_cast<unsigned long long>(h));
  return body + line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  load_and_predict(fuzz::write_file("svm.model", data, size));
  const std::string s = resigned(data, size);
  load_and_predict(
      fuzz::write_file("svm-resigned.model", reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  return 0;
}
