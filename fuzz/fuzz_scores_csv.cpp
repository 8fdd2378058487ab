// gbad-eval's inputs: the scores CSV (any model's) and the label CSV, then the metrics over
// whatever scores were read (infinities, huge values, ties), as gbad-eval --scores computes them.
#include <string>
#include <vector>

#include "eval/metrics.h"
#include "eval/scores_csv.h"
#include "fuzz/fuzz_util.h"

using namespace gbad;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_file("scores.csv", data, size);
  fuzz::expect_clean([&] {
    ScoreTable t = read_scores_csv(path);
    if (t.names.size() != t.scores.size()) std::abort();
    // Labels derived from the names, so every table gets evaluated against a mix of classes.
    LabelTable l;
    for (const std::string& n : t.names) {
      uint32_t h = 2166136261u;
      for (char c : n) h = (h ^ uint8_t(c)) * 16777619u;
      ClassLabels lab{};
      for (int k = 0; k < kNumClasses; ++k) lab[k] = int8_t(int((h >> (3 * k)) % 3) - 1);
      l.names.push_back(n);
      l.labels.push_back(lab);
    }
    std::vector<ClassLabels> matched = match_labels(t, l);
    EvalOptions o;
    o.curves = true;
    o.max_curve_points = 50;
    EvalReport r = evaluate(t.scores, matched, o);
    (void)eval_report_json(r);
    (void)eval_report_table(r);
    (void)curve_csv(r.binary_roc, "fpr", "tpr");
  });
  fuzz::expect_clean([&] {
    LabelTable l = read_label_csv(path);
    if (l.names.size() != l.labels.size()) std::abort();
  });
  return 0;
}
