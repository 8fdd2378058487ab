// gbad-eval's model mode: classifier (+ Bi-GAN + SVM gate) on a split, then the SIXray
// protocol, with scores, metrics, curves and SVG plots written into an output directory.
#pragma once

#include <string>

#include "eval/metrics.h"

namespace gbad {

int eval_model_main(int argc, char** argv);

// Writes metrics.json, curves/*.csv and plots/*.svg of a report (made with curves on) to dir.
void write_eval_outputs(const std::string& dir, const EvalReport& report, const std::string& title);

}  // namespace gbad
