#include "core/context.h"

#include <omp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/philox.h"

#ifdef GBAD_WITH_CUDA
#include "core/cuda_check.h"
#endif

namespace gbad {

#ifdef GBAD_WITH_CUDA
std::string cuda_kernel_image_error();  // core/tensor_cuda.cu
#endif

// ---- GPU usability ---------------------------------------------------------------------------

std::string cuda_version_str(int v) {
  return "CUDA " + std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

const CudaProbe& cuda_probe() {
  static const CudaProbe probe = [] {
    CudaProbe p;
#ifdef GBAD_WITH_CUDA
    p.built_with_cuda = true;
    p.runtime_version = CUDART_VERSION;
    p.cudnn_header_version = CUDNN_VERSION;
    p.cudnn_version = static_cast<int>(cudnnGetVersion());
    p.cudnn_cudart_version = static_cast<int>(cudnnGetCudartVersion());
    int driver = 0;
    if (cudaDriverGetVersion(&driver) == cudaSuccess) p.driver_version = driver;
    int n = 0;
    // Without a driver the call fails and leaves n unwritten: look at the error code.
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      p.error_name = cudaGetErrorName(err);
      p.error_string = cudaGetErrorString(err);
      cudaGetLastError();  // clear it so later calls start clean
    } else {
      p.device_count = n;
    }
#endif
    return p;
  }();
  return probe;
}

std::string cuda_unusable_reason(const CudaProbe& p) {
  if (!p.built_with_cuda) return "gbad was built without CUDA (-DGBAD_CUDA=OFF)";
  const std::string runtime = cuda_version_str(p.runtime_version);
  if (p.driver_version == 0)
    return "no NVIDIA driver is installed (cudaDriverGetVersion reports none; the runtime is " +
           runtime + ")" + (p.error_name.empty() ? "" : "; cudaGetDeviceCount: " + p.error_name);
  if (p.driver_version < p.runtime_version)
    return "the NVIDIA driver supports only " + cuda_version_str(p.driver_version) +
           " but gbad was built with the " + runtime +
           " runtime: install a newer driver (cudaGetDeviceCount: " +
           (p.error_name.empty() ? "ok" : p.error_name) + ")";
  if (!p.error_name.empty()) {
    std::string what = p.error_name == "cudaErrorNoDevice"             ? "no CUDA device found"
                       : p.error_name == "cudaErrorInsufficientDriver" ? "insufficient driver"
                                                                       : "CUDA is not usable";
    return what + " (cudaGetDeviceCount: " + p.error_name + ": " + p.error_string + "; driver " +
           cuda_version_str(p.driver_version) + ", runtime " + runtime + ")";
  }
  if (p.device_count <= 0)
    return "no CUDA device found (cudaGetDeviceCount reports 0; driver " +
           cuda_version_str(p.driver_version) + ")";
  if (p.cudnn_cudart_version / 1000 != p.runtime_version / 1000)
    return "cuDNN " + std::to_string(p.cudnn_version) + " was built for " +
           cuda_version_str(p.cudnn_cudart_version) + " but gbad uses the " + runtime +
           " runtime: install the cuDNN build for CUDA " + std::to_string(p.runtime_version / 1000);
  if (p.cudnn_version / 10000 != p.cudnn_header_version / 10000)
    return "the cuDNN library found at run time is version " + std::to_string(p.cudnn_version) +
           " but gbad was compiled against the cuDNN " + std::to_string(p.cudnn_header_version) +
           " header";
  return "";
}

std::string cuda_unavailable_reason() {
  static const std::string reason = cuda_unusable_reason(cuda_probe());
  return reason;
}

int cuda_device_count() {
  return cuda_unavailable_reason().empty() ? cuda_probe().device_count : 0;
}

bool cuda_available() {
  return cuda_device_count() > 0;
}

DeviceChoice choose_device(const std::string& requested) {
  if (requested == "cpu") return {Device::CPU, "--device cpu"};
  if (requested == "auto") {
    const std::string why = cuda_unavailable_reason();
    if (why.empty()) return {Device::CUDA, "--device auto: a usable GPU is present"};
    return {Device::CPU, "--device auto: no usable GPU (" + why + "), using the CPU"};
  }
  Device d = parse_device(requested);
  if (d == Device::CUDA) {
    const std::string why = cuda_unavailable_reason();
    if (!why.empty()) GBAD_FAIL("--device ", requested, ": no usable GPU: ", why);
    return {Device::CUDA, "--device " + requested};
  }
  return {d, "--device " + requested};
}

ConvAlgo parse_conv_algo(const std::string& s) {
  if (s == "deterministic") return ConvAlgo::Deterministic;
  if (s == "fastest") return ConvAlgo::Fastest;
  GBAD_FAIL("unknown convolution algorithm choice '", s, "' (expected deterministic or fastest)");
}

const char* conv_algo_name(ConvAlgo a) {
  return a == ConvAlgo::Fastest ? "fastest" : "deterministic";
}

HalfLayout parse_half_layout(const std::string& s) {
  if (s == "auto") return HalfLayout::Auto;
  if (s == "nhwc") return HalfLayout::Nhwc;
  if (s == "boundary") return HalfLayout::Boundary;
  GBAD_FAIL("unknown half-precision layout '", s, "' (expected auto, nhwc or boundary)");
}

const char* half_layout_name(HalfLayout l) {
  switch (l) {
    case HalfLayout::Nhwc:
      return "nhwc";
    case HalfLayout::Boundary:
      return "boundary";
    case HalfLayout::Auto:
      break;
  }
  return "auto";
}

namespace {
HalfLayout default_half_layout() {
  const char* e = std::getenv("GBAD_HALF_LAYOUT");
  if (!e || !*e) return HalfLayout::Auto;
  try {
    return parse_half_layout(e);
  } catch (const Error&) {
    GBAD_FAIL("GBAD_HALF_LAYOUT='", e, "' is not auto, nhwc or boundary");
  }
}

ConvAlgo default_conv_algo() {
  const char* e = std::getenv("GBAD_CONV_ALGO");
  if (!e || !*e) return ConvAlgo::Deterministic;
  try {
    return parse_conv_algo(e);
  } catch (const Error&) {
    GBAD_FAIL("GBAD_CONV_ALGO='", e, "' is not deterministic or fastest");
  }
}
}  // namespace

// ---- Rng -------------------------------------------------------------------------------------

float Rng::uniform() {
  return rng_uniform(seed_, ~uint64_t(0), host_counter_++);
}
float Rng::normal() {
  return rng_normal(seed_, ~uint64_t(0) - 1, host_counter_++);
}

struct Context::Impl {
  int cuda_device = 0;
#ifdef GBAD_WITH_CUDA
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cudnnHandle_t cudnn = nullptr;
#endif
  std::unique_ptr<Buffer> workspace;

  ~Impl() {
#ifdef GBAD_WITH_CUDA
    if (cudnn) cudnnDestroy(cudnn);
    if (cublas) cublasDestroy(cublas);
    if (stream) cudaStreamDestroy(stream);
#endif
  }
};

Context::Context(Device device, uint64_t seed, int cuda_device)
    : device_(device),
      rng_(seed),
      conv_algo_(default_conv_algo()),
      half_layout_(default_half_layout()),
      impl_(std::make_unique<Impl>()) {
  impl_->cuda_device = cuda_device;
  if (device == Device::CUDA) {
#ifdef GBAD_WITH_CUDA
    // Driver >= runtime, a device, cuDNN for this CUDA major: one error naming the versions.
    const std::string why = cuda_unavailable_reason();
    if (!why.empty()) GBAD_FAIL("a CUDA context was requested but no GPU is usable: ", why);
    GBAD_CHECK(cuda_device >= 0 && cuda_device < cuda_device_count(), "CUDA device ", cuda_device,
               " does not exist (", cuda_device_count(), " present)");
    CUDA_CHECK(cudaSetDevice(cuda_device));
    // A build without code for this GPU fails every launch; say so here, once.
    const std::string image = cuda_kernel_image_error();
    if (!image.empty()) {
      cudaDeviceProp prop{};
      CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda_device));
      GBAD_FAIL("gbad has no kernels for ", prop.name, " (sm_", prop.major, prop.minor,
                "): ", image, "; rebuild with -DCMAKE_CUDA_ARCHITECTURES=", prop.major, prop.minor);
    }
#else
    GBAD_FAIL("--device cuda requested but gbad was built without CUDA (-DGBAD_CUDA=OFF)");
#endif
  }
}

Context::~Context() = default;
bool Context::half_nhwc() const {
  if (!stores_half(precision_)) return false;
  if (half_layout_ == HalfLayout::Auto) return device_ == Device::CUDA;
  return half_layout_ == HalfLayout::Nhwc;
}

Context::Context(Context&&) noexcept = default;
Context& Context::operator=(Context&&) noexcept = default;

#ifdef GBAD_WITH_CUDA
CUstream_st* Context::stream() {
  GBAD_CHECK(is_cuda(), "stream() on a CPU context");
  // By default the legacy default stream: host<->device cudaMemcpy calls then order with our
  // kernels. An own stream is blocking, which keeps that ordering.
  return impl_->stream;
}

void Context::use_own_stream() {
  if (!is_cuda() || impl_->stream) return;
  GBAD_CHECK(!impl_->cublas && !impl_->cudnn,
             "Context::use_own_stream after the cuBLAS or cuDNN handle was made");
  CUDA_CHECK(cudaStreamCreate(&impl_->stream));
}

bool Context::has_own_stream() const {
  return impl_->stream != nullptr;
}

cublasContext* Context::cublas() {
  GBAD_CHECK(is_cuda(), "cublas() on a CPU context");
  if (!impl_->cublas) {
    CUBLAS_CHECK(cublasCreate(&impl_->cublas));
    CUBLAS_CHECK(cublasSetStream(impl_->cublas, stream()));
    // Exact fp32 unless the run's precision is tf32 (set_precision keeps this in step).
    CUBLAS_CHECK(cublasSetMathMode(impl_->cublas, precision_ == Precision::Tf32
                                                      ? CUBLAS_TF32_TENSOR_OP_MATH
                                                      : CUBLAS_DEFAULT_MATH));
  }
  return impl_->cublas;
}

cudnnContext* Context::cudnn() {
  GBAD_CHECK(is_cuda(), "cudnn() on a CPU context");
  if (!impl_->cudnn) {
    CUDNN_CHECK(cudnnCreate(&impl_->cudnn));
    CUDNN_CHECK(cudnnSetStream(impl_->cudnn, stream()));
  }
  return impl_->cudnn;
}

void Context::set_precision(Precision p) {
  precision_ = p;
  if (impl_->cublas)
    CUBLAS_CHECK(cublasSetMathMode(
        impl_->cublas, p == Precision::Tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

int Context::compute_capability() const {
  if (!is_cuda()) return 0;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, impl_->cuda_device));
  return prop.major * 10 + prop.minor;
}

void Context::synchronize() {
  if (is_cuda()) CUDA_CHECK(cudaDeviceSynchronize());
}

std::string Context::device_description() const {
  if (!is_cuda()) return "cpu (" + std::to_string(omp_get_max_threads()) + " threads)";
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, impl_->cuda_device));
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) +
         std::to_string(prop.minor) + ")";
}
#else
CUstream_st* Context::stream() {
  GBAD_FAIL("gbad was built without CUDA");
}
void Context::use_own_stream() {}
bool Context::has_own_stream() const {
  return false;
}
cublasContext* Context::cublas() {
  GBAD_FAIL("gbad was built without CUDA");
}
cudnnContext* Context::cudnn() {
  GBAD_FAIL("gbad was built without CUDA");
}
void Context::set_precision(Precision p) {
  precision_ = p;
}
int Context::compute_capability() const {
  return 0;
}
void Context::synchronize() {}
std::string Context::device_description() const {
  return "cpu (" + std::to_string(omp_get_max_threads()) + " threads)";
}
#endif

void* Context::workspace(size_t bytes) {
  if (!impl_->workspace || impl_->workspace->bytes() < bytes) {
    impl_->workspace.reset();  // free first so peak memory stays at one workspace
    impl_->workspace = std::make_unique<Buffer>(bytes, device_);
  }
  return impl_->workspace->data();
}

size_t Context::workspace_bytes() const {
  return impl_->workspace ? impl_->workspace->bytes() : 0;
}

}  // namespace gbad
