#include "eval/gate.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "core/check.h"

namespace gbad {

double recall_threshold(std::vector<double> d, double recall) {
  GBAD_CHECK(recall > 0 && recall <= 1, "gate recall ", recall, " must be in (0, 1]");
  GBAD_CHECK(!d.empty(), "gate recall: no positive decision values to choose a threshold from");
  for (double v : d) GBAD_CHECK(!std::isnan(v), "gate recall: a decision value is NaN");
  std::sort(d.begin(), d.end(), std::greater<double>());
  // The k-th highest value keeps the k highest (and any tied with it).
  const size_t k = static_cast<size_t>(std::ceil(recall * double(d.size()) - 1e-9));
  return d[std::max<size_t>(k, 1) - 1];
}

GateMode parse_gate_mode(const std::string& s) {
  if (s == "per-image") return GateMode::PerImage;
  if (s == "per-class") return GateMode::PerClass;
  GBAD_FAIL("gate mode '", s, "' is neither per-image nor per-class");
}

long long apply_gate_mode(std::vector<std::array<float, kNumClasses>>& scores,
                          const std::vector<int>& anomalous, float epsilon, GateMode mode,
                          float claim_threshold) {
  GBAD_CHECK(scores.size() == anomalous.size(), "gate: ", scores.size(), " score rows but ",
             anomalous.size(), " anomaly decisions");
  long long suppressed = 0;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (anomalous[i] > 0) continue;
    for (float& v : scores[i]) {
      if (mode == GateMode::PerClass && !(v >= claim_threshold)) continue;
      v *= epsilon;
      ++suppressed;
    }
  }
  return suppressed;
}

}  // namespace gbad
