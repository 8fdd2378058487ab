// --cuda-graphs: whether gbad-train-cnn captures its training step in a CUDA graph
// (core/cuda_graph.h) and replays it, and the state machine that decides, step by step, between
// running eagerly, capturing and replaying. Pure host logic, tested on the CPU.
//
// A graph bakes in the step's shapes and the host values its kernels take (the optimiser's step
// count, which after the first step no longer changes what SGD computes; not the learning rate,
// which the SGD kernel then reads on the device, written before each launch: Sgd::use_device_lr):
// it is replayed only for steps with the same key, the last partial batch of an epoch runs
// eagerly, and a new key (a host value that changed) is captured anew. The first
// `warmup` full steps run eagerly, so that everything a step allocates or chooses on first use
// (layer outputs, workspaces, cuDNN algorithms, cuBLAS's workspace) exists before the capture.
// A capture that fails (something in the step allocated, synchronised or read to the host) is
// logged once and the run goes on eagerly.
#pragma once

#include <cstdint>
#include <string>

namespace gbad {

enum class GraphMode { Off, On, Auto };
GraphMode parse_cuda_graphs(const std::string& s);  // "off" | "on" | "auto"

// What the run looks like, for the decision.
struct StepGraphFacts {
  bool cuda = false;
  int world_size = 1;      // data-parallel processes
  bool debug_nan = false;  // --debug-nan-step
};
struct GraphDecision {
  bool capture = false;
  std::string line;  // one line for the log: what was chosen and why
};
// off: never. on/auto: on a GPU, unless the run has something a replay cannot reproduce: data
// parallelism (the all-reduce runs on the host), --debug-nan-step (a one-step change).
GraphDecision decide_cuda_graphs(GraphMode mode, const StepGraphFacts& f);

class StepGraphPolicy {
 public:
  enum class Action { Eager, Capture, Replay };
  StepGraphPolicy(bool enabled, int warmup = 2, int max_captures = 16);
  // What to do for the next step: `full` when its batch has the epoch's static shape, `key`
  // the host values the graph would bake in (e.g. the learning rate, printed exactly).
  Action next(bool full, const std::string& key);
  // The outcome of an Action::Capture. A failure turns graphs off for the run.
  void captured(bool ok, const std::string& why);
  bool failed() const { return failed_; }
  const std::string& failure() const { return failure_; }
  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  int64_t eager_steps() const { return eager_; }

 private:
  bool enabled_;
  int warmup_, max_captures_;
  bool ready_ = false, failed_ = false, pending_ = false;
  std::string key_, pending_key_, failure_;
  int64_t full_eager_ = 0, captures_ = 0, replays_ = 0, eager_ = 0;
};

}  // namespace gbad
