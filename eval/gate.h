// The GBAD gate's variants for the gate study (the paper's gate stays the default: an image the
// SVM calls normal has all its class confidences multiplied by epsilon).
//  * recall-targeted threshold: call an image anomalous when its SVM decision value reaches a
//    threshold chosen so that a target share of the training positives is called anomalous
//    (instead of the SVM's own sign);
//  * per-class gate: on an image called normal, suppress only the classes the CNN claims
//    (confidence >= claim threshold), leaving its other confidences as they are.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/classes.h"

namespace gbad {

// The largest threshold t with at least ceil(recall * n) of `positive_decisions` >= t (so
// "anomalous iff decision >= t" keeps that share of the positives). recall in (0, 1].
double recall_threshold(std::vector<double> positive_decisions, double recall);

enum class GateMode { PerImage, PerClass };
GateMode parse_gate_mode(const std::string& s);  // per-image | per-class

// anomalous[i] > 0 keeps image i; otherwise its confidences are multiplied by epsilon: all of
// them (PerImage), or only those >= claim_threshold (PerClass). Returns how many confidences
// were suppressed.
long long apply_gate_mode(std::vector<std::array<float, kNumClasses>>& scores,
                          const std::vector<int>& anomalous, float epsilon, GateMode mode,
                          float claim_threshold);

}  // namespace gbad
