#include "train/step_graph.h"

#include "core/check.h"

namespace gbad {

GraphMode parse_cuda_graphs(const std::string& s) {
  if (s == "off") return GraphMode::Off;
  if (s == "on") return GraphMode::On;
  if (s == "auto") return GraphMode::Auto;
  GBAD_FAIL("--cuda-graphs '", s, "': expected on, off or auto");
}

GraphDecision decide_cuda_graphs(GraphMode mode, const StepGraphFacts& f) {
  if (mode == GraphMode::Off) return {false, "CUDA graphs: off (--cuda-graphs off)"};
  const std::string opt = mode == GraphMode::On ? "on" : "auto";
  std::string why;
  if (!f.cuda)
    why = "the CPU runs eagerly";
  else if (f.world_size > 1)
    why = "data-parallel training all-reduces on the host";
  else if (f.debug_nan)
    why = "--debug-nan-step changes one step";
  if (!why.empty()) return {false, "CUDA graphs: off (--cuda-graphs " + opt + "): " + why};
  return {true, "CUDA graphs: on (--cuda-graphs " + opt +
                    "): full batches replay one graph of the step after the warm-up steps"};
}

StepGraphPolicy::StepGraphPolicy(bool enabled, int warmup, int max_captures)
    : enabled_(enabled), warmup_(warmup), max_captures_(max_captures) {
  GBAD_CHECK(warmup >= 1 && max_captures >= 1, "StepGraphPolicy: warmup and max_captures >= 1");
}

StepGraphPolicy::Action StepGraphPolicy::next(bool full, const std::string& key) {
  GBAD_CHECK(!pending_, "StepGraphPolicy: next() before the outcome of the capture");
  if (enabled_ && !failed_ && full) {
    if (ready_ && key == key_) {
      ++replays_;
      return Action::Replay;
    }
    if (full_eager_ >= warmup_ && captures_ < max_captures_) {
      pending_ = true;
      pending_key_ = key;
      return Action::Capture;
    }
    ++full_eager_;
  }
  ++eager_;
  return Action::Eager;
}

void StepGraphPolicy::captured(bool ok, const std::string& why) {
  GBAD_CHECK(pending_, "StepGraphPolicy: captured() without a capture");
  pending_ = false;
  ++captures_;
  if (ok) {
    ready_ = true;
    key_ = pending_key_;
    return;
  }
  // The step ran eagerly instead (the caller's fallback).
  ++eager_;
  ready_ = false;
  failed_ = true;
  failure_ = why;
}

}  // namespace gbad
