#include "core/cuda_graph.h"

#include "core/check.h"

#ifdef GBAD_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace gbad {

namespace {
thread_local CUstream_st* t_tensor_stream = nullptr;
thread_local int t_capturing = 0;
}  // namespace

bool capturing_on_this_thread() {
  return t_capturing > 0;
}

CUstream_st* tensor_stream() {
  return t_tensor_stream;
}
TensorStreamScope::TensorStreamScope(CUstream_st* stream) : saved_(t_tensor_stream) {
  t_tensor_stream = stream;
}
TensorStreamScope::~TensorStreamScope() {
  t_tensor_stream = saved_;
}

CudaGraph::~CudaGraph() {
  if (capturing_) abort("the graph was destroyed while capturing");
  reset();
}

#ifdef GBAD_WITH_CUDA
namespace {
std::string error_text(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")";
}
}  // namespace

void CudaGraph::begin_capture(CUstream_st* stream) {
  GBAD_CHECK(!capturing_, "CudaGraph: begin_capture while capturing");
  GBAD_CHECK(stream != nullptr,
             "CudaGraph: the legacy default stream cannot be captured (Context::use_own_stream)");
  reset();
  reason_.clear();
  cudaGetLastError();  // a stale error must not be blamed on the capture
  CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  stream_ = stream;
  capturing_ = true;
  ++t_capturing;
}

bool CudaGraph::end_capture() {
  GBAD_CHECK(capturing_, "CudaGraph: end_capture without begin_capture");
  capturing_ = false;
  --t_capturing;
  cudaGraph_t g = nullptr;
  cudaError_t e = cudaStreamEndCapture(stream_, &g);
  if (e != cudaSuccess || g == nullptr) {
    reason_ = "capture failed: " + error_text(e);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
    return false;
  }
  graph_ = g;
  cudaGraphExec_t x = nullptr;
  e = cudaGraphInstantiate(&x, g, 0);
  if (e != cudaSuccess) {
    reason_ = "instantiation failed: " + error_text(e);
    cudaGetLastError();
    reset();
    return false;
  }
  exec_ = x;
  return true;
}

void CudaGraph::abort(const std::string& why) {
  if (capturing_) {
    capturing_ = false;
    --t_capturing;
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_, &g);  // invalidated or not: discarded
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
  }
  reason_ = why;
}

void CudaGraph::launch(CUstream_st* stream) {
  GBAD_CHECK(ready(), "CudaGraph: launch without a captured graph");
  CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

void CudaGraph::reset() {
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
  exec_ = nullptr;
  graph_ = nullptr;
}
#else
void CudaGraph::begin_capture(CUstream_st*) {
  GBAD_FAIL("CUDA graphs need a build with CUDA");
}
bool CudaGraph::end_capture() {
  GBAD_FAIL("CUDA graphs need a build with CUDA");
}
void CudaGraph::abort(const std::string& why) {
  capturing_ = false;
  reason_ = why;
}
void CudaGraph::launch(CUstream_st*) {
  GBAD_FAIL("CUDA graphs need a build with CUDA");
}
void CudaGraph::reset() {
  stream_ = nullptr;
  graph_ = nullptr;
  exec_ = nullptr;
}
#endif

}  // namespace gbad
