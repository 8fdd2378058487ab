// gbad-eval's model mode: classifier (+ Bi-GAN + SVM gate) on a split, then the SIXray
// protocol, with scores, metrics, curves and SVG plots written into an output directory.
#pragma once

#include <string>

#include "eval/metrics.h"
#include "train/startup.h"

namespace gbad {

// The model mode (--cnn ...) of gbad-eval, through the phase start-up.
int eval_model_main(Phase& p);

// Writes metrics.json, curves/*.csv and plots/*.svg of a report (made with curves on) to dir.
void write_eval_outputs(const std::string& dir, const EvalReport& report, const std::string& title);

}  // namespace gbad
