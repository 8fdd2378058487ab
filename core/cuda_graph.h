// A CUDA graph of the work a stream enqueues between begin_capture() and end_capture(),
// replayed with launch(): one launch for a whole step instead of hundreds of small ones.
//
// Capture records the work, it does not run it. Anything that allocates, synchronises, reads to
// the host or touches the legacy default stream during the capture (cudaMalloc on a shape's
// first use, a workspace that grows, a cudaMemcpy of a loss, a cudaMemset on the legacy stream)
// invalidates it: end_capture() then returns false with the runtime's reason, the graph stays
// empty, none of the captured work has run, and the stream is usable again. A CUDA error thrown
// while capturing ends the capture in the destructor (or abort()). Host values passed to kernels
// (a learning rate, an offset) are baked into the graph: a replay uses the captured ones.
//
// Capture mode is thread-local: the loader's threads (which make no CUDA calls) are unaffected,
// and a forbidden call on this thread fails at once instead of corrupting the capture.
#pragma once

#include <string>

struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;

namespace gbad {

// The stream Tensor::zero, Tensor::fill and device-to-device copies (Tensor::copy_from) enqueue
// on, for this thread: the legacy default stream (nullptr) unless a TensorStreamScope is open.
// A training step that is captured runs under TensorStreamScope(ctx.stream()), so that those
// calls land in the graph instead of invalidating it. Host<->device copies stay synchronous.
CUstream_st* tensor_stream();
class TensorStreamScope {
 public:
  explicit TensorStreamScope(CUstream_st* stream);
  ~TensorStreamScope();
  TensorStreamScope(const TensorStreamScope&) = delete;
  TensorStreamScope& operator=(const TensorStreamScope&) = delete;

 private:
  CUstream_st* saved_;
};

// True between begin_capture() and the end of that capture on this thread. GBAD_CUDA_SYNC=1's
// synchronisation after each call (core/cuda_check.h) is skipped meanwhile: it would invalidate
// the capture, and the captured work does not run there anyway.
bool capturing_on_this_thread();

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Starts capturing `stream` (not the legacy default stream: Context::use_own_stream). Throws
  // in a build without CUDA, for the legacy stream, or when capture cannot begin.
  void begin_capture(CUstream_st* stream);
  bool capturing() const { return capturing_; }
  // Ends the capture and instantiates the graph. False, with reason(), when the capture was
  // invalidated or instantiation failed; the sticky error is cleared either way.
  bool end_capture();
  // Ends a capture after an error (an exception from the captured code); reason() says why.
  void abort(const std::string& why);
  // An instantiated graph is there to launch.
  bool ready() const { return exec_ != nullptr; }
  // Enqueues one replay on `stream`.
  void launch(CUstream_st* stream);
  // Why the last capture failed ("" after a success).
  const std::string& reason() const { return reason_; }
  // Drops the graph (shapes or baked values changed: capture again).
  void reset();

 private:
  CUstream_st* stream_ = nullptr;
  CUgraph_st* graph_ = nullptr;
  CUgraphExec_st* exec_ = nullptr;
  bool capturing_ = false;
  std::string reason_;
};

}  // namespace gbad
